"""Evaluation reports for activity classifiers: metrics, majority-class baseline, confusion-matrix PNG.

Metrics come from ``posekit.metrics.classification`` (scikit-learn's conventions). A split's entry in
``report.json`` holds n, accuracy, precision / recall / f1 for the macro, weighted and micro averages
(``f1_macro`` ...), the per-class table and the confusion matrix (rows = true, columns = predicted, in
label order).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.metrics.classification import classification_report


def split_metrics(y_true: NDArray[np.str_], y_pred: NDArray[np.str_],
                  labels: tuple[str, ...]) -> dict[str, Any]:
    """Metrics (module docstring) of (N,) true vs predicted label names over ``labels``."""
    rep = classification_report(np.asarray(y_true), np.asarray(y_pred), labels=list(labels))
    out: dict[str, Any] = {"n": int(len(y_true)), "accuracy": rep.accuracy}
    for avg, v in rep.averages.items():
        for k in ("precision", "recall", "f1"):
            out[f"{k}_{avg}"] = v[k]
    d = rep.as_dict()
    out["per_class"] = d["per_class"]
    out["confusion"] = rep.confusion.tolist()
    out["table"] = rep.table()
    return out


def majority_baseline(y_train: NDArray[np.str_], y_eval: NDArray[np.str_],
                      labels: tuple[str, ...]) -> dict[str, Any]:
    """Metrics of always predicting the most frequent training label (ties: first in label order)."""
    counts = Counter(y_train.tolist())
    top = max(labels, key=lambda name: (counts.get(name, 0), -labels.index(name)))
    m = split_metrics(y_eval, np.full(len(y_eval), top), labels)
    return {"label": top, **{k: v for k, v in m.items() if k not in ("per_class", "confusion", "table")}}


def confusion_image(confusion: NDArray[np.integer], labels: tuple[str, ...], title: str = ""):
    """A PIL image of a (C, C) confusion matrix: cells shaded by the row-normalised rate (recall per true
    class), counts written in the cells, true classes as rows, predicted as columns."""
    from PIL import Image, ImageDraw, ImageFont

    cm = np.asarray(confusion, dtype=np.int64)
    c = len(labels)
    font = ImageFont.load_default()
    cell = 28
    left = 12 + max((int(font.getlength(str(n))) for n in labels), default=0)
    top = left + 24
    img = Image.new("RGB", (left + c * cell + 12, top + c * cell + 12), "white")
    draw = ImageDraw.Draw(img)
    draw.text((8, 6), title or "confusion matrix (rows: true, columns: predicted)", fill="black", font=font)
    # predicted labels above the columns, reading upwards from the matrix: drawn as rows starting at the
    # left edge, then turned a quarter counter-clockwise (row 0 -> leftmost column, left edge -> bottom)
    col_names = Image.new("RGB", (left, c * cell), "white")
    cd = ImageDraw.Draw(col_names)
    for i, name in enumerate(labels):
        cd.text((6, i * cell + cell // 2 - 6), name, fill="black", font=font)
    img.paste(col_names.rotate(90, expand=True), (left, 24))
    rows = cm.sum(axis=1, keepdims=True)
    rate = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    for i, name in enumerate(labels):
        draw.text((left - 6 - font.getlength(name), top + i * cell + cell // 2 - 6), name, fill="black",
                  font=font)
        for j in range(c):
            shade = int(round(255 * (1 - rate[i, j])))
            x, y = left + j * cell, top + i * cell
            draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=(shade, shade, 255),
                           outline=(200, 200, 200))
            if cm[i, j]:
                text = str(cm[i, j])
                ink = "white" if rate[i, j] > 0.5 else "black"
                draw.text((x + (cell - font.getlength(text)) / 2, y + cell // 2 - 6), text, fill=ink,
                          font=font)
    return img
