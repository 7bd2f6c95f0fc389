"""`posekit estimate`: poses for images and folders of images."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="estimate poses in images and folders of images")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--model", default=None, help="zoo model name or .onnx path (default: movenet-multipose)")
    p.add_argument("--out", default="out", help="output folder (default: ./out)")
    p.add_argument("--format", choices=("posenet", "coco"), default="posenet",
                   help="posenet: one JSON per image; coco: one results.json for pycocotools")
    p.add_argument("--min-score", type=float, default=0.25, help="drop people whose pose score is lower")
    p.add_argument("--threads", type=int, default=None,
                   help="onnxruntime threads (default: all cores; --engine ray: --cpus-per-actor)")
    p.add_argument("--no-render", action="store_true", help="do not write overlay PNGs")
    add_topdown_options(p, "whole: the model runs once on the whole image")
    add_model_options(p)
    add_precision_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_engine_options(p)
    p.set_defaults(func=run)


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """--engine local|ray and the Ray engine's flags."""
    g = p.add_argument_group("engine (ray: Ray Data on a cluster; pip install 'posekit[ray]')")
    g.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process; ray: Ray Data actors, sharded and resumable (default: local)")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="ray: auto (a running cluster) or ray://HOST:PORT (default: start a local runtime)")
    g.add_argument("--actors", type=int, default=None,
                   help="ray: model actors (default: the cluster's CPUs // --cpus-per-actor)")
    g.add_argument("--cpus-per-actor", type=int, default=1,
                   help="ray: CPUs per actor = its onnxruntime threads (default: 1)")
    g.add_argument("--shard-size", type=int, default=1000,
                   help="ray: images per result shard (shards/shard-N.jsonl; a rerun skips finished ones)")
    g.add_argument("--decode-in", choices=("actor", "read"), default="actor",
                   help="ray: actor: send paths, the actor decodes (default; faster, see "
                        "benchmarks/bench_ray.py); read: Ray Data read tasks decode and send arrays")


def add_topdown_options(p: argparse.ArgumentParser, whole: str, margin: bool = True) -> None:
    """--mode (``whole`` explains the whole-image mode), --detector, --margin (unless the command has its
    own), --tta."""
    from posekit.models.detectors import DEFAULT_DETECTOR, DETECTORS

    td = p.add_argument_group("top-down multi-person")
    td.add_argument("--mode", choices=("whole", "topdown"), default="whole",
                    help=f"{whole}; topdown: a detector finds people and --model (one person, default "
                         "movenet-thunder) runs on each crop (the whole image where it finds nobody)")
    td.add_argument("--detector", default=DEFAULT_DETECTOR, choices=DETECTORS,
                    help=f"topdown person detector (default {DEFAULT_DETECTOR}: best measured recall)")
    if margin:
        td.add_argument("--margin", type=float, default=0.25,
                        help="topdown: enlarge each box by this fraction")
    td.add_argument("--tta", default="none", choices=("none", "flip", "flip,rot"),
                    metavar="none|flip|flip,rot",
                    help="test-time augmentation of one-person models: flip (2 runs, left/right swapped) or "
                         "flip,rot (8 runs: 4 quarter turns x flip); default none")


def load_pipeline(args: argparse.Namespace, threads: int | None = None):
    """The model the flags name: a TopDown pipeline with --mode topdown, else a zoo model or .onnx file,
    with --min-score, --tta and the family options; ``threads`` overrides --threads."""
    from posekit.models.registry import DEFAULT_MODEL, load_model

    threads = args.threads if threads is None else threads
    tta = getattr(args, "tta", "none") or "none"
    score = {} if args.min_score is None else {"min_score": args.min_score}  # None: the model's own
    if args.mode == "topdown":
        from posekit.models.topdown import load_topdown

        return load_topdown(args.model or "movenet-thunder", args.detector, args.margin, threads,
                            tta=tta, **score, **precision_options(args), **model_options(args))
    model = load_model(args.model or DEFAULT_MODEL, threads=threads, **score, **precision_options(args),
                       **model_options(args))
    if tta != "none":
        from posekit.models.tta import CropModel

        if getattr(model.spec, "multi_person", False):
            from posekit.errors import PosekitError

            raise PosekitError(f"--tta {tta}: {model.spec.name} finds several people; use --mode topdown "
                               "or a one-person model (movenet-thunder, efficientpose)")
        return CropModel(model, tta=tta, min_score=getattr(model, "min_score", 0.0))
    return model


def add_model_options(p: argparse.ArgumentParser) -> None:
    """Family options; left out, each model uses its own default (PoseNet: 385, 10, 20, 0.5)."""
    g = p.add_argument_group("model options (PoseNet; --max-poses also BlazePose)")
    g.add_argument("--resolution", type=int, default=None,
                   help="PoseNet input side, (size - 1) divisible by 16: 257, 353, 385 (default), 513")
    g.add_argument("--output-stride", type=int, default=None, help="PoseNet output stride: 16 (the only one)")
    g.add_argument("--max-poses", type=int, default=None, help="most people to return")
    g.add_argument("--nms-radius", type=float, default=None,
                   help="PoseNet: a part within this many input pixels of the same part of a found person is "
                        "not a new person (default 20)")
    g.add_argument("--min-part-score", type=float, default=None,
                   help="PoseNet multi-pose: least score of a part that starts a person (default 0.5)")


def add_precision_options(p: argparse.ArgumentParser) -> None:
    """--precision fp32|int8 and --calibration DIR."""
    g = p.add_argument_group("precision")
    g.add_argument("--precision", choices=("fp32", "int8"), default="fp32",
                   help="int8: static int8 model (quantized once on first use, cached); 1.3-1.9x faster "
                        "on one core, mostly within a point of fp32's accuracy (benchmarks/bench_int8.py; "
                        "default: fp32)")
    g.add_argument("--calibration", default=None, metavar="DIR",
                   help="int8: calibrate on the photos of DIR (default: posekit's fixed set)")


def precision_options(args: argparse.Namespace) -> dict:
    return {"precision": getattr(args, "precision", "fp32"),
            "calibration": getattr(args, "calibration", None)}


def model_options(args: argparse.Namespace) -> dict:
    """The family options the user gave (the rest stay at the family's defaults)."""
    names = ("resolution", "output_stride", "max_poses", "nms_radius", "min_part_score")
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.errors import PosekitError
    from posekit.estimate import estimate_batch
    from posekit.images import find_images

    if getattr(args, "engine", "local") == "ray":
        return run_ray(args)
    paths = find_images(args.inputs)
    if not paths:
        raise PosekitError(f"no images found in {' '.join(args.inputs)}; pass image files or folders")
    model = load_pipeline(args)
    out = Path(args.out)
    result = estimate_batch(model, paths, out, fmt=args.format, render=not args.no_render,
                            progress=not args.quiet)
    ok = len(paths) - len(result.failed)
    print(f"{ok} image(s), {result.people} person(s) -> {out}/")
    counts = getattr(model, "counts", None)
    if counts:
        print(f"  detector: {counts['too_small']} box(es) under the minimum size dropped, "
              f"{counts['over_cap']} over the cap dropped; {counts['fallback']} image(s) with nobody found "
              "(whole-image pose)")
    for path in result.written if len(result.written) <= 10 else result.written[:1]:
        print(f"  {path}")
    for _path, message in result.failed:
        print(f"posekit: error: {message}", file=sys.stderr)
    if result.failed:
        print(f"posekit: {len(result.failed)} of {len(paths)} file(s) failed", file=sys.stderr)
        return 1
    return 0


def run_ray(args: argparse.Namespace) -> int:
    """`--engine ray`: the same outputs through `posekit.ray_engine.estimate_ray`; inputs may also be URIs
    (s3://, gs://, hdfs://) that pyarrow's filesystems read."""
    from posekit.errors import PosekitError
    from posekit.ray_engine import OPTION_DEFAULTS, estimate_ray, find_inputs, require_ray

    require_ray()
    paths = find_inputs(args.inputs)
    if not paths:
        raise PosekitError(f"no images found in {' '.join(args.inputs)}; pass image files, folders or URIs")
    options = {name: getattr(args, name) for name in OPTION_DEFAULTS
               if getattr(args, name, None) != OPTION_DEFAULTS[name]}
    result = estimate_ray(paths, args.out, options, fmt=args.format, render=not args.no_render,
                          address=args.ray_address, actors=args.actors, cpus_per_actor=args.cpus_per_actor,
                          shard_size=args.shard_size, decode=args.decode_in, progress=not args.quiet)
    ok = result.images - len(result.failed)
    rate = f", {result.processed / result.seconds:.1f} img/s" if result.seconds else ""
    print(f"{ok} image(s), {result.people} person(s) -> {args.out}/ ({result.processed} run now, "
          f"{result.skipped_shards} of {result.shards} shard(s) already done{rate})")
    for _path, message in result.failed[:10]:
        print(f"posekit: error: {message}", file=sys.stderr)
    if result.failed:
        print(f"posekit: {len(result.failed)} of {result.images} file(s) failed (listed in "
              f"{args.out}/shards/)", file=sys.stderr)
        return 1
    return 0
