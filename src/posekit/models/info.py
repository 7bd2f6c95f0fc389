"""Counting a model's parameters and FLOPs from its ONNX graph.

Parameters: the elements of the floating-point initializers. FLOPs: 2 x multiply-accumulates of Conv,
ConvTranspose, MatMul and Gemm (the convention of the EfficientPose and MobileNet papers, which count
multiply-adds); element-wise ops are not counted. Shapes come from one real onnxruntime run on a zero input,
so dynamic reshapes inside the graph are resolved exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

_COUNTED = ("Conv", "ConvTranspose", "MatMul", "Gemm")
_NP = {1: np.float32, 6: np.int32, 7: np.int64, 10: np.float16, 11: np.float64}


def _attr(node, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def _macs(node, shapes: dict[str, tuple[int, ...]]) -> int:
    if node.op_type == "Conv":
        w, out = shapes[node.input[1]], shapes[node.output[0]]
        return int(np.prod(out)) * int(np.prod(w[1:]))  # each output: Cin/group x kh x kw MACs
    if node.op_type == "ConvTranspose":
        w, inp = shapes[node.input[1]], shapes[node.input[0]]
        return int(np.prod(inp)) * int(np.prod(w[1:]))  # each input pixel scatters Cout/group x kh x kw
    a, out = shapes[node.input[0]], shapes[node.output[0]]
    k = a[-1] if node.op_type == "MatMul" or not _attr(node, "transA", 0) else a[-2]
    return int(np.prod(out)) * int(k)


def count_model(onnx_path: str | Path, input_hw: tuple[int, int] | None = None) -> dict[str, Any]:
    """{"params", "macs", "flops", "by_op": {op: flops}} for the model at ``onnx_path``.

    ``input_hw`` fills dynamic height/width dims of NHWC inputs (other dynamic dims become 1).
    """
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(onnx_path))
    graph = model.graph
    params = sum(int(np.prod(t.dims)) for t in graph.initializer if t.data_type in (1, 10, 11, 16))
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    wanted = {n for node in graph.node if node.op_type in _COUNTED for n in (*node.input, *node.output)}
    wanted -= set(shapes) | {o.name for o in graph.output} | {""}
    for name in sorted(wanted):
        graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    feeds = {}
    for inp in graph.input:
        dims = [d.dim_value if d.dim_value > 0 else 0 for d in inp.type.tensor_type.shape.dim]
        if input_hw and len(dims) == 4 and dims[1] == 0 and dims[2] == 0:
            dims[1], dims[2] = input_hw
        dtype = _NP.get(inp.type.tensor_type.elem_type, np.float32)
        feeds[inp.name] = np.zeros([d or 1 for d in dims], dtype)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    shapes.update({n: tuple(v.shape) for n, v in zip(names, sess.run(names, feeds), strict=True)})
    by_op: dict[str, int] = {}
    for node in graph.node:
        if node.op_type in _COUNTED:
            by_op[node.op_type] = by_op.get(node.op_type, 0) + 2 * _macs(node, shapes)
    flops = sum(by_op.values())
    return {"params": params, "macs": flops // 2, "flops": flops, "by_op": by_op}
