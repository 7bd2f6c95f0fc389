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
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all cores)")
    p.add_argument("--no-render", action="store_true", help="do not write overlay PNGs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.errors import PosekitError
    from posekit.estimate import estimate_batch
    from posekit.images import find_images
    from posekit.models.registry import DEFAULT_MODEL, load_model

    paths = find_images(args.inputs)
    if not paths:
        raise PosekitError(f"no images found in {' '.join(args.inputs)}; pass image files or folders")
    model = load_model(args.model or DEFAULT_MODEL, threads=args.threads, min_score=args.min_score)
    out = Path(args.out)
    result = estimate_batch(model, paths, out, fmt=args.format, render=not args.no_render,
                            progress=not args.quiet)
    ok = len(paths) - len(result.failed)
    print(f"{ok} image(s), {result.people} person(s) -> {out}/")
    for path in result.written if len(result.written) <= 10 else result.written[:1]:
        print(f"  {path}")
    for _path, message in result.failed:
        print(f"posekit: error: {message}", file=sys.stderr)
    if result.failed:
        print(f"posekit: {len(result.failed)} of {len(paths)} file(s) failed", file=sys.stderr)
        return 1
    return 0
