"""Similarity between people of two frames and the optimal assignment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posekit.metrics.oks import COCO_SIGMAS
from posekit.skeletons import COCO17, LSP14, MPII16
from posekit.video.matching import assign, box_iou, keypoint_boxes, keypoint_similarity, schema_sigmas


def person(x0: float, y0: float) -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.uniform(0, 100, size=(17, 2)) + [x0, y0]).astype(np.float32)


def test_identical_poses_are_fully_similar_and_a_shift_scores_exactly():
    a = np.array([[0, 0], [100, 0], [0, 50], [100, 50]] + [[50, 25]] * 13, np.float32)
    scores = np.ones((1, 17))
    sim = keypoint_similarity(a[None], scores, a[None], scores, COCO_SIGMAS)
    assert sim.shape == (1, 1) and sim[0, 0] == pytest.approx(1.0, abs=1e-9)
    moved = a.copy()
    moved[0] += [3, 4]  # nose 5 px away
    area = 100 * 50 + 1e-6
    expected = (16 + math.exp(-25 / (2 * area * (2 * COCO_SIGMAS[0]) ** 2))) / 17
    sim = keypoint_similarity(a[None], scores, moved[None], scores, COCO_SIGMAS)
    assert sim[0, 0] == pytest.approx(expected)


def test_only_keypoints_both_poses_are_sure_of_count_and_too_few_give_zero():
    a = person(0, 0)
    sa, sb = np.full((1, 17), 0.9), np.full((1, 17), 0.9)
    sb[0, 4:] = 0.1  # only 4 joints sure on the detection
    far = a.copy()
    far[4:] += 1000  # the unsure joints are far away: they must not count
    assert keypoint_similarity(a[None], sa, far[None], sb, COCO_SIGMAS, 0.3, 4)[0, 0] == pytest.approx(1.0)
    assert keypoint_similarity(a[None], sa, far[None], sb, COCO_SIGMAS, 0.3, 5)[0, 0] == 0.0


def test_similarity_matrix_shape_and_empty_sides():
    xy = np.stack([person(0, 0), person(300, 0), person(0, 300)])
    sc = np.ones((3, 17))
    sim = keypoint_similarity(xy[:2], sc[:2], xy, sc, COCO_SIGMAS)
    assert sim.shape == (2, 3)
    assert sim[0, 0] == pytest.approx(1.0) and sim[1, 1] == pytest.approx(1.0)
    assert sim[0, 1] < 1e-6 and sim[1, 2] < 1e-6
    assert keypoint_similarity(xy[:0], sc[:0], xy, sc, COCO_SIGMAS).shape == (0, 3)


def test_schema_sigmas_follow_joint_names():
    np.testing.assert_array_equal(schema_sigmas(COCO17), COCO_SIGMAS)
    mpii = schema_sigmas(MPII16)
    assert mpii[MPII16.index("left_shoulder")] == COCO_SIGMAS[COCO17.index("left_shoulder")]
    assert np.isnan(mpii[MPII16.index("head_top")]) and np.isnan(mpii[MPII16.index("pelvis")])
    assert int((~np.isnan(schema_sigmas(LSP14))).sum()) == 12


def test_box_iou_exact():
    a = np.array([[0, 0, 10, 10], [0, 0, 2, 2]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0, 1], [0, 0, 4 / 100]])


def test_keypoint_boxes_use_confident_keypoints():
    xy = np.array([[[1, 2], [5, 9], [100, 100]]], np.float32)
    np.testing.assert_array_equal(keypoint_boxes(xy, np.array([[0.9, 0.9, 0.1]]), 0.3), [[1, 2, 5, 9]])
    np.testing.assert_array_equal(keypoint_boxes(xy, np.array([[0.9, 0.1, 0.1]]), 0.3), [[1, 2, 100, 100]])


def test_assignment_is_optimal_not_greedy_and_drops_weak_pairs():
    sim = np.array([[0.9, 0.8], [0.85, 0.1]])
    assert sorted(assign(sim, 0.2)) == [(0, 1), (1, 0)]  # greedy would take 0.9 + 0.1
    assert assign(np.array([[0.9, 0.8], [0.85, 0.1]]), 0.82) == [(1, 0)]
    assert assign(np.zeros((0, 3)), 0.2) == []
