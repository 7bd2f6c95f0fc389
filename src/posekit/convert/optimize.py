"""Exact graph rewrites applied after conversion, for onnxruntime's CPU kernels.

``widen_channel_constants``: TF graphs normalise NHWC images with a per-channel constant, e.g.
``(x - mean[1, 1, 1, 3]) * scale[1, 1, 1, 3]``. onnxruntime broadcasts such a constant one 3-value run at a
time, which costs more than a 1x1 convolution on the same tensor (0.5 ms for a 192x192 image on one core).
Repeating the constant along the width, ``[1, 1, W, 3]``, turns that into runs of ``W * 3`` values; the
result is bit-identical.

``transpose_before_channel_ops``: those normalisations sit between the graph input and the NHWC -> NCHW
Transpose in front of the first convolution. Moving the Transpose up to the input (the constants become
``[1, C, 1, 1]``) makes every broadcast a run of ``H * W`` values whatever the image size, which widening
cannot do for graphs whose width is free (MoveNet MultiPose: the normalisation took 1.5 ms of a 256 x 256
frame). Elementwise operations commute with a transposition, so this is exact too.

``fold_zero_pads`` (run on derived graphs, ``fast_graph``): an explicit zero ``Pad`` of the spatial axes
in front of convolutions, with only layout Transposes between, becomes the convolutions' own ``pads``.

Also for derived graphs, on request: ``constant_resize_scales`` (a ``Resize`` whose ``sizes`` the graph
computes from its input's shape gets the same constant ``scales``, which onnxruntime runs in its blocked NCHWc
layout), then ``pointwise_before_resize`` (a 1x1 convolution after such a Resize moved before it),
``output_logits`` (a graph output read before its sigmoid, for callers that need a few of its values) and
``uint8_image_input`` (the float image input becomes uint8, its normalisation done in the graph).

``space_to_depth_convs`` (run on the graph the int8 quantizer reads, ``posekit.convert.quantize``): a
stride-2 convolution over the 3 RGB channels becomes a 2x2 ``SpaceToDepth`` and a stride-1 convolution over
12 channels. onnxruntime's fast int8 convolution kernels need a multiple of 4 input channels; over 3 the
stem ran a generic path at twice the time of its fp32 form.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

ELEMENTWISE = ("Add", "Sub", "Mul", "Div")


def value_shapes(graph: onnx.GraphProto) -> dict[str, list[int | None]]:
    """The shapes ``graph`` records for its inputs, inner values and outputs (None for a free dimension)."""
    infos = [*graph.value_info, *graph.input, *graph.output]
    return {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
            for v in infos if v.type.HasField("tensor_type")}


def needed_nodes(graph: onnx.GraphProto, outputs: list[str], inputs: list[str] | None = None
                 ) -> list[onnx.NodeProto]:
    """The nodes of ``graph`` that compute ``outputs`` from ``inputs`` (fed tensors, default the graph's
    inputs: inner tensors cut the graph there) and its initializers, in graph order. A tensor on the way
    that is neither computed, fed nor an initializer raises PosekitError naming it."""
    from posekit.errors import PosekitError

    fed = set(inputs if inputs is not None else (i.name for i in graph.input))
    producers = {o: n for n in graph.node for o in n.output}
    inits = {i.name for i in graph.initializer}
    needed: set[int] = set()
    stack = list(outputs)
    while stack:
        name = stack.pop()
        node = producers.get(name)
        if name in fed or node is None:
            if node is None and name and name not in fed and name not in inits:
                raise PosekitError(f"{name!r}: no such tensor in the graph {graph.name or '(unnamed)'}")
            continue
        if id(node) not in needed:
            needed.add(id(node))
            stack.extend(i for i in node.input if i)
    return [n for n in graph.node if id(n) in needed]


def _static_shapes(model: onnx.ModelProto) -> dict[str, list[int | None]]:
    return value_shapes(onnx.shape_inference.infer_shapes(model).graph)


def widen_channel_constants(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place (see the module docstring); returns how many constants were widened."""
    shapes = _static_shapes(model)
    inits = {t.name: t for t in model.graph.initializer}
    widened: dict[tuple[str, int], str] = {}
    count = 0
    for node in model.graph.node:
        if node.op_type not in ELEMENTWISE or len(node.input) != 2:
            continue
        for k in (0, 1):
            const, other = node.input[k], node.input[1 - k]
            if const not in inits or other not in shapes:
                continue
            value = numpy_helper.to_array(inits[const])
            shape = shapes[other]
            if value.ndim != 4 or value.shape[:3] != (1, 1, 1) or value.shape[3] < 2 or len(shape) != 4:
                continue
            width = shape[2]
            if not width or width < 2 or shape[3] != value.shape[3]:
                continue
            key = (const, width)
            if key not in widened:
                wide = np.ascontiguousarray(np.broadcast_to(value, (1, 1, width, value.shape[3])))
                widened[key] = f"{const}/wide{width}"
                model.graph.initializer.append(numpy_helper.from_array(wide, widened[key]))
            node.input[k] = widened[key]
            count += 1
    used = {name for n in model.graph.node for name in n.input} | {o.name for o in model.graph.output}
    replaced = {const for const, _ in widened}
    keep = [t for t in model.graph.initializer if t.name in used or t.name not in replaced]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    return count


def _channel_constant(value: np.ndarray) -> np.ndarray | None:
    """A constant that broadcasts per channel (or not at all) against an NHWC tensor, in NCHW form; None for
    anything else."""
    if value.size == 1:
        return value.reshape(value.shape)  # scalars broadcast the same either way
    if value.ndim in (1, 4) and value.shape[:-1] == (1,) * (value.ndim - 1):
        return value.reshape(1, -1, 1, 1)
    return None


def transpose_before_channel_ops(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place (see the module docstring); returns how many operations were moved."""
    inits = {t.name: t for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers: dict[str, int] = {}
    for n in model.graph.node:
        for name in n.input:
            consumers[name] = consumers.get(name, 0) + 1
    for o in model.graph.output:
        consumers[o.name] = consumers.get(o.name, 0) + 1
    moved = 0
    for transpose in [n for n in model.graph.node if n.op_type == "Transpose"]:
        perm = next((list(a.ints) for a in transpose.attribute if a.name == "perm"), None)
        if perm != [0, 3, 1, 2]:
            continue
        chain: list[tuple[onnx.NodeProto, int | None, np.ndarray | None]] = []  # (node, const slot, NCHW)
        current = transpose.input[0]
        while current in producer and consumers.get(current) == 1:
            node = producer[current]
            if node.op_type == "Cast":
                chain.append((node, None, None))
                current = node.input[0]
                continue
            if node.op_type not in ELEMENTWISE or len(node.input) != 2:
                break
            slots = [k for k in (0, 1) if node.input[k] in inits]
            if len(slots) != 1:
                break
            nchw = _channel_constant(numpy_helper.to_array(inits[node.input[slots[0]]]))
            if nchw is None:
                break
            chain.append((node, slots[0], nchw))
            current = node.input[1 - slots[0]]
        if not any(slot is not None for _, slot, _ in chain):
            continue
        first = chain[-1][0]  # the chain's op nearest the input
        source = current
        moved_name = f"{transpose.name}/moved"
        for node, slot, nchw in chain:
            if slot is not None and nchw.ndim == 4:
                const = f"{node.input[slot]}/nchw"
                if const not in inits:
                    inits[const] = numpy_helper.from_array(nchw.astype(numpy_helper.to_array(
                        inits[node.input[slot]]).dtype), const)
                    model.graph.initializer.append(inits[const])
                node.input[slot] = const
        data_slot = 0 if first.op_type == "Cast" or chain[-1][1] == 1 else 1
        first.input[data_slot] = moved_name
        new = onnx.helper.make_node("Transpose", [source], [moved_name], name=f"{transpose.name}/early",
                                    perm=[0, 3, 1, 2])
        nodes = list(model.graph.node)
        at = nodes.index(first)
        out, last = transpose.output[0], transpose.input[0]
        nodes.remove(transpose)
        nodes.insert(at, new)
        for n in nodes:  # the Transpose's consumers now read the chain's (already NCHW) output
            for k, name in enumerate(n.input):
                if name == out:
                    n.input[k] = last
        for o in model.graph.output:
            if o.name == out:  # keep the graph output's name: an Identity from the chain's output
                nodes.append(onnx.helper.make_node("Identity", [last], [out], name=f"{transpose.name}/out"))
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        stale = {n.output[0] for n, _, _ in chain} | {out}
        infos = [v for v in model.graph.value_info if v.name not in stale]
        del model.graph.value_info[:]
        model.graph.value_info.extend(infos)
        moved += len(chain)
        producer = {o: n for n in model.graph.node for o in n.output}
    used = {name for n in model.graph.node for name in n.input}
    keep = [t for t in model.graph.initializer if t.name in used or f"{t.name}/nchw" not in inits]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    return moved


def optimize(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every rewrite of this module, in place; returns ``model``."""
    transpose_before_channel_ops(model)
    widen_channel_constants(model)
    return model


def _attr(node: onnx.NodeProto, name: str, default=None):
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _pad_readers(name: str, readers: dict, outputs: set[str], perm: list[int]) -> list | None:
    """The convolutions reading tensor ``name`` through Transposes only, each with the composed permutation
    (its input axis i = axis perm[i] of ``name``); None when any reader is something else, a graph output
    or a convolution's weights."""
    found = []
    for node in readers.get(name, []):
        if node.op_type == "Transpose" and node.output[0] not in outputs:
            step = list(_attr(node, "perm", []))
            below = _pad_readers(node.output[0], readers, outputs, [perm[i] for i in step])
            if below is None:
                return None
            found += below
        elif (node.op_type == "Conv" and node.input[0] == name and name not in node.input[1:]
              and _attr(node, "auto_pad", b"NOTSET") in (b"NOTSET", b"VALID")):
            found.append((node, perm))
        else:
            return None
    return found


def fold_zero_pads(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place: each zero ``Pad`` whose every reader is a convolution, directly or through
    layout Transposes only (TF's explicit padding before a stride-2 'valid' convolution: an NHWC Pad, then the
    NHWC -> NCHW Transpose; PyTorch-born graphs: an NCHW Pad and a Transpose pair), and that pads only the
    axes those convolutions see as height and width, becomes the convolutions' own ``pads``. Exact (the same
    zeros, read by the same kernel); onnxruntime then skips a copy (and layout reorders) per Pad: about a
    fifth of both BlazePose graphs' time. Returns how many Pads went."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    folded = []
    for pad in graph.node:
        if (pad.op_type != "Pad" or pad.output[0] in outputs or _attr(pad, "mode", b"constant") != b"constant"
                or len(pad.input) < 2 or pad.input[1] not in inits):
            continue
        if len(pad.input) > 3 and pad.input[3]:
            continue  # an axes input: not written by the converter
        if len(pad.input) > 2 and pad.input[2] and (
                pad.input[2] not in inits or numpy_helper.to_array(inits[pad.input[2]]).any()):
            continue
        p = numpy_helper.to_array(inits[pad.input[1]]).tolist()
        rank = len(p) // 2
        if rank != 4 or min(p) < 0:
            continue
        begin, end = p[:rank], p[rank:]
        convs = _pad_readers(pad.output[0], readers, outputs, list(range(rank)))
        if not convs:
            continue
        padded = {a for a in range(rank) if begin[a] or end[a]}
        if any(not padded <= {perm[2], perm[3]} for _, perm in convs):
            continue
        for conv, perm in convs:
            old = list(_attr(conv, "pads", [0, 0, 0, 0]))
            for a in [a for a in conv.attribute if a.name in ("pads", "auto_pad")]:
                conv.attribute.remove(a)
            h, w = perm[2], perm[3]
            conv.attribute.append(onnx.helper.make_attribute(
                "pads", [old[0] + begin[h], old[1] + begin[w], old[2] + end[h], old[3] + end[w]]))
        for node in readers[pad.output[0]]:
            for k, name in enumerate(node.input):
                if name == pad.output[0]:
                    node.input[k] = pad.input[0]
        folded.append(pad)
    for pad in folded:
        graph.node.remove(pad)
    _drop_unused_initializers(graph)
    return len(folded)


def constant_resize_scales(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place: each ``Resize`` whose ``sizes`` input is a Concat of constants and of
    slices of its own input's shape (the converter's TF ``UpSampling2D`` / ``ResizeBilinear``: batch and
    channels from the input, a constant height and width) gets the equivalent constant ``scales`` instead
    (constant size / static input size; 1 for the sliced axes). The same output size and sampling positions;
    onnxruntime can then run it in its blocked NCHWc layout (with sizes computed at run time it cannot),
    which skips the layout reorders around it. Returns how many Resizes changed."""
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    shapes = _static_shapes(model)
    changed = 0
    for node in graph.node:
        if node.op_type != "Resize" or len(node.input) != 4 or node.input[3] not in producer:
            continue
        scales = _resize_scales(producer[node.input[3]], node.input[0], shapes.get(node.input[0]), producer,
                                inits)
        if scales is None:
            continue
        name = f"{node.name or node.output[0]}/scales"
        graph.initializer.append(numpy_helper.from_array(np.array(scales, np.float32), name))
        del node.input[1:]
        node.input.extend(["", name])
        changed += 1
    _drop_unused(model)
    return changed


def pointwise_before_resize(model: onnx.ModelProto) -> int:
    """Rewrite ``model`` in place: a 1x1 convolution (stride 1, one group) reading a ``Resize`` with constant
    ``scales`` (through a layout Transpose or not) runs before it instead, on the smaller map. Both are linear
    maps, one over channels and one over positions whose weights sum to 1 (linear or nearest), so they
    commute, bias included; only the rounding differs. The detector's feature-pyramid upsamplings shrink
    from 1152 and 192 channels to 192 and 96, and their convolutions run on a quarter of the positions.
    Returns how many pairs were swapped."""
    graph = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {o.name for o in graph.output}
    swapped = 0
    for resize in [n for n in graph.node if n.op_type == "Resize"]:
        chain = _pointwise_after(resize, readers, outputs, inits)
        if chain is None:
            continue
        perm, conv, scales = chain
        ins = list(conv.input)
        ins[0] = resize.input[0]
        new = []
        if perm is not None:
            ins[0] = f"{resize.output[0]}/before"
            new.append(onnx.helper.make_node("Transpose", [resize.input[0]], [ins[0]], perm=perm))
        mixed = f"{conv.output[0]}/before_resize"
        new.append(onnx.helper.make_node("Conv", ins, [mixed], name=conv.name))
        new[-1].attribute.extend(conv.attribute)
        name = f"{resize.name or resize.output[0]}/moved_scales"
        graph.initializer.append(numpy_helper.from_array(np.array(scales, np.float32), name))
        new.append(onnx.helper.make_node("Resize", [mixed, "", name], [conv.output[0]], name=resize.name))
        new[-1].attribute.extend(resize.attribute)
        # by output name: graph.node.extend copies the nodes, so the ones in ``readers`` are not the graph's
        gone = {n.output[0] for n in (resize, conv, *readers[resize.output[0]])}
        at = next(i for i, n in enumerate(graph.node) if n.output[0] == resize.output[0])
        nodes = [n for n in graph.node[:at] if n.output[0] not in gone] + new
        nodes += [n for n in graph.node[at:] if n.output[0] not in gone]
        del graph.node[:]
        graph.node.extend(nodes)
        swapped += 1
    if swapped:
        _drop_unused_initializers(graph)
    return swapped


def _pointwise_after(resize: onnx.NodeProto, readers: dict, outputs: set[str], inits: dict):
    """(perm or None, conv, the scales in the convolution's layout) where ``resize`` (constant scales,
    linear or nearest, batch and channels unscaled) is read only by a 1x1 convolution, directly or through
    one Transpose read only by it; None otherwise."""
    if (len(resize.input) != 3 or resize.input[1] or resize.input[2] not in inits
            or _attr(resize, "mode", b"nearest") not in (b"linear", b"nearest")
            or _attr(resize, "coordinate_transformation_mode", b"half_pixel") == b"tf_crop_and_resize"):
        return None
    scales = inits[resize.input[2]].reshape(-1).tolist()
    node, perm = resize, None
    for _ in range(2):
        if node.output[0] in outputs or len(readers.get(node.output[0], [])) != 1:
            return None
        node = readers[node.output[0]][0]
        if node.op_type == "Transpose" and perm is None:
            perm = list(_attr(node, "perm", []))
            continue
        break
    if perm is not None:
        scales = [scales[i] for i in perm]
    w = inits.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
    if (w is None or node.input[0] == node.input[1] or w.ndim != 4 or w.shape[2:] != (1, 1)
            or _attr(node, "group", 1) != 1 or any(v != 1 for v in _attr(node, "strides", [1, 1]))
            or any(v != 0 for v in _attr(node, "pads", [0, 0, 0, 0])) or scales[:2] != [1.0, 1.0]):
        return None
    return perm, node, scales


def _resize_scales(concat: onnx.NodeProto, data: str, in_shape: list[int | None] | None, producer: dict,
                   inits: dict) -> list[float] | None:
    """The constant scales of a Resize of ``data`` to the sizes ``concat`` builds; None where they are not
    constant (see ``constant_resize_scales``)."""
    if concat.op_type != "Concat" or not in_shape:
        return None
    scales: list[float] = []
    for piece in concat.input:
        if piece in inits:
            for dim in inits[piece].reshape(-1).tolist():
                axis = len(scales)
                if axis >= len(in_shape) or not in_shape[axis]:
                    return None
                scales.append(dim / in_shape[axis])
        elif _slices_own_shape(producer.get(piece), data, len(scales), producer, inits):
            scales.append(1.0)
        else:
            return None
    return scales if len(scales) == len(in_shape) else None


def _slices_own_shape(node, data: str, axis: int, producer: dict, inits: dict) -> bool:
    """Whether ``node`` is ``Slice(Shape(data), [axis], [axis + 1])``: one dimension of ``data`` kept."""
    if node is None or node.op_type != "Slice" or len(node.input) < 3 or node.input[0] not in producer:
        return False
    shape = producer[node.input[0]]
    if shape.op_type != "Shape" or shape.input[0] != data or shape.attribute:
        return False
    bounds = [inits.get(name) for name in node.input[1:]]
    if any(b is None for b in bounds) or len(bounds) > 3:
        return False
    start, end = int(bounds[0].reshape(-1)[0]), int(bounds[1].reshape(-1)[0])
    return (start, end) == (axis, axis + 1) and (len(bounds) < 3 or bounds[2].reshape(-1).tolist() == [0])


def output_logits(model: onnx.ModelProto, output: str, name: str) -> None:
    """Rewrite ``model`` in place: graph output ``output``, a sigmoid (``Sigmoid(x)``, or the converter's
    ``Reciprocal(Add(Exp(Neg(x)), 1))``), is replaced by output ``name`` holding ``x``; the sigmoid's nodes
    go. For a caller that needs the sigmoid of a few values of a large output (BlazePose's heatmap
    refinement reads 7 x 7 cells per landmark of its 64 x 64 x 39 heatmap)."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    node, chain = producer[output], []
    while node is not None and node.op_type == "Identity":  # the converter names outputs through Identity
        chain.append(node)
        node = producer.get(node.input[0])
    if node is not None and node.op_type == "Sigmoid":
        chain.append(node)
    else:
        for op in ("Reciprocal", "Add", "Exp", "Neg"):
            if node is None or node.op_type != op:
                found = node.op_type if node is not None else "a graph input"
                raise ValueError(f"{output} is not a sigmoid output ({op} expected, {found} found)")
            chain.append(node)
            if op == "Add":
                one = [i for i in node.input if i in inits]
                if len(one) != 1 or not np.all(inits[one[0]] == 1):
                    raise ValueError(f"{output} is not a sigmoid output (1 + exp(-x) expected)")
                node = producer.get(next(i for i in node.input if i not in inits))
            elif op != "Neg":
                node = producer.get(node.input[0])
    x = chain[-1].input[0]
    inner = {o for n in chain for o in n.output}
    if any(i in inner for n in graph.node if n not in chain for i in n.input) or (
            inner & {o.name for o in graph.output} - {output}):
        raise ValueError(f"{output}'s sigmoid is read elsewhere too")
    outputs = [o for o in graph.output if o.name != output]
    logits = next(o for o in graph.output if o.name == output)  # same type and shape as the sigmoid's
    logits.name = name
    for n in graph.node:  # x takes the new name wherever it is read
        for k, i in enumerate(n.input):
            if i == x:
                n.input[k] = name
        for k, o in enumerate(n.output):
            if o == x:
                n.output[k] = name
    for n in chain:
        graph.node.remove(n)
    del graph.output[:]
    graph.output.extend([*outputs, logits])
    _drop_unused(model)


def uint8_image_input(model: onnx.ModelProto, scale: float, offset: float = 0.0) -> None:
    """Rewrite ``model`` in place: its one float input becomes uint8 under the same name, normalised in the
    graph as ``x * float32(scale) + float32(offset)`` (the same float32 operations as numpy's, so the
    network sees the same tensor, bit for bit). onnxruntime's Cast and Mul cost less than numpy's conversion,
    and the caller hands over a quarter of the bytes."""
    graph = model.graph
    (inp,) = graph.input
    name = inp.name
    inp.type.tensor_type.elem_type = onnx.TensorProto.UINT8
    cast, scaled = f"{name}/float", f"{name}/scaled"
    inner = f"{name}/normalised"
    for n in graph.node:
        for k, i in enumerate(n.input):
            if i == name:
                n.input[k] = inner
    graph.initializer.append(numpy_helper.from_array(np.array(scale, np.float32), f"{name}/scale"))
    nodes = [onnx.helper.make_node("Cast", [name], [cast], to=onnx.TensorProto.FLOAT),
             onnx.helper.make_node("Mul", [cast, f"{name}/scale"], [scaled if offset else inner])]
    if offset:
        graph.initializer.append(numpy_helper.from_array(np.array(offset, np.float32), f"{name}/offset"))
        nodes.append(onnx.helper.make_node("Add", [scaled, f"{name}/offset"], [inner]))
    for k, n in enumerate(nodes):
        graph.node.insert(k, n)


def _drop_unused(model: onnx.ModelProto) -> None:
    """Remove the nodes no graph output needs, then the initializers no node reads."""
    graph = model.graph
    keep = needed_nodes(graph, [o.name for o in graph.output])
    del graph.node[:]
    graph.node.extend(keep)
    _drop_unused_initializers(graph)


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    """Remove the initializers no node reads."""
    used = {name for node in graph.node for name in node.input}
    for t in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(t)


def _same_pads(auto_pad: bytes, kernel: int) -> tuple[int, int] | None:
    """(begin, end) padding of a stride-2 'SAME' convolution over an even length (None: not 'SAME')."""
    if auto_pad not in (b"SAME_UPPER", b"SAME_LOWER"):
        return None
    total = max(kernel - 2, 0)  # (ceil(n / 2) - 1) * 2 + kernel - n, for n even
    begin = total // 2 if auto_pad == b"SAME_UPPER" else total - total // 2
    return begin, total - begin


def space_to_depth_weights(w: np.ndarray) -> np.ndarray:
    """(O, C, kh, kw) stride-2 kernel -> (O, 4C, ceil(kh/2), ceil(kw/2)) stride-1 kernel over the input's
    2x2 ``SpaceToDepth`` (input channel ``(dy * 2 + dx) * C + c`` holds pixel (2y + dy, 2x + dx) of channel
    c); taps beyond the original kernel are zero."""
    o, c, kh, kw = w.shape
    out = np.zeros((o, 2, 2, c, (kh + 1) // 2, (kw + 1) // 2), w.dtype)
    for y in range(kh):
        for x in range(kw):
            out[:, y % 2, x % 2, :, y // 2, x // 2] = w[:, :, y, x]
    return out.reshape(o, 4 * c, (kh + 1) // 2, (kw + 1) // 2)


def space_to_depth_convs(model: onnx.ModelProto, max_channels: int = 3,
                         skip: set[str] | frozenset[str] = frozenset()) -> int:
    """Rewrite ``model`` in place: each 2D convolution with stride 2, no dilation or groups, at most
    ``max_channels`` input channels and an even input height and width known to the graph reads the input's
    2x2 ``SpaceToDepth`` instead, with stride 1 and the kernel of ``space_to_depth_weights``. Exact: output
    (i, j) sums the same products (input row 2i + t - pad_top is row i + (t - pad_top) // 2, phase
    (t - pad_top) % 2 of the rearranged input; the top and left padding must be even). Returns how many
    convolutions were rewritten; ``skip``: names of convolutions left as they are."""
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    shapes = _static_shapes(model)
    count = 0
    for conv in [n for n in graph.node if n.op_type == "Conv" and n.name not in skip]:
        shape = shapes.get(conv.input[0])
        if (len(conv.input) < 2 or conv.input[1] not in inits or not shape or len(shape) != 4
                or list(_attr(conv, "strides", [1, 1])) != [2, 2] or _attr(conv, "group", 1) != 1
                or any(d != 1 for d in _attr(conv, "dilations", [1, 1]))):
            continue
        w = numpy_helper.to_array(inits[conv.input[1]])
        if w.shape[1] > max_channels or any(not n or n % 2 for n in shape[2:]):
            continue
        auto = _attr(conv, "auto_pad", b"NOTSET")
        p = list(_attr(conv, "pads", [0, 0, 0, 0]))
        per_axis = [_same_pads(auto, k) or (p[a], p[a + 2]) for a, k in enumerate(w.shape[2:])]
        new_pads = []
        for (begin, end), k in zip(per_axis, w.shape[2:], strict=True):
            # output length n/2 + floor((begin + end - k) / 2) + 1, the same over n/2 rows with the new pads
            new_end = (begin + end - k) // 2 - begin // 2 + (k + 1) // 2
            new_pads.append((begin // 2, new_end))
            if begin % 2 or new_end < 0:
                break
        else:
            name = f"{conv.input[0]}/space_to_depth"
            weight = f"{conv.input[1]}/space_to_depth"
            if weight not in inits:
                inits[weight] = numpy_helper.from_array(space_to_depth_weights(w), weight)
                graph.initializer.append(inits[weight])
            s2d = onnx.helper.make_node("SpaceToDepth", [conv.input[0]], [name], name=name, blocksize=2)
            graph.node.insert(list(graph.node).index(conv), s2d)
            conv.input[0], conv.input[1] = name, weight
            for a in [a for a in conv.attribute if a.name in ("auto_pad", "pads", "strides", "kernel_shape")]:
                conv.attribute.remove(a)
            conv.attribute.extend([
                onnx.helper.make_attribute("strides", [1, 1]),
                onnx.helper.make_attribute("pads", [new_pads[0][0], new_pads[1][0],
                                                    new_pads[0][1], new_pads[1][1]])])
            count += 1
    _drop_unused_initializers(graph)
    return count


GRAPH_REWRITE = 3  # in the derived files' names: bump it when fast_graph's rewrite changes


def fast_graph(path: Path, drop_outputs: tuple[str, ...] = (), logits: tuple[tuple[str, str], ...] = (),
               uint8_image: tuple[float, float] | None = None, resize_scales: bool = False) -> Path:
    """A copy of the converted graph ``path`` beside it in the cache, rewritten exactly for onnxruntime:
    ``drop_outputs`` and the nodes only they need removed, and zero padding folded into the convolutions
    (``fold_zero_pads``). On request: ``logits`` ((output, new name) pairs: ``output_logits``),
    ``uint8_image`` ((scale, offset): ``uint8_image_input``), ``resize_scales`` (``constant_resize_scales``,
    whose NCHWc kernel rounds differently: outputs within about 1e-6)."""
    from posekit.convert.cache import cached_file

    tag = "-noseg" if "activation_segmentation" in drop_outputs else ""
    if set(drop_outputs) - {"activation_segmentation"}:
        tag += "-cut" + "".join(f"-{name}" for name in sorted(drop_outputs))
    tag += "".join(f"-logits-{name}" for _, name in logits)
    if uint8_image is not None:
        tag += f"-u8-{uint8_image[0]:.6g}-{uint8_image[1]:g}"
    tag += "-rs" if resize_scales else ""

    def build() -> bytes:
        import onnx.utils

        model = onnx.load(str(path))
        if drop_outputs:
            outputs = [o.name for o in model.graph.output if o.name not in drop_outputs]
            cut = onnx.utils.Extractor(model).extract_model([i.name for i in model.graph.input], outputs)
            cut.metadata_props.extend(model.metadata_props)
            model = cut
        fold_zero_pads(model)
        for output, name in logits:
            output_logits(model, output, name)
        if resize_scales:
            constant_resize_scales(model)
            pointwise_before_resize(model)
        if uint8_image is not None:
            uint8_image_input(model, *uint8_image)
        return model.SerializeToString()

    return cached_file(path.with_name(f"{path.stem}{tag}-r{GRAPH_REWRITE}.onnx"), build, what=path.name)
