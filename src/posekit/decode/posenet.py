"""PoseNet decoding: single pose (argmax + offsets) and multi-pose (part-tree greedy assembly).

A numpy port of the published TF.js decoder (@tensorflow-models/posenet 2.2.2, `single_pose/` and
`multi_pose/`), kept equal to it number for number: the JS works in doubles on float32 field values, and so do
the multi-pose functions here; the single-pose sum `cell * stride + offset` is a float32 tensor op in JS and
a float32 op here. Field layout (h, w cells, stride s, h = (H - 1) / s + 1 for an H-pixel input):

- scores (h, w, 17): keypoint heatmaps with the sigmoid applied, COCO-17 order.
- offsets (h, w, 34): channel k is the y offset of keypoint k in input pixels, channel 17 + k its x offset.
- displacements_fwd / _bwd (h, w, 32): channel e is the y displacement along edge e of `POSE_CHAIN`
  (parent -> child forwards, child -> parent backwards), channel 16 + e its x displacement, in input pixels.

Positions leave this module as (x, y) in input pixels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import maximum_filter

from posekit.errors import PosekitError
from posekit.skeletons import COCO17

NUM_KEYPOINTS = 17

# The part tree, (parent, child) in COCO-17 indices; edge e of the displacement fields is POSE_CHAIN[e].
POSE_CHAIN: tuple[tuple[int, int], ...] = tuple(
    (COCO17.index(a), COCO17.index(b))
    for a, b in (
        ("nose", "left_eye"), ("left_eye", "left_ear"), ("nose", "right_eye"), ("right_eye", "right_ear"),
        ("nose", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("left_shoulder", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
        ("nose", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("right_shoulder", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
    )
)
_OFFSET_REFINE_STEPS = 2


class DecodedPose(NamedTuple):
    """One decoded person: xy (17, 2) float (x, y) in input pixels, scores (17,) in [0, 1], score."""

    xy: NDArray[np.float64]
    scores: NDArray[np.float64]
    score: float


def _check(name: str, field: NDArray, channels: int, hw: tuple[int, int] | None = None) -> NDArray:
    arr = np.asarray(field)
    bad_hw = arr.ndim == 3 and (min(arr.shape[:2]) < 1 or (hw is not None and arr.shape[:2] != hw))
    if arr.ndim != 3 or arr.shape[2] != channels or bad_hw:
        want = f"({hw[0]}, {hw[1]}, {channels})" if hw else f"(h, w, {channels})"
        raise PosekitError(f"PoseNet field {name}: shape {arr.shape}, expected {want}; drop the batch axis "
                           "and pass the model outputs in NHWC layout")
    return arr.astype(np.float32, copy=False)


def decode_single_pose(
    heatmap_scores: NDArray[np.floating], offsets: NDArray[np.floating], output_stride: int
) -> DecodedPose:
    """The single best pose: per keypoint, the heatmap argmax cell refined by its offset.

    heatmap_scores: (h, w, 17) sigmoid scores. offsets: (h, w, 34), y then x, input pixels.
    Returns xy (17, 2) float32 in input pixels, scores (17,) at the argmax cells, score = their mean.
    Ties go to the first cell in row-major order, as tf.argMax does.
    """
    scores = _check("heatmap_scores", heatmap_scores, NUM_KEYPOINTS)
    offs = _check("offsets", offsets, 2 * NUM_KEYPOINTS, scores.shape[:2])
    h, w, k = scores.shape
    flat = np.argmax(scores.reshape(h * w, k), axis=0)
    ys, xs = flat // w, flat % w
    ids = np.arange(k)
    off_y, off_x = offs[ys, xs, ids], offs[ys, xs, ids + k]
    # JS: cast(int32 cell * stride, float32) + float32 offsets -> float32 tensor.
    xy = np.stack([(xs * output_stride).astype(np.float32) + off_x,
                   (ys * output_stride).astype(np.float32) + off_y], axis=1)
    kp_scores = scores[ys, xs, ids].astype(np.float64)
    total = 0.0
    for s in kp_scores.tolist():  # sequential double sum, as the JS reduce
        total += s
    return DecodedPose(xy, kp_scores, total / k)


def part_candidates(
    scores: NDArray[np.floating], score_threshold: float, local_maximum_radius: int = 1
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
    """Root candidates: cells at least `score_threshold` that no cell in their window beats.

    scores: (h, w, K). The window is (2r + 1) x (2r + 1) cells clipped at the border, per keypoint.
    Returns (y, x, keypoint id, score), each (n,), in row-major (y, x, k) order: the JS enqueue order.
    """
    size = (2 * local_maximum_radius + 1, 2 * local_maximum_radius + 1, 1)
    local_max = maximum_filter(scores, size=size, mode="constant", cval=-np.inf)
    ys, xs, ids = np.nonzero((scores >= score_threshold) & (scores >= local_max))
    return ys, xs, ids, scores[ys, xs, ids]


class _MaxHeap:
    """The JS MaxHeap, kept quirk for quirk so that ties pop in the same order.

    It stores items from index 0 but uses 1-based child links (2k, 2k + 1): slot 0's only child is slot 1.
    """

    def __init__(self) -> None:
        self.keys: list[float] = []
        self.items: list[int] = []

    def __len__(self) -> int:
        return len(self.keys)

    def _exchange(self, i: int, j: int) -> None:
        keys, items = self.keys, self.items
        keys[i], keys[j] = keys[j], keys[i]
        items[i], items[j] = items[j], items[i]

    def push(self, key: float, item: int) -> None:
        self.keys.append(key)
        self.items.append(item)
        k = len(self.keys) - 1
        while k > 0 and self.keys[k // 2] < self.keys[k]:
            self._exchange(k, k // 2)
            k //= 2

    def pop(self) -> int:
        top = self.items[0]
        last = len(self.keys) - 1
        self._exchange(0, last)
        self.keys.pop()
        self.items.pop()
        n, keys, k = last - 1, self.keys, 0  # n: index of the last element, as JS numberOfElements
        while 2 * k <= n:
            j = 2 * k
            if j < n and keys[j] < keys[j + 1]:
                j += 1
            if not keys[k] < keys[j]:
                break
            self._exchange(k, j)
            k = j
        return top


def _js_round(v: float) -> int:
    """Math.round: halves go up (towards +infinity)."""
    f = math.floor(v)
    return f + 1 if v - f >= 0.5 else f


class _Fields:
    """The four fields as float64 arrays for scalar lookups with JS double arithmetic."""

    def __init__(self, scores: NDArray, offsets: NDArray, fwd: NDArray, bwd: NDArray, stride: int) -> None:
        self.scores = scores.astype(np.float64)
        self.offsets = offsets.astype(np.float64)
        self.fwd, self.bwd = fwd.astype(np.float64), bwd.astype(np.float64)
        self.stride = stride
        self.h, self.w = scores.shape[:2]

    def image_coords(self, y: int, x: int, k: int) -> tuple[float, float]:
        """Cell (y, x) of keypoint k refined by its offset: (x, y) in input pixels."""
        off = self.offsets[y, x]
        return x * self.stride + off[k + NUM_KEYPOINTS], y * self.stride + off[k]

    def near_cell(self, px: float, py: float) -> tuple[int, int]:
        cy = min(max(_js_round(py / self.stride), 0), self.h - 1)
        cx = min(max(_js_round(px / self.stride), 0), self.w - 1)
        return cy, cx

    def traverse(self, edge: int, source: tuple[float, float], target: int, disp: NDArray) -> tuple:
        """Follow edge displacement from source (x, y), refine by target offsets: ((x, y), score)."""
        cy, cx = self.near_cell(*source)
        n_edges = disp.shape[2] // 2
        px, py = source[0] + disp[cy, cx, n_edges + edge], source[1] + disp[cy, cx, edge]
        for _ in range(_OFFSET_REFINE_STEPS):
            cy, cx = self.near_cell(px, py)
            px, py = self.image_coords(cy, cx, target)
        cy, cx = self.near_cell(px, py)
        return (float(px), float(py)), float(self.scores[cy, cx, target])


def _decode_pose(f: _Fields, root: tuple[int, int, int], root_score: float) -> tuple[list, list]:
    """Grow one pose from a root part along POSE_CHAIN: backwards (child -> parent), then forwards."""
    y, x, k = root
    xy: list = [None] * NUM_KEYPOINTS
    sc: list = [0.0] * NUM_KEYPOINTS
    px, py = f.image_coords(y, x, k)
    xy[k], sc[k] = (float(px), float(py)), root_score
    for edge in range(len(POSE_CHAIN) - 1, -1, -1):
        parent, child = POSE_CHAIN[edge]
        if xy[child] is not None and xy[parent] is None:
            xy[parent], sc[parent] = f.traverse(edge, xy[child], parent, f.bwd)
    for edge, (parent, child) in enumerate(POSE_CHAIN):
        if xy[parent] is not None and xy[child] is None:
            xy[child], sc[child] = f.traverse(edge, xy[parent], child, f.fwd)
    return xy, sc


def _claimed(poses: list[tuple[list, list]], sq_radius: float, point: tuple[float, float], k: int) -> bool:
    """Whether keypoint k of some earlier pose lies within the NMS radius of point (x, y)."""
    for xy, _ in poses:
        dy, dx = xy[k][1] - point[1], xy[k][0] - point[0]
        if dy * dy + dx * dx <= sq_radius:
            return True
    return False


def decode_multiple_poses(
    scores: NDArray[np.floating],
    offsets: NDArray[np.floating],
    displacements_fwd: NDArray[np.floating],
    displacements_bwd: NDArray[np.floating],
    output_stride: int,
    max_poses: int = 10,
    score_threshold: float = 0.5,
    nms_radius: float = 20,
    local_maximum_radius: int = 1,
) -> list[DecodedPose]:
    """Up to `max_poses` people, in the order their root parts pop from the score queue.

    scores: (h, w, 17) sigmoid heatmaps; offsets: (h, w, 34); displacements_fwd/_bwd: (h, w, 32).
    Roots are local maxima (window radius `local_maximum_radius` cells) scoring >= `score_threshold`;
    a root within `nms_radius` input pixels of the same keypoint of an earlier pose is skipped. A pose's
    score is the sum of its keypoint scores that no earlier pose claims (within `nms_radius`) over 17.
    Returns DecodedPose items with xy (17, 2) (x, y) in input pixels.
    """
    s = _check("scores", scores, NUM_KEYPOINTS)
    hw = s.shape[:2]
    f = _Fields(s, _check("offsets", offsets, 2 * NUM_KEYPOINTS, hw),
                _check("displacements_fwd", displacements_fwd, 2 * len(POSE_CHAIN), hw),
                _check("displacements_bwd", displacements_bwd, 2 * len(POSE_CHAIN), hw), output_stride)
    ys, xs, ids, vals = part_candidates(s, score_threshold, local_maximum_radius)
    queue = _MaxHeap()
    for i, v in enumerate(vals.tolist()):
        queue.push(v, i)
    sq_radius = float(nms_radius) * float(nms_radius)
    poses: list[tuple[list, list]] = []
    out: list[DecodedPose] = []
    while len(poses) < max_poses and len(queue):
        i = queue.pop()
        root = (int(ys[i]), int(xs[i]), int(ids[i]))
        if _claimed(poses, sq_radius, f.image_coords(*root), root[2]):
            continue
        xy, sc = _decode_pose(f, root, float(vals[i]))
        total = 0.0
        for k in range(NUM_KEYPOINTS):
            if not _claimed(poses, sq_radius, xy[k], k):
                total += sc[k]
        poses.append((xy, sc))
        out.append(DecodedPose(np.array(xy, dtype=np.float64), np.array(sc, dtype=np.float64),
                               total / NUM_KEYPOINTS))
    return out
