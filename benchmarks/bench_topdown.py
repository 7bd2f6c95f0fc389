"""Top-down benchmarks: detector recall, batched crops, and the pose model x detector x TTA table.

    PYTHONPATH=src python benchmarks/bench_topdown.py recall            # detectors: person-box recall, ms
    PYTHONPATH=src python benchmarks/bench_topdown.py pipeline          # detector + crops, interleaved, ms
    PYTHONPATH=src python benchmarks/bench_topdown.py batch [--precision fp32 int8]  # 6 crops: one call vs
                                                                       # one per crop
    PYTHONPATH=src python benchmarks/bench_topdown.py sizes [--precision fp32 int8]  # the session alone:
                                                                       # ms per image at batch 1..12
    PYTHONPATH=src python benchmarks/bench_topdown.py table [--lsp N] [--models ...] [--detectors ...]
                                                             [--tta none flip flip,rot] [--gt-boxes]

Development data (../shared/data): COCO keypoint AP / AR pooled over coco-mini-train (80 images),
mmpose-tests/coco (4) and coco8-pose (8) -- 92 images, 119 people with keypoints; LSP Extended PCK@0.2 on
images 8,001-9,000 (``--lsp N``: the first N of them). Every image counts: an image without a pose scores
zero for its people. Timings on a shared 2-core machine are noisy: the ratios (``batch``, interleaved) are
the figures to trust; the table's ms per image is wall time over the whole run, one thread.

Measured 2026-11-26 (load average 7-9 on the 2 cores; every command in /work/notes/issue-11.md):
- recall@IoU0.5 of the 119 people, default thresholds: nanodet 0.849 (125 ms/image), centernet 0.824 (182),
  movenet-multipose 0.361 (83), blazepose-detector 0.050 (42).
- COCO AP, movenet-thunder: nanodet 41.7, centernet 44.4, movenet-multipose 30.2 (29.9 without the
  whole-image fallback, as before issue 11), blazepose-detector 18.3; movenet-multipose whole image 25.3.
- LSP PCK@0.2 on 8,001-9,000, movenet-thunder: nanodet 62.3 (0 images without a pose), centernet 61.0,
  movenet-multipose without the fallback (before issue 11) 57.3 with 131 images without a pose;
  ground-truth boxes 63.7.
- TTA, movenet-thunder + nanodet: flip +0.2 AP / +0.4 PCK (LSP 100) at 1.7x the time; flip,rot (upright
  prior TURN_RATIO 1.2) -0.7 AP / +1.4 PCK at ~4x (without the prior: -1.9 AP / -0.1 PCK).
  efficientpose + nanodet, LSP: flip -1.4 PCK (60 images); flip,rot +12.4 PCK (20 images, 39.0 -> 51.4,
  same with and without the prior) at ~8-20x.
- batch (6 crops): no reliable speed-up on this machine (movenet-thunder x0.91-x0.99, movenet-lightning
  x1.19, efficientpose x0.88-x1.25): on 2 cores a session's cost per image is flat from batch 1 to 12
  (``sizes``, 2026-11-26).
Measured 2026-11-27 on a lent 16-core Intel Xeon (AVX-512 VNNI; the H200 machine of issue 12's GPU run),
fp32, median of 7 interleaved: ``batch --threads 16``: movenet-lightning one call per crop 54 ms, one
batched call 43 ms (x1.26); movenet-thunder 74 -> 63 ms (x1.18); ``--threads 1``: x0.94 / x0.91.
``sizes --threads 16``, ms per image at batch 1 / 2 / 6 / 12: lightning 6.45 / 2.07 / 1.16 / 1.06, thunder
9.21 / 4.31 / 3.64 / 3.31: with many cores a batch-1 call cannot use them and the batch does; the end-to-end
gain is smaller than the network's because the crops' preprocessing and decoding (~5 ms per crop, serial
Python / PIL) do not shrink with the batch.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
COCO_SETS = (f"coco:{DATA}/coco-mini-train/annotations/person_keypoints_train2017.json",
             f"coco:{DATA}/mmpose-tests/coco/test_coco.json", f"yolo:{DATA}/coco8-pose")
LSP = f"lspet:{DATA}/lspet-train"


def coco_samples():
    """The three COCO dev sets pooled, image ids renumbered (coco8 and coco-mini-train share train2017)."""
    from posekit.datasets import load_dataset

    samples = [s for spec in COCO_SETS for s in load_dataset(spec)]
    return [replace(s, image_id=k + 1) for k, s in enumerate(samples)]


def lsp_samples(n: int):
    from posekit.datasets import load_dataset

    return load_dataset(LSP)[8000:8000 + n]


def gt_boxes(sample, with_keypoints: bool = True) -> np.ndarray:
    boxes = [p.box for p in sample.persons
             if not p.iscrowd and p.box is not None and (p.labelled.any() or not with_keypoints)]
    return np.array(boxes, np.float32).reshape(-1, 4)


def cmd_recall(args: argparse.Namespace) -> None:
    """Recall at IoU 0.5 of the annotated COCO people with keypoints, per detector and score threshold;
    ms per image interleaved (each image runs every detector in turn)."""
    from posekit.images import read_image
    from posekit.models import detectors as D
    from posekit.video.matching import box_iou

    images = [(read_image(s.image_path).rgb, gt_boxes(s)) for s in coco_samples()]
    dets = {name: D.load_detector(name, threads=args.threads) for name in D.DETECTORS}
    thresholds = {"centernet": (0.1, 0.2, 0.3), "nanodet": (0.1, 0.2, 0.3)}
    rows = []
    for name, det in dets.items():
        for thr in thresholds.get(name, (det.min_score,)):
            rows.append((name, thr))
    hits = {r: 0 for r in rows}
    boxes = {r: 0 for r in rows}
    times = {name: 0.0 for name in dets}
    total = sum(len(g) for _, g in images)
    for rgb, gt in images:
        for name, det in dets.items():
            for thr in thresholds.get(name, (det.min_score,)):
                det.min_score = thr
                t0 = time.perf_counter()
                found = det.detect(rgb)
                if thr == thresholds.get(name, (det.min_score,))[0]:
                    times[name] += time.perf_counter() - t0
                boxes[(name, thr)] += len(found)
                if len(gt) and len(found):
                    hits[(name, thr)] += int((box_iou(gt, found.boxes).max(axis=1) >= 0.5).sum())
    print(f"| detector | score >= | recall@IoU0.5 ({total} people) | boxes / image | ms / image |")
    print("|---|---|---|---|---|")
    for name, thr in rows:
        print(f"| {name} | {thr:g} | {hits[(name, thr)] / total:.3f} ({hits[(name, thr)]}) | "
              f"{boxes[(name, thr)] / len(images):.1f} | {1000 * times[name] / len(images):.0f} |")


def cmd_pipeline(args: argparse.Namespace) -> None:
    """Whole top-down pipelines (detector + all crops), interleaved per image: ms and boxes per image."""
    from posekit.images import read_image
    from posekit.models.topdown import load_topdown

    images = [read_image(s.image_path).rgb for s in coco_samples()[:args.images]]
    pipes = {d: load_topdown(args.model, d, threads=args.threads, min_score=0.0) for d in args.detectors}
    spent = {d: 0.0 for d in pipes}
    boxes = {d: 0 for d in pipes}
    for rgb in images:
        for d, pipe in pipes.items():
            t0 = time.perf_counter()
            pipe.predict(rgb)
            spent[d] += time.perf_counter() - t0
            boxes[d] += len(pipe.last[0])
    for d in pipes:
        print(f"{args.model} + {d}: {1000 * spent[d] / len(images):.0f} ms/image, "
              f"{boxes[d] / len(images):.1f} boxes/image (interleaved, {len(images)} COCO dev images, "
              f"{args.threads} thread(s))")


def six_people() -> np.ndarray:
    """A 3 x 2 mosaic of the astronaut photo: six people of 340 x 490 px."""
    from skimage import data

    a = data.astronaut()
    return np.concatenate([np.concatenate([a, a, a], axis=1)] * 2, axis=0)


def cmd_batch(args: argparse.Namespace) -> None:
    """One session call for the 6 crops of one image vs one call per crop, interleaved, per model."""
    from posekit.models.registry import load_model
    from posekit.models.topdown import crop_box
    from posekit.models.tta import CropModel, batch_runner

    rgb = six_people()
    boxes = np.array([[x * 512 + 14, y * 512 + 17, x * 512 + 360, y * 512 + 505]
                      for y in range(2) for x in range(3)], np.float32)
    crops = [crop_box(rgb, b, 0.25)[0] for b in boxes]
    for name, precision in [(n, p) for n in args.models for p in args.precision]:
        model = load_model(name, threads=args.threads, min_score=0.0, precision=precision)
        runner = batch_runner(model, args.threads)
        one = CropModel(model)
        if runner is None or (precision != "fp32" and getattr(model, "decoder", None) is None):
            print(f"{name} {precision}: no batched graph at this precision: one call per crop")
            continue
        many = CropModel(model, batched=runner)
        a, b = one.predict_many(crops), many.predict_many(crops)  # warm up, and compare
        diff = max(float(np.abs(x.xy - y.xy).max()) for x, y in zip(a, b, strict=True))
        t_one, t_many = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            one.predict_many(crops)
            t_one.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            many.predict_many(crops)
            t_many.append(time.perf_counter() - t0)
        m1, m6 = np.median(t_one) * 1000, np.median(t_many) * 1000
        print(f"{name} {precision}: 6 crops, one call per crop {m1:.0f} ms, one batched call {m6:.0f} ms, "
              f"speed-up x{m1 / m6:.2f} (median of {args.repeat}, interleaved, {args.threads} thread(s)); "
              f"max keypoint difference {diff:.2e} px")


def cmd_sizes(args: argparse.Namespace) -> None:
    """The network session alone, ms per image at each batch size (one call per batch), batch sizes
    interleaved: where batching could save time, the per-image cost falls as the batch grows."""
    from posekit.models.registry import load_model
    from posekit.models.runner import Runner

    rng = np.random.default_rng(0)
    for name, precision in [(n, p) for n in args.models for p in args.precision]:
        model = load_model(name, threads=args.threads, min_score=0.0, precision=precision)
        if getattr(model, "decoder", None) is None:
            print(f"{name} {precision}: no network file with a free batch dimension")
            continue
        one = Runner(model.runner.path, threads=args.threads, fixed_dims=model.runner.fixed_dims)
        free = Runner(model.runner.path, threads=args.threads)
        inp = one.session.get_inputs()[0]
        dtype = np.int32 if "int32" in inp.type else np.float32
        side = [int(d) for d in inp.shape[1:]]
        feeds = {b: {inp.name: (rng.random((b, *side)) * 255).astype(dtype)} for b in args.sizes}
        runs = {"1 (batch-1 session)": (one, feeds[1][inp.name][:1], 1)} | {
            str(b): (free, feeds[b][inp.name], b) for b in args.sizes}
        times: dict[str, list[float]] = {k: [] for k in runs}
        for runner, x, _ in runs.values():  # warm up
            runner.run({inp.name: x})
        for _ in range(args.repeat):
            for key, (runner, x, b) in runs.items():
                calls = max(1, max(args.sizes) // b)
                t0 = time.perf_counter()
                for _ in range(calls):
                    runner.run({inp.name: x})
                times[key].append((time.perf_counter() - t0) * 1000 / (calls * b))
        row = ", ".join(f"batch {k}: {np.median(v):.2f}" for k, v in times.items())
        print(f"{name} {precision}, {args.threads} thread(s), ms per image (median of {args.repeat}): {row}")


def run_config(samples, model, kind: str, gt: bool = False):
    from posekit.evaluate import predict_dataset, score_coco, score_pck

    t0 = time.perf_counter()
    preds = predict_dataset(model, samples, gt_boxes=gt, progress=False)
    ms = 1000 * (time.perf_counter() - t0) / len(samples)
    without = sum(len(p) == 0 for _, p in preds.image_poses) + (len(samples) - len(preds.image_poses))
    if kind == "coco":
        r = score_coco(samples, preds).as_dict(percent=True)
        return {"AP": r["AP"], "AR": r["AR"], "ms": ms, "without_pose": without}
    table = score_pck(preds, "lspet", alpha=0.2)["tables"]["pck@0.2"].as_dict(percent=True)
    return {"PCK": table["mean"], "ms": ms, "without_pose": without}


def load_config(model: str, detector: str | None, tta: str, threads: int, fallback: bool = True):
    from posekit.models.registry import load_model
    from posekit.models.topdown import load_topdown
    from posekit.models.tta import CropModel

    if detector is None:
        m = load_model(model, threads=threads, min_score=0.0)
        return m if tta == "none" else CropModel(m, tta=tta)
    return load_topdown(model, detector, threads=threads, min_score=0.0, tta=tta, fallback=fallback)


def cmd_table(args: argparse.Namespace) -> None:
    from posekit.models import tta as tta_module

    if args.turn_ratio is not None:
        tta_module.TURN_RATIO = args.turn_ratio
    coco = coco_samples()
    lsp = lsp_samples(args.lsp) if args.lsp else []
    configs = [(m, d, t) for m in args.models for d in args.detectors for t in args.tta]
    for model, detector, tta in configs:
        det = None if detector == "whole" else detector
        pipe = load_config(model, det, tta, args.threads, fallback=not args.no_fallback)
        row = {"model": model, "detector": detector, "tta": tta, "fallback": not args.no_fallback,
               "turn_ratio": tta_module.TURN_RATIO}
        if not args.no_coco:
            row["coco"] = run_config(coco, pipe, "coco")
        if lsp:
            row["lsp"] = run_config(lsp, pipe, "lsp")
            if args.gt_boxes:
                single = load_config(model, None, tta, args.threads)
                row["lsp_gt_boxes"] = run_config(lsp, single, "lsp", gt=True)
        print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("recall")
    r.add_argument("--threads", type=int, default=1)
    pl = sub.add_parser("pipeline")
    pl.add_argument("--model", default="movenet-thunder")
    pl.add_argument("--detectors", nargs="+", default=["nanodet", "centernet", "movenet-multipose"])
    pl.add_argument("--images", type=int, default=40)
    pl.add_argument("--threads", type=int, default=1)
    b = sub.add_parser("batch")
    b.add_argument("--models", nargs="+", default=["efficientpose", "movenet-thunder"])
    b.add_argument("--repeat", type=int, default=7)
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--precision", nargs="+", default=["fp32"], choices=("fp32", "int8"))
    z = sub.add_parser("sizes")
    z.add_argument("--models", nargs="+", default=["movenet-lightning", "movenet-thunder"])
    z.add_argument("--sizes", nargs="+", type=int, default=[1, 2, 3, 6, 12])
    z.add_argument("--repeat", type=int, default=15)
    z.add_argument("--threads", type=int, default=1)
    z.add_argument("--precision", nargs="+", default=["fp32", "int8"], choices=("fp32", "int8"))
    t = sub.add_parser("table")
    t.add_argument("--models", nargs="+", default=["movenet-thunder", "efficientpose"])
    t.add_argument("--detectors", nargs="+",
                   default=["nanodet", "centernet", "movenet-multipose", "blazepose-detector"],
                   help="'whole' = no detector (the model on the whole image)")
    t.add_argument("--tta", nargs="+", default=["none", "flip", "flip,rot"])
    t.add_argument("--lsp", type=int, default=0, help="LSP images from 8,001 (0: none)")
    t.add_argument("--gt-boxes", action="store_true", help="also LSP with ground-truth boxes")
    t.add_argument("--no-coco", action="store_true")
    t.add_argument("--turn-ratio", type=float, default=None,
                   help="flip,rot: how much a turned orientation must out-score the upright (1.0: best wins)")
    t.add_argument("--no-fallback", action="store_true",
                   help="no whole-image pose where the detector finds nobody (top-down before issue 11)")
    t.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: the benchmarks need the shared real data")
    {"recall": cmd_recall, "pipeline": cmd_pipeline, "batch": cmd_batch, "sizes": cmd_sizes,
     "table": cmd_table}[args.cmd](args)


if __name__ == "__main__":
    main()
