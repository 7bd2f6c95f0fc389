"""Drawing poses over images."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.types import Poses


def score_color(score: float) -> tuple[int, int, int]:
    """Red (0) through yellow (0.5) to green (1)."""
    s = float(np.clip(score, 0.0, 1.0))
    return (int(255 * min(1.0, 2 - 2 * s)), int(255 * min(1.0, 2 * s)), 40)


def draw_poses(rgb: NDArray[np.uint8], poses: Poses, min_keypoint_score: float = 0.2):
    """A PIL image: ``rgb`` with skeleton edges, keypoints coloured by score, and boxes when present.

    Keypoints and edges below ``min_keypoint_score`` are not drawn.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    img = PILImage.fromarray(rgb).convert("RGB")
    draw = ImageDraw.Draw(img)
    h, w = rgb.shape[:2]
    width = max(2, round(max(h, w) / 300))
    radius = width + 1
    for i in range(len(poses)):
        xy, sc = poses.xy[i], poses.scores[i]
        if poses.boxes is not None:
            draw.rectangle([float(v) for v in poses.boxes[i]], outline=(80, 160, 255), width=width)
        for a, b in poses.schema.edges:
            if sc[a] >= min_keypoint_score and sc[b] >= min_keypoint_score:
                draw.line([tuple(xy[a]), tuple(xy[b])], fill=(255, 255, 255), width=width)
        for j in range(poses.schema.num_keypoints):
            if sc[j] >= min_keypoint_score:
                x, y = (float(v) for v in xy[j])
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=score_color(sc[j]),
                             outline=(0, 0, 0))
    return img


def save_png(img, path: Path) -> None:
    from posekit.atomic import write_atomic

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_atomic(Path(path), buf.getvalue())
