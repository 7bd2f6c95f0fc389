"""LSP (3 x 14 x N, occluded) and LSPET (14 x 3 x N, visible) loaders."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from PIL import Image

from posekit.datasets import LoadReport, load_dataset, load_lsp
from posekit.errors import PosekitError


def _joints(n: int) -> np.ndarray:
    """(N, 14, 3): x = 10 i + j, y = 100 + j, flag = 1 on joint 3 only."""
    arr = np.zeros((n, 14, 3))
    for i in range(n):
        arr[i, :, 0] = 10 * i + np.arange(14)
        arr[i, :, 1] = 100 + np.arange(14)
        arr[i, 3, 2] = 1
    return arr


def test_lsp_occluded_row(tmp_path):
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": _joints(2).transpose(2, 1, 0)})  # 3 x 14 x N
    (tmp_path / "images").mkdir()
    Image.new("RGB", (120, 90)).save(tmp_path / "images" / "im0002.jpg")
    report = LoadReport()
    samples = load_lsp(tmp_path, "lsp", report=report)
    assert [s.image_path.name for s in samples] == ["im0001.jpg", "im0002.jpg"]
    assert [(s.width, s.height) for s in samples] == [(0, 0), (120, 90)]
    p = samples[1].persons[0]
    assert p.keypoints[5].tolist() == [15.0, 105.0]
    assert p.visibility.tolist() == [2, 2, 2, 1] + [2] * 10  # occluded=1 -> labelled occluded
    assert report.counts == {"missing image file": 1}
    assert [s.split for s in samples] == ["train", "train"]


def test_lspet_visible_column(tmp_path):
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": _joints(3).transpose(1, 2, 0)})  # 14 x 3 x N
    report = LoadReport()
    samples = load_dataset(f"lspet:{tmp_path / 'joints.mat'}", report=report)
    assert [s.image_path.name for s in samples] == ["im00001.jpg", "im00002.jpg", "im00003.jpg"]
    p = samples[2].persons[0]
    assert p.visibility.tolist() == [0, 0, 0, 2] + [0] * 10  # visible=0 -> not labelled
    assert p.keypoints[3].tolist() == [23.0, 103.0] and p.keypoints[4].tolist() == [0.0, 0.0]
    assert report.counts["joint not visible (unlabelled)"] == 39


def test_layout_kind_mismatch_and_bad_values(tmp_path):
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": _joints(2).transpose(1, 2, 0)})
    with pytest.raises(PosekitError, match="the LSPET layout, not LSP; load it as lspet:"):
        load_lsp(tmp_path, "lsp")
    assert len(load_lsp(tmp_path)) == 2  # inferred from the shape
    bad = _joints(2)
    bad[1, 0, 2] = 0.5
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": bad.transpose(1, 2, 0)})
    with pytest.raises(PosekitError, match=r"joints.mat: image 2: third channel must be 0 or 1"):
        load_lsp(tmp_path, "lspet")
    bad[1, 0, 2], bad[0, 5, 0] = 1, np.nan
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": bad.transpose(1, 2, 0)})
    with pytest.raises(PosekitError, match=r"joints.mat: image 1: NaN"):
        load_lsp(tmp_path, "lspet")
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": np.zeros((14, 2, 5))})
    with pytest.raises(PosekitError, match=r"need 3x14xN \(LSP\) or 14x3xN \(LSPET\)"):
        load_lsp(tmp_path)


@pytest.mark.slow
def test_real_lspet(shared_data):
    samples = load_dataset(f"lspet:{shared_data / 'lspet-train'}")
    assert len(samples) == 9000
    s = samples[0]
    assert s.image_path.name == "im00001.jpg" and (s.width, s.height) == (157, 105)
    p = s.persons[0]
    # joints(:, :, 1) read by hand: right ankle (0, -26.11, visible 0), right knee (26.03, 86.41, 1),
    # head top (116.57, 53.42, 1)
    assert p.visibility.tolist() == [0] + [2] * 13
    assert p.keypoints[0].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(p.keypoints[1], [26.03094352, 86.41022512], rtol=1e-6)
    np.testing.assert_allclose(p.keypoints[13], [116.56859752, 53.42206246], rtol=1e-6)
    # image 3: right wrist, elbow and shoulder are not visible
    assert samples[2].persons[0].visibility.tolist() == [2] * 6 + [0] * 3 + [2] * 5
