"""Training targets: one Gaussian heatmap per keypoint (the encoder; `posekit.decode.heatmap` is its decoder).

Pure numpy, so the encoder/decoder pair can be tested as inverses without torch.

Coordinates: input pixels and heatmap pixels both have pixel centres at integers. With stride
s = input_size / heatmap_size, ``x_hm = (x_in + 0.5) / s - 0.5`` (and back ``x_in = (x_hm + 0.5) * s - 0.5``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from posekit.decode.heatmap import decode_heatmaps_batch


def gaussian_heatmaps(
    xy: NDArray[np.floating], labelled: NDArray[np.bool_], size: tuple[int, int], sigma: float
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Unnormalised Gaussians exp(-d^2 / 2 sigma^2), peak 1 at each keypoint.

    xy: (K, 2) keypoints in heatmap pixel coordinates (x, y); labelled: (K,) bool; size: (H, W);
    sigma in heatmap pixels.
    Returns heatmaps (K, H, W) float32 and weights (K,) float32: 1 for a labelled keypoint whose Gaussian
    reaches the map (centre within 3 sigma of it), else 0 (and an all-zero map).
    """
    h, w = size
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    k = xy.shape[0]
    labelled = np.asarray(labelled, dtype=bool).reshape(k)
    reach = 3.0 * sigma
    inside = (
        (xy[:, 0] > -reach) & (xy[:, 0] < w - 1 + reach) & (xy[:, 1] > -reach) & (xy[:, 1] < h - 1 + reach)
    )
    weights = (labelled & inside & np.isfinite(xy).all(axis=1)).astype(np.float32)
    gx = np.exp(-((np.arange(w)[None, :] - xy[:, :1]) ** 2) / (2 * sigma**2))  # (K, W)
    gy = np.exp(-((np.arange(h)[None, :] - xy[:, 1:]) ** 2) / (2 * sigma**2))  # (K, H)
    maps = (gy[:, :, None] * gx[:, None, :]).astype(np.float32)
    maps[weights == 0] = 0.0
    return maps, weights


@dataclass(frozen=True)
class HeatmapCodec:
    """Keypoints in model-input pixels <-> heatmaps at the model's output resolution.

    input_size, heatmap_size: (H, W) in pixels; sigma in heatmap pixels (default 2 px at 64x64).
    """

    input_size: tuple[int, int] = (256, 256)
    heatmap_size: tuple[int, int] = (64, 64)
    sigma: float = 2.0

    @property
    def stride(self) -> tuple[float, float]:
        """(sx, sy) input pixels per heatmap pixel."""
        return (self.input_size[1] / self.heatmap_size[1], self.input_size[0] / self.heatmap_size[0])

    def to_heatmap(self, xy: NDArray[np.floating]) -> NDArray[np.float32]:
        """(..., 2) input pixels -> heatmap pixels."""
        s = np.asarray(self.stride, dtype=np.float64)
        return ((np.asarray(xy, np.float64) + 0.5) / s - 0.5).astype(np.float32)

    def to_input(self, xy: NDArray[np.floating]) -> NDArray[np.float32]:
        """(..., 2) heatmap pixels -> input pixels."""
        s = np.asarray(self.stride, dtype=np.float64)
        return ((np.asarray(xy, np.float64) + 0.5) * s - 0.5).astype(np.float32)

    def encode(
        self, xy: NDArray[np.floating], labelled: NDArray[np.bool_]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """xy (K, 2) input pixels, labelled (K,) -> heatmaps (K, h, w) float32, weights (K,) float32."""
        return gaussian_heatmaps(self.to_heatmap(xy), labelled, self.heatmap_size, self.sigma)

    def decode(
        self, heatmaps: NDArray[np.floating], refine: str = "quadratic"
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """heatmaps (N, K, h, w) -> xy (N, K, 2) in input pixels, scores (N, K)."""
        xy, scores = decode_heatmaps_batch(heatmaps, refine)
        return self.to_input(xy), scores
