"""Charts with matplotlib (optional: ``pip install 'posekit[plot]'``), headless (the Agg backend).

Each chart is a function returning a matplotlib Figure (``line_chart``, ``training_curves``,
``confusion_chart``); ``save_figure`` writes it as a PNG atomically and closes it. Tests read the axes'
data -> pixel transform back, so a point can be checked where the axes say it is.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.atomic import write_atomic
from posekit.errors import PosekitError

INSTALL_HINT = "plots need matplotlib: pip install 'posekit[plot]' (or: pip install matplotlib)"
DPI = 100


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed); a PosekitError with the install command."""
    try:
        import matplotlib
    except ImportError:
        raise PosekitError(INSTALL_HINT) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as an RGB PNG (atomically; the figure is opaque, so no alpha) and close it."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    pyplot().close(fig)
    buf.seek(0)
    out = io.BytesIO()
    Image.open(buf).convert("RGB").save(out, format="PNG", optimize=True)
    write_atomic(path, out.getvalue())
    return Path(path)


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xlabel: str,
               ylabel: str, size: tuple[int, int] = (640, 420),
               ylim: tuple[float, float] | None = None) -> Any:
    """One line per ``series`` entry (name -> (xs, ys)) with a legend; NaN values break a line.
    size: (width, height) in pixels."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, layout="constrained")
    for name, (xs, ys) in series.items():
        ax.plot(np.asarray(xs, float), np.asarray(ys, float), marker=".", label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    if series:
        ax.legend()
    return fig


def training_curves(epochs: Sequence[float], losses: dict[str, Sequence[float]],
                    pck: dict[str, Sequence[float]]) -> Any:
    """Loss curves on top (log scale when all positive), PCK curves (0..1) below, against epoch."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 4.8), dpi=DPI, sharex=True, layout="constrained")
    x = np.asarray(epochs, float)
    for name, ys in losses.items():
        top.plot(x, np.asarray(ys, float), marker=".", label=name)
    values = np.asarray([v for ys in losses.values() for v in ys], float)
    if values.size and np.nanmin(values) > 0:
        top.set_yscale("log")
    top.set(ylabel="loss", title="training")
    for name, ys in pck.items():
        bottom.plot(x, np.asarray(ys, float), marker=".", label=name)
    bottom.set(xlabel="epoch (0: the pretrained start)", ylabel="PCK@0.2", ylim=(0.0, 1.0))
    from matplotlib.ticker import MaxNLocator

    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def confusion_chart(confusion: NDArray[np.integer], labels: Sequence[str], title: str = "") -> Any:
    """A (C, C) confusion matrix: cells shaded by the row-normalised rate (recall of the true class, Blues),
    counts written in the non-zero cells; true classes as rows, predicted as columns."""
    plt = pyplot()
    cm = np.asarray(confusion, dtype=np.int64)
    rows = cm.sum(axis=1, keepdims=True)
    rate = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    side = 2.5 + 0.35 * len(labels)
    fig, ax = plt.subplots(figsize=(side + 1.0, side), dpi=DPI, layout="constrained")
    image = ax.imshow(rate, cmap="Blues", vmin=0.0, vmax=1.0)
    for i, j in zip(*np.nonzero(cm), strict=True):
        ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                color="white" if rate[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix (row-normalised)")
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    return fig
