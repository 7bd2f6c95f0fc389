"""PoseTracker on real models: identities over a moving photo, crops that follow people, detector cadence."""

from __future__ import annotations

import numpy as np
import pytest

import posekit
from posekit.errors import PosekitError
from posekit.models.topdown import load_topdown
from posekit.skeletons import COCO17
from posekit.types import Poses
from posekit.video.matching import schema_sigmas
from posekit.video.pose_tracker import PoseTracker, crop_regions, merge_same_people, square_boxes

pytestmark = pytest.mark.network


@pytest.fixture(scope="module")
def astronaut():
    return pytest.importorskip("skimage.data").astronaut()


def panned(rgb: np.ndarray, n: int, step: int = 4) -> list[np.ndarray]:
    """``n`` frames of ``rgb`` moving right by ``step`` px a frame (wrapping)."""
    return [np.roll(rgb, step * i, axis=1) for i in range(n)]


def test_square_boxes_and_merging_by_hand():
    np.testing.assert_array_equal(square_boxes(np.array([[0, 0, 10, 40]])), [[-15, 0, 25, 40]])
    xy = np.random.default_rng(0).uniform(0, 100, (1, 17, 2))
    twin = Poses(np.concatenate([xy, xy + 0.5, xy + 300]), np.ones((3, 17)), [0.5, 0.9, 0.4], COCO17)
    kept = merge_same_people(twin, schema_sigmas(COCO17), 0.3)
    assert kept.pose_scores.tolist() == pytest.approx([0.9, 0.4])


def test_crop_region_keeps_the_body_size_when_only_the_arms_are_confident():
    """MoveNet's crop region per axis: centred on the hips, 1.9 x the torso's reach, so a pose that holds
    only the torso and arms (the legs hidden this frame) keeps a crop as tall as the body; no torso: the
    keypoints' box; neither side under half the other."""
    xy = np.zeros((2, 17, 2), np.float32)
    joints = {"left_shoulder": (110, 100), "right_shoulder": (90, 100), "left_hip": (108, 140),
              "right_hip": (92, 140), "left_wrist": (130, 70), "right_wrist": (70, 70)}
    scores = np.zeros((2, 17), np.float32)
    for name, point in joints.items():
        xy[:, COCO17.index(name)] = point
        scores[:, COCO17.index(name)] = 0.9
    arms = [COCO17.index(n) for n in ("left_wrist", "right_wrist", "left_shoulder", "right_shoulder")]
    scores[1] = 0.0
    scores[1, arms] = 0.9  # no hip seen: the box around the four keypoints
    rois = crop_regions(xy, scores, COCO17, threshold=0.3, margin=0.4)
    # Hips' centre (100, 140); torso reach (10, 40), body reach (30, 70): half sides max(1.9 x torso,
    # 1.2 x body) = (36, 84) after the margin, (25.7, 60) before it; the width raised to half the height.
    np.testing.assert_allclose(rois[0], [70, 80, 130, 200], atol=1e-4)
    np.testing.assert_allclose(rois[1], [70, 70, 130, 100], atol=1e-4)


def test_poses_concat_keeps_order_and_boxes_only_when_all_have_them():
    xy = np.arange(3 * 17 * 2, dtype=np.float32).reshape(3, 17, 2)
    boxed = Poses(xy[:2], np.ones((2, 17)), [0.5, 0.6], COCO17, np.ones((2, 4)))
    bare = Poses(xy[2:], np.ones((1, 17)), [0.7], COCO17)
    both = Poses.concat([boxed, Poses.empty(COCO17), bare])
    np.testing.assert_array_equal(both.xy, xy)
    assert both.pose_scores.tolist() == pytest.approx([0.5, 0.6, 0.7]) and both.boxes is None
    kept = Poses.concat([boxed, Poses.empty(COCO17)])  # an empty part without boxes does not drop them
    assert kept.boxes is not None and len(kept) == 2
    assert len(Poses.concat([Poses.empty(COCO17)])) == 0


def test_one_person_model_follows_the_person_with_crops(model_package, astronaut):
    model = posekit.load_model("movenet-thunder")
    tracker = PoseTracker(model, smooth=False, detect_every=10)
    frames = panned(astronaut, 20)
    out = [tracker.update(f, i / 30) for i, f in enumerate(frames)]
    assert all(len(p) == 1 and p.track_ids.tolist() == [1] for p in out)
    # Frames 1 and 11 run the model on the whole image; the other 18 on a crop around the last pose.
    assert (tracker.stats.detector_runs, tracker.stats.crops) == (2, 18)
    nose = COCO17.index("nose")
    for i in (5, 15):  # the crop finds the same nose as the whole image (within 4 px)
        whole = model.predict(frames[i])
        assert np.linalg.norm(out[i].xy[0, nose] - whole.xy[0, nose]) < 4.0
        assert out[i].xy[0, nose, 0] == pytest.approx(out[0].xy[0, nose, 0] + 4 * i, abs=4.0)


def test_topdown_costs_one_crop_per_person_per_frame_and_keeps_ids(model_package, astronaut):
    pair = np.concatenate([astronaut, astronaut], axis=1)
    # The crop count below is movenet-multipose's (exactly the two astronauts); nanodet adds weak extra boxes.
    tracker = PoseTracker(load_topdown("movenet-thunder", "movenet-multipose"), smooth=False, detect_every=10)
    seen = []  # the track whose crop (or covering detector box) found each person, frame by frame
    inner = tracker.tracker.update

    def spy(poses, time, confident=None, sources=None, **rest):
        seen.append(None if sources is None else sources.tolist())
        return inner(poses, time, confident, sources, **rest)

    tracker.tracker.update = spy
    out = [tracker.update(f, i / 30) for i, f in enumerate(panned(pair, 12, step=3))]
    assert all(len(p) == 2 for p in out)
    assert seen[0] == [-1, -1]  # the first detector run: nobody followed yet
    for found, p in zip(seen[1:], out[1:], strict=True):  # then every person comes from their own crop
        assert sorted(found) == sorted(p.track_ids.tolist()) == [1, 2]
    first = dict(zip(out[0].track_ids.tolist(), out[0].xy[:, 0, 0].tolist(), strict=True))
    assert sorted(first) == [1, 2]
    for i, p in enumerate(out):  # each identity stays on its astronaut (the left one stays left)
        by_id = dict(zip(p.track_ids.tolist(), p.xy[:, 0, 0].tolist(), strict=True))
        assert by_id[1] == pytest.approx(first[1] + 3 * i, abs=6)
        assert by_id[2] == pytest.approx(first[2] + 3 * i, abs=6)
    s = tracker.stats
    assert s.detector_runs == 2  # frames 1 and 11
    assert s.crops == 2 * 12  # 2 crops on each detector frame, 2 followed crops on the others


def test_multi_person_model_runs_every_frame_and_no_track_gives_no_ids(model_package, astronaut):
    model = posekit.load_model("movenet-multipose")
    tracked = PoseTracker(model)
    plain = PoseTracker(model, track=False)
    for i, f in enumerate(panned(astronaut, 4)):
        a, b = tracked.update(f, i / 30), plain.update(f, i / 30)
        assert a.track_ids is not None and 1 in a.track_ids.tolist()
        assert b.track_ids is None and len(b) >= 1
    assert tracked.stats.detector_runs == 4 and tracked.stats.crops == 0
    # The tracker runs a copy of the model down to the low score (faint people continue tracks); the
    # caller's model keeps its own floor.
    assert (tracked.model.min_score, tracked.min_score, model.min_score) == (0.1, 0.25, 0.25)
    assert tracked.model.runner is model.runner


def test_detect_every_must_be_positive(model_package):
    with pytest.raises(PosekitError, match="--detect-every"):
        PoseTracker(posekit.load_model("movenet-lightning"), detect_every=0)


def test_whole_frame_models_get_the_reduced_decode_and_the_same_poses(model_package, astronaut, tmp_path):
    """``detect_frame`` hands MoveNet the frame scaled from the decoder's YUV straight to its input fit
    (never the full RGB frame) and scales the poses back: the same people, keypoints within ~1% of the
    image of those from the full frame."""
    av = pytest.importorskip("av")
    from posekit.video.io import VideoReader

    big = np.asarray(__import__("PIL.Image", fromlist=["Image"]).fromarray(astronaut).resize((1024, 1024)))
    path = tmp_path / "astronaut.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25, options={"crf": "18"})
        s.width, s.height, s.pix_fmt = 1024, 1024, "yuv420p"
        for i in range(3):
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.roll(big, 8 * i, axis=1), format="rgb24")))
        c.mux(s.encode(None))
    model = posekit.load_model("movenet-multipose")
    assert model.fit_side == 256
    tracker = PoseTracker(model, track=False)
    with VideoReader(path) as reader:
        for frame in reader:
            reduced = tracker.detect_frame(frame)
            assert frame._rgb is None  # the full RGB frame was not made
            full = tracker.detect(frame.rgb)
            assert len(reduced) == len(full) >= 1
            confident = full.scores[0] > 0.5
            err = np.abs(reduced.xy[0] - full.xy[0])[confident].max()
            assert err < 0.012 * 1024, err
            np.testing.assert_allclose(reduced.boxes[0], full.boxes[0], atol=0.012 * 1024)
    tracked = PoseTracker(model)
    with VideoReader(path) as reader:
        for frame in reader:
            poses = tracked.update_frame(frame)
            assert poses.track_ids is not None and poses.track_ids.tolist() == [1]
            assert frame._rgb is None
