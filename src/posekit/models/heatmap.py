"""Exported heatmap models (``posekit train export``) as zoo-like single-person models.

The ONNX file carries everything the runtime needs in ``metadata_props`` (documented in
``posekit.train.export``): schema, input and heatmap size, mean / std, decoder. ``predict`` letterboxes the
image into the input, normalises, runs onnxruntime and decodes with ``posekit.decode.heatmap`` (argmax +
sub-pixel refinement); the keypoint score is the heatmap peak. The model was trained on person crops (the
box enlarged ``crop_enlarge`` times), so give it such a crop: ``posekit eval run --gt-boxes`` or top-down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.decode.heatmap import decode_heatmaps_batch
from posekit.errors import PosekitError
from posekit.models.runner import Runner
from posekit.models.spec import ModelSpec
from posekit.preprocess import Letterbox, letterbox
from posekit.skeletons import get_schema
from posekit.types import Poses


def read_heatmap_meta(onnx_path: str | Path) -> dict[str, Any]:
    """The parsed posekit metadata of an exported heatmap model (keys: kind, model, schema, input_size (H, W),
    heatmap_size (h, w), mean, std, color, decoder, crop_enlarge, sigma, val_pck). PosekitError otherwise."""
    import onnx

    try:
        proto = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError, FileNotFoundError, ...
        raise PosekitError(f"{onnx_path}: not a readable ONNX file ({type(err).__name__})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if props.get("posekit.kind") != "heatmap":
        raise PosekitError(
            f"{onnx_path}: no posekit.kind=heatmap metadata; export it with `posekit train export`"
        )
    try:
        crop_kind, _, enlarge = props["posekit.crop"].partition(":")
        if crop_kind != "box-enlarge":
            raise ValueError(crop_kind)
        return {
            "kind": "heatmap",
            "model": props["posekit.model"],
            "schema": props["posekit.schema"],
            "input_size": tuple(int(v) for v in props["posekit.input_size"].split(",")),
            "heatmap_size": tuple(int(v) for v in props["posekit.heatmap_size"].split(",")),
            "mean": tuple(float(v) for v in props["posekit.mean"].split(",")),
            "std": tuple(float(v) for v in props["posekit.std"].split(",")),
            "color": props["posekit.color"],
            "decoder": props["posekit.decoder"],
            "crop_enlarge": float(enlarge),
            "sigma": float(props["posekit.sigma"]),
            "val_pck": float(props["posekit.val_pck"]) if "posekit.val_pck" in props else None,
        }
    except (KeyError, ValueError) as err:
        raise PosekitError(
            f"{onnx_path}: posekit metadata incomplete or malformed ({err}); re-export it"
        ) from None


class HeatmapModel:
    """preprocess -> session.run -> postprocess for an exported heatmap model (one person per image)."""

    def __init__(self, spec: ModelSpec, runner: Runner, meta: dict[str, Any], min_score: float = 0.0) -> None:
        self.spec, self.runner, self.meta = spec, runner, meta
        self.schema = spec.schema
        self.min_score = min_score
        self.input_name = runner.input_names[0]
        self.refine = meta["decoder"].rsplit("-", 1)[-1]

    @classmethod
    def from_path(cls, path: str | Path, threads: int | None = None, **options: Any) -> HeatmapModel:
        meta = read_heatmap_meta(path)
        h, w = meta["input_size"]
        spec = ModelSpec(Path(path).stem, "heatmap", str(path), max(h, w), get_schema(meta["schema"]), False,
                         f"posekit-trained {meta['model']} ({meta['schema']})", "see the model's author",
                         str(path))
        return cls(spec, Runner(path, threads=threads), meta, **options)

    def preprocess(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], Letterbox]:
        """(H, W, 3) uint8 -> (1, 3, h_in, w_in) normalised float32 and the letterbox transform."""
        h, w = self.meta["input_size"]
        boxed, lb = letterbox(rgb, w, h, center=True)
        x = (boxed.astype(np.float32) / 255.0 - np.float32(self.meta["mean"])) / np.float32(self.meta["std"])
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), lb

    def infer(self, tensor: NDArray[np.float32]) -> NDArray[np.float32]:
        return next(iter(self.runner.run({self.input_name: tensor}).values()))

    def postprocess(self, heatmaps: NDArray[np.float32], lb: Letterbox) -> Poses:
        """(1, K, h, w) heatmaps -> one pose in image pixels (dropped when below ``min_score``)."""
        xy_hm, scores = decode_heatmaps_batch(heatmaps[:1], self.refine)
        (h, w), (hh, hw) = self.meta["input_size"], self.meta["heatmap_size"]
        xy_in = (xy_hm + 0.5) * np.array([w / hw, h / hh], np.float32) - 0.5
        scores = np.clip(scores, 0.0, 1.0)
        poses = Poses(lb.to_image(xy_in), scores, scores.mean(axis=1), self.schema)
        return poses.select(poses.pose_scores >= self.min_score)

    def predict(self, rgb: NDArray[np.uint8]) -> Poses:
        tensor, lb = self.preprocess(rgb)
        return self.postprocess(self.infer(tensor), lb)
