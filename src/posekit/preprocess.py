"""Fitting an image into a model's input, and mapping model coordinates back to the image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed into a model input: resized by ``scale``, then offset by ``pad``.

    input_xy = image_xy * scale + pad;  image_xy = (input_xy - pad) / scale.
    """

    scale: float
    pad_x: float
    pad_y: float
    input_w: int
    input_h: int

    def to_image(self, xy: NDArray[np.floating]) -> NDArray[np.float32]:
        """(..., 2) input-pixel coordinates -> image-pixel coordinates."""
        xy = np.asarray(xy, dtype=np.float32)
        return ((xy - np.array([self.pad_x, self.pad_y], np.float32)) / self.scale).astype(np.float32)


def letterbox(
    rgb: NDArray[np.uint8], input_w: int, input_h: int, center: bool = False
) -> tuple[NDArray[np.uint8], Letterbox]:
    """Resize ``rgb`` (H, W, 3) to fit (input_h, input_w) keeping its aspect ratio and pad with black.

    Padding goes right/bottom (MoveNet's resize_with_pad centres it; ``center=True`` does that).
    Returns the (input_h, input_w, 3) uint8 array and the transform back.
    """
    h, w = rgb.shape[:2]
    scale = min(input_w / w, input_h / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = resize(rgb, new_w, new_h)
    pad_x = (input_w - new_w) // 2 if center else 0
    pad_y = (input_h - new_h) // 2 if center else 0
    out = np.zeros((input_h, input_w, 3), np.uint8)
    out[pad_y:pad_y + new_h, pad_x:pad_x + new_w] = resized
    # The exact scale per axis after rounding; use the mean (they differ by < 1 px over the image).
    sx, sy = new_w / w, new_h / h
    return out, Letterbox((sx + sy) / 2, pad_x, pad_y, input_w, input_h)


def resize(rgb: NDArray[np.uint8], width: int, height: int) -> NDArray[np.uint8]:
    """``rgb`` resized to (height, width, 3) with PIL's antialiased bilinear filter. reducing_gap: a
    box-filter reduce by an integer factor first (a 1280x720 frame to 256 px: 2.6 ms instead of 3.8; mean
    difference 0.16 grey levels)."""
    from PIL import Image as PILImage

    return np.asarray(PILImage.fromarray(rgb).resize((width, height), PILImage.BILINEAR, reducing_gap=2.0))


def person_crop(rgb: NDArray[np.uint8], box: NDArray[np.floating], margin: float = 0.25
                ) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """A square crop around ``box`` (x1, y1, x2, y2 px) enlarged by ``margin`` on each side.

    Parts outside the image are black. Returns the crop and its top-left corner in image pixels, so that
    ``image_xy = crop_xy + origin``.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1, 1.0) * (1 + 2 * margin)
    ox, oy = int(round(cx - side / 2)), int(round(cy - side / 2))
    n = int(round(side))
    return cut(rgb, ox, oy, n, n), np.array([ox, oy], np.float32)


def cut(rgb: NDArray[np.uint8], x0: int, y0: int, width: int, height: int) -> NDArray[np.uint8]:
    """The (height, width, 3) region of ``rgb`` whose top-left pixel is (x0, y0); black outside the image."""
    out = np.zeros((height, width, 3), np.uint8)
    h, w = rgb.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + width, w), min(y0 + height, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out
