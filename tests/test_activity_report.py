"""Activity report pieces: metrics equal to scikit-learn's, majority baseline, confusion-matrix image."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from posekit.activity.report import confusion_image, majority_baseline, split_metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def test_split_metrics_equal_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    labels = ("a", "b", "c", "d")
    y_true = rng.choice(labels, 300, p=[0.5, 0.3, 0.15, 0.05])
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.choice(labels, 300))
    m = split_metrics(y_true, y_pred, labels)
    assert m["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred))
    for avg in ("macro", "weighted", "micro"):
        p, r, f, _ = sklearn_metrics.precision_recall_fscore_support(y_true, y_pred, labels=list(labels),
                                                                     average=avg, zero_division=0)
        assert (m[f"precision_{avg}"], m[f"recall_{avg}"], m[f"f1_{avg}"]) == pytest.approx((p, r, f))
    assert m["confusion"] == sklearn_metrics.confusion_matrix(y_true, y_pred, labels=list(labels)).tolist()
    assert m["per_class"]["d"]["support"] == int(np.sum(y_true == "d"))


def test_majority_baseline() -> None:
    labels = ("a", "b", "c")
    base = majority_baseline(np.array(["b", "b", "a", "c", "b"]), np.array(["a", "b", "b", "c"]), labels)
    assert base["label"] == "b" and base["accuracy"] == 0.5
    assert base["f1_macro"] == pytest.approx((2 * 2 / (2 * 2 + 2 + 0)) / 3)  # b: TP 2, FP 2; a, c: 0
    tie = majority_baseline(np.array(["c", "a"]), np.array(["a"]), labels)
    assert tie["label"] == "a"  # ties go to the first label


def test_confusion_image_cells() -> None:
    cm = np.array([[5, 0, 0], [0, 0, 3], [1, 0, 1]])
    img = np.asarray(confusion_image(cm, ("alpha", "b", "charlie-long-name")))
    blue = (img[..., 0] == 0) & (img[..., 1] == 0) & (img[..., 2] == 255)  # rate 1: rows 0 and 1
    half = (img[..., 0] == 128) & (img[..., 1] == 128) & (img[..., 2] == 255)  # rate 0.5: row 2
    cells = []
    for mask in (blue, half):
        lab, _ = ndimage.label(mask)
        boxes = [b for b in ndimage.find_objects(lab) if (b[0].stop - b[0].start) > 20]  # not holes in digits
        cells.append(sorted((b[0].start, b[1].start) for b in boxes))
    (y0, x0), (y1, x2) = cells[0]
    assert (y1 - y0, x2 - x0) == (28, 56)  # (row 0, col 0) and (row 1, col 2), 28 px cells
    assert [(y - y0, x - x0) for y, x in cells[1]] == [(56, 0), (56, 56)]  # row 2: cols 0 and 2 at 50%
