"""Charts drawn with matplotlib: points land where the axes say, NaN points are left out."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")

from posekit.plot import confusion_chart, line_chart, save_figure, training_curves  # noqa: E402
from posekit.train.plot import plot_curves  # noqa: E402

BLUE, ORANGE = (31, 119, 180), (255, 127, 14)  # matplotlib's C0, C1


def _pixels(fig) -> tuple[np.ndarray, float]:
    fig.canvas.draw()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    img = np.asarray(Image.open(buf).convert("RGB"))
    return img, img.shape[0]


def _at(img: np.ndarray, height: float, ax, x: float, y: float) -> tuple[int, ...]:
    px, py = ax.transData.transform((x, y))
    return tuple(int(v) for v in img[int(round(height - py)), int(round(px))])


def test_training_curves_put_points_at_their_values() -> None:
    losses = {"train": [float("nan"), 3.0, 2.0, 1.5], "val": [2.5, 2.4, 2.25, 2.0]}
    fig = training_curves([0, 1, 2, 3], losses, {"pck": [0.1, 0.3, 0.5, 0.45]})
    img, h = _pixels(fig)
    top, bottom = fig.axes
    assert top.get_yscale() == "log" and bottom.get_ylim() == (0.0, 1.0)
    assert _at(img, h, bottom, 2, 0.5) == BLUE
    assert _at(img, h, top, 2, 2.25) == ORANGE
    assert _at(img, h, top, 1, 3.0) == BLUE
    assert _at(img, h, bottom, 2, 0.9) != BLUE  # nothing drawn where no point is
    assert np.isnan(top.lines[0].get_ydata()[0])  # the NaN train loss of epoch 0 is left out, not drawn at 0


def test_line_chart_and_confusion(tmp_path: Path) -> None:
    fig = line_chart({"m": ([0.0, 0.25, 0.5], [0.0, 60.0, 90.0])}, "t", "alpha", "PCK %", ylim=(0, 100))
    img, h = _pixels(fig)
    assert _at(img, h, fig.axes[0], 0.25, 60.0) == BLUE
    cm = np.array([[5, 0, 0], [0, 0, 3], [1, 0, 1]])
    fig = confusion_chart(cm, ("alpha", "b", "charlie"))
    ax = fig.axes[0]
    rate = ax.images[0].get_array()
    assert np.allclose(rate, [[1, 0, 0], [0, 0, 1], [0.5, 0, 0.5]])
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "3", "5"]  # counts in the non-zero cells
    assert [t.get_text() for t in ax.get_yticklabels()] == ["alpha", "b", "charlie"]
    out = save_figure(fig, tmp_path / "cm.png")
    with Image.open(out) as im:
        assert im.format == "PNG"


def test_plot_curves_writes_a_png(tmp_path: Path) -> None:
    plot_curves(tmp_path / "curves.png", [1, 2], {"train loss": [1.0, 0.5]}, {"val PCK@0.2": [0.2, 0.4]})
    with Image.open(tmp_path / "curves.png") as im:
        assert im.size == (640, 480)
