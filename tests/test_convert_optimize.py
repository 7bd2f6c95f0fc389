"""The converter's exact graph rewrites (posekit.convert.optimize) on small ONNX graphs built here: the
outputs stay bit-identical and the graph takes the faster form."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from posekit.convert.optimize import optimize, transpose_before_channel_ops, widen_channel_constants

RNG = np.random.default_rng(11)


def normalising_graph(height, width, scalar_shape=()) -> onnx.ModelProto:
    """int32 NHWC image -> Cast -> (x - mean[1,1,1,3]) * scale[1,1,1,3] - 1 -> Transpose to NCHW -> Conv."""
    mean = numpy_helper.from_array(np.array([[[[123.7, 116.3, 103.5]]]], np.float32), "mean")
    scale = numpy_helper.from_array(np.array([[[[0.017, 0.0175, 0.0174]]]], np.float32), "scale")
    one = numpy_helper.from_array(np.ones(scalar_shape, np.float32), "one")
    weight = numpy_helper.from_array(RNG.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["f", "mean"], ["centred"]),
        helper.make_node("Mul", ["scale", "centred"], ["scaled"]),  # constant first: either slot works
        helper.make_node("Sub", ["scaled", "one"], ["shifted"]),
        helper.make_node("Transpose", ["shifted"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w"], ["out"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("image", TensorProto.INT32, [1, height, width, 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", "c", "y", "x"])],
        [mean, scale, one, weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"image": x})[0]


@pytest.mark.parametrize("height, width", [(8, 12), ("h", "w")])  # static, and free sizes (MultiPose)
def test_transpose_moves_to_the_input_and_the_result_is_bit_identical(height, width):
    model = normalising_graph(height, width)
    x = RNG.integers(0, 256, (1, 8, 12, 3)).astype(np.int32)
    want = run(model, x)
    assert transpose_before_channel_ops(model) == 4  # Cast, Sub, Mul, Sub
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Transpose", "Cast", "Sub", "Mul", "Sub", "Conv"]
    consts = {t.name: numpy_helper.to_array(t).shape for t in model.graph.initializer}
    assert consts["mean/nchw"] == consts["scale/nchw"] == (1, 3, 1, 1) and "mean" not in consts
    np.testing.assert_array_equal(run(model, x), want)


def test_ops_that_do_not_broadcast_per_channel_stay_where_they_are():
    model = normalising_graph(8, 12)
    full = numpy_helper.from_array(np.ones((1, 8, 12, 3), np.float32), "full")  # not per channel
    model.graph.initializer.append(full)
    model.graph.node[3].input[1] = "full"
    x = RNG.integers(0, 256, (1, 8, 12, 3)).astype(np.int32)
    want = run(model, x)
    assert transpose_before_channel_ops(model) == 0
    assert [n.op_type for n in model.graph.node][:5] == ["Cast", "Sub", "Mul", "Sub", "Transpose"]
    np.testing.assert_array_equal(run(model, x), want)


def test_widening_handles_what_is_left_and_optimize_applies_both():
    model = normalising_graph(8, 12)
    model.graph.node.remove(model.graph.node[4])  # no Transpose: nothing to move, widening takes over
    model.graph.node[-1].input[0] = "shifted"
    model.graph.node[-1].CopyFrom(helper.make_node("Relu", ["shifted"], ["out"]))
    x = RNG.integers(0, 256, (1, 8, 12, 3)).astype(np.int32)
    want = run(model, x)
    assert widen_channel_constants(model) == 2
    np.testing.assert_array_equal(run(model, x), want)
    moved = optimize(normalising_graph(8, 12))
    assert [n.op_type for n in moved.graph.node][0] == "Transpose"
