"""A converted ONNX graph as a trainable PyTorch module (our own builder, for the ops posekit's graphs use).

``OnnxModule(proto, outputs)`` runs the graph's nodes in order with torch ops; the float weights and biases
of every Conv / ConvTranspose become ``nn.Parameter``s (the other initializers are fixed buffers), so
autograd trains the pretrained network as it is. ``outputs`` may name any tensor of the graph (an
intermediate one: MoveNet's raw heatmaps before its in-graph decoding); only the nodes they need run.
``write_back(proto)`` puts the trained values back into the ONNX graph, so an export is the zoo graph with
new weights: same preprocessing, same in-graph decoding, same runtime.

Why not onnx2torch: it is one more heavy dependency, and its mapping of the TF-converted graphs (NHWC
transposes around every conv, explicit asymmetric TF padding, Resize on computed shapes) would have to be
checked op by op anyway; this builder is ~200 lines and its parity with onnxruntime is tested
(tests/test_train_pretrained.py) and measured in the note (max abs difference <= 4e-4 on the zoo graphs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from posekit.convert.optimize import needed_nodes
from posekit.errors import PosekitError

_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64}
WEIGHT_OPS = ("Conv", "ConvTranspose")


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _ints(t: torch.Tensor | None) -> list[int]:
    return [] if t is None else [int(v) for v in t.reshape(-1).tolist()]


def _pad_conv(x: torch.Tensor, pads: Sequence[int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """ONNX pads (top, left, bottom, right): symmetric ones go to conv, asymmetric (TF 'SAME') to F.pad."""
    t, le, b, r = pads
    if t == b and le == r:
        return x, (t, le)
    return F.pad(x, (le, r, t, b)), (0, 0)


def _same_pads(x, w, strides, dilations, upper: bool) -> list[int]:
    """ONNX auto_pad SAME_UPPER / SAME_LOWER as explicit (top, left, bottom, right) pads."""
    begin, end = [], []
    for size, k, s, d in zip(x.shape[2:], w.shape[2:], strides, dilations, strict=True):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        begin.append(small if upper else total - small)
        end.append(total - begin[-1])
    return [*begin, *end]


def _conv(x, w, b=None, *, pads=(0, 0, 0, 0), strides=(1, 1), dilations=(1, 1), group=1, auto_pad="NOTSET",
          **_):
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = _same_pads(x, w, strides, dilations, auto_pad == "SAME_UPPER")
    x, padding = _pad_conv(x, pads)
    # channels-last activations: oneDNN's depthwise and 1x1 kernels (MobileNet's, most of these graphs) run
    # forward and backward ~20% faster on a 2-core AVX2 CPU than on NCHW (converted graphs feed NCHW)
    x = x.contiguous(memory_format=torch.channels_last)
    return F.conv2d(x, w, b, tuple(strides), padding, tuple(dilations), group)


def _conv_transpose(x, w, b=None, *, pads=(0, 0, 0, 0), strides=(1, 1), dilations=(1, 1), group=1,
                    output_padding=(0, 0), **_):
    y = F.conv_transpose2d(x, w, b, tuple(strides), 0, tuple(output_padding), group, tuple(dilations))
    t, le, bo, r = pads
    return y[:, :, t : y.shape[2] - bo, le : y.shape[3] - r]


def _slice(x, starts, ends, axes=None, steps=None):
    axes = _ints(axes) or list(range(len(_ints(starts))))
    steps = _ints(steps) or [1] * len(axes)
    index = [slice(None)] * x.dim()
    for a, s, e, st in zip(axes, _ints(starts), _ints(ends), steps, strict=True):
        index[a] = slice(s, e, st)
    return x[tuple(index)]


def _gather(x, idx, *, axis=0):
    idx = torch.where(idx < 0, idx + x.shape[axis], idx).long()
    flat = x.index_select(axis, idx.reshape(-1))
    return flat.reshape(*x.shape[:axis], *idx.shape, *x.shape[axis + 1 :])


def _squeeze(x, axes=None):
    return x.squeeze(tuple(_ints(axes))) if axes is not None else x.squeeze()


def _unsqueeze(x, axes):
    for a in sorted(a % (x.dim() + len(_ints(axes))) for a in _ints(axes)):
        x = x.unsqueeze(a)
    return x


def _div(a, b):
    if a.is_floating_point() or b.is_floating_point():
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _clip(x, lo=None, hi=None, **_):
    if lo is not None and hi is not None and x.is_floating_point():
        # hardtanh: the same values, and a fused backward (clamp's backward is ~3x the convolutions' time
        # on one CPU thread for the trunk's ReLU6)
        return F.hardtanh(x, float(lo), float(hi))
    return torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))


def _resize(x, roi=None, scales=None, sizes=None, *, mode="nearest",
            coordinate_transformation_mode="half_pixel", **_):
    """ONNX Resize on any layout (the TF graphs resize NHWC tensors): the resized axes are moved last."""
    if sizes is not None and sizes.numel():
        target = _ints(sizes)
    else:
        target = [int(round(n * float(f))) for n, f in zip(x.shape, scales.reshape(-1).tolist(), strict=True)]
    axes = [i for i, (n, t) in enumerate(zip(x.shape, target, strict=True)) if n != t]
    if not axes:
        return x
    if len(axes) > 2 or mode not in ("linear", "nearest"):
        raise PosekitError(f"Resize of axes {axes} ({mode}): not supported by the torch builder")
    if coordinate_transformation_mode not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        raise PosekitError(f"Resize {coordinate_transformation_mode}: not supported by the torch builder")
    rest = [i for i in range(x.dim()) if i not in axes]
    order = rest + axes
    y = x.permute(*order).reshape(1, -1, *[x.shape[i] for i in axes])
    size = [target[i] for i in axes]
    if mode == "linear":
        kind = "bilinear" if len(axes) == 2 else "linear"
        align = coordinate_transformation_mode == "align_corners"
        y = F.interpolate(y, size=size, mode=kind, align_corners=align)
    else:
        y = F.interpolate(y, size=size, mode="nearest")
    y = y.reshape(*[x.shape[i] for i in rest], *size)
    return y.permute(*np.argsort(order).tolist())


def _reshape(x, shape, *, allowzero=0):
    dims = _ints(shape)
    if not allowzero:
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


OPS: dict[str, Callable[..., Any]] = {
    "Conv": _conv,
    "ConvTranspose": _conv_transpose,
    "Transpose": lambda x, *, perm: x.permute(*perm),
    "Clip": _clip,
    "Relu": lambda x: torch.relu(x),
    "Sigmoid": lambda x: torch.sigmoid(x),
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Div": _div,
    "Max": lambda *xs: torch.stack(torch.broadcast_tensors(*xs)).amax(0),
    "Min": lambda *xs: torch.stack(torch.broadcast_tensors(*xs)).amin(0),
    "Neg": lambda x: -x,
    "Exp": lambda x: torch.exp(x),
    "Sqrt": lambda x: torch.sqrt(x),
    "Reciprocal": lambda x: 1.0 / x,
    "Concat": lambda *xs, axis: torch.cat(xs, dim=axis),
    "Slice": _slice,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Shape": lambda x: torch.tensor(x.shape, dtype=torch.int64, device=x.device),
    "Cast": lambda x, *, to: x.to(_DTYPES[to]),
    "Gather": _gather,
    "Identity": lambda x: x,
    "Resize": _resize,
    "Reshape": _reshape,
}


class OnnxModule(nn.Module):
    """``forward(x)`` -> the tensors named ``outputs`` (a list, in that order), computed with torch.

    proto: an ONNX model of posekit's converter (one float input); outputs: tensor names (default: the
    graph's outputs); inputs: tensor names fed to ``forward`` (default: the graph's input): naming inner
    tensors (a trunk's outputs, computed once and cached) runs and trains only the part of the graph between
    them and ``outputs``. Parameters are the Conv / ConvTranspose weights and biases, named in ``param_names``
    (index i <-> ONNX initializer ``param_names[i]``; torch names them ``weights.i``).
    """

    def __init__(self, proto: onnx.ModelProto, outputs: Sequence[str] | None = None,
                 inputs: Sequence[str] | None = None) -> None:
        super().__init__()
        g = proto.graph
        self.inputs = list(inputs or [g.input[0].name])
        self.input_name = self.inputs[0]
        self.outputs = list(outputs or [o.name for o in g.output])
        inits = {i.name: i for i in g.initializer}
        self.nodes = needed_nodes(g, self.outputs, self.inputs)
        unknown = sorted({n.op_type for n in self.nodes} - set(OPS))
        if unknown:
            raise PosekitError(f"the torch builder has no {', '.join(unknown)}: this graph cannot be trained")
        trainable = {i for n in self.nodes if n.op_type in WEIGHT_OPS for i in n.input[1:3] if i in inits}
        used = {i for n in self.nodes for i in n.input if i in inits}
        self.param_names = sorted(trainable)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.from_numpy(numpy_helper.to_array(inits[n]).copy())) for n in self.param_names]
        )
        self.const_names = sorted(used - trainable)
        for i, name in enumerate(self.const_names):
            self.register_buffer(f"const{i}", torch.from_numpy(np.array(numpy_helper.to_array(inits[name]))),
                                 persistent=False)
        self._attrs = [_attrs(n) for n in self.nodes]

    def tensors(self) -> dict[str, torch.Tensor]:
        """Initializer name -> its tensor (parameters and constants)."""
        env = {n: p for n, p in zip(self.param_names, self.weights, strict=True)}
        env.update({n: getattr(self, f"const{i}") for i, n in enumerate(self.const_names)})
        return env

    def forward(self, *xs: torch.Tensor) -> list[torch.Tensor]:
        """One tensor per name of ``inputs`` (default: the graph's input), in that order."""
        if len(xs) != len(self.inputs):
            raise TypeError(f"OnnxModule takes {len(self.inputs)} input tensors ({', '.join(self.inputs)}), "
                            f"got {len(xs)}")
        env = self.tensors()
        env.update(zip(self.inputs, xs, strict=True))
        for node, attrs in zip(self.nodes, self._attrs, strict=True):
            args = [env[i] if i else None for i in node.input]
            while args and args[-1] is None:
                args.pop()
            result = OPS[node.op_type](*args, **attrs)
            env[node.output[0]] = result
        return [env[o] for o in self.outputs]

    def write_back(self, proto: onnx.ModelProto) -> onnx.ModelProto:
        """A copy of ``proto`` with this module's parameter values in place of its initializers."""
        out = onnx.ModelProto()
        out.CopyFrom(proto)
        values = {n: p.detach().cpu().numpy() for n, p in zip(self.param_names, self.weights, strict=True)}
        for init in out.graph.initializer:
            if init.name in values:
                init.CopyFrom(numpy_helper.from_array(values[init.name].astype(np.float32), init.name))
        return out
