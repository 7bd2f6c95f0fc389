"""Line charts as PNG with PIL alone (no matplotlib): PCK curves, training curves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str,
               ylabel: str, size: tuple[int, int] = (640, 420), ylim: tuple[float, float] | None = None):
    """A PIL image with one line per ``series`` entry (name -> (xs, ys)), axes, ticks and a legend.

    NaN values break a line rather than drawing through them.
    """
    from PIL import Image, ImageDraw

    w, h = size
    left, right, top, bottom = 64, 16, 32, 48
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    xs_all = np.concatenate([np.asarray(x, float) for x, _ in series.values()] or [np.zeros(1)])
    ys_all = np.concatenate([np.asarray(y, float) for _, y in series.values()] or [np.zeros(1)])
    x0, x1 = float(np.nanmin(xs_all)), float(np.nanmax(xs_all))
    y0, y1 = ylim if ylim else (float(np.nanmin(ys_all)), float(np.nanmax(ys_all)))
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (w - left - right),
                h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom))

    draw.rectangle([left, top, w - right, h - bottom], outline="black")
    for t in np.linspace(0, 1, 6):
        xv, yv = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
        gx, _ = px(xv, y0)
        _, gy = px(x0, yv)
        draw.line([gx, h - bottom, gx, h - bottom + 4], fill="black")
        draw.text((gx - 12, h - bottom + 6), f"{xv:.3g}", fill="black")
        draw.line([left - 4, gy, left, gy], fill="black")
        draw.line([left + 1, gy, w - right - 1, gy], fill=(230, 230, 230))
        draw.text((4, gy - 6), f"{yv:.3g}", fill="black")
    draw.text((left, 8), title, fill="black")
    draw.text(((w - len(xlabel) * 6) / 2, h - 18), xlabel, fill="black")
    draw.text((4, top - 16), ylabel, fill="black")
    for i, (name, (xs, ys)) in enumerate(series.items()):
        color = _COLORS[i % len(_COLORS)]
        pts = [px(x, y) if np.isfinite(y) else None for x, y in zip(xs, ys, strict=True)]
        for a, b in zip(pts, pts[1:], strict=False):
            if a is not None and b is not None:
                draw.line([a, b], fill=color, width=2)
        ly = top + 12 + 14 * i
        draw.line([w - right - 150, ly, w - right - 130, ly], fill=color, width=2)
        draw.text((w - right - 125, top + 6 + 14 * i), name, fill="black")
    return img
