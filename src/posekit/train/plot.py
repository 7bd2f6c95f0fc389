"""Training curves drawn with PIL (no matplotlib): loss and PCK against epoch, simple axes and lines."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from posekit.atomic import write_atomic

_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40))


def _panel(
    draw: ImageDraw.ImageDraw,
    box: tuple[int, int, int, int],
    title: str,
    series: dict[str, Sequence[float]],
    x: Sequence[float],
    y_range: tuple[float, float] | None = None,
) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle(box, outline=(0, 0, 0))
    draw.text((x0, y0 - 14), title, fill=(0, 0, 0))
    values = [v for s in series.values() for v in s if v == v]
    if not values or not x:
        return
    lo, hi = y_range or (min(values), max(values))
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    xlo, xhi = min(x), max(x)
    xspan = (xhi - xlo) or 1.0
    for frac in (0.0, 0.5, 1.0):
        yy = y1 - frac * (y1 - y0)
        draw.line((x0 - 4, yy, x0, yy), fill=(0, 0, 0))
        draw.text((2, yy - 6), f"{lo + frac * (hi - lo):.4g}", fill=(0, 0, 0))
    draw.text((x0, y1 + 4), f"epoch {xlo:g}", fill=(0, 0, 0))
    draw.text((x1 - 60, y1 + 4), f"epoch {xhi:g}", fill=(0, 0, 0))
    for i, (name, ys) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        pts = [
            (x0 + (xv - xlo) / xspan * (x1 - x0), y1 - (yv - lo) / (hi - lo) * (y1 - y0))
            for xv, yv in zip(x, ys, strict=False)
            if yv == yv
        ]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        for px, py in pts:
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
        draw.text((x1 - 110, y0 + 6 + 14 * i), name, fill=colour)


def plot_curves(
    path: str | Path,
    epochs: Sequence[float],
    losses: dict[str, Sequence[float]],
    pck: dict[str, Sequence[float]],
) -> None:
    """A 640x480 PNG: loss curves on top, PCK curves (0..1) below; written atomically. NaN points skipped."""
    img = Image.new("RGB", (640, 480), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    _panel(draw, (70, 20, 620, 210), "loss", losses, epochs)
    _panel(draw, (70, 260, 620, 450), "PCK@0.2", pck, epochs, y_range=(0.0, 1.0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_atomic(path, buf.getvalue())
