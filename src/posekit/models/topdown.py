"""Top-down multi-person: a person detector's boxes, then a single-person model on each crop.

Detectors (``posekit.models.detectors``): ``nanodet`` (the default: best recall of COCO person boxes and the
fastest, measured in benchmarks/bench_topdown.py), ``centernet``, ``movenet-multipose`` (its person boxes) and
``blazepose-detector`` (the bounds of each alignment ROI). Each box is enlarged by ``margin`` (0.25: a quarter
of its width and height in total, centred), cut out (zero padding outside the image), and the single-person
model's best pose there is moved back to image pixels. The detector's box is kept as the person's box.

All crops of one image go through the single-person model together (``posekit.models.tta.CropModel``: one
session call where the graph has a free batch dimension), with optional test-time augmentation.

No image is left without a pose: when the detector finds nobody, the single-person model runs on the whole
image (letterboxed, the first step of MoveNet's cropping algorithm) and that pose is returned with the whole
image as its box and the model's own pose score (mean keypoint score), whatever ``min_score`` says.
``fallback=False`` turns this off (an image without people then gives an empty result).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.models.detectors import DEFAULT_DETECTOR, DETECTORS, Detections, load_detector
from posekit.models.tta import CropModel, batch_runner
from posekit.preprocess import cut
from posekit.types import Poses


def crop_box(rgb: NDArray[np.uint8], box: NDArray[np.floating], margin: float) -> tuple[NDArray[np.uint8],
                                                                                         tuple[int, int]]:
    """The (h, w, 3) crop of ``box`` (x1, y1, x2, y2 pixels) enlarged by ``margin``, zero-padded where it
    leaves the image, and its top-left corner (x0, y0) in image pixels."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = max(x2 - x1, 1.0) * (1 + margin), max(y2 - y1, 1.0) * (1 + margin)
    x0, y0 = math.floor(cx - w / 2), math.floor(cy - h / 2)
    cw, ch = math.ceil(cx + w / 2) - x0, math.ceil(cy + h / 2) - y0
    return cut(rgb, x0, y0, cw, ch), (x0, y0)


class TopDown:
    """``predict(rgb) -> Poses``: detector boxes -> crops -> ``single`` on all crops -> image pixels.

    detector: anything with ``detect(rgb) -> Detections`` (``posekit.models.detectors``). single: a
    one-person zoo model, or a ``CropModel`` around one (batched calls, TTA). min_score: drop people whose
    pose score (the single model's) is lower. ``last`` holds the last image's Detections (too_small and
    over_cap count the boxes the detector dropped) and whether the whole-image fallback was used; ``counts``
    adds them up over every image since loading (images, too_small, over_cap, fallback).
    """

    def __init__(self, detector, single, margin: float = 0.25, min_score: float = 0.0,
                 fallback: bool = True) -> None:
        if margin < 0:
            raise PosekitError(f"--margin {margin}: give 0 or more (0.25 adds a quarter of the box)")
        if getattr(single.spec, "multi_person", False):
            raise PosekitError(f"top-down mode needs a single-person model, not {single.spec.name}; use "
                               "movenet-thunder, efficientpose or blazepose-lite/full/heavy")
        self.detector = detector
        self.single = single if isinstance(single, CropModel) else CropModel(single)
        self.margin = margin
        self.min_score = min_score
        self.fallback = fallback
        self.schema = single.schema
        # Images are decoded at least as large as the detector's input (people are cut from them).
        self.spec = replace(single.spec, input_size=max(single.spec.input_size,
                                                        getattr(detector, "input_size", 0)))
        self.last: tuple[Detections, bool] | None = None
        self.counts = {"images": 0, "too_small": 0, "over_cap": 0, "fallback": 0}

    def detect(self, rgb: NDArray[np.uint8]) -> Detections:
        return self.detector.detect(rgb)

    def boxes(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """(n, 4) person boxes x1, y1, x2, y2 in image pixels, best first."""
        return self.detect(rgb).boxes

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        found = self.detect(rgb)
        poses = poses_in_boxes(self.single, rgb, found.boxes, self.margin)
        poses = poses.select(poses.pose_scores >= self.min_score)
        used = False
        if len(found) == 0 and self.fallback:
            poses, used = whole_image_pose(self.single, rgb), True
        self.last = (found, used)
        for key, value in (("images", 1), ("too_small", found.too_small), ("over_cap", found.over_cap),
                           ("fallback", int(used))):
            self.counts[key] += value
        return poses


def whole_image_pose(single, rgb: NDArray[np.uint8]) -> Poses:
    """The single-person model on the whole image; the box is the image, the score the model's own."""
    h, w = rgb.shape[:2]
    found = single.predict(rgb)
    if len(found) == 0:
        return Poses.empty(single.schema, with_boxes=True)
    best = found.select(np.argsort(-found.pose_scores, kind="stable")[:1])
    return Poses(best.xy, best.scores, best.pose_scores, best.schema, np.array([[0, 0, w, h]], np.float32))


def poses_in_boxes(single, rgb: NDArray[np.uint8], boxes: NDArray[np.floating], margin: float,
                   ids: NDArray[np.integer] | None = None) -> Poses:
    """The best pose of one-person model ``single`` in each box (x1, y1, x2, y2 pixels, enlarged by
    ``margin``), in image pixels; a box where the model finds nobody gives no pose. The box is kept as the
    person's box, and with ``ids`` (one per box) the box's id as the pose's ``track_ids``. All crops go to
    ``single`` in one ``predict_many`` call (a ``CropModel``: one batched session call where the graph
    allows)."""
    model = single if isinstance(single, CropModel) else CropModel(single)
    cuts = [crop_box(rgb, box, margin) for box in boxes]
    found = model.predict_many([crop for crop, _ in cuts])
    xy, scores, pose_scores, kept, rows = [], [], [], [], []
    for row, (box, (_, (x0, y0)), poses) in enumerate(zip(boxes, cuts, found, strict=True)):
        if len(poses) == 0:
            continue
        rows.append(row)
        best = int(np.argmax(poses.pose_scores))
        xy.append(poses.xy[best] + np.array([x0, y0], np.float32))
        scores.append(poses.scores[best])
        pose_scores.append(poses.pose_scores[best])
        kept.append(box)
    if not xy:
        empty = Poses.empty(model.schema, with_boxes=True)
        return empty if ids is None else empty.with_track_ids(np.zeros(0, np.int64))
    kept_ids = None if ids is None else np.asarray(ids, np.int64)[rows]
    return Poses(np.stack(xy), np.stack(scores), np.array(pose_scores), model.schema, np.stack(kept),
                 kept_ids)


def load_topdown(single: str, detector: str = DEFAULT_DETECTOR, margin: float = 0.25,
                 threads: int | None = None, min_score: float = 0.25, tta: str | None = None,
                 batched: bool = True, fallback: bool = True, precision: str = "fp32",
                 calibration: str | None = None, **options) -> TopDown:
    """A TopDown from zoo names; ``options`` go to the single-person model. ``tta``: none, flip or
    flip,rot. ``batched``: one session call for all crops where the graph allows. ``precision`` (and
    ``calibration``): the single-person model's (int8 batches MoveNet's crops, whose network file takes a
    batch; other int8 models run their crops one call each: their batched graphs are fp32); the detector
    stays fp32."""
    from posekit.models.registry import load_model

    if detector not in DETECTORS:
        raise PosekitError(f"--detector {detector}: use one of {', '.join(DETECTORS)}")
    model = load_model(single, threads=threads, min_score=0.0, precision=precision, calibration=calibration,
                       **options)
    if getattr(model.spec, "multi_person", False):
        raise PosekitError(f"top-down mode needs a single-person model, not {model.spec.name}; use "
                           "movenet-thunder, efficientpose or blazepose-lite/full/heavy")
    batch = batch_runner(model, threads, precision) if batched else None
    crops = CropModel(model, tta=tta or "none", batched=batch)
    return TopDown(load_detector(detector, threads=threads), crops, margin, min_score, fallback)
