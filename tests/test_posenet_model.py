"""PoseNet end to end: the real graph at several resolutions, real onnxruntime, the astronaut photo."""

from __future__ import annotations

import json

import numpy as np
import pytest

import posekit
from posekit.cli import main
from posekit.errors import PosekitError
from posekit.models.posenet import check_resolution

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def astronaut():
    return pytest.importorskip("skimage.data").astronaut()


@pytest.fixture(scope="module")
def posenet(model_package):
    return posekit.load_model("posenet")


def _part(poses, name, i=0):
    return poses.xy[i, poses.schema.index(name)]


@pytest.mark.parametrize("size, ok", [(385, True), (257, True), (17, True), (513, True), (384, False),
                                      (300, False), (10, False)])
def test_resolution_must_fit_the_stride(size, ok):
    if ok:
        assert check_resolution(size) == size
    else:
        with pytest.raises(PosekitError, match=r"\(size - 1\) divisible by 16"):
            check_resolution(size)


def test_resolution_error_names_the_neighbours():
    with pytest.raises(PosekitError, match="use 289 or 305"):
        check_resolution(300)
    with pytest.raises(PosekitError, match="output stride 16 only"):
        check_resolution(385, output_stride=8)


@pytest.mark.parametrize("name", ["posenet", "posenet-single"])
def test_finds_the_astronauts_face_and_shoulders(model_package, astronaut, name):
    # Nose near (222, 122) read off the photo; her right shoulder is on the image's left, both near y = 270.
    poses = posekit.load_model(name).predict(astronaut)
    assert len(poses) >= 1
    nose = _part(poses, "nose")
    assert abs(nose[0] - 222) < 15 and abs(nose[1] - 124) < 15, nose
    assert poses.scores[0, poses.schema.index("nose")] > 0.9
    ls, rs = _part(poses, "left_shoulder"), _part(poses, "right_shoulder")
    assert rs[0] < nose[0] - 60 and ls[0] > nose[0] + 60
    assert 200 < ls[1] < 320 and 200 < rs[1] < 320


@pytest.mark.parametrize("size, cells", [(257, 17), (353, 23), (513, 33)])
def test_other_resolutions_give_their_field_size_and_the_same_nose(model_package, astronaut, size, cells):
    model = posekit.load_model("posenet-single", resolution=size)
    tensor, lb = model.preprocess(astronaut)
    assert tensor.shape == (1, size, size, 3)
    fields = model.infer(tensor)
    assert fields["heatmap"].shape == (cells, cells, 17) and fields["offset"].shape == (cells, cells, 34)
    nose = _part(model.postprocess(fields, lb), "nose")
    assert abs(nose[0] - 222) < 15 and abs(nose[1] - 124) < 15, (size, nose)


def test_input_normalisation_is_minus1_to_1(posenet, astronaut):
    # Measured: -1..1 puts the nose on the nose; x * 2 - 1 on 0..255 saturates the input and the decoder
    # places nose and shoulders together far from the face (with a *higher* mean score: scores alone mislead).
    from posekit.decode.posenet import decode_single_pose

    tensor, lb = posenet.preprocess(astronaut)
    pixels = (tensor + 1.0) * 127.5
    noses = {}
    for label, x in (("minus1_1", pixels / 127.5 - 1.0), ("times2", pixels * 2.0 - 1.0)):
        f = posenet.infer(x.astype(np.float32))
        noses[label] = lb.to_image(decode_single_pose(f["heatmap"], f["offset"], 16).xy[0] + 0.5)
    assert np.hypot(*(noses["minus1_1"] - [222, 122])) < 15
    assert np.hypot(*(noses["times2"] - [222, 122])) > 40


def test_multipose_finds_both_astronauts(posenet, astronaut):
    pair = np.concatenate([astronaut, astronaut], axis=1)
    poses = posenet.predict(pair)
    good = poses.select(poses.pose_scores >= 0.3)
    assert len(good) == 2, poses.pose_scores
    noses = sorted(float(_part(good, "nose", i)[0]) for i in range(2))
    assert abs(noses[0] - 222) < 20 and abs(noses[1] - 734) < 20


def test_max_poses_and_nms_radius_are_applied(model_package, astronaut):
    pair = np.concatenate([astronaut, astronaut], axis=1)
    one = posekit.load_model("posenet", max_poses=1, min_score=0.0).predict(pair)
    assert len(one) == 1
    # A radius wider than the whole input lets the first person claim every later root: one person left.
    assert len(posekit.load_model("posenet", min_score=0.0).predict(pair)) >= 2
    assert len(posekit.load_model("posenet", nms_radius=1000.0, min_score=0.0).predict(pair)) == 1


def test_cli_flags(model_package, astronaut, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(astronaut).save(tmp_path / "astro.png")
    out = tmp_path / "out"
    assert main(["estimate", str(tmp_path / "astro.png"), "--model", "posenet", "--resolution", "257",
                 "--max-poses", "3", "--nms-radius", "30", "--min-part-score", "0.4", "--output-stride", "16",
                 "--out", str(out), "--no-render", "--quiet"]) == 0
    poses = json.loads((out / "astro.json").read_text())
    assert 1 <= len(poses) <= 3 and poses[0]["keypoints"][0]["part"] == "nose"
    assert main(["estimate", str(tmp_path / "astro.png"), "--model", "posenet", "--resolution", "300",
                 "--out", str(out), "--quiet"]) == 2
    assert "use 289 or 305" in capsys.readouterr().err
    assert main(["estimate", str(tmp_path / "astro.png"), "--model", "posenet", "--output-stride", "32",
                 "--out", str(out), "--quiet"]) == 2
    assert main(["estimate", str(tmp_path / "astro.png"), "--model", "movenet-thunder", "--nms-radius", "9",
                 "--out", str(out), "--quiet"]) == 2
    assert "movenet-thunder does not take --nms-radius" in capsys.readouterr().err
