"""Single-label classification metrics (activity recognition): accuracy, P / R / F1, confusion matrix.

Semantics follow scikit-learn's ``precision_recall_fscore_support`` and ``classification_report``:
labels are the sorted union of true and predicted labels unless given; a ratio whose denominator is 0
(a class never predicted, or never present) is ``zero_division`` (0 by default) instead of NaN;
F1 = 2 TP / (2 TP + FP + FN); macro = plain mean over classes, weighted = mean weighted by support,
micro = from the summed TP / FP / FN (equal to accuracy when every label is included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

AVERAGES = ("macro", "weighted", "micro")


def _labels(y_true: NDArray[Any], y_pred: NDArray[Any], labels: Sequence[Any] | None) -> list[Any]:
    if labels is not None:
        return list(labels)
    return sorted(set(y_true.tolist()) | set(y_pred.tolist()))


def _arrays(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must be 1-D of equal length, got {t.shape} and {p.shape}")
    return t, p


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike,
                     labels: Sequence[Any] | None = None) -> NDArray[np.int64]:
    """(C, C) counts: row = true class, column = predicted class, in ``labels`` order.

    Samples whose true or predicted label is not in ``labels`` are left out.
    """
    t, p = _arrays(y_true, y_pred)
    names = _labels(t, p, labels)
    index = {name: i for i, name in enumerate(names)}
    out = np.zeros((len(names), len(names)), np.int64)
    for a, b in zip(t.tolist(), p.tolist(), strict=True):
        if a in index and b in index:
            out[index[a], index[b]] += 1
    return out


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of samples whose prediction equals the truth (0 for no samples)."""
    t, p = _arrays(y_true, y_pred)
    return float(np.mean(t == p)) if len(t) else 0.0


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64], zero_division: float) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), zero_division)


@dataclass(frozen=True)
class ClassificationReport:
    """Per-class and averaged scores (fractions).

    labels: class names in table order. confusion: (C, C) true x predicted counts.
    precision, recall, f1: (C,); support: (C,) true samples per class.
    averages: {"macro" | "weighted" | "micro": {"precision", "recall", "f1"}}.
    """

    labels: tuple[Any, ...]
    confusion: NDArray[np.int64]
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    f1: NDArray[np.float64]
    support: NDArray[np.int64]
    accuracy: float
    averages: dict[str, dict[str, float]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: per-class scores, averages and accuracy."""
        return {
            "accuracy": self.accuracy,
            "per_class": {str(name): {"precision": float(p), "recall": float(r), "f1": float(f),
                                      "support": int(s)}
                          for name, p, r, f, s in zip(self.labels, self.precision, self.recall, self.f1,
                                                      self.support, strict=True)},
            **{avg: dict(v) for avg, v in self.averages.items()},
        }

    def table(self, digits: int = 3) -> str:
        """A plain-text report like scikit-learn's ``classification_report``."""
        width = max([len(str(n)) for n in self.labels] + [len("weighted avg")])
        head = f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}"
        rows = [head, ""]
        for name, p, r, f, s in zip(self.labels, self.precision, self.recall, self.f1, self.support,
                                    strict=True):
            rows.append(f"{str(name):>{width}} {p:>9.{digits}f} {r:>9.{digits}f} {f:>9.{digits}f} {s:>9d}")
        total = int(self.support.sum())
        rows += ["", f"{'accuracy':>{width}} {'':>9} {'':>9} {self.accuracy:>9.{digits}f} {total:>9d}"]
        for avg in ("macro", "weighted"):
            v = self.averages[avg]
            rows.append(f"{avg + ' avg':>{width}} {v['precision']:>9.{digits}f} {v['recall']:>9.{digits}f} "
                        f"{v['f1']:>9.{digits}f} {total:>9d}")
        return "\n".join(rows)


def classification_report(y_true: ArrayLike, y_pred: ArrayLike, labels: Sequence[Any] | None = None,
                          zero_division: float = 0.0) -> ClassificationReport:
    """Accuracy, per-class precision / recall / F1 / support and their macro, weighted, micro averages.

    y_true, y_pred: (N,) class labels (any hashable, comparable values). See the module docstring for
    the conventions (scikit-learn's).
    """
    t, p = _arrays(y_true, y_pred)
    names = _labels(t, p, labels)
    cm = confusion_matrix(t, p, names)
    tp = np.diag(cm).astype(np.float64)
    pred_count = cm.sum(axis=0).astype(np.float64)
    # Samples predicted as a listed class but whose truth is outside ``labels`` still count as FP, and
    # true samples predicted as an unlisted class still count as FN (scikit-learn's behaviour).
    index = {name: i for i, name in enumerate(names)}
    support = np.zeros(len(names), np.int64)
    for a, b in zip(t.tolist(), p.tolist(), strict=True):
        if a in index:
            support[index[a]] += 1
        if b in index and a not in index:
            pred_count[index[b]] += 1
    fp = pred_count - tp
    fn = support - tp
    precision = _ratio(tp, tp + fp, zero_division)
    recall = _ratio(tp, tp + fn, zero_division)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn, zero_division)
    averages = {
        "macro": {"precision": float(np.mean(precision)) if len(names) else 0.0,
                  "recall": float(np.mean(recall)) if len(names) else 0.0,
                  "f1": float(np.mean(f1)) if len(names) else 0.0},
        "weighted": {k: float(np.sum(v * support) / support.sum()) if support.sum() else zero_division
                     for k, v in (("precision", precision), ("recall", recall), ("f1", f1))},
        "micro": {"precision": float(_ratio(tp.sum(), tp.sum() + fp.sum(), zero_division)),
                  "recall": float(_ratio(tp.sum(), tp.sum() + fn.sum(), zero_division)),
                  "f1": float(_ratio(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn.sum(), zero_division))},
    }
    return ClassificationReport(tuple(names), cm, precision, recall, f1, support, accuracy(t, p), averages)


def precision_recall_f1(y_true: ArrayLike, y_pred: ArrayLike, average: str = "macro",
                        labels: Sequence[Any] | None = None,
                        zero_division: float = 0.0) -> tuple[float, float, float]:
    """(precision, recall, F1) averaged by ``average`` in {"macro", "weighted", "micro"}."""
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
    v = classification_report(y_true, y_pred, labels, zero_division).averages[average]
    return v["precision"], v["recall"], v["f1"]
