"""``convert_tfjs``: a TF.js graph model (model.json + .bin) -> an ONNX model for onnxruntime.

Nodes are converted in topological order from the signature outputs (dead nodes are dropped), one
function per TF op family (``ops_*.py``). Graph inputs are the Placeholder nodes (named as in TF);
graph outputs follow ``signature.outputs`` order and are named by their signature keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
from onnx import helper

from posekit.atomic import write_atomic
from posekit.convert import ops_conv, ops_math, ops_resize, ops_shape, ops_slice
from posekit.convert.builder import Builder, onnx_type
from posekit.convert.graph import Node, TfjsGraph, load_tfjs
from posekit.convert.optimize import optimize
from posekit.errors import PosekitError

OPSET = 17  # every op used is fully supported by onnxruntime >= 1.14 at this opset
IR_VERSION = 8  # the IR version that goes with opset 17

OPS: dict[str, Callable[[Builder, Node], list[str]]] = {
    **ops_conv.OPS, **ops_math.OPS, **ops_shape.OPS, **ops_slice.OPS, **ops_resize.OPS,
}

InputShapes = dict[str, list[int | None]]


def convert_tfjs(model_json: Path, out: Path | None = None,
                 input_shapes: InputShapes | None = None, cut_inputs: InputShapes | None = None,
                 cut_outputs: list[str] | None = None) -> onnx.ModelProto:
    """Convert the TF.js graph model ``model_json`` to ONNX (opset 17, float32 weights).

    ``input_shapes`` maps a Placeholder name (``"input"``, ``"input:0"`` or the signature key) to a
    shape whose ``None`` entries stay dynamic, e.g. ``{"image": [1, None, None, 3]}`` lets a fully
    convolutional model run at any resolution. A part of the graph: ``cut_inputs`` maps inner node names to
    the shapes of float32 graph inputs that replace them (what feeds them is dropped), ``cut_outputs`` lists
    the node names whose first outputs become the graph outputs (named after them) instead of the
    signature's. The result passes ``onnx.checker``; with ``out`` it is also written there atomically.
    Raises PosekitError for an unreadable model, an unknown node name or an unsupported op.
    """
    graph = load_tfjs(Path(model_json))
    cut_inputs = cut_inputs or {}
    for name in [*cut_inputs, *(cut_outputs or [])]:
        if name not in graph.nodes:
            raise PosekitError(f"{graph.path}: no node named {name!r} to cut the graph at")
    outputs = ([(name, name, {}) for name in cut_outputs] if cut_outputs else _signature_outputs(graph))
    order = _topological(graph, [ref for _, ref, _ in outputs], stop=set(cut_inputs))
    b = Builder(graph.weights)
    placeholders = [n for n in order if n.op == "Placeholder" or n.name in cut_inputs]
    for reserved in [n.name for n in placeholders] + [key for key, _, _ in outputs]:
        b.claim(reserved)
    inputs = [helper.make_tensor_value_info(n.name, onnx.TensorProto.FLOAT, [
                  d if d is not None else f"{n.name}_d{i}" for i, d in enumerate(cut_inputs[n.name])])
              if n.name in cut_inputs else _graph_input(graph, n, input_shapes) for n in placeholders]
    for node in placeholders:
        b.names[node.name] = node.name
    _check_shape_keys(graph, placeholders, input_shapes)
    for node in order:
        if node.op in ("Const", "Placeholder") or node.name in cut_inputs:
            continue  # Consts become initializers when first used
        handler = OPS.get(node.op)
        if handler is None:
            raise PosekitError(f"{graph.path}: node {node.name} uses TF op {node.op}, which posekit.convert "
                               "does not support; add a converter for it in posekit/convert/ops_*.py")
        b.bind(node, handler(b, node))
    value_infos = []
    for key, ref, spec in outputs:
        b.nodes.append(helper.make_node("Identity", [b.tensor(ref)], [key], name=f"output:{key}"))
        value_infos.append(_value_info(key, spec, keep_shape=input_shapes is None and not cut_inputs))
    onnx_graph = helper.make_graph(b.nodes, graph.path.stem, inputs, value_infos,
                                   initializer=list(b.initializers.values()))
    model = helper.make_model(onnx_graph, producer_name="posekit.convert",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    _fill_output_shapes(model)
    optimize(model)
    helper.set_model_props(model, {
        "tfjs_signature": json.dumps(graph.signature),
        "source_sha256": graph.sha256,
        "source_file": graph.path.name,
        **{f"tfjs_{k}": v for k, v in graph.meta.items()},
    })
    onnx.checker.check_model(model)
    if out is not None:
        write_atomic(Path(out), model.SerializeToString())
    return model


def _fill_output_shapes(model: onnx.ModelProto) -> None:
    """Give outputs without a signature shape (or with overridden input shapes) an inferred shape."""
    missing = [o.name for o in model.graph.output
               if not o.type.tensor_type.HasField("shape") or not o.type.tensor_type.elem_type]
    if not missing:
        return
    inferred = {o.name: o for o in onnx.shape_inference.infer_shapes(model).graph.output}
    for out in model.graph.output:
        if out.name in missing and inferred[out.name].type.tensor_type.HasField("shape"):
            out.type.CopyFrom(inferred[out.name].type)


def _signature_outputs(graph: TfjsGraph) -> list[tuple[str, str, dict]]:
    """(ONNX output name = signature key, TF tensor ref, signature entry) in signature order."""
    sig = graph.signature.get("outputs") or {}
    if sig:
        return [(key, entry.get("name", key), entry) for key, entry in sig.items()]
    consumed = {ref.split(":")[0] for n in graph.nodes.values() for ref in n.inputs}
    sinks = [n for n in graph.nodes.values()
             if n.name not in consumed and n.op not in ("Const", "Placeholder")]
    if not sinks:
        raise PosekitError(f"{graph.path}: no signature outputs and no sink nodes; is this a graph model?")
    return [(n.name, n.name, {}) for n in sinks]


def _topological(graph: TfjsGraph, refs: list[str], stop: set[str] | None = None) -> list[Node]:
    """Nodes needed by ``refs``, every node after its inputs (iterative DFS, no recursion limit); the
    inputs of ``stop`` nodes are not followed."""
    stop = stop or set()
    order: list[Node] = []
    state: dict[str, int] = {}  # 1 = on stack, 2 = done
    for root in refs:
        stack = [(root.split(":")[0], False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                state[name] = 2
                order.append(graph.nodes[name])
                continue
            if state.get(name) == 2:
                continue
            if name not in graph.nodes:
                raise PosekitError(f"{graph.path}: tensor {name} is referenced but no node defines it")
            if state.get(name) == 1:
                raise PosekitError(f"{graph.path}: the graph has a cycle through {name} (control flow?)")
            state[name] = 1
            stack.append((name, True))
            if name not in stop:
                stack.extend((ref.split(":")[0], False) for ref in reversed(graph.nodes[name].inputs))
    return order


def _shape_override(graph: TfjsGraph, node: Node,
                    input_shapes: InputShapes | None) -> list[int | None] | None:
    if not input_shapes:
        return None
    sig = graph.signature.get("inputs") or {}
    aliases = _aliases(node) | {k for k, v in sig.items() if v.get("name") in _aliases(node)}
    for key, shape in input_shapes.items():
        if key in aliases:
            return list(shape)
    return None


def _aliases(node: Node) -> set[str]:
    return {node.name, f"{node.name}:0"}


def _check_shape_keys(graph: TfjsGraph, placeholders: list[Node], input_shapes: InputShapes | None) -> None:
    if not input_shapes:
        return
    sig = graph.signature.get("inputs") or {}
    known = set().union(*(_aliases(n) for n in placeholders)) | set(sig)
    for key in input_shapes:
        if key not in known:
            raise PosekitError(f"{graph.path}: input_shapes names {key!r}, which is not an input; "
                               f"inputs are {sorted(n.name for n in placeholders)}")


def _graph_input(graph: TfjsGraph, node: Node, input_shapes: InputShapes | None) -> onnx.ValueInfoProto:
    dims: list[int | None] | None = node.attr_shape("shape")
    if dims is None:
        for entry in (graph.signature.get("inputs") or {}).values():
            if entry.get("name") in _aliases(node):
                dims = [int(d.get("size", -1)) for d in entry.get("tensorShape", {}).get("dim", [])]
    override = _shape_override(graph, node, input_shapes)
    if override is not None:
        if dims is not None and len(dims) != len(override):
            raise PosekitError(f"{graph.path}: input_shapes for {node.name} has rank {len(override)}, "
                               f"the model expects rank {len(dims)} ({dims})")
        dims = override
    shape = None if dims is None else [d if d is not None and d >= 0 else f"{node.name}_d{i}"
                                       for i, d in enumerate(dims)]
    return helper.make_tensor_value_info(node.name, onnx_type(node.attr_type("dtype") or "DT_FLOAT"), shape)


def _value_info(key: str, spec: dict, keep_shape: bool) -> onnx.ValueInfoProto:
    dims = spec.get("tensorShape", {}).get("dim")
    shape = None
    if dims is not None:
        # Without keep_shape (inputs resized), keep the rank but make every dim symbolic.
        shape = [int(d.get("size", -1)) if keep_shape and int(d.get("size", -1)) >= 0 else f"{key}_d{i}"
                 for i, d in enumerate(dims)]
    elem = onnx_type(spec["dtype"]) if "dtype" in spec else onnx.TensorProto.UNDEFINED  # then inferred
    return helper.make_tensor_value_info(key, elem, shape)
