"""Classification metrics: a hand-computed case and parity with scikit-learn (test-only dependency)."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.metrics.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
    precision_recall_f1,
)

Y_TRUE = ["cat", "cat", "cat", "dog", "dog", "bird"]
Y_PRED = ["cat", "cat", "dog", "dog", "cat", "cat"]  # "bird" is never predicted


def test_hand_computed_report() -> None:
    r = classification_report(Y_TRUE, Y_PRED)
    assert r.labels == ("bird", "cat", "dog")
    np.testing.assert_array_equal(r.confusion, [[0, 1, 0], [0, 2, 1], [0, 1, 1]])
    np.testing.assert_allclose(r.precision, [0.0, 0.5, 0.5])
    np.testing.assert_allclose(r.recall, [0.0, 2 / 3, 0.5])
    np.testing.assert_allclose(r.f1, [0.0, 4 / 7, 0.5])
    np.testing.assert_array_equal(r.support, [1, 3, 2])
    assert r.accuracy == 0.5 == accuracy(Y_TRUE, Y_PRED)
    assert r.averages["macro"] == pytest.approx({"precision": 1 / 3, "recall": 7 / 18, "f1": 5 / 14})
    assert r.averages["weighted"] == pytest.approx({"precision": 5 / 12, "recall": 0.5, "f1": 19 / 42})
    assert r.averages["micro"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert precision_recall_f1(Y_TRUE, Y_PRED, "weighted") == pytest.approx((5 / 12, 0.5, 19 / 42))
    lines = r.table().splitlines()
    assert lines[2].split() == ["bird", "0.000", "0.000", "0.000", "1"]
    assert lines[-1].split() == ["weighted", "avg", "0.417", "0.500", "0.452", "6"]


def test_zero_division_value_and_bad_average() -> None:
    r = classification_report(Y_TRUE, Y_PRED, zero_division=1.0)
    assert r.precision[0] == 1.0 and r.recall[0] == 0.0
    with pytest.raises(ValueError, match="average must be one of"):
        precision_recall_f1(Y_TRUE, Y_PRED, "samples")


def test_confusion_matrix_with_given_labels_drops_others() -> None:
    cm = confusion_matrix([0, 1, 2, 2, 5], [0, 2, 2, 5, 5], labels=[2, 0])
    np.testing.assert_array_equal(cm, [[1, 0], [0, 1]])


@pytest.mark.parametrize("seed", range(5))
def test_parity_with_scikit_learn(seed: int) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 6, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 8, 200))
    y_pred[y_pred == 3] = 4  # class 3 never predicted; classes 6, 7 never true
    for labels in (None, [0, 1, 3, 4, 7]):
        r = classification_report(y_true, y_pred, labels=labels)
        np.testing.assert_array_equal(r.confusion, metrics.confusion_matrix(y_true, y_pred, labels=labels))
        p, rc, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        np.testing.assert_allclose(r.precision, p, atol=1e-12)
        np.testing.assert_allclose(r.recall, rc, atol=1e-12)
        np.testing.assert_allclose(r.f1, f, atol=1e-12)
        np.testing.assert_array_equal(r.support, s)
        for avg in ("macro", "weighted", "micro"):
            ref = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg,
                                                          zero_division=0)[:3]
            assert precision_recall_f1(y_true, y_pred, avg, labels) == pytest.approx(ref, abs=1e-12)
    assert accuracy(y_true, y_pred) == pytest.approx(metrics.accuracy_score(y_true, y_pred))
