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

from posekit.errors import PosekitError
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


def save_confusion_png(confusion: NDArray[np.integer], labels: tuple[str, ...], title: str, path) -> None:
    """The (C, C) confusion matrix (`posekit.plot.confusion_chart`: row-normalised shading, counts, true
    classes as rows) as a PNG at ``path``; skipped with one line on stderr when matplotlib is missing."""
    import sys

    from posekit.plot import confusion_chart, save_figure

    try:
        save_figure(confusion_chart(confusion, labels, title), path)
    except PosekitError as err:
        print(f"{path}: not drawn; {err}", file=sys.stderr)
