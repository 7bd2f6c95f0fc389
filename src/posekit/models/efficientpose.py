"""EfficientPose (368 x 368 input, full-resolution heatmaps): 16 MPII keypoints, one person.

Input normalisation, measured (tests/test_efficientpose.py): RGB scaled to -1..1 (x / 127.5 - 1). The JS
wrapper's x * 2 - 1 on 0..255 pixels saturates the input and gives flat, misplaced heatmaps (41 of 76 MPII
joints within half a head segment on the five mmpose MPII crops, against 76 of 76 for -1..1; ImageNet mean/std
gets 72). The graph's channels follow EfficientPose's own joint order, permuted here to MPII-16.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posekit.decode.heatmap import decode_heatmaps
from posekit.models.runner import Runner
from posekit.models.spec import ModelSpec
from posekit.preprocess import Letterbox, letterbox
from posekit.skeletons import MPII16
from posekit.types import Poses

SPECS = (
    ModelSpec("efficientpose", "efficientpose", "efficientpose", 368, MPII16, False,
              "EfficientPose: one person, 16 MPII joints, full-resolution heatmaps", "Apache-2.0",
              "https://github.com/daniegr/EfficientPose"),
)
# Heatmap channel c is joint GRAPH_JOINTS[c] (EfficientPose's order).
GRAPH_JOINTS = (
    "head_top", "upper_neck", "right_shoulder", "right_elbow", "right_wrist", "thorax", "left_shoulder",
    "left_elbow", "left_wrist", "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle",
)
TO_MPII = tuple(GRAPH_JOINTS.index(name) for name in MPII16.keypoints)

NORMALISATIONS = {
    "minus1_1": lambda x: x / 127.5 - 1.0,  # the graph's own (measured)
    "times2_minus1": lambda x: x * 2.0 - 1.0,  # the JS wrapper's, on 0..255 pixels
    "imagenet": lambda x: (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
}


class EfficientPose:
    """preprocess -> session.run -> postprocess: heatmap argmax with sub-pixel refinement.

    min_score: drop the person when the mean joint confidence is lower. refine: see posekit.decode.heatmap.
    """

    def __init__(self, spec: ModelSpec, runner: Runner, min_score: float = 0.1, refine: str = "quadratic",
                 normalisation: str = "minus1_1") -> None:
        self.spec = spec
        self.runner = runner
        self.schema = spec.schema
        self.min_score = min_score
        self.refine = refine
        self.normalise = NORMALISATIONS[normalisation]
        self.input_name = runner.input_names[0]

    def preprocess(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], Letterbox]:
        """(H, W, 3) uint8 -> (1, 368, 368, 3) float32 and the letterbox transform."""
        size = self.spec.input_size
        boxed, lb = letterbox(rgb, size, size, center=True)
        return self.normalise(boxed.astype(np.float32)).astype(np.float32)[None], lb

    def infer(self, tensor: NDArray[np.float32]) -> NDArray[np.float32]:
        """(16, 368, 368) heatmaps in MPII-16 order."""
        hm = next(iter(self.runner.run({self.input_name: tensor}).values()))[0]
        return np.ascontiguousarray(hm.transpose(2, 0, 1)[list(TO_MPII)])

    def postprocess(self, heatmaps: NDArray[np.float32], lb: Letterbox) -> Poses:
        """One person in image pixels; joint confidence = heatmap peak clipped to 0..1."""
        xy, peaks = decode_heatmaps(heatmaps, self.refine)
        # Heatmap pixel i covers input pixels [i, i + 1): its centre is the continuous coordinate i + 0.5.
        scores = np.clip(peaks, 0.0, 1.0)
        poses = Poses(lb.to_image(xy + 0.5)[None], scores[None], [scores.mean()], self.schema)
        return poses.select(poses.pose_scores >= self.min_score)

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        tensor, lb = self.preprocess(rgb)
        return self.postprocess(self.infer(tensor), lb)
