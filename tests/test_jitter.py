"""Jitter, lag and trajectory matching on hand-made trajectories whose answers are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.metrics.jitter import (
    FramePeople,
    acceleration_error,
    acceleration_errors,
    frame_pck,
    identity_switches,
    lag_frames,
    match_frame,
    match_trajectories,
)

T, K = 30, 17


def ramp(velocity=(3.0, -1.5), t_n: int = T) -> np.ndarray:
    """(T, K, 2) keypoints moving on a straight line at ``velocity`` px/frame, spread per keypoint."""
    base = np.stack([np.arange(K) * 7.0 + 50, np.arange(K) * 3.0 + 80], axis=1)
    return base[None] + np.arange(t_n)[:, None, None] * np.asarray(velocity)[None, None]


def wave(t_n: int = T, period: float = 12.0, amp: float = 20.0) -> np.ndarray:
    base = ramp((0.0, 0.0), t_n)
    t = np.arange(t_n, dtype=float)
    return base + np.stack([amp * np.sin(2 * np.pi * t / period), 0.5 * amp * np.cos(2 * np.pi * t / period)],
                           axis=1)[:, None, :]


def test_acceleration_error_zero_for_exact_and_offset_predictions():
    gt, vis, size = wave(), np.ones((T, K), bool), np.full(T, 100.0)
    assert acceleration_error(gt, gt, vis, size) == 0.0
    assert acceleration_error(gt + np.array([5.0, -2.0]), gt, vis, size) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("a, size", [(1.0, 100.0), (2.5, 40.0)])
def test_alternating_jitter_gives_4a_over_size(a, size):
    gt = ramp()
    sign = np.where(np.arange(T) % 2 == 0, 1.0, -1.0)
    pred = gt + np.stack([a * sign, np.zeros(T)], axis=1)[:, None, :]
    terms = acceleration_errors(pred, gt, np.ones((T, K), bool), np.full(T, size))
    assert terms.shape == ((T - 2) * K,)
    np.testing.assert_allclose(terms, 4 * a / size, rtol=1e-12)
    mean = acceleration_error(pred, gt, np.ones((T, K), bool), np.full(T, size))
    assert mean == pytest.approx(4 * a / size)


def test_acceleration_error_uses_each_frames_size_and_nan_breaks_the_run():
    gt = ramp()
    pred = gt.copy()
    pred[10, 0, 0] += 3.0  # one spike: second differences 3, -6, 3 at t = 9, 10, 11 for keypoint 0
    size = np.full(T, 50.0)
    size[10] = 100.0
    vis = np.ones((T, K), bool)
    terms = acceleration_errors(pred, gt, vis, size)
    assert terms.sum() == pytest.approx(3 / 50 + 6 / 100 + 3 / 50)
    pred[11] = np.nan  # frame 11 absent: the terms at t = 10, 11, 12 vanish
    assert acceleration_errors(pred, gt, vis, size).size == (T - 2 - 3) * K
    vis[:, 1:] = False
    assert acceleration_errors(pred, gt, vis, size).sum() == pytest.approx(3 / 50)  # only t = 9, keypoint 0
    assert np.isnan(acceleration_error(gt[:2], gt[:2], vis[:2], size[:2]))


@pytest.mark.parametrize("delay", [2.0, 0.5, -1.0, 0.0])
def test_lag_of_a_delayed_ramp(delay):
    gt = ramp(t_n=40)
    pred = gt - delay * np.array([3.0, -1.5])  # pred[t] = gt(t - delay) on the line
    assert lag_frames(pred, gt, np.ones((40, K), bool)) == delay


def test_lag_of_a_delayed_wave_ignores_invisible_and_nan_frames():
    t_n = 60
    gt = wave(t_n)
    pred = np.full_like(gt, np.nan)
    pred[3:] = gt[:-3]  # three frames late, first frames absent
    every = np.ones((t_n, K), bool)
    # A constant model bias on back-and-forth motion does not move the estimate.
    assert lag_frames(pred + np.array([5.0, -3.0]), gt, every) == 3.0
    vis = every.copy()
    vis[20:23, :5] = False
    pred[30, 6] = 1e6  # an invisible wild point must not count
    vis[30, 6] = False
    assert lag_frames(pred, gt, vis) == 3.0
    assert lag_frames(pred, gt, every) != 3.0
    assert lag_frames(pred, gt, vis, min_frames=50) == 3.0  # t = 5 .. 54 are compared
    assert np.isnan(lag_frames(pred, gt, vis, min_frames=51))


def people(ids, xy, area=10000.0):
    xy = np.asarray(xy, float)
    n = len(ids)
    return FramePeople(np.asarray(ids, np.int64), xy, np.ones((n, K), bool), np.full(n, area),
                       np.full(n, np.sqrt(area)))


def test_match_frame_pairs_by_oks_and_threshold():
    a, b = ramp()[0], ramp()[0] + 200.0
    gt = people([1, 2], [a, b])
    pred = people([7, 8], [b + 1.0, a + 1.0])
    assert match_frame(gt, pred) == [(0, 1), (1, 0)]
    far = people([9], [a + 60.0])  # OKS ~ 0: below 0.5, yet kept by threshold 0
    assert match_frame(gt, far) == []
    assert match_frame(gt, far, threshold=0.0) in ([(0, 0)], [(1, 0)])


def test_match_trajectories_with_swapped_ids_and_a_gap():
    t_n = 10
    a = ramp(t_n=t_n)
    b = a + np.array([250.0, 0.0])
    gt_frames = [people([1, 2], [a[t], b[t]]) for t in range(t_n)]
    # The tracker calls person 1 "5" and person 2 "3", except frames 6..7 where it swaps them, and frame 8
    # where person 2 is not detected.
    pred_frames = []
    for t in range(t_n):
        if t in (6, 7):
            pred_frames.append(people([3, 5], [a[t] + 0.5, b[t] + 0.5]))
        elif t == 8:
            pred_frames.append(people([5], [a[t] + 0.5]))
        else:
            pred_frames.append(people([5, 3], [a[t] + 0.5, b[t] + 0.5]))
    pairs = match_trajectories(gt_frames, pred_frames)
    assert [(p.gt_track, p.pred_track, p.matched) for p in pairs] == [(1, 5, 8), (2, 3, 7)]
    one, two = pairs
    assert np.isnan(one.pred[[6, 7]]).all() and np.isfinite(np.delete(one.pred, [6, 7], 0)).all()
    assert np.isnan(two.pred[[6, 7, 8]]).all()
    np.testing.assert_array_equal(one.gt, a)
    np.testing.assert_allclose(one.pred[0], a[0] + 0.5)
    assert one.size[0] == 100.0
    assert acceleration_error(one.pred, one.gt, one.visible, one.size) == pytest.approx(0.0, abs=1e-12)


def test_identity_switches_count_each_change_of_predicted_track():
    t_n = 10
    a = ramp(t_n=t_n)
    b = a + np.array([250.0, 0.0])
    gt_frames = [people([1, 2], [a[t], b[t]]) for t in range(t_n)]
    steady = [people([5, 3], [a[t] + 0.5, b[t] + 0.5]) for t in range(t_n)]
    assert identity_switches(gt_frames, steady) == 0
    # Swapped in frames 6..7 (2 switches each way: 4), person 2 missed in frame 8 (no switch), and person 1
    # given a new id 9 from frame 9 (1 more).
    pred = [people([3, 5], [a[t] + 0.5, b[t] + 0.5]) if t in (6, 7) else
            people([5], [a[t] + 0.5]) if t == 8 else
            people([9 if t == 9 else 5, 3], [a[t] + 0.5, b[t] + 0.5]) for t in range(t_n)]
    assert identity_switches(gt_frames, pred) == 5


def test_match_trajectories_ties_go_to_the_smaller_id_and_unmatched_tracks_get_none():
    a = ramp(t_n=4)
    gt_frames = [people([1, 2], [a[t], a[t] + 500.0]) for t in range(4)]
    pred_frames = [people([9 if t < 2 else 4], [a[t]]) for t in range(4)]
    pairs = match_trajectories(gt_frames, pred_frames)
    assert [(p.gt_track, p.pred_track, p.matched) for p in pairs] == [(1, 4, 2), (2, None, 0)]
    assert np.isnan(pairs[1].pred).all()


def test_frame_pck_counts_hits_misses_and_torso():
    gt_xy = ramp()[0]
    torso = np.linalg.norm(gt_xy[6] - gt_xy[11])  # right shoulder - left hip
    pred = gt_xy.copy()
    pred[:4, 0] += 0.19 * torso  # inside 0.2 torso
    pred[4:7, 0] += 0.21 * torso  # outside
    gt = [people([1], [gt_xy]), people([1], [gt_xy])]
    preds = [people([3], [pred]), FramePeople.empty()]  # second frame: nothing predicted -> 17 misses
    assert frame_pck(gt, preds) == pytest.approx((K - 3) / (2 * K))
    no_torso = FramePeople(gt[0].track_ids, gt[0].xy, gt[0].visible.copy(), gt[0].area, gt[0].size)
    no_torso.visible[0, 11] = False
    assert frame_pck([no_torso], [preds[0]]) != frame_pck([no_torso], [preds[0]])  # NaN: nothing counts
