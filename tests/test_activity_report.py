"""Activity report pieces: metrics equal to scikit-learn's, majority baseline, confusion-matrix image."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.activity.report import majority_baseline, save_confusion_png, split_metrics

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


def test_confusion_png_written(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from PIL import Image

    cm = np.array([[5, 0, 0], [0, 0, 3], [1, 0, 1]])
    save_confusion_png(cm, ("alpha", "b", "charlie-long-name"), "title", tmp_path / "cm.png")
    with Image.open(tmp_path / "cm.png") as im:
        assert im.format == "PNG" and min(im.size) > 200
