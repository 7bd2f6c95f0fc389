"""`posekit bench`: latency and throughput of a model on a real photo."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure a model's latency (session alone and whole pipeline)")
    p.add_argument("--model", default=None, help="zoo model name (default: movenet-multipose)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all cores)")
    p.add_argument("--image", default=None, help="photo to run on (default: the sample photo)")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    from posekit.cli.estimate import add_model_options, add_precision_options

    add_model_options(p)
    add_precision_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.bench import bench_model
    from posekit.errors import PosekitError
    from posekit.models.registry import DEFAULT_MODEL, load_model
    from posekit.samples import sample_image

    if args.runs < 1:
        raise PosekitError(f"--runs {args.runs}: give at least 1")
    image = Path(args.image) if args.image else sample_image()
    from posekit.cli.estimate import model_options, precision_options

    model = load_model(args.model or DEFAULT_MODEL, threads=args.threads, **precision_options(args),
                       **model_options(args))
    # int8: the fp32 session is timed in the same run, interleaved, for the ratio (this machine is noisy)
    peer = (load_model(args.model or DEFAULT_MODEL, threads=args.threads, **model_options(args))
            if args.precision != "fp32" else None)
    r = bench_model(model, image, runs=args.runs, warmup=args.warmup, peer=peer)
    r["precision"] = args.precision
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"{r['model']} ({r['input_size']} px input) on {r['image']} "
          f"({r['image_size'][0]}x{r['image_size'][1]}), "
          f"{r['threads']} thread(s), {r['runs']} runs, onnxruntime {r['onnxruntime']}")
    print(f"  session ({r['precision']}) : median {r['session_ms_median']:.2f} ms  "
          f"p90 {r['session_ms_p90']:.2f} ms  {r['session_images_per_s']:.1f} img/s")
    if "peer_session_ms_median" in r:
        print(f"  session (fp32, same run) : median {r['peer_session_ms_median']:.2f} ms  "
              f"-> {r['speedup_vs_fp32']:.2f}x faster")
    print(f"  pipeline, one file : median {r['pipeline_ms_median']:.2f} ms  "
          f"p90 {r['pipeline_ms_p90']:.2f} ms  (+{r['pipeline_latency_overhead_pct']:.1f}% over the session)")
    print(f"  pipeline, a stream : {r['pipeline_stream_ms_per_image']:.2f} ms/image  "
          f"{r['pipeline_images_per_s']:.1f} img/s  (+{r['pipeline_overhead_pct']:.1f}% over the session; "
          "decoding overlaps inference)")
    return 0
