"""``posekit eval coco|mpii|lsp|track``: score saved predictions against a benchmark's ground truth.

Only argparse / stdlib at import time; numpy, scipy and the metrics load inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from posekit.cli.estimate import add_precision_options, add_topdown_options, precision_options


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="score predictions: COCO keypoint AP/AR, MPII PCKh, LSP PCK",
        description="Score saved predictions against a benchmark's ground truth.")
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for add in EVAL_SUBCOMMANDS:
        add(sub)


def _add_coco(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("coco", help="COCO keypoint AP / AR (same numbers as pycocotools)",
                       description="COCO keypoint AP / AR of a results file, equal to pycocotools' COCOeval.")
    p.add_argument("--gt", required=True, type=Path, help="COCO keypoint annotation JSON")
    p.add_argument("--dt", required=True, type=Path,
                   help="COCO results JSON: [{image_id, category_id, keypoints [x,y,s]*17, score}]")
    p.add_argument("--json", action="store_true", help="print one JSON object, values in percent")
    p.set_defaults(func=run_coco)


def _add_mpii(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mpii", help="MPII PCKh@0.5 / @0.1 and AUC (evalMPII's table)",
                       description="MPII PCKh as evalMPII and its HRNet / mmpose ports compute it.")
    p.add_argument("--gt", required=True, type=Path, help="MPII gt_valid.mat")
    p.add_argument("--preds", required=True, type=Path,
                   help="predictions: .mat (pos_pred_src 16x2xN or preds Nx16x2, 1-based) or JSON "
                        "(list of 16x2 per person, 0-based pixels)")
    p.add_argument("--index-base", type=int, choices=(0, 1), default=None,
                   help="origin of the prediction coordinates (default: 0 for JSON, 1 for .mat)")
    p.add_argument("--json", action="store_true", help="print one JSON object, values in percent")
    p.set_defaults(func=run_mpii)


def _add_lsp(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lsp", help="LSP PCK@alpha normalised by torso size",
                       description="LSP PCK: correct when the error <= alpha x torso size "
                                   "(right shoulder to left hip of the ground truth).")
    p.add_argument("--gt", required=True, type=Path, help="LSP joints.mat (3x14xN or 14x3xN)")
    p.add_argument("--preds", required=True, type=Path,
                   help="predictions: .mat (pos_pred_src 14x2xN or preds Nx14x2, 1-based) or JSON "
                        "(list of 14x2 per image, 0-based pixels)")
    p.add_argument("--alpha", type=float, default=0.2, help="threshold as a fraction of torso size")
    p.add_argument("--index-base", type=int, choices=(0, 1), default=None,
                   help="origin of the prediction coordinates (default: 0 for JSON, 1 for .mat)")
    p.add_argument("--json", action="store_true", help="print one JSON object, values in percent")
    p.set_defaults(func=run_lsp)


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a model over a dataset and score it (PCK, PCKh or COCO AP)",
                       description="Run a model over a dataset and score it with the dataset's metric: "
                                   "LSP PCK@alpha (torso), MPII PCKh (head boxes), COCO / YOLO-pose AP.")
    p.add_argument("--model", required=True, help="zoo model name or exported .onnx")
    p.add_argument("--dataset", required=True, metavar="KIND:PATH",
                   help="e.g. lspet:../shared/data/lspet-train")
    p.add_argument("--skip", type=int, default=0, help="leave out the first N images (e.g. a training part)")
    p.add_argument("--limit", type=int, default=None, help="N images only (after --skip)")
    p.add_argument("--gt-boxes", action="store_true",
                   help="run on a crop around each annotated person (single-person protocol)")
    p.add_argument("--margin", type=float, default=0.25,
                   help="crop enlargement per side, with --gt-boxes; with --mode topdown, of each box")
    p.add_argument("--alpha", type=float, default=0.2, help="PCK threshold for LSP (fraction of torso size)")
    add_topdown_options(p, "whole: the model runs once on the whole image", margin=False)
    p.add_argument("--threads", type=int, default=None)
    add_precision_options(p)
    p.add_argument("--curve", type=Path, default=None, help="write the PCK-vs-alpha curve PNG here")
    p.add_argument("--json", action="store_true", help="print one JSON object, values in percent")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_model_eval)


def _add_track(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("track", help="PoseTrack MOTA / MOTP / precision / recall / ID switches per joint",
                       description="Multi-person pose tracking metrics by PoseTrack's rules (poseval): "
                                   "a keypoint matches within half the head size (0.6 x head box "
                                   "diagonal), or at keypoint similarity >= 0.5 where the GT has no head "
                                   "boxes.")
    p.add_argument("--gt", required=True, type=Path,
                   help="PoseTrack18 ground-truth JSON, or a folder of per-video JSON files")
    p.add_argument("--pred", required=True, type=Path,
                   help="tracked predictions: PoseTrack JSON, posekit JSONL, or a folder of them "
                        "(paired with the GT by file stem / vid_id)")
    p.add_argument("--min-keypoint-score", type=float, default=0.0,
                   help="predicted keypoints scoring below this are not predictions (default 0: keep all, "
                        "as poseval, which applies no threshold)")
    p.add_argument("--poseval-frames", action="store_true",
                   help="copy poseval's frame selection: skip labelled frames without GT people and the "
                        "last frame of every video")
    p.add_argument("--json", action="store_true", help="print one JSON object, values in percent")
    p.set_defaults(func=run_track)


EVAL_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_coco, _add_mpii, _add_lsp, _add_run, _add_track,
]


def _read_json(path: Path, what: str) -> Any:
    from posekit.errors import PosekitError

    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise PosekitError(f"{path}: file not found; pass the {what}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PosekitError(f"{path}: not valid JSON ({err}); pass the {what}") from None


def _clean(obj: Any) -> Any:
    """NaN (a part without labelled joints) becomes null so the output stays valid JSON."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def run_coco(args: argparse.Namespace) -> int:
    from posekit.metrics.oks import coco_keypoint_eval

    gt = _read_json(args.gt, "COCO keypoint annotation JSON")
    dt = _read_json(args.dt, "COCO keypoint results JSON")
    result = coco_keypoint_eval(gt, dt, gt_source=str(args.gt), dt_source=str(args.dt))
    if args.json:
        print(json.dumps(result.as_dict(percent=True)))
    else:
        print(result.table())
    return 0


def _same_length(gt_path: Path, n_gt: int, pred_path: Path, n_pred: int) -> None:
    from posekit.errors import PosekitError

    if n_gt != n_pred:
        raise PosekitError(f"{pred_path}: {n_pred} predictions but {gt_path} has {n_gt} people; give one "
                           f"prediction per ground-truth person, in the same order")


def _format_table(title: str, rows: list[tuple[str, dict[str, float]]], columns: list[str]) -> str:
    names = {"mean_without_pelvis_thorax": "Mean*"}
    header = f"{title:<10}" + "".join(f"{names.get(c, c.capitalize()):>10}" for c in columns)
    lines = [header]
    for label, values in rows:
        lines.append(f"{label:<10}" + "".join(
            f"{'-':>10}" if math.isnan(values[c]) else f"{values[c]:>10.2f}" for c in columns))
    return "\n".join(lines)


def run_mpii(args: argparse.Namespace) -> int:
    from posekit.datasets.mpii_gt import load_mpii_gt, load_mpii_preds
    from posekit.metrics.pck import GROUP_NAMES, mpii_report

    pos_gt, headboxes, missing = load_mpii_gt(args.gt)
    preds = load_mpii_preds(args.preds, args.index_base)
    _same_length(args.gt, len(pos_gt), args.preds, len(preds))
    report = mpii_report(preds, pos_gt, headboxes, ~missing)
    out = report.as_dict(percent=True)
    if args.json:
        print(json.dumps(_clean(out)))
        return 0
    columns = [*GROUP_NAMES, "mean", "mean_without_pelvis_thorax"]
    print(_format_table("PCKh", [("@0.5", out["pckh@0.5"]), ("@0.1", out["pckh@0.1"])], columns))
    print(f"AUC (PCKh over alpha 0..0.5, Mean*) = {out['auc']:.2f}")
    print("Mean* = mean without pelvis and thorax, as evalMPII reports it; Head = head top.")
    return 0


def run_lsp(args: argparse.Namespace) -> int:
    from posekit.datasets.mpii_gt import load_lsp_joints, load_pose_predictions
    from posekit.errors import PosekitError
    from posekit.metrics.pck import GROUP_NAMES, lsp_pck

    if not args.alpha > 0:
        raise PosekitError(f"--alpha {args.alpha}: must be a positive fraction of torso size, e.g. 0.2")
    gt, count = load_lsp_joints(args.gt)
    preds = load_pose_predictions(args.preds, 14, args.index_base)
    _same_length(args.gt, len(gt), args.preds, len(preds))
    table = lsp_pck(preds, gt, count, alpha=args.alpha)
    key = f"pck@{args.alpha:g}"
    values = table.as_dict(percent=True)
    if args.json:
        print(json.dumps(_clean({key: values})))
        return 0
    print(_format_table("PCK", [(f"@{args.alpha:g}", values)], [*GROUP_NAMES, "mean"]))
    print("Torso size = right shoulder to left hip (ground truth); Head = head top and neck.")
    return 0


def run_model_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from posekit.datasets import load_dataset, parse_spec
    from posekit.errors import PosekitError
    from posekit.evaluate import predict_dataset, score_coco, score_pck
    from posekit.metrics.pck import GROUP_NAMES
    from posekit.models.registry import load_model

    kind, _ = parse_spec(args.dataset)
    samples = load_dataset(args.dataset)[max(args.skip, 0):]
    if args.limit is not None:
        samples = samples[: max(args.limit, 0)]
    if not samples:
        raise PosekitError(f"{args.dataset}: no images to evaluate")
    # Scoring keeps every prediction (min_score 0): low-scoring people still count for AP ranking, and the
    # single-person protocol must not lose a person to a threshold.
    if args.mode == "topdown":
        if args.gt_boxes:
            raise PosekitError("--gt-boxes and --mode topdown both choose the crops; give one of them")
        from posekit.models.topdown import load_topdown

        model = load_topdown(args.model, args.detector, args.margin, args.threads, min_score=0.0,
                             tta=args.tta, **precision_options(args))
    else:
        model = load_model(args.model, threads=args.threads, min_score=0.0, **precision_options(args))
        if args.tta != "none":
            from posekit.models.tta import CropModel

            model = CropModel(model, tta=args.tta)
    preds = predict_dataset(model, samples, gt_boxes=args.gt_boxes, margin=args.margin,
                            progress=not (args.quiet or args.json))
    for where, message in preds.failed:
        print(f"posekit: skipped {where}: {message}", file=sys.stderr)
    head = {"model": model.spec.name, "precision": args.precision, "dataset": args.dataset,
            "images": len(samples) - len(preds.failed),
            "persons": int(len(preds.gt)), "gt_boxes": bool(args.gt_boxes), "mode": args.mode,
            "detector": args.detector if args.mode == "topdown" else None, "tta": args.tta,
            "images_without_pose": sum(len(p) == 0 for _, p in preds.image_poses),
            "detector_counts": getattr(model, "counts", None),
            "unavailable_joints": [n for n, a in zip(preds.schema.keypoints, preds.available, strict=True)
                                   if not a]}
    if kind in ("coco", "yolo"):
        result = score_coco(samples, preds)
        out = {**head, **result.as_dict(percent=True)}
        if not args.json:
            print(_setting(head))
        print(json.dumps(_clean(out)) if args.json else result.table())
        return 1 if preds.failed else 0
    scored = score_pck(preds, kind, alpha=args.alpha)
    out = dict(head)
    for name, table in scored["tables"].items():
        values = table.as_dict(percent=True)
        values["per_joint"] = {j: float(v) * 100 for j, v in zip(preds.schema.keypoints, table.per_joint,
                                                                   strict=True)}
        out[name] = values
    alphas, curve = scored["curve"]
    out["auc@0.5"] = float(np.mean(curve)) * 100
    if args.curve:
        from posekit.plot import line_chart, save_figure

        fig = line_chart({model.spec.name: (alphas, curve * 100)}, f"{model.spec.name} on {args.dataset}",
                         "alpha (fraction of the normaliser)", "PCK %", ylim=(0, 100))
        save_figure(fig, args.curve)
        out["curve_png"] = str(args.curve)
    if args.json:
        print(json.dumps(_clean(out)))
        return 1 if preds.failed else 0
    print(_setting(head))
    columns = [*GROUP_NAMES, "mean"] + (["mean_without_pelvis_thorax"] if "pckh@0.5" in out else [])
    print(_format_table("PCK", [(name, out[name]) for name in scored["tables"]], columns))
    print("per joint: " + ", ".join(f"{j} {'-' if math.isnan(v) else f'{v:.1f}'}"
                                    for j, v in out[next(iter(scored["tables"]))]["per_joint"].items()))
    if head["unavailable_joints"]:
        print(f"not predicted by this model (left out): {', '.join(head['unavailable_joints'])}")
    print(f"AUC over alpha 0..0.5: {out['auc@0.5']:.2f}" + (f"; curve: {args.curve}" if args.curve else ""))
    return 1 if preds.failed else 0


def _setting(head: dict) -> str:
    """One line: model, data, counts, and how people were found."""
    how = ("ground-truth boxes" if head["gt_boxes"] else
           f"top-down, detector {head['detector']}" if head["mode"] == "topdown" else "whole image")
    tta = "" if head["tta"] == "none" else f", TTA {head['tta']}"
    return (f"{head['model']} on {head['dataset']}: {head['images']} images, {head['persons']} persons "
            f"({how}{tta}); images without a pose: {head['images_without_pose']}")


def run_track(args: argparse.Namespace) -> int:
    from posekit.datasets.posetrack import evaluate_tracking
    from posekit.errors import PosekitError

    if not math.isfinite(args.min_keypoint_score):
        raise PosekitError(f"--min-keypoint-score {args.min_keypoint_score}: give a finite score, e.g. 0.3")
    report = evaluate_tracking(args.gt, args.pred, args.min_keypoint_score, args.poseval_frames)
    if args.json:
        print(json.dumps(_clean(report.as_dict(percent=True))))
        return 0
    r = report.result
    rule = "half the head size (0.6 x head box diagonal)" if r.rule == "head" else \
        "keypoint similarity >= 0.5 (no head boxes; MOTP = mean similarity)"
    print(f"{r.videos} videos, {r.frames} frames; a keypoint matches at {rule}")
    print(r.table())
    if report.left_out:
        print(f"left out (not predicted, or never labelled in the GT): {', '.join(report.left_out)}")
    if report.videos_without_predictions:
        print(f"no predictions (all misses): {', '.join(report.videos_without_predictions)}")
    if report.frames_without_predictions:
        print(f"{report.frames_without_predictions} labelled frames had no predictions (all misses)")
    return 0
