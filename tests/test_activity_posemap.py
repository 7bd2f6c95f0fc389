"""Pose maps: exact stroke pixels, width proportional to the person, which persons are drawn."""

from __future__ import annotations

import numpy as np
from activity_fixtures import pose

from posekit.activity.posemap import render_pose_map, select_persons
from posekit.skeletons import COCO17, MPII16

ALL = np.ones((1, 16), bool)


def test_strokes_are_exact_and_scale_with_the_person() -> None:
    xy = pose("arms out") + np.array([200.0, 100.0])  # torso 100 px -> width 10
    m = render_pose_map(xy[None], ALL, MPII16, (450, 400))
    assert m.shape == (450, 400, 1) and m.dtype == np.float32 and set(np.unique(m)) == {0.0, 1.0}
    # left forearm (290, 100) -> (340, 100): 10 rows centred on y = 100
    assert np.flatnonzero(m[:, 315, 0]).tolist() == list(range(95, 105))
    # thighs x = 180 and 220 at y = 150..200
    assert np.flatnonzero(m[250, :, 0]).tolist() == list(range(175, 185)) + list(range(215, 225))
    # head_top (200, 35) is a disc of diameter 12: first lit row 29
    assert np.flatnonzero(m[:, 200, 0])[0] == 29
    big = render_pose_map((pose("arms out") * 2 + np.array([200.0, 100.0]))[None], ALL, MPII16, (800, 700))
    # torso 200 px -> width 20 around y = 100 on the forearm (380, 100) -> (480, 100)
    assert np.flatnonzero(big[:, 430, 0]).tolist() == list(range(90, 110))


def test_missing_and_nan_joints_are_not_drawn() -> None:
    xy = pose("arms out") + np.array([200.0, 100.0])
    valid = ALL.copy()
    valid[0, MPII16.index("left_wrist")] = False
    xy[MPII16.index("right_wrist")] = np.nan
    m = render_pose_map(xy[None], valid, MPII16, (450, 400))
    assert m[100, 315, 0] == 0.0 and m[100, 85, 0] == 0.0  # no forearms
    assert m[100, 265, 0] == 1.0 and m[100, 135, 0] == 1.0  # upper arms still drawn


def test_draws_the_central_person_and_the_one_farthest_from_it() -> None:
    size = (300, 900)
    people = np.stack([pose("arms down") * 0.5 + np.array(c) for c in ((450, 100), (300, 100), (800, 100))])
    assert select_persons(people, np.ones((3, 16), bool), size) == [0, 2]
    m = render_pose_map(people, np.ones((3, 16), bool), MPII16, size)
    # hip-to-knee strokes at x = centre +- 10 of each person, y = 150..200 -> row 175
    assert not m[175, 280:320, 0].any()  # the person at x = 300 is left out
    assert m[175, 440, 0] == 1.0 and m[175, 790, 0] == 1.0
    assert select_persons(people[:1], np.ones((1, 16), bool), size) == [0]
    assert select_persons(people, np.zeros((3, 16), bool), size) == []
    assert not render_pose_map(people, np.zeros((3, 16), bool), MPII16, size).any()


def test_coco_schema_renders() -> None:
    xy = np.zeros((1, 17, 2))
    xy[0, COCO17.index("left_shoulder")] = (60, 40)
    xy[0, COCO17.index("right_shoulder")] = (40, 40)
    xy[0, COCO17.index("left_hip")] = (60, 80)
    xy[0, COCO17.index("right_hip")] = (40, 80)
    valid = np.zeros((1, 17), bool)
    valid[0, [5, 6, 11, 12]] = True
    m = render_pose_map(xy, valid, COCO17, (120, 100))
    # torso 40 px -> width 4: PIL puts a 4 px vertical stroke at x = 40 on columns 39..42
    assert np.flatnonzero(m[60, :, 0]).tolist() == [39, 40, 41, 42, 59, 60, 61, 62]
