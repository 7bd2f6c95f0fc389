"""Top-down mode: crop geometry by hand, then real detectors + single-person models on two astronauts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from posekit.cli import main
from posekit.errors import PosekitError
from posekit.models.topdown import crop_box, load_topdown


def test_crop_box_enlarges_pads_and_reports_its_origin():
    rgb = np.arange(20 * 30 * 3, dtype=np.uint32).reshape(20, 30, 3).astype(np.uint8)
    crop, (x0, y0) = crop_box(rgb, np.array([-4.0, 2.0, 6.0, 12.0]), margin=0.2)
    # 10 x 10 box centred (1, 7), enlarged to 12 x 12: x -5..7, y 1..13; x < 0 is padding.
    assert (x0, y0) == (-5, 1) and crop.shape == (12, 12, 3)
    np.testing.assert_array_equal(crop[:, :5], 0)
    np.testing.assert_array_equal(crop[:, 5:], rgb[1:13, 0:7])


@pytest.fixture(scope="module")
def pair():
    a = pytest.importorskip("skimage.data").astronaut()
    return np.concatenate([a, a], axis=1)


@pytest.mark.network
@pytest.mark.parametrize("single", ["movenet-thunder", "blazepose-lite"])
def test_two_astronauts_give_two_people(model_package, pair, single):
    poses = load_topdown(single, "movenet-multipose").predict(pair)
    assert len(poses) == 2 and poses.boxes.shape == (2, 4)
    noses = sorted(float(poses.xy[i, poses.schema.index("nose"), 0]) for i in range(2))
    assert abs(noses[0] - 222) < 20 and abs(noses[1] - 734) < 20
    for i in range(2):  # each pose inside its own detector box
        nose = poses.xy[i, poses.schema.index("nose")]
        x1, y1, x2, y2 = poses.boxes[i]
        assert x1 <= nose[0] <= x2 and y1 <= nose[1] <= y2


@pytest.mark.network
def test_refuses_multi_person_single_and_unknown_detector(model_package):
    with pytest.raises(PosekitError, match="needs a single-person model"):
        load_topdown("posenet")
    with pytest.raises(PosekitError, match="--detector yolo"):
        load_topdown("movenet-thunder", "yolo")


@pytest.mark.network
def test_cli_topdown_efficientpose_coco(model_package, pair, tmp_path):
    PILImage.fromarray(pair).save(tmp_path / "000000000005.png")
    out = tmp_path / "out"
    assert main(["estimate", str(tmp_path / "000000000005.png"), "--mode", "topdown", "--model",
                 "movenet-thunder", "--margin", "0.3", "--format", "coco", "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 2 and all(r["image_id"] == 5 and len(r["bbox"]) == 4 for r in results)
    assert main(["estimate", str(tmp_path / "000000000005.png"), "--mode", "topdown", "--model",
                 "efficientpose", "--min-score", "0", "--format", "coco", "--out", str(out), "--no-render",
                 "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    # MPII-16 -> COCO-17: no face joints, written as 0, 0, 0; the shoulders are there.
    assert len(results) == 2 and all(r["keypoints"][:15] == [0.0] * 15 for r in results)
    assert all(r["keypoints"][17] > 0 for r in results)


@pytest.mark.network
def test_no_person_falls_back_to_the_whole_image(model_package):
    """A blank image: the detector finds nobody; the one-person model runs on the whole image and its pose
    comes back with the image as its box and the model's own (low) pose score, even under min_score."""
    from posekit.models.topdown import TopDown

    blank = np.full((240, 320, 3), 128, np.uint8)
    td = load_topdown("movenet-thunder", "nanodet", min_score=0.9)
    poses = td.predict(blank)
    found, used = td.last
    assert len(found) == 0 and used
    assert len(poses) == 1 and poses.boxes.tolist() == [[0, 0, 320, 240]]
    assert poses.pose_scores[0] == pytest.approx(float(poses.scores[0].mean()), abs=1e-6)
    assert poses.pose_scores[0] < 0.9
    off = TopDown(td.detector, td.single, fallback=False)
    assert len(off.predict(blank)) == 0 and off.last[1] is False


@pytest.mark.network
def test_cli_estimate_refuses_tta_on_a_multi_person_model(model_package, pair, tmp_path, capsys):
    PILImage.fromarray(pair).save(tmp_path / "p.png")
    code = main(["estimate", str(tmp_path / "p.png"), "--model", "movenet-multipose", "--tta", "flip",
                 "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "--tta flip: movenet-multipose finds several people" in err[0]


@pytest.mark.network
def test_cli_eval_run_topdown_with_tta(model_package, shared_data, capsys):
    coco = shared_data / "mmpose-tests" / "coco" / "test_coco.json"
    assert main(["eval", "run", "--model", "movenet-thunder", "--dataset", f"coco:{coco}", "--mode",
                 "topdown", "--detector", "nanodet", "--tta", "flip", "--json", "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["mode"], out["detector"], out["tta"], out["images"]) == ("topdown", "nanodet", "flip", 4)
    assert out["images_without_pose"] == 0 and out["AP"] > 40


@pytest.mark.network
def test_cli_estimate_reports_what_the_detector_dropped(model_package, tmp_path, capsys):
    """A blank image: nobody found, so one whole-image pose, and the one-line detector summary says so."""
    PILImage.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(tmp_path / "blank.png")
    assert main(["estimate", str(tmp_path / "blank.png"), "--mode", "topdown", "--min-score", "0.9",
                 "--out", str(tmp_path / "o"), "--no-render", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "1 image(s), 1 person(s)" in out
    assert "0 box(es) under the minimum size dropped, 0 over the cap dropped; 1 image(s) with nobody" in out
