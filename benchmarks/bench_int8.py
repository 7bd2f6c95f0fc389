"""int8 vs fp32 (vs TF.js wasm): speed on one thread and accuracy, every model, in one run.

    .venv/bin/python benchmarks/bench_int8.py [--models ...] [--lsp-limit 1000] [--runs 50] [--no-wasm]
        [--calibration DIR]

Speed: `posekit bench --precision int8 --threads 1 --json` (int8 and fp32 sessions interleaved run by run, on
the sample photo; plus the int8 pipeline as a stream of files) and `node tools/tfjs-reference/bench.js
--backend wasm` on the same graph, alternated. Accuracy: `posekit eval run` at each precision on
- LSP Extended 8,001-9,000 with ground-truth boxes, PCK@0.2 (one-person models);
- the development COCO sets, OKS AP: coco-mini-train (80 images), mmpose-tests/coco and coco8-pose, whole
  image for multi-person models and ground-truth boxes for one-person models.
Every image counts (no pose scores zero). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))
MODELS = ("movenet-lightning", "movenet-thunder", "movenet-multipose", "posenet", "efficientpose")
MULTI = ("movenet-multipose", "posenet")
COCO_SETS = {
    "coco-mini": f"coco:{DATA / 'coco-mini-train/annotations/person_keypoints_train2017.json'}",
    "mmpose-coco": f"coco:{DATA / 'mmpose-tests/coco/test_coco.json'}",
    "coco8": f"yolo:{DATA / 'coco8-pose'}",
}


def _cli(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "posekit", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def speed(model: str, runs: int, wasm: bool) -> dict:
    from bench_vs_tfjs import _tfjs

    pk, js = [], []
    for _ in range(2):
        pk.append(_cli("bench", "--model", model, "--threads", "1", "--runs", str(runs),
                       "--precision", "int8", "--json"))
        if wasm:
            js.append(_tfjs(model, runs, "wasm"))
    best = min(pk, key=lambda r: r["session_ms_median"])
    row = {"int8_ms": best["session_ms_median"], "fp32_ms": best["peer_session_ms_median"],
           "int8_vs_fp32": best["speedup_vs_fp32"],
           "int8_stream_ms": min(r["pipeline_stream_ms_per_image"] for r in pk)}
    if js:
        w = min(r["median_ms"] for r in js)
        row |= {"wasm_ms": w, "int8_vs_wasm": round(w / row["int8_ms"], 2),
                "fp32_vs_wasm": round(w / row["fp32_ms"], 2)}
    return row


def accuracy(model: str, precision: str, lsp_limit: int, calibration: str | None) -> dict:
    extra = ["--precision", precision] + (["--calibration", calibration] if calibration else [])
    row = {}
    if model not in MULTI:
        r = _cli("eval", "run", "--model", model, "--dataset", f"lspet:{DATA / 'lspet-train'}",
                 "--skip", "8000", "--limit", str(lsp_limit), "--gt-boxes", "--quiet", "--json", *extra)
        row["lsp_pck"] = round(r["pck@0.2"]["mean"], 2)
    for name, spec in COCO_SETS.items():
        boxes = [] if model in MULTI else ["--gt-boxes"]
        r = _cli("eval", "run", "--model", model, "--dataset", spec, "--quiet", "--json", *boxes, *extra)
        row[f"{name}_ap"] = round(r["AP"], 2)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--lsp-limit", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--no-wasm", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--calibration", default=None, help="calibrate int8 on this folder of photos")
    args = ap.parse_args()
    rows = []
    for model in args.models:
        row = {"model": model}
        if not args.no_speed:
            row |= speed(model, args.runs, not args.no_wasm)
        fp32, int8 = (accuracy(model, p, args.lsp_limit, args.calibration) for p in ("fp32", "int8"))
        row |= {f"fp32_{k}": v for k, v in fp32.items()} | {f"int8_{k}": v for k, v in int8.items()}
        row |= {f"delta_{k}": round(int8[k] - fp32[k], 2) for k in fp32}
        rows.append(row)
        print(json.dumps(row), flush=True)
    keys = ["lsp_pck", *(f"{n}_ap" for n in COCO_SETS)]
    print(f"\n{'model':18} {'int8 ms':>8} {'fp32 ms':>8} {'wasm ms':>8} {'x fp32':>7} {'x wasm':>7}  "
          + "  ".join(f"{k + ' fp32/int8':>22}" for k in keys))
    for r in rows:
        nan = float("nan")
        acc = "  ".join(f"{r.get('fp32_' + k, nan):>10.1f} / {r.get('int8_' + k, nan):>9.1f}" for k in keys)
        print(f"{r['model']:18} {r.get('int8_ms', 0):>8.2f} {r.get('fp32_ms', 0):>8.2f} "
              f"{r.get('wasm_ms', 0):>8.2f} {r.get('int8_vs_fp32', 0):>7.2f} "
              f"{r.get('int8_vs_wasm', 0):>7.2f}  {acc}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
