"""``posekit eval coco|mpii|lsp``: score saved predictions against a benchmark's ground truth.

Only argparse / stdlib at import time; numpy, scipy and the metrics load inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


# `eval run` (run a model over a dataset, then score it) belongs to another module: append its
# ``add(sub)`` function here.
EVAL_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_coco, _add_mpii, _add_lsp]


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
        lines.append(f"{label:<10}" + "".join(f"{values[c]:>10.2f}" for c in columns))
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
