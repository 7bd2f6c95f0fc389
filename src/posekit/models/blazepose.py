"""BlazePose (lite / full / heavy): 33 keypoints, two stages as in MediaPipe's pose graphs.

1. Detector (224 x 224, RGB in -1..1, letterboxed): 2254 SSD anchors -> face box + 4 alignment points (hip
   centre, full-body circle point, shoulder centre, upper-body circle point), weighted NMS
   (`posekit.decode.blazepose`).
2. Landmarks (256 x 256, RGB in 0..1) on the square ROI around the hip centre, side 2 * |circle point - hip
   centre| * 1.25, rotated so the body points up. ``ld_3d`` holds 39 rows of (x, y, z, visibility, presence)
   in crop pixels (the first 33 are the BlazePose landmarks); they go back through the ROI transform.
   Keypoint score = sigmoid(visibility); pose score = the graph's pose flag (already a probability).
   The segmentation output (already 0..1) is warped back to the image on request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from posekit.decode.blazepose import (
    DETECTOR_INPUT,
    Detections,
    Roi,
    alignment_roi,
    decode_detections,
    ssd_anchors,
    weighted_nms,
)
from posekit.models.runner import Runner
from posekit.models.spec import ModelSpec
from posekit.preprocess import Letterbox, letterbox
from posekit.skeletons import BLAZEPOSE33
from posekit.types import Poses

_SRC = "https://github.com/google/mediapipe/blob/master/docs/solutions/pose.md"
SPECS = tuple(
    ModelSpec(f"blazepose-{v}", "blazepose", f"blazepose-{v}", 256, BLAZEPOSE33, False,
              f"BlazePose {v}: detector + 33 landmarks on a rotated crop ({note})", "Apache-2.0", _SRC)
    for v, note in (("lite", "fastest"), ("full", "balanced"), ("heavy", "most accurate, slowest"))
)
LANDMARK_INPUT = 256
_ANCHORS = ssd_anchors()


def _sigmoid(x: NDArray) -> NDArray:
    return 1.0 / (1.0 + np.exp(-x))


def warp(rgb: NDArray, matrix: NDArray[np.floating], size: tuple[int, int]) -> NDArray:
    """Sample ``rgb`` (H, W, C) uint8 or (H, W) float32 through a (2, 3) output -> input affine matrix in
    continuous pixels; ``size`` = (width, height) of the output; outside the image is 0."""
    from PIL import Image as PILImage

    return np.asarray(PILImage.fromarray(rgb).transform(size, PILImage.AFFINE, data=tuple(matrix.reshape(-1)),
                                                        resample=PILImage.BILINEAR))


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
        from posekit.convert import cached_onnx

        return cls(Runner(cached_onnx("blazepose-detector"), threads=threads), **options)

    def preprocess(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], Letterbox]:
        """(H, W, 3) uint8 -> (1, 224, 224, 3) float32 in -1..1 and the letterbox transform."""
        boxed, lb = letterbox(rgb, DETECTOR_INPUT, DETECTOR_INPUT, center=True)
        return (boxed.astype(np.float32) / 127.5 - 1.0)[None], lb

    def infer(self, tensor: NDArray[np.float32]) -> NDArray[np.float32]:
        return next(iter(self.runner.run({self.input_name: tensor}).values()))[0]

    def postprocess(self, raw: NDArray[np.float32], lb: Letterbox) -> PersonDetections:
        dets: Detections = weighted_nms(decode_detections(raw, _ANCHORS, self.min_score), self.iou_threshold,
                                        self.max_detections)
        boxes = lb.to_image(dets.boxes.reshape(-1, 2, 2) * DETECTOR_INPUT).reshape(-1, 4)
        kps = lb.to_image(dets.keypoints * DETECTOR_INPUT)
        rois = tuple(alignment_roi(k[0], k[1]) for k in kps)
        return PersonDetections(dets.scores, boxes, kps, rois)

    def detect(self, rgb: NDArray[np.uint8]) -> PersonDetections:
        tensor, lb = self.preprocess(rgb)
        return self.postprocess(self.infer(tensor), lb)


@dataclass(frozen=True)
class BlazePoseResult:
    """poses: (N, 33) in image pixels. presence: (N, 33) sigmoid(presence). world: (N, 33, 3) metric
    landmarks from ``world_3d`` (metres, hip-centred). rois: the crops used. masks: (N, H, W) float32 person
    probability in image pixels, only with ``segmentation=True``."""

    poses: Poses
    presence: NDArray[np.float32]
    world: NDArray[np.float32]
    rois: tuple[Roi, ...]
    masks: NDArray[np.float32] | None = None


class BlazePose:
    """Detector -> ROI crops -> landmark model, for blazepose-lite / -full / -heavy.

    min_score: drop people whose pose flag is lower. max_poses: ROIs taken from the detector (best first;
    MediaPipe's single-pose solution takes 1). segmentation: also return the person masks (Python only).
    """

    def __init__(self, spec: ModelSpec, runner: Runner, min_score: float = 0.5, max_poses: int = 1,
                 segmentation: bool = False, detector: BlazePoseDetector | None = None) -> None:
        self.spec = spec
        self.runner = runner
        self.schema = spec.schema
        self.min_score = min_score
        self.max_poses = max_poses
        self.segmentation = segmentation
        self.detector = detector or BlazePoseDetector.load(threads=runner.threads)
        self.input_name = runner.input_names[0]

    @classmethod
    def load(cls, spec: ModelSpec, threads: int | None = None, **options) -> BlazePose:
        from posekit.convert import cached_onnx

        return cls(spec, Runner(cached_onnx(spec.graph), threads=threads), **options)

    def crops(self, rgb: NDArray[np.uint8], rois: tuple[Roi, ...]) -> NDArray[np.float32]:
        """(N, 256, 256, 3) float32 in 0..1: each ROI sampled bilinearly (outside the image is black)."""
        size = (LANDMARK_INPUT, LANDMARK_INPUT)
        crops = np.stack([warp(rgb, r.crop_to_image(LANDMARK_INPUT), size) for r in rois])
        return crops.astype(np.float32) / 255.0

    def landmarks(self, crops: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
        return self.runner.run({self.input_name: crops})

    def postprocess(self, out: dict[str, NDArray[np.float32]], rois: tuple[Roi, ...],
                    image_size: tuple[int, int]) -> BlazePoseResult:
        """Landmark outputs for N >= 1 crops -> BlazePoseResult in image pixels (image_size = (W, H))."""
        n = len(rois)
        ld = out["ld_3d"].reshape(n, -1, 5)[:, :33]
        xy = np.stack([r.to_image(p[:, :2], LANDMARK_INPUT) for r, p in zip(rois, ld, strict=True)])
        flag = out["output_poseflag"].reshape(n)
        boxes = np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)
        keep = flag >= self.min_score
        poses = Poses(xy, _sigmoid(ld[..., 3]), flag, self.schema, boxes).select(keep)
        masks = None
        if self.segmentation:
            to_crop = [np.linalg.inv(np.vstack([r.crop_to_image(LANDMARK_INPUT), [0, 0, 1]]))[:2]
                       for r in rois]
            masks = np.stack([warp(np.ascontiguousarray(m[..., 0]), t, image_size)
                              for t, m in zip(to_crop, out["activation_segmentation"], strict=True)])[keep]
        return BlazePoseResult(poses, _sigmoid(ld[..., 4])[keep].astype(np.float32),
                               out["world_3d"].reshape(n, -1, 3)[keep, :33],
                               tuple(r for r, k in zip(rois, keep, strict=True) if k), masks)

    def predict_detailed(self, rgb: NDArray[np.uint8]) -> BlazePoseResult:
        """Poses plus presence, world landmarks, ROIs and (with ``segmentation``) masks."""
        rois = self.detector.detect(rgb).rois[: self.max_poses]
        if not rois:
            return BlazePoseResult(Poses.empty(self.schema, with_boxes=True), np.zeros((0, 33), np.float32),
                                   np.zeros((0, 33, 3), np.float32), (),
                                   np.zeros((0, *rgb.shape[:2]), np.float32) if self.segmentation else None)
        return self.postprocess(self.landmarks(self.crops(rgb, rois)), rois, (rgb.shape[1], rgb.shape[0]))

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        return self.predict_detailed(rgb).poses

    def stage_feeds(self, rgb: NDArray[np.uint8]) -> list[tuple[Runner, dict[str, NDArray]]]:
        """The session inputs one ``predict`` runs on ``rgb`` (for timing the sessions alone)."""
        tensor, lb = self.detector.preprocess(rgb)
        rois = self.detector.postprocess(self.detector.infer(tensor), lb).rois[: self.max_poses]
        feeds = [(self.detector.runner, {self.detector.input_name: tensor})]
        if rois:
            feeds.append((self.runner, {self.input_name: self.crops(rgb, rois)}))
        return feeds
