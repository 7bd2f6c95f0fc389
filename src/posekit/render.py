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


@functools.lru_cache(maxsize=256)
def _edge_color(base: tuple[int, int, int], side: str) -> tuple[int, int, int]:
    """Left limbs in the track's colour, right limbs lighter (blended with white), the trunk darker."""
    if side == "left":
        return base
    if side == "right":
        return tuple(int(c + (255 - c) * 0.55) for c in base)
    return tuple(int(c * 0.6) for c in base)


def _line_width(side: int) -> int:
    """Skeleton line width in pixels for an image whose longer side is ``side``."""
    return max(2, round(side / 300))


@functools.lru_cache(maxsize=16)
def _sides(names: tuple[str, ...], edges: tuple[tuple[int, int], ...]
           ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Each keypoint's side and each edge's (its ends' common side, else "")."""
    kp = tuple(_side(n) for n in names)
    return kp, tuple(kp[a] if kp[a] == kp[b] else "" for a, b in edges)


def _person_ops(poses: Poses, i: int, min_keypoint_score: float, side: int) -> list[tuple[str, tuple, dict]]:
    """What drawing person ``i`` takes, as ImageDraw calls (method, args, keyword args) in image pixels."""
    width = _line_width(side)
    radius = width + 1
    kp_sides, edge_sides = _sides(tuple(poses.schema.keypoints), tuple(map(tuple, poses.schema.edges)))
    xy, sc = poses.xy[i].tolist(), poses.scores[i]
    shown = (sc >= min_keypoint_score).tolist()
    base = track_color(poses.track_ids[i]) if poses.track_ids is not None else None
    ops: list[tuple[str, tuple, dict]] = []
    if poses.boxes is not None:
        ops.append(("rectangle", (tuple(float(v) for v in poses.boxes[i]),),
                    {"outline": base or (80, 160, 255), "width": width}))
    for (a, b), edge_side in zip(poses.schema.edges, edge_sides, strict=True):
        if shown[a] and shown[b]:
            fill = (255, 255, 255) if base is None else _edge_color(base, edge_side)
            ops.append(("line", ((*xy[a], *xy[b]),), {"fill": fill, "width": width}))
    for j, (x, y) in enumerate(xy):
        if shown[j]:
            fill = score_color(sc[j]) if base is None else _edge_color(base, kp_sides[j])
            ops.append(("ellipse", ((x - radius, y - radius, x + radius, y + radius),),
                        {"fill": fill, "outline": (0, 0, 0)}))
    if base is not None:
        ops += _label_ops(poses.xy[i][sc >= min_keypoint_score], f"#{int(poses.track_ids[i])}", base, side)
    return ops


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
    side = max(rgb.shape[:2])
    for i in range(len(poses)):
        for method, args, kwargs in _person_ops(poses, i, min_keypoint_score, side):
            getattr(draw, method)(*args, **kwargs)
    return img


@functools.lru_cache(maxsize=256)
def _yuv(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """An RGB colour in limited-range BT.601 Y'CbCr (what swscale and x264 use for yuv420p by default)."""
    r, g, b = color
    return (round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255),
            round(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255),
            round(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255))


def _text_extent(args: tuple, kwargs: dict) -> tuple[float, float, float, float]:
    """The box (x1, y1, x2, y2) an ImageDraw ``text`` call with these arguments touches."""
    x, y = args[0]
    left, top, right, bottom = kwargs["font"].getbbox(args[1])
    return x + left, y + top, x + right, y + bottom


def draw_poses_yuv(planes: list[NDArray[np.uint8]], poses: Poses, min_keypoint_score: float = 0.2) -> None:
    """``draw_poses`` in place on yuv420p planes (Y (H, W), U and V (H/2, W/2)), as a video decoder gives
    them and an encoder takes them: no RGB frame is made. Each person is drawn on the small region they
    cover, on Y at full and on U and V at half resolution; the label's text is drawn on Y only (its tag
    colours the chroma planes)."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    h, w = planes[0].shape
    side = max(h, w)
    pad = _line_width(side) * 2 + 4  # lines and keypoint dots reach past their coordinates
    for i in range(len(poses)):
        ops = _person_ops(poses, i, min_keypoint_score, side)
        if not ops:
            continue
        shapes = [op for op in ops if op[0] != "text"]
        xy = np.array([op[1][0] for op in shapes], np.float64).reshape(-1, 4)
        is_line = np.array([op[0] == "line" for op in shapes], bool)
        ext = [_text_extent(args, kwargs) for method, args, kwargs in ops if method == "text"]
        if len(xy):
            ends = np.stack([xy[:, :2], xy[:, 2:]])
            ext.append((*ends.min(axis=(0, 1)), *ends.max(axis=(0, 1))))
        x0 = max(0, int(min(e[0] for e in ext)) - pad) // 2 * 2
        y0 = max(0, int(min(e[1] for e in ext)) - pad) // 2 * 2
        x1 = min(w, (int(max(e[2] for e in ext)) + pad) // 2 * 2 + 2)
        y1 = min(h, (int(max(e[3] for e in ext)) + pad) // 2 * 2 + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        # Y at full resolution; U and V together, as the two bands of one half-size "LA" image
        for c, k in ((0, 1), (1, 2)):
            window = (slice(y0 // k, y1 // k), slice(x0 // k, x1 // k))
            if c == 0:
                img = PILImage.fromarray(planes[0][window])
            else:
                img = PILImage.fromarray(np.stack([planes[1][window], planes[2][window]], axis=-1), "LA")
            draw = ImageDraw.Draw(img)
            _draw_shapes(draw.draw, img.mode, shapes, _moved_all(xy, is_line, x0, y0, k).tolist(), c, k)
            if c == 0:
                for method, args, kwargs in ops:
                    if method == "text":
                        x, y = args[0]
                        ink = _yuv(kwargs["fill"])[0]
                        draw.text((x - x0, y - y0), args[1], fill=ink, font=kwargs["font"])
                planes[0][window] = np.asarray(img)
            else:
                both = np.asarray(img)
                planes[1][window], planes[2][window] = both[..., 0], both[..., 1]


_INKS: dict[tuple[str, tuple[int, int, int]], int] = {}


def _draw_shapes(core, mode: str, shapes: list[tuple[str, tuple, dict]], coords: list[list[float]], c: int,
                 k: int) -> None:
    """The line / ellipse / rectangle ops of ``_person_ops`` at ``coords`` (moved), drawn on one plane
    image (``c`` 0: Y, "L"; 1: U and V, "LA") through ImageDraw's core calls with the inks looked up once
    per colour: the same pixels as ImageDraw's public methods, which resolve the ink on every call (most of
    a video frame's drawing time was that Python overhead)."""

    def ink(color: tuple[int, int, int]) -> int:
        got = _INKS.get((mode, color))
        if got is None:
            yuv = _yuv(color)
            got = _INKS[(mode, color)] = core.draw_ink(yuv[0] if c == 0 else yuv[1:])
        return got

    for (method, _, kwargs), xy in zip(shapes, coords, strict=True):
        if method == "line":
            core.draw_lines(xy, ink(kwargs["fill"]), max(1, kwargs["width"] // k))  # chroma <= luma width
            continue
        draw = core.draw_ellipse if method == "ellipse" else core.draw_rectangle
        fill = ink(kwargs["fill"]) if kwargs.get("fill") is not None else None
        outline = ink(kwargs["outline"]) if kwargs.get("outline") is not None else None
        width = max(1, kwargs.get("width", 1) // k)
        if fill is not None:
            draw(xy, fill, 1)
        if outline is not None and outline != fill:
            draw(xy, outline, 0, width)


def _moved_all(xy: NDArray[np.float64], is_line: NDArray[np.bool_], x0: int, y0: int, k: int
               ) -> NDArray[np.float64]:
    """(n, 4) ImageDraw coordinates (``is_line``: which rows are line ends, the others boxes) moved to a
    region whose corner is (x0, y0) and scaled down by ``k``. Line points are pixel centres
    (i -> (i + 0.5) / k - 0.5); a rectangle's or an ellipse's box includes its end pixel
    (x2 -> (x2 + 1) / k - 1), so a border drawn inwards covers the same pixels at both scales."""
    out = xy - np.array([x0, y0, x0, y0], np.float64)
    if k == 1:
        return out
    lines = (out + 0.5) / k - 0.5
    boxes = np.concatenate([out[:, :2] / k, (out[:, 2:] + 1) / k - 1], axis=1)
    return np.where(is_line[:, None], lines, boxes)


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _label_ops(points: NDArray[np.float32], text: str, color: tuple[int, int, int],
               side: int) -> list[tuple[str, tuple, dict]]:
    """``text`` on a filled tag just above the highest of ``points``."""
    if len(points) == 0:
        return []
    font = _font(max(12, side // 40))
    x, y = float(points[:, 0].mean()), float(points[:, 1].min())
    left, top, right, bottom = font.getbbox(text)
    tw, th = right - left, bottom - top
    x0, y0 = x - tw / 2 - 3, y - th - 12
    return [("rectangle", ((x0, y0, x0 + tw + 6, y0 + th + 6),), {"fill": color}),
            ("text", ((x0 + 3 - left, y0 + 3 - top), text), {"fill": (255, 255, 255), "font": font})]


def save_png(img, path: Path) -> None:
    from posekit.atomic import write_atomic

    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_atomic(Path(path), buf.getvalue())
