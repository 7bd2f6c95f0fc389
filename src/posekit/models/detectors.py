"""Person detectors for top-down mode: ``detect(rgb) -> Detections`` (boxes in image pixels, best first).

- ``centernet``: MobileNetV3 CenterNet (610265158/mobilenetv3_centernet), 512 x 512 input, RGB 0..255 (the
  normalisation is folded into the first conv), letterboxed (aspect kept, black right / bottom). The graph
  decodes itself as upstream does: class heatmap peaks (3 x 3 max-pool), top 100, box from the ``wh``
  (left/top/right/bottom distances) head; ``tower_0/detections`` rows are x1, y1, x2, y2 (input pixels),
  score, class (0 = person).
- ``nanodet``: NanoDet-m (RangiLyu/nanodet, GFL head), 416 x 416 NCHW input, BGR normalised by upstream's
  mean (103.53, 116.28, 123.675) and std (57.375, 57.12, 58.395), letterboxed. Decoded as upstream
  ``GFLHead.get_bboxes_single``: per stride 8 / 16 / 32 the cell centre ``(col + 0.5, row + 0.5) * stride``,
  distances ``sum(softmax(d) * [0..reg_max]) * stride`` with ``reg_max = 10`` (44 = 4 x 11 channels),
  scores already sigmoid.
- ``movenet-multipose`` and ``blazepose-detector``: the boxes of those models, through the same clean-up.

Clean-up (``finish``), the same for every detector: class person only, score >= ``min_score``, boxes clipped
to the image, boxes whose shorter side is under ``min_size`` pixels after clipping dropped (and counted),
greedy NMS at IoU ``iou``, then at most ``max_boxes`` people (the rest counted): a textured image that lights
up hundreds of peaks costs at most ``max_boxes`` pose crops.

Preprocessing was chosen by measurement (recall at IoU 0.5 of the 119 annotated people with keypoints on
coco-mini-train + mmpose-tests/coco + coco8-pose, score >= 0.1): human's ``nanodet.ts`` feeds RGB / 255 and
stretches the image to the square (0.672); upstream's BGR mean / std, stretched, gives 0.857, letterboxed
0.891. CenterNet: stretched (as ``centernet.ts``) 0.824, letterboxed 0.857; BGR 0.815. The default score
threshold 0.2 keeps half as many boxes (crops to run) as 0.1 for 4 points less recall (nanodet 0.849).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.preprocess import Letterbox, letterbox
from posekit.video.matching import box_iou

MAX_BOXES = 20  # most people one image yields (the cap); COCO keypoint images rarely have more
MIN_SIZE = 8.0  # px: a box whose shorter side is smaller holds no usable pose
DETECTORS = ("centernet", "nanodet", "movenet-multipose", "blazepose-detector")
DEFAULT_DETECTOR = "nanodet"  # best recall and fastest, measured (benchmarks/bench_topdown.py recall)


@dataclass(frozen=True)
class Detections:
    """boxes (n, 4) float32 x1, y1, x2, y2 image pixels, best first; scores (n,) float32 in 0..1;
    too_small: boxes dropped for a side under the minimum size; over_cap: boxes dropped by the cap."""

    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]
    too_small: int = 0
    over_cap: int = 0

    def __len__(self) -> int:
        return len(self.boxes)


def nms(boxes: NDArray[np.floating], scores: NDArray[np.floating], iou: float) -> NDArray[np.intp]:
    """Indices kept by greedy non-maximum suppression, best score first (ties: lower index first)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    overlap = box_iou(boxes, boxes)
    keep: list[int] = []
    suppressed = np.zeros(len(order), bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= overlap[i] > iou
    return np.array(keep, np.intp)


def finish(boxes: NDArray[np.floating], scores: NDArray[np.floating], width: int, height: int,
           min_score: float, iou: float, max_boxes: int = MAX_BOXES,
           min_size: float = MIN_SIZE) -> Detections:
    """Score filter -> clip to the (width, height) image -> drop boxes under ``min_size`` -> NMS -> cap."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    keep = np.isfinite(scores) & (scores >= min_score) & np.isfinite(boxes).all(axis=1)
    boxes, scores = boxes[keep], scores[keep]
    boxes = np.clip(boxes, 0, np.array([width, height, width, height], np.float32))
    small = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) < min_size
    boxes, scores = boxes[~small], scores[~small]
    kept = nms(boxes, scores, iou)
    over = max(len(kept) - max_boxes, 0)
    kept = kept[:max_boxes]
    return Detections(boxes[kept], scores[kept], int(small.sum()), over)


def _boxed(rgb: NDArray[np.uint8], size: int) -> tuple[NDArray[np.float32], Letterbox]:
    """(H, W, 3) uint8 -> (size, size, 3) float32 0..255 letterboxed (black right / bottom), and the map
    back."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise PosekitError(f"image of shape {rgb.shape}: pass an (H, W, 3) RGB image")
    boxed, lb = letterbox(rgb, size, size)
    return boxed.astype(np.float32), lb


def _to_image(boxes: NDArray[np.floating], lb: Letterbox) -> NDArray[np.float32]:
    return lb.to_image(np.asarray(boxes, np.float32).reshape(-1, 2, 2)).reshape(-1, 4)


class GraphDetector:
    """What the package's object-detector graphs share: the session (the graph named ``name``), the clean-up
    settings, and ``detect = decode(infer(preprocess(rgb)))``; subclasses give preprocess, infer, decode."""

    name = ""
    input_size = 0

    def __init__(self, runner, min_score: float = 0.2, iou: float = 0.5, max_boxes: int = MAX_BOXES,
                 min_size: float = MIN_SIZE) -> None:
        self.runner = runner
        self.min_score, self.iou, self.max_boxes, self.min_size = min_score, iou, max_boxes, min_size

    @classmethod
    def load(cls, threads: int | None = None, **options):
        from posekit.convert import cached_onnx
        from posekit.convert.optimize import fast_graph
        from posekit.models.runner import Runner

        return cls(Runner(fast_graph(cached_onnx(cls.name)), threads=threads), **options)

    def detect(self, rgb: NDArray[np.uint8]) -> Detections:
        tensor, lb = self.preprocess(rgb)
        return self.decode(self.infer(tensor), lb, rgb.shape[1], rgb.shape[0])


class CenterNet(GraphDetector):
    """preprocess -> session.run -> decode for the CenterNet graph (its own peak decoding inside)."""

    name = "centernet"
    input_size = 512

    def preprocess(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], Letterbox]:
        boxed, lb = _boxed(rgb, self.input_size)
        return boxed[None], lb

    def infer(self, tensor: NDArray[np.float32]) -> NDArray[np.float32]:
        """(100, 6) rows x1, y1, x2, y2 (input pixels), score, class."""
        return self.runner.run({self.runner.input_names[0]: tensor})["tower_0/detections"][0]

    def decode(self, rows: NDArray[np.float32], lb: Letterbox, width: int, height: int) -> Detections:
        person = rows[:, 5] == 0
        return finish(_to_image(rows[person, :4], lb), rows[person, 4], width, height, self.min_score,
                      self.iou, self.max_boxes, self.min_size)


class NanoDet(GraphDetector):
    """preprocess -> session.run -> GFL decode for the NanoDet graph."""

    name = "nanodet"
    input_size = 416
    strides = (8, 16, 32)
    reg_max = 10
    mean_bgr = np.array([103.53, 116.28, 123.675], np.float32)
    std_bgr = np.array([57.375, 57.12, 58.395], np.float32)

    def preprocess(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], Letterbox]:
        boxed, lb = _boxed(rgb, self.input_size)
        x = (boxed[..., ::-1] - self.mean_bgr) / self.std_bgr
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32), lb

    def infer(self, tensor: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
        return self.runner.run({self.runner.input_names[0]: tensor})

    def level_outputs(self, outputs: dict[str, NDArray[np.float32]]
                      ) -> list[tuple[int, NDArray[np.float32], NDArray[np.float32]]]:
        """(stride, person scores (cells,), distance logits (cells, 4, reg_max + 1)) per level; outputs are
        matched by shape (cells = (416 / stride)^2; 80 class scores or 44 distance logits)."""
        levels = []
        for stride in self.strides:
            cells = (self.input_size // stride) ** 2
            scores = next(v for v in outputs.values() if v.shape[1:] == (cells, 80))
            dist = next(v for v in outputs.values() if v.shape[1:] == (cells, 4 * (self.reg_max + 1)))
            levels.append((stride, scores[0, :, 0], dist[0].reshape(cells, 4, self.reg_max + 1)))
        return levels

    def decode(self, outputs: dict[str, NDArray[np.float32]], lb: Letterbox, width: int, height: int
               ) -> Detections:
        boxes, scores = [], []
        project = np.arange(self.reg_max + 1, dtype=np.float32)
        for stride, person, logits in self.level_outputs(outputs):
            side = self.input_size // stride
            keep = np.flatnonzero(person >= self.min_score)
            logits = logits[keep] - logits[keep].max(axis=2, keepdims=True)
            soft = np.exp(logits)
            # (n, 4) distances left, top, right, bottom in input pixels
            d = (soft / soft.sum(axis=2, keepdims=True)) @ project * stride
            cx, cy = (keep % side + 0.5) * stride, (keep // side + 0.5) * stride
            boxes.append(np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], axis=1))
            scores.append(person[keep])
        return finish(_to_image(np.concatenate(boxes), lb), np.concatenate(scores), width, height,
                      self.min_score, self.iou, self.max_boxes, self.min_size)


class PoseBoxes:
    """A detector from a pose model's person boxes: MoveNet MultiPose boxes, or the BlazePose detector's
    alignment ROIs (which cover the whole predicted body)."""

    def __init__(self, model, name: str, min_score: float = 0.0, iou: float = 0.5,
                 max_boxes: int = MAX_BOXES, min_size: float = MIN_SIZE) -> None:
        self.model, self.name = model, name
        self.input_size = model.spec.input_size if hasattr(model, "spec") else 224
        self.min_score, self.iou, self.max_boxes, self.min_size = min_score, iou, max_boxes, min_size

    def detect(self, rgb: NDArray[np.uint8]) -> Detections:
        h, w = rgb.shape[:2]
        if self.name == "blazepose-detector":
            found = self.model.detect(rgb)
            boxes, scores = found.person_boxes(w, h), found.scores
        else:
            poses = self.model.predict(rgb)
            boxes = poses.boxes if poses.boxes is not None else np.zeros((0, 4), np.float32)
            scores = poses.pose_scores
        return finish(boxes, scores, w, h, self.min_score, self.iou, self.max_boxes, self.min_size)


def load_detector(name: str, threads: int | None = None, **options):
    """A detector by name (``DETECTORS``); ``options``: min_score, iou, max_boxes, min_size."""
    if name == "centernet":
        return CenterNet.load(threads=threads, **options)
    if name == "nanodet":
        return NanoDet.load(threads=threads, **options)
    if name == "movenet-multipose":
        from posekit.models.registry import load_model

        return PoseBoxes(load_model(name, threads=threads, min_score=0.0), name,
                         **{"min_score": 0.25, **options})
    if name == "blazepose-detector":
        from posekit.models.blazepose import BlazePoseDetector

        return PoseBoxes(BlazePoseDetector.load(threads=threads), name, **options)
    raise PosekitError(f"--detector {name}: use one of {', '.join(DETECTORS)}")
