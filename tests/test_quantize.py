"""Static int8 models: the real quantizer on real converted graphs, compared with fp32 on a real photo."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import posekit
from posekit.cli import main
from posekit.convert.cache import check_record
from posekit.convert.quantize import default_calibration, head_nodes, paired_weight_bits
from posekit.errors import PosekitError
from posekit.images import read_image
from posekit.samples import sample_image


def test_head_nodes_are_the_layers_feeding_the_decoder(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w")
    w2 = numpy_helper.from_array(np.ones((2, 4, 1, 1), np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="body"),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Conv", ["b", "w2"], ["c"], name="head"),
             helper.make_node("ArgMax", ["c"], ["y"], name="decode", axis=1)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("y", TensorProto.INT64, None)],
                              [w, w2])
    onnx.save(helper.make_model(graph), tmp_path / "m.onnx")
    assert head_nodes(tmp_path / "m.onnx", ("Conv", "Relu")) == ["head"]
    assert head_nodes(tmp_path / "m.onnx", ("Conv",)) == ["body", "head"]  # Relu is outside: body feeds it


def test_paired_convs_are_all_but_depthwise() -> None:
    from posekit.convert.quantize import paired_convs, seven_bit_weights

    inits = [numpy_helper.from_array(np.ones(shape, np.float32), name) for name, shape in
             [("w", (4, 3, 3, 3)), ("dw", (4, 1, 3, 3)), ("gw", (4, 2, 1, 1)), ("w2", (2, 4, 1, 1))]]
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="stem"),
             helper.make_node("Conv", ["a", "dw"], ["b"], name="depthwise", group=4),
             helper.make_node("Conv", ["b", "gw"], ["c"], name="grouped", group=2),
             helper.make_node("Conv", ["c", "w2"], ["y"], name="head")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    graph = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    model = helper.make_model(graph)
    assert paired_convs(model) == {"w": 4, "gw": 4, "w2": 2}
    assert paired_convs(model, {"head"}) == {"w": 4, "gw": 4}
    assert seven_bit_weights({"w": 3}) == {"w": [{"reduce_range": True, "axis": 0}, {"reduce_range": True},
                                                 {"reduce_range": True}]}


def test_paired_weight_bits_follow_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from posekit.convert.quantize import paired_weight_bits

    monkeypatch.delenv("POSEKIT_INT8_WEIGHT_BITS", raising=False)
    avx2 = "flags\t\t: fpu sse2 avx avx2 fma\n"
    assert paired_weight_bits(avx2, "x86_64") == 7
    assert paired_weight_bits("flags\t\t: avx2 avx512f avx512bw avx512_vnni\n", "x86_64") == 8
    assert paired_weight_bits("flags\t\t: avx2 avx_vnni\n", "AMD64") == 8
    assert paired_weight_bits(avx2, "aarch64") == 8  # not x86: no 16-bit pair sums
    monkeypatch.setenv("POSEKIT_INT8_WEIGHT_BITS", "8")
    assert paired_weight_bits(avx2, "x86_64") == 8


def test_default_calibration_is_fixed() -> None:
    a, b = default_calibration(), default_calibration()
    assert len(a) == 16 and all(x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] == 3 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.network
@pytest.mark.parametrize("name", ["movenet-lightning", "movenet-multipose"])
def test_int8_model_agrees_with_fp32(name: str) -> None:
    rgb = read_image(sample_image()).rgb
    fp32 = posekit.load_model(name, threads=1)
    int8 = posekit.load_model(name, threads=1, precision="int8")
    path = Path(int8.runner.path)
    assert "-int8-" in path.name and check_record(path) == "ok"
    convs = [n for n in onnx.load(str(path)).graph.node if n.op_type == "Conv"]
    dq = {o for n in onnx.load(str(path)).graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    assert sum(n.input[1] in dq for n in convs) > 0.5 * len(convs)  # the encoder is int8
    # Lightning's RGB stem reads the image's SpaceToDepth (12 channels: onnxruntime's fast int8 kernels);
    # MultiPose's input size is free, its stem stays as it is
    stems = [n for n in onnx.load(str(path)).graph.node if n.op_type == "SpaceToDepth"]
    assert len(stems) == (name == "movenet-lightning")
    # on x86 without VNNI, 7-bit weights but in the depthwise convolutions (AVX2's 16-bit pair sums cannot
    # overflow); with VNNI 8 bits everywhere
    weights = {t.name: np.abs(numpy_helper.to_array(t).astype(int)).max()
               for t in onnx.load(str(path)).graph.initializer
               if t.data_type == TensorProto.INT8 and t.name.endswith("_quantized")}
    depthwise = [v for k, v in weights.items() if "depthwise" in k]
    assert len(depthwise) > 10 and max(depthwise) == 127
    paired = max(v for k, v in weights.items() if "depthwise" not in k)
    assert paired <= 64 if paired_weight_bits() == 7 else paired == 127
    assert f"w{paired_weight_bits()}-" in path.name
    a, b = fp32.predict(rgb), int8.predict(rgb)
    assert len(a) == len(b) >= 1
    conf = (a.scores[0] > 0.3) & (b.scores[0] > 0.3)
    assert conf.sum() >= 5  # the upper body of a half-length portrait
    # the astronaut is ~400 px tall: confident keypoints within 3% of the image side
    dist = np.linalg.norm(a.xy[0][conf] - b.xy[0][conf], axis=1)
    assert np.median(dist) < 0.03 * rgb.shape[0], dist
    assert abs(float(a.pose_scores[0] - b.pose_scores[0])) < 0.1
    stamp = path.stat().st_mtime_ns  # cached: a second load quantizes nothing
    assert Path(posekit.load_model(name, threads=1, precision="int8").runner.path) == path
    assert path.stat().st_mtime_ns == stamp


@pytest.mark.network
def test_calibration_folder_gets_its_own_file(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    rgb = read_image(sample_image()).rgb
    Image.fromarray(rgb).save(folder / "a.jpg")
    Image.fromarray(np.ascontiguousarray(rgb[:, ::-1])).save(folder / "b.png")
    mine = posekit.load_model("movenet-lightning", threads=1, precision="int8", calibration=folder)
    default = posekit.load_model("movenet-lightning", threads=1, precision="int8")
    assert mine.runner.path != default.runner.path
    assert len(mine.predict(rgb)) == 1
    # A second load finds the file by the photos' names, sizes and times without reading them: a photo
    # overwritten with as many bytes of noise, its time put back, goes unnoticed; touching it rebuilds.
    built = Path(mine.runner.path).stat().st_mtime_ns
    a = folder / "a.jpg"
    st = a.stat()
    a.write_bytes(b"\0" * st.st_size)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = posekit.load_model("movenet-lightning", threads=1, precision="int8", calibration=folder)
    assert again.runner.path == mine.runner.path and Path(again.runner.path).stat().st_mtime_ns == built
    Image.fromarray(rgb).save(a)
    changed = posekit.load_model("movenet-lightning", threads=1, precision="int8", calibration=folder)
    assert changed.runner.path != mine.runner.path


@pytest.mark.network
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"precision": "int4"}, r"--precision int4: use one of fp32, int8"),
    ({"precision": "int8", "calibration": "/nonexistent/photos"},
     r"--calibration /nonexistent/photos: no such folder"),
])
def test_bad_precision_options(kwargs: dict, message: str) -> None:
    with pytest.raises(PosekitError, match=message):
        posekit.load_model("movenet-lightning", threads=1, **kwargs)


@pytest.mark.network
def test_empty_calibration_folder_and_multi_session_models(tmp_path: Path) -> None:
    with pytest.raises(PosekitError, match="no images"):
        posekit.load_model("movenet-lightning", threads=1, precision="int8", calibration=tmp_path)
    with pytest.raises(PosekitError, match="not available for blazepose-lite"):
        posekit.load_model("blazepose-lite", threads=1, precision="int8")


@pytest.mark.network
def test_cli_precision(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert main(["estimate", str(sample_image()), "--model", "movenet-lightning", "--precision", "int8",
                 "--out", str(out), "--no-render", "--quiet"]) == 0
    people = json.loads((out / "astronaut.json").read_text())
    assert len(people) == 1 and len(people[0]["keypoints"]) == 17
    assert main(["bench", "--model", "movenet-lightning", "--precision", "int8", "--threads", "1",
                 "--runs", "3", "--warmup", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["precision"] == "int8" and r["peer_session_ms_median"] > 0 and r["speedup_vs_fp32"] > 0
    assert main(["models", "quantize", "movenet-lightning"]) == 0
    assert "convolutions int8" in capsys.readouterr().out


@pytest.mark.network
def test_video_and_service_take_int8(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("av")
    from test_video_cli import write_clip

    from posekit.serve.pool import ModelPool

    clip = write_clip(tmp_path / "astro.mp4", 6)
    out = tmp_path / "out"
    assert main(["video", str(clip), "--model", "movenet-lightning", "--precision", "int8", "--out", str(out),
                 "--no-render", "--quiet", "--json"]) == 0
    lines = (out / "astro.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(len(json.loads(line)["poses"]) == 1 for line in lines)
    pool = ModelPool(["movenet-lightning"], threads=1, precision="int8")
    try:
        assert "-int8-" in Path(pool.get("movenet-lightning").runner.path).name
        assert "-int8-" in Path(pool.get("movenet-lightning", "topdown").single.model.runner.path).name
    finally:
        pool.close()


def test_uniform_channel_constants_become_scalars() -> None:
    """A (1, 3, 1, 1) constant of equal values becomes a scalar (same result); one of unequal values, or one
    whose broadcast would widen the other input, stays."""
    import onnxruntime as ort

    from posekit.convert.quantize import scalar_constants

    def const(name: str, values: list[float], shape: tuple[int, ...]) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(values, np.float32).reshape(shape), name)

    inits = [const("zeros", [0, 0, 0], (1, 3, 1, 1)), const("k", [0.5, 0.5, 0.5], (1, 3, 1, 1)),
             const("mixed", [1, 2, 3], (1, 3, 1, 1)), const("wide", [2, 2, 2], (1, 3, 1, 1))]
    nodes = [helper.make_node("Sub", ["x", "zeros"], ["a"]), helper.make_node("Mul", ["a", "k"], ["b"]),
             helper.make_node("Add", ["b", "mixed"], ["c"]), helper.make_node("Mul", ["one", "wide"], ["d"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4]),
                     helper.make_tensor_value_info("one", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("c", "d")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = onnx.shape_inference.infer_shapes(model)
    feeds = {"x": np.random.default_rng(0).normal(size=(1, 3, 4, 4)).astype(np.float32),
             "one": np.ones((1, 1, 4, 4), np.float32)}

    def run(m: onnx.ModelProto) -> list:
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, feeds)

    before = run(model)
    assert scalar_constants(model) == 2
    kinds = {n.output[0]: list(n.input) for n in model.graph.node}
    assert kinds["a"][1] == "zeros/scalar" and kinds["b"][1] == "k/scalar"
    assert kinds["c"][1] == "mixed" and kinds["d"][1] == "wide"  # unequal values; "one" would widen
    names = {t.name: t for t in model.graph.initializer}
    assert "zeros" not in names and "k" not in names and numpy_helper.to_array(names["k/scalar"]).shape == ()
    for x, y in zip(before, run(model), strict=True):
        np.testing.assert_array_equal(x, y)


def test_first_convolutions_can_stay_fp32(tmp_path: Path) -> None:
    """``fp32_convs`` keeps the graph's first convolutions fp32 (their weights float, no SpaceToDepth rewrite
    of a kept stem); the others are int8, as without it."""
    from posekit.convert.quantize import quantize_onnx

    rng = np.random.default_rng(0)
    shapes = [("stem", (8, 3, 3, 3), 2), ("c2", (8, 8, 3, 3), 1), ("c3", (8, 8, 1, 1), 1),
              ("head", (4, 8, 1, 1), 1)]
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), f"{n}_w") for n, s, _ in shapes]
    nodes, x = [], "x"
    for name, shape, stride in shapes:
        pad = shape[2] // 2
        pads = [0, 0, 1, 1] if stride == 2 else [pad] * 4  # SAME on an even input: SpaceToDepth can take it
        nodes += [helper.make_node("Conv", [x, f"{name}_w"], [f"{name}_c"], name=name, strides=[stride] * 2,
                                   pads=pads),
                  helper.make_node("Relu", [f"{name}_c"], [f"{name}_r"], name=f"{name}_relu")]
        x = f"{name}_r"
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])
    out = helper.make_tensor_value_info(x, TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [inp], [out], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    feeds = [{"x": rng.uniform(0, 1, (1, 3, 16, 16)).astype(np.float32)} for _ in range(4)]

    def int8_convs(fp32_convs: int) -> tuple[dict[str, bool], int]:
        model = onnx.load_from_string(quantize_onnx(tmp_path / "m.onnx", feeds, fp32_convs=fp32_convs))
        dq = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
        convs = {n.name: n.input[1] in dq for n in model.graph.node if n.op_type == "Conv"}
        return convs, sum(n.op_type == "SpaceToDepth" for n in model.graph.node)

    # by default every convolution int8 (the last Relu is the graph's output layer, kept fp32), the stem
    # reading the image's SpaceToDepth
    assert int8_convs(0) == ({"stem": True, "c2": True, "c3": True, "head": True}, 1)
    assert int8_convs(2) == ({"stem": False, "c2": False, "c3": True, "head": True}, 0)
