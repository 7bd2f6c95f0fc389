"""MoveNet end to end: real converted models, real onnxruntime sessions, real photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

import posekit
from posekit.cli import main
from posekit.errors import PosekitError
from posekit.preprocess import letterbox

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def astronaut():
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


def test_letterbox_maps_back_exactly():
    rgb = np.zeros((100, 300, 3), np.uint8)
    boxed, lb = letterbox(rgb, 192, 192, center=True)
    assert boxed.shape == (192, 192, 3)
    assert (lb.pad_x, lb.pad_y) == (0, 64)  # 300x100 -> 192x64, centred vertically
    corners = np.array([[0, 64], [192, 128]], np.float32)
    np.testing.assert_allclose(lb.to_image(corners), [[0, 0], [300, 100]], atol=1e-4)


@pytest.mark.parametrize("name", ["movenet-lightning", "movenet-thunder", "movenet-multipose"])
def test_finds_the_astronauts_face_and_shoulders(model_package, astronaut, name):
    # The astronaut (512x512) faces the camera: her nose is near x=222, y=122 (read off the photo) and her
    # shoulders near y=250.
    poses = posekit.load_model(name).predict(astronaut)
    assert len(poses) >= 1
    best = int(np.argmax(poses.pose_scores))
    xy, sc = poses.xy[best], poses.scores[best]
    names = poses.schema.keypoints
    nose = xy[names.index("nose")]
    assert sc[names.index("nose")] > 0.5
    assert abs(nose[0] - 222) < 20 and abs(nose[1] - 122) < 20, nose
    ls, rs = xy[names.index("left_shoulder")], xy[names.index("right_shoulder")]
    # image left/right: the person's right shoulder appears on the image's left
    assert rs[0] < nose[0] < ls[0]
    assert 180 < ls[1] < 320 and 180 < rs[1] < 320


def test_coordinates_follow_the_image_through_padding(model_package, astronaut):
    # The same photo pasted into a wider canvas at x offset 300: the keypoints move by exactly that much
    # (to within the model's own jitter from the different scale).
    model = posekit.load_model("movenet-thunder")
    base = model.predict(astronaut)
    canvas = np.zeros((512, 1112, 3), np.uint8)
    canvas[:, 300:812] = astronaut
    moved = model.predict(canvas)
    i = base.schema.index("nose")
    assert abs(moved.xy[0, i, 0] - (base.xy[0, i, 0] + 300)) < 12
    assert abs(moved.xy[0, i, 1] - base.xy[0, i, 1]) < 12


def test_multipose_finds_every_person(model_package, astronaut):
    # Two copies of the astronaut side by side: two people, boxes around each copy.
    pair = np.concatenate([astronaut, astronaut], axis=1)
    poses = posekit.load_model("movenet-multipose").predict(pair)
    assert len(poses) == 2
    centres = sorted(float((b[0] + b[2]) / 2) for b in poses.boxes)
    assert centres[0] < 512 < centres[1]


def test_unknown_model_lists_known_ones():
    with pytest.raises(PosekitError, match="movenet-lightning"):
        posekit.load_model("movenet-xl")


def test_cli_estimate_posenet_and_coco_formats(model_package, astronaut, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    PILImage.fromarray(astronaut).save(src / "000000000139.jpg", quality=95)
    PILImage.fromarray(astronaut).save(src / "astro.png")
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    code = main(["estimate", str(src), "--model", "movenet-lightning", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1  # the broken file fails the batch but not the others
    assert "broken.jpg: not a readable image" in err and "1 of 3 file(s) failed" in err
    poses = json.loads((out / "astro.json").read_text())
    assert len(poses) == 1 and len(poses[0]["keypoints"]) == 17
    kp = poses[0]["keypoints"][0]
    assert kp["part"] == "nose" and set(kp["position"]) == {"x", "y"} and 0 <= kp["score"] <= 1
    assert PILImage.open(out / "astro.png").size == (512, 512)

    code = main(["estimate", str(src / "000000000139.jpg"), str(src / "astro.png"), "--model",
                 "movenet-lightning", "--format", "coco", "--out", str(out), "--no-render", "--quiet"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["image_id"] for r in results] == [139, "astro"]
    assert all(len(r["keypoints"]) == 51 and r["category_id"] == 1 for r in results)


def test_coco_results_load_in_pycocotools(model_package, astronaut, tmp_path, capsys):
    from contextlib import redirect_stdout
    from io import StringIO

    from pycocotools.coco import COCO

    PILImage.fromarray(astronaut).save(tmp_path / "000000000007.jpg")
    assert main(["estimate", str(tmp_path / "000000000007.jpg"), "--format", "coco", "--out",
                 str(tmp_path / "o"), "--no-render", "--quiet"]) == 0
    gt = {"images": [{"id": 7, "width": 512, "height": 512, "file_name": "000000000007.jpg"}],
          "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    with redirect_stdout(StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        res = coco.loadRes(str(tmp_path / "o" / "results.json"))
    assert len(res.getAnnIds(imgIds=[7])) >= 1


@pytest.mark.parametrize("size, shape", [((1280, 720), (256, 160)), ((480, 640), (192, 256)),
                                         ((300, 300), (256, 256)), ((1000, 10), (256, 32))])
def test_multipose_input_follows_tfjs_longer_side_256_padded_to_32(model_package, size, shape):
    """TF.js runs MultiPose at the image's aspect ratio (longer side 256, the other padded up to a
    multiple of 32, padding right and bottom), not in a 256 x 256 square."""
    model = posekit.load_model("movenet-multipose")
    rgb = np.full((size[1], size[0], 3), 200, np.uint8)
    tensor, lb = model.preprocess(rgb)
    assert tensor.shape == (1, shape[1], shape[0], 3)
    assert (lb.pad_x, lb.pad_y) == (0, 0)
    assert lb.to_image(np.array([[0.0, 0.0]]))[0].tolist() == [0.0, 0.0]
    # the padding is black, right of and below the image
    h, w = round(size[1] * lb.scale), round(size[0] * lb.scale)
    assert (tensor[0, :h, :w] == 200).all() and (tensor[0, h:] == 0).all() and (tensor[0, :, w:] == 0).all()
    assert posekit.load_model("movenet-lightning").preprocess(rgb)[0].shape == (1, 192, 192, 3)
