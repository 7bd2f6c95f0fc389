"""Image resampling and pixel shuffles: ResizeBilinear, ResizeNearestNeighbor, DepthToSpace, SpaceToDepth.

TF's ``align_corners`` / ``half_pixel_centers`` map to ONNX Resize ``coordinate_transformation_mode``
``align_corners`` / ``half_pixel`` / ``asymmetric`` (TF's legacy default), which define the same
source coordinate: ``in = out * (in_size - 1) / (out_size - 1)``, ``(out + 0.5) * in_size / out_size - 0.5``
and ``out * in_size / out_size``. The resize runs directly on the NHWC tensor (N and C keep their size).
"""

from __future__ import annotations

from collections.abc import Callable

from posekit.convert.builder import Builder
from posekit.convert.graph import Node
from posekit.errors import PosekitError


def _mode(node: Node) -> str:
    align, half = node.attr_bool("align_corners"), node.attr_bool("half_pixel_centers")
    if align and half:
        raise PosekitError(f"node {node.name} ({node.op}): align_corners and half_pixel_centers both set")
    return "align_corners" if align else "half_pixel" if half else "asymmetric"


def resize(b: Builder, node: Node) -> list[str]:
    """ResizeBilinear / ResizeNearestNeighbor(images (N,H,W,C), size [new_h, new_w] int32)."""
    x = b.tensor(node.inputs[0])
    in_shape = b.op("Shape", [x])
    n = b.op("Slice", [in_shape, b.ints([0]), b.ints([1])])
    c = b.op("Slice", [in_shape, b.ints([3]), b.ints([4])])
    sizes = b.op("Concat", [n, b.int64(node.inputs[1]), c], axis=0)
    attrs = {"coordinate_transformation_mode": _mode(node)}
    if node.op == "ResizeBilinear":
        attrs["mode"] = "linear"
    else:  # TF nearest: floor for asymmetric, round-half-up otherwise
        attrs["mode"] = "nearest"
        attrs["nearest_mode"] = "floor" if attrs["coordinate_transformation_mode"] == "asymmetric" \
            else "round_prefer_ceil"
    return [b.op("Resize", [x, "", "", sizes], name=node.name, **attrs)]


def depth_to_space(b: Builder, node: Node) -> list[str]:
    """DepthToSpace / SpaceToDepth; TF's channel order is ONNX's DCR order."""
    fmt = node.attr_str("data_format", "NHWC")
    if fmt not in ("NHWC", "NCHW"):
        raise PosekitError(f"node {node.name} ({node.op}): data_format {fmt} is not supported")
    attrs = {"blocksize": node.attr_int("block_size")}
    if node.op == "DepthToSpace":
        attrs["mode"] = "DCR"
    y = b.op(node.op, [b.to_nchw(b.tensor(node.inputs[0]), fmt)], **attrs)
    return [b.from_nchw(y, fmt, name=node.name)]


OPS: dict[str, Callable[[Builder, Node], list[str]]] = {
    "ResizeBilinear": resize,
    "ResizeNearestNeighbor": resize,
    "DepthToSpace": depth_to_space,
    "SpaceToDepth": depth_to_space,
}
