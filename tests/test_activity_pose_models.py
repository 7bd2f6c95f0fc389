"""Pose-only classifiers of issue 16: class-weight powers, Procrustes kNN, the ensemble, augmentation, rich
features through `posekit activity train` and a saved model folder."""

from __future__ import annotations

import numpy as np
import pytest
from activity_fixtures import poses, write_mpii_csv

from posekit.activity.classifier import class_weights, fit_classifier
from posekit.activity.dataset import augment
from posekit.activity.features import CANONICAL_JOINTS, canonical_joints
from posekit.activity.io import load_classifier, save_classifier
from posekit.activity.pairs import features_of
from posekit.activity.procrustes import ProcrustesCoords, procrustes_align
from posekit.skeletons import MPII16


def test_class_weight_powers() -> None:
    y = np.array([0, 0, 0, 1])  # n / (C n_c): 4/6 and 2
    assert class_weights(y, 2).tolist() == pytest.approx([2 / 3] * 3 + [2.0])
    assert class_weights(y, 2, 0.5).tolist() == pytest.approx([(2 / 3) ** 0.5] * 3 + [2 ** 0.5])
    assert class_weights(y, 2, 0.0).tolist() == [1.0] * 4


def test_procrustes_undoes_rotation_scale_and_translation() -> None:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(14, 2))
    ref -= ref.mean(axis=0)
    theta = 0.3
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    moved = (ref @ rot.T) * 2.5 + np.array([4.0, -1.0])
    present = np.ones((1, 14), bool)
    present[0, 3] = False  # a missing joint takes the reference's place
    out = procrustes_align(moved[None], present, ref)
    assert np.allclose(out[0], ref, atol=1e-9)
    # rotations beyond the limit are clipped: a lying person is not stood up
    lying = ref @ np.array([[0.0, -1.0], [1.0, 0.0]]).T
    out = procrustes_align(lying[None], np.ones((1, 14), bool), ref, max_rotation=np.pi / 4)
    assert not np.allclose(out[0], ref, atol=1e-3)


def _persons(n: int, seed: int):
    xy, _, labels = poses(n, seed=seed)
    joints = canonical_joints(xy, np.ones(xy.shape[:2], bool), MPII16)
    names = sorted(set(labels))
    return joints, np.array([names.index(c) for c in labels]), tuple(names)


def test_augment_adds_noisy_mirrored_copies() -> None:
    joints, y, _ = _persons(10, 0)
    j2, y2 = augment(joints, y, 2, seed=1, dropout=0.5)
    assert j2.shape == (90, 14, 2) and y2.tolist() == y.tolist() * 3
    assert np.array_equal(j2[:30], joints, equal_nan=True)
    assert np.isnan(j2[30:]).any() and not np.isnan(joints).any()
    ls = CANONICAL_JOINTS.index("left_shoulder")
    rs = CANONICAL_JOINTS.index("right_shoulder")
    # the first copy is mirrored: its left shoulder sits (noise aside) at minus the right one's x
    ok = ~np.isnan(j2[30:60, ls, 0])
    assert np.corrcoef(j2[30:60, ls, 0][ok], -joints[:, rs, 0][ok])[0, 1] > 0.99


@pytest.mark.parametrize("kind", ["knn", "ensemble"])
def test_knn_and_ensemble_learn_and_round_trip(kind, tmp_path) -> None:
    joints, y, labels = _persons(40, 3)
    test_joints, test_y, _ = _persons(20, 4)
    clf, history = fit_classifier(features_of(joints, "rich"), y, features_of(test_joints, "rich"), test_y,
                                  labels, kind=kind, progress=False, balance="sqrt", feature_set="rich")
    assert (clf.predict(clf.features(test_joints)) == test_y).mean() >= 0.9  # chance 1/3
    if kind == "ensemble":
        assert history["ensemble_weight"] in (0.5, 0.65, 0.8)
    save_classifier(clf, tmp_path / "m")
    again = load_classifier(tmp_path / "m")
    assert again.kind == kind and again.feature_set == "rich"
    assert np.allclose(again.predict_proba(again.features(test_joints)),
                       clf.predict_proba(clf.features(test_joints)))


def test_procrustes_coords_fit_a_mean_pose() -> None:
    joints, _, _ = _persons(30, 5)
    x = features_of(joints, "base")
    t = ProcrustesCoords().fit(x)
    assert t.ref_.shape == (14, 2) and t.transform(x).shape == (len(x), 28)


@pytest.mark.slow
def test_train_cli_with_rich_features_balance_and_augmentation(tmp_path) -> None:
    from posekit.activity.train import train_activity

    xy, _, labels = poses(40, seed=3)
    csv = write_mpii_csv(tmp_path / "mpii.csv", xy, list(labels))
    report = train_activity(f"mpii-csv:{csv}", tmp_path / "model", kind="gbt", features="rich",
                            balance="sqrt", augment=1, progress=False)
    assert report["num_features"] == 167 and report["features"] == "rich" and report["augment"] == 1
    assert report["test"]["accuracy"] >= 0.8
    assert load_classifier(tmp_path / "model").feature_set == "rich"
