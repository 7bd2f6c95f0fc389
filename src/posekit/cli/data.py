"""`posekit data stats|clean|split|convert`: datasets as one Sample type.

DATASET is KIND:PATH, KIND one of coco, mpii (.mat / .json / .csv by suffix), mpii-mat, mpii-json,
mpii-csv, lsp, lspet, yolo. Written datasets are COCO keypoints JSON (with posekit's extra fields for
head boxes, activities and splits), written atomically.
"""

from __future__ import annotations

import argparse
import json
import sys

_KINDS = "coco, mpii, mpii-mat, mpii-json, mpii-csv, lsp, lspet, yolo"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset statistics, cleaning, splits and conversion")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("dataset", metavar="DATASET", help=f"KIND:PATH with KIND in {_KINDS}")
        q.add_argument("--images", default=None, metavar="DIR", help="image folder (overrides the default)")
        q.add_argument("--require-images", action="store_true", help="fail when an image file is missing")
        q.add_argument("--skip-bad", action="store_true",
                       help="skip and count malformed records instead of stopping at the first")
        q.add_argument("--json", action="store_true", help="print JSON instead of a table")

    sp = dsub.add_parser("stats", help="images, persons, keypoints per person, visibility, categories")
    common(sp)
    sp.set_defaults(func=run_stats)

    cp = dsub.add_parser("clean", help="apply the cleaning rules and print the count per rule")
    common(cp)
    cp.add_argument("--out", default=None, metavar="FILE", help="write the cleaned dataset (COCO JSON)")
    cp.add_argument("--report", action="store_true", help="also list loader issues with examples")
    cp.add_argument("--head-pad", type=float, default=0.15, help="box top padding x box height (0.15)")
    cp.add_argument("--ankle-pad", type=float, default=0.25, help="box bottom padding x box height (0.25)")
    cp.add_argument("--keep-unlabelled", action="store_true", help="keep persons with no labelled keypoint")
    cp.set_defaults(func=run_clean)

    tp = dsub.add_parser("split", help="stratified train/val/test split, written as three COCO JSON files")
    common(tp)
    tp.add_argument("--seed", type=int, required=True)
    tp.add_argument("--fractions", type=float, nargs=3, default=(0.7, 0.15, 0.15),
                    metavar=("TRAIN", "VAL", "TEST"))
    tp.add_argument("--key", default="category", help="person/sample attribute to stratify by (category)")
    tp.add_argument("--out", required=True, metavar="DIR")
    tp.set_defaults(func=run_split)

    vp = dsub.add_parser("convert", help="convert a dataset to COCO JSON or YOLO-pose labels")
    common(vp)
    vp.add_argument("dst", metavar="DST", help="output file (coco) or folder (yolo)")
    vp.add_argument("--to", choices=("coco", "yolo"), default="coco")
    vp.set_defaults(func=run_convert)


def _load(args: argparse.Namespace):
    from posekit.datasets import LoadReport, load_dataset
    from posekit.errors import PosekitError

    report = LoadReport(strict=not args.skip_bad)
    samples = load_dataset(args.dataset, images_dir=args.images, report=report)
    missing = report.counts.get("missing image file", 0)
    if args.require_images and missing:
        example = report.examples["missing image file"][0]
        raise PosekitError(f"{args.dataset}: {missing} image files missing (e.g. {example}); "
                           "pass --images DIR or drop --require-images")
    return samples, report


def _issues(report, out=sys.stderr) -> None:
    for line in report.lines():
        print(f"  note: {line}", file=out)


def run_stats(args: argparse.Namespace) -> int:
    from posekit.datasets.stats import dataset_stats

    samples, report = _load(args)
    stats = dataset_stats(samples)
    if args.json:
        print(json.dumps({"dataset": args.dataset, **stats, "load_report": report.as_dict()}, indent=1))
        return 0
    print(f"dataset        {args.dataset}")
    print(f"schema         {', '.join(stats['schemas']) or '-'}")
    print(f"images         {stats['images']}  (size known: {stats['images_with_size']})")
    print(f"persons        {stats['persons']}  (crowd: {stats['crowd_persons']})")
    print("splits         " + "  ".join(f"{k}: {v}" for k, v in stats["splits"].items()))
    print("labelled keypoints per person")
    for n, count in enumerate(stats["keypoints_per_person"]):
        if count:
            print(f"  {n:3d}  {count}")
    v = stats["visibility"]
    print(f"visibility     0 unlabelled: {v['0']}  1 occluded: {v['1']}  2 visible: {v['2']}")
    print(f"categories     {len(stats['categories'])}")
    for name, count in stats["categories"].items():
        print(f"  {count:7d}  {name}")
    _issues(report, sys.stdout)
    return 0


def run_clean(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.datasets import as_coco
    from posekit.datasets.cleaning import clean
    from posekit.datasets.files import write_json_atomic

    samples, report = _load(args)
    cleaned, counts = clean(samples, head_pad=args.head_pad, ankle_pad=args.ankle_pad,
                            drop_unlabelled=not args.keep_unlabelled)
    if args.out:
        write_json_atomic(Path(args.out), as_coco(cleaned, root=Path(args.out).resolve().parent))
    if args.json:
        out = {"dataset": args.dataset, "rules": counts, "out": args.out}
        if args.report:
            out["load_report"] = report.as_dict()
        print(json.dumps(out, indent=1))
        return 0
    width = max(len(k) for k in counts)
    print(f"{'rule':{width}}  count")
    for rule, n in counts.items():
        print(f"{rule:{width}}  {n}")
    if args.report:
        print("loader notes:" if report.counts else "loader notes: none")
        _issues(report, sys.stdout)
    if args.out:
        print(f"wrote {args.out}")
    return 0


def run_split(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.datasets import as_coco
    from posekit.datasets.files import write_json_atomic
    from posekit.datasets.split import class_counts, stratified_split

    samples, report = _load(args)
    splits = stratified_split(samples, key=args.key, fractions=tuple(args.fractions), seed=args.seed)
    out = Path(args.out)
    for name, part in splits.items():
        write_json_atomic(out / f"{name}.json", as_coco(part, root=out.resolve()))
    counts = class_counts(splits, key=args.key)
    if args.json:
        print(json.dumps({"dataset": args.dataset, "seed": args.seed, "sizes": {k: len(v) for k, v in
                          splits.items()}, "classes": {str(k): v for k, v in counts.items()}}, indent=1))
        return 0
    width = max([len(str(k)) for k in counts] + [5])
    print(f"{'class':{width}}  " + "  ".join(f"{n:>7}" for n in splits))
    for cls, row in counts.items():
        print(f"{str(cls):{width}}  " + "  ".join(f"{row[n]:7d}" for n in splits))
    print(f"{'total':{width}}  " + "  ".join(f"{len(v):7d}" for v in splits.values()))
    _issues(report)
    print(f"wrote {', '.join(str(out / f'{n}.json') for n in splits)}")
    return 0


def run_convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.datasets import LoadReport, as_coco, write_yolo
    from posekit.datasets.files import write_json_atomic

    samples, report = _load(args)
    dst = Path(args.dst)
    if args.to == "coco":
        write_json_atomic(dst, as_coco(samples, root=dst.resolve().parent))
        summary = {"images": len(samples), "persons": sum(len(s.persons) for s in samples), "out": str(dst)}
    else:
        wreport = LoadReport(strict=False)
        n = write_yolo(samples, dst, report=wreport)
        summary = {"label_files": n, "out": str(dst / "labels"), "skipped": dict(wreport.counts)}
    if args.json:
        print(json.dumps({**summary, "load_report": report.as_dict()}, indent=1))
        return 0
    print("  ".join(f"{k}: {v}" for k, v in summary.items()))
    if args.to == "yolo":
        print(f"images are not copied: put them under {dst / 'images'}/<split>/ beside the labels")
    _issues(report)
    return 0
