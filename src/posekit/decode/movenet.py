"""MoveNet's decoding of its heads, in numpy, as its graphs do it (float32, the same operations in order).

The graphs' heads are NHWC maps at a quarter of the input side (h x w cells). Single-pose: keypoint heatmap
(K), centre (1), keypoint regression (2K: y, x per joint) and offsets (2K); MultiPose adds the box scale (2)
and box offset (2). The constants (MoveNet's centre weighting, thresholds) are read from the graph's own
converted decoder (``from_onnx``), so the numbers are the graph's, float16 rounding included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.decode import logit, sigmoid

_P = "StatefulPartitionedCall/"
F32 = np.float32


def _initializers(path: str | Path) -> dict[str, NDArray]:
    import onnx
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


@dataclass(frozen=True)
class SinglePoseDecoder:
    """MoveNet Lightning / Thunder decoding, for a batch.

    center_weight: (h, w) the weight of each cell as the person's centre (1 / (distance to the map's centre +
    1.8), stored as float16 in the graph); eps: 1.8; scale: 1 / h (cells -> 0..1 of the input)."""

    center_weight: NDArray[np.float32]
    eps: np.float32
    scale: np.float32

    @classmethod
    def from_onnx(cls, path: str | Path) -> SinglePoseDecoder:
        """The constants of a converted single-pose decoder part, by their TF node names."""
        init = _initializers(path)
        weight = init[f"ConstantFolding/{_P}truediv_2_recip"][..., 0]
        scale = init[f"{_P}Reshape_13/wide17"].ravel()[0]
        return cls(weight.astype(F32), F32(init[f"{_P}add_5/y"]), F32(scale))

    def __call__(self, heatmap: NDArray[np.float32], center: NDArray[np.float32],
                 regress: NDArray[np.float32], offset: NDArray[np.float32]) -> NDArray[np.float32]:
        """Heads (B, h, w, K), (B, h, w, 1), (B, h, w, 2K), (B, h, w, 2K) -> (B, 1, K, 3) rows of (y, x,
        score), y and x in 0..1 of the input: the person whose centre scores highest (centre heatmap times
        ``center_weight``); each joint at the cell that scores highest once divided by (distance to the
        joint the person's centre regresses + eps), plus that cell's offset."""
        b, h, w, k = heatmap.shape
        heat = sigmoid(heatmap)
        at = (sigmoid(center[..., 0]) * self.center_weight).reshape(b, -1).argmax(axis=1)
        cy, cx = at // w, at % w
        rows = np.arange(b)
        reg = regress[rows, cy, cx].reshape(b, k, 2)
        ry = cy[:, None].astype(F32) + reg[..., 0]  # (B, K)
        rx = cx[:, None].astype(F32) + reg[..., 1]
        gy = np.arange(h, dtype=F32)[None, :, None, None]
        gx = np.arange(w, dtype=F32)[None, None, :, None]
        dist = np.sqrt((gy - ry[:, None, None, :]) ** 2 + (gx - rx[:, None, None, :]) ** 2)
        at = (heat / (dist + self.eps)).reshape(b, h * w, k).argmax(axis=1)  # (B, K)
        ky, kx = at // w, at % w
        joints = np.arange(k)
        off = offset.reshape(b, h, w, k, 2)[rows[:, None], ky, kx, joints]  # (B, K, 2)
        score = heat[rows[:, None], ky, kx, joints]
        y = (ky.astype(F32) + off[..., 0]) * self.scale
        x = (kx.astype(F32) + off[..., 1]) * self.scale
        return np.stack([y, x, score], axis=-1)[:, None].astype(F32)


@dataclass(frozen=True)
class MultiPoseDecoder:
    """MoveNet MultiPose decoding (one image).

    peak: a centre cell is a local maximum when it is within ``peak`` of its 5 x 5 neighbourhood's maximum;
    sigma: the joint search's Gaussian width, as a fraction of the map's shorter side (0.3); threshold: the
    joint score counted in the person score (0.127); people: how many centres (6)."""

    peak: np.float32
    sigma: np.float32
    threshold: np.float32
    people: int = 6

    @classmethod
    def from_onnx(cls, path: str | Path) -> MultiPoseDecoder:
        """The constants of a converted MultiPose decoder part, by their TF node names."""
        init = _initializers(path)
        return cls(F32(init[f"{_P}Less/y"]), F32(init[f"{_P}mul_6/y"]), F32(init[f"{_P}Greater_1/y"]))

    def __call__(self, heatmap: NDArray[np.float32], center: NDArray[np.float32],
                 regress: NDArray[np.float32], offset: NDArray[np.float32], box_scale: NDArray[np.float32],
                 box_offset: NDArray[np.float32]) -> NDArray[np.float32]:
        """Heads (1, h, w, C) -> (1, people, 3K + 5): K x (y, x, score), the box (ymin, xmin, ymax, xmax),
        the person score; coordinates in 0..1 of the input.

        The ``people`` highest centre peaks; each one's box (centre + box offset -/+ half the box scale,
        clipped to the map) and regressed joints; each joint at the cell of the box where keypoint heatmap x
        exp(-squared distance to the regressed joint / (sigma x shorter side)) is highest (cell 0 when no
        cell scores above 0), plus that cell's offset. The graph weighs the whole map and zeroes cells outside
        the box; only the box is searched here, which finds the same cell (the first maximum in row-major
        order). A joint's score is the largest weight any person's map has at that cell; the person score is
        the centre score times the mean of the joint scores above ``threshold``."""
        _, h, w, k = heatmap.shape
        n = self.people
        heat = sigmoid(heatmap[0])  # (h, w, K)
        c = sigmoid(center[0, :, :, 0])
        peaks = (c * (np.abs(c - _max_pool5(c)) < self.peak).astype(F32)).ravel()
        top = np.argsort(-peaks, kind="stable")[:n]  # TopK: ties to the lower index
        cy, cx = top // w, top % w
        fy, fx = cy.astype(F32), cx.astype(F32)
        mid = box_offset[0, cy, cx] + np.stack([fy, fx], axis=1)  # (N, 2) y, x
        half = np.maximum(box_scale[0, cy, cx], F32(0)) * F32(0.5)
        lo = np.clip(mid - half, 0, np.array([h, w], F32))
        hi = np.clip(mid + half, 0, np.array([h, w], F32))
        box = np.clip(np.concatenate([lo, hi], axis=1) * F32(4) / np.array([4 * h, 4 * w] * 2, F32), 0, 1)
        reg = regress[0, cy, cx].reshape(n, k, 2)
        ry, rx = fy[:, None] + reg[..., 0], fx[:, None] + reg[..., 1]  # (N, K)
        width = F32(min(h, w)) * self.sigma
        gy, gx = np.arange(h, dtype=F32), np.arange(w, dtype=F32)
        rows_in = (gy >= lo[:, :1]) & (gy < hi[:, :1])  # (N, h)
        cols_in = (gx >= lo[:, 1:]) & (gx < hi[:, 1:])  # (N, w)
        at = np.zeros((n, k), np.int64)
        for p in range(n):
            r, q = np.flatnonzero(rows_in[p]), np.flatnonzero(cols_in[p])
            if len(r) and len(q):
                r0, r1, c0, c1 = r[0], r[-1] + 1, q[0], q[-1] + 1
                d = (gy[r0:r1, None, None] - ry[p]) ** 2 + (gx[None, c0:c1, None] - rx[p]) ** 2
                weight = (heat[r0:r1, c0:c1] * np.exp((F32(-1) * d) / width)).reshape(-1, k)
                best = weight.argmax(axis=0)
                cell = (r0 + best // (c1 - c0)) * w + c0 + best % (c1 - c0)
                at[p] = np.where(weight[best, np.arange(k)] > 0, cell, 0)
        ky, kx = at // w, at % w
        joints = np.broadcast_to(np.arange(k), (n, k))
        off = offset[0].reshape(h, w, k, 2)[ky, kx, joints]  # (N, K, 2)
        y = (ky.astype(F32) + off[..., 0]) * (F32(4) / F32(4 * h))
        x = (kx.astype(F32) + off[..., 1]) * (F32(4) / F32(4 * w))
        # every person's weight at each chosen cell (zero outside its box): the joint score is their maximum
        d = (ky.astype(F32)[None] - ry[:, None]) ** 2 + (kx.astype(F32)[None] - rx[:, None]) ** 2
        others = heat[ky, kx, joints][None] * np.exp((F32(-1) * d) / width)
        others *= (rows_in[:, ky] & cols_in[:, kx]).astype(F32)
        score = others.max(axis=0)
        kept = score > self.threshold
        person = ((F32(1) / np.maximum(kept.sum(axis=1).astype(F32), F32(1)))
                  * (peaks[top][:, None] * np.where(kept, score, F32(0))).sum(axis=1))
        joints_out = np.stack([y, x, score], axis=-1).reshape(n, 3 * k)
        return np.concatenate([joints_out, box, person[:, None]], axis=1)[None].astype(F32)


def _max_pool5(x: NDArray[np.float32]) -> NDArray[np.float32]:
    """5 x 5 max pooling, stride 1, SAME padding (the border sees only the cells inside)."""
    h, w = x.shape
    padded = np.full((h + 4, w + 4), -np.inf, F32)
    padded[2:-2, 2:-2] = x
    rows = np.max([padded[i:i + h] for i in range(5)], axis=0)
    return np.max([rows[:, j:j + w] for j in range(5)], axis=0)


def calibrate_scores(rows: NDArray[np.float32], scale: NDArray[np.float32],
                     bias: NDArray[np.float32]) -> NDArray[np.float32]:
    """Single-pose rows (B, 1, K, 3) of (y, x, score) -> a copy whose scores are sigmoid(scale x logit(score)
    + bias), per joint (scale, bias: (K,)); y and x unchanged. A fine-tuned MoveNet's score calibration
    (``posekit train calibrate``): an increasing map per joint, so only the scores' scale changes."""
    out = rows.copy()
    out[..., 2] = sigmoid(scale * logit(rows[..., 2]) + bias)
    return out.astype(F32)
