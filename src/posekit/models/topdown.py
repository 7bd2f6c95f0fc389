"""Top-down multi-person: a person detector's boxes, then a single-person model on each crop.

Detectors: ``movenet-multipose`` (its person boxes) or ``blazepose-detector`` (the bounds of each alignment
ROI, which covers the whole predicted body). Each box is enlarged by ``margin`` (0.25: a quarter of its width
and height in total, centred), cut out (zero padding outside the image), and the single-person model's best
pose there is moved back to image pixels. The detector's box is kept as the person's box.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.models.blazepose import BlazePoseDetector
from posekit.preprocess import cut
from posekit.types import Poses

DETECTORS = ("movenet-multipose", "blazepose-detector")


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
    """``predict(rgb) -> Poses``: detector boxes -> crops -> ``single`` on each crop -> image pixels.

    detector: a MoveNet MultiPose model or a BlazePoseDetector. single: any one-person zoo model (run with
    its own min_score; set it to 0 to keep every detected person). min_score: drop people whose pose score
    (the single model's) is lower.
    """

    def __init__(self, detector, single, margin: float = 0.25, min_score: float = 0.0) -> None:
        if margin < 0:
            raise PosekitError(f"--margin {margin}: give 0 or more (0.25 adds a quarter of the box)")
        if getattr(single.spec, "multi_person", False):
            raise PosekitError(f"top-down mode needs a single-person model, not {single.spec.name}; use "
                               "movenet-thunder, efficientpose or blazepose-lite/full/heavy")
        self.detector = detector
        self.single = single
        self.margin = margin
        self.min_score = min_score
        self.schema = single.schema
        self.spec = single.spec

    def boxes(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """(n, 4) person boxes x1, y1, x2, y2 in image pixels, best first."""
        if isinstance(self.detector, BlazePoseDetector):
            found = self.detector.detect(rgb)
            return found.person_boxes(rgb.shape[1], rgb.shape[0])
        poses = self.detector.predict(rgb)
        order = np.argsort(-poses.pose_scores, kind="stable")
        return poses.boxes[order] if poses.boxes is not None else np.zeros((0, 4), np.float32)

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        poses = poses_in_boxes(self.single, rgb, self.boxes(rgb), self.margin)
        return poses.select(poses.pose_scores >= self.min_score)


def poses_in_boxes(single, rgb: NDArray[np.uint8], boxes: NDArray[np.floating], margin: float) -> Poses:
    """The best pose of one-person model ``single`` in each box (x1, y1, x2, y2 pixels, enlarged by
    ``margin``), in image pixels; a box where the model finds nobody gives no pose. The box is kept as the
    person's box."""
    xy, scores, pose_scores, kept = [], [], [], []
    for box in boxes:
        crop, (x0, y0) = crop_box(rgb, box, margin)
        found = single.predict(crop)
        if len(found) == 0:
            continue
        best = int(np.argmax(found.pose_scores))
        xy.append(found.xy[best] + np.array([x0, y0], np.float32))
        scores.append(found.scores[best])
        pose_scores.append(found.pose_scores[best])
        kept.append(box)
    if not xy:
        return Poses.empty(single.schema, with_boxes=True)
    return Poses(np.stack(xy), np.stack(scores), np.array(pose_scores), single.schema, np.stack(kept))


def load_topdown(single: str, detector: str = "movenet-multipose", margin: float = 0.25,
                 threads: int | None = None, min_score: float = 0.25, precision: str = "fp32",
                 calibration: str | None = None, **options) -> TopDown:
    """A TopDown from zoo names; ``options`` go to the single-person model; ``precision`` (and
    ``calibration``) to both models."""
    from posekit.models.registry import load_model, to_int8

    if detector not in DETECTORS:
        raise PosekitError(f"--detector {detector}: use one of {', '.join(DETECTORS)}")
    quant = {"precision": precision, "calibration": calibration}
    if detector == "blazepose-detector":
        det = BlazePoseDetector.load(threads=threads)
        det = to_int8(det, calibration) if precision == "int8" else det
    else:
        det = load_model(detector, threads=threads, **quant)
    return TopDown(det, load_model(single, threads=threads, min_score=0.0, **quant, **options), margin,
                   min_score)
