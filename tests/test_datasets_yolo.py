"""YOLO-pose labels: loading (pixel conversion from the image header) and writing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from posekit.datasets import LoadReport, Person, Sample, load_dataset, load_yolo, write_yolo
from posekit.errors import PosekitError
from posekit.skeletons import COCO17


def _dataset(tmp_path, line: str):
    for d in ("images/train", "labels/train", "images/val"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (200, 100)).save(tmp_path / "images/train/a.jpg")
    Image.new("RGB", (10, 10)).save(tmp_path / "images/val/bg.png")
    (tmp_path / "labels/train/a.txt").write_text(line)
    (tmp_path / "labels/train/orphan.txt").write_text(line)


def _line(v_last: int = 2) -> str:
    kps = []
    for j in range(17):
        kps += [0.1 + 0.01 * j, 0.5, 2] if j < 16 else [0.9, 0.8, v_last]
    return "0 0.5 0.5 0.2 0.4 " + " ".join(str(v) for v in kps) + "\n"


def test_load_yolo(tmp_path):
    _dataset(tmp_path, _line(0) + _line(1))
    report = LoadReport()
    samples = load_yolo(tmp_path, report=report)
    assert [(s.image_path.name, s.split, s.width, s.height) for s in samples] == [
        ("a.jpg", "train", 200, 100), ("bg.png", "val", 10, 10)]
    a, b = samples[0].persons
    assert a.box.tolist() == pytest.approx([80.0, 30.0, 120.0, 70.0])
    assert a.keypoints[2].tolist() == pytest.approx([24.0, 50.0])
    assert a.visibility[16] == 0 and a.keypoints[16].tolist() == [0.0, 0.0]
    assert b.visibility[16] == 1 and b.keypoints[16].tolist() == pytest.approx([180.0, 80.0])
    assert samples[1].persons == []
    assert report.counts == {"missing image file": 1, "image without label file": 1}


def test_bad_lines(tmp_path):
    _dataset(tmp_path, "0 0.5 0.5 0.2 0.4 0.1 0.2 2\n")
    with pytest.raises(PosekitError, match=r"a.txt: line 1: 8 values, need 5 \+ 17 x 3"):
        load_yolo(tmp_path)
    _dataset(tmp_path, _line().replace("0.9", "nan"))
    with pytest.raises(PosekitError, match=r"a.txt: line 1: NaN"):
        load_yolo(tmp_path)
    with pytest.raises(PosekitError, match="no labels/ folder"):
        load_yolo(tmp_path / "images")


def test_write_yolo_round_trip(tmp_path):
    kp = np.zeros((17, 2), np.float32)
    vis = np.zeros(17, np.int8)
    kp[0], vis[0] = (50.0, 25.0), 2
    kp[5], vis[5] = (150.0, 75.0), 1
    s = Sample(tmp_path / "src" / "pic.jpg", 200, 100, COCO17,
               [Person(kp, vis), Person(kp, vis, iscrowd=True)], split="val")
    report = LoadReport(strict=False)
    assert write_yolo([s, Sample(None, 0, 0, COCO17, [], image_id=3)], tmp_path / "out", report=report) == 1
    assert report.counts == {"crowd person": 1, "no image size": 1}
    text = (tmp_path / "out/labels/val/pic.txt").read_text()
    vals = [float(v) for v in text.split()]
    assert vals[:5] == [0, 0.5, 0.5, 0.5, 0.5]  # box from the keypoints' bounds 50..150 x 25..75
    assert vals[5:8] == [0.25, 0.25, 2] and vals[20:23] == [0.75, 0.75, 1] and vals[8:11] == [0, 0, 0]
    (tmp_path / "out/images/val").mkdir(parents=True)
    Image.new("RGB", (200, 100)).save(tmp_path / "out/images/val/pic.jpg")
    (back,) = load_yolo(tmp_path / "out")
    assert back.persons[0].keypoints[[0, 5]].tolist() == [[50.0, 25.0], [150.0, 75.0]]
    assert back.persons[0].visibility.tolist() == vis.tolist()


def test_real_coco8(shared_data):
    samples = load_dataset(f"yolo:{shared_data / 'coco8-pose'}")
    assert len(samples) == 8 and sum(len(s.persons) for s in samples) == 21
    s = samples[0]
    assert (s.image_path.name, s.width, s.height, s.split) == ("000000000036.jpg", 481, 640, "train")
    # first line: 0 0.671279 0.617945 0.645759 0.726859, nose 0.519751 0.381250 2
    p = s.persons[0]
    np.testing.assert_allclose(p.keypoints[0], [0.519751 * 481, 0.381250 * 640], rtol=1e-6)
    np.testing.assert_allclose(p.box[:2], [(0.671279 - 0.645759 / 2) * 481, (0.617945 - 0.726859 / 2) * 640],
                               rtol=1e-6)
    assert p.visibility.tolist() == [2] * 13 + [0] * 4
