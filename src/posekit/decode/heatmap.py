"""Heatmaps -> keypoints: argmax plus sub-pixel refinement (pure numpy).

Coordinates are heatmap pixel coordinates with pixel *centres* at integers: the value ``hm[k, y, x]`` sits at
(x, y). A model with output stride s maps heatmap coordinates to its input pixels as
``x_in = (x_hm + 0.5) * s - 0.5`` (see `posekit.train.targets.HeatmapCodec`).

Refinements (``refine=``):
- ``"none"``: the integer argmax.
- ``"quarter"``: the argmax moved a quarter pixel towards the higher neighbour on each axis (Newell et al.).
- ``"quadratic"``: a parabola through the log of the argmax and its two neighbours on each axis. A Gaussian
  is a parabola in log space, so this recovers a Gaussian peak's centre exactly; the shift is clipped to
  +-0.5 px. Falls back to the raw values when a neighbour is not positive.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError

REFINEMENTS = ("none", "quarter", "quadratic")
_EPS = 1e-10


def decode_heatmaps(
    heatmaps: NDArray[np.floating], refine: str = "quadratic"
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """One person's keypoints from its heatmaps.

    heatmaps: (K, H, W) or (1, K, H, W) float.
    Returns xy (K, 2) float32 in heatmap pixel coordinates and scores (K,) float32 = the peak values.
    """
    hm = np.asarray(heatmaps)
    if hm.ndim == 4 and hm.shape[0] == 1:
        hm = hm[0]
    if hm.ndim != 3:
        raise PosekitError(f"heatmaps must have shape (K, H, W) or (1, K, H, W), got {hm.shape}")
    xy, scores = decode_heatmaps_batch(hm[None], refine)
    return xy[0], scores[0]


def decode_heatmaps_batch(
    heatmaps: NDArray[np.floating], refine: str = "quadratic"
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Keypoints of N people at once.

    heatmaps: (N, K, H, W) float.
    Returns xy (N, K, 2) float32 in heatmap pixel coordinates and scores (N, K) float32 (peak values).
    """
    if refine not in REFINEMENTS:
        raise PosekitError(f"unknown heatmap refinement {refine!r}; use one of {', '.join(REFINEMENTS)}")
    hm = np.asarray(heatmaps, dtype=np.float32)
    if hm.ndim != 4:
        raise PosekitError(f"heatmaps must have shape (N, K, H, W), got {hm.shape}")
    n, k, h, w = hm.shape
    flat = hm.reshape(n, k, h * w)
    idx = flat.argmax(axis=2)
    scores = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    ys, xs = np.divmod(idx, w)
    xy = np.stack([xs, ys], axis=-1).astype(np.float32)
    if refine == "none":
        return xy, scores.astype(np.float32)

    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")

    def at(yy: NDArray[np.intp], xx: NDArray[np.intp]) -> NDArray[np.float32]:
        return hm[ni, ki, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]

    centre = scores
    left, right = at(ys, xs - 1), at(ys, xs + 1)
    up, down = at(ys - 1, xs), at(ys + 1, xs)
    # At a border the missing neighbour is treated as absent: no shift on that axis.
    has_x = (xs > 0) & (xs < w - 1)
    has_y = (ys > 0) & (ys < h - 1)
    if refine == "quarter":
        dx = 0.25 * np.sign(right - left)
        dy = 0.25 * np.sign(down - up)
    else:
        dx = _parabola_shift(left, centre, right)
        dy = _parabola_shift(up, centre, down)
    xy[..., 0] += np.where(has_x, dx, 0.0)
    xy[..., 1] += np.where(has_y, dy, 0.0)
    return xy, scores.astype(np.float32)


def _parabola_shift(a: NDArray[np.float32], b: NDArray[np.float32], c: NDArray[np.float32]) -> NDArray:
    """Vertex offset of the parabola through (-1, a), (0, b), (1, c): log values when all are positive."""
    positive = (a > _EPS) & (b > _EPS) & (c > _EPS)
    la = np.where(positive, np.log(np.maximum(a, _EPS)), a)
    lb = np.where(positive, np.log(np.maximum(b, _EPS)), b)
    lc = np.where(positive, np.log(np.maximum(c, _EPS)), c)
    denom = la - 2.0 * lb + lc
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(denom < 0, 0.5 * (la - lc) / denom, 0.0)
    return np.clip(shift, -0.5, 0.5).astype(np.float32)
