"""Cleaning rules: exact counts and exact coordinates on hand-made samples."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.datasets import Person, Sample
from posekit.datasets.cleaning import (
    boxes_from_keypoints,
    clean,
    clip_keypoints,
    drop_empty_images,
    drop_missing_category,
    drop_unlabelled_persons,
)
from posekit.skeletons import COCO17, MPII16

RA, HEAD, LA = MPII16.index("right_ankle"), MPII16.index("head_top"), MPII16.index("left_ankle")


def _person(points: dict[int, tuple[float, float]], category: str | None = "sports", k: int = 16) -> Person:
    kp = np.zeros((k, 2), np.float32)
    vis = np.zeros(k, np.int8)
    for j, xy in points.items():
        kp[j], vis[j] = xy, 2
    return Person(kp, vis, category=category)


def _mpii(persons, width=200, height=100, name="a.jpg") -> Sample:
    return Sample(None, width, height, MPII16, persons, image_id=name)


def test_clip_keypoints():
    p = _person({0: (-1.0, 5.0), 1: (10.0, -0.5), 2: (201.0, 50.0), 3: (200.0, 100.0), 4: (50.0, 101.0)})
    unknown_size = _mpii([_person({0: (500.0, 900.0), 1: (-3.0, 2.0)})], width=0, height=0)
    samples = [_mpii([p]), unknown_size]
    out, counts = clip_keypoints(samples)
    assert counts == {"negative keypoint": 3, "keypoint beyond image": 2}
    q = out[0].persons[0]
    assert q.visibility[:5].tolist() == [0, 0, 0, 2, 0]  # x == width is still inside
    assert q.keypoints[:5].tolist() == [[0, 0], [0, 0], [0, 0], [200, 100], [0, 0]]
    assert out[1].persons[0].visibility[:2].tolist() == [2, 0]  # no size: only negatives are caught
    assert p.visibility[:5].tolist() == [2] * 5 and p.keypoints[0].tolist() == [-1.0, 5.0]  # input intact


def test_boxes_with_head_and_ankle_padding():
    full = _person({RA: (40.0, 90.0), LA: (60.0, 90.0), HEAD: (50.0, 10.0)})
    no_head = _person({RA: (40.0, 90.0), 7: (50.0, 30.0)})  # thorax at 30, ankle at 90: h = 60
    no_ankles = _person({HEAD: (50.0, 20.0), 2: (30.0, 60.0), 3: (70.0, 60.0)})  # h = 40
    neither = _person({7: (100.0, 10.0), 6: (120.0, 90.0)})  # h = 80: top 10 - 12, bottom 90 + 20
    empty = _person({})
    boxed = _person({HEAD: (1.0, 1.0)})
    boxed.box = np.array([1, 2, 3, 4], np.float32)
    out, counts = boxes_from_keypoints([_mpii([full, no_head, no_ankles, neither, empty, boxed])])
    boxes = [p.box for p in out[0].persons]
    assert boxes[0].tolist() == [40, 10, 60, 90]
    assert boxes[1].tolist() == pytest.approx([40, 30 - 0.15 * 60, 50, 90])
    assert boxes[2].tolist() == pytest.approx([30, 20, 70, 60 + 0.25 * 40])
    assert boxes[3].tolist() == pytest.approx([100, 0, 120, 100])  # clipped to the 200 x 100 image
    assert boxes[4] is None and boxes[5].tolist() == [1, 2, 3, 4]
    assert counts == {"box from keypoints": 4, "box kept": 1, "no keypoints for a box": 1,
                      "head padding": 2, "ankle padding": 2, "box clipped to image": 1}
    out, counts = boxes_from_keypoints([_mpii([neither])], head_pad=0.0, ankle_pad=0.1, overwrite=True)
    assert out[0].persons[0].box.tolist() == pytest.approx([100, 10, 120, 98])


def test_coco_head_is_face_points():
    kp = {COCO17.index("left_shoulder"): (10.0, 20.0), COCO17.index("left_ankle"): (10.0, 120.0)}
    s = Sample(None, 0, 0, COCO17, [_person(kp, k=17)])
    out, counts = boxes_from_keypoints([s])
    assert out[0].persons[0].box.tolist() == pytest.approx([10, 5, 10, 120]) and counts["head padding"] == 1


def test_drops():
    labelled = _person({0: (1.0, 1.0)})
    samples = [
        _mpii([labelled, _person({})], name="two"),
        _mpii([_person({}, category="NA")], name="na-empty"),
        _mpii([_person({0: (1.0, 1.0)}, category=None)], name="none"),
        _mpii([], name="nobody"),
    ]
    kept, c = drop_missing_category(samples)
    assert [s.image_id for s in kept] == ["two"] and c == {"image without activity category": 3}
    kept, c = drop_unlabelled_persons(samples)
    assert [len(s.persons) for s in kept] == [1, 0, 1, 0] and c == {"person without labelled keypoints": 2}
    kept, c = drop_empty_images(samples)
    assert [s.image_id for s in kept] == ["two", "none"] and c == {"image without annotated person": 2}
    no_cats = [_mpii([_person({0: (1.0, 1.0)}, category=None)])]
    assert drop_missing_category(no_cats)[1] == {"image without activity category": 0}


def test_clean_pipeline_report():
    samples = [
        _mpii([_person({0: (-5.0, 1.0)}), _person({HEAD: (50.0, 10.0), RA: (40.0, 90.0)})], name="a"),
        _mpii([_person({0: (-5.0, 1.0)})], name="b"),  # its only keypoint is negative
        _mpii([_person({0: (5.0, 1.0)}, category="NA")], name="c"),
    ]
    out, report = clean(samples)
    assert [s.image_id for s in out] == ["a"] and len(out[0].persons) == 1
    assert out[0].persons[0].box.tolist() == [40, 10, 50, 90]
    assert report == {
        "input images": 3, "input persons": 4, "image without activity category": 1,
        "negative keypoint": 2, "keypoint beyond image": 0, "person without labelled keypoints": 2,
        "box from keypoints": 1, "box kept": 0, "no keypoints for a box": 0, "head padding": 0,
        "ankle padding": 0, "box clipped to image": 0, "image without annotated person": 1,
        "output images": 1, "output persons": 1,
    }


@pytest.mark.slow
def test_clean_real_mpii_csv(shared_data):
    from posekit.datasets import load_dataset

    samples = load_dataset(f"mpii-csv:{shared_data / 'mpii-activity' / 'mpii_human_pose.csv'}")
    out, report = clean(samples)
    assert report["image without activity category"] == 41
    assert report["output images"] == 17372 - 41 - report["image without annotated person"]
    # ID 1 (015601864.jpg): all 16 joints labelled; box = joint bounds, x 553..695.9799, y 108.1817..394
    first = next(s for s in out if s.image_id == "015601864.jpg").persons[0]
    np.testing.assert_allclose(first.box, [553.0, 108.1817, 695.9799, 394.0], rtol=1e-6)
