"""Zoo models (or their fine-tuned exports) as trainable PyTorch modules with their pretrained weights.

``load_pretrained(init, schema)``: ``init`` is a zoo name (``efficientpose``) or an ``.onnx`` written by
``posekit train export`` from such a run. The model's converted ONNX graph becomes an
`posekit.train.onnx_torch.OnnxModule`; its heatmap head is mapped onto the target schema by joint name
(`posekit.skeletons.joint_mapping`): the module returns the target's joints in the target's order, so the
training loop, its loss and its validation are the same as for a model trained from scratch.

A trainable family is a frozen `FineTuneSpec`: the graph tensor holding the raw heatmaps, its joint order,
how the zoo runtime normalises the input (so training sees exactly what the runtime feeds), the prefix of
the pretrained backbone's weights (frozen for ``--freeze-epochs``, trained at ``--backbone-lr``), and for
``--cache-features`` (`posekit.train.features`) the tensor where the frozen trunk ends (``cut``) and the raw
heads trained above it.

Families: ``efficientpose`` (kind "heatmap": MSE on its heatmaps, all of LSP's joints by name) and the
single-pose MoveNets (kind "movenet": their four raw heads, trained from a cache only (``--cache-features``:
the FPN's features, or the crops to train the whole network); COCO-17 has no neck or head top, so for a
target's joints the model lacks it grows output channels, ``grow``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from posekit.errors import PosekitError
from posekit.skeletons import Schema, get_schema, joint_mapping

FINETUNED_KIND = "finetuned"
MIN_SHARED_JOINTS = 8


@dataclass(frozen=True)
class FineTuneSpec:
    """family / base: the zoo family and model; heatmaps: the graph tensor of raw heatmaps (N, h, w, C);
    joints: its channel order; mean / std: RGB in [0, 1] -> (x - mean) / std equals the runtime's input;
    backbone: initializer-name prefix of the pretrained backbone; sigma: heatmap Gaussian (heatmap px)."""

    family: str
    base: str
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    heatmaps: str
    joints: tuple[str, ...]
    schema: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    backbone: str
    sigma: float
    kind: str = "heatmap"
    cut: str = ""
    heads: tuple[str, ...] = ()
    crop_enlarge: float = 1.5
    image: str = ""


def _efficientpose() -> FineTuneSpec:
    from posekit.models.efficientpose import GRAPH_JOINTS

    # x / 127.5 - 1 (the graph's measured normalisation) = (x / 255 - 0.5) / 0.5. sigma 8 px: the pretrained
    # maps' half-maximum width on LSP crops is ~14 px, a stride-8 feature cell is 8 px.
    return FineTuneSpec("efficientpose", "efficientpose", (368, 368), (368, 368), "upscaled_confs/BiasAdd:0",
                        GRAPH_JOINTS, "mpii16", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "efficientnet-lite4/", 8.0,
                        cut="efficientnet-lite4/model/blocks_8/Add_0/add")


# The FPN's last activation: the four heads (3x3 depthwise, 1x1 to 96, ReLU, 1x1) start here.
MOVENET_FPN = "StatefulPartitionedCall/center_net_mobile_net_v2fpn_feature_extractor/model_1/re_lu_2/Relu"


def _movenet(name: str, size: int) -> FineTuneSpec:
    from posekit.models.movenet import HEADS, IMAGE
    from posekit.skeletons import COCO17

    # The graph casts the int32 image 0..255 to float itself: mean 0, std 1/255 feeds the raw pixels.
    # sigma 1.5 cells: the focal loss target's Gaussian around the joint's cell (a cell is 4 input px).
    return FineTuneSpec("movenet", name, (size, size), (size // 4, size // 4), HEADS[False][0],
                        COCO17.keypoints, "coco17", (0.0, 0.0, 0.0), (1 / 255,) * 3,
                        "StatefulPartitionedCall/center_net_mobile_net_v2fpn_feature_extractor/", 1.5,
                        kind="movenet", cut=MOVENET_FPN, heads=HEADS[False], image=IMAGE[False])


SPECS = {"efficientpose": _efficientpose,
         "movenet-lightning": lambda: _movenet("movenet-lightning", 192),
         "movenet-thunder": lambda: _movenet("movenet-thunder", 256)}


def _zoo_proto(name: str) -> tuple[onnx.ModelProto, str]:
    from posekit.models.registry import get_spec, onnx_path

    path = onnx_path(get_spec(name))
    return onnx.load(str(path)), _sha256(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def resolve_init(init: str) -> tuple[FineTuneSpec, onnx.ModelProto, str]:
    """The spec, ONNX graph and source sha256 of a zoo name or a fine-tuned export; PosekitError otherwise."""
    path = Path(init)
    if init in SPECS:
        proto, digest = _zoo_proto(init)
        return SPECS[init](), proto, digest
    if path.suffix != ".onnx" and not path.exists():
        from posekit.models.registry import MODELS

        known = ", ".join(SPECS)
        hint = (f"{init} has no trainable heads here" if init in MODELS else f"unknown model {init!r}")
        raise PosekitError(f"--init {init}: {hint}; give one of {known} or a posekit-exported .onnx")
    if not path.is_file():
        raise PosekitError(f"--init {init}: no such file; give a zoo name ({', '.join(SPECS)}) or an .onnx")
    try:
        proto = onnx.load(str(path))
    except Exception as err:  # onnx raises DecodeError and others for a foreign file
        raise PosekitError(f"--init {init}: not a readable ONNX file ({type(err).__name__})") from None
    props = {p.key: p.value for p in proto.metadata_props}
    if props.get("posekit.kind") != FINETUNED_KIND or props.get("posekit.base") not in SPECS:
        raise PosekitError(f"--init {init}: not a posekit fine-tuned export (no posekit.kind="
                           f"{FINETUNED_KIND} metadata); give a zoo name ({', '.join(SPECS)}) or a file from "
                           "`posekit train export` of an --init run")
    return SPECS[props["posekit.base"]](), proto, _sha256(path)


def channel_map(spec: FineTuneSpec, target: Schema, allow_missing: bool = False) -> list[int]:
    """For each target joint, the model's heatmap channel (by name, `joint_mapping`); -1 for a joint the
    model lacks when ``allow_missing`` (MoveNet: LSP's neck and head top). PosekitError when the target
    has joints the model lacks (and not ``allow_missing``) or shares fewer than MIN_SHARED_JOINTS with it."""
    model_schema = get_schema(spec.schema)
    by_name = joint_mapping(model_schema, target)
    shared = [target.keypoints[i] for i, j in enumerate(by_name) if j is not None]
    missing = [target.keypoints[i] for i, j in enumerate(by_name) if j is None]
    if len(shared) < MIN_SHARED_JOINTS:
        raise PosekitError(
            f"--init {spec.base}: its schema {model_schema.name} shares {len(shared)} joints with the data's "
            f"{target.name} ({', '.join(shared) or 'none'}); at least {MIN_SHARED_JOINTS} are needed: "
            "train from scratch with --model instead")
    if missing and not allow_missing:
        raise PosekitError(
            f"--init {spec.base}: the data's {target.name} has joints {model_schema.name} lacks "
            f"({', '.join(missing)}); this family's head cannot grow new channels yet")
    return [spec.joints.index(model_schema.keypoints[j]) if j is not None else -1 for j in by_name]


# Starting weights of a grown joint's channels: a mix of the model's joints' channels (the same mix for the
# heatmap, regression and offset heads). The weights sum to 1, so the regression starts at that point:
# the neck midway between the shoulders, the head top above the nose by half the nose-to-neck distance.
# A joint not listed starts as the mean of all the model's joints.
GROWN_SEEDS: dict[str, dict[str, float]] = {
    "neck": {"left_shoulder": 0.5, "right_shoulder": 0.5},
    "head_top": {"nose": 1.5, "left_shoulder": -0.25, "right_shoulder": -0.25},
}


def grow(spec: FineTuneSpec, proto: onnx.ModelProto, target: Schema, trained: list[int] | None = None
         ) -> tuple[FineTuneSpec, onnx.ModelProto, list[int]]:
    """A MoveNet whose schema lacks some of the data's joints (COCO-17 on LSP: neck, head top) grows output
    channels for them: (spec with the grown joints and heads, graph with them, the data's joints -> the
    grown model's channels). ``trained``: the channels of the run being resumed or exported, if any. Other
    families, data whose joints the model has, or a run checkpointed before posekit grew joints (its channels
    hold -1) come back as they are (with `channel_map`'s channels, -1 for a joint the model lacks; a heatmap
    family refuses those there)."""
    from posekit.models.movenet import GROWN_HEADS

    channels = channel_map(spec, target, allow_missing=spec.kind == "movenet")
    joints = [target.keypoints[i] for i, c in enumerate(channels) if c < 0]
    if not joints or (trained is not None and -1 in trained):
        return spec, proto, channels
    from dataclasses import replace

    from posekit.skeletons import grown_schema

    schema = grown_schema(get_schema(spec.schema), joints)
    grown = replace(spec, joints=spec.joints + tuple(joints), schema=schema.name,
                    heads=spec.heads + GROWN_HEADS)
    channels = [c if c >= 0 else len(spec.joints) + joints.index(target.keypoints[i])
                for i, c in enumerate(channels)]
    return grown, grow_heads(proto, spec, joints), channels


def grow_heads(proto: onnx.ModelProto, spec: FineTuneSpec, joints: list[str]) -> onnx.ModelProto:
    """A copy of a single-pose MoveNet graph with output channels for ``joints``: beside the heatmap (1 per
    joint), regression (2) and offset (2) heads' last 1x1 convolution, another one on the same features,
    whose output (NHWC, named GROWN + the head) the graph also returns, as it returns the centre head's
    raw map; its weights start from ``GROWN_SEEDS``. A graph that already has them (a grown export used
    as ``--init``) is returned as it is."""
    from onnx import helper, numpy_helper

    from posekit.models.movenet import GROWN_HEADS, HEADS, grown_heads

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    g = out.graph
    producers = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}
    heat, _, regress, offset = HEADS[False]
    if GROWN_HEADS[0] in producers:
        have = [p.value for p in proto.metadata_props if p.key == "posekit.grown"]
        if have != [",".join(joints)]:
            raise PosekitError(f"--init: the graph grew joints {have[0] if have else '?'}, the data lacks "
                               f"{', '.join(joints)}; start from the zoo model instead")
        return out
    names = list(spec.joints)
    for head, per, name in zip((heat, regress, offset), (1, 2, 2), GROWN_HEADS, strict=True):
        back = producers[head]  # Transpose NCHW -> NHWC of the head's last Conv
        conv = producers[back.input[0]]
        w, b = (numpy_helper.to_array(inits[conv.input[i]]) for i in (1, 2))
        rows_w, rows_b = [], []
        for joint in joints:
            seed = GROWN_SEEDS.get(joint) or {n: 1 / len(names) for n in names}
            for c in range(per):
                rows_w.append(sum(f * w[names.index(n) * per + c] for n, f in seed.items()))
                rows_b.append(sum(f * b[names.index(n) * per + c] for n, f in seed.items()))
        g.initializer.extend([numpy_helper.from_array(np.stack(rows_w).astype(np.float32), f"{name}/w"),
                              numpy_helper.from_array(np.array(rows_b, np.float32), f"{name}/b")])
        node = helper.make_node("Conv", [conv.input[0], f"{name}/w", f"{name}/b"], [f"{name}/nchw"],
                                name=f"{name}/Conv")
        node.attribute.extend(conv.attribute)
        turn = helper.make_node("Transpose", [f"{name}/nchw"], [name], name=f"{name}/Transpose")
        turn.attribute.extend(back.attribute)
        g.node.extend([node, turn])
    for name in grown_heads():
        g.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [None] * 4))
    out.metadata_props.add(key="posekit.grown", value=",".join(joints))  # an ungrown graph has none
    return out


def early_layers(proto: onnx.ModelProto, n: int) -> tuple[set[str], str]:
    """``--freeze-layers N``: the weight and bias names of the first ``n`` weight layers of ``proto`` (its
    Conv / ConvTranspose nodes with stored weights, in the graph's order, which ONNX keeps topological: the
    stem first), and the last one's weight name for the log. Frozen for the whole run, these early, generic
    layers cost no backward pass (it stops above them). PosekitError when that leaves no layer to train."""
    from posekit.train.onnx_torch import WEIGHT_OPS

    inits = {i.name for i in proto.graph.initializer}
    layers = [[i for i in node.input[1:3] if i in inits] for node in proto.graph.node
              if node.op_type in WEIGHT_OPS and len(node.input) > 1 and node.input[1] in inits]
    if not 0 <= n < len(layers):
        raise PosekitError(f"--freeze-layers {n}: the model has {len(layers)} weight layers; give 0 to "
                           f"{len(layers) - 1} so that some train")
    return {name for layer in layers[:n] for name in layer}, layers[n - 1][0] if n else ""


def frozen_outputs(proto: onnx.ModelProto, start: str, outputs: Sequence[str], n: int) -> list[str]:
    """``--cache-at frozen``: the tensors that the first ``n`` weight layers (`early_layers`) compute from
    ``start`` (where the float image enters) and that the rest of the graph up to ``outputs`` reads, sorted.
    Cached once per view, they stand in for the image: the graph from them on is the trained part, and the
    frozen layers' forward pass is not repeated each epoch. PosekitError when one is not a float feature
    map (it could not be cached as one)."""
    from posekit.convert.optimize import needed_nodes
    from posekit.train.onnx_torch import WEIGHT_OPS

    fixed, _ = early_layers(proto, n)
    inits = {i.name for i in proto.graph.initializer}
    nodes = needed_nodes(proto.graph, list(outputs), [start])
    # known: computed from ``start`` by frozen layers only; constant: from initializers alone (e.g. the
    # Unsqueeze-Concat that builds EfficientPose's ConvTranspose output shape), which the trained part
    # computes itself: a constant is no frozen output, and reading one does not take a node out.
    known, constant, inside = {start}, set(), set()
    for node in nodes:
        if all(not i or i in constant or (i in inits and node.op_type not in WEIGHT_OPS) for i in node.input):
            constant.update(node.output)
            continue
        weights = node.input[1:3] if node.op_type in WEIGHT_OPS else ()
        if all(not i or i in known or i in constant or (i in inits and (i not in weights or i in fixed))
               for i in node.input):
            known.update(node.output)
            inside.add(id(node))
    read = {i for node in nodes if id(node) not in inside
            for i in node.input if i in known and i not in inits}
    read |= {o for o in outputs if o in known}
    # One tensor in several layouts (MoveNet reads block_5's output through two Transposes, EfficientPose
    # blocks_8's as NHWC and through a Transpose): cache the source once, the trained part transposes it.
    producer = {o: node for node in nodes if id(node) in inside for o in node.output}
    moved = {}
    for name in read:
        node = producer.get(name)
        if node is not None and node.op_type == "Transpose" and node.input[0] in known:
            moved.setdefault(node.input[0], []).append(name)
    for source, names in moved.items():
        if source in read or len(names) > 1:
            read = (read - set(names)) | {source}
    typed = onnx.shape_inference.infer_shapes(proto).graph  # the converter's graphs carry no value_info
    types = {v.name: v.type.tensor_type.elem_type for v in list(typed.value_info) + list(typed.output)}
    for name in read:
        if types.get(name, onnx.TensorProto.FLOAT) != onnx.TensorProto.FLOAT:
            raise PosekitError(f"--cache-at frozen: the frozen layers' output {name!r} is not a float "
                               "tensor; use --cache-at image")
    return sorted(read)


def freeze_early_layers(module: nn.Module, proto: onnx.ModelProto, n: int, log) -> set[int]:
    """``--freeze-layers N`` on ``module`` (an `OnnxModule` of ``proto``, or of a part of it): its
    parameters among ``proto``'s first ``n`` weight layers (`early_layers`) stop requiring gradients, and the
    run's log says so; returns their ``id``s (the trainers leave them out of the optimizer)."""
    fixed, last = early_layers(proto, n)
    frozen = [p for name, p in zip(module.param_names, module.weights, strict=True) if name in fixed]
    for p in frozen:
        p.requires_grad_(False)
    if frozen:
        log(f"--freeze-layers {n}: the first {n} weight layers (to {last}) stay frozen for the whole run, "
            f"{sum(p.numel() for p in frozen):,} parameters")
    return {id(p) for p in frozen}


class PretrainedHeatmaps(nn.Module):
    """(B, 3, H, W) normalised RGB -> [heatmaps (B, K, h, w)] in the target schema's joint order."""

    def __init__(self, graph: nn.Module, channels: list[int]) -> None:
        super().__init__()
        self.graph = graph
        self.register_buffer("channels", torch.tensor(channels, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        nhwc = self.graph(x.permute(0, 2, 3, 1))[0]
        return [nhwc.permute(0, 3, 1, 2)[:, self.channels]]

    def backbone_parameters(self, prefix: str) -> list[nn.Parameter]:
        pairs = zip(self.graph.param_names, self.graph.weights, strict=True)
        return [p for n, p in pairs if n.startswith(prefix)]


@dataclass
class Pretrained:
    """A trainable model from ``init``: module, its spec, its source graph and identity (for checkpoints)."""

    spec: FineTuneSpec
    module: PretrainedHeatmaps
    proto: onnx.ModelProto
    identity: dict[str, Any]

    def backbone(self) -> list[nn.Parameter]:
        return self.module.backbone_parameters(self.spec.backbone)

    def head(self) -> list[nn.Parameter]:
        ids = {id(p) for p in self.backbone()}
        return [p for p in self.module.parameters() if id(p) not in ids]


def load_pretrained(init: str, target: Schema) -> Pretrained:
    """The trainable model for ``init`` (zoo name or fine-tuned .onnx) on data of schema ``target``."""
    from posekit.train.onnx_torch import OnnxModule

    spec, proto, digest = resolve_init(init)
    if spec.kind != "heatmap":
        raise PosekitError(f"--init {init}: {spec.base} trains its heads on cached trunk features only; "
                           "add --cache-features K (e.g. 4)")
    channels = channel_map(spec, target)
    module = PretrainedHeatmaps(OnnxModule(proto, [spec.heatmaps]), channels)
    identity = {"init": init, "base": spec.base, "sha256": digest, "schema": target.name,
                "channels": channels}
    return Pretrained(spec, module, proto, identity)
