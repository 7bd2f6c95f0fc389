"""Training curves (loss and PCK against epoch) as a PNG, drawn with matplotlib (`posekit.plot`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def plot_curves(
    path: str | Path,
    epochs: Sequence[float],
    losses: dict[str, Sequence[float]],
    pck: dict[str, Sequence[float]],
) -> None:
    """Loss curves on top, PCK curves (0..1) below; written atomically. NaN points are left out. Without
    matplotlib installed the PNG is skipped (the log says so once); training goes on."""
    from posekit.errors import PosekitError
    from posekit.plot import save_figure, training_curves

    try:
        save_figure(training_curves(epochs, losses, pck), path)
    except PosekitError:
        if not getattr(plot_curves, "warned", False):
            import sys

            from posekit.plot import INSTALL_HINT

            print(f"{path}: not drawn; {INSTALL_HINT}", file=sys.stderr)
            plot_curves.warned = True  # type: ignore[attr-defined]
