"""``posekit eval coco|mpii|lsp`` as real subprocesses on files the tests write."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
from test_oks import generated_set, perturbed_detections, reference
from test_pck import mpii_case, write_gt_valid

from posekit.metrics.oks import SUMMARY_KEYS
from posekit.skeletons import LSP14


def posekit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posekit", "eval", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_coco_json_equals_pycocotools_in_percent(tmp_path) -> None:
    gt, dets = generated_set(1)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    out = posekit("coco", "--gt", tmp_path / "gt.json", "--dt", tmp_path / "dt.json", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert list(got) == list(SUMMARY_KEYS)
    ref, _ = reference(gt, dets)
    np.testing.assert_allclose([got[k] for k in SUMMARY_KEYS], ref.stats * 100, atol=1e-4)


def test_coco_table_on_real_file_is_pycocotools_summary(shared_data, tmp_path) -> None:
    gt_path = shared_data / "mmpose-tests/coco/test_coco.json"
    gt = json.loads(gt_path.read_text())
    dets = perturbed_detections(gt, 7)
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    out = posekit("coco", "--gt", gt_path, "--dt", tmp_path / "dt.json")
    assert out.returncode == 0, out.stderr
    _, printed = reference(gt, dets)
    assert out.stdout.splitlines() == [ln for ln in printed.splitlines() if ln.startswith(" Average")]


@pytest.mark.parametrize("change, message", [
    ({"image_id": 999}, "result #1 names image_id 999, which is not in the ground truth"),
    ({"keypoints": [1.0, 2.0, 1.0] * 16}, "result #1: 'keypoints' must hold 17"),
    ({"keypoints": [1.0, 2.0, 1.0] * 16 + [float("nan"), 1.0, 1.0]},
     "result #1: 'keypoints' holds a non-numeric, NaN"),
])
def test_coco_bad_results_exit_2_with_one_line(tmp_path, change: dict, message: str) -> None:
    gt, _ = generated_set(0, n_images=2)
    good = {"image_id": 7, "category_id": 1, "keypoints": [5.0, 5.0, 1.0] * 17, "score": 0.3}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps([good, dict(good, **change)]))
    out = posekit("coco", "--gt", tmp_path / "gt.json", "--dt", tmp_path / "dt.json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1
    assert out.stderr.startswith(f"posekit: error: {tmp_path / 'dt.json'}: {message}")


def test_coco_malformed_json(tmp_path) -> None:
    (tmp_path / "gt.json").write_text("{\"images\": [")
    (tmp_path / "dt.json").write_text("[]")
    out = posekit("coco", "--gt", tmp_path / "gt.json", "--dt", tmp_path / "dt.json")
    assert out.returncode == 2
    assert out.stderr.startswith(f"posekit: error: {tmp_path / 'gt.json'}: not valid JSON")


def test_mpii_json_and_table(tmp_path) -> None:
    pred, gt, heads, visible = mpii_case()
    write_gt_valid(tmp_path / "gt_valid.mat", gt, heads, ~visible)
    (tmp_path / "preds.json").write_text(json.dumps((pred - 1).tolist()))  # 0-based JSON
    out = posekit("mpii", "--gt", tmp_path / "gt_valid.mat", "--preds", tmp_path / "preds.json", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["pckh@0.5"]["mean"] == pytest.approx(2300 / 31)
    assert got["pckh@0.5"]["mean_without_pelvis_thorax"] == pytest.approx(2000 / 27)
    assert got["pckh@0.5"]["shoulder"] == pytest.approx(75.0) and got["pckh@0.5"]["head"] == 0.0
    assert got["pckh@0.1"]["mean_without_pelvis_thorax"] == pytest.approx(1300 / 27)
    assert got["auc"] == pytest.approx(100 * (50 * 13 / 27 + 20 / 27) / 51)
    table = posekit("mpii", "--gt", tmp_path / "gt_valid.mat", "--preds", tmp_path / "preds.json")
    rows = table.stdout.splitlines()
    assert rows[0].split() == ["PCKh", "Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean",
                               "Mean*"]
    assert rows[1].split() == ["@0.5", "0.00"] + ["75.00"] * 6 + ["74.19", "74.07"]


def test_mpii_wrong_prediction_count(tmp_path) -> None:
    pred, gt, heads, visible = mpii_case()
    write_gt_valid(tmp_path / "gt_valid.mat", gt, heads, ~visible)
    scipy.io.savemat(tmp_path / "preds.mat", {"preds": pred[:1]})
    out = posekit("mpii", "--gt", tmp_path / "gt_valid.mat", "--preds", tmp_path / "preds.mat")
    assert out.returncode == 2
    assert "preds.mat: 1 predictions but" in out.stderr and "has 2 people" in out.stderr


def test_lsp_json(tmp_path) -> None:
    gt = np.zeros((2, 14, 2))
    gt[:, :, 0] = np.arange(14) * 7.0
    gt[:, LSP14.index("right_shoulder")] = [100.0, 100.0]
    gt[:, LSP14.index("left_hip")] = [130.0, 140.0]  # torso 50 px
    joints = np.concatenate([gt, np.ones((2, 14, 1))], 2).transpose(2, 1, 0)  # LSP 3 x 14 x N
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": joints})
    pred = gt - 1.0  # to 0-based
    pred[0, :, 1] += 9.0   # 9 px: a hit at alpha 0.2 (10 px), a miss at 0.1 (5 px)
    pred[1, :, 1] += 11.0  # a miss
    (tmp_path / "p.json").write_text(json.dumps({"preds": pred.tolist()}))
    for alpha, expected in (("0.2", 50.0), ("0.1", 0.0)):
        out = posekit("lsp", "--gt", tmp_path / "joints.mat", "--preds", tmp_path / "p.json",
                      "--alpha", alpha, "--json")
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)[f"pck@{alpha}"]
        assert set(got) == {"head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "mean"}
        assert all(v == pytest.approx(expected) for v in got.values())
