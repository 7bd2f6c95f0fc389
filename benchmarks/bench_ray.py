"""Ray engine vs local engine: images/s on the same LSP Extended images, interleaved in one run.

    .venv/bin/python benchmarks/bench_ray.py [--models movenet-thunder movenet-multipose] [--first 8001]
        [--limit 1000] [--rounds 2] [--configs actor:2x1 read:2x1 actor:1x2]

Each round runs, per model: the local engine (`estimate_batch`, the CLI's path, all cores, no overlays), then
each Ray configuration (`estimate_ray` into a fresh folder: decode in read tasks or in the actors,
ACTORSxCPUS), so both see the same machine load. A Ray runtime with all cores is started once (a cluster
exists before a job); each Ray pass includes its actors' start and model load and the shard writes. Also
measured once: the decode cost per image at the model's size (one thread) and the mean file size, for the
scaling model. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
IMAGES = DATA / "lspet-train" / "images"


def local_pass(model_name: str, paths: list[Path], out: Path) -> float:
    from posekit.cli.estimate import load_pipeline
    from posekit.estimate import estimate_batch
    from posekit.ray_engine import OPTION_DEFAULTS

    start = time.perf_counter()
    model = load_pipeline(argparse.Namespace(**{**OPTION_DEFAULTS, "model": model_name, "threads": None}))
    result = estimate_batch(model, paths, out, render=False, progress=False)
    assert not result.failed, result.failed[:3]
    return len(paths) / (time.perf_counter() - start)


def ray_pass(model_name: str, paths: list[Path], out: Path, config: str) -> float:
    from posekit.ray_engine import estimate_ray

    decode, shape = config.split(":")
    actors, cpus = (int(v) for v in shape.split("x"))
    start = time.perf_counter()
    result = estimate_ray(paths, out, {"model": model_name}, render=False, actors=actors, cpus_per_actor=cpus,
                          decode=decode, progress=False)
    assert result.processed == len(paths) and not result.failed, result.failed[:3]
    return len(paths) / (time.perf_counter() - start)


def decode_cost(model_name: str, paths: list[Path]) -> dict:
    from posekit.images import read_image
    from posekit.models.registry import get_spec

    side = get_spec(model_name).input_size
    start = time.perf_counter()
    for p in paths:
        read_image(p, side)
    ms = (time.perf_counter() - start) / len(paths) * 1000
    return {"decode_ms_per_image": round(ms, 2),
            "mean_file_kb": round(statistics.mean(p.stat().st_size for p in paths) / 1024, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["movenet-thunder", "movenet-multipose"])
    ap.add_argument("--first", type=int, default=8001, help="first LSP Extended image number")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--configs", nargs="+", default=["actor:2x1", "read:2x1", "actor:1x2"],
                    help="ray configurations, DECODE:ACTORSxCPUS (decode in read tasks or in the actor)")
    args = ap.parse_args()
    paths = [IMAGES / f"im{n:05d}.jpg" for n in range(args.first, args.first + args.limit)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        sys.exit(f"bench_ray: {missing[0]} is missing; fetch LSP Extended into {IMAGES}")

    import ray

    ray.init(num_cpus=os.cpu_count(), log_to_driver=False, include_dashboard=False, logging_level="ERROR")
    report: dict = {"images": len(paths), "first": args.first, "cpus": os.cpu_count(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="bench_ray_") as tmp:
        for model_name in args.models:
            rates: dict[str, list[float]] = {"local": [], **{c: [] for c in args.configs}}
            for r in range(args.rounds):
                for engine in ["local", *args.configs]:
                    out = Path(tmp) / f"{model_name}-{engine.replace(':', '-')}-{r}"
                    rate = (local_pass(model_name, paths, out) if engine == "local"
                            else ray_pass(model_name, paths, out, engine))
                    shutil.rmtree(out)
                    rates[engine].append(rate)
                    print(f"{model_name:18s} round {r + 1}  {engine:10s} {rate:7.2f} img/s", flush=True)
            mean = {e: statistics.mean(v) for e, v in rates.items()}
            report["models"][model_name] = {
                "img_per_s": {e: [round(x, 2) for x in v] for e, v in rates.items()},
                "mean_img_per_s": {e: round(m, 2) for e, m in mean.items()},
                "ray_over_local": {c: round(mean[c] / mean["local"], 3) for c in args.configs},
                **decode_cost(model_name, paths[:200]),
            }
    ray.shutdown()
    print()
    print(f"{'model':18s} {'engine':10s} {'img/s':>8s} {'ray/local':>10s}")
    for model_name, m in report["models"].items():
        for engine, rate in m["mean_img_per_s"].items():
            ratio = m["ray_over_local"].get(engine)
            print(f"{model_name:18s} {engine:10s} {rate:8.2f} {'' if ratio is None else f'{ratio:10.3f}'}")
        print(f"{model_name:18s} decode at model size {m['decode_ms_per_image']} ms/img (1 thread), "
              f"mean file {m['mean_file_kb']} KB")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
