"""`posekit data ...` run as a real subprocess on generated datasets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from posekit.skeletons import COCO17


def _posekit(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "posekit", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _kps(labelled: list[tuple[float, float]]) -> list[float]:
    out: list[float] = []
    for j in range(17):
        out += [*labelled[j], 2] if j < len(labelled) else [0, 0, 0]
    return out


@pytest.fixture()
def coco_json(tmp_path):
    """3 images (one missing on disk), 4 persons: one with a negative keypoint, one with none labelled."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 50} for i in (1, 2, 3)]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "num_keypoints": 2, "activity_category": "sports",
         "keypoints": _kps([(10, 10), (20, 40)])},
        {"id": 2, "image_id": 1, "category_id": 1, "num_keypoints": 3, "activity_category": "sports",
         "keypoints": _kps([(-1, 5), (30, 20), (40, 30)])},
        {"id": 3, "image_id": 2, "category_id": 1, "num_keypoints": 0, "activity_category": "dancing",
         "keypoints": _kps([])},
        {"id": 4, "image_id": 3, "category_id": 1, "num_keypoints": 1, "activity_category": "dancing",
         "keypoints": _kps([(50, 25)])},
    ]
    cats = [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints)}]
    path = tmp_path / "ds.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    for i in (1, 2):
        Image.new("RGB", (100, 50)).save(tmp_path / f"{i}.jpg")
    return path


def test_stats_json(coco_json):
    r = _posekit("data", "stats", f"coco:{coco_json}", "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert (st["images"], st["persons"], st["crowd_persons"]) == (3, 4, 0)
    assert st["keypoints_per_person"][:4] == [1, 1, 1, 1] and sum(st["keypoints_per_person"]) == 4
    assert st["visibility"] == {"0": 68 - 6, "1": 0, "2": 6}
    assert st["categories"] == {"dancing": 2, "sports": 1}
    assert st["load_report"]["counts"] == {"missing image file": 1}
    r = _posekit("data", "stats", f"coco:{coco_json}", "--require-images")
    assert r.returncode == 2 and "1 image files missing" in r.stderr


def test_clean_writes_coco(coco_json, tmp_path):
    out = tmp_path / "clean" / "cleaned.json"
    r = _posekit("data", "clean", f"coco:{coco_json}", "--out", str(out), "--json", "--report")
    assert r.returncode == 0, r.stderr
    rules = json.loads(r.stdout)["rules"]
    assert rules["input images"] == 3 and rules["negative keypoint"] == 1
    assert rules["person without labelled keypoints"] == 1 and rules["image without annotated person"] == 1
    assert rules["output images"] == 2 and rules["output persons"] == 3
    data = json.loads(out.read_text())
    assert [a["num_keypoints"] for a in data["annotations"]] == [2, 2, 1]
    # person 2 after cleaning: eyes (30, 20) and (40, 30) left; face present, no ankles -> bottom + 0.25 h
    assert data["annotations"][1]["bbox"] == pytest.approx([30.0, 20.0, 10.0, 10 * 1.25])
    assert data["images"][0]["file_name"].endswith("1.jpg")
    table = _posekit("data", "clean", f"coco:{coco_json}")
    assert table.returncode == 0
    assert "person without labelled keypoints  1" in table.stdout and "output images" in table.stdout
    assert list(tmp_path.glob("clean/.*tmp")) == []  # atomic write left no temp file


def test_split_and_convert(coco_json, tmp_path):
    r = _posekit("data", "split", f"coco:{coco_json}", "--seed", "0", "--fractions", "0.5", "0.5", "0",
                 "--out", str(tmp_path / "splits"))
    assert r.returncode == 0, r.stderr
    sizes = {n: len(json.loads((tmp_path / "splits" / f"{n}.json").read_text())["images"])
             for n in ("train", "val", "test")}
    # dancing (2) -> 1 train / 1 val; sports (1) ties 0.5/0.5 and the 2nd class's tie goes to val
    assert sizes == {"train": 1, "val": 2, "test": 0}
    assert "dancing" in r.stdout and "sports" in r.stdout
    _posekit("data", "split", f"coco:{coco_json}", "--seed", "0", "--fractions", "0.5", "0.5", "0",
                     "--out", str(tmp_path / "splits2"))
    assert (tmp_path / "splits2/train.json").read_text() == (tmp_path / "splits/train.json").read_text()

    r = _posekit("data", "convert", f"coco:{coco_json}", str(tmp_path / "yolo"), "--to", "yolo")
    assert r.returncode == 0, r.stderr
    line = (tmp_path / "yolo/labels/3.txt").read_text().split()
    assert [float(v) for v in line[:8]] == [0, 0.5, 0.5, 0, 0, 0.5, 0.5, 2]
    r = _posekit("data", "convert", f"coco:{coco_json}", str(tmp_path / "copy.json"))
    assert r.returncode == 0 and len(json.loads((tmp_path / "copy.json").read_text())["annotations"]) == 4


def test_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = _posekit("data", "stats", f"coco:{bad}")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "bad.json: not valid JSON" in r.stderr
    r = _posekit("data", "stats", "voc:x")
    assert r.returncode == 2 and "KIND:PATH" in r.stderr
