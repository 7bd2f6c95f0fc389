"""StridedSlice: TF's begin/end/strides plus five bit masks -> ONNX Slice, Squeeze and Unsqueeze.

The spec entries before an ellipsis address input axes 0, 1, ...; those after it address axes from the
end (-1, -2, ...), so no static rank is needed. ``new_axis`` entries insert a size-1 output dim,
``shrink_axis`` entries take one element and drop the dim.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from posekit.convert.builder import Builder
from posekit.convert.graph import Node
from posekit.errors import PosekitError

_MAX = np.iinfo(np.int64).max
_MIN = np.iinfo(np.int64).min


def strided_slice(b: Builder, node: Node) -> list[str]:
    begin, end, strides = (b.value(ref) for ref in node.inputs[1:4])
    if begin is None or end is None or strides is None:
        raise PosekitError(f"node {node.name} (StridedSlice): begin/end/strides must be constant")
    begin, end, strides = (np.asarray(v, np.int64).reshape(-1) for v in (begin, end, strides))
    masks = {k: node.attr_int(f"{k}_mask") for k in ("begin", "end", "ellipsis", "new_axis", "shrink_axis")}
    n = len(begin)
    ell = next((i for i in range(n) if masks["ellipsis"] >> i & 1), None)
    plan = _Plan()
    front = range(n) if ell is None else range(ell)
    in_axis = out_pos = 0
    for i in front:
        used_in, used_out = plan.entry(i, in_axis, out_pos, begin, end, strides, masks)
        in_axis, out_pos = in_axis + used_in, out_pos + used_out
    if ell is not None:
        in_axis = out_pos = -1
        for i in range(n - 1, ell, -1):
            used_in, used_out = plan.entry(i, in_axis, out_pos, begin, end, strides, masks)
            in_axis, out_pos = in_axis - used_in, out_pos - used_out
    return [plan.emit(b, node)]


class _Plan:
    """Slice parameters collected per spec entry, then emitted as Slice -> Squeeze -> Unsqueeze."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.axes: list[int] = []
        self.steps: list[int] = []
        self.squeeze: list[int] = []
        self.unsqueeze: list[int] = []

    def entry(self, i: int, in_axis: int, out_pos: int, begin: np.ndarray, end: np.ndarray,
              strides: np.ndarray, masks: dict[str, int]) -> tuple[int, int]:
        """Record spec entry ``i``; return (input axes used, output dims produced)."""
        if masks["new_axis"] >> i & 1:
            self.unsqueeze.append(out_pos)
            return 0, 1
        if masks["shrink_axis"] >> i & 1:
            start = int(begin[i])
            self._add(in_axis, start, _MAX if start == -1 else start + 1, 1)
            self.squeeze.append(in_axis)
            return 1, 0
        step = int(strides[i])
        if step == 0:
            raise PosekitError("StridedSlice: stride 0 is invalid in the model graph")
        start = (0 if step > 0 else _MAX) if masks["begin"] >> i & 1 else int(begin[i])
        stop = (_MAX if step > 0 else _MIN) if masks["end"] >> i & 1 else int(end[i])
        if not (step == 1 and start == 0 and stop == _MAX):  # skip whole-axis no-ops
            self._add(in_axis, start, stop, step)
        return 1, 1

    def _add(self, axis: int, start: int, stop: int, step: int) -> None:
        self.axes.append(axis)
        self.starts.append(start)
        self.ends.append(stop)
        self.steps.append(step)

    def emit(self, b: Builder, node: Node) -> str:
        y = b.tensor(node.inputs[0])
        steps: list[tuple[str, list[str]]] = []
        if self.axes:
            arrays = [np.array(v, np.int64) for v in (self.starts, self.ends, self.axes, self.steps)]
            steps.append(("Slice", [b.const(a, "slice") for a in arrays]))
        if self.squeeze:
            steps.append(("Squeeze", [b.const(np.array(self.squeeze, np.int64), "axes")]))
        if self.unsqueeze:
            steps.append(("Unsqueeze", [b.const(np.array(sorted(self.unsqueeze), np.int64), "axes")]))
        if not steps:
            return b.op("Identity", [y], name=node.name)
        for k, (op_type, extra) in enumerate(steps):
            y = b.op(op_type, [y, *extra], name=node.name if k == len(steps) - 1 else None)
        return y


OPS: dict[str, Callable[[Builder, Node], list[str]]] = {"StridedSlice": strided_slice}
