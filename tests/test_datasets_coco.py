"""COCO keypoints JSON loader and as_coco writer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from posekit.datasets import LoadReport, as_coco, load_coco, load_dataset
from posekit.errors import PosekitError
from posekit.skeletons import COCO17, MPII16


def _kps(offset: float, labelled: int) -> list[float]:
    out = []
    for j in range(17):
        out += [offset + j, offset + 2 * j, 2] if j < labelled else [0, 0, 0]
    return out


def _coco(tmp_path, **over):
    data = {
        "images": [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 80},
                   {"id": 9, "file_name": "b.jpg", "width": 50, "height": 40},
                   {"id": 11, "file_name": "c.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "keypoints": _kps(10, 5), "num_keypoints": 5,
             "bbox": [5, 6, 20, 30], "area": 321.5, "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 1, "keypoints": _kps(0, 0), "num_keypoints": 3,
             "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 1},
            {"id": 3, "image_id": 9, "category_id": 2, "bbox": [0, 0, 1, 1]},
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints)},
                       {"id": 2, "name": "dog"}],
    }
    data.update(over)
    ann_dir = tmp_path / "annotations"
    ann_dir.mkdir(exist_ok=True)
    path = ann_dir / "person_keypoints_val2017.json"
    path.write_text(json.dumps(data))
    (tmp_path / "val2017").mkdir(exist_ok=True)
    Image.new("RGB", (100, 80)).save(tmp_path / "val2017" / "a.jpg")
    Image.new("RGB", (33, 22)).save(tmp_path / "val2017" / "c.jpg")
    return path, data


def test_load_coco(tmp_path):
    path, _ = _coco(tmp_path)
    report = LoadReport()
    samples = load_coco(path, report=report)
    assert [s.image_id for s in samples] == [7, 9, 11]
    assert samples[0].image_path == tmp_path / "val2017" / "a.jpg"  # the split-named sibling folder
    assert [(s.width, s.height) for s in samples] == [(100, 80), (50, 40), (33, 22)]  # c from its header
    assert [len(s.persons) for s in samples] == [2, 0, 0]
    p, crowd = samples[0].persons
    assert p.keypoints[4].tolist() == [14.0, 18.0] and p.keypoints[5].tolist() == [0.0, 0.0]
    assert p.visibility.tolist() == [2] * 5 + [0] * 12
    assert p.box.tolist() == [5.0, 6.0, 25.0, 36.0] and p.area == 321.5 and not p.iscrowd
    assert crowd.iscrowd and crowd.visibility.sum() == 0
    assert report.counts == {"num_keypoints mismatch": 1, "annotation of other category": 1,
                             "missing image file": 1}
    assert "annotations[1] (id 2): num_keypoints 3, counted 0" in report.examples["num_keypoints mismatch"][0]
    other = load_coco(path, images_dir=tmp_path)
    assert other[0].image_path == tmp_path / "a.jpg"


def test_as_coco_round_trip(tmp_path):
    path, _ = _coco(tmp_path)
    samples = load_coco(path)
    samples[0].persons[0].activity, samples[0].persons[0].category = "curling", "sports"
    samples[0].persons[0].head_box = np.array([1, 2, 3, 4], np.float32)
    data = as_coco(samples, root=tmp_path / "val2017")
    assert data["images"][0] == {"id": 7, "file_name": "a.jpg", "width": 100, "height": 80}
    ann = data["annotations"][0]
    assert ann["bbox"] == [5.0, 6.0, 20.0, 30.0] and ann["num_keypoints"] == 5
    assert ann["keypoints"][:6] == [10.0, 10.0, 2, 11.0, 12.0, 2] and ann["keypoints"][15:18] == [0.0, 0.0, 0]
    assert data["annotations"][1]["iscrowd"] == 1 and data["annotations"][1]["num_keypoints"] == 0
    assert data["categories"][0]["posekit_schema"] == "coco17"
    out = tmp_path / "val2017" / "out.json"
    out.write_text(json.dumps(data))
    again = load_coco(out)
    assert again[0].image_path == tmp_path / "val2017" / "a.jpg"
    q = again[0].persons[0]
    assert q.keypoints.tolist() == samples[0].persons[0].keypoints.tolist()
    assert (q.activity, q.category, q.head_box.tolist()) == ("curling", "sports", [1.0, 2.0, 3.0, 4.0])


def test_as_coco_other_schema_keeps_it(tmp_path):
    from posekit.datasets import Person, Sample

    kp = np.arange(32, dtype=np.float32).reshape(16, 2)
    s = Sample(tmp_path / "x.jpg", 10, 10, MPII16, [Person(kp, np.full(16, 2))], image_id="x.jpg")
    data = as_coco([s])
    assert data["images"][0]["id"] == 1 and data["annotations"][0]["bbox"] == [0.0, 1.0, 30.0, 30.0]
    out = tmp_path / "mpii_as_coco.json"
    out.write_text(json.dumps(data))
    (back,) = load_coco(out)
    assert back.schema is MPII16 and back.persons[0].keypoints.tolist() == kp.tolist()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"annotations": [{"id": 5, "image_id": 7, "keypoints": [1, 2, 2] * 16}]},
         r"annotations\[0\] \(id 5\): 48 keypoint values, schema needs 51"),
        ({"annotations": [{"id": 6, "image_id": 7, "keypoints": [float("nan"), 2, 2] * 17}]},
         r"annotations\[0\] \(id 6\): NaN"),
        ({"annotations": [{"id": 8, "image_id": 99, "keypoints": [1, 2, 2] * 17}]},
         r"annotations\[0\] \(id 8\): image_id 99 is not in 'images'"),
        ({"annotations": [{"id": 4, "image_id": 7, "keypoints": [1, 2, 3] * 17}]},
         r"annotations\[0\] \(id 4\): keypoint visibility must be 0, 1 or 2"),
        ({"images": {"id": 1}}, "not a COCO keypoints file"),
    ],
)
def test_bad_records(tmp_path, change, message):
    path, _ = _coco(tmp_path, **change)
    with pytest.raises(PosekitError, match=message):
        load_coco(path)


def test_bad_record_skipped_when_not_strict(tmp_path):
    anns = [{"id": 5, "image_id": 7, "keypoints": [1, 2, 2] * 16},
            {"id": 6, "image_id": 7, "keypoints": _kps(0, 2)}]
    path, _ = _coco(tmp_path, annotations=anns)
    report = LoadReport(strict=False)
    samples = load_coco(path, report=report)
    assert [p.extra["id"] for p in samples[0].persons] == [6]
    assert report.counts["skipped bad record"] == 1


def test_malformed_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [')
    with pytest.raises(PosekitError, match="broken.json: not valid JSON"):
        load_coco(path)
    with pytest.raises(PosekitError, match="does not exist"):
        load_dataset(f"coco:{tmp_path / 'nope.json'}")
    with pytest.raises(PosekitError, match="KIND:PATH"):
        load_dataset("pascal:x.json")
    with pytest.raises(PosekitError, match="a folder, not a JSON file; name the annotation file"):
        load_dataset(f"coco:{tmp_path}")


def test_real_coco(shared_data):
    report = LoadReport()
    samples = load_dataset(f"coco:{shared_data / 'mmpose-tests' / 'coco' / 'test_coco.json'}", report=report)
    assert len(samples) == 4 and sum(len(s.persons) for s in samples) == 14
    assert not report.counts  # images beside the JSON, num_keypoints consistent
    s = samples[0]
    assert (s.image_id, s.width, s.height) == (785, 640, 425)
    p = s.persons[0]
    assert p.keypoints[0].tolist() == [367.0, 81.0] and p.keypoints[16].tolist() == [396.0, 341.0]
    np.testing.assert_allclose(p.box, [280.79, 44.73, 499.49, 391.41], rtol=1e-6)
