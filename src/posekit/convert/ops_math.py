"""Element-wise maths, comparisons, casts, reductions, ArgMax and TopKV2."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from onnx import TensorProto, numpy_helper

from posekit.convert.builder import Builder, onnx_type
from posekit.convert.graph import TF_DTYPES, Node
from posekit.errors import PosekitError

_UNARY = {
    "Abs": "Abs", "Exp": "Exp", "Sqrt": "Sqrt", "Relu": "Relu",
    "Reciprocal": "Reciprocal", "Neg": "Neg", "Floor": "Floor", "Ceil": "Ceil", "Log": "Log",
    "Tanh": "Tanh", "Elu": "Elu",
    "LogicalNot": "Not", "Identity": "Identity",
}
_BINARY = {
    "AddV2": "Add", "Add": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div",
    "Maximum": "Max", "Minimum": "Min", "Pow": "Pow", "Equal": "Equal", "Greater": "Greater",
    "GreaterEqual": "GreaterOrEqual", "Less": "Less", "LessEqual": "LessOrEqual", "LogicalAnd": "And",
    "LogicalOr": "Or",
}
# TF reduction op -> (ONNX op, axes given as input (True) or attribute (False) at opset 17)
_REDUCE = {
    "Max": ("ReduceMax", False), "Min": ("ReduceMin", False), "Mean": ("ReduceMean", False),
    "Prod": ("ReduceProd", False), "Sum": ("ReduceSum", True),
}


def _np_type(node: Node) -> type:
    return TF_DTYPES[node.attr_type("T") or "DT_FLOAT"]


def unary(b: Builder, node: Node) -> list[str]:
    return [b.op(_UNARY[node.op], [b.tensor(node.inputs[0])], name=node.name)]


def binary(b: Builder, node: Node) -> list[str]:
    x, y = node.inputs[:2]
    if node.op == "BiasAdd" and node.attr_str("data_format", "NHWC") == "NCHW":
        bias = b.op("Reshape", [b.tensor(y), b.const(np.array([-1, 1, 1], np.int64), "bias_chw")])
        return [b.op("Add", [b.tensor(x), bias], name=node.name)]
    return [b.op(_BINARY[node.op], [b.tensor(x), b.tensor(y)], name=node.name)]


def not_equal(b: Builder, node: Node) -> list[str]:
    eq = b.op("Equal", [b.tensor(node.inputs[0]), b.tensor(node.inputs[1])])
    return [b.op("Not", [eq], name=node.name)]


def sigmoid_exact(b: Builder, x: str, name: str | None) -> str:
    """``1 / (1 + exp(-x))`` as TF.js computes it. onnxruntime's Sigmoid kernel is a fast approximation
    whose tail is off in relative terms (sigmoid(-26) gives 0, not 4.7e-12), which matters for
    confidence outputs such as BlazePose's ``output_poseflag`` that sit deep in the tail."""
    denominator = b.op("Add", [b.op("Exp", [b.op("Neg", [x])]), b.const(np.float32(1), "one_f")])
    return b.op("Reciprocal", [denominator], name=name)


def sigmoid(b: Builder, node: Node) -> list[str]:
    return [sigmoid_exact(b, b.tensor(node.inputs[0]), node.name)]


def relu6(b: Builder, node: Node) -> list[str]:
    lo, hi = b.const(np.float32(0), "zero_f"), b.const(np.float32(6), "six_f")
    return [b.op("Clip", [b.tensor(node.inputs[0]), lo, hi], name=node.name)]


def leaky_relu(b: Builder, node: Node) -> list[str]:
    alpha = node.attr_float("alpha", 0.2)
    return [b.op("LeakyRelu", [b.tensor(node.inputs[0])], name=node.name, alpha=alpha)]


def rsqrt(b: Builder, node: Node) -> list[str]:
    return [b.op("Reciprocal", [b.op("Sqrt", [b.tensor(node.inputs[0])])], name=node.name)]


def square(b: Builder, node: Node) -> list[str]:
    x = b.tensor(node.inputs[0])
    return [b.op("Mul", [x, x], name=node.name)]


def squared_difference(b: Builder, node: Node) -> list[str]:
    d = b.op("Sub", [b.tensor(node.inputs[0]), b.tensor(node.inputs[1])])
    return [b.op("Mul", [d, d], name=node.name)]


def floor_div(b: Builder, node: Node) -> list[str]:
    """FloorDiv rounds toward -inf; ONNX integer Div truncates toward 0, so correct the mixed-sign case."""
    x, y = b.tensor(node.inputs[0]), b.tensor(node.inputs[1])
    dtype = _np_type(node)
    if np.dtype(dtype).kind == "f":
        return [b.op("Floor", [b.op("Div", [x, y])], name=node.name)]
    zero = b.const(np.zeros((), dtype), "zero")
    q = b.op("Div", [x, y])
    r = b.op("Sub", [x, b.op("Mul", [q, y])])
    signs_differ = b.op("Xor", [b.op("Less", [r, zero]), b.op("Less", [y, zero])])
    adjust = b.op("And", [b.op("Not", [b.op("Equal", [r, zero])]), signs_differ])
    return [b.op("Sub", [q, b.op("Cast", [adjust], to=onnx_type(node.attr_type("T") or "DT_INT32"))],
                 name=node.name)]


def floor_mod(b: Builder, node: Node) -> list[str]:
    """FloorMod: the remainder takes the divisor's sign (Python's %). ONNX integer Mod with fmod=0 is
    exactly that; for floats ONNX needs fmod=1 (C fmod), so compute ``x - floor(x / y) * y``."""
    x, y = b.tensor(node.inputs[0]), b.tensor(node.inputs[1])
    if np.dtype(_np_type(node)).kind in "iu":
        return [b.op("Mod", [x, y], name=node.name, fmod=0)]
    q = b.op("Floor", [b.op("Div", [x, y])])
    return [b.op("Sub", [x, b.op("Mul", [q, y])], name=node.name)]


def add_n(b: Builder, node: Node) -> list[str]:
    terms = [b.tensor(i) for i in node.inputs]
    if np.dtype(_np_type(node)).kind == "f":
        return [b.op("Sum", terms, name=node.name)]
    total = terms[0]
    for k, term in enumerate(terms[1:], start=1):
        total = b.op("Add", [total, term], name=node.name if k == len(terms) - 1 else None)
    return [total if len(terms) > 1 else b.op("Identity", [total], name=node.name)]


def cast(b: Builder, node: Node) -> list[str]:
    return [b.op("Cast", [b.tensor(node.inputs[0])], name=node.name, to=onnx_type(node.attr_type("DstT")))]


def select(b: Builder, node: Node) -> list[str]:
    """Select / SelectV2. TF ``Select`` also allows a vector condition that picks whole rows of x:
    reshape it to ``cond.shape + [1] * (rank(x) - rank(cond))`` so it broadcasts along dim 0."""
    cond, x, y = (b.tensor(i) for i in node.inputs[:3])
    if node.op == "Select":
        cond_shape = b.op("Shape", [cond])
        extra = b.op("Sub", [b.op("Size", [b.op("Shape", [x])]), b.op("Size", [cond_shape])])
        extra = b.op("Reshape", [extra, b.ints([1], "one_i64")])
        ones = b.op("ConstantOfShape", [extra], value=numpy_helper.from_array(np.array([1], np.int64)))
        cond = b.op("Reshape", [cond, b.op("Concat", [cond_shape, ones], axis=0)])
        # A no-op Reshape to x's shape keeps the output rank visible to ONNX shape inference.
        return [b.op("Reshape", [b.op("Where", [cond, x, y]), b.op("Shape", [x])], name=node.name)]
    return [b.op("Where", [cond, x, y], name=node.name)]


def reduce(b: Builder, node: Node) -> list[str]:
    onnx_op, axes_as_input = _REDUCE[node.op]
    axes = b.value(node.inputs[1])
    keep = int(node.attr_bool("keep_dims"))
    x = b.tensor(node.inputs[0])
    if axes is not None and axes.size == 0:  # TF reduces nothing; ONNX would reduce everything
        return [b.op("Identity", [x], name=node.name)]
    if axes_as_input:
        if axes is not None:  # TF allows a scalar; ONNX wants a vector
            axes_name = b.ints([int(v) for v in axes.reshape(-1)], "axes")
        else:
            axes_name = b.op("Reshape", [b.int64(node.inputs[1]), b.ints([-1], "minus_one")])
        return [b.op(onnx_op, [x, axes_name], name=node.name, keepdims=keep)]
    if axes is None:
        raise PosekitError(f"node {node.name} ({node.op}): reduction axes must be constant")
    return [b.op(onnx_op, [x], name=node.name, keepdims=keep, axes=[int(a) for a in axes.reshape(-1)])]


def arg_max(b: Builder, node: Node) -> list[str]:
    axis = b.value(node.inputs[1])
    if axis is None:
        raise PosekitError(f"node {node.name} ({node.op}): the axis must be constant")
    onnx_op = "ArgMax" if node.op == "ArgMax" else "ArgMin"
    idx = b.op(onnx_op, [b.tensor(node.inputs[0])], axis=int(axis), keepdims=0)  # first index on ties, as TF
    out_type = node.attr_type("output_type") or "DT_INT64"
    return [b.op("Cast", [idx], name=node.name, to=onnx_type(out_type))]


def top_k(b: Builder, node: Node) -> list[str]:
    """TopKV2 along the last axis: values (T) and indices (int32)."""
    k = b.op("Reshape", [b.int64(node.inputs[1]), b.const(np.array([1], np.int64), "one_i64")])
    values, indices = b.op("TopK", [b.tensor(node.inputs[0]), k], n_out=2, name=node.name, axis=-1,
                           largest=1, sorted=1)
    return [values, b.op("Cast", [indices], to=TensorProto.INT32)]


OPS: dict[str, Callable[[Builder, Node], list[str]]] = {
    **{op: unary for op in _UNARY},
    **{op: binary for op in _BINARY},
    **{op: reduce for op in _REDUCE},
    "NotEqual": not_equal,
    "Sigmoid": sigmoid,
    "Relu6": relu6,
    "LeakyRelu": leaky_relu,
    "Rsqrt": rsqrt,
    "Square": square,
    "SquaredDifference": squared_difference,
    "FloorDiv": floor_div,
    "FloorMod": floor_mod,
    "AddN": add_n,
    "Cast": cast,
    "Select": select,
    "SelectV2": select,
    "ArgMax": arg_max,
    "ArgMin": arg_max,
    "TopKV2": top_k,
}
