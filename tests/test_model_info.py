"""Parameter and FLOP counts from an ONNX graph, on a hand-built model whose counts are known exactly."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from posekit.cli import main
from posekit.models.info import count_model


def _model(path):
    rng = np.random.default_rng(0)
    init = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b1"),
        numpy_helper.from_array(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), "wdw"),
        numpy_helper.from_array(rng.normal(size=(4, 2, 2, 2)).astype(np.float32), "wt"),
        numpy_helper.from_array(rng.normal(size=(16, 5)).astype(np.float32), "m"),
        numpy_helper.from_array(np.array([1, 2, 16, 16], np.int64), "shape"),  # not a parameter
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),  # 1x4x8x8
        helper.make_node("Conv", ["c1", "wdw"], ["c2"], pads=[1, 1, 1, 1], group=4),  # depthwise, 1x4x8x8
        helper.make_node("ConvTranspose", ["c2", "wt"], ["c3"], strides=[2, 2]),  # 1x2x16x16
        helper.make_node("Reshape", ["c3", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "m"], ["y"]),  # (1,2,16,16) x (16,5)
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, path)


def test_counts_are_exact(tmp_path):
    _model(tmp_path / "m.onnx")
    r = count_model(tmp_path / "m.onnx")
    conv = 4 * 8 * 8 * (3 * 3 * 3) + 4 * 8 * 8 * (1 * 3 * 3)  # standard + depthwise MACs
    convt = 4 * 8 * 8 * (2 * 2 * 2)  # every input pixel of 4 channels scatters into 2 channels x 2x2
    matmul = 2 * 16 * 5 * 16
    assert r["by_op"] == {"Conv": 2 * conv, "ConvTranspose": 2 * convt, "MatMul": 2 * matmul}
    assert r["flops"] == 2 * (conv + convt + matmul) and r["macs"] == conv + convt + matmul
    assert r["params"] == 4 * 27 + 4 + 4 * 9 + 4 * 2 * 4 + 16 * 5


@pytest.mark.network
def test_models_info_json(model_package, capsys):
    assert main(["models", "info", "movenet-lightning", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["input_size"] == 192 and info["schema"] == "coco17"
    # MoveNet Lightning: about 2.3 M parameters and 0.54 GFLOPs at 192x192
    assert 2_000_000 < info["params"] < 2_600_000 and 0.45 < info["gflops"] < 0.65
