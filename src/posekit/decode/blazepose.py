"""BlazePose detector decoding and the landmark ROI (pure numpy), after MediaPipe's pose_detection graph.

- ``ssd_anchors``: SsdAnchorsCalculator with fixed_anchor_size (anchor w = h = 1, only centres matter).
- ``decode_detections``: TensorsToDetectionsCalculator (box x, y, w, h then 4 keypoints, scale 224).
- ``weighted_nms``: NonMaxSuppressionCalculator with algorithm WEIGHTED, overlap IoU.
- ``alignment_roi`` + ``Roi``: AlignmentPointsRectsCalculator (hip centre -> full-body circle point, target
  angle 90 degrees) and RectTransformationCalculator (scale 1.25, square_long), and the crop / landmark
  projection transform of that rotated square. ``letterbox_roi``: ImageToTensorCalculator's whole-image ROI
  padded to a square (keep_aspect_ratio).
- ``refine_from_heatmap``: RefineLandmarksFromHeatmapCalculator (kernel 7, min confidence 0.5).

Normalised coordinates are fractions of the detector input (x, y in 0..1). Image pixels are continuous
(pixel i covers [i, i + 1)). Crop coordinates follow MediaPipe (OpenCV): crop pixel index u shows the image
at ``Roi.to_image(u)``, and the models' outputs are read in those units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from posekit.decode import sigmoid
from posekit.video.matching import box_iou

# mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt
POSE_DETECTION_STRIDES = (8, 16, 32, 32, 32)
DETECTOR_INPUT = 224


def ssd_anchors(input_size: int = DETECTOR_INPUT, strides: tuple[int, ...] = POSE_DETECTION_STRIDES,
                anchors_per_layer: int = 2, offset: float = 0.5) -> NDArray[np.float32]:
    """Anchor centres (A, 2), x then y in 0..1, in the detector's output order.

    Layers sharing a stride are merged into one grid with their anchors interleaved per cell; each layer has
    ``anchors_per_layer`` anchors (aspect ratio 1.0 plus the interpolated scale). With the pose_detection
    options this gives 28*28*2 + 14*14*2 + 7*7*6 = 2254 anchors.
    """
    out = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        n = anchors_per_layer * (last - layer)
        cells = math.ceil(input_size / strides[layer])
        centres = (np.arange(cells, dtype=np.float64) + offset) / cells
        ys, xs = np.meshgrid(centres, centres, indexing="ij")
        grid = np.stack([xs, ys], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(grid, n, axis=1).reshape(-1, 2))
        layer = last
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class Detections:
    """n detections: scores (n,), boxes (n, 4) x1, y1, x2, y2 and keypoints (n, 4, 2), normalised."""

    scores: NDArray[np.float32]
    boxes: NDArray[np.float32]
    keypoints: NDArray[np.float32]

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def decode_detections(raw: NDArray[np.floating], anchors: NDArray[np.floating], min_score: float = 0.5,
                      input_size: int = DETECTOR_INPUT) -> Detections:
    """Detector rows (A, 13) = logit, then x, y, w, h, 4 x (x, y) offsets in input pixels -> Detections.

    Scores are sigmoid(logit); rows scoring below ``min_score`` are dropped.
    """
    raw = np.asarray(raw).reshape(len(anchors), 13)
    scores = sigmoid(raw[:, 0].astype(np.float64))
    keep = scores >= min_score  # then only the kept rows in float64 (a few of the 2254)
    reg, anc = raw[keep, 1:].astype(np.float64) / input_size, np.asarray(anchors, np.float64)[keep]
    centre, size = reg[:, 0:2] + anc, reg[:, 2:4]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    kps = reg[:, 4:12].reshape(-1, 4, 2) + anc[:, None, :]
    return Detections(scores[keep].astype(np.float32), boxes.astype(np.float32), kps.astype(np.float32))


def weighted_nms(dets: Detections, iou_threshold: float = 0.3,
                 max_detections: int | None = None) -> Detections:
    """MediaPipe's weighted NMS: the best remaining detection absorbs every one overlapping it by more than
    ``iou_threshold``; its box and keypoints become their score-weighted mean, its score stays its own."""
    order = np.argsort(-dets.scores, kind="stable")
    remaining = list(order)
    scores, boxes, kps = [], [], []
    while remaining and (max_detections is None or len(scores) < max_detections):
        top = remaining[0]
        overlap = box_iou(dets.boxes[top], dets.boxes[remaining])[0] > iou_threshold
        overlap[0] = True
        group = np.array(remaining)[overlap]
        w = dets.scores[group].astype(np.float64)
        boxes.append((dets.boxes[group] * w[:, None]).sum(0) / w.sum())
        kps.append((dets.keypoints[group] * w[:, None, None]).sum(0) / w.sum())
        scores.append(dets.scores[top])
        remaining = [r for r, o in zip(remaining, overlap, strict=True) if not o]
    if not scores:
        return Detections(np.zeros(0, np.float32), np.zeros((0, 4), np.float32),
                          np.zeros((0, 4, 2), np.float32))
    return Detections(np.array(scores, np.float32), np.array(boxes, np.float32), np.array(kps, np.float32))


@dataclass(frozen=True)
class Roi:
    """A rotated square in image pixels: centre (cx, cy), side ``size``, ``angle`` radians (positive turns
    the crop's x axis towards the image's +y, i.e. clockwise on screen)."""

    cx: float
    cy: float
    size: float
    angle: float

    def crop_to_image(self, crop_size: int) -> NDArray[np.float64]:
        """(2, 3) affine matrix: continuous crop pixel (u, v) in a crop_size square -> image pixel (x, y)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        rot = np.array([[c, -s], [s, c]])
        scale = self.size / crop_size
        shift = np.array([self.cx, self.cy]) - rot @ np.array([self.size / 2, self.size / 2])
        return np.concatenate([rot * scale, shift[:, None]], axis=1)

    def to_image(self, uv: NDArray[np.floating], crop_size: int) -> NDArray[np.float32]:
        """(..., 2) crop pixels -> (..., 2) image pixels."""
        m = self.crop_to_image(crop_size)
        return (np.asarray(uv, np.float64) @ m[:, :2].T + m[:, 2]).astype(np.float32)

    def to_crop(self, xy: NDArray[np.floating], crop_size: int) -> NDArray[np.float32]:
        """(..., 2) image pixels -> (..., 2) crop pixels (the inverse of ``to_image``)."""
        m = self.crop_to_image(crop_size)
        return ((np.asarray(xy, np.float64) - m[:, 2]) @ np.linalg.inv(m[:, :2]).T).astype(np.float32)

    def bounds(self) -> NDArray[np.float32]:
        """Axis-aligned box (4,) x1, y1, x2, y2 around the rotated square, in image pixels."""
        corners = self.to_image(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64), 1)
        return np.concatenate([corners.min(0), corners.max(0)]).astype(np.float32)


def normalize_radians(angle: float) -> float:
    """``angle`` wrapped into [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def alignment_roi(centre: NDArray[np.floating], edge: NDArray[np.floating], scale: float = 1.25,
                  target_angle: float = math.pi / 2) -> Roi:
    """The landmark ROI from two detector keypoints in image pixels: ``centre`` (hip centre) and ``edge``
    (the full-body circle point). Side = 2 |edge - centre| * scale; the rotation turns the centre -> edge
    direction to ``target_angle`` (90 degrees: straight up), so an upright person gets angle 0."""
    (x0, y0), (x1, y1) = np.asarray(centre, np.float64), np.asarray(edge, np.float64)
    size = 2.0 * math.hypot(x1 - x0, y1 - y0) * scale
    angle = normalize_radians(target_angle - math.atan2(-(y1 - y0), x1 - x0))
    return Roi(float(x0), float(y0), float(size), float(angle))


def roi_change(a: Roi, b: Roi) -> float:
    """How far ROI ``b`` is from ``a``, unitless: the largest of the centre distance over ``a``'s side, the
    absolute log of the side ratio, and the angle difference (wrapped) over pi. 0 for equal ROIs."""
    shift = math.hypot(b.cx - a.cx, b.cy - a.cy) / a.size
    return max(shift, abs(math.log(b.size / a.size)), abs(normalize_radians(b.angle - a.angle)) / math.pi)


def letterbox_roi(width: int, height: int) -> Roi:
    """The square a whole (width x height) image is letterboxed into, as MediaPipe's ImageToTensorCalculator
    pads it (keep_aspect_ratio, centred): side max(width, height), centred on normalised (0.5, 0.5), i.e.
    pixel index (width / 2, height / 2), continuous (width / 2 + 0.5, height / 2 + 0.5)."""
    return Roi(width / 2 + 0.5, height / 2 + 0.5, float(max(width, height)), 0.0)


def refine_from_heatmap(uv: NDArray[np.floating], heatmap: NDArray[np.floating], kernel_size: int = 7,
                        min_confidence: float = 0.5, logits: bool = False) -> NDArray[np.float32]:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator: each landmark (K, 2) x, y normalised to the crop
    moves to the confidence-weighted mean cell of the ``kernel_size`` window of its heatmap channel
    ((h, w, K) probabilities, i.e. after the sigmoid; ``logits``: before it, the sigmoid then taken of the
    windows' cells alone) around it, when that window's maximum reaches ``min_confidence``. The window
    shrinks at the heatmap's edges; the new position is the mean cell index over the heatmap size (cell c ->
    c / w, not the cell centre), as MediaPipe computes it. Kept as MediaPipe has it: the cell is the
    coordinate truncated towards 0, and a landmark is skipped only when its column is outside 0..w-1, its row
    negative, or its column at least h (MediaPipe tests the column twice), so a row just below the heatmap is
    refined with the part of the window that overlaps it."""
    uv = np.asarray(uv, np.float32)
    hm = np.asarray(heatmap, np.float32)
    h, w, k = hm.shape
    col = np.trunc(uv[:, 0] * np.float32(w)).astype(np.int64)
    row = np.trunc(uv[:, 1] * np.float32(h)).astype(np.int64)
    skip = (col < 0) | (col >= w) | (row < 0) | (col >= h) | (row >= h + kernel_size)
    off = (kernel_size - 1) // 2
    steps = np.arange(-off, off + 1)
    rows = np.clip(row, 0, h + kernel_size)[:, None] + steps  # (K, ks), cells; zeros outside the heatmap
    cols = np.clip(col, 0, w - 1)[:, None] + steps
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    # (K, ks, ks) windows, read at the nearest cell inside and zeroed outside
    win = hm[np.clip(rows, 0, h - 1)[:, :, None], np.clip(cols, 0, w - 1)[:, None, :],
             np.arange(k)[:, None, None]]
    if logits:
        win = sigmoid(win)
    win = np.where(inside, win, np.float32(0))
    total = win.sum(axis=(1, 2))
    best = win.max(axis=(1, 2))
    wcol = (win * cols[:, None, :]).sum(axis=(1, 2))
    wrow = (win * rows[:, :, None]).sum(axis=(1, 2))
    ok = ~skip & (best >= min_confidence) & (total > 0)
    out = uv.copy()
    safe = np.where(total > 0, total, 1)
    out[ok, 0] = wcol[ok] / w / safe[ok]
    out[ok, 1] = wrow[ok] / h / safe[ok]
    return out
