"""Shape and data-movement ops: Shape, Size, Reshape, (Un)Squeeze, Pack/Unpack, Concat, Split, SplitV,
Tile, Fill, Range, Pad, GatherNd, GatherV2, SparseToDense, Transpose.

TF uses int32 for shapes and indices; ONNX wants int64 there, so inputs go through ``Builder.int64``
and ONNX int64 results (Shape, Size) are cast back to the TF ``out_type``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from posekit.convert.builder import Builder, onnx_type
from posekit.convert.graph import Node
from posekit.errors import PosekitError


def _const_axis(b: Builder, node: Node, ref: str) -> int:
    axis = b.value(ref)
    if axis is None:
        raise PosekitError(f"node {node.name} ({node.op}): the axis must be constant")
    return int(axis.reshape(-1)[0])


def shape(b: Builder, node: Node) -> list[str]:
    out = b.op("Shape", [b.tensor(node.inputs[0])])
    return [b.op("Cast", [out], name=node.name, to=onnx_type(node.attr_type("out_type") or "DT_INT32"))]


def size(b: Builder, node: Node) -> list[str]:
    out = b.op("Size", [b.tensor(node.inputs[0])])
    return [b.op("Cast", [out], name=node.name, to=onnx_type(node.attr_type("out_type") or "DT_INT32"))]


def reshape(b: Builder, node: Node) -> list[str]:
    # allowzero=1: a literal 0 in a TF shape means size 0, not "copy this dim" as in ONNX.
    return [b.op("Reshape", [b.tensor(node.inputs[0]), b.int64(node.inputs[1])], name=node.name, allowzero=1)]


def squeeze(b: Builder, node: Node) -> list[str]:
    dims = node.attr_ints("squeeze_dims") or node.attr_ints("axis")
    inputs = [b.tensor(node.inputs[0])]
    if dims:  # empty = squeeze every size-1 dim, as ONNX Squeeze without axes
        inputs.append(b.const(np.array(dims, np.int64), "axes"))
    return [b.op("Squeeze", inputs, name=node.name)]


def expand_dims(b: Builder, node: Node) -> list[str]:
    # TF: a negative dim counts from the end of the *output*, which is ONNX Unsqueeze's convention.
    axis = b.const(np.array([_const_axis(b, node, node.inputs[1])], np.int64), "axes")
    return [b.op("Unsqueeze", [b.tensor(node.inputs[0]), axis], name=node.name)]


def pack(b: Builder, node: Node) -> list[str]:
    axis = node.attr_int("axis")
    axes = b.const(np.array([axis], np.int64), "axes")
    parts = [b.op("Unsqueeze", [b.tensor(i), axes]) for i in node.inputs]
    return [b.op("Concat", parts, name=node.name, axis=axis)]


def unpack(b: Builder, node: Node) -> list[str]:
    axis, num = node.attr_int("axis"), node.attr_int("num")
    axes = b.const(np.array([axis], np.int64), "axes")
    x = b.tensor(node.inputs[0])
    parts = [x] if num == 1 else b.op("Split", [x], n_out=num, axis=axis)
    return [b.op("Squeeze", [p, axes], name=f"{node.name}:{k}" if k else node.name)
            for k, p in enumerate(parts)]


def concat(b: Builder, node: Node) -> list[str]:
    axis = _const_axis(b, node, node.inputs[-1])
    return [b.op("Concat", [b.tensor(i) for i in node.inputs[:-1]], name=node.name, axis=axis)]


def split(b: Builder, node: Node) -> list[str]:
    """Split(split_dim, value) into ``num_split`` equal parts."""
    axis, num = _const_axis(b, node, node.inputs[0]), node.attr_int("num_split")
    x = b.tensor(node.inputs[1])
    if num == 1:
        return [b.op("Identity", [x], name=node.name)]
    return b.op("Split", [x], n_out=num, name=node.name, axis=axis)


def split_v(b: Builder, node: Node) -> list[str]:
    """SplitV(value, size_splits, split_dim): parts of the given sizes, one of which may be -1 (the rest).

    Emitted as one Slice per part. Parts after a -1 are addressed from the end of the axis, so the axis
    length need not be known when converting."""
    sizes, axis = b.value(node.inputs[1]), _const_axis(b, node, node.inputs[2])
    if sizes is None:
        raise PosekitError(f"node {node.name} (SplitV): size_splits must be constant")
    sizes = [int(v) for v in sizes.reshape(-1)]
    if sizes.count(-1) > 1:
        raise PosekitError(f"node {node.name} (SplitV): more than one size is -1 ({sizes})")
    rest = sizes.index(-1) if -1 in sizes else len(sizes)
    end = np.iinfo(np.int64).max
    bounds = []
    for k in range(len(sizes)):
        after = sum(sizes[k + 1:])
        start = sum(sizes[:k]) if k <= rest else -(after + sizes[k])
        stop = start + sizes[k] if k < rest else (-after if after else end)
        bounds.append((start, stop))
    x = b.tensor(node.inputs[0])
    axes = b.ints([axis], "axes")
    return [b.op("Slice", [x, b.ints([lo], "starts"), b.ints([hi], "ends"), axes],
                 name=f"{node.name}:{k}" if k else node.name)
            for k, (lo, hi) in enumerate(bounds)]


def sparse_to_dense(b: Builder, node: Node) -> list[str]:
    """SparseToDense(indices, output_shape, values, default): ``default`` broadcast to ``output_shape``,
    then ``values`` scattered at ``indices`` (a scalar, (n,) or (n, rank); values scalar or (n,))."""
    indices, shape_ref, values, default = node.inputs[:4]
    dense = b.op("Expand", [b.tensor(default), b.int64(shape_ref)])
    # indices -> (n, rank): a scalar or a vector addresses the first (only) axis of a 1-D output.
    rank = b.op("Reshape", [b.op("Size", [b.int64(shape_ref)]), b.ints([1], "one_i64")])
    idx = b.op("Reshape", [b.int64(indices), b.op("Concat", [b.ints([-1], "minus_one"), rank], axis=0)])
    n = b.op("Slice", [b.op("Shape", [idx]), b.ints([0], "zero_i64"), b.ints([1], "one_i64")])
    vals = b.op("Expand", [b.op("Reshape", [b.tensor(values), b.ints([-1], "minus_one")]), n])
    return [b.op("ScatterND", [dense, idx, vals], name=node.name)]


def tile(b: Builder, node: Node) -> list[str]:
    return [b.op("Tile", [b.tensor(node.inputs[0]), b.int64(node.inputs[1])], name=node.name)]


def fill(b: Builder, node: Node) -> list[str]:
    """Fill(dims, value): broadcast the scalar ``value`` to shape ``dims``."""
    return [b.op("Expand", [b.tensor(node.inputs[1]), b.int64(node.inputs[0])], name=node.name)]


def range_(b: Builder, node: Node) -> list[str]:
    return [b.op("Range", [b.tensor(i) for i in node.inputs[:3]], name=node.name)]


def pad(b: Builder, node: Node) -> list[str]:
    """Pad / PadV2 / MirrorPad: TF paddings (rank, 2) -> ONNX pads [begin..., end...]."""
    paddings = b.value(node.inputs[1])
    if paddings is not None:
        pads = b.const(paddings.astype(np.int64).T.reshape(-1), f"{node.name}_pads")
    else:
        flat = b.op("Transpose", [b.int64(node.inputs[1])], perm=[1, 0])
        pads = b.op("Reshape", [flat, b.const(np.array([-1], np.int64), "minus_one")])
    inputs = [b.tensor(node.inputs[0]), pads]
    mode = "constant"
    if node.op == "PadV2":
        inputs.append(b.tensor(node.inputs[2]))
    elif node.op == "MirrorPad":
        mode = {"REFLECT": "reflect", "SYMMETRIC": ""}.get(node.attr_str("mode"), "")
        if not mode:
            raise PosekitError(f"node {node.name} (MirrorPad): mode {node.attr_str('mode')} is not supported")
    return [b.op("Pad", inputs, name=node.name, mode=mode)]


def gather_nd(b: Builder, node: Node) -> list[str]:
    return [b.op("GatherND", [b.tensor(node.inputs[0]), b.int64(node.inputs[1])], name=node.name)]


def gather_v2(b: Builder, node: Node) -> list[str]:
    if node.attr_int("batch_dims"):
        raise PosekitError(f"node {node.name} (GatherV2): batch_dims is not supported")
    axis = _const_axis(b, node, node.inputs[2])
    return [b.op("Gather", [b.tensor(node.inputs[0]), b.int64(node.inputs[1])], name=node.name, axis=axis)]


def transpose(b: Builder, node: Node) -> list[str]:
    perm = b.value(node.inputs[1])
    if perm is None:
        raise PosekitError(f"node {node.name} (Transpose): the permutation must be constant")
    return [b.op("Transpose", [b.tensor(node.inputs[0])], name=node.name, perm=[int(p) for p in perm])]


OPS: dict[str, Callable[[Builder, Node], list[str]]] = {
    "Shape": shape,
    "Size": size,
    "Reshape": reshape,
    "Squeeze": squeeze,
    "ExpandDims": expand_dims,
    "Pack": pack,
    "Unpack": unpack,
    "ConcatV2": concat,
    "Split": split,
    "SplitV": split_v,
    "Tile": tile,
    "Fill": fill,
    "Range": range_,
    "Pad": pad,
    "PadV2": pad,
    "MirrorPad": pad,
    "GatherNd": gather_nd,
    "GatherV2": gather_v2,
    "SparseToDense": sparse_to_dense,
    "Transpose": transpose,
}
