"""A pose network's trunk as a frozen image feature extractor for activity recognition.

EfficientPose's graph starts with the first blocks of an EfficientNet-Lite4 (ImageNet-pretrained, then
trained with the pose heads on MPII, the same source as the sports images). The converter cuts the graph at
two inner tensors (``cut_outputs``) and the trunk runs with onnxruntime like any zoo model:

- ``blocks_6``: (46, 46, 56), stride 8, after the 7th MBConv block;
- ``blocks_8``: (46, 46, 56), stride 8, the last trunk block before the pose passes.

Why these: of the zoo's trained image networks, EfficientPose's trunk is the one trained on MPII people at a
high resolution (368 px), so its stride-8 maps still see the equipment (rackets, balls, horses, walls) that
separates the sports, while MoveNet's 1/32 trunk (``out_relu``, 1280 channels) is mostly about body parts.
Pooling (`pool_features`), per tensor: the global mean, the global max and the mean of each 2 x 2 cell (6 x 56
= 336 values, 672 for both). ``pose_pooled``: the mean of each tensor over the pose map (the central and the
farthest person's limbs, `posekit.activity.posemap`, letterboxed like the image and stacked with it as a
fourth channel), 112 values, zero when there is no person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.preprocess import Letterbox, letterbox


@dataclass(frozen=True)
class Backbone:
    """graph: zoo graph name; outputs: the inner tensors cut out; input_size: square input side (px)."""

    name: str
    graph: str
    outputs: tuple[str, ...]
    input_size: int
    part: str


BACKBONES = {
    "efficientpose-b6-b8": Backbone(
        "efficientpose-b6-b8", "efficientpose",
        ("efficientnet-lite4/model/blocks_6/Add_0/add", "efficientnet-lite4/model/blocks_8/Add_0/add"),
        368, "trunk-b6-b8"),
}
DEFAULT_BACKBONE = "efficientpose-b6-b8"


def trunk_onnx(backbone: Backbone) -> Path:
    """The trunk's ONNX file in the model cache (converted on first use, verified like the zoo's)."""
    from posekit.models.tta import _cached_part

    return _cached_part(backbone.graph, backbone.part, cut_outputs=list(backbone.outputs))


class TrunkFeatures:
    """preprocess (letterbox, -1..1) -> session.run -> the trunk's feature maps; pooled by `pool_features`."""

    def __init__(self, backbone: str = DEFAULT_BACKBONE, threads: int | None = 1) -> None:
        from posekit.errors import PosekitError
        from posekit.models.runner import Runner

        if backbone not in BACKBONES:
            raise PosekitError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
        self.backbone = BACKBONES[backbone]
        self.runner = Runner(trunk_onnx(self.backbone), threads=threads)
        self.input_name = self.runner.input_names[0]

    def preprocess(self, rgb: NDArray[np.uint8]) -> tuple[NDArray[np.float32], Letterbox]:
        """(H, W, 3) uint8 -> (1, S, S, 3) float32 in -1..1 (EfficientPose's) and the letterbox."""
        s = self.backbone.input_size
        boxed, lb = letterbox(rgb, s, s, center=True)
        return (boxed.astype(np.float32) / 127.5 - 1.0)[None], lb

    def maps(self, rgb: NDArray[np.uint8]) -> list[NDArray[np.float32]]:
        """The trunk tensors of one image, each (h, w, c)."""
        tensor, _ = self.preprocess(rgb)
        outs = self.runner.run({self.input_name: tensor})
        return [outs[name][0] for name in self.runner.output_names]


def letterboxed_mask(mask: NDArray[np.float32], size: int, grid: tuple[int, int]) -> NDArray[np.float32]:
    """(H, W, 1) map in 0..1 -> (gh, gw) its letterboxed (as the image) area average on the feature grid."""
    from PIL import Image

    boxed, _ = letterbox(np.repeat((mask * 255).astype(np.uint8), 3, axis=2), size, size, center=True)
    small = Image.fromarray(boxed[:, :, 0]).resize((grid[1], grid[0]), Image.BILINEAR)
    return np.asarray(small, dtype=np.float32) / 255.0


def pool_features(maps: list[NDArray[np.float32]]) -> NDArray[np.float32]:
    """Global mean, global max and 2 x 2 cell means of each (h, w, c) map, concatenated: (6 x sum c,)."""
    parts = []
    for m in maps:
        h, w = m.shape[0] // 2, m.shape[1] // 2
        cells = [m[:h, :w], m[:h, w:], m[h:, :w], m[h:, w:]]
        parts += [m.mean(axis=(0, 1)), m.max(axis=(0, 1)), *(c.mean(axis=(0, 1)) for c in cells)]
    return np.concatenate(parts).astype(np.float32)


def masked_pool(maps: list[NDArray[np.float32]], mask: NDArray[np.float32]) -> NDArray[np.float32]:
    """Mean of each (h, w, c) map weighted by ``mask`` (h, w), concatenated (sum c,); 0 if mask is empty."""
    total = float(mask.sum())
    if total <= 1e-6:
        return np.zeros(sum(m.shape[2] for m in maps), np.float32)
    return np.concatenate([(m * mask[:, :, None]).sum(axis=(0, 1)) / total for m in maps]).astype(np.float32)
