"""One-person models on many images at once: batched session calls and test-time augmentation (TTA).

``CropModel(model).predict_many(images)`` gives each image's pose (at most one). The model's staged pipeline
(``preprocess -> infer -> postprocess``) runs on all images and all their augmentations: in one session call
per ``chunk`` where the graph takes a dynamic batch (``batch_runner``), else one call per tensor.

Augmentations act on the model's input tensor, which is square for every zoo model, so each maps back
exactly: ``flip`` mirrors it left-right, ``rot`` turns it by 90, 180 and 270 degrees (upside-down athletes).
``--tta flip`` = {identity, flip}; ``--tta flip,rot`` = the four turns, each with and without flip (8 runs).
A flipped prediction swaps left and right joints by the schema's flip pairs. Fusion of the runs of one
orientation (plain and mirrored):

- heatmap models (EfficientPose, exported heatmap models): the heatmaps are mapped back (un-turned, mirrored,
  channels swapped) and averaged, then decoded once;
- keypoint models (MoveNet): each run's keypoints are mapped back to input pixels and averaged per joint,
  weighted by the joint's score; the fused joint score is the mean of the runs' scores.

With ``rot`` one orientation wins: the models are not rotation invariant, so averaging in the three
orientations where the person is sideways or upside down for the model would pull a good pose towards bad
ones. A turned orientation must out-score the upright one by ``TURN_RATIO`` (20 %): most people stand
upright, and without that prior flip,rot lost 1.9 COCO AP on the dev set (benchmarks/bench_topdown.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.preprocess import Letterbox
from posekit.types import Poses

# (quarter turns counter-clockwise, mirrored first)
TTA_MODES: dict[str, tuple[tuple[int, bool], ...]] = {
    "none": ((0, False),),
    "flip": ((0, False), (0, True)),
    "flip,rot": tuple((k, f) for k in range(4) for f in (False, True)),
}
# Zoo graphs whose converted ONNX runs with a free batch dimension as it is.
BATCHABLE = ("efficientpose",)
CHUNK = 16  # most tensors per session call
TURN_RATIO = 1.2  # a turned orientation must out-score the upright one by 20 % to be chosen


def parse_tta(text: str | None) -> str:
    """``None`` / ``"none"`` / ``"flip"`` / ``"flip,rot"`` (order and spaces free) -> a TTA_MODES key."""
    if text is None:
        return "none"
    parts = sorted(p.strip() for p in str(text).split(",") if p.strip())
    key = {(): "none", ("none",): "none", ("flip",): "flip", ("flip", "rot"): "flip,rot"}.get(tuple(parts))
    if key is None:
        raise PosekitError(f"--tta {text}: use none, flip or flip,rot")
    return key


@dataclass(frozen=True)
class Layout:
    """Where the spatial axes of the model's input tensor are (NHWC: 1, 2; NCHW: 2, 3) and its side."""

    h_axis: int
    w_axis: int
    size: int


def input_layout(tensor: NDArray) -> Layout:
    nchw = tensor.shape[1] in (1, 3) and tensor.shape[3] not in (1, 3)
    h_axis, w_axis = (2, 3) if nchw else (1, 2)
    return Layout(h_axis, w_axis, int(tensor.shape[w_axis]))


def augment(tensor: NDArray, turns: int, flip: bool, layout: Layout) -> NDArray:
    """Mirror (W reversed) and then turn the image ``turns`` quarter turns counter-clockwise."""
    if flip:
        tensor = np.flip(tensor, axis=layout.w_axis)
    if turns % 4:
        tensor = np.rot90(tensor, turns, axes=(layout.h_axis, layout.w_axis))
    return np.ascontiguousarray(tensor)


def points_back(xy: NDArray[np.floating], turns: int, flip: bool, size: float,
                perm: list[int]) -> NDArray[np.float32]:
    """(..., K, 2) continuous input-pixel coordinates predicted on the augmented input -> the original input.

    One counter-clockwise quarter turn maps (x, y) to (y, size - x); its inverse maps (x', y') to
    (size - y', x'). The mirror maps x to size - x and swaps left and right joints."""
    xy = np.array(xy, np.float32)
    for _ in range(turns % 4):
        xy = np.stack([size - xy[..., 1], xy[..., 0]], axis=-1)
    if flip:
        xy[..., 0] = size - xy[..., 0]
        xy = xy[..., perm, :]
    return xy


def heatmaps_back(heatmaps: NDArray, turns: int, flip: bool, perm: list[int]) -> NDArray:
    """(..., K, H, W) heatmaps of the augmented input -> the original input's (exact for square maps)."""
    if turns % 4:
        heatmaps = np.rot90(heatmaps, -turns, axes=(-2, -1))
    if flip:
        heatmaps = np.flip(heatmaps, axis=-1)[..., perm, :, :]
    return np.ascontiguousarray(heatmaps)


def fuse_keypoints(xy: NDArray[np.float32], scores: NDArray[np.float32]
                   ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(R, K, 2) and (R, K) of R runs -> (K, 2) score-weighted mean, (K,) mean score."""
    w = np.clip(scores.astype(np.float64), 0, None)
    total = w.sum(axis=0)
    w = np.where(total > 0, w / np.where(total > 0, total, 1), 1.0 / len(w))
    return (xy * w[..., None]).sum(axis=0).astype(np.float32), scores.mean(axis=0).astype(np.float32)


class _Given:
    """A runner stand-in holding one batch element's outputs, so the family's own ``infer`` can finish
    (transpose, channel order) an output that a batched call produced."""

    def __init__(self, outputs: dict[str, NDArray], input_names: list[str]) -> None:
        self.outputs, self.input_names = outputs, input_names

    def run(self, feeds: dict[str, NDArray]) -> dict[str, NDArray]:
        return self.outputs


def _finish(model, outputs: dict[str, NDArray], tensor: NDArray, input_names: list[str]):
    view = copy.copy(model)
    view.runner = _Given(outputs, input_names)
    return view.infer(tensor)


class BatchedGraph:
    """The model's whole graph with a free batch dimension: one call per ``CHUNK`` tensors."""

    def __init__(self, runner) -> None:
        self.runner = runner

    def infer_many(self, model, tensors: list[NDArray]) -> list:
        raws = []
        for start in range(0, len(tensors), CHUNK):
            chunk = tensors[start:start + CHUNK]
            outs = self.runner.run({self.runner.input_names[0]: np.concatenate(chunk)})
            raws += [_finish(model, {k: v[j:j + 1] for k, v in outs.items()}, t, self.runner.input_names)
                     for j, t in enumerate(chunk)]
        return raws


class DecodedBatch:
    """A model whose runner is a network part with a free batch dimension and whose ``decode`` takes a
    batch of its outputs (MoveNet single-pose, fp32 or int8): one session call and one vectorised decoding
    per ``CHUNK`` tensors. ``runner``: a session of the model's file without its batch-1 ``fixed_dims``."""

    def __init__(self, runner) -> None:
        self.runner = runner

    def infer_many(self, model, tensors: list[NDArray]) -> list:
        raws = []
        for start in range(0, len(tensors), CHUNK):
            chunk = tensors[start:start + CHUNK]
            decoded = model.decode(self.runner.run(model.session_input(np.concatenate(chunk))))
            raws += [decoded[j:j + 1] for j in range(len(chunk))]
        return raws


def batch_runner(model, threads: int | None = None, precision: str = "fp32"):
    """A ``DecodedBatch`` (MoveNet single-pose: its own network file, fp32 or int8) or a ``BatchedGraph``
    (``BATCHABLE``: the fp32 graph converted with a free batch dimension, so only for ``precision`` fp32)
    for ``model``, or None where the model is not a zoo model with a known way to batch it."""
    from posekit.convert import cached_onnx
    from posekit.models.runner import Runner

    if getattr(model, "decoder", None) is not None and hasattr(model, "decode"):
        return DecodedBatch(Runner(model.runner.path, threads=threads))
    graph = getattr(model.spec, "graph", None)
    if precision != "fp32" or not hasattr(model, "runner") or graph not in BATCHABLE:
        return None
    shape = list(model.runner.session.get_inputs()[0].shape)
    whole = cached_onnx(graph, input_shapes={model.runner.input_names[0]: [None, *shape[1:]]})
    return BatchedGraph(Runner(whole, threads=threads))


def _cached_part(graph: str, part: str, **cut) -> Path:
    """``$POSEKIT_HOME/onnx/<graph>-<source sha256[:16]>-<part>-c<converter version>.onnx``, converted on
    first use (with the cache's hash record, source check and lock: ``posekit.convert.cache``)."""
    from posekit import hub
    from posekit.convert import convert_tfjs
    from posekit.convert.cache import CONVERTER_VERSION, cached_file
    from posekit.convert.graph import source_sha256

    source = hub.model_json(graph)
    path = hub.cache_dir() / "onnx" / f"{graph}-{source_sha256(source)[:16]}-{part}-c{CONVERTER_VERSION}.onnx"

    def build() -> bytes:
        hub.verify_source(graph)
        return convert_tfjs(source, **cut).SerializeToString()

    return cached_file(path, build, what=f"the verified source {source.name}")


def is_heatmap_model(model) -> bool:
    from posekit.models.efficientpose import EfficientPose
    from posekit.models.heatmap import HeatmapModel

    return isinstance(model, EfficientPose | HeatmapModel)


def is_staged(model) -> bool:
    return all(hasattr(model, name) for name in ("preprocess", "infer", "postprocess"))


class CropModel:
    """A one-person model run on many images per call, with optional TTA. ``predict(rgb)`` and
    ``predict_many(images)`` return poses in each image's pixels (at most one per image); ``min_score``
    drops a pose whose (fused) score is lower."""

    def __init__(self, model, tta: str = "none", batched=None, min_score: float = 0.0) -> None:
        self.tta = parse_tta(tta)
        if getattr(model.spec, "multi_person", False):
            raise PosekitError(f"--tta / batched crops need a one-person model, not {model.spec.name}")
        if self.tta != "none" and not is_staged(model):
            raise PosekitError(f"--tta {self.tta}: model {model.spec.name} has no single-stage pipeline to "
                               "augment; use movenet-thunder, movenet-lightning or efficientpose")
        self.model = copy.copy(model)
        if hasattr(self.model, "min_score"):
            self.model.min_score = 0.0  # fuse first, then threshold
        self.batched = batched
        self.min_score = min_score
        self.turn_ratio = TURN_RATIO
        self.spec, self.schema = model.spec, model.schema

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        return self.predict_many([rgb])[0]

    def predict_many(self, images: list[NDArray[np.uint8]]) -> list[Poses]:
        if not images:
            return []
        if not is_staged(self.model):
            found = [self.model.predict(rgb) for rgb in images]
            return [self._best(p) for p in found]
        prepared = [self.model.preprocess(rgb) for rgb in images]
        runs = TTA_MODES[self.tta]
        layout = input_layout(prepared[0][0])
        tensors = [augment(t, k, f, layout) for t, _ in prepared for k, f in runs]
        raws = self._infer_all(tensors)
        perm = self.schema.flip_permutation()
        out = []
        for i, (_, lb) in enumerate(prepared):
            mine = list(zip(raws[i * len(runs):(i + 1) * len(runs)], runs, strict=True))
            found = {turns: self._best(self._fuse([(r, run) for r, run in mine if run[0] == turns], lb,
                                                  layout.size, perm))
                     for turns in sorted({k for k, _ in runs})}
            found = {k: p for k, p in found.items() if len(p)}
            upright = found.pop(0, None)
            turned = max(found.values(), key=lambda p: p.pose_scores[0], default=None)
            if upright is None or (turned is not None
                                   and turned.pose_scores[0] > upright.pose_scores[0] * self.turn_ratio):
                upright = turned
            out.append(upright if upright is not None else Poses.empty(self.schema))
        return out

    def _fuse(self, group: list, lb: Letterbox, size: int, perm: list[int]) -> Poses:
        """The runs of one orientation fused: heatmap average, else score-weighted keypoints."""
        if is_heatmap_model(self.model):
            fused = np.mean([heatmaps_back(r, k, f, perm) for r, (k, f) in group], axis=0).astype(np.float32)
            return self.model.postprocess(fused, lb)
        return self._fuse_points([r for r, _ in group], tuple(run for _, run in group), lb, size, perm)

    def _fuse_points(self, raws: list, runs: tuple[tuple[int, bool], ...], lb: Letterbox, size: int,
                     perm: list[int]) -> Poses:
        """Each run decoded in input pixels (identity letterbox), mapped back, fused, then to image pixels."""
        ident = Letterbox(1.0, 0.0, 0.0, lb.input_w, lb.input_h)
        xy, scores = [], []
        for raw, (k, f) in zip(raws, runs, strict=True):
            p = self._best(self.model.postprocess(raw, ident))
            if len(p) == 0:
                continue
            xy.append(points_back(p.xy[0], k, f, size, perm))
            scores.append(p.scores[0])
        if not xy:
            return Poses.empty(self.schema)
        fused_xy, fused_scores = fuse_keypoints(np.stack(xy), np.stack(scores))
        if len(xy) == 1:
            fused_xy, fused_scores = xy[0], scores[0]
        return Poses(lb.to_image(fused_xy)[None], fused_scores[None], [float(fused_scores.mean())],
                     self.schema)

    def _infer_all(self, tensors: list[NDArray]) -> list:
        if self.batched is None:
            return [self.model.infer(t) for t in tensors]
        return self.batched.infer_many(self.model, tensors)

    def _best(self, poses: Poses) -> Poses:
        if len(poses) == 0:
            return poses
        best = poses.select(np.argsort(-poses.pose_scores, kind="stable")[:1])
        return best.select(best.pose_scores >= self.min_score)
