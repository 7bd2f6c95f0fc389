"""MoveNet (Lightning, Thunder, MultiPose): 17 COCO keypoints.

Single-pose models output (1, 1, 17, 3) rows of (y, x, score) normalised to the input; MultiPose outputs
(1, 6, 56): 17 x (y, x, score), then the box (ymin, xmin, ymax, xmax) and the person score. Inputs are int32
RGB 0..255, the image letterboxed (single-pose: into a square with centred padding, as
tf.image.resize_with_pad does; MultiPose: longer side 256, padded right and bottom to multiples of 32, as
TF.js's pose-detection does).

The zoo's single-pose models run in two parts: the graph's network, cut at its four head outputs (NHWC, a
quarter of the input side; any batch size; fp32 or int8), in onnxruntime, and the graph's own decoding of
those heads in numpy (``SinglePoseDecoder``: the same float32 operations in the same order, its constants
read from the converted graph). The graph's ~100 small decoding ops cost more in onnxruntime than the few
vectorised numpy passes, and none of them gets faster with int8. MultiPose and fine-tuned files run whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


# Where the single-pose graphs are cut: the float image batch (after the graph's int32 -> float cast and its
# per-image resize, a no-op at the input size), and the four heads' last convolutions (before the sigmoids).
IMAGE = "StatefulPartitionedCall/stack"
HEADS = tuple(f"StatefulPartitionedCall/{h}/BiasAdd" for h in (
    "kpt_heatmap_0/conv2d_5", "center_0/conv2d_4", "kpt_regress_0/conv2d_6", "kpt_offset_0/conv2d_7"))


def _sigmoid(x: NDArray[np.float32]) -> NDArray[np.float32]:
    with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -88: the sigmoid is then 0
        return (1.0 / (1.0 + np.exp(-x))).astype(np.float32, copy=False)


@dataclass(frozen=True)
class SinglePoseDecoder:
    """MoveNet single-pose decoding, as its graph does it (float32, same order of operations), for a batch.

    center_weight: (h, w) the weight of each heatmap cell as a person's centre (1 / (distance to the
    map's centre + 1.8), stored as float16 in the graph); eps: 1.8; scale: 1 / h (heatmap cells -> 0..1)."""

    center_weight: NDArray[np.float32]
    eps: np.float32
    scale: np.float32

    @classmethod
    def from_onnx(cls, path: str | Path) -> SinglePoseDecoder:
        """The constants of a converted decoder part (``split_onnx``), by their TF node names."""
        import onnx
        from onnx import numpy_helper

        init = {t.name: t for t in onnx.load(str(path)).graph.initializer}

        def const(name: str) -> NDArray[np.float32]:
            return numpy_helper.to_array(init[f"StatefulPartitionedCall/{name}"]).astype(np.float32)

        weight = numpy_helper.to_array(init["ConstantFolding/StatefulPartitionedCall/truediv_2_recip"])
        return cls(weight[..., 0].astype(np.float32), np.float32(const("add_5/y")),
                   np.float32(const("Reshape_13/wide17").ravel()[0]))

    def __call__(self, heatmap: NDArray[np.float32], center: NDArray[np.float32],
                 regress: NDArray[np.float32], offset: NDArray[np.float32]) -> NDArray[np.float32]:
        """Heads (B, h, w, K), (B, h, w, 1), (B, h, w, 2K), (B, h, w, 2K) -> (B, 1, K, 3) rows of (y, x,
        score), y and x in 0..1 of the input: the person whose centre scores highest (centre heatmap times
        ``center_weight``); each joint at the heatmap cell that scores highest once divided by (distance
        to the joint the person's centre regresses + eps), plus that cell's offset."""
        b, h, w, k = heatmap.shape
        heat = _sigmoid(heatmap)
        at = (_sigmoid(center[..., 0]) * self.center_weight).reshape(b, -1).argmax(axis=1)
        cy, cx = at // w, at % w
        rows = np.arange(b)
        reg = regress[rows, cy, cx].reshape(b, k, 2)
        ry = cy[:, None].astype(np.float32) + reg[..., 0]  # (B, K)
        rx = cx[:, None].astype(np.float32) + reg[..., 1]
        gy = np.arange(h, dtype=np.float32)[None, :, None, None]
        gx = np.arange(w, dtype=np.float32)[None, None, :, None]
        dist = np.sqrt((gy - ry[:, None, None, :]) ** 2 + (gx - rx[:, None, None, :]) ** 2)
        at = (heat / (dist + self.eps)).reshape(b, h * w, k).argmax(axis=1)  # (B, K)
        ky, kx = at // w, at % w
        joints = np.arange(k)
        off = offset.reshape(b, h, w, k, 2)[rows[:, None], ky, kx, joints]  # (B, K, 2)
        score = heat[rows[:, None], ky, kx, joints]
        y = (ky.astype(np.float32) + off[..., 0]) * self.scale
        x = (kx.astype(np.float32) + off[..., 1]) * self.scale
        return np.stack([y, x, score], axis=-1)[:, None].astype(np.float32)


def split_onnx(graph: str, size: int) -> tuple[Path, Path]:
    """The cached network part (float (N, size, size, 3) image batch -> the four ``HEADS``) and decoder part
    (the graph's own decoding, batch 1) of a single-pose zoo graph, converted on first use."""
    from posekit.models.tta import _cached_part

    network = _cached_part(graph, "network", cut_inputs={IMAGE: [None, size, size, 3]},
                           cut_outputs=list(HEADS))
    decoder = _cached_part(graph, "decoder", cut_inputs={h: [1, None, None, None] for h in HEADS})
    return network, decoder


class MoveNet:
    """preprocess -> session.run -> postprocess, for the three MoveNet graphs. ``decoder``: where the
    runner is a single-pose graph's network part (``load``), the numpy decoding of its heads."""

    def __init__(self, spec: ModelSpec, runner: Runner, min_score: float = 0.25) -> None:
        self.spec = spec
        self.runner = runner
        self.schema = spec.schema
        self.min_score = min_score
        self.input_name = runner.input_names[0]
        self.decoder: SinglePoseDecoder | None = None

    @classmethod
    def load(cls, spec: ModelSpec, threads: int | None = None, min_score: float = 0.25) -> MoveNet:
        """A zoo MoveNet: the single-pose ones as network part + ``SinglePoseDecoder``, MultiPose whole."""
        if spec.multi_person:
            from posekit.convert import cached_onnx

            return cls(spec, Runner(cached_onnx(spec.graph), threads=threads), min_score)
        network, decoder = split_onnx(spec.graph, spec.input_size)
        model = cls(spec, Runner(network, threads=threads, fixed_dims={f"{IMAGE}_d0": 1}), min_score)
        model.decoder = SinglePoseDecoder.from_onnx(decoder)
        return model

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

    def session_input(self, tensor: NDArray[np.int32]) -> dict[str, NDArray]:
        """The runner's feeds for a ``preprocess`` tensor (the network part takes the image as float)."""
        return {self.input_name: tensor if self.decoder is None else tensor.astype(np.float32)}

    def infer(self, tensor: NDArray[np.int32]) -> NDArray[np.float32]:
        """(1, h, w, 3) int32 -> the graph's output: (1, 1, 17, 3) single-pose, (1, 6, 56) MultiPose."""
        return self.decode(self.runner.run(self.session_input(tensor)))

    def decode(self, outputs: dict[str, NDArray[np.float32]]) -> NDArray[np.float32]:
        """The runner's outputs -> the graph's output (B images' heads decoded at once: (B, 1, 17, 3))."""
        if self.decoder is None:
            return next(iter(outputs.values()))
        return self.decoder(*(outputs[name] for name in HEADS))

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
