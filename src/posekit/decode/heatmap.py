"""Heatmaps -> keypoints: argmax plus sub-pixel refinement (pure numpy).

Coordinates are heatmap pixel coordinates with pixel *centres* at integers: the value ``hm[k, y, x]`` sits at
(x, y). A model with output stride s maps heatmap coordinates to its input pixels as
``x_in = (x_hm + 0.5) * s - 0.5`` (see `posekit.train.targets.HeatmapCodec`).

Refinements (``refine=``):
- ``"none"``: the integer argmax.
- ``"quarter"``: the argmax moved a quarter pixel towards the higher neighbour on each axis (Newell et al.).
- ``"quadratic"``: a parabola through the log of the argmax and its two neighbours on each axis. A Gaussian
  is a parabola in log space, so this recovers a Gaussian peak's centre exactly; the shift is clipped to
  +-0.5 px of the argmax. At a border the three samples move one pixel inwards. Falls back to the raw values
  when a sample is not positive.
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
        return hm[ni, ki, yy, xx]

    if refine == "quarter":
        # At a border the missing neighbour is absent: no shift on that axis.
        has_x, has_y = (xs > 0) & (xs < w - 1), (ys > 0) & (ys < h - 1)
        cx, cy = np.clip(xs, 1, max(w - 2, 0)), np.clip(ys, 1, max(h - 2, 0))
        if w >= 3:
            xy[..., 0] += np.where(has_x, 0.25 * np.sign(at(ys, cx + 1) - at(ys, cx - 1)), 0.0)
        if h >= 3:
            xy[..., 1] += np.where(has_y, 0.25 * np.sign(at(cy + 1, xs) - at(cy - 1, xs)), 0.0)
    else:
        # Three samples centred on the argmax (moved one pixel inwards at a border: a Gaussian's log is a
        # parabola everywhere, so the vertex is still exact), then at most half a pixel from the argmax.
        if w >= 3:
            cx = np.clip(xs, 1, w - 2)
            vx = cx + _parabola_shift(at(ys, cx - 1), at(ys, cx), at(ys, cx + 1), interior=cx == xs)
            xy[..., 0] = np.where(np.isnan(vx), xs, np.clip(vx, xs - 0.5, xs + 0.5))
        if h >= 3:
            cy = np.clip(ys, 1, h - 2)
            vy = cy + _parabola_shift(at(cy - 1, xs), at(cy, xs), at(cy + 1, xs), interior=cy == ys)
            xy[..., 1] = np.where(np.isnan(vy), ys, np.clip(vy, ys - 0.5, ys + 0.5))
    return xy, scores.astype(np.float32)


def _parabola_shift(
    a: NDArray[np.float32], b: NDArray[np.float32], c: NDArray[np.float32], interior: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Vertex offset of the parabola through (-1, a), (0, b), (1, c), on log values when all are positive.

    Where the values are not all positive the raw values are used, and only for an interior argmax (a
    raw-value parabola says nothing reliable beyond its samples); NaN where there is no usable vertex.
    """
    positive = (a > _EPS) & (b > _EPS) & (c > _EPS)
    la, lb, lc = (np.where(positive, np.log(np.maximum(v, _EPS)), v).astype(np.float64) for v in (a, b, c))
    denom = la - 2.0 * lb + lc
    usable = (denom < 0) & (positive | interior)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(usable, 0.5 * (la - lc) / denom, np.nan)
