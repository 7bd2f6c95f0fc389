"""PoseTrack tracking metrics on hand-made tracks whose answer is known exactly.

Parity with py-motmetrics (as poseval drives it) was checked outside the suite on random tracks; these
cases pin motmetrics' rules: kept matches, switches, misses, false positives, MOTP and the totals.
"""

from __future__ import annotations

import numpy as np
import pytest

from posekit.metrics.tracking import JointAccumulator, PoseTrackingEvaluator, TrackFrame, head_sizes

HEAD = 30.0  # head size in px: a 30 x 40 head box has diagonal 50, times 0.6
NAN = np.nan


def frame(gt: dict[int, tuple[float, float]], pr: dict[int, tuple[float, float]], joints: int = 1,
          scale: float = HEAD) -> TrackFrame:
    """People as {track id: (x, y)}, every joint of a person at the same point, all labelled / present."""
    def arrays(people: dict[int, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = np.array(list(people), np.int64)
        xy = np.array([[p] * joints for p in people.values()], np.float64).reshape(len(people), joints, 2)
        return ids, xy, np.ones((len(people), joints), bool)

    gi, gxy, glab = arrays(gt)
    pi, pxy, ppres = arrays(pr)
    return TrackFrame(gi, gxy, glab, np.full(len(gi), scale), pi, pxy, ppres)


def run(frames: list[TrackFrame], sigmas: np.ndarray | None = None, joints: int = 1):
    ev = PoseTrackingEvaluator([f"j{i}" for i in range(joints)], sigmas)
    ev.update(frames)
    return ev.compute()


A, B = (100.0, 100.0), (300.0, 100.0)  # two people far apart (200 px >> half a head)


def shifted(p: tuple[float, float], dx: float) -> tuple[float, float]:
    return p[0] + dx, p[1]


# (name, frames, expected counts (gt, matches, switches, fp, fn), mota, motp, precision, recall)
CASES = [
    ("perfect", [frame({1: A, 2: B}, {7: A, 8: B})] * 4, (8, 8, 0, 0, 0), 1.0, 1.0, 1.0, 1.0),
    ("3 px off = 0.1 head", [frame({1: A}, {7: shifted(A, 3)})] * 5, (5, 5, 0, 0, 0), 1.0, 0.9, 1.0, 1.0),
    ("swap of two ids from frame 2",
     [frame({1: A, 2: B}, {7: A, 8: B})] * 2 + [frame({1: A, 2: B}, {8: A, 7: B})] * 3,
     (10, 8, 2, 0, 0), 0.8, 1.0, 1.0, 1.0),
    ("one person's id changes once", [frame({1: A}, {7: A})] * 2 + [frame({1: A}, {9: A})] * 3,
     (5, 4, 1, 0, 0), 0.8, 1.0, 1.0, 1.0),
    ("id changes back: two switches", [frame({1: A}, {7: A}), frame({1: A}, {9: A}), frame({1: A}, {7: A})],
     (3, 1, 2, 0, 0), 1 / 3, 1.0, 1.0, 1.0),
    ("missed person", [frame({1: A, 2: B}, {7: A})] * 3, (6, 3, 0, 0, 3), 0.5, 1.0, 1.0, 0.5),
    ("spurious person", [frame({1: A}, {7: A, 8: B})] * 3, (3, 3, 0, 3, 0), 0.0, 1.0, 0.5, 1.0),
    ("16 px off is beyond half a head", [frame({1: A}, {7: shifted(A, 16)})] * 2,
     (2, 0, 0, 2, 2), -1.0, 0.0, 0.0, 0.0),
    ("15 px off is exactly half a head: a match", [frame({1: A}, {7: shifted(A, 15)})] * 2,
     (2, 2, 0, 0, 0), 1.0, 0.5, 1.0, 1.0),
    ("no prediction at all", [frame({1: A}, {})] * 4, (4, 0, 0, 0, 4), 0.0, 0.0, NAN, 0.0),
    ("kept match beats a closer newcomer",
     [frame({1: A}, {7: A}), frame({1: A}, {7: shifted(A, 9), 8: A})],
     (2, 2, 0, 1, 0), 0.5, 0.85, 2 / 3, 1.0),
    ("person leaves and comes back under a new id",
     [frame({1: A}, {7: A}), frame({1: A}, {}), frame({1: A}, {9: A})], (3, 1, 1, 0, 1), 1 / 3, 1.0, 1.0,
     2 / 3),
]


@pytest.mark.parametrize("name, frames, counts, mota, motp, precision, recall", CASES,
                         ids=[c[0] for c in CASES])
def test_hand_made_tracks(name, frames, counts, mota, motp, precision, recall) -> None:
    r = run(frames)
    got = (r.num_gt[0], r.num_matches[0], r.num_switches[0], r.num_false_positives[0], r.num_misses[0])
    assert got == counts
    np.testing.assert_allclose([r.mota[0], r.motp[0], r.precision[0], r.recall[0]],
                               [mota, motp, precision, recall], rtol=0, atol=1e-12)


def test_assignment_maximises_matches_before_minimising_distance() -> None:
    # GT 1 can pair with 7 (0 px) or 8 (12 px), GT 2 only with 7 (12 px): the two-pair solution wins even
    # though pairing 1-7 alone is the closest, as motmetrics' expensive-edge assignment does.
    acc = JointAccumulator()
    acc.update([1, 2], [7, 8], np.array([[0.0, 0.4], [0.4, NAN]]))
    assert (acc.num_matches, acc.num_misses, acc.num_false_positives) == (2, 0, 0)
    assert acc.sum_distance == pytest.approx(0.8)


def test_matches_do_not_carry_across_videos() -> None:
    ev = PoseTrackingEvaluator(["j0"])
    ev.update([frame({1: A}, {7: A})])
    ev.update([frame({1: A}, {9: A})])  # another video: the new id is no switch
    r = ev.compute()
    assert (r.num_switches[0], r.num_matches[0], r.videos, r.frames) == (0, 2, 2, 2)


def test_only_labelled_gt_and_present_predictions_take_part() -> None:
    f = frame({1: A, 2: B}, {7: A, 8: B}, joints=2)
    labelled = f.gt_labelled.copy()
    labelled[1, 0] = False  # person 2's joint 0 unlabelled: prediction 8 there is a false positive
    present = f.pr_present.copy()
    present[0, 1] = False  # prediction 7 has no joint 1: person 1's joint 1 is missed
    r = run([TrackFrame(f.gt_ids, f.gt_xy, labelled, f.gt_scale, f.pr_ids, f.pr_xy, present)], joints=2)
    assert r.num_gt.tolist() == [1, 2] and r.num_false_positives.tolist() == [1, 0]
    assert r.num_misses.tolist() == [0, 1]
    np.testing.assert_allclose(r.mota, [0.0, 0.5])


def test_total_is_mean_over_defined_joints_and_counts_are_sums() -> None:
    f = frame({1: A, 2: B}, {7: A}, joints=3)
    labelled = f.gt_labelled.copy()
    labelled[:, 2] = False  # joint 2 never labelled: MOTA / recall undefined, MOTP 0 (poseval's rule)
    r = run([TrackFrame(f.gt_ids, f.gt_xy, labelled, f.gt_scale, f.pr_ids, f.pr_xy, f.pr_present)] * 2,
            joints=3)
    total = r.total()
    assert np.isnan(r.mota[2]) and r.motp[2] == 0.0 and r.precision[2] == 0.0
    assert total["mota"] == pytest.approx(0.5) and total["recall"] == pytest.approx(0.5)
    assert total["motp"] == pytest.approx(2 / 3) and total["precision"] == pytest.approx(2 / 3)
    assert (total["num_gt"], total["num_misses"], total["num_false_positives"]) == (8, 4, 2)


def test_head_size_is_0_6_of_the_head_box_diagonal() -> None:
    np.testing.assert_allclose(head_sizes(np.array([[5, 5, 30, 40], [0, 0, 3, 4]])), [30.0, 3.0])


@pytest.mark.parametrize("dx, matched", [(10.0, True), (10.5, False)])
def test_oks_rule_threshold_and_motp_is_mean_similarity(dx: float, matched: bool) -> None:
    # sigma 0.05 -> k = 0.1; the area is chosen so that d = 10 px gives similarity 0.5 exactly:
    # exp(-100 / (2 * s * 0.01)) = 0.5  <=>  s = 5000 / ln 2.
    area = 5000 / np.log(2)
    r = run([frame({1: A}, {7: shifted(A, dx)}, scale=area)], sigmas=np.array([0.05]))
    assert r.num_matches[0] == int(matched) and r.num_misses[0] == int(not matched)
    assert r.motp[0] == (pytest.approx(0.5) if matched else 0.0)


def test_oks_motp_of_a_small_error() -> None:
    area = 1000.0
    sim = np.exp(-(2.0 ** 2) / (2 * area * (2 * 0.079) ** 2))
    r = run([frame({1: A}, {7: shifted(A, 2)}, scale=area)], sigmas=np.array([0.079]))
    assert r.motp[0] == pytest.approx(sim, abs=1e-12)
