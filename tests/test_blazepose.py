"""BlazePose: anchors, detection decoding, weighted NMS and the ROI transform on hand-made cases with exact
answers; then the real detector + landmark graphs on the astronaut."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import posekit
from posekit.decode.blazepose import (
    Detections,
    Roi,
    alignment_roi,
    decode_detections,
    roi_change,
    ssd_anchors,
    weighted_nms,
)
from posekit.models.blazepose import crop_matrix, warp


def test_anchor_grid_matches_mediapipe_pose_detection():
    a = ssd_anchors()
    assert a.shape == (2254, 2)
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28], atol=1e-7)
    np.testing.assert_allclose(a[1], a[0])  # 2 anchors per cell in the stride-8 layer
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28], atol=1e-7)
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14], atol=1e-7)  # first stride-16 anchor
    np.testing.assert_allclose(a[1960], [0.5 / 7, 0.5 / 7], atol=1e-7)  # stride 32: 3 layers merged
    np.testing.assert_allclose(a[1960:1966], np.repeat([[0.5 / 7, 0.5 / 7]], 6, axis=0), atol=1e-7)
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7], atol=1e-7)


def test_decode_detection_row():
    anchors = ssd_anchors()
    raw = np.full((2254, 13), -50.0, np.float32)
    raw[100] = [2.0, 22.4, -11.2, 44.8, 22.4, 0, 0, 22.4, 22.4, 0, 0, 0, 0]
    d = decode_detections(raw, anchors, min_score=0.5)
    assert len(d) == 1
    assert d.scores[0] == pytest.approx(1 / (1 + math.exp(-2.0)))
    cx, cy = anchors[100] + [0.1, -0.05]
    np.testing.assert_allclose(d.boxes[0], [cx - 0.1, cy - 0.05, cx + 0.1, cy + 0.05], atol=1e-6)
    np.testing.assert_allclose(d.keypoints[0, 1], anchors[100] + 0.1, atol=1e-6)


def test_weighted_nms_averages_overlapping_boxes():
    boxes = np.array([[0, 0, 1, 1], [0.1, 0, 1.1, 1], [5, 5, 6, 6]], np.float32)
    kps = np.zeros((3, 4, 2), np.float32)
    kps[:, 0, 0] = [0.0, 1.0, 9.0]
    dets = Detections(np.array([0.6, 0.2, 0.9], np.float32), boxes, kps)
    out = weighted_nms(dets, iou_threshold=0.3)
    np.testing.assert_allclose(out.scores, [0.9, 0.6])
    np.testing.assert_allclose(out.boxes[0], [5, 5, 6, 6])
    np.testing.assert_allclose(out.boxes[1], [0.025, 0, 1.025, 1], atol=1e-6)  # (0.6*0 + 0.2*0.1) / 0.8
    assert out.keypoints[1, 0, 0] == pytest.approx(0.25)
    assert len(weighted_nms(dets, 0.3, max_detections=1)) == 1
    # a chain: B overlaps A and C (IoU 1/3 each), A and C do not meet; A absorbs B, and C, whose only
    # overlap went with A's group, stays on its own
    chain = np.array([[0, 0, 1, 1], [0.5, 0, 1.5, 1], [1, 0, 2, 1]], np.float32)
    out = weighted_nms(Detections(np.array([0.9, 0.8, 0.7], np.float32), chain, kps), 0.3)
    np.testing.assert_allclose(out.scores, [0.9, 0.7])
    np.testing.assert_allclose(out.boxes, [[0.8 / 1.7 * 0.5, 0, 1 + 0.8 / 1.7 * 0.5, 1], [1, 0, 2, 1]],
                               atol=1e-6)


@pytest.mark.parametrize("edge, angle", [((100, 0), 0.0), ((200, 100), math.pi / 2), ((0, 100), -math.pi / 2),
                                         ((100, 200), -math.pi)])
def test_alignment_roi_rotation_and_size(edge, angle):
    roi = alignment_roi(np.array([100.0, 100.0]), np.array(edge, float))
    assert roi.angle == pytest.approx(angle)
    assert roi.size == pytest.approx(2 * 100 * 1.25) and (roi.cx, roi.cy) == (100, 100)
    # The crop's "up" (towards v = 0) points from the centre to the edge point in the image.
    top_mid = roi.to_image(np.array([128.0, 0.0]), 256)
    direction = (np.array(edge) - [100, 100]) / 100
    np.testing.assert_allclose((top_mid - [100, 100]) / 125, direction, atol=1e-6)


def test_roi_round_trip_and_warp():
    roi = Roi(200.0, 150.0, 120.0, 0.7)
    pts = np.array([[10.0, 20.0], [128.0, 128.0], [255.0, 3.0]])
    np.testing.assert_allclose(roi.to_crop(roi.to_image(pts, 256), 256), pts, atol=1e-4)
    np.testing.assert_allclose(roi.to_image(np.array([128.0, 128.0]), 256), [200, 150], atol=1e-5)
    # A bright 3x3 square in an image lands where to_crop says in the rotated crop (crop pixel index u shows
    # the image at roi.to_image(u), as MediaPipe's warp does).
    image = np.zeros((300, 400, 3), np.uint8)
    image[169:172, 219:222] = 255  # centre (220.5, 170.5) in continuous pixels
    crop = warp(image, crop_matrix(roi, 256), (256, 256)).astype(float)[..., 0]
    ys, xs = np.nonzero(crop > 0)
    w = crop[ys, xs]
    centre = np.array([np.average(xs, weights=w), np.average(ys, weights=w)])
    np.testing.assert_allclose(centre, roi.to_crop(np.array([220.5, 170.5]), 256), atol=0.1)


@pytest.mark.parametrize("b, expected", [
    (Roi(100, 50, 200, 0.3), 0.0),
    (Roi(130, 90, 200, 0.3), 0.25),  # centre moved 50 px of a 200 px side
    (Roi(100, 50, 200 * math.e, 0.3), 1.0),  # side x e: |log| = 1
    (Roi(100, 50, 200, 0.3 - 0.2 * math.pi), 0.2),
    (Roi(100, 50, 200, 0.3 + 1.9 * math.pi), 0.1),  # wrapped: 0.1 pi the short way round
])
def test_roi_change(b, expected):
    assert roi_change(Roi(100, 50, 200, 0.3), b) == pytest.approx(expected)


def _found(rois, aux):
    """A BlazePoseResult of people found on ``rois`` with alignment landmarks ``aux`` ((N, 2, 2) pixels)."""
    from posekit.models.blazepose import BlazePoseResult
    from posekit.skeletons import BLAZEPOSE33
    from posekit.types import Poses

    n = len(rois)
    poses = Poses(np.zeros((n, 33, 2), np.float32), np.ones((n, 33), np.float32), np.ones(n, np.float32),
                  BLAZEPOSE33)
    return BlazePoseResult(poses, np.ones((n, 33), np.float32), np.zeros((n, 33, 3), np.float32), tuple(rois),
                           aux=np.asarray(aux, np.float32))


def _follow(smoother, aux_frames, fps=30.0):
    """Each frame's next ROI from ``RoiSmoother`` fed as PoseTracker feeds it (one person, found on the ROI
    the smoother gave the frame before; the first on a detection)."""
    rois, out = (Roi(0, 0, 1, 0),), []
    for i, aux in enumerate(aux_frames):
        rois = smoother.next_rois(_found(rois, [aux]), i / fps)
        out.append(rois[0])
    return out


STILL = np.array([[300.0, 400.0], [300.0, 300.0]])  # hip centre, full-body circle point: ROI side 250 px


def test_roi_smoother_starts_at_the_landmarks_roi_and_holds_a_still_person():
    from posekit.models.blazepose import RoiSmoother

    rng = np.random.default_rng(0)
    jittered = STILL + rng.normal(0, 3.0, (330, 2, 2))
    smoothed = _follow(RoiSmoother(), jittered)
    raw = [alignment_roi(*a) for a in jittered.astype(np.float32)]
    assert smoothed[0] == raw[0]  # a new filter starts at its first value
    centre = np.array([[r.cx, r.cy] for r in smoothed[30:]])
    raw_centre = np.array([[r.cx, r.cy] for r in raw[30:]])
    # the crop of a still person jitters far less than its landmarks (MediaPipe's aim for this filter; the
    # jitter's own speed raises the cutoff, so not to nothing): 0.37-0.43x in place and 0.32-0.46x in size
    # over eight seeds
    assert centre.std(axis=0).max() < 0.5 * raw_centre.std(axis=0).min()
    sides = np.array([r.size for r in smoothed[30:]])
    assert sides.std() < 0.6 * np.std([r.size for r in raw[30:]])


def test_roi_smoother_follows_a_moving_person_with_a_short_lag():
    from posekit.models.blazepose import RoiSmoother

    # 8 px a frame at 30 fps on a 200 px object scale: 1.2 scales per second, a cutoff of 12 Hz: the
    # filtered centre trails by v (1 - alpha) / alpha = 3.2 px once the speed estimate has settled
    moving = [STILL + [8.0 * i, 0.0] for i in range(40)]
    smoothed = _follow(RoiSmoother(), moving)
    lag = [m[0, 0] - r.cx for m, r in zip(moving, smoothed, strict=True)]
    assert lag[0] == 0.0
    assert 2.5 < lag[-1] < 4.0
    assert smoothed[-1].cy == pytest.approx(400.0) and smoothed[-1].angle == pytest.approx(0.0)


def test_roi_smoother_keeps_a_filter_per_person_and_starts_afresh_on_a_detection():
    from posekit.models.blazepose import RoiSmoother

    rng = np.random.default_rng(1)
    a, b = STILL + rng.normal(0, 3.0, (12, 2, 2)), STILL + [250.0, 0.0] + rng.normal(0, 3.0, (12, 2, 2))
    alone = [_follow(RoiSmoother(), x) for x in (a, b)]
    smoother, rois = RoiSmoother(), (Roi(0, 0, 1, 0), Roi(1, 1, 1, 0))
    for i in range(12):
        # the people come back in either order (as a model lists them): each keeps its own filter
        order = [0, 1] if i % 2 else [1, 0]
        found = _found([rois[k] for k in order], [(a, b)[k][i] for k in order])
        nxt = smoother.next_rois(found, i / 30)
        rois = tuple(nxt[order.index(k)] for k in (0, 1))
        assert rois == (alone[0][i], alone[1][i])
    # a person found on a ROI the smoother did not give (the detector's) gets a new filter
    fresh = smoother.next_rois(_found([Roi(5, 5, 5, 0)], [a[0]]), 12 / 30)
    assert fresh == (alignment_roi(*a[0].astype(np.float32)),) and len(smoother.filters) == 1


@pytest.fixture(scope="module")
def astronaut():
    return pytest.importorskip("skimage.data").astronaut()


@pytest.mark.network
@pytest.mark.parametrize("name", ["blazepose-lite", "blazepose-full", "blazepose-heavy"])
def test_finds_the_astronauts_face_and_shoulders(model_package, astronaut, name):
    poses = posekit.load_model(name).predict(astronaut)
    assert len(poses) == 1 and poses.xy.shape == (1, 33, 2) and poses.pose_scores[0] > 0.9
    names = poses.schema.keypoints
    nose = poses.xy[0, names.index("nose")]
    assert abs(nose[0] - 222) < 15 and abs(nose[1] - 122) < 15, nose
    ls, rs = poses.xy[0, names.index("left_shoulder")], poses.xy[0, names.index("right_shoulder")]
    assert rs[0] < nose[0] - 60 and ls[0] > nose[0] + 60 and 180 < ls[1] < 300 and 180 < rs[1] < 300
    assert poses.scores[0, names.index("nose")] > 0.9


@pytest.mark.network
def test_detector_finds_both_astronauts_and_mask_covers_her(model_package, astronaut):
    model = posekit.load_model("blazepose-full", segmentation=True, max_poses=2)
    pair = np.concatenate([astronaut, astronaut], axis=1)
    found = model.detector.detect(pair)
    assert len(found.scores) == 2 and found.scores.min() > 0.8
    hips_x = sorted(found.keypoints[:, 0, 0])  # hip centres, below each bust (outside the photo: a guess)
    assert 100 < hips_x[0] < 400 and 100 < hips_x[1] - 512 < 400
    result = model.predict_detailed(astronaut)
    assert result.masks.shape == (1, 512, 512)
    assert result.masks[0, 350, 200] > 0.9 and result.masks[0, 30, 30] < 0.1  # suit vs. flag corner
    assert result.presence.shape == (1, 33) and result.world.shape == (1, 33, 3)


@pytest.mark.network
def test_roi_check_runs_again_where_the_landmarks_moved_the_roi(model_package, astronaut):
    model = posekit.load_model("blazepose-full")
    good = model.predict_detailed(astronaut).rois[0]
    off = replace(good, cx=good.cx + 0.2 * good.size)  # a fifth of the side to the right
    first = model.predict_rois(astronaut, (off,))
    assert len(first.poses) == 1 and roi_change(off, first.next_rois[0]) > 0.1
    checked = model._check_rois(astronaut, first)
    assert checked.tried == first.next_rois and checked.rois == first.next_rois
    assert abs(checked.next_rois[0].cx - good.cx) < abs(first.next_rois[0].cx - good.cx)
    model.roi_check = 0.5  # the move is under it: nothing runs again
    kept = model._check_rois(astronaut, first)
    assert kept.tried == () and kept.rois == (off,)
    np.testing.assert_array_equal(kept.poses.xy, first.poses.xy)


@pytest.mark.network
def test_landmark_graph_gives_the_converted_graphs_outputs(model_package, astronaut):
    """posekit's landmark graph (a uint8 crop in, the heatmap out before its sigmoid, constant upsampling
    scales where the segmentation is cut) gives the converted graph's outputs on a real crop: lite's
    landmarks bit for bit, heavy's within 1e-3 crop pixels, the heatmap's sigmoid and the mask within 1e-5."""
    from posekit.convert import cached_onnx
    from posekit.decode import sigmoid
    from posekit.errors import PosekitError
    from posekit.models.blazepose import HEATMAP_LOGITS, landmark_graph
    from posekit.models.runner import Runner

    converted = Runner(cached_onnx("blazepose-lite"))
    full, cut = Runner(landmark_graph("blazepose-lite", True)), Runner(landmark_graph("blazepose-lite"))
    seg = "activation_segmentation"
    assert seg in full.output_names and seg not in cut.output_names
    crop = np.ascontiguousarray(astronaut[None, :256, 128:384])
    image = converted.input_names[0]
    want = converted.run({image: np.multiply(crop, np.float32(1 / 255), dtype=np.float32)})
    for got in (full.run({image: crop}), cut.run({image: crop})):
        assert "activation_heatmap" not in got
        for name in ("ld_3d", "world_3d", "output_poseflag"):
            np.testing.assert_array_equal(got[name], want[name])
        np.testing.assert_allclose(sigmoid(got[HEATMAP_LOGITS]), want["activation_heatmap"], atol=1e-5)
    np.testing.assert_allclose(full.run({image: crop})[seg], want[seg], atol=1e-5)
    # heavy: its upsampled features reach the landmark head too, so the NCHWc upsampling moves them a little
    heavy = Runner(cached_onnx("blazepose-heavy"))
    want = heavy.run({image: np.multiply(crop, np.float32(1 / 255), dtype=np.float32)})
    got = Runner(landmark_graph("blazepose-heavy")).run({image: crop})
    np.testing.assert_allclose(got["ld_3d"], want["ld_3d"], atol=1e-3)  # crop pixels
    np.testing.assert_allclose(got["world_3d"], want["world_3d"], atol=1e-5)
    np.testing.assert_allclose(sigmoid(got[HEATMAP_LOGITS]), want["activation_heatmap"], atol=1e-5)
    model = posekit.load_model("blazepose-lite")
    model.segmentation = True
    with pytest.raises(PosekitError, match="segmentation=True"):
        model.predict_detailed(astronaut)


@pytest.mark.network
def test_detector_graph_takes_uint8_and_gives_the_converted_graphs_output(model_package, astronaut):
    from posekit.convert import cached_onnx
    from posekit.models.blazepose import BlazePoseDetector
    from posekit.models.runner import Runner

    detector = BlazePoseDetector.load()
    boxed, _ = detector.preprocess(astronaut)
    assert boxed.dtype == np.uint8 and boxed.shape == (1, 224, 224, 3)
    scaled = np.subtract(np.multiply(boxed, np.float32(1 / 127.5), dtype=np.float32), np.float32(1))
    converted = Runner(cached_onnx("blazepose-detector"))
    want = next(iter(converted.run({converted.input_names[0]: scaled}).values()))
    # constant resize scales and the 1x1 convolutions moved before the upsamplings: only the rounding differs
    np.testing.assert_allclose(detector.infer(boxed), want[0], rtol=2e-5, atol=2e-3)


