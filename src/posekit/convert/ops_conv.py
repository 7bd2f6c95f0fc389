"""Convolutions and pooling: Conv2D, _FusedConv2D, (Fused)DepthwiseConv2dNative, Conv2DBackpropInput, MaxPool.

TF works in NHWC with HWIO filters; ONNX Conv is NCHW with OIHW filters. Each conv is wrapped in a
Transpose pair; onnxruntime's transpose optimizer cancels the back-to-back pairs between convs.
TF padding "SAME" puts the odd pixel at the end, which is ONNX ``auto_pad=SAME_UPPER``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from posekit.convert.builder import Builder
from posekit.convert.graph import Node
from posekit.convert.ops_math import sigmoid_exact
from posekit.errors import PosekitError


def _spatial(node: Node, key: str, fmt: str) -> list[int]:
    values = node.attr_ints(key, (1, 1, 1, 1))
    return values[1:3] if fmt == "NHWC" else values[2:4]


def _padding(node: Node, fmt: str, kernel: tuple[int, ...] | None = None) -> dict[str, Any]:
    """ONNX padding attrs for a TF padding attr (SAME / VALID / EXPLICIT); ``kernel`` = (kh, kw)."""
    padding = node.attr_str("padding", "VALID")
    dilations = _spatial(node, "dilations", fmt)
    if padding == "SAME" and dilations != [1, 1]:
        # onnxruntime rejects auto_pad with dilation; with stride 1 the SAME pads are static.
        if _spatial(node, "strides", fmt) != [1, 1] or kernel is None:
            raise PosekitError(f"node {node.name} ({node.op}): SAME padding with dilation > 1 needs stride 1 "
                               "and a constant filter")
        total = [(k - 1) * d for k, d in zip(kernel, dilations, strict=True)]
        return {"pads": [total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2]}
    if padding == "SAME":
        return {"auto_pad": "SAME_UPPER"}
    if padding == "VALID":
        return {"auto_pad": "VALID"}
    if padding == "EXPLICIT":
        flat = node.attr_ints("explicit_paddings")
        pairs = [flat[2 * i: 2 * i + 2] for i in range(4)]
        hw = pairs[1:3] if fmt == "NHWC" else pairs[2:4]
        return {"pads": [hw[0][0], hw[1][0], hw[0][1], hw[1][1]]}
    raise PosekitError(f"node {node.name} ({node.op}): unsupported padding {padding!r}")


def _activation(b: Builder, y: str, act: str, node: Node, alpha_ref: str | None) -> str:
    """Apply a fused activation (NHWC tensor in, NHWC out); the last op is named after ``node``."""
    name = node.name
    if act == "Relu":
        return b.op("Relu", [y], name=name)
    if act == "Relu6":
        return b.op("Clip", [y, b.const(np.float32(0), "zero_f"), b.const(np.float32(6), "six_f")], name=name)
    if act == "Elu":
        return b.op("Elu", [y], name=name)
    if act == "Sigmoid":
        return sigmoid_exact(b, y, name)
    if act == "Tanh":
        return b.op("Tanh", [y], name=name)
    if act == "LeakyRelu":
        return b.op("LeakyRelu", [y], name=name, alpha=node.attr_float("leakyrelu_alpha", 0.2))
    if act == "Prelu" and alpha_ref is not None:
        return b.op("PRelu", [y, b.tensor(alpha_ref)], name=name)
    raise PosekitError(f"node {node.name} ({node.op}): unsupported fused activation {act!r}")


def _fused_args(b: Builder, node: Node,
                w: np.ndarray | None) -> tuple[np.ndarray | None, str | None, str, str | None]:
    """Read fused_ops: returns (folded OIHW weight or None, bias name, activation, prelu alpha ref)."""
    ops = node.attr_strs("fused_ops")
    args = list(node.inputs[2:])
    bias: str | None = None
    if not ops:
        return w, None, "", None
    if ops[0] == "BiasAdd":
        bias = b.tensor(args[0])
        rest = args[1:]
    elif ops[0] == "FusedBatchNorm":
        values = [b.value(a) for a in args[:4]]
        if w is None or any(v is None for v in values):
            raise PosekitError(f"node {node.name} ({node.op}): FusedBatchNorm needs constant weights/stats")
        scale, offset, mean, var = (v.astype(np.float32) for v in values)
        factor = scale / np.sqrt(var + np.float32(node.attr_float("epsilon", 1e-3)))
        w = w * factor.reshape(-1, 1, 1, 1)
        bias = b.const((offset - mean * factor).astype(np.float32), f"{node.name}_bias")
        rest = args[4:]
    else:
        raise PosekitError(f"node {node.name} ({node.op}): unsupported fused op {ops[0]!r}")
    act = ops[1] if len(ops) > 1 else ""
    return w, bias, act, (rest[0] if rest else None)


def _conv(b: Builder, node: Node, depthwise: bool) -> list[str]:
    fmt = node.attr_str("data_format", "NHWC")
    filt = b.value(node.inputs[1])
    if filt is None and depthwise:
        raise PosekitError(f"node {node.name} ({node.op}): depthwise filter must be a constant")
    kernel = tuple(filt.shape[:2]) if filt is not None else None
    attrs: dict[str, Any] = {
        "strides": _spatial(node, "strides", fmt),
        "dilations": _spatial(node, "dilations", fmt),
        **_padding(node, fmt, kernel),
    }
    w: np.ndarray | None = None
    if filt is not None:
        kh, kw, cin, mult = filt.shape
        if depthwise:  # (H, W, C, M) -> (C*M, 1, H, W); output channel c*M + m as in TF
            w = filt.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None].astype(np.float32)
            attrs["group"] = cin
        else:  # HWIO -> OIHW
            w = filt.transpose(3, 2, 0, 1).astype(np.float32)
    w, bias, act, alpha = _fused_args(b, node, w)
    if w is not None:
        w_name = b.const(np.ascontiguousarray(w), f"{node.name}_w")
    else:
        w_name = b.transpose(b.tensor(node.inputs[1]), [3, 2, 0, 1])
    inputs = [b.to_nchw(b.tensor(node.inputs[0]), fmt), w_name] + ([bias] if bias else [])
    y = b.op("Conv", inputs, **attrs)
    if not act:
        return [b.from_nchw(y, fmt, name=node.name)]
    return [_activation(b, b.from_nchw(y, fmt), act, node, alpha)]


def conv2d(b: Builder, node: Node) -> list[str]:
    """Conv2D / _FusedConv2D (fused BiasAdd or FusedBatchNorm, then an optional activation)."""
    return _conv(b, node, depthwise=False)


def depthwise(b: Builder, node: Node) -> list[str]:
    """DepthwiseConv2dNative / FusedDepthwiseConv2dNative: grouped ONNX Conv with group = in channels."""
    return _conv(b, node, depthwise=True)


def conv2d_backprop_input(b: Builder, node: Node) -> list[str]:
    """Conv2DBackpropInput (transposed conv) with TF's output size ``input_sizes``.

    Computes the full ONNX ConvTranspose (no padding, ``output_padding = stride - 1``) and crops
    ``[pad_before, pad_before + out)`` per spatial axis, where ``pad_before`` is the leading pad of the
    forward conv that maps the TF output back to the input. This matches TF for any output size.
    """
    fmt = node.attr_str("data_format", "NHWC")
    filt = b.value(node.inputs[1])
    if filt is None:
        raise PosekitError(f"node {node.name} ({node.op}): transposed-conv filter must be a constant")
    strides = _spatial(node, "strides", fmt)
    dilations = _spatial(node, "dilations", fmt)
    padding = node.attr_str("padding", "VALID")
    dk = [(k - 1) * d + 1 for k, d in zip(filt.shape[:2], dilations, strict=True)]
    w = b.const(np.ascontiguousarray(filt.transpose(3, 2, 0, 1).astype(np.float32)), f"{node.name}_w")
    x = b.to_nchw(b.tensor(node.inputs[2]), fmt)
    full = b.op("ConvTranspose", [x, w], strides=strides, dilations=dilations,
                output_padding=[s - 1 for s in strides])
    hw_index = [1, 2] if fmt == "NHWC" else [2, 3]
    sizes = b.value(node.inputs[0])
    if sizes is not None:
        out = sizes.astype(np.int64)[hw_index]
        starts = _pad_before_static(out, strides, dk, padding, node)
        start_name, end_name = b.const(starts, "starts"), b.const(starts + out, "ends")
    else:
        out = b.op("Gather", [b.int64(node.inputs[0]), b.const(np.array(hw_index, np.int64))], axis=0)
        start_name = _pad_before_dynamic(b, out, strides, dk, padding, node)
        end_name = b.op("Add", [start_name, out])
    y = b.op("Slice", [full, start_name, end_name, b.const(np.array([2, 3], np.int64), "axes_hw")])
    return [b.from_nchw(y, fmt, name=node.name)]


def _pad_before_static(out: np.ndarray, strides: list[int], dk: list[int], padding: str,
                       node: Node) -> np.ndarray:
    s = np.array(strides, np.int64)
    if padding == "VALID":
        return np.zeros(2, np.int64)
    if padding == "SAME":
        total = np.maximum(((out + s - 1) // s - 1) * s + np.array(dk) - out, 0)
        return (total // 2).astype(np.int64)
    if padding == "EXPLICIT":
        flat = node.attr_ints("explicit_paddings")
        return np.array([flat[2], flat[4]] if node.attr_str("data_format", "NHWC") == "NHWC"
                        else [flat[4], flat[6]], np.int64)
    raise PosekitError(f"node {node.name} ({node.op}): unsupported padding {padding!r}")


def _pad_before_dynamic(b: Builder, out: str, strides: list[int], dk: list[int], padding: str,
                        node: Node) -> str:
    if padding != "SAME":
        return b.const(_pad_before_static(np.zeros(2, np.int64), strides, dk, padding, node), "starts")
    # total = max((ceil(out / s) - 1) * s + dk - out, 0); pad_before = total // 2
    s, one = b.ints(strides, "strides"), b.ints([1, 1], "ones2")
    ceil = b.op("Div", [b.op("Add", [out, b.op("Sub", [s, one])]), s])
    span = b.op("Add", [b.op("Mul", [b.op("Sub", [ceil, one]), s]), b.ints(dk, "dk")])
    total = b.op("Max", [b.op("Sub", [span, out]), b.ints([0, 0], "zeros2")])
    return b.op("Div", [total, b.ints([2, 2], "twos2")])


def _pool(b: Builder, node: Node, onnx_op: str) -> list[str]:
    fmt = node.attr_str("data_format", "NHWC")
    attrs: dict[str, Any] = {
        "kernel_shape": _spatial(node, "ksize", fmt),
        "strides": _spatial(node, "strides", fmt),
        **_padding(node, fmt),
    }
    if onnx_op == "AveragePool":
        attrs["count_include_pad"] = 0  # TF averages over the valid pixels only
    y = b.op(onnx_op, [b.to_nchw(b.tensor(node.inputs[0]), fmt)], **attrs)
    return [b.from_nchw(y, fmt, name=node.name)]


def max_pool(b: Builder, node: Node) -> list[str]:
    """MaxPool: TF pads SAME with -inf, as ONNX MaxPool does."""
    return _pool(b, node, "MaxPool")


def avg_pool(b: Builder, node: Node) -> list[str]:
    return _pool(b, node, "AveragePool")


OPS = {
    "Conv2D": conv2d,
    "_FusedConv2D": conv2d,
    "DepthwiseConv2dNative": depthwise,
    "FusedDepthwiseConv2dNative": depthwise,
    "Conv2DBackpropInput": conv2d_backprop_input,
    "MaxPool": max_pool,
    "AvgPool": avg_pool,
}
