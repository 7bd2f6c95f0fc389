"""MoveNet (Lightning, Thunder, MultiPose): 17 COCO keypoints.

Single-pose models output (1, 1, 17, 3) rows of (y, x, score) normalised to the input; MultiPose outputs
(1, 6, 56): 17 x (y, x, score), then the box (ymin, xmin, ymax, xmax) and the person score. Inputs are int32
RGB 0..255, the image letterboxed (single-pose: into a square with centred padding, as
tf.image.resize_with_pad does; MultiPose: longer side 256, padded right and bottom to multiples of 32, as
TF.js's pose-detection does).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posekit.models.runner import Runner
from posekit.models.spec import ModelSpec
from posekit.preprocess import Letterbox, letterbox
from posekit.skeletons import COCO17
from posekit.types import Poses

_TFHUB = "https://tfhub.dev/google/movenet"
SPECS = (
    ModelSpec("movenet-lightning", "movenet", "movenet-lightning", 192, COCO17, False,
              "MoveNet SinglePose Lightning: fastest, one person", "Apache-2.0",
              f"{_TFHUB}/singlepose/lightning/4"),
    ModelSpec("movenet-thunder", "movenet", "movenet-thunder", 256, COCO17, False,
              "MoveNet SinglePose Thunder: most accurate MoveNet, one person", "Apache-2.0",
              f"{_TFHUB}/singlepose/thunder/4"),
    ModelSpec("movenet-multipose", "movenet", "movenet-multipose", 256, COCO17, True,
              "MoveNet MultiPose Lightning: up to 6 people with boxes", "Apache-2.0",
              f"{_TFHUB}/multipose/lightning/1"),
)


class MoveNet:
    """preprocess -> session.run -> postprocess, for the three MoveNet graphs."""

    def __init__(self, spec: ModelSpec, runner: Runner, min_score: float = 0.25) -> None:
        self.spec = spec
        self.runner = runner
        self.schema = spec.schema
        self.min_score = min_score
        self.input_name = runner.input_names[0]

    @property
    def fit_side(self) -> int:
        """The side the image's longer side is first resized to (a copy already resized so gives the same
        poses, scaled: video passes one, see ``PoseTracker.detect_frame``)."""
        return self.spec.input_size

    def input_shape(self, width: int, height: int) -> tuple[int, int]:
        """(input_w, input_h) for an image: S x S for the single-pose models; for MultiPose, TF.js's way
        (tfjs-models ``estimateMultiplePoses``): the longer side S, the shorter one in proportion, padded up
        to a multiple of 32 (a 16:9 frame runs at 256 x 160, 62% of the work of 256 x 256)."""
        size = self.spec.input_size
        if not self.spec.multi_person:
            return size, size
        if width >= height:
            return size, -(-max(1, round(size * height / width)) // 32) * 32
        return -(-max(1, round(size * width / height)) // 32) * 32, size

    def preprocess(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.int32], Letterbox]:
        """(H, W, 3) uint8 -> (1, h, w, 3) int32 (``input_shape``) and the letterbox transform. Single-pose
        models centre the image (tf.image.resize_with_pad); MultiPose pads right and bottom (TF.js)."""
        w, h = self.input_shape(rgb.shape[1], rgb.shape[0])
        boxed, lb = letterbox(rgb, w, h, center=not self.spec.multi_person)
        return boxed[None].astype(np.int32), lb

    def infer(self, tensor: NDArray[np.int32]) -> NDArray[np.float32]:
        return next(iter(self.runner.run({self.input_name: tensor}).values()))

    def postprocess(self, raw: NDArray[np.float32], lb: Letterbox) -> Poses:
        """Model output -> Poses in image pixels, people below ``min_score`` dropped."""
        size = np.array([lb.input_w, lb.input_h], np.float32)
        if self.spec.multi_person:
            rows = raw.reshape(-1, 56)
            kp = rows[:, :51].reshape(-1, 17, 3)
            boxes_yx = rows[:, 51:55].reshape(-1, 2, 2)[:, :, ::-1] * size  # (N, corner, xy)
            boxes = lb.to_image(boxes_yx).reshape(-1, 4)
            pose_scores = rows[:, 55]
        else:
            kp = raw.reshape(1, 17, 3)
            boxes = None
            pose_scores = kp[:, :, 2].mean(axis=1)
        xy = lb.to_image(kp[:, :, 1::-1] * size)
        poses = Poses(xy, kp[:, :, 2], pose_scores, self.schema, boxes)
        return poses.select(poses.pose_scores >= self.min_score)

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        tensor, lb = self.preprocess(rgb)
        return self.postprocess(self.infer(tensor), lb)
