"""Exported heatmap models through load_model / estimate: a hand-built ONNX whose heatmaps are known."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image as PILImage

import posekit
from posekit.cli import main
from posekit.errors import PosekitError
from posekit.skeletons import LSP14

PEAKS = [(3 + k, 5 + 2 * k) for k in range(14)]  # heatmap (x, y) of each keypoint, 32x32 heatmaps


def _export(path, props: dict[str, str] | None = None) -> None:
    """A graph whose output ignores the image: Gaussian peaks at PEAKS (plus 0 x mean(image))."""
    yy, xx = np.mgrid[0:32, 0:32]
    hm = np.stack([np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0) * 0.9 for x, y in PEAKS])[None]
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], keepdims=1),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
        helper.make_node("Add", ["hm", "z"], ["heatmaps"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 128, 128])],
        [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, 14, 32, 32])],
        [numpy_helper.from_array(hm.astype(np.float32), "hm"),
         numpy_helper.from_array(np.zeros(1, np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    meta = {"posekit.kind": "heatmap", "posekit.model": "toy", "posekit.schema": "lsp14",
            "posekit.input_size": "128,128", "posekit.heatmap_size": "32,32", "posekit.mean": "0.5,0.5,0.5",
            "posekit.std": "0.25,0.25,0.25", "posekit.color": "RGB",
            "posekit.decoder": "heatmap-argmax-quadratic", "posekit.crop": "box-enlarge:1.3",
            "posekit.sigma": "2.0"}
    meta.update(props or {})
    onnx.helper.set_model_props(model, {k: v for k, v in meta.items() if v is not None})
    onnx.save(model, path)


def test_predict_maps_heatmap_peaks_to_image_pixels(tmp_path):
    _export(tmp_path / "toy.onnx")
    model = posekit.load_model(str(tmp_path / "toy.onnx"))
    assert model.schema is LSP14
    poses = model.predict(np.zeros((256, 512, 3), np.uint8))  # letterbox: scale 0.25, pad_y 32 input px
    assert len(poses) == 1
    for k, (x, y) in enumerate(PEAKS):
        x_in, y_in = (x + 0.5) * 4 - 0.5, (y + 0.5) * 4 - 0.5  # heatmap stride 4
        expected = (x_in / 0.25, (y_in - 32) / 0.25)
        np.testing.assert_allclose(poses.xy[0, k], expected, atol=1e-3)
    np.testing.assert_allclose(poses.scores[0], 0.9, atol=1e-6)


def test_estimate_cli_takes_the_onnx_path(tmp_path, capsys):
    _export(tmp_path / "toy.onnx")
    PILImage.fromarray(np.zeros((128, 128, 3), np.uint8)).save(tmp_path / "a.png")
    assert main(["estimate", str(tmp_path / "a.png"), "--model", str(tmp_path / "toy.onnx"),
                 "--out", str(tmp_path / "o"), "--min-score", "0", "--quiet"]) == 0
    pose = json.loads((tmp_path / "o" / "a.json").read_text())[0]
    assert pose["keypoints"][13]["part"] == "head_top"
    assert pose["keypoints"][0]["position"] == pytest.approx({"x": 13.5, "y": 21.5}, abs=1e-3)


@pytest.mark.parametrize("props, message", [
    ({"posekit.kind": None}, "no posekit.kind=heatmap metadata"),
    ({"posekit.input_size": "x"}, "metadata incomplete or malformed"),
])
def test_bad_metadata_is_one_line(tmp_path, props, message):
    _export(tmp_path / "bad.onnx", props)
    with pytest.raises(PosekitError, match=message):
        posekit.load_model(str(tmp_path / "bad.onnx"))


def test_not_onnx_and_missing(tmp_path):
    (tmp_path / "x.onnx").write_bytes(b"garbage")
    with pytest.raises(PosekitError, match="not a readable ONNX file"):
        posekit.load_model(str(tmp_path / "x.onnx"))
    with pytest.raises(PosekitError, match="no such model file"):
        posekit.load_model(str(tmp_path / "missing.onnx"))
