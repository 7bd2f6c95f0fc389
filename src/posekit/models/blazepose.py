"""BlazePose (lite / full / heavy): 33 keypoints, two stages as in MediaPipe's pose graphs.

Each stage as MediaPipe 0.10.14's pose_landmark_cpu graph runs it (checked against it in
tests/test_blazepose_mediapipe.py):

1. Detector (224 x 224, RGB in -1..1): the image letterboxed into the centred square (zero border) and
   sampled bilinearly without antialiasing by OpenCV's warpAffine (MediaPipe's sampler); 2254 SSD anchors
   -> face box + 4 alignment points (hip centre, full-body circle point, shoulder centre, upper-body circle
   point), score >= 0.5, weighted NMS at IoU 0.3 (`posekit.decode.blazepose`).
2. Landmarks (256 x 256, RGB in 0..1) on the square ROI around the hip centre, side 2 * |circle point - hip
   centre| * 1.25, rotated so the body points up, sampled (warpAffine) with the border replicated.
   ``ld_3d`` holds 39 rows of (x, y, z, visibility, presence) in crop pixels (33 landmarks, then the 2
   alignment points, then 4 unused); x, y are refined on the heatmap (7 x 7 window, confidence 0.5) and go
   back through the ROI transform. Keypoint score = sigmoid(visibility); pose score = the pose flag
   (already a probability; below ``min_score`` = nobody). World landmarks are turned by the ROI's
   rotation. The segmentation output (already 0..1) is warped back to the image on request.
3. Video (``track``): the next frame's ROI comes from this frame's two alignment landmarks (hip centre,
   full-body circle point) as MediaPipe's PoseLandmarksToRoi does; the detector runs only when no ROI is
   carried (the first frame, or the pose flag fell below ``min_score``; with ``fallback``, posekit also
   detects at once on the frame where the carried ROI lost the person). ``RoiSmoother`` first filters
   the alignment landmarks over time as MediaPipe's pose_landmark_filtering does (One Euro, min_cutoff
   0.01, beta 10), so a still person's ROI stays still; ``PoseTracker`` uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.decode import sigmoid
from posekit.decode.blazepose import (
    DETECTOR_INPUT,
    Detections,
    Roi,
    alignment_roi,
    decode_detections,
    letterbox_roi,
    refine_from_heatmap,
    roi_change,
    ssd_anchors,
    weighted_nms,
)
from posekit.errors import PosekitError
from posekit.models.runner import Runner
from posekit.models.spec import ModelSpec
from posekit.skeletons import BLAZEPOSE33
from posekit.types import Poses
from posekit.video.smoothing import OneEuroFilter, OneEuroParams

_SRC = "https://github.com/google/mediapipe/blob/master/docs/solutions/pose.md"
SPECS = tuple(
    ModelSpec(f"blazepose-{v}", "blazepose", f"blazepose-{v}", 256, BLAZEPOSE33, False,
              f"BlazePose {v}: detector + 33 landmarks on a rotated crop ({note})", "Apache-2.0", _SRC)
    for v, note in (("lite", "fastest"), ("full", "balanced"), ("heavy", "most accurate, slowest"))
)
LANDMARK_INPUT = 256
HEATMAP_KERNEL = 7  # pose_landmark_cpu: RefineLandmarksFromHeatmapCalculator kernel_size
HEATMAP_MIN_CONFIDENCE = 0.5  # its min_confidence_to_refine (the option's default)
HEATMAP_LOGITS = "output_heatmap"  # posekit's landmark graph: the heatmap before its sigmoid
# posekit's additions to MediaPipe's single-image pipeline, tuned on LSP Extended 7,001-8,000 (PCK@0.2) and
# coco-mini-train's 80 photos (landmark passes):
ALTERNATES = 2  # detections tried one by one, after the first ``max_poses``, before the weak ones
ROI_CHECK = 0.1  # roi_change between a person's ROI and its landmarks' ROI above which the model runs again
WEAK_SCORE = 0.1  # then detections scored from this up to the detector's threshold
WEAK_TRIES = 3  # of them, best first,
WEAK_MIN_SIZE = 0.2  # whose ROI's side is at least this share of the image's longer side
WEAK_CHECK = 0.15  # roi_check for a weak detection's pose (the same PCK; 7% fewer passes on coco-mini)
_ANCHORS = ssd_anchors()


def warp(src: NDArray, matrix: NDArray[np.floating], size: tuple[int, int], border: str = "replicate"
         ) -> NDArray:
    """Sample ``src`` ((H, W, C) uint8 or (H, W) float32) with OpenCV's warpAffine, INTER_LINEAR, as
    MediaPipe's ImageToTensorCalculator runs it: output pixel index (u, v) takes ``src`` at pixel-index
    position ``matrix @ (u, v, 1)`` ((2, 3)), bilinearly (OpenCV's 1/32-pixel fixed-point weights), without
    antialiasing. ``size`` = (width, height) of the output. Outside ``src``: its nearest border pixel
    (``border="replicate"``) or 0 (``"zero"``; the edge pixels blend with it)."""
    import cv2

    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    out = cv2.warpAffine(np.ascontiguousarray(src), np.asarray(matrix, np.float64), size,
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=mode, borderValue=0)
    return out.reshape(size[1], size[0], *src.shape[2:])


def crop_matrix(roi: Roi, crop_size: int) -> NDArray[np.float64]:
    """(2, 3) crop pixel index -> image pixel index for ``warp`` (crop index u shows ``roi.to_image(u)``)."""
    m = roi.crop_to_image(crop_size)
    return np.concatenate([m[:, :2], (m[:, 2] - 0.5)[:, None]], axis=1)


@dataclass(frozen=True)
class PersonDetections:
    """Detector output in image pixels: scores (n,), face boxes (n, 4), alignment points (n, 4, 2), ROIs."""

    scores: NDArray[np.float32]
    boxes: NDArray[np.float32]
    keypoints: NDArray[np.float32]
    rois: tuple[Roi, ...]

    def person_boxes(self, width: int, height: int) -> NDArray[np.float32]:
        """(n, 4) x1, y1, x2, y2: each ROI's axis-aligned bounds clipped to the image."""
        boxes = np.array([r.bounds() for r in self.rois], np.float32).reshape(-1, 4)
        return np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)


class BlazePoseDetector:
    """The BlazePose person detector (graph ``blazepose-detector``)."""

    def __init__(self, runner: Runner, min_score: float = 0.5, iou_threshold: float = 0.3,
                 max_detections: int | None = None) -> None:
        self.runner = runner
        self.min_score = min_score
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self.input_name = runner.input_names[0]

    @classmethod
    def load(cls, threads: int | None = None, **options) -> BlazePoseDetector:
        # one image at a time: the batch fixed at 1 lets onnxruntime plan every shape (~2% faster)
        return cls(Runner(detector_graph(), threads=threads, fixed_dims={"input_d0": 1}), **options)

    def preprocess(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], Roi]:
        """(H, W, 3) uint8 -> the (1, 224, 224, 3) uint8 letterboxed image (the graph scales it to -1..1) and
        the letterbox square it shows."""
        roi = letterbox_roi(rgb.shape[1], rgb.shape[0])
        boxed = warp(rgb, crop_matrix(roi, DETECTOR_INPUT), (DETECTOR_INPUT, DETECTOR_INPUT), border="zero")
        return boxed[None], roi

    def infer(self, tensor: NDArray[np.uint8]) -> NDArray[np.float32]:
        return next(iter(self.runner.run({self.input_name: tensor}).values()))[0]

    def postprocess(self, raw: NDArray[np.float32], letterbox: Roi, min_score: float | None = None
                    ) -> PersonDetections:
        """Raw detector rows -> people with a score >= ``min_score`` (None: the detector's own)."""
        threshold = self.min_score if min_score is None else min_score
        dets: Detections = weighted_nms(decode_detections(raw, _ANCHORS, threshold), self.iou_threshold,
                                        self.max_detections)
        corners = dets.boxes.reshape(-1, 2, 2) * DETECTOR_INPUT
        boxes = letterbox.to_image(corners, DETECTOR_INPUT).reshape(-1, 4)
        kps = letterbox.to_image(dets.keypoints * DETECTOR_INPUT, DETECTOR_INPUT)
        rois = tuple(alignment_roi(k[0], k[1]) for k in kps)
        return PersonDetections(dets.scores, boxes, kps, rois)

    def detect(self, rgb: NDArray[np.uint8]) -> PersonDetections:
        tensor, letterbox = self.preprocess(rgb)
        return self.postprocess(self.infer(tensor), letterbox)


@dataclass(frozen=True)
class BlazePoseResult:
    """poses: (N, 33) in image pixels. presence: (N, 33) sigmoid(presence). world: (N, 33, 3) metric
    landmarks from ``world_3d`` (metres, hip-centred, turned by the ROI's rotation as MediaPipe does).
    rois: each person's crop. next_rois: each person's ROI for the next video frame (from the alignment
    landmarks). masks: (N, H, W) float32 person probability in image pixels, only with
    ``segmentation=True``. tried: every ROI the landmark model ran on (people whose pose flag fell short
    included). detected: whether ``track`` ran the detector on this frame. aux: (N, 2, 2) each person's
    alignment landmarks (hip centre, full-body circle point) in image pixels, unfiltered (``next_rois``
    come from them; ``RoiSmoother`` filters them over a video)."""

    poses: Poses
    presence: NDArray[np.float32]
    world: NDArray[np.float32]
    rois: tuple[Roi, ...]
    masks: NDArray[np.float32] | None = None
    next_rois: tuple[Roi, ...] = ()
    tried: tuple[Roi, ...] = ()
    detected: bool = False
    aux: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 2, 2), np.float32))


class BlazePose:
    """Detector -> ROI crops -> landmark model, for blazepose-lite / -full / -heavy.

    min_score: drop people whose pose flag is lower (MediaPipe's min_tracking_confidence, 0.5). max_poses:
    ROIs taken from the detector (best first; MediaPipe's single-pose solution takes 1). segmentation: also
    return the person masks (Python only). Not in MediaPipe (the npm package's detector is another, noisier
    network than MediaPipe's and misses people it finds), both off gives MediaPipe's pipeline:
    - fallback: where the detector's first ROIs give nobody, its next ``ALTERNATES`` detections, then the
      best ``WEAK_TRIES`` detections scored under the detector's threshold but at least ``WEAK_SCORE``
      (decoded and merged apart from the others, whose weighted NMS stays MediaPipe's), one by one, each
      taken as a detection (``roi_check``); then two loose ROIs, each followed by the ROI from its pose's
      alignment landmarks: the whole image, and last the best detection's ROI made upright and twice as
      large (its centre is the npm detector's steadiest output). Weak detections before the whole image:
      on LSP 7,001-8,000 the same PCK@0.2 within 0.2 and a sixth fewer fallback passes on
      coco-mini-train's photos (their people are smaller than the whole image);
    - roi_check: where a person's landmarks give a next ROI whose ``roi_change`` from the ROI they came from
      is above it, the landmark model once more on that ROI (the person kept from the first pass if the
      second finds nobody). None: off.
    """

    # MediaPipe's landmark filter (pose_landmark_filtering: One Euro, min_cutoff 0.05, beta 80, derivate
    # cutoff 1), the default smoothing of PoseTracker for this family, in MediaPipe's units: speed in object
    # scales per second (``smoothing_scales``: the alignment ROI's side before its 1.25 margin, from the
    # unfiltered alignment landmarks), which PoseTracker passes with this default.
    smoothing = OneEuroParams(min_cutoff=0.05, beta=80.0, d_cutoff=1.0)
    # and its VisibilitySmoothingCalculator on the landmarks' visibility (low_pass_filter alpha 0.1)
    score_smoothing = 0.1

    def __init__(self, spec: ModelSpec, runner: Runner, min_score: float = 0.5, max_poses: int = 1,
                 segmentation: bool = False, detector: BlazePoseDetector | None = None,
                 fallback: bool = True, roi_check: float | None = ROI_CHECK) -> None:
        self.spec = spec
        self.fallback = fallback
        self.roi_check = roi_check
        self.runner = runner
        self.schema = spec.schema
        self.min_score = min_score
        self.max_poses = max_poses
        self.segmentation = segmentation
        self.detector = detector or BlazePoseDetector.load(threads=runner.threads)
        self.input_name = runner.input_names[0]

    @classmethod
    def load(cls, spec: ModelSpec, threads: int | None = None, **options) -> BlazePose:
        graph = landmark_graph(spec.graph, bool(options.get("segmentation", False)))
        return cls(spec, Runner(graph, threads=threads), **options)

    def crops(self, rgb: NDArray[np.uint8], rois: tuple[Roi, ...]) -> NDArray[np.uint8]:
        """(N, 256, 256, 3) uint8: each ROI sampled bilinearly, the image's border replicated (the landmark
        graph scales it to 0..1)."""
        size = (LANDMARK_INPUT, LANDMARK_INPUT)
        return np.stack([warp(rgb, crop_matrix(r, LANDMARK_INPUT), size) for r in rois])

    def landmarks(self, crops: NDArray[np.uint8]) -> dict[str, NDArray[np.float32]]:
        return self.runner.run({self.input_name: crops})

    def postprocess(self, out: dict[str, NDArray[np.float32]], rois: tuple[Roi, ...],
                    image_size: tuple[int, int]) -> BlazePoseResult:
        """Landmark outputs for N >= 1 crops -> BlazePoseResult in image pixels (image_size = (W, H))."""
        n = len(rois)
        flag = out["output_poseflag"].reshape(n)
        keep = flag >= self.min_score
        if not keep.any():  # nobody: nothing to decode (a fallback's failed passes)
            return replace(self._empty(image_size), tried=tuple(rois))
        ld = out["ld_3d"].reshape(n, -1, 5)
        heat = out[HEATMAP_LOGITS]
        uv = LANDMARK_INPUT * np.stack([
            refine_from_heatmap(p[:, :2] / LANDMARK_INPUT, hm, HEATMAP_KERNEL, HEATMAP_MIN_CONFIDENCE, True)
            for p, hm in zip(ld[:, :heat.shape[-1]], heat, strict=True)])
        xy_all = np.stack([r.to_image(p, LANDMARK_INPUT) for r, p in zip(rois, uv, strict=True)])
        xy, aux = xy_all[:, :33], xy_all[:, 33:35]
        ld = ld[:, :33]
        boxes = np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)
        poses = Poses(xy, sigmoid(ld[..., 3]), flag, self.schema, boxes).select(keep)
        world = out["world_3d"].reshape(n, -1, 3)[:, :33].copy()
        for w, r in zip(world, rois, strict=True):  # WorldLandmarkProjectionCalculator
            c, s = np.cos(r.angle), np.sin(r.angle)
            w[:, :2] = w[:, :2] @ np.array([[c, s], [-s, c]], np.float32)
        masks = None
        if self.segmentation:
            if "activation_segmentation" not in out:
                raise PosekitError(f"{self.spec.name} was loaded without its segmentation output; load it "
                                   "with segmentation=True to get masks")
            masks = np.stack([warp(np.ascontiguousarray(m[..., 0]), _image_to_crop(r), image_size, "zero")
                              for r, m in zip(rois, out["activation_segmentation"], strict=True)])[keep]
        kept = tuple(r for r, k in zip(rois, keep, strict=True) if k)
        nxt = tuple(alignment_roi(a[0], a[1]) for a, k in zip(aux, keep, strict=True) if k)
        return BlazePoseResult(poses, sigmoid(ld[..., 4])[keep].astype(np.float32), world[keep], kept, masks,
                               nxt, tuple(rois), aux=aux[keep])

    def _empty(self, image_size: tuple[int, int]) -> BlazePoseResult:
        """Nobody, in an image of ``image_size`` (W, H)."""
        return BlazePoseResult(Poses.empty(self.schema, with_boxes=True), np.zeros((0, 33), np.float32),
                               np.zeros((0, 33, 3), np.float32), (),
                               np.zeros((0, image_size[1], image_size[0]), np.float32)
                               if self.segmentation else None)

    def predict_rois(self, rgb: NDArray[np.uint8], rois: tuple[Roi, ...]) -> BlazePoseResult:
        """The landmark stage alone on given ROIs (image pixels)."""
        if not rois:
            return self._empty((rgb.shape[1], rgb.shape[0]))
        return self.postprocess(self.landmarks(self.crops(rgb, rois)), rois, (rgb.shape[1], rgb.shape[0]))

    def predict_detailed(self, rgb: NDArray[np.uint8]) -> BlazePoseResult:
        """Poses plus presence, world landmarks, ROIs and (with ``segmentation``) masks."""
        tensor, letterbox = self.detector.preprocess(rgb)
        raw = self.detector.infer(tensor)
        rois = self.detector.postprocess(raw, letterbox).rois
        res = self.predict_rois(rgb, rois[: self.max_poses])
        if self.fallback and not len(res.poses):
            found = self._fallback(rgb, rois, raw, letterbox)
            return replace(found, tried=res.tried + found.tried)
        if self.roi_check is not None and len(res.poses):
            checked = self._check_rois(rgb, res)
            return replace(checked, tried=res.tried + checked.tried)
        return res

    def _fallback(self, rgb: NDArray[np.uint8], rois: tuple[Roi, ...], raw: NDArray[np.float32],
                  letterbox: Roi) -> BlazePoseResult:
        """Where the detector's first ROIs gave nobody: the ROIs ``fallback`` lists, until one gives
        someone. ``tried``: all of them."""
        tried: tuple[Roi, ...] = ()
        weak = self.detector.postprocess(raw, letterbox, WEAK_SCORE)
        floor = self.detector.min_score
        # the detector's next detections, then its weak ones big enough to hold a pose (a smaller one gave a
        # pose 4-8% of the time on LSP and coco-mini, against 36-50% for all): each taken as a detection,
        # the weak ones checked against a looser roi_check
        side = WEAK_MIN_SIZE * max(rgb.shape[:2])
        weaker = [r for r, s in zip(weak.rois, weak.scores, strict=True) if s < floor and r.size >= side]
        nexts = [(r, self.roi_check) for r in rois[self.max_poses: self.max_poses + ALTERNATES]]
        nexts += [(r, WEAK_CHECK) for r in weaker[:WEAK_TRIES]]
        for roi, limit in nexts:
            res = self.predict_rois(rgb, (roi,))
            tried += res.tried
            if len(res.poses):
                checked = (self._check_rois(rgb, res, limit) if self.roi_check is not None
                           else replace(res, tried=()))
                return replace(checked, tried=tried + checked.tried)
        # then loose ROIs, each followed by the ROI its pose gives: the whole image, and last the best
        # detection's centre only, upright and twice the side (its centre is the npm detector's steadiest
        # output)
        loose = [letterbox_roi(rgb.shape[1], rgb.shape[0])]
        loose += [replace(r, size=2 * r.size, angle=0.0) for r in (rois or weak.rois)[:1]]
        for roi in loose:
            res = self._loose(rgb, (roi,))
            tried += res.tried
            if len(res.poses):
                break
        return replace(res, tried=tried)

    def _loose(self, rgb: NDArray[np.uint8], rois: tuple[Roi, ...]) -> BlazePoseResult:
        """The landmark model on loose ROIs, then once more on the ROIs its poses' landmarks give."""
        res = self.predict_rois(rgb, rois)
        if not len(res.poses):
            return res
        aligned = self.predict_rois(rgb, res.next_rois)
        return replace(aligned if len(aligned.poses) else res, tried=res.tried + aligned.tried)

    def _check_rois(self, rgb: NDArray[np.uint8], res: BlazePoseResult, limit: float | None = None
                    ) -> BlazePoseResult:
        """``res`` with the people whose next ROI moved more than ``limit`` (default ``roi_check``) from
        their ROI run again on it (kept as they were where the second run finds nobody). ``tried``: the
        second run's ROIs."""
        limit = self.roi_check if limit is None else limit
        redo = [i for i, (a, b) in enumerate(zip(res.rois, res.next_rois, strict=True))
                if roi_change(a, b) > limit]
        if not redo:
            return replace(res, tried=())
        again = self.predict_rois(rgb, tuple(res.next_rois[i] for i in redo))
        rows = {roi: j for j, roi in enumerate(again.rois)}  # the ROIs whose person the second run kept
        picks = [(again, rows[res.next_rois[i]]) if i in redo and res.next_rois[i] in rows else (res, i)
                 for i in range(len(res.rois))]
        return replace(_people(picks), tried=again.tried)

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        return self.predict_detailed(rgb).poses

    @staticmethod
    def smoothing_scales(result: BlazePoseResult) -> NDArray[np.float64]:
        """(N,) each person's object scale in pixels, MediaPipe's unit of speed for ``smoothing``."""
        return object_scales(result.aux)

    def track(self, rgb: NDArray[np.uint8], rois: tuple[Roi, ...] = ()) -> BlazePoseResult:
        """One video frame as MediaPipe's pose_landmark_cpu graph runs it: the landmark model on ``rois``
        (the previous frame's ``next_rois``), or on the detector's ROIs when none are given. The result's
        ``next_rois`` are the ROIs for the next frame (empty when the person was lost: detect again). With
        ``fallback``, a frame whose carried ROIs give nobody runs ``predict_detailed`` at once."""
        if not rois:
            return replace(self.predict_detailed(rgb), detected=True)
        res = self.predict_rois(rgb, tuple(rois))
        if len(res.poses) or not self.fallback:
            return res
        # lost: MediaPipe detects on the next frame; posekit on this one (a frame with a pose more)
        again = self.predict_detailed(rgb)
        return replace(again, tried=res.tried + again.tried, detected=True)

    def stage_feeds(self, rgb: NDArray[np.uint8]) -> list[tuple[Runner, dict[str, NDArray]]]:
        """The session inputs one ``predict`` runs on ``rgb`` (for timing the sessions alone)."""
        tensor, letterbox = self.detector.preprocess(rgb)
        rois = self.detector.postprocess(self.detector.infer(tensor), letterbox).rois[: self.max_poses]
        feeds = [(self.detector.runner, {self.detector.input_name: tensor})]
        if rois:
            feeds.append((self.runner, {self.input_name: self.crops(rgb, rois)}))
        return feeds


def _people(picks: list[tuple[BlazePoseResult, int]]) -> BlazePoseResult:
    """One result of the people ``picks`` ((result, person row) pairs, in order), ``tried`` empty."""
    def rows(name: str):
        return np.stack([getattr(r, name)[i] for r, i in picks])

    first = picks[0][0]
    poses = Poses.concat([r.poses.select(np.array([i])) for r, i in picks])
    masks = rows("masks") if first.masks is not None else None
    return BlazePoseResult(poses, rows("presence"), rows("world"), tuple(r.rois[i] for r, i in picks), masks,
                           tuple(r.next_rois[i] for r, i in picks), aux=rows("aux"))


def object_scales(aux: NDArray[np.floating]) -> NDArray[np.float64]:
    """(N,) MediaPipe's object scale of each person from their alignment landmarks (N, 2, 2) in pixels: the
    side of the alignment square before its 1.25 margin, 2 |full-body circle point - hip centre| (the
    landmark filters' OBJECT_SCALE_ROI: width and height averaged, equal for a square)."""
    aux = np.asarray(aux, np.float64).reshape(-1, 2, 2)
    return 2.0 * np.linalg.norm(aux[:, 1] - aux[:, 0], axis=1)


# MediaPipe 0.10.14's pose_landmark_filtering, auxiliary landmarks: One Euro, min_cutoff 0.01, beta 10,
# derivate_cutoff 1 (read from the graph compiled into its framework bindings; the GitHub main branch's
# file says beta 1.0), speed in object scales per second.
AUX_SMOOTHING = OneEuroParams(min_cutoff=0.01, beta=10.0, d_cutoff=1.0)


class RoiSmoother:
    """The next frames' ROIs from filtered alignment landmarks, as MediaPipe's pose graph makes them on video.

    MediaPipe runs its auxiliary landmarks (hip centre, full-body circle point) through a One Euro filter
    (``AUX_SMOOTHING``: at rest about 0.2% of the way to a new value per frame at 30 fps, faster with speed)
    before PoseLandmarksToRoi, so the crop of a still person stays still instead of following the landmarks'
    jitter; speed is measured in object scales (the alignment ROI's side before its 1.25 margin, from the
    unfiltered points). The filter starts afresh when its person is lost (an empty landmark packet resets
    MediaPipe's).

    ``next_rois(result, time)``: ``result`` from ``BlazePose.track``, ``time`` the frame's timestamp in
    seconds. Each person keeps the filter of the ROI it was found on (a person found by the detector gets a
    new one), so people followed side by side do not share one."""

    def __init__(self, params: OneEuroParams = AUX_SMOOTHING) -> None:
        self.params = params
        self.filters: dict[Roi, OneEuroFilter] = {}

    def next_rois(self, result: BlazePoseResult, time: float) -> tuple[Roi, ...]:
        filters, out = {}, []
        for roi, aux, scale in zip(result.rois, result.aux, object_scales(result.aux), strict=True):
            filt = self.filters.get(roi) or OneEuroFilter(self.params)
            a = filt.filter(aux, time, 1.0 / scale) if scale > 0 else np.asarray(aux, np.float64)
            nxt = alignment_roi(a[0], a[1])
            filters[nxt] = filt
            out.append(nxt)
        self.filters = filters
        return tuple(out)


def _image_to_crop(roi: Roi) -> NDArray[np.float64]:
    """(2, 3) image pixel index -> crop pixel index for ``warp`` (the inverse of ``crop_matrix``)."""
    inv = np.linalg.inv(np.vstack([roi.crop_to_image(LANDMARK_INPUT), [0, 0, 1]]))[:2]
    return np.concatenate([inv[:, :2], (inv[:, 2] + inv[:, :2] @ [0.5, 0.5])[:, None]], axis=1)


def landmark_graph(graph: str, segmentation: bool = False) -> Path:
    """The cached ONNX landmark model ``graph`` as posekit runs it (``fast_graph``): a uint8 crop in (scaled
    to 0..1 in the graph), the heatmap out before its sigmoid (``HEATMAP_LOGITS``: the refinement takes the
    sigmoid of the 7 x 7 cells it reads). Without ``segmentation``, cut down to the outputs posekit reads
    (the segmentation decoder is about half the model's time, and onnxruntime runs every node of a graph
    whatever outputs are asked for) and the heatmap's upsampling given constant scales (onnxruntime's NCHWc
    kernel: heatmap within about 1e-6; the segmentation decoder magnifies that to 2e-4, so it keeps its
    own)."""
    from posekit.convert import cached_onnx
    from posekit.convert.optimize import fast_graph

    return fast_graph(cached_onnx(graph), () if segmentation else ("activation_segmentation",),
                      logits=(("activation_heatmap", HEATMAP_LOGITS),), uint8_image=(1 / 255, 0.0),
                      resize_scales=not segmentation)


def detector_graph() -> Path:
    """The cached ONNX detector as posekit runs it (``fast_graph``): the letterboxed uint8 image in, scaled
    to -1..1 in the graph."""
    from posekit.convert import cached_onnx
    from posekit.convert.optimize import fast_graph

    return fast_graph(cached_onnx("blazepose-detector"), uint8_image=(1 / 127.5, -1.0), resize_scales=True)
