"""Drawing poses over images."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.types import Poses


def score_color(score: float) -> tuple[int, int, int]:
    """Red (0) through yellow (0.5) to green (1)."""
    s = float(np.clip(score, 0.0, 1.0))
    return (int(255 * min(1.0, 2 - 2 * s)), int(255 * min(1.0, 2 * s)), 40)


# Track colours: well separated hues, readable on photos (Tableau 10 without its greys).
TRACK_COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207))


def track_color(track_id: int) -> tuple[int, int, int]:
    return TRACK_COLORS[int(track_id) % len(TRACK_COLORS)]


def _side(name: str) -> str:
    return "left" if name.startswith(("left", "l_")) else "right" if name.startswith(("right", "r_")) else ""


def _edge_color(base: tuple[int, int, int], side: str) -> tuple[int, int, int]:
    """Left limbs in the track's colour, right limbs lighter (blended with white), the trunk darker."""
    if side == "left":
        return base
    if side == "right":
        return tuple(int(c + (255 - c) * 0.55) for c in base)
    return tuple(int(c * 0.6) for c in base)


def draw_poses(rgb: NDArray[np.uint8], poses: Poses, min_keypoint_score: float = 0.2):
    """A PIL image: ``rgb`` with skeleton edges, keypoints, and boxes when present.

    Still images: white edges, keypoints coloured by score. Tracked poses (``track_ids`` set): each identity
    in its colour with its ID written above it, left limbs in that colour and right limbs lighter.
    Keypoints and edges below ``min_keypoint_score`` are not drawn.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    img = PILImage.fromarray(rgb)
    img = img if img.mode == "RGB" else img.convert("RGB")  # (fromarray already copied the pixels)
    draw = ImageDraw.Draw(img)
    h, w = rgb.shape[:2]
    width = max(2, round(max(h, w) / 300))
    radius = width + 1
    names = poses.schema.keypoints
    for i in range(len(poses)):
        xy, sc = poses.xy[i], poses.scores[i]
        base = track_color(poses.track_ids[i]) if poses.track_ids is not None else None
        if poses.boxes is not None:
            draw.rectangle([float(v) for v in poses.boxes[i]], outline=base or (80, 160, 255), width=width)
        for a, b in poses.schema.edges:
            if sc[a] >= min_keypoint_score and sc[b] >= min_keypoint_score:
                side = _side(names[a]) if _side(names[a]) == _side(names[b]) else ""
                fill = (255, 255, 255) if base is None else _edge_color(base, side)
                draw.line([tuple(xy[a]), tuple(xy[b])], fill=fill, width=width)
        for j in range(poses.schema.num_keypoints):
            if sc[j] >= min_keypoint_score:
                x, y = (float(v) for v in xy[j])
                fill = score_color(sc[j]) if base is None else _edge_color(base, _side(names[j]))
                draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill, outline=(0, 0, 0))
        if base is not None:
            _label(draw, xy[sc >= min_keypoint_score], f"#{int(poses.track_ids[i])}", base, max(h, w))
    return img


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _label(draw, points: NDArray[np.float32], text: str, color: tuple[int, int, int], side: int) -> None:
    """``text`` on a filled tag just above the highest of ``points``."""
    if len(points) == 0:
        return
    font = _font(max(12, side // 40))
    x, y = float(points[:, 0].mean()), float(points[:, 1].min())
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left, bottom - top
    x0, y0 = x - tw / 2 - 3, y - th - 12
    draw.rectangle([x0, y0, x0 + tw + 6, y0 + th + 6], fill=color)
    draw.text((x0 + 3 - left, y0 + 3 - top), text, fill=(255, 255, 255), font=font)


def save_png(img, path: Path) -> None:
    from posekit.atomic import write_atomic

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_atomic(Path(path), buf.getvalue())
