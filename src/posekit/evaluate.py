"""Running a model over a dataset and scoring it with the dataset's own metric.

- LSP / LSP Extended: PCK@alpha normalised by torso size (``posekit.metrics.pck.lsp_pck``).
- MPII with head boxes: PCKh@0.5 / @0.1 and AUC (``posekit.metrics.pck.mpii_report``).
- COCO and YOLO-pose (COCO-17 persons): COCO keypoint AP / AR through OKS (``posekit.metrics.oks``).

Predictions are mapped from the model's schema to the dataset's by joint name
(``posekit.skeletons.convert_keypoints``): joints the model does not have are unavailable and left out of
PCK (their cells stay empty), never guessed.

Which prediction belongs to which annotated person, for PCK: with ``gt_boxes`` the model runs on a square
crop around each annotated person (box enlarged by ``margin`` per side) and its best-scoring pose is taken;
without, the model runs on the whole image and each annotated person takes the predicted pose closest to it
(mean distance over the joints both have). A person with no prediction counts as all joints missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.datasets.sample import Person, Sample
from posekit.errors import PosekitError
from posekit.images import read_image
from posekit.preprocess import person_crop
from posekit.skeletons import Schema, convert_keypoints
from posekit.types import Poses

PCK_ALPHAS: NDArray[np.float64] = np.linspace(0.0, 0.5, 51)


@dataclass
class Predictions:
    """pred (N, K, 2) px in the dataset schema per annotated person (NaN where nothing was predicted),
    gt (N, K, 2), visible (N, K) labelled joints, available (K,) joints the model predicts, headboxes
    (N, 2, 2) when every person has one; image_poses: (sample index, Poses in image pixels) per image run."""

    schema: Schema
    pred: NDArray[np.float64]
    gt: NDArray[np.float64]
    visible: NDArray[np.bool_]
    available: NDArray[np.bool_]
    headboxes: NDArray[np.float64] | None
    image_poses: list[tuple[int, Poses]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def person_box(person: Person) -> NDArray[np.float32]:
    """The annotated box, else the bounds of the labelled keypoints."""
    if person.box is not None:
        return person.box
    pts = person.keypoints[person.labelled]
    return np.array([*pts.min(axis=0), *pts.max(axis=0)], np.float32)


def _closest(xy: NDArray[np.float32], gt: NDArray[np.float32], mask: NDArray[np.bool_]) -> int | None:
    if len(xy) == 0 or not mask.any():
        return None
    return int(np.argmin(np.linalg.norm(xy[:, mask] - gt[None, mask], axis=2).mean(axis=1)))


def _crop_predict(model, rgb: NDArray[np.uint8], box: NDArray[np.float32], margin: float) -> Poses:
    crop, origin = person_crop(rgb, box, margin)
    poses = model.predict(crop)
    best = poses.select(np.argsort(-poses.pose_scores)[:1])
    boxes = None if best.boxes is None else best.boxes + np.tile(origin, 2)
    return Poses(best.xy + origin, best.scores, best.pose_scores, best.schema, boxes)


def predict_dataset(model, samples: list[Sample], gt_boxes: bool = False, margin: float = 0.25,
                    progress: bool = True) -> Predictions:
    """Run ``model`` over ``samples``; images that cannot be read are recorded in ``failed`` and skipped."""
    from tqdm import tqdm

    schema = samples[0].schema if samples else model.schema
    k = schema.num_keypoints
    _, _, available = convert_keypoints(np.zeros((model.schema.num_keypoints, 2)),
                                        np.zeros(model.schema.num_keypoints), model.schema, schema)
    empty = np.zeros((0, k, 2))
    out = Predictions(schema, empty, empty, np.zeros((0, k), bool), available, None)
    pred, gt, vis, heads = [], [], [], []
    for index, sample in enumerate(tqdm(samples, desc=f"eval {model.spec.name}", unit="img",
                                        disable=not progress, leave=False)):
        try:
            if sample.image_path is None:
                raise PosekitError(f"image {sample.image_id}: the dataset gives no image path")
            image = read_image(sample.image_path)
        except PosekitError as err:
            out.failed.append((str(sample.image_path or sample.image_id), str(err)))
            continue
        people = [p for p in sample.persons if not p.iscrowd and p.labelled.any()]
        if gt_boxes:
            per_person = [_crop_predict(model, image.rgb, person_box(p) / image.scale, margin)
                          .scaled(image.scale) for p in people]
            if per_person:
                out.image_poses.append((index, Poses.concat(per_person)))
        else:
            whole = model.predict(image.rgb).scaled(image.scale)
            out.image_poses.append((index, whole))
            per_person = [whole] * len(people)
        for person, poses in zip(people, per_person, strict=True):
            xy, _, _ = convert_keypoints(poses.xy, poses.scores, poses.schema, schema)
            pick = _closest(xy, person.keypoints, person.labelled & available)
            pred.append(xy[pick] if pick is not None else np.full((k, 2), np.nan))
            gt.append(person.keypoints)
            vis.append(person.labelled)
            heads.append(person.head_box)
    if pred:
        out.pred, out.gt = np.array(pred, np.float64), np.array(gt, np.float64)
        out.visible = np.array(vis, bool)
    if heads and all(h is not None for h in heads):
        out.headboxes = np.array([h.reshape(2, 2) for h in heads], np.float64)
    return out


def score_pck(preds: Predictions, kind: str, alpha: float = 0.2) -> dict[str, Any]:
    """PCK tables for LSP (torso, ``alpha``) or MPII (PCKh@0.5 / @0.1, head boxes required).

    Returns {"metric", "tables": {name: PckTable}, "curve": (alphas, mean PCK per alpha)}.
    """
    from posekit.metrics.pck import (
        head_sizes,
        lsp_pck,
        mpii_report,
        normalized_distances,
        pck_curve,
        torso_sizes,
    )

    visible = preds.visible & preds.available[None]
    if kind in ("lsp", "lspet"):
        table = lsp_pck(preds.pred, preds.gt, visible, alpha=alpha)
        norm = torso_sizes(preds.gt, preds.schema)
        tables = {f"pck@{alpha:g}": table}
        torso = [preds.schema.index("right_shoulder"), preds.schema.index("left_hip")]
        vis = visible & visible[:, torso].all(axis=1, keepdims=True)
    elif kind.startswith("mpii"):
        if preds.headboxes is None:
            raise PosekitError("PCKh needs MPII head boxes; this file has none (use the .mat release or "
                               "gt_valid.mat with `posekit eval mpii`)")
        report = mpii_report(preds.pred, preds.gt, preds.headboxes, visible)
        tables = {"pckh@0.5": report.pckh50, "pckh@0.1": report.pckh10}
        norm, vis = head_sizes(preds.headboxes), visible
    else:
        raise PosekitError(f"dataset kind {kind!r} is scored with COCO AP, not PCK")
    dist = normalized_distances(preds.pred, preds.gt, norm)
    curve = pck_curve(dist, vis, PCK_ALPHAS)
    counts = vis.sum(axis=0)
    mean_curve = [float(np.sum(np.nan_to_num(row) * counts) / max(counts.sum(), 1)) for row in curve]
    return {"tables": tables, "curve": (PCK_ALPHAS, np.array(mean_curve))}


def score_coco(samples: list[Sample], preds: Predictions):
    """COCO keypoint AP / AR of the image-level predictions against the samples (COCO-17 persons)."""
    from posekit.datasets.coco import as_coco
    from posekit.formats import to_coco_results
    from posekit.metrics.oks import coco_keypoint_eval

    gt = as_coco(samples)
    ids = [img["id"] for img in gt["images"]]
    results = [r for index, poses in preds.image_poses for r in to_coco_results(poses, ids[index])]
    return coco_keypoint_eval(gt, results)
