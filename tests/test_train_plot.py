"""Training curves drawn with PIL: points land where the axes say."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from posekit.train.plot import plot_curves

BLUE, ORANGE = (31, 119, 180), (255, 127, 14)


def test_points_are_drawn_at_their_values(tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    plot_curves(
        out, [1, 2, 3], {"train": [3.0, 2.0, 1.5], "val": [2.5, 2.25, float("nan")]}, {"pck": [0.1, 0.3, 0.5]}
    )
    with Image.open(out) as im:
        px = im.convert("RGB").load()
    # PCK panel: x 70..620 for epochs 1..3, y 450 (0) .. 260 (1)
    assert px[345, 450 - round(0.3 * 190)] == BLUE
    assert px[620, 450 - round(0.5 * 190)] == BLUE
    # loss panel: y 210 (1.5) .. 20 (3.0); val at epoch 2 = 2.25 -> y 115
    assert px[345, 115] == ORANGE
    assert px[70, 20] == BLUE  # train loss 3.0 at epoch 1: top-left corner
    assert px[400, 300] == (255, 255, 255)
