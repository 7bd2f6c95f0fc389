"""``python -m posekit.convert NAME_OR_MODEL_JSON... [--out DIR] [--latency RUNS]``

Converts each model, printing one JSON line per model: conversion seconds, ONNX size, and with
``--latency`` the median / p90 single-thread onnxruntime latency over RUNS runs on a fixed input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from posekit.errors import PosekitError


def _latency(path: Path, runs: int) -> dict[str, float]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else (1 if k == 0 else 256) for k, d in enumerate(spec.shape)]
    ramp = (np.arange(np.prod(shape)) * 7 % 256).reshape(shape)  # the same fixed input as bench.js
    x = ramp.astype(np.int32) if "int32" in spec.type else (ramp / 255).astype(np.float32)
    for _ in range(5):
        session.run(None, {spec.name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {spec.name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    median, p90 = np.median(times), np.quantile(times, 0.9)
    return {"median_ms": round(float(median), 3), "p90_ms": round(float(p90), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m posekit.convert", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="package model names or model.json paths")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for NAME.onnx (default: .)")
    parser.add_argument("--latency", type=int, default=0, metavar="RUNS", help="also time RUNS runs")
    args = parser.parse_args(argv)
    from posekit.convert import convert_tfjs

    try:
        for name in args.models:
            source = Path(name) if name.endswith(".json") else None
            if source is None:
                from posekit import hub

                source = hub.model_json(name)
            out = args.out / f"{source.stem}.onnx"
            t0 = time.perf_counter()
            convert_tfjs(source, out=out)
            row = {"model": source.stem, "convert_s": round(time.perf_counter() - t0, 3),
                   "onnx_bytes": out.stat().st_size, "source_bytes": source.stat().st_size
                   + sum(p.stat().st_size for p in source.parent.glob(f"{source.stem}*.bin"))}
            if args.latency:
                row.update(_latency(out, args.latency), threads=1, runs=args.latency)
            print(json.dumps(row), flush=True)
    except PosekitError as err:
        print(f"posekit.convert: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
