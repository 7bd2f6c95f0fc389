"""The ONNX graph under construction: nodes, initializers, and the TF tensor -> ONNX name map.

Op converters (``ops_*.py``) receive a ``Builder`` and one TF ``Node``; they read inputs with
``b.tensor(ref)`` (an ONNX value name) or ``b.value(ref)`` (the numpy array when the input is a Const),
emit ONNX nodes with ``b.op(...)`` and return one ONNX name per TF output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from posekit.convert.graph import TF_DTYPES, Node

ONNX_TYPES: dict[type, int] = {
    np.float32: TensorProto.FLOAT,
    np.int32: TensorProto.INT32,
    np.int64: TensorProto.INT64,
    np.bool_: TensorProto.BOOL,
    np.float16: TensorProto.FLOAT16,
    np.uint8: TensorProto.UINT8,
}

NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]


def onnx_type(tf_dtype: str) -> int:
    """ONNX elem type for a TF dtype enum name such as ``"DT_FLOAT"``."""
    return ONNX_TYPES[TF_DTYPES[tf_dtype]]


def tensor_key(ref: str) -> str:
    """Canonical TF tensor ref: ``"x"`` and ``"x:0"`` are the same tensor."""
    return ref[:-2] if ref.endswith(":0") else ref


class Builder:
    """Accumulates ONNX nodes/initializers while TF nodes are converted in topological order."""

    def __init__(self, weights: dict[str, NDArray[Any]]) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self.names: dict[str, str] = {}  # TF tensor key -> ONNX value name
        self._count = 0
        self._used: set[str] = set()
        self._small: dict[tuple[Any, ...], str] = {}  # dedupe tiny constants (0, 6, axes, ...)

    # -- names -------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self._count += 1
        name = f"{hint}__{self._count}"
        self._used.add(name)
        return name

    def claim(self, name: str) -> str:
        """``name`` if no value has it yet, else a fresh variant (ONNX value names must be unique)."""
        if name in self._used:
            name = self.fresh(name)
        self._used.add(name)
        return name

    def bind(self, node: Node, outputs: list[str]) -> None:
        """Record the ONNX names of ``node``'s TF outputs ``node:0, node:1, ...``."""
        for k, name in enumerate(outputs):
            self.names[node.name if k == 0 else f"{node.name}:{k}"] = name

    # -- inputs ------------------------------------------------------------------------------
    def value(self, ref: str) -> NDArray[Any] | None:
        """The constant value of a TF tensor (a Const weight), else None."""
        return self.weights.get(tensor_key(ref))

    def tensor(self, ref: str) -> str:
        """The ONNX value name of a TF tensor; a Const becomes an initializer on first use."""
        key = tensor_key(ref)
        if key in self.names:
            return self.names[key]
        if key in self.weights:
            self.names[key] = self.const(self.weights[key], key)
            return self.names[key]
        raise KeyError(key)

    def int64(self, ref: str) -> str:
        """A TF int32 tensor as ONNX int64 (shapes, axes, sizes): folded when constant, else Cast."""
        value = self.value(ref)
        if value is not None:
            return self.const(value.astype(np.int64), f"{tensor_key(ref)}_i64")
        return self.op("Cast", [self.tensor(ref)], to=TensorProto.INT64)

    def ints(self, values: list[int], hint: str = "ints") -> str:
        """An int64 1-D initializer (axes, starts, shapes)."""
        return self.const(np.array(values, np.int64), hint)

    def const(self, array: NDArray[Any] | float | int | list[Any], hint: str = "const") -> str:
        """Add an initializer holding ``array`` and return its name."""
        array = np.asarray(array)
        small = (array.dtype.str, array.shape, array.tobytes()) if array.size <= 16 else None
        if small is not None and small in self._small:
            return self._small[small]
        name = self.claim(hint)
        self.initializers[name] = numpy_helper.from_array(array, name)
        if small is not None:
            self._small[small] = name
        return name

    # -- nodes -------------------------------------------------------------------------------
    def op(self, op_type: str, inputs: list[str], n_out: int = 1, name: str | None = None,
           **attrs: Any) -> Any:
        """Emit one ONNX node; return its output name (or list of names when ``n_out > 1``)."""
        base = self.claim(name) if name else self.fresh(op_type)
        outputs = [base] if n_out == 1 else [f"{base}:{k}" for k in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=self.fresh(op_type), **attrs))
        return outputs[0] if n_out == 1 else outputs

    def transpose(self, x: str, perm: list[int]) -> str:
        return self.op("Transpose", [x], perm=perm)

    def to_nchw(self, x: str, data_format: str) -> str:
        """Layout adapter around conv-like ops: TF NHWC -> ONNX NCHW (no-op for NCHW graphs)."""
        return self.transpose(x, NHWC_TO_NCHW) if data_format == "NHWC" else x

    def from_nchw(self, y: str, data_format: str, name: str | None = None) -> str:
        if data_format == "NHWC":
            return self.op("Transpose", [y], name=name, perm=NCHW_TO_NHWC)
        return self.op("Identity", [y], name=name) if name else y
