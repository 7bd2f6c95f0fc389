"""`posekit eval run`: a real model over a small generated LSP-Extended dataset whose answers are known.

The ground truth is the model's own prediction on the photo (mapped to LSP-14), so every available joint is
exactly right, except the joints we move by a known amount: the expected PCK follows exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from PIL import Image as PILImage

import posekit
from posekit.cli import main
from posekit.skeletons import COCO17, LSP14, convert_keypoints

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def lspet_dir(tmp_path_factory, model_package):
    data = pytest.importorskip("skimage.data")
    rgb = data.astronaut()
    root = tmp_path_factory.mktemp("lspet")
    (root / "images").mkdir()
    for i in (1, 2):
        PILImage.fromarray(rgb).save(root / "images" / f"im{i:05d}.jpg", quality=95)
    poses = posekit.load_model("movenet-thunder").predict(rgb)
    xy, _, avail = convert_keypoints(poses.xy[0], poses.scores[0], COCO17, LSP14)
    joints = np.zeros((14, 3, 2))
    for n in range(2):
        joints[:, :2, n] = xy
        joints[:, 2, n] = avail  # LSPET: third column = visible; neck and head top unlabelled
    # Image 2: both wrists 10 torso sizes away: they must miss, everything else must hit.
    torso = np.linalg.norm(xy[LSP14.index("right_shoulder")] - xy[LSP14.index("left_hip")])
    for name in ("left_wrist", "right_wrist"):
        joints[LSP14.index(name), 0, 1] += 10 * torso
    scipy.io.savemat(root / "joints.mat", {"joints": joints})
    return root


def test_eval_run_pck_is_exact(lspet_dir, capsys, tmp_path):
    curve = tmp_path / "curve.png"
    code = main(["eval", "run", "--model", "movenet-thunder", "--dataset", f"lspet:{lspet_dir}", "--json",
                 "--curve", str(curve)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 2 and out["persons"] == 2
    assert out["unavailable_joints"] == ["neck", "head_top"]
    pck = out["pck@0.2"]
    # JPEG re-encoding moves predictions by a pixel or two at most: far inside 0.2 torso.
    assert pck["wrist"] == 50.0  # each wrist: hit in image 1, miss in image 2
    for part in ("shoulder", "elbow", "hip", "knee"):
        assert pck[part] == 100.0, part
    assert pck["head"] is None  # no head joint from a COCO model: left out, not guessed
    assert pck["per_joint"]["left_wrist"] == 50.0 and pck["per_joint"]["neck"] is None
    assert PILImage.open(curve).size == (640, 420)


def test_eval_run_with_gt_boxes_matches_too(lspet_dir, capsys):
    code = main(["eval", "run", "--model", "movenet-thunder", "--dataset", f"lspet:{lspet_dir}", "--json",
                 "--gt-boxes", "--limit", "1"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 1 and out["gt_boxes"] is True
    # A crop sees the person at another scale: predictions move a little, still within 0.2 torso.
    assert out["pck@0.2"]["shoulder"] == 100.0 and out["pck@0.2"]["hip"] == 100.0


def test_eval_run_skip_takes_the_later_images(lspet_dir, capsys):
    code = main(["eval", "run", "--model", "movenet-thunder", "--dataset", f"lspet:{lspet_dir}", "--json",
                 "--skip", "1", "--quiet"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 1
    assert out["pck@0.2"]["wrist"] == 0.0 and out["pck@0.2"]["shoulder"] == 100.0  # image 2: wrists moved
