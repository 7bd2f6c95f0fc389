"""MPII loaders: the official .mat (irregular struct cases), HRNet JSON and the CSV export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

from posekit.datasets import LoadReport, load_dataset
from posekit.datasets.mpii import load_mpii_csv, load_mpii_json, load_mpii_mat
from posekit.errors import PosekitError

EMPTY = np.zeros((0, 0))


def _struct_array(records: list[dict]) -> np.ndarray:
    """A MATLAB 1xN struct array (what the MPII release uses for annolist, annorect, point)."""
    fields = sorted({k for r in records for k in r})
    arr = np.zeros((1, len(records)), dtype=[(f, "O") for f in fields])
    for i, r in enumerate(records):
        for f in fields:
            arr[0, i][f] = r.get(f, EMPTY)
    return arr


def _point(jid, x, y, vis):
    return {"id": jid, "x": x, "y": y, "is_visible": vis}


def _write_release(path, with_images_in=None):
    # image 1: two persons; is_visible as number, as str and empty
    rect_a = {"x1": 10.0, "y1": 20.0, "x2": 30.0, "y2": 45.0, "scale": 2.5,
              "objpos": {"x": 100.0, "y": 150.0},
              "annopoints": {"point": _struct_array([_point(0, 11.0, 12.0, 1), _point(9, 21.5, 22.5, "0"),
                                                      _point(15, 31.0, 32.0, EMPTY)])}}
    rect_b = {"x1": 50.0, "y1": 60.0, "x2": 70.0, "y2": 80.0, "scale": 1.5,
              "objpos": {"x": 60.0, "y": 90.0},
              "annopoints": {"point": _point(6, 41.0, 42.0, "1")}}  # a single point: not a list
    # image 2: a single person (annorect is one struct, not an array), its annopoints empty
    rect_c = {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0, "scale": 3.0, "objpos": {"x": 5.0, "y": 6.0},
              "annopoints": EMPTY}
    annolist = _struct_array([
        {"image": {"name": "a.jpg"}, "annorect": _struct_array([rect_a, rect_b])},
        {"image": {"name": "b.jpg"}, "annorect": rect_c},
        {"image": {"name": "c.jpg"}, "annorect": EMPTY},  # no person at all
    ])
    act = _struct_array([
        {"act_name": "curling", "cat_name": "sports", "act_id": 1},
        {"act_name": EMPTY, "cat_name": EMPTY, "act_id": -1},
        {"act_name": "yoga, Power", "cat_name": "conditioning exercise", "act_id": 7},
    ])
    single = np.empty((3, 1), dtype=object)
    single[0, 0], single[1, 0], single[2, 0] = np.array([[1], [2]]), 1.0, EMPTY
    release = {"annolist": annolist, "img_train": np.array([[1, 0, 1]]), "single_person": single, "act": act}
    scipy.io.savemat(path, {"RELEASE": release})


def test_mat_irregular_struct(tmp_path):
    mat = tmp_path / "mpii.mat"
    _write_release(mat)
    (tmp_path / "images").mkdir()
    Image.new("RGB", (64, 48)).save(tmp_path / "images" / "a.jpg")
    report = LoadReport()
    samples = load_mpii_mat(mat, report=report)
    assert [s.image_id for s in samples] == ["a.jpg", "b.jpg", "c.jpg"]
    assert [s.split for s in samples] == ["train", "test", "train"]
    assert (samples[0].width, samples[0].height, samples[1].width) == (64, 48, 0)
    assert [len(s.persons) for s in samples] == [2, 1, 0]
    a, b = samples[0].persons
    assert a.keypoints[0].tolist() == [11.0, 12.0] and a.keypoints[9].tolist() == [21.5, 22.5]
    assert a.keypoints[15].tolist() == [31.0, 32.0] and a.keypoints[1].tolist() == [0.0, 0.0]
    expected = np.zeros(16, np.int8)
    expected[[0, 9, 15]] = [2, 1, 2]  # 1 -> visible, '0' -> occluded, empty -> labelled (2)
    assert a.visibility.tolist() == expected.tolist()
    assert a.head_box.tolist() == [10.0, 20.0, 30.0, 45.0]
    assert a.center.tolist() == [100.0, 150.0] and a.scale == 2.5
    assert (a.activity, a.category, a.activity_id) == ("curling", "sports", 1)
    assert b.visibility.tolist() == [0] * 6 + [2] + [0] * 9 and b.keypoints[6].tolist() == [41.0, 42.0]
    c = samples[1].persons[0]
    assert c.visibility.sum() == 0 and c.head_box.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert (c.activity, c.category, c.activity_id) == (None, None, None)
    assert [s.extra["single_person"] for s in samples] == [[0, 1], [0], []]
    assert report.counts["is_visible empty"] == 1
    assert report.counts["person without annopoints"] == 1
    assert report.counts["missing image file"] == 2
    assert load_dataset(f"mpii:{mat}")[0].persons[0].keypoints[9].tolist() == [21.5, 22.5]


def test_mat_single_image_and_bad_files(tmp_path):
    mat = tmp_path / "one.mat"
    rect = {"annopoints": {"point": _point(3, 5.0, 6.0, 1)}}
    scipy.io.savemat(mat, {"RELEASE": {"annolist": {"image": {"name": "x.jpg"}, "annorect": rect},
                                       "img_train": 1}})
    (s,) = load_mpii_mat(mat)
    assert s.persons[0].keypoints[3].tolist() == [5.0, 6.0] and s.split == "train"
    assert s.persons[0].head_box is None and s.persons[0].center is None

    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file garbage" * 3)
    with pytest.raises(PosekitError, match="bad.mat"):
        load_mpii_mat(bad)
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"joints": np.zeros((3, 14, 2))})
    with pytest.raises(PosekitError, match="no RELEASE.annolist"):
        load_mpii_mat(other)
    nan = tmp_path / "nan.mat"
    rect = {"annopoints": {"point": _point(3, float("nan"), 6.0, 1)}}
    annolist = _struct_array([{"image": {"name": "x.jpg"}, "annorect": rect}])
    scipy.io.savemat(nan, {"RELEASE": {"annolist": annolist}})
    with pytest.raises(PosekitError, match=r"nan.mat: annolist\(1\).annorect\(1\): NaN"):
        load_mpii_mat(nan)
    report = LoadReport(strict=False)
    assert load_mpii_mat(nan, report=report)[0].persons == []
    assert report.counts["skipped bad record"] == 1


def test_hrnet_json(tmp_path):
    joints = [[float(i), float(i + 100)] for i in range(16)]
    vis = [1] * 16
    vis[4] = 0
    recs = [
        {"image": "p.jpg", "center": [50.0, 60.0], "scale": 1.25, "joints": joints, "joints_vis": vis},
        {"image": "p.jpg", "center": [10.0, 20.0], "scale": 0.5, "joints": joints, "joints_vis": [1] * 16},
        {"image": "q.jpg", "center": [1.0, 2.0], "scale": 2.0, "joints": joints, "joints_vis": [1] * 16},
    ]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(recs))
    Image.new("RGB", (40, 30)).save(tmp_path / "p.jpg")
    report = LoadReport()
    samples = load_mpii_json(path, report=report)
    assert [(s.image_id, len(s.persons), s.width, s.height) for s in samples] == [("p.jpg", 2, 40, 30),
                                                                                  ("q.jpg", 1, 0, 0)]
    p = samples[0].persons[0]
    assert p.keypoints[3].tolist() == [3.0, 103.0] and p.keypoints[4].tolist() == [0.0, 0.0]
    assert p.visibility[4] == 0 and p.visibility[5] == 2
    assert p.center.tolist() == [50.0, 60.0] and p.scale == 1.25
    assert report.counts["missing image file"] == 1

    recs[2]["joints"] = joints[:15]
    path.write_text(json.dumps(recs))
    with pytest.raises(PosekitError, match=r"train.json: record 2 \(q.jpg\): joints \(15, 2\)"):
        load_mpii_json(path)
    path.write_text("[{")
    with pytest.raises(PosekitError, match="train.json: not valid JSON"):
        load_mpii_json(path)


def _csv_header():
    joints = ["r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax", "upper neck",
              "head top", "r wrist", "r elbow", "r shoulder", "l shoulder", "l elbow", "l wrist"]
    return ["ID", "NAME"] + [f"{j}_{a}" for j in joints for a in "XY"] + ["Scale", "Activity", "Category"]


def test_csv(tmp_path):
    xy = [str(v) for i in range(16) for v in (10 + i, 200 + i)]
    xy2 = list(xy)
    xy2[0:2] = ["-1", "-1"]
    rows = [["1", "a.jpg", *xy, "3.5", "curling", "sports"], ["2", "b.jpg", *xy2, "2.0", "NA", "NA"]]
    path = tmp_path / "mpii.csv"
    path.write_text("\n".join(",".join(r) for r in [_csv_header(), *rows]) + "\n")
    report = LoadReport()
    a, b = load_mpii_csv(path, report=report)
    assert a.persons[0].keypoints[9].tolist() == [19.0, 209.0] and a.persons[0].scale == 3.5
    assert (a.persons[0].activity, a.persons[0].category) == ("curling", "sports")
    assert b.persons[0].visibility[0] == 0 and b.persons[0].keypoints[0].tolist() == [0.0, 0.0]
    assert b.persons[0].category == "NA" and int(b.persons[0].visibility.sum()) == 30
    assert report.counts["missing joint (-1)"] == 1 and report.counts["missing image file"] == 2

    rows[1][5] = "nan"
    path.write_text("\n".join(",".join(r) for r in [_csv_header(), *rows]) + "\n")
    with pytest.raises(PosekitError, match="mpii.csv: row ID 2: NaN"):
        load_mpii_csv(path)
    path.write_text("ID,NAME,foo\n1,a.jpg,3\n")
    with pytest.raises(PosekitError, match="not the MPII CSV export"):
        load_mpii_csv(path)


def test_real_csv(shared_data):
    path = shared_data / "mpii-activity" / "mpii_human_pose.csv"
    report = LoadReport()
    samples = load_dataset(f"mpii-csv:{path}", report=report)
    assert len(samples) == 17372 and sum(len(s.persons) for s in samples) == 17372
    # ID 1, 015601864.jpg: r ankle 620,394; head top 695.9799,108.1817; scale 3.021046176; curling/sports
    p = samples[0].persons[0]
    assert samples[0].image_id == "015601864.jpg"
    assert p.keypoints[0].tolist() == [620.0, 394.0]
    np.testing.assert_allclose(p.keypoints[9], [695.9799, 108.1817], rtol=1e-6)
    assert p.scale == pytest.approx(3.021046176) and (p.activity, p.category) == ("curling", "sports")
    # ID 2 has r ankle, r knee, l knee, l ankle at -1
    assert samples[1].persons[0].visibility.tolist()[:6] == [0, 0, 2, 2, 0, 0]
    assert sum(1 for s in samples if s.persons[0].category == "NA") == 41


def test_real_hrnet_json(shared_data):
    samples = load_dataset(f"mpii:{shared_data / 'mmpose-tests' / 'mpii' / 'test_mpii.json'}")
    assert len(samples) == 5
    s = samples[0]
    assert (s.image_id, s.width, s.height) == ("005808361.jpg", 1280, 720)
    p = s.persons[0]
    assert p.keypoints[0].tolist() == [804.0, 711.0] and p.center.tolist() == [966.0, 340.0]
    assert p.scale == pytest.approx(4.718488)
