"""Track lifetime with hand-made people: identities follow people, expire, and start only when sure."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.errors import PosekitError
from posekit.skeletons import COCO17, Schema
from posekit.types import Poses
from posekit.video.smoothing import OneEuroParams
from posekit.video.tracks import Tracker, TrackerParams

RNG = np.random.default_rng(7)
SHAPE = RNG.uniform(0, 120, size=(17, 2)).astype(np.float32)  # one body shape, ~120 px


def frame(positions, scores=None, schema=COCO17, shape=SHAPE) -> Poses:
    xy = np.stack([shape + np.array(p, np.float32) for p in positions]) if positions else np.zeros((0, 17, 2))
    n = len(positions)
    sc = np.full((n, schema.num_keypoints), 0.9) if scores is None else scores
    return Poses(xy, sc, np.full(n, 0.8), schema)


def test_ids_follow_people_whatever_the_detection_order():
    tracker = Tracker(COCO17)
    first = tracker.update(frame([(0, 0), (400, 0)]), 0.0)
    assert first.track_ids.tolist() == [1, 2]
    for t in range(1, 20):
        a, b = (5 * t, 0), (400 - 5 * t, 10)
        order = [b, a] if t % 2 else [a, b]
        out = tracker.update(frame(order), t / 30)
        ids = dict(zip(out.track_ids.tolist(), out.xy[:, 0, 0].tolist(), strict=True))
        assert ids[1] == pytest.approx(SHAPE[0, 0] + a[0]) and ids[2] == pytest.approx(SHAPE[0, 0] + b[0])


def test_a_lost_person_keeps_the_id_within_max_age_and_gets_a_new_one_after():
    tracker = Tracker(COCO17, TrackerParams(max_age=1.0))
    assert tracker.update(frame([(0, 0)]), 0.0).track_ids.tolist() == [1]
    assert len(tracker.update(frame([]), 0.5)) == 0
    assert tracker.update(frame([(3, 0)]), 0.9).track_ids.tolist() == [1]  # gone 0.9 s: same person
    assert tracker.update(frame([(3, 0)]), 2.0).track_ids.tolist() == [2]  # gone 1.1 s: forgotten


def test_a_new_track_needs_enough_confident_keypoints():
    tracker = Tracker(COCO17, TrackerParams(min_keypoints=4, keypoint_threshold=0.3))
    scores = np.full((2, 17), 0.1)
    scores[0, :4] = 0.9  # 4 sure keypoints: enough
    scores[1, :3] = 0.9  # 3: not enough
    out = tracker.update(frame([(0, 0), (500, 0)], scores), 0.0)
    assert out.track_ids.tolist() == [1] and out.xy[0, 0, 0] == pytest.approx(SHAPE[0, 0])


def test_max_tracks_keeps_the_most_recently_seen():
    tracker = Tracker(COCO17, TrackerParams(max_tracks=2))
    tracker.update(frame([(0, 0)]), 0.0)
    tracker.update(frame([(300, 0)]), 0.1)
    out = tracker.update(frame([(600, 0)]), 0.2)
    assert out.track_ids.tolist() == [3]
    assert sorted(t.id for t in tracker.tracks) == [2, 3]


def test_dissimilar_people_are_not_matched():
    tracker = Tracker(COCO17, TrackerParams(min_similarity=0.2))
    tracker.update(frame([(0, 0)]), 0.0)
    assert tracker.update(frame([(1000, 1000)]), 0.1).track_ids.tolist() == [2]


def test_schemas_without_coco_joints_match_by_box_overlap():
    names = tuple(f"p{i}" for i in range(17))
    custom = Schema("custom", names, (), ())
    tracker = Tracker(custom)
    assert not tracker.use_oks
    tracker.update(frame([(0, 0), (500, 0)], schema=custom), 0.0)
    out = tracker.update(frame([(510, 0), (10, 0)], schema=custom), 0.1)
    assert out.track_ids.tolist() == [2, 1]


def test_smoothing_cuts_jitter_and_restarts_after_a_loss():
    rng = np.random.default_rng(0)
    raw_tracker = Tracker(COCO17)
    smooth = Tracker(COCO17, smoothing=OneEuroParams(min_cutoff=0.5, beta=0.0))
    raw_out, smooth_out = [], []
    for t in range(60):
        pose = frame([(100, 100)])
        noisy = Poses(pose.xy + rng.normal(0, 2.0, pose.xy.shape), pose.scores, pose.pose_scores, COCO17)
        raw_out.append(raw_tracker.update(noisy, t / 30).xy[0])
        smooth_out.append(smooth.update(noisy, t / 30).xy[0])
    jitter = [np.abs(np.diff(np.array(x)[20:], 2, axis=0)).mean() for x in (raw_out, smooth_out)]
    assert jitter[1] < jitter[0] / 5
    smooth.update(frame([]), 2.1)  # lost for a frame: the filter forgets
    back = frame([(130, 100)])
    np.testing.assert_array_equal(smooth.update(back, 2.2).xy, back.xy)


def test_smoothing_measures_speed_in_the_given_scales():
    """``scales``: each person's size for the filter's speed units (BlazePose passes MediaPipe's object
    scale). Without them, the size of the box around the keypoints; a larger scale means a slower speed in
    its units, a lower cutoff, more lag behind a moving person."""
    from posekit.video.smoothing import person_size

    params = OneEuroParams(min_cutoff=0.1, beta=10.0)
    trackers = {k: Tracker(COCO17, smoothing=params) for k in ("default", "size", "10x")}
    last = {}
    for t in range(30):
        pose = frame([(4 * t, 0)])
        size = person_size(pose.xy[0], pose.scores[0], trackers["size"].params.keypoint_threshold)
        for key, scale in (("default", None), ("size", [size]), ("10x", [10 * size])):
            last[key] = trackers[key].update(pose, t / 30, scales=scale).xy[0, 0, 0]
    target = SHAPE[0, 0] + 4 * 29
    assert last["default"] == last["size"]
    assert 0 < target - last["size"] < target - last["10x"]


def test_score_smoothing_low_passes_each_identitys_scores_and_restarts_after_a_loss():
    tracker = Tracker(COCO17, smoothing=OneEuroParams(), score_smoothing=0.1)
    expected = None
    for t in range(10):
        raw = np.full((1, 17), 0.9 if t % 2 else 0.3)
        out = tracker.update(frame([(0, 0)], raw), t / 30)
        expected = raw[0] if expected is None else 0.1 * raw[0] + 0.9 * expected
        np.testing.assert_allclose(out.scores[0], expected, rtol=1e-6)
    assert tracker.tracks[0].scores[0] == pytest.approx(0.9)  # matching keeps reading the raw scores
    tracker.update(frame([]), 0.5)  # lost for a frame: the filter forgets
    back = np.full((1, 17), 0.6)
    np.testing.assert_allclose(tracker.update(frame([(0, 0)], back), 0.6).scores, back)
    with pytest.raises(PosekitError, match="score smoothing"):
        Tracker(COCO17, score_smoothing=1.5)


def test_bad_tracker_parameters_are_refused():
    with pytest.raises(PosekitError, match="max_tracks"):
        TrackerParams(max_tracks=0)
    with pytest.raises(PosekitError, match="min_similarity"):
        TrackerParams(min_similarity=1.5)


def test_a_person_missed_for_a_while_is_found_where_their_motion_leads():
    # 6 px a frame to the right; not detected for 15 frames (0.5 s): the last-seen pose is 90 px behind.
    tracker = Tracker(COCO17)
    for t in range(5):
        assert tracker.update(frame([(6 * t, 0)]), t / 30).track_ids.tolist() == [1]
    for t in range(5, 20):
        tracker.update(frame([]), t / 30)
    assert tracker.update(frame([(6 * 20, 0)]), 20 / 30).track_ids.tolist() == [1]
    standing = Tracker(COCO17)  # the same person, had they stood still before the gap, is a new track
    standing.update(frame([(0, 0)]), 0.0)
    assert standing.update(frame([(90, 0)]), 0.5).track_ids.tolist() == [2]


def test_a_person_who_stops_during_a_gap_is_found_where_last_seen():
    tracker = Tracker(COCO17)
    for t in range(5):
        tracker.update(frame([(6 * t, 0)]), t / 30)
    assert tracker.update(frame([(24, 0)]), 20 / 30).track_ids.tolist() == [1]


def test_faint_people_continue_tracks_but_never_start_one():
    tracker = Tracker(COCO17)
    tracker.update(frame([(0, 0)]), 0.0)
    # Frame 2: the tracked person seen faintly, and a faint stranger far away.
    out = tracker.update(frame([(3, 0), (600, 0)]), 1 / 30, confident=np.array([False, False]))
    assert out.track_ids.tolist() == [1] and out.xy[0, 0, 0] == pytest.approx(SHAPE[0, 0] + 3)
    # A faint pose continues only a track left unmatched by the confident ones.
    out = tracker.update(frame([(6, 0), (7, 0)]), 2 / 30, confident=np.array([True, False]))
    assert out.track_ids.tolist() == [1]


@pytest.mark.parametrize("offset, same", [((0, 0), True), ((60, 20), True), ((400, 0), False)])
def test_a_lost_person_back_in_another_pose_near_where_their_motion_leads_keeps_the_id(offset, same):
    """Third association: after a gap the keypoints' OKS is too strict for a pose that changed (a turn, a
    partial view), so a lost track takes a confident person whose centre lies within REID_DISTANCE person
    sizes of where its motion puts it, the tolerance growing with the time lost; farther away is a new ID."""
    tracker = Tracker(COCO17)
    for t in range(6):  # walking right at 90 px/s
        assert tracker.update(frame([(3 * t, 0)]), t / 30).track_ids.tolist() == [1]
    for t in range(6, 21):  # hidden for half a second
        tracker.update(frame([]), t / 30)
    centre = SHAPE.mean(axis=0)
    turned = (centre + (SHAPE - centre)[::-1] * [2.0, 0.25]).astype(np.float32)  # lying down: OKS, IoU low
    at = (3 * 21 + offset[0], offset[1])
    assert tracker.similarity(frame([at], shape=turned), 21 / 30).max() < tracker.params.min_similarity
    out = tracker.update(frame([at], shape=turned), 21 / 30)
    assert out.track_ids.tolist() == ([1] if same else [2])



# A standing body, keypoints in COCO order: head and arms (0-10) above y = 85, hips and legs (11-16) below 80.
BODY = np.array([[50, 5], [45, 0], [55, 0], [40, 5], [60, 5], [30, 25], [70, 25], [25, 50], [75, 50],
                 [22, 75], [78, 85], [40, 80], [60, 80], [40, 110], [60, 110], [40, 140], [60, 140]],
                np.float32)


@pytest.mark.parametrize("source, same", [(1, True), (-1, False), (None, False)])
def test_a_person_found_in_the_crop_that_follows_a_track_continues_it(source, same):
    """Fourth association (crop provenance): a person at the frame's edge shows the legs in one frame and
    the head and arms in the next; OKS and box overlap are under min_similarity, but the crop that found
    them follows track 1, so they keep ID 1. Without that provenance (-1, or no sources) it is a new ID."""
    tracker = Tracker(COCO17)
    legs, upper = np.zeros(17, np.float32), np.zeros(17, np.float32)
    legs[11:], upper[:11] = 0.9, 0.9
    first = Poses(BODY[None], legs[None], np.array([0.6]), COCO17)
    assert tracker.update(first, 0.0).track_ids.tolist() == [1]
    second = Poses(BODY[None], upper[None], np.array([0.6]), COCO17)
    assert tracker.similarity(second, 1 / 30).max() < tracker.params.min_similarity
    sources = None if source is None else np.array([source])
    assert tracker.update(second, 1 / 30, sources=sources).track_ids.tolist() == ([1] if same else [2])


def test_a_crop_does_not_hand_its_track_to_someone_elsewhere():
    """A person found in a track's crop whose keypoints lie nowhere near the track (no overlap where it
    was or where its motion leads) starts a new identity rather than taking the track."""
    tracker = Tracker(COCO17)
    assert tracker.update(frame([(0, 0)]), 0.0).track_ids.tolist() == [1]
    assert tracker.update(frame([(500, 0)]), 1 / 30, sources=np.array([1])).track_ids.tolist() == [2]
