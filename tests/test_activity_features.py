"""Pose features: exact values on a hand-made pose, invariance, schema mapping, missing / NaN joints."""

from __future__ import annotations

import numpy as np
import pytest
from activity_fixtures import pose

from posekit.activity.features import FEATURE_NAMES, NUM_FEATURES, canonical_joints, pose_features
from posekit.errors import PosekitError
from posekit.skeletons import BLAZEPOSE33, COCO17, LSP14, MPII16


def feats(xy: np.ndarray, schema=MPII16, valid=None) -> dict[str, float]:
    valid = np.ones(xy.shape[:1], bool) if valid is None else valid
    return dict(zip(FEATURE_NAMES, pose_features(xy[None], valid[None], schema)[0], strict=True))


def test_t_pose_exact_values() -> None:
    f = feats(pose("arms out"))
    assert len(FEATURE_NAMES) == NUM_FEATURES == 76
    # centre mid-hips (0, 100), scale = torso length 100
    # head = mid(upper_neck, head_top) = (0, -40)
    assert f["x_head"] == pytest.approx(0.0) and f["y_head"] == pytest.approx(-1.4)
    assert (f["x_neck"], f["y_neck"]) == pytest.approx((0.0, -1.0))
    assert (f["x_left_wrist"], f["y_left_wrist"]) == pytest.approx((1.4, -1.0))
    assert (f["x_right_ankle"], f["y_right_ankle"]) == pytest.approx((-0.2, 2.0))
    assert f["angle_left_elbow"] == pytest.approx(np.pi) and f["angle_right_knee"] == pytest.approx(np.pi)
    assert f["angle_left_shoulder"] == pytest.approx(np.arccos(-20 / np.hypot(20, 100)))
    assert f["angle_right_hip"] == pytest.approx(np.arccos(-100 / np.hypot(20, 100)))
    assert (f["torso_cos"], f["torso_sin"]) == pytest.approx((0.0, -1.0))
    assert f["len_left_upper_arm"] == pytest.approx(0.5) and f["len_shoulder_width"] == pytest.approx(0.8)
    assert f["len_hip_width"] == pytest.approx(0.4) and f["len_head_neck"] == pytest.approx(0.4)
    assert f["sym_max_wrist_above_shoulder"] == pytest.approx(0.0)
    assert f["sym_min_ankle_below_hip"] == pytest.approx(2.0)
    assert f["scale_is_torso"] == 1.0
    assert sum(f[f"missing_{j}"] for j in ("head", "neck", "left_wrist", "right_ankle")) == 0.0
    up = feats(pose("arms up"))
    assert up["sym_min_wrist_above_shoulder"] == pytest.approx(1.0)
    assert up["angle_left_shoulder"] == pytest.approx(np.pi - np.arctan2(20, 100))


def test_invariant_to_translation_and_scale() -> None:
    rng = np.random.default_rng(1)
    for schema in (MPII16, COCO17, LSP14):
        xy = rng.uniform(0, 600, (300, schema.num_keypoints, 2))
        valid = rng.random((300, schema.num_keypoints)) > 0.25  # many fallbacks: missing hips / shoulders
        base = pose_features(xy, valid, schema)
        for factor, shift in ((3.7, (1500.0, -900.0)), (0.013, (-4.0, 2.5))):
            moved = pose_features(xy * factor + np.array(shift), valid, schema)
            np.testing.assert_allclose(moved, base, rtol=0, atol=1e-6)
        stretched = pose_features(xy * np.array([1.0, 2.0]), valid, schema)
        assert np.abs(stretched - base).max() > 0.1  # an anisotropic scale does change them


def test_coco_and_mpii_share_the_limb_features() -> None:
    mpii = pose("arms up")
    coco = np.zeros((17, 2))
    for j, name in enumerate(COCO17.keypoints):
        if name in MPII16.keypoints:
            coco[j] = mpii[MPII16.index(name)]
    coco[:5] = mpii[MPII16.index("upper_neck")] + np.array([0.0, -25.0])  # face points at the head centre
    a, b = feats(mpii), feats(coco, COCO17)
    assert a == pytest.approx(b, abs=1e-9)
    coco[0] += (0.0, 10.0)  # moving the nose moves only the head centre (mean of 5 face points)
    c = feats(coco, COCO17)
    assert c["y_head"] - a["y_head"] == pytest.approx(10.0 / 5 / 100)
    assert {k for k in a if abs(a[k] - c[k]) > 1e-12} == {"y_head", "len_head_neck"}


def test_blazepose_maps_like_coco() -> None:
    coco = pose("arms down")
    blaze = np.zeros((33, 2))
    for j, name in enumerate(BLAZEPOSE33.keypoints):
        src = name if name in MPII16.keypoints else "head_top"
        blaze[j] = coco[MPII16.index(src)]
    f = feats(blaze, BLAZEPOSE33)
    assert f["y_head"] == pytest.approx(-1.65)  # head at head_top (0, -65): (-65 - 100) / 100


def test_missing_and_nan_joints_are_masked() -> None:
    xy = pose("arms out")
    valid = np.ones(16, bool)
    valid[MPII16.index("left_wrist")] = False
    masked = feats(xy, valid=valid)
    with_nan = xy.copy()
    with_nan[MPII16.index("left_wrist")] = (np.nan, 3.0)
    assert feats(with_nan) == masked
    assert masked["missing_left_wrist"] == 1.0 and masked["x_left_wrist"] == 0.0
    assert masked["angle_left_elbow"] == 0.0 and masked["angle_right_elbow"] == pytest.approx(np.pi)
    # one side missing: min == max == the other side
    lo, hi = masked["sym_min_wrist_above_shoulder"], masked["sym_max_wrist_above_shoulder"]
    assert lo == hi == pytest.approx(0.0)
    # no hips: centre falls back to mid-shoulders and scale to the bounding-box diagonal
    no_hips = np.ones(16, bool)
    no_hips[[MPII16.index("left_hip"), MPII16.index("right_hip")]] = False
    f = feats(xy, valid=no_hips)
    assert f["scale_is_torso"] == 0.0 and f["y_neck"] == 0.0
    diag = np.hypot(280, 340)  # canonical joints span x -140..140 (wrists), y -40 (head centre)..300 (ankles)
    assert f["y_right_ankle"] == pytest.approx(300 / diag)
    nothing = pose_features(np.full((2, 16, 2), np.nan), np.ones((2, 16), bool), MPII16)
    assert np.isfinite(nothing).all() and nothing[:, FEATURE_NAMES.index("missing_head")].tolist() == [1, 1]


def test_canonical_joints_shapes_and_bad_schema() -> None:
    j = canonical_joints(np.zeros((3, 17, 2)), np.ones((3, 17), bool), COCO17)
    assert j.shape == (3, 14, 2)
    with pytest.raises(PosekitError, match=r"\(N, 16, 2\)"):
        canonical_joints(np.zeros((3, 17, 2)), np.ones((3, 17), bool), MPII16)
