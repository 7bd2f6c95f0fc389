"""BlazePose stage by stage against MediaPipe 0.10.14: the heatmap refinement and the OpenCV-style warp on
hand-made inputs with exact answers, then posekit's pipeline against MediaPipe Pose itself on real photos
(skipped, with the install command, where the MediaPipe reference or the shared data is missing)."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from posekit.decode.blazepose import Roi, letterbox_roi, refine_from_heatmap
from posekit.models.blazepose import crop_matrix, warp

ROOT = Path(__file__).resolve().parents[1]


def _mediapipe_reference():
    spec = importlib.util.spec_from_file_location(
        "mediapipe_pose", ROOT / "tools" / "mediapipe-reference" / "mediapipe_pose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- RefineLandmarksFromHeatmapCalculator ---------------------------------------------------------------

def test_refine_moves_to_the_weighted_mean_cell_index():
    hm = np.zeros((64, 64, 2), np.float32)
    hm[20, 30, 0], hm[20, 32, 0] = 0.9, 0.3  # mean col (30 * 0.9 + 32 * 0.3) / 1.2 = 30.5, row 20
    hm[40, 10, 1] = 0.4  # below min confidence 0.5: landmark 1 stays
    uv = np.array([[31.7 / 64, 21.2 / 64], [10.5 / 64, 40.5 / 64]], np.float32)
    out = refine_from_heatmap(uv, hm)
    np.testing.assert_allclose(out[0], [30.5 / 64, 20 / 64], rtol=1e-6)  # cell index, not its centre
    np.testing.assert_array_equal(out[1], uv[1])


def test_refine_window_is_7_cells_and_shrinks_at_the_edge():
    hm = np.zeros((64, 64, 1), np.float32)
    hm[10, 14, 0] = 0.9  # 4 cells right of the landmark's cell 10: outside a 7-cell window
    assert refine_from_heatmap(np.array([[10.2 / 64, 10.2 / 64]]), hm)[0, 0] == pytest.approx(10.2 / 64)
    hm[10, 13, 0] = 0.6  # 3 cells right: inside; only it counts
    out = refine_from_heatmap(np.array([[10.2 / 64, 10.2 / 64]]), hm)[0]
    np.testing.assert_allclose(out, [13 / 64, 10 / 64])
    edge = np.zeros((64, 64, 1), np.float32)
    edge[0, 0, 0], edge[0, 2, 0] = 0.8, 0.8
    np.testing.assert_allclose(refine_from_heatmap(np.array([[0.0, 0.0]]), edge)[0], [1 / 64, 0.0], atol=1e-7)


def test_refine_keeps_mediapipes_bounds_checks():
    hm = np.full((64, 64, 1), 0.9, np.float32)
    # x slightly negative truncates to cell 0 (C++ int conversion), so it is refined.
    assert refine_from_heatmap(np.array([[-0.5 / 64, 5 / 64]]), hm)[0, 0] == pytest.approx(1.5 / 64)
    # Column past the edge: kept. Row past the edge: refined from the rows that overlap (MediaPipe tests the
    # column twice and never the row's upper bound).
    outside = np.array([[64.5 / 64, 5 / 64]], np.float32)
    np.testing.assert_array_equal(refine_from_heatmap(outside, hm), outside)
    out = refine_from_heatmap(np.array([[5 / 64, 65.2 / 64]]), hm)[0]
    np.testing.assert_allclose(out, [5 / 64, 62.5 / 64])  # rows 62 and 63 of the window 62..68
    assert refine_from_heatmap(np.array([[5 / 64, 80 / 64]]), hm)[0, 1] == pytest.approx(80 / 64)


def test_refine_from_logits_equals_refine_from_probabilities():
    rng = np.random.default_rng(5)
    logits = rng.normal(0, 3, (64, 64, 5)).astype(np.float32)
    uv = np.array([[0.5, 0.5], [0.01, 0.02], [0.99, 0.3], [0.3, 65.2 / 64], [1.2, 0.5]], np.float32)
    probs = (1 / (1 + np.exp(-logits))).astype(np.float32)
    want = refine_from_heatmap(uv, probs)
    assert not np.array_equal(want[:4], uv[:4])  # refined
    np.testing.assert_allclose(refine_from_heatmap(uv, logits, logits=True), want, rtol=1e-6)


# --- ImageToTensorCalculator's warp -------------------------------------------------------------------

def test_warp_samples_pixel_indices_bilinearly_with_the_chosen_border():
    img = np.array([[0, 100], [200, 40]], np.uint8)[..., None].repeat(3, axis=2)
    half = np.array([[1.0, 0, 0.5], [0, 1.0, 0.0]])  # output index (u, v) takes input index (u + 0.5, v)
    out = warp(img, half, (3, 2))[..., 0]
    np.testing.assert_array_equal(out, [[50, 100, 100], [120, 40, 40]])  # right of the image: replicated
    out = warp(img, half, (3, 2), border="zero")[..., 0]
    np.testing.assert_array_equal(out, [[50, 50, 0], [120, 20, 0]])  # right of the image: blends to 0
    far = np.array([[1.0, 0, -10.0], [0, 1.0, -10.0]])  # all samples far above-left of the image
    np.testing.assert_array_equal(warp(img, far, (2, 2))[..., 0], np.zeros((2, 2)))  # nearest pixel: 0
    right = far + [[0, 0, 13], [0, 0, 9]]  # all samples beyond the top-right corner: its value
    np.testing.assert_array_equal(warp(img, right, (2, 2))[..., 0], [[100, 100], [100, 100]])
    np.testing.assert_array_equal(warp(img, right, (2, 2), border="zero"), np.zeros((2, 2, 3)))


def _bilinear(img, matrix, size, border):
    """Plain float bilinear sampling, pixel by pixel: what OpenCV's fixed-point warp approximates."""
    h, w = img.shape[:2]
    out = np.zeros((size[1], size[0], img.shape[2]))
    for v in range(size[1]):
        for u in range(size[0]):
            x, y = matrix @ [u, v, 1]
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
                for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
                    inside = 0 <= xx < w and 0 <= yy < h
                    if border == "replicate" or inside:
                        out[v, u] += wx * wy * img[min(max(yy, 0), h - 1), min(max(xx, 0), w - 1)]
    return out


@pytest.mark.parametrize("border", ["replicate", "zero"])
def test_warp_rotated_and_partly_outside_equals_bilinear_sampling(border):
    img = np.random.default_rng(2).integers(0, 256, (9, 11, 3)).astype(np.uint8)
    c, s = np.cos(0.7), np.sin(0.7)
    matrix = np.array([[1.3 * c, -1.3 * s, 2.2], [1.3 * s, 1.3 * c, -3.4]])  # rotated, scaled, off the corner
    got = warp(img, matrix, (12, 10), border).astype(float)
    want = _bilinear(img, matrix, (12, 10), border)
    assert got.shape == (10, 12, 3)
    assert np.abs(got - want).max() <= 1.0 + 1e-9  # 1/32-pixel weights, rounded to uint8
    assert (border == "zero") == (got[0, 0] == 0).all()  # (2.2, -3.4) is above the image: 0 or replicated


def test_letterbox_square_matches_mediapipes_normalised_frame():
    roi = letterbox_roi(640, 480)
    # Normalised (0, 0) of the 224 input is pixel index (0, -80); (1, 1) is index (640, 560).
    np.testing.assert_allclose(roi.to_image(np.array([[0.0, 0.0], [224.0, 224.0]]), 224),
                               [[0.5, -79.5], [640.5, 560.5]], atol=1e-4)
    m = crop_matrix(roi, 224)
    np.testing.assert_allclose(m @ [0, 0, 1], [0, -80], atol=1e-9)


# --- posekit vs MediaPipe Pose on real photos --------------------------------------------------------

@pytest.fixture(scope="module")
def mediapipe_pose():
    ref = _mediapipe_reference()
    if ref.mediapipe_python() is None:
        pytest.skip(ref.MISSING)
    with ref.MediaPipePose(static_image_mode=True) as pose:
        yield pose


@pytest.fixture(scope="module")
def photos(shared_data):
    media = sorted((shared_data / "media").glob("*.jpg"))
    coco = sorted((shared_data / "coco-mini-train" / "train2017").glob("*.jpg"))[:20]
    return media + coco


def _load(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def _mp_pixels(norm, width, height):
    """MediaPipe's normalised x, y -> posekit's continuous pixels (MediaPipe's x * width is a pixel index)."""
    return np.asarray(norm, np.float64)[..., :2] * [width, height] + 0.5


def _mp_roi(rect, width, height):
    """MediaPipe's normalised rect (x_center, y_center, width, height, rotation) -> posekit's Roi in
    continuous pixels (its square's side is width * image width)."""
    xc, yc, side, _, angle = rect
    return Roi(xc * width + 0.5, yc * height + 0.5, side * width, angle)


def _body_size(xy):
    return float(np.linalg.norm(xy.max(axis=0) - xy.min(axis=0)))


@pytest.mark.network
def test_landmark_stage_equals_mediapipe_on_mediapipes_roi(model_package, mediapipe_pose, photos):
    """Crop warp with the border replicated, landmark decoding, heatmap refinement and projection: given the
    ROI MediaPipe used, posekit's landmarks are within 1% of body size of MediaPipe's (median landmark) on
    every photo, and the pose flag agrees."""
    import posekit

    model = posekit.load_model("blazepose-full")
    checked, roi_errs, first = 0, [], True
    for path in photos:
        rgb = _load(path)
        h, w = rgb.shape[:2]
        ref = mediapipe_pose.process(path)
        fresh, first = first, ref["landmarks"] is None
        if ref["roi_from_detection"] is None:
            continue
        res = model.predict_rois(rgb, (_mp_roi(ref["roi_from_detection"], w, h),))
        assert (len(res.poses) == 1) == (ref["landmarks"] is not None), path.name
        if ref["landmarks"] is None:
            continue
        mp_xy = _mp_pixels(ref["landmarks"], w, h)
        err = np.median(np.linalg.norm(res.poses.xy[0] - mp_xy, axis=1)) / _body_size(mp_xy)
        assert err < 0.01, (path.name, err)
        mp_vis, mp_presence = np.array(ref["landmarks"])[:, 3], np.array(ref["landmarks"])[:, 4]
        np.testing.assert_allclose(res.poses.scores[0], mp_vis, atol=0.15)  # 0.1 apart near 0.5 at most
        np.testing.assert_allclose(res.presence[0], mp_presence, atol=0.15)
        np.testing.assert_allclose(res.world[0], ref["world"], atol=0.05)  # metres, turned by the ROI
        # PoseLandmarksToRoi: the next frame's ROI from the two alignment landmarks. MediaPipe smooths them
        # first, even in static mode (its auxiliary-landmark filter has no off switch), so only its first
        # pose after an image without one (the filter reset) is the unfiltered ROI.
        if fresh:
            theirs, nxt = _mp_roi(ref["roi_from_landmarks"], w, h), res.next_rois[0]
            roi_errs.append([np.hypot(nxt.cx - theirs.cx, nxt.cy - theirs.cy) / theirs.size,
                             abs(nxt.size / theirs.size - 1), abs(nxt.angle - theirs.angle)])
        checked += 1
    assert checked >= 15
    roi_errs = np.array(roi_errs)
    assert len(roi_errs) >= 5  # centre (of the side), side, angle (radians)
    assert (roi_errs.max(axis=0) < [0.01, 0.02, 0.02]).all(), roi_errs.round(4).tolist()


@pytest.mark.network
@pytest.mark.xfail(strict=True, reason="the npm package's blazepose-detector is another network than "
                   "MediaPipe 0.10.14's pose_detection.tflite (outputs differ on the same input), so the "
                   "ROIs and who is found differ; every stage after the detector network matches")
def test_whole_pipeline_equals_mediapipe(model_package, mediapipe_pose, photos):
    import posekit

    model = posekit.load_model("blazepose-full", fallback=False, roi_check=None)  # MediaPipe's pipeline
    same, errs = 0, []
    for path in photos:
        rgb = _load(path)
        h, w = rgb.shape[:2]
        ref = mediapipe_pose.process(path)
        poses = model.predict(rgb)
        same += (len(poses) == 1) == (ref["landmarks"] is not None)
        if len(poses) and ref["landmarks"] is not None:
            mp_xy = _mp_pixels(ref["landmarks"], w, h)
            errs.append(np.median(np.linalg.norm(poses.xy[0] - mp_xy, axis=1)) / _body_size(mp_xy))
    assert same == len(photos)
    assert np.median(errs) <= 0.01


@pytest.mark.network
def test_video_filters_give_mediapipes_next_roi_and_landmarks(model_package, shared_data, tmp_path):
    """On video MediaPipe filters the two alignment landmarks (One Euro) before it makes the next frame's ROI,
    and the landmarks it returns (another One Euro, speed in object scales). Given the ROI MediaPipe cropped
    each frame of video.avi with, posekit's landmarks through ``RoiSmoother`` give MediaPipe's next ROI within
    0.5% of its side (median frame), where the unfiltered landmarks are 2% off; and through PoseTracker's
    filter (``BlazePose.smoothing`` with ``smoothing_scales``) MediaPipe's landmarks within 0.25% of body size
    (median frame, median landmark), where the raw ones are 0.8% off, and its visibility (low-passed); the
    filters, their parameters and their speed units are MediaPipe's."""
    import posekit
    from posekit.decode.blazepose import roi_change
    from posekit.models.blazepose import RoiSmoother
    from posekit.video.io import VideoReader
    from posekit.video.tracks import Tracker

    ref_mod = _mediapipe_reference()
    if ref_mod.mediapipe_python() is None:
        pytest.skip(ref_mod.MISSING)
    with VideoReader(shared_data / "media" / "video.avi") as reader:
        frames = [f.rgb for f in reader]
    model = posekit.load_model("blazepose-full")
    h, w = frames[0].shape[:2]
    smoother, filtered, raw, used, nxt = RoiSmoother(), [], [], None, ()
    tracker = Tracker(model.schema, smoothing=model.smoothing, score_smoothing=model.score_smoothing)
    smoothed_err, raw_err, smoothed_vis, raw_vis = [], [], [], []
    with ref_mod.MediaPipePose(static_image_mode=False) as pose:
        for i, rgb in enumerate(frames):
            np.save(tmp_path / "frame.npy", rgb)
            ref = pose.process(tmp_path / "frame.npy")
            assert ref["landmarks"] is not None, i  # MediaPipe follows the person on every frame
            # the ROI MediaPipe cropped: its detection's, else the one its last frame's landmarks gave
            detected = ref["detection"] is not None
            used = _mp_roi(ref["roi_from_detection"], w, h) if detected else used
            res = model.predict_rois(rgb, (used,))
            assert len(res.poses) == 1, i
            if not detected:  # the person the smoother follows (found on MediaPipe's ROI, not on its own)
                res = replace(res, rois=nxt)
            # MediaPipe's clock: the solution API steps 33,333 us per frame, from 33,333
            nxt = smoother.next_rois(res, (i + 1) / 30)
            target = _mp_roi(ref["roi_from_landmarks"], w, h)
            filtered.append(roi_change(target, nxt[0]))
            raw.append(roi_change(target, res.next_rois[0]))
            used = target
            out = tracker.update(res.poses, (i + 1) / 30, scales=model.smoothing_scales(res))
            theirs = _mp_pixels(ref["landmarks"], w, h)
            for xy, errs in ((out.xy[0], smoothed_err), (res.poses.xy[0], raw_err)):
                errs.append(np.median(np.linalg.norm(xy - theirs, axis=1)) / _body_size(theirs))
            visibility = np.array(ref["landmarks"])[:, 3]
            smoothed_vis.append(np.abs(out.scores[0] - visibility).mean())
            raw_vis.append(np.abs(res.poses.scores[0] - visibility).mean())
    assert len(filtered) == len(frames) > 200
    assert np.median(filtered) < 0.005 and max(filtered) < 0.03, (np.median(filtered), max(filtered))
    assert np.median(raw) > 0.01  # without the filter: posekit's ROI jitters where MediaPipe's holds
    # measured 0.21% (0.23% with person sizes for the speed and beta 80 / 1.8, the units used before)
    assert np.median(smoothed_err) < 0.0025 and np.median(raw_err) > 0.006
    # visibility, low-passed as MediaPipe does: 0.0004 apart (mean over landmarks, median frame), raw 0.045
    assert np.median(smoothed_vis) < 0.002 and max(smoothed_vis) < 0.01 and np.median(raw_vis) > 0.02
