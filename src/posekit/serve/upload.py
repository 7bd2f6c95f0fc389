"""Uploaded image bytes to poses: decoded exactly as ``posekit.images.read_image`` decodes a file."""

from __future__ import annotations

import time
from dataclasses import dataclass

from posekit.images import decode_image
from posekit.types import Poses


@dataclass(frozen=True)
class Estimate:
    """Poses in original-image pixels for one upload, with its size (W, H) and the time each step took."""

    poses: Poses
    size: tuple[int, int]
    decode_ms: float
    inference_ms: float


def estimate_upload(predict, data: bytes, min_side: int | None) -> Estimate:
    """Decode ``data`` and run ``predict(rgb) -> Poses`` on it (a model's predict or a tracker's update)."""
    t0 = time.perf_counter()
    image = decode_image(data, min_side)
    t1 = time.perf_counter()
    poses = predict(image.rgb).scaled(image.scale)
    t2 = time.perf_counter()
    return Estimate(poses, image.size, (t1 - t0) * 1000.0, (t2 - t1) * 1000.0)
