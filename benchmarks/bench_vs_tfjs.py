"""posekit (onnxruntime) vs the original models on TF.js's wasm backend, measured in the same run.

    .venv/bin/python benchmarks/bench_vs_tfjs.py [--models movenet-lightning movenet-thunder] [--runs 50]

For each model: `posekit bench --threads 1 --json` (session alone; the whole pipeline as a stream of files,
decoding overlapped with inference as `posekit estimate` runs; and one file's latency, on a real photo) and
`node tools/tfjs-reference/bench.js MODEL_JSON --backend wasm` (model.execute + dataSync on a fixed input of
the same shape), alternating so that both see the same machine load. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tools" / "tfjs-reference"


def _posekit(model: str, runs: int, image: str | None) -> dict:
    cmd = [sys.executable, "-m", "posekit", "bench", "--model", model, "--threads", "1", "--runs", str(runs),
           "--json"] + (["--image", image] if image else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def _tfjs(model: str, runs: int, backend: str) -> dict:
    from posekit.hub import model_json

    cmd = ["node", str(REF / "bench.js"), str(model_json(model)), "--backend", backend, "--runs", str(runs)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REF).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["movenet-lightning", "movenet-thunder"])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2, help="alternate posekit / wasm this many times")
    ap.add_argument("--image", default=None, help="photo for posekit's pipeline (default: the sample photo)")
    ap.add_argument("--backend", default="wasm", choices=("wasm", "cpu"))
    args = ap.parse_args()
    rows = []
    for model in args.models:
        pk, js = [], []
        for _ in range(args.rounds):
            pk.append(_posekit(model, args.runs, args.image))
            js.append(_tfjs(model, args.runs, args.backend))
        s = min(r["session_ms_median"] for r in pk)
        lat = min(r["pipeline_ms_median"] for r in pk)
        p = min(r["pipeline_stream_ms_per_image"] for r in pk)
        w = min(r["median_ms"] for r in js)
        rows.append({
            "model": model, "posekit_session_ms": s, "posekit_pipeline_ms": p, "posekit_file_latency_ms": lat,
            f"tfjs_{args.backend}_ms": w, "throughput_ratio_session": round(w / s, 2),
            "throughput_ratio_pipeline": round(w / p, 2),
            "pipeline_overhead_pct": round(100 * (p - s) / s, 1),
            "latency_overhead_pct": round(100 * (lat - s) / s, 1), "tfjs": js[0],
        })
    print(f"{'model':20} {'session':>9} {'stream':>9} {'one file':>9} {'tfjs ' + args.backend:>10} "
          f"{'x session':>10} {'x stream':>9} {'overhead stream / file':>23}")
    for r in rows:
        print(f"{r['model']:20} {r['posekit_session_ms']:>6.2f} ms {r['posekit_pipeline_ms']:>6.2f} ms "
              f"{r['posekit_file_latency_ms']:>6.2f} ms {r[f'tfjs_{args.backend}_ms']:>7.2f} ms "
              f"{r['throughput_ratio_session']:>10.2f} {r['throughput_ratio_pipeline']:>9.2f} "
              f"{r['pipeline_overhead_pct']:>10.1f}% / {r['latency_overhead_pct']:.1f}%")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
