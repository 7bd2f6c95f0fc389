"""MoveNet (Lightning, Thunder, MultiPose): 17 COCO keypoints.

Single-pose models output (1, 1, 17, 3) rows of (y, x, score) normalised to the input; MultiPose outputs
(1, 6, 56): 17 x (y, x, score), then the box (ymin, xmin, ymax, xmax) and the person score. Inputs are int32
RGB 0..255, the image letterboxed (single-pose: into a square with centred padding, as
tf.image.resize_with_pad does; MultiPose: longer side 256, padded right and bottom to multiples of 32, as
TF.js's pose-detection does).

The zoo's MoveNets run in two parts: the graph's network, cut at its head outputs (NHWC maps at a quarter
of the input side; fp32 or int8), in onnxruntime, and the graph's own decoding of those heads in numpy
(``posekit.decode.movenet``: the same float32 operations, its constants read from the converted graph).
The decoding ops do not get faster with int8. MultiPose's cost about 7 ms of its 18 ms int8 session at
256 x 256 in onnxruntime (Exp / Mul / ArgMax over a 6 x 17 x h x w grid), where numpy searches each person's
box only (2-3 ms). For the single-pose graphs the split is about even per image (~100 small ops, ~0.4 ms, vs
0.16 ms of numpy and four head maps fetched instead of one row) and lets crops run as one batch, int8 too
(``posekit.models.tta.DecodedBatch``). Fine-tuned files run whole (their joint scores mapped by the score
calibration they carry, if any: ``SCORE_CALIBRATION``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.decode.movenet import MultiPoseDecoder, SinglePoseDecoder, calibrate_scores
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


# Where the graphs are cut: the float image (after the graph's int32 -> float cast; single-pose: after its
# per-image resize too, a no-op at the input size), and the heads' last convolutions (before the sigmoids).
_P = "StatefulPartitionedCall/"
IMAGE = {False: f"{_P}stack", True: f"{_P}Cast"}
HEADS = {
    False: tuple(f"{_P}{h}/BiasAdd" for h in ("kpt_heatmap_0/conv2d_5", "center_0/conv2d_4",
                                                "kpt_regress_0/conv2d_6", "kpt_offset_0/conv2d_7")),
    True: tuple(f"{_P}{h}/BiasAdd" for h in ("kpt_heatmap_0/conv2d_7", "center_0/conv2d_4",
                                               "kpt_regress_0/conv2d_8", "kpt_offset_0/conv2d_9",
                                               "box_scale_0/conv2d_5", "box_offset_0/conv2d_6")),
}


# A fine-tuned single-pose MoveNet may carry output channels for joints COCO-17 lacks (``posekit train --init
# movenet-* --cache-features K`` on LSP grows neck and head top): 1x1 convolutions beside the heatmap,
# regression and offset heads' last ones, named GROWN + the head's tensor, graph outputs beside the zoo's
# (with the centre head's raw map). The zoo's 17 joints keep the graph's own decoding; the grown ones are
# decoded by the same rule in numpy (`SinglePoseDecoder`, the same centre cell) and appended.
GROWN = "posekit/grown/"
# The grown joints' heatmap, regression and offset maps, each beside the zoo head it is named after.
GROWN_HEADS = tuple(GROWN + HEADS[False][i] for i in (0, 2, 3))


def grown_heads() -> tuple[str, str, str, str]:
    """The four maps the grown joints decode from: their heatmap, the zoo's centre, their regression and
    offsets (the order `SinglePoseDecoder` takes)."""
    heat, regress, offset = GROWN_HEADS
    return heat, HEADS[False][1], regress, offset


# A fine-tuned export's joint score calibration (``posekit train calibrate``, `posekit.train.calibrate`):
# metadata JSON {"joints": {name: {"scale": a, "bias": b, ...}, ...}, ...}; the runtime maps each joint's
# decoded score s to sigmoid(a x logit(s) + b), its position unchanged.
SCORE_CALIBRATION = "posekit.score_calibration"


def score_calibration(meta: dict[str, str], joints: tuple[str, ...]
                      ) -> tuple[NDArray[np.float32], NDArray[np.float32]] | None:
    """(scale, bias), each (K,) in ``joints``' order, of a model's metadata; None when it has none. A joint
    the calibration does not name keeps its score (scale 1, bias 0)."""
    if SCORE_CALIBRATION not in meta:
        return None
    import json

    from posekit.errors import PosekitError

    try:
        fit = json.loads(meta[SCORE_CALIBRATION])["joints"]
        scale = np.array([float(fit[j]["scale"]) if j in fit else 1.0 for j in joints], np.float32)
        bias = np.array([float(fit[j]["bias"]) if j in fit else 0.0 for j in joints], np.float32)
    except (ValueError, KeyError, TypeError) as err:
        raise PosekitError(f"{SCORE_CALIBRATION} metadata unreadable ({type(err).__name__}: {err}); "
                           "re-run posekit train calibrate on the uncalibrated export") from None
    if not (scale > 0).all():
        raise PosekitError(f"{SCORE_CALIBRATION} metadata has a scale <= 0: it would reverse the scores")
    return scale, bias


def split_onnx(spec: ModelSpec) -> tuple[Path, Path]:
    """The cached network part (float image -> the ``HEADS``; single-pose: any batch of S x S images,
    MultiPose: one image of any size) and decoder part (the graph's own decoding, one image) of a zoo
    MoveNet graph, converted on first use."""
    from posekit.models.tta import _cached_part

    multi, size = spec.multi_person, spec.input_size
    image = [1, None, None, 3] if multi else [None, size, size, 3]
    network = _cached_part(spec.graph, "network", cut_inputs={IMAGE[multi]: image},
                           cut_outputs=list(HEADS[multi]))
    decoder = _cached_part(spec.graph, "decoder", cut_inputs={h: [1, None, None, None] for h in HEADS[multi]})
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
        self.decoder: SinglePoseDecoder | MultiPoseDecoder | None = None
        self.grown: SinglePoseDecoder | None = None
        meta = {} if spec.multi_person else runner.metadata()
        self.score_map = score_calibration(meta, spec.schema.keypoints)  # a calibrated fine-tuned file's
        if grown_heads()[0] in runner.output_names:  # a fine-tuned file with grown joints
            from posekit.models.registry import get_spec

            base = get_spec(runner.metadata()["posekit.base"])
            self.grown = SinglePoseDecoder.from_onnx(split_onnx(base)[1])

    @classmethod
    def load(cls, spec: ModelSpec, threads: int | None = None, min_score: float = 0.25) -> MoveNet:
        """A zoo MoveNet: its network part in onnxruntime (single-pose: the batch fixed to 1 for this session)
        and its decoding in numpy."""
        network, decoder = split_onnx(spec)
        multi = spec.multi_person
        fixed = None if multi else {f"{IMAGE[multi]}_d0": 1}
        model = cls(spec, Runner(network, threads=threads, fixed_dims=fixed), min_score)
        model.decoder = (MultiPoseDecoder if multi else SinglePoseDecoder).from_onnx(decoder)
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
            rows = next(iter(outputs.values()))
            if self.grown is not None:
                rows = np.concatenate([rows, self.grown(*(outputs[name] for name in grown_heads()))], axis=2)
            return rows if self.score_map is None else calibrate_scores(rows, *self.score_map)
        return self.decoder(*(outputs[name] for name in HEADS[self.spec.multi_person]))

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
            kp = raw.reshape(1, -1, 3)  # 17 joints, and a fine-tuned file's grown ones
            boxes = None
            pose_scores = kp[:, :, 2].mean(axis=1)
        xy = lb.to_image(kp[:, :, 1::-1] * size)
        poses = Poses(xy, kp[:, :, 2], pose_scores, self.schema, boxes)
        return poses.select(poses.pose_scores >= self.min_score)

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        tensor, lb = self.preprocess(rgb)
        return self.postprocess(self.infer(tensor), lb)
