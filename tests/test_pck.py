"""PCKh / PCK on hand-made cases with exact expected values, and the MPII / LSP .mat readers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from posekit.datasets.mpii_gt import load_lsp_joints, load_mpii_gt, load_mpii_preds
from posekit.errors import PosekitError
from posekit.metrics.pck import head_sizes, lsp_pck, mpii_report, pck_curve, pckh, torso_sizes
from posekit.skeletons import LSP14, MPII16

EPS = 1e-9


def mpii_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two people, head box diagonal 50 px so head size = 30 px.

    Person 0: even joints are off by 0.5 * 30 * (1 - EPS) (a hit at 0.5), odd joints by 0.5 * 30 * (1 + EPS)
    (a miss). Person 1: every joint exact, but head_top (9) is not labelled and far off.
    """
    gt = np.stack([np.c_[np.arange(16) * 10.0 + 100, np.full(16, 200.0)]] * 2)
    pred = gt.copy()
    off = np.where(np.arange(16) % 2 == 0, 15.0 * (1 - EPS), 15.0 * (1 + EPS))
    pred[0, :, 0] += off * 0.6  # split the offset over x and y: 0.6 and 0.8 of it (3-4-5)
    pred[0, :, 1] += off * 0.8
    pred[1, 9] += 500.0
    heads = np.array([[[10.0, 10.0], [40.0, 50.0]]] * 2)  # 30 x 40 box: diagonal 50
    visible = np.ones((2, 16), bool)
    visible[1, 9] = False
    return pred, gt, heads, visible


def test_head_size_is_point_six_of_the_box_diagonal() -> None:
    assert head_sizes(np.array([[[10.0, 10.0], [40.0, 50.0]]]))[0] == pytest.approx(30.0, abs=1e-12)


def test_pckh_table_hand_computed() -> None:
    pred, gt, heads, visible = mpii_case()
    t = pckh(pred, gt, heads, visible, 0.5)
    expected_joint = np.where(np.arange(16) % 2 == 0, 1.0, 0.5)
    expected_joint[9] = 0.0  # only person 0 counts for head_top, and it misses
    np.testing.assert_array_equal(t.per_joint, expected_joint)
    np.testing.assert_array_equal(t.counts, [2] * 9 + [1] + [2] * 6)
    assert t.groups == {"head": 0.0, "shoulder": 0.75, "elbow": 0.75, "wrist": 0.75, "hip": 0.75,
                        "knee": 0.75, "ankle": 0.75}
    assert t.mean == pytest.approx(23 / 31, abs=1e-15)
    assert t.mean_without_pelvis_thorax == pytest.approx(20 / 27, abs=1e-15)


def test_mpii_report_at_point_one_and_auc() -> None:
    pred, gt, heads, visible = mpii_case()
    r = mpii_report(pred, gt, heads, visible)
    assert r.pckh10.mean == pytest.approx(15 / 31, abs=1e-15)
    assert r.pckh10.mean_without_pelvis_thorax == pytest.approx(13 / 27, abs=1e-15)
    assert r.pckh10.groups["head"] == 0.0 and r.pckh10.groups["knee"] == 0.5
    # Person 0's hits appear only at alpha = 0.50, the last of the 51 steps.
    assert r.auc == pytest.approx((50 * 13 / 27 + 20 / 27) / 51, abs=1e-15)
    d = r.as_dict()
    assert d["pckh@0.5"]["mean_without_pelvis_thorax"] == pytest.approx(2000 / 27)
    assert set(d["pckh@0.1"]) == {"head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "mean",
                                  "mean_without_pelvis_thorax"}


def test_pck_curve_threshold_is_inclusive_and_nan_is_a_miss() -> None:
    dist = np.array([[0.2, np.nan, 0.2 + 1e-12]])
    curve = pck_curve(dist, np.ones((1, 3), bool), np.array([0.2]))
    np.testing.assert_array_equal(curve, [[1.0, 0.0, 0.0]])
    assert np.isnan(pck_curve(dist, np.zeros((1, 3), bool), np.array([0.2]))).all()


def test_lsp_pck_torso_normalised_hand_computed() -> None:
    gt = np.zeros((2, 14, 2))
    gt[:, :, 0] = np.arange(14) * 7.0
    gt[:, LSP14.index("right_shoulder")] = [100.0, 100.0]
    gt[:, LSP14.index("left_hip")] = [130.0, 140.0]  # torso 50 px: PCK@0.2 radius 10 px
    assert torso_sizes(gt)[0] == pytest.approx(50.0)
    pred = gt.copy()
    pred[0, :, 1] += 10.0 * (1 - EPS)   # person 0: all hits
    pred[1, :, 1] += 10.0 * (1 + EPS)   # person 1: all misses ...
    pred[1, LSP14.index("neck")] = gt[1, LSP14.index("neck")]  # ... except its neck
    visible = np.ones((2, 14), bool)
    visible[1, LSP14.index("left_ankle")] = False
    t = lsp_pck(pred, gt, visible, alpha=0.2)
    assert t.groups["head"] == pytest.approx(0.75)  # head_top 1/2, neck 2/2
    assert t.groups["ankle"] == pytest.approx(0.75)  # right 1/2, left 1/1
    assert t.groups["knee"] == pytest.approx(0.5)
    assert t.mean == pytest.approx(15 / 27)
    assert "mean_without_pelvis_thorax" not in t.as_dict()


def test_lsp_person_without_torso_joints_does_not_count() -> None:
    gt = np.random.default_rng(0).uniform(0, 100, (2, 14, 2))
    visible = np.ones((2, 14), bool)
    visible[1, LSP14.index("left_hip")] = False
    pred = gt.copy()
    pred[1] += 1000.0
    t = lsp_pck(pred, gt, visible, alpha=0.2)
    assert t.mean == 1.0 and t.counts.sum() == 14


# ------------------------------------------------------------------------------------------------- readers

def write_gt_valid(path, pos_gt, heads, missing) -> None:
    names = np.array(["rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor", "neck", "head",
                      "rwri", "relb", "rsho", "lsho", "lelb", "lwri"], dtype=object)
    scipy.io.savemat(path, {"pos_gt_src": pos_gt.transpose(1, 2, 0),
                            "headboxes_src": heads.transpose(1, 2, 0),
                            "jnt_missing": missing.T.astype(np.uint8), "dataset_joints": names[None]})


def test_mpii_gt_roundtrip_and_prediction_origins(tmp_path) -> None:
    pred, gt, heads, visible = mpii_case()
    write_gt_valid(tmp_path / "gt_valid.mat", gt, heads, ~visible)
    pos, hb, missing = load_mpii_gt(tmp_path / "gt_valid.mat")
    np.testing.assert_array_equal(pos, gt)
    np.testing.assert_array_equal(hb, heads)
    np.testing.assert_array_equal(missing, ~visible)
    assert MPII16.index("head_top") == 9
    # evalMPII's layout (1-based), HRNet's pred.mat (1-based) and JSON (0-based) give the same arrays.
    scipy.io.savemat(tmp_path / "a.mat", {"pos_pred_src": pred.transpose(1, 2, 0)})
    scipy.io.savemat(tmp_path / "b.mat", {"preds": pred})
    (tmp_path / "c.json").write_text(json.dumps({"preds": (pred - 1).tolist()}))
    (tmp_path / "d.json").write_text(json.dumps(np.concatenate([pred - 1, np.ones((2, 16, 1))], 2).tolist()))
    for name in ("a.mat", "b.mat", "c.json", "d.json"):
        np.testing.assert_allclose(load_mpii_preds(tmp_path / name), pred, atol=1e-12)
    np.testing.assert_allclose(load_mpii_preds(tmp_path / "c.json", index_base=1), pred - 1, atol=1e-12)


@pytest.mark.parametrize("content, message", [
    ("[[[1, 2]]]", "record 0 is not 16x2"),
    ('{"nothing": 1}', "expected a list of 16x2"),
    ("[1, 2", "not valid JSON"),
    (json.dumps([[[1.0, 2.0]] * 16, [[float("nan"), 1.0]] * 16]), "record 1 joint 0 is NaN"),
])
def test_bad_predictions_name_file_and_record(tmp_path, content: str, message: str) -> None:
    f = tmp_path / "preds.json"
    f.write_text(content)
    with pytest.raises(PosekitError, match=f"^{f}: {message}"):
        load_mpii_preds(f)


def test_bad_gt_mat(tmp_path) -> None:
    scipy.io.savemat(tmp_path / "x.mat", {"something": np.zeros(3)})
    with pytest.raises(PosekitError, match="no variable 'pos_gt_src'"):
        load_mpii_gt(tmp_path / "x.mat")
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(PosekitError, match="junk.mat: not a readable .mat file"):
        load_mpii_gt(tmp_path / "junk.mat")


def test_lsp_joints_both_layouts(tmp_path) -> None:
    rng = np.random.default_rng(1)
    gt = rng.uniform(0, 200, (5, 14, 2))
    flag = rng.integers(0, 2, (5, 14))
    lsp = np.concatenate([gt, flag[..., None]], 2).transpose(2, 1, 0)      # 3 x 14 x N
    lspet = np.concatenate([gt, flag[..., None]], 2).transpose(1, 2, 0)    # 14 x 3 x N
    scipy.io.savemat(tmp_path / "lsp.mat", {"joints": lsp})
    scipy.io.savemat(tmp_path / "lspet.mat", {"joints": lspet})
    g1, c1 = load_lsp_joints(tmp_path / "lsp.mat")
    g2, c2 = load_lsp_joints(tmp_path / "lspet.mat")
    np.testing.assert_array_equal(g1, gt)
    np.testing.assert_array_equal(g2, gt)
    assert c1.all()
    np.testing.assert_array_equal(c2, flag > 0)


def test_real_lspet_joints(shared_data) -> None:
    gt, count = load_lsp_joints(shared_data / "lspet-train" / "joints.mat")
    assert gt.shape == (9000, 14, 2) and count.shape == (9000, 14)
    assert lsp_pck(gt, gt, count).mean == 1.0


def port_style_pckh(pred, gt, heads, missing, threshold):
    """The HRNet / mmpose 0.x evaluation steps (1-based arrays in evalMPII's 16x2xN layout)."""
    pos_pred, pos_gt = pred.transpose(1, 2, 0), gt.transpose(1, 2, 0)
    hb = heads.transpose(1, 2, 0)
    jnt_visible = 1 - missing.T.astype(float)
    uv_err = np.linalg.norm(pos_pred - pos_gt, axis=1)
    headsizes = np.linalg.norm(hb[1] - hb[0], axis=0) * 0.6
    scaled = uv_err / (headsizes * np.ones((len(uv_err), 1))) * jnt_visible
    jnt_count = np.sum(jnt_visible, axis=1)
    per_joint = 100.0 * np.sum((scaled <= threshold) * jnt_visible, axis=1) / jnt_count
    masked = np.ma.array(per_joint, mask=False)
    masked.mask[6:8] = True
    count = np.ma.array(jnt_count, mask=False)
    count.mask[6:8] = True
    return per_joint, float(np.sum(masked * (count / np.sum(count).astype(np.float64))))


@pytest.mark.parametrize("seed", range(3))
def test_pckh_equals_the_python_port_steps_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    gt = rng.uniform(0, 500, (n, 16, 2))
    corner = rng.uniform(0, 400, (n, 1, 2))
    heads = np.concatenate([corner, corner + rng.uniform(20, 80, (n, 1, 2))], axis=1)
    pred = gt + rng.normal(0, 15, gt.shape)
    missing = rng.random((n, 16)) < 0.15
    for alpha in (0.5, 0.1):
        per_joint, mean = port_style_pckh(pred, gt, heads, missing, alpha)
        t = pckh(pred, gt, heads, ~missing, alpha)
        np.testing.assert_allclose(t.per_joint * 100, per_joint, atol=1e-9)
        assert t.mean_without_pelvis_thorax * 100 == pytest.approx(mean, abs=1e-9)
        assert t.groups["wrist"] * 100 == pytest.approx(0.5 * (per_joint[15] + per_joint[10]), abs=1e-9)
        assert t.groups["head"] * 100 == pytest.approx(per_joint[9], abs=1e-9)
