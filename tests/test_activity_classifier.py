"""Activity classifiers on generated learnable poses: accuracy, save/load round trip, bad model folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from activity_fixtures import ARMS, poses

from posekit.activity.classifier import ActivityClassifier, class_weights, fit_classifier
from posekit.activity.features import pose_features
from posekit.activity.io import META_FILE, MODEL_FILE, load_classifier, save_classifier
from posekit.errors import PosekitError
from posekit.skeletons import MPII16

LABELS = tuple(sorted(ARMS))


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    xy, vis, labels = poses(n, seed)
    valid = vis > 0
    rng = np.random.default_rng(seed + 100)
    valid &= rng.random(valid.shape) > 0.1  # some missing joints, as in real annotations
    return pose_features(xy, valid, MPII16), np.array([LABELS.index(c) for c in labels])


@pytest.fixture(scope="module")
def splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": data(40, 0), "val": data(15, 1), "test": data(30, 2)}


@pytest.fixture(scope="module", params=["gbt", "mlp"])
def trained(request, splits) -> tuple[ActivityClassifier, dict]:
    (xt, yt), (xv, yv) = splits["train"], splits["val"]
    return fit_classifier(xt, yt, xv, yv, LABELS, kind=request.param, seed=0, max_rounds=8 if
                          request.param == "gbt" else 60, progress=False)


def test_beats_chance_by_a_wide_margin(trained, splits) -> None:
    clf, history = trained
    x, y = splits["test"]
    accuracy = float(np.mean(clf.predict(x) == y))
    assert accuracy >= 0.8, (clf.kind, accuracy)  # chance is 1/3 (measured: gbt 0.92, mlp 0.89)
    proba = clf.predict_proba(x)
    assert proba.shape == (90, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert 1 <= history["best_round"] <= history["rounds"] == len(history["val_f1_macro"])
    top = clf.top_k(x[:2], k=2)
    assert [len(t) for t in top] == [2, 2] and top[0][0][1] >= top[0][1][1]
    assert top[0][0][1] == pytest.approx(proba[0].max())


def test_save_load_round_trip_gives_identical_probabilities(trained, splits, tmp_path: Path) -> None:
    clf, _ = trained
    save_classifier(clf, tmp_path / "m", {"seed": 0})
    again = load_classifier(tmp_path / "m", labels=list(LABELS))
    x, _ = splits["test"]
    assert np.array_equal(again.predict_proba(x), clf.predict_proba(x))
    assert (again.kind, again.labels, again.schema) == (clf.kind, LABELS, "mpii16")
    meta = json.loads((tmp_path / "m" / META_FILE).read_text())
    assert meta["labels"] == list(LABELS) and meta["seed"] == 0 and meta["feature_version"] == 1


def _edit(folder: Path, **changes) -> None:
    meta = json.loads((folder / META_FILE).read_text())
    meta.update(changes)
    (folder / META_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize(("change", "message"), [
    ("feature_version", r"feature_version 99 .* reads 1; retrain"),
    ("format_version", r"format_version 99 .* reads 1; retrain"),
    ("sklearn_version", r"saved with scikit-learn 0\.1.*retrain"),
    ("labels", r"3 classes, model.json lists 2 labels"),
    ("missing pickle", r"model\.pkl is missing"),
    ("missing json", r"model\.json is missing"),
    ("corrupt pickle", r"checksum differs"),
    ("expected labels", r"label set differs .*'jumping'"),
])
def test_bad_model_folders(trained, tmp_path: Path, change: str, message: str) -> None:
    clf, _ = trained
    folder = save_classifier(clf, tmp_path / "m")
    expected = None
    if change in ("feature_version", "format_version"):
        _edit(folder, **{change: 99})
    elif change == "sklearn_version":
        _edit(folder, sklearn_version="0.1.0")
    elif change == "labels":
        _edit(folder, labels=["a", "b"])
    elif change == "missing pickle":
        (folder / MODEL_FILE).unlink()
    elif change == "missing json":
        (folder / META_FILE).unlink()
    elif change == "corrupt pickle":
        (folder / MODEL_FILE).write_bytes(b"not a pickle")
    else:
        expected = [*LABELS[:2], "jumping"]
    with pytest.raises(PosekitError, match=message) as err:
        load_classifier(folder, labels=expected)
    assert "\n" not in str(err.value) and str(folder) in str(err.value)


def test_missing_folder_and_nan_keypoints(trained) -> None:
    clf, _ = trained
    with pytest.raises(PosekitError, match="no such model folder"):
        load_classifier("/nonexistent/model")
    xy, vis, _ = poses(1, 5)
    xy[0, :8] = np.nan  # legs and pelvis unknown
    proba = clf.predict_proba(pose_features(xy, vis > 0, MPII16))
    assert proba.shape == (3, 3) and np.isfinite(proba).all()
    assert clf.predict_proba(np.zeros((0, 76))).shape == (0, 3)


def test_class_weights_balance_the_classes() -> None:
    y = np.array([0, 0, 0, 1, 2, 2])
    w = class_weights(y, 4)  # class 3 absent
    assert w.tolist() == pytest.approx([6 / 9] * 3 + [2.0] + [1.0] * 2)
    assert [w[y == c].sum() for c in range(3)] == pytest.approx([2.0, 2.0, 2.0])


def test_fit_refuses_a_class_without_examples(splits) -> None:
    (xt, yt), (xv, yv) = splits["train"], splits["val"]
    with pytest.raises(PosekitError, match="no training example for 'arms out'"):
        fit_classifier(xt[yt != 1], yt[yt != 1], xv, yv, LABELS, progress=False)
    with pytest.raises(PosekitError, match="unknown activity model 'svm'"):
        fit_classifier(xt, yt, xv, yv, LABELS, kind="svm", progress=False)
