"""PoseNet (MobileNetV1, output stride 16): 17 COCO keypoints, one or many people.

The graph is fully convolutional: an S x S input gives (S - 1) / 16 + 1 cells per side, so any S with
(S - 1) % 16 == 0 works. Inputs are float RGB scaled to -1..1 (x / 127.5 - 1; measured: 0..255 or x * 2 - 1
put every joint in one spot). Outputs: heatmap logits (sigmoid applied here), offsets, and forward / backward
displacements, decoded by `posekit.decode.posenet`.

Two zoo names share the graph: ``posenet`` (multi-pose part grouping) and ``posenet-single`` (argmax +
offset).
Resolution trades speed for accuracy: latency grows with S^2, small people need a larger S.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.decode import sigmoid
from posekit.decode.posenet import decode_multiple_poses, decode_single_pose
from posekit.errors import PosekitError
from posekit.models.runner import Runner
from posekit.models.spec import ModelSpec
from posekit.preprocess import Letterbox, letterbox
from posekit.skeletons import COCO17
from posekit.types import Poses

OUTPUT_STRIDE = 16
_SRC = "https://github.com/tensorflow/tfjs-models/tree/master/posenet"
SPECS = (
    ModelSpec("posenet", "posenet", "posenet", 385, COCO17, True,
              "PoseNet MobileNetV1 stride 16: many people (part grouping); --resolution", "Apache-2.0", _SRC),
    ModelSpec("posenet-single", "posenet", "posenet", 385, COCO17, False,
              "PoseNet MobileNetV1 stride 16: one person (argmax + offsets)", "Apache-2.0", _SRC),
)
_FIELDS = ("heatmap", "offset", "displacement_fwd", "displacement_bwd")


def check_resolution(size: int, output_stride: int = OUTPUT_STRIDE) -> int:
    """``size`` when the graph accepts it ((size - 1) % stride == 0), else PosekitError naming neighbours."""
    if output_stride != OUTPUT_STRIDE:
        raise PosekitError(f"--output-stride {output_stride}: this PoseNet graph (MobileNetV1) has output "
                           f"stride {OUTPUT_STRIDE} only; pass {OUTPUT_STRIDE} or leave the flag out")
    if size >= 1 + OUTPUT_STRIDE and (size - 1) % OUTPUT_STRIDE == 0:
        return size
    below = (size - 1) // OUTPUT_STRIDE * OUTPUT_STRIDE + 1
    valid = [str(v) for v in (below, below + OUTPUT_STRIDE) if v >= 1 + OUTPUT_STRIDE]
    raise PosekitError(f"--resolution {size}: PoseNet needs (size - 1) divisible by {OUTPUT_STRIDE}; "
                       f"use {' or '.join(valid)}")


def dynamic_onnx(graph: str) -> Path:
    """The graph converted with a free input height / width (MobileNetV1 is fully convolutional)."""
    from posekit.convert import cached_onnx

    return cached_onnx(graph, input_shapes={"image": [1, None, None, 3]})


class PoseNet:
    """preprocess -> session.run -> postprocess for the PoseNet graph, at any valid ``resolution``.

    min_score: drop people whose pose score is lower. max_poses / nms_radius (input pixels at
    ``resolution``) / min_part_score: multi-pose decoding (root candidates need min_part_score).
    """

    def __init__(self, spec: ModelSpec, runner: Runner, min_score: float = 0.25,
                 resolution: int | None = None, output_stride: int = OUTPUT_STRIDE, max_poses: int = 10,
                 nms_radius: float = 20.0, min_part_score: float = 0.5) -> None:
        self.spec = spec
        self.runner = runner
        self.schema = spec.schema
        self.resolution = check_resolution(resolution or spec.input_size, output_stride)
        self.min_score = min_score
        self.max_poses = max_poses
        self.nms_radius = nms_radius
        self.min_part_score = min_part_score
        self.input_name = runner.input_names[0]
        self.outputs = {field: next(n for n in runner.output_names if f"/{field}_" in n) for field in _FIELDS}

    @classmethod
    def load(cls, spec: ModelSpec, threads: int | None = None, **options) -> PoseNet:
        return cls(spec, Runner(dynamic_onnx(spec.graph), threads=threads), **options)

    @property
    def fit_side(self) -> int:
        """The side the image's longer side is first resized to (see ``MoveNet.fit_side``)."""
        return self.resolution

    def preprocess(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], Letterbox]:
        """(H, W, 3) uint8 -> (1, S, S, 3) float32 in -1..1 (S = resolution) and the letterbox transform."""
        boxed, lb = letterbox(rgb, self.resolution, self.resolution, center=True)
        return (boxed.astype(np.float32) / 127.5 - 1.0)[None], lb

    def infer(self, tensor: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
        """The four fields, batch axis dropped, heatmaps through the sigmoid: (h, w, 17 / 34 / 32 / 32)."""
        raw = self.runner.run({self.input_name: tensor})
        fields = {field: raw[name][0] for field, name in self.outputs.items()}
        fields["heatmap"] = sigmoid(fields["heatmap"])
        return fields

    def postprocess(self, fields: dict[str, NDArray[np.float32]], lb: Letterbox) -> Poses:
        """Decoded people in image pixels, those below ``min_score`` dropped."""
        if self.spec.multi_person:
            found = decode_multiple_poses(
                fields["heatmap"], fields["offset"], fields["displacement_fwd"], fields["displacement_bwd"],
                OUTPUT_STRIDE, self.max_poses, self.min_part_score, self.nms_radius)
        else:
            found = [decode_single_pose(fields["heatmap"], fields["offset"], OUTPUT_STRIDE)]
        if not found:
            return Poses.empty(self.schema)
        # Offsets point at input pixel centres (cell i sits at pixel i * stride): + 0.5 gives the continuous
        # coordinate the letterbox maps back.
        xy = lb.to_image(np.stack([p.xy for p in found]) + 0.5)
        scores = np.stack([p.scores for p in found])
        poses = Poses(xy, scores, np.array([p.score for p in found]), self.schema)
        return poses.select(poses.pose_scores >= self.min_score)

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        tensor, lb = self.preprocess(rgb)
        return self.postprocess(self.infer(tensor), lb)
