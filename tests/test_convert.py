"""Unit tests of posekit.convert: small hand-built TF.js graph models, converted and run in onnxruntime,
compared with an independent numpy computation of each TF op."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from posekit.convert import cached_onnx, convert_tfjs
from posekit.convert.cache import CONVERTER_VERSION
from posekit.convert.graph import load_tfjs
from posekit.errors import PosekitError

RNG = np.random.default_rng(7)
TF_TYPES = {np.dtype(np.float32): "DT_FLOAT", np.dtype(np.int32): "DT_INT32", np.dtype(np.bool_): "DT_BOOL"}


# -- attr helpers (model.json encoding) ------------------------------------------------------------
def i(v: int) -> dict:
    return {"i": str(v)}


def ints(*v: int) -> dict:
    return {"list": {"i": [str(x) for x in v]}}


def s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def strs(*texts: str) -> dict:
    return {"list": {"s": [base64.b64encode(t.encode()).decode() for t in texts]}}


def b(v: bool) -> dict:
    return {"b": v}


def t(name: str) -> dict:
    return {"type": name}


def write_model(folder: Path, inputs: dict[str, np.ndarray], consts: dict[str, np.ndarray],
                nodes: list[tuple[str, str, list[str], dict]], outputs: list[str],
                quantize: dict[str, dict] | None = None, shards: int = 1,
                input_shapes: dict[str, list[int]] | None = None) -> Path:
    """Write ``folder/model.json`` + weight shards: Placeholders for ``inputs``, Consts, then ``nodes``."""
    quantize = quantize or {}
    graph = []
    for name, x in inputs.items():
        shape = (input_shapes or {}).get(name, list(x.shape))
        graph.append({"name": name, "op": "Placeholder", "attr": {
            "dtype": t(TF_TYPES[x.dtype]), "shape": {"shape": {"dim": [{"size": str(d)} for d in shape]}}}})
    specs, blob = [], b""
    for name, value in consts.items():
        graph.append({"name": name, "op": "Const", "attr": {"dtype": t(TF_TYPES[value.dtype]), "value": {}}})
        spec = {"name": name, "shape": list(value.shape), "dtype": str(value.dtype)}
        q = quantize.get(name)
        if q is None:
            blob += value.tobytes()
        elif q["dtype"] == "float16":
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            blob += value.astype(np.float16).tobytes()
        else:
            spec["quantization"] = {"dtype": q["dtype"], "scale": q["scale"], "min": q["min"]}
            blob += q["q"].astype(q["dtype"]).tobytes()
        specs.append(spec)
    for name, op, ins, attr in nodes:
        graph.append({"name": name, "op": op, "input": ins, "attr": attr})
    cut = [0, *sorted(RNG.integers(1, max(len(blob), 2), shards - 1).tolist()), len(blob)]
    paths = []
    for k in range(shards):
        paths.append(f"group1-shard{k + 1}of{shards}.bin")
        (folder / paths[-1]).write_bytes(blob[cut[k]:cut[k + 1]])
    doc = {
        "format": "graph-model", "generatedBy": "test",
        "signature": {"outputs": {o: {"name": o if ":" in o else f"{o}:0"} for o in outputs}},
        "modelTopology": {"node": graph, "library": {}, "versions": {}},
        "weightsManifest": [{"paths": paths, "weights": specs}],
    }
    path = folder / "model.json"
    path.write_text(json.dumps(doc))
    return path


def run(model_json: Path, feeds: dict[str, np.ndarray], **kwargs: Any) -> list[np.ndarray]:
    model = convert_tfjs(model_json, **kwargs)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def one_op(tmp_path: Path, op: str, x: np.ndarray, consts: dict[str, np.ndarray] | None = None,
           attr: dict | None = None, extra_inputs: list[str] | None = None, outputs: list[str] | None = None,
           **kwargs: Any) -> list[np.ndarray]:
    """Graph ``x -> op(x, *consts) -> outputs`` (default output: the op node itself)."""
    consts = consts or {}
    nodes = [("y", op, ["x", *(extra_inputs if extra_inputs is not None else list(consts))], attr or {})]
    path = write_model(tmp_path, {"x": x}, consts, nodes, outputs or ["y"], **kwargs)
    return run(path, {"x": x})


# -- numpy references of TF semantics --------------------------------------------------------------
def same_pads(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    dk = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + dk - size, 0)
    return total // 2, total - total // 2


def np_conv(x: np.ndarray, w: np.ndarray, stride: int, padding: str, dilation: int = 1,
            depthwise: bool = False, pad_value: float = 0.0) -> np.ndarray:
    """TF conv2d / depthwise_conv2d in NHWC, float64."""
    kh, kw = w.shape[:2]
    if padding == "SAME":
        (t0, t1), (l0, l1) = (same_pads(x.shape[1], kh, stride, dilation),
                              same_pads(x.shape[2], kw, stride, dilation))
        x = np.pad(x, ((0, 0), (t0, t1), (l0, l1), (0, 0)), constant_values=pad_value)
    oh = (x.shape[1] - (kh - 1) * dilation - 1) // stride + 1
    ow = (x.shape[2] - (kw - 1) * dilation - 1) // stride + 1
    out = 0.0
    for a in range(kh):
        for c in range(kw):
            patch = x[:, a * dilation: a * dilation + (oh - 1) * stride + 1: stride,
                      c * dilation: c * dilation + (ow - 1) * stride + 1: stride].astype(np.float64)
            if depthwise:
                term = (patch[..., :, None] * w[a, c]).reshape(*patch.shape[:3], -1)
            else:
                term = patch @ w[a, c].astype(np.float64)
            out = out + term
    return out


def tf_bilinear(x: np.ndarray, oh: int, ow: int, align: bool, half: bool) -> np.ndarray:
    """TF ResizeBilinear, literally as tensorflow/core/kernels/image/resize_bilinear_op.cc computes it."""
    def axis(out: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scale = (size - 1) / (out - 1) if align and out > 1 else size / out
        pos = (np.arange(out) + 0.5) * scale - 0.5 if half else np.arange(out) * scale
        lower = np.maximum(np.floor(pos), 0).astype(int)
        upper = np.minimum(np.ceil(pos), size - 1).astype(int)
        return lower, upper, pos - np.floor(pos)

    (y0, y1, fy), (x0, x1, fx) = axis(oh, x.shape[1]), axis(ow, x.shape[2])
    fy, fx = fy[None, :, None, None], fx[None, None, :, None]
    top = x[:, y0][:, :, x0] * (1 - fx) + x[:, y0][:, :, x1] * fx
    bottom = x[:, y1][:, :, x0] * (1 - fx) + x[:, y1][:, :, x1] * fx
    return top * (1 - fy) + bottom * fy


# -- weights ---------------------------------------------------------------------------------------
def test_weights_dequantized_across_shards(tmp_path: Path) -> None:
    f32 = RNG.normal(size=(2, 3)).astype(np.float32)
    f16 = RNG.normal(size=(4,)).astype(np.float32)
    q8 = np.array([0, 1, 128, 255], np.uint8)
    q16 = np.array([0, 7, 65535], np.uint16)
    i32 = np.array([[-3, 5]], np.int32)
    quant = {"f16": {"dtype": "float16"},
             "u8": {"dtype": "uint8", "scale": 0.5, "min": -1.0, "q": q8},
             "u16": {"dtype": "uint16", "scale": 0.001, "min": 2.0, "q": q16}}
    consts = {"f32": f32, "f16": f16, "u8": np.zeros(4, np.float32), "u16": np.zeros(3, np.float32),
              "i32": i32}
    path = write_model(tmp_path, {"x": np.zeros(1, np.float32)}, consts, [], ["x"], quantize=quant, shards=3)
    weights = load_tfjs(path).weights
    np.testing.assert_array_equal(weights["f32"], f32)
    np.testing.assert_array_equal(weights["f16"], f16.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(weights["u8"], np.array([-1.0, -0.5, 63.0, 126.5], np.float32))
    expected_u16 = q16.astype(np.float32) * np.float32(0.001) + np.float32(2.0)
    np.testing.assert_array_equal(weights["u16"], expected_u16)
    assert weights["i32"].dtype == np.int32 and weights["i32"].tolist() == [[-3, 5]]
    assert weights["f16"].dtype == np.float32


def test_fp16_weights_become_fp32_initializers(tmp_path: Path) -> None:
    c = RNG.normal(size=(3,)).astype(np.float32)
    x = RNG.normal(size=(2, 3)).astype(np.float32)
    path = write_model(tmp_path, {"x": x}, {"c": c}, [("y", "AddV2", ["x", "c"], {})], ["y"],
                       quantize={"c": {"dtype": "float16"}})
    model = convert_tfjs(path)
    assert {init.data_type for init in model.graph.initializer} == {1}  # FLOAT
    (y,) = run(path, {"x": x})
    np.testing.assert_array_equal(y, x + c.astype(np.float16).astype(np.float32))


def test_signature_names_order_and_metadata(tmp_path: Path) -> None:
    x = RNG.normal(size=(2, 2)).astype(np.float32)
    nodes = [("a", "Abs", ["x"], {}), ("n", "Neg", ["x"], {}), ("Identity", "Identity", ["a"], {})]
    path = write_model(tmp_path, {"x": x}, {}, nodes, ["n", "Identity:0"])
    model = convert_tfjs(path, out=tmp_path / "m.onnx")
    assert [o.name for o in model.graph.output] == ["n", "Identity:0"]
    assert [i.name for i in model.graph.input] == ["x"]
    props = {p.key: p.value for p in model.metadata_props}
    digest = hashlib.sha256(path.read_bytes() + (tmp_path / "group1-shard1of1.bin").read_bytes()).hexdigest()
    assert props["source_sha256"] == digest
    assert json.loads(props["tfjs_signature"]) == json.loads(path.read_text())["signature"]
    assert model.opset_import[0].version == 17
    assert (tmp_path / "m.onnx").read_bytes() == model.SerializeToString()
    n, ident = run(path, {"x": x})
    np.testing.assert_array_equal(n, -x)
    np.testing.assert_array_equal(ident, np.abs(x))


# -- convolutions and pooling ----------------------------------------------------------------------
@pytest.mark.parametrize(("padding", "stride", "dilation"), [("SAME", 2, 1), ("VALID", 2, 1), ("SAME", 1, 2)])
def test_conv2d(tmp_path: Path, padding: str, stride: int, dilation: int) -> None:
    x = RNG.normal(size=(1, 7, 8, 3)).astype(np.float32)
    w = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
    attr = {"strides": ints(1, stride, stride, 1), "dilations": ints(1, dilation, dilation, 1),
            "padding": s(padding), "data_format": s("NHWC")}
    (y,) = one_op(tmp_path, "Conv2D", x, {"w": w}, attr)
    np.testing.assert_allclose(y, np_conv(x, w, stride, padding, dilation), rtol=1e-5, atol=1e-5)


def test_conv2d_explicit_padding(tmp_path: Path) -> None:
    x = RNG.normal(size=(1, 5, 5, 2)).astype(np.float32)
    w = RNG.normal(size=(3, 3, 2, 2)).astype(np.float32)
    attr = {"strides": ints(1, 1, 1, 1), "padding": s("EXPLICIT"),
            "explicit_paddings": ints(0, 0, 2, 0, 1, 1, 0, 0)}
    (y,) = one_op(tmp_path, "Conv2D", x, {"w": w}, attr)
    xp = np.pad(x, ((0, 0), (2, 0), (1, 1), (0, 0)))
    np.testing.assert_allclose(y, np_conv(xp, w, 1, "VALID"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("fused", "act"), [(("BiasAdd",), None), (("BiasAdd", "Relu6"), "relu6"),
                                            (("BiasAdd", "Relu"), "relu"), (("BiasAdd", "Prelu"), "prelu"),
                                            (("FusedBatchNorm", "Relu"), "bn_relu")])
def test_fused_conv2d(tmp_path: Path, fused: tuple[str, ...], act: str | None) -> None:
    x = (RNG.normal(size=(1, 6, 6, 3)) * 3).astype(np.float32)
    w = RNG.normal(size=(3, 3, 3, 5)).astype(np.float32)
    bias = RNG.normal(size=(5,)).astype(np.float32)
    consts = {"w": w, "bias": bias}
    expected = np_conv(x, w, 1, "SAME")
    if act == "bn_relu":
        scale, mean = RNG.random(5).astype(np.float32) + 0.5, RNG.normal(size=5).astype(np.float32)
        var = RNG.random(5).astype(np.float32) + 0.1
        consts.update(scale=scale, offset=bias, mean=mean, var=var)
        del consts["bias"]
        expected = np.maximum((expected - mean) / np.sqrt(var + 1e-3) * scale + bias, 0)
    else:
        expected = expected + bias
        if act == "relu6":
            expected = np.clip(expected, 0, 6)
        elif act == "relu":
            expected = np.maximum(expected, 0)
        elif act == "prelu":
            alpha = RNG.random(5).astype(np.float32)
            consts["alpha"] = alpha
            expected = np.where(expected > 0, expected, expected * alpha)
    attr = {"strides": ints(1, 1, 1, 1), "padding": s("SAME"), "fused_ops": strs(*fused),
            "num_args": i(len(consts) - 1), "epsilon": {"f": 1e-3}}
    (y,) = one_op(tmp_path, "_FusedConv2D", x, consts, attr)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("op", "padding", "stride"), [("DepthwiseConv2dNative", "SAME", 2),
                                                       ("FusedDepthwiseConv2dNative", "VALID", 1)])
def test_depthwise(tmp_path: Path, op: str, padding: str, stride: int) -> None:
    x = RNG.normal(size=(1, 7, 7, 3)).astype(np.float32)
    w = RNG.normal(size=(3, 3, 3, 2)).astype(np.float32)  # channel multiplier 2
    consts = {"w": w}
    expected = np_conv(x, w, stride, padding, depthwise=True)
    attr = {"strides": ints(1, stride, stride, 1), "padding": s(padding)}
    if op.startswith("Fused"):
        consts["bias"] = RNG.normal(size=(6,)).astype(np.float32)
        attr.update(fused_ops=strs("BiasAdd", "Relu6"), num_args=i(1))
        expected = np.clip(expected + consts["bias"], 0, 6)
    (y,) = one_op(tmp_path, op, x, consts, attr)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("padding", "in_hw", "out_hw"), [
    ("SAME", (3, 4), (6, 8)), ("SAME", (3, 3), (5, 5)), ("VALID", (3, 3), (7, 7)), ("VALID", (2, 3), (6, 8))])
def test_conv2d_backprop_input_is_adjoint_of_conv(tmp_path: Path, padding: str, in_hw: tuple[int, int],
                                                  out_hw: tuple[int, int]) -> None:
    """TF's transposed conv is the adjoint of the forward conv: build the forward conv as a matrix."""
    cin, cout, k, stride = 2, 3, 3, 2
    w = RNG.normal(size=(k, k, cin, cout)).astype(np.float32)  # forward filter: out_hw x cin -> in_hw x cout
    dy = RNG.normal(size=(1, *in_hw, cout)).astype(np.float32)
    basis = np.eye(out_hw[0] * out_hw[1] * cin).reshape(-1, 1, *out_hw, cin)
    forward = np.stack([np_conv(e, w, stride, padding).reshape(-1) for e in basis])  # (n_in, n_out)
    assert np_conv(basis[0], w, stride, padding).shape[1:3] == in_hw
    expected = (forward @ dy.reshape(-1).astype(np.float64)).reshape(1, *out_hw, cin)
    sizes = np.array([1, *out_hw, cin], np.int32)
    nodes = [("y", "Conv2DBackpropInput", ["sizes", "w", "x"],
              {"strides": ints(1, stride, stride, 1), "padding": s(padding)})]
    path = write_model(tmp_path, {"x": dy}, {"sizes": sizes, "w": w}, nodes, ["y"])
    (y,) = run(path, {"x": dy})
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_conv2d_backprop_input_dynamic_sizes(tmp_path: Path) -> None:
    """Output size computed in-graph (Shape * 2), as efficientpose does: same result as constant sizes."""
    w = RNG.normal(size=(3, 3, 2, 4)).astype(np.float32)
    dy = RNG.normal(size=(1, 5, 5, 4)).astype(np.float32)
    nodes = [("shape", "Shape", ["x"], {"out_type": t("DT_INT32")}),  # [1, 5, 5, 4]
             ("scaled", "Mul", ["shape", "mult"], {"T": t("DT_INT32")}),
             ("sizes", "AddV2", ["scaled", "addc"], {"T": t("DT_INT32")}),  # [1, 10, 10, 2]
             ("y", "Conv2DBackpropInput", ["sizes", "w", "x"],
              {"strides": ints(1, 2, 2, 1), "padding": s("SAME")})]
    consts = {"w": w, "mult": np.array([1, 2, 2, 0], np.int32), "addc": np.array([0, 0, 0, 2], np.int32)}
    path = write_model(tmp_path, {"x": dy}, consts, nodes, ["y"])
    (y,) = run(path, {"x": dy})
    basis = np.eye(10 * 10 * 2).reshape(-1, 1, 10, 10, 2)
    forward = np.stack([np_conv(e, w, 2, "SAME").reshape(-1) for e in basis])
    expected = (forward @ dy.reshape(-1).astype(np.float64)).reshape(1, 10, 10, 2)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("padding", "k", "stride"), [("SAME", 5, 1), ("SAME", 2, 2), ("VALID", 3, 2)])
def test_max_pool(tmp_path: Path, padding: str, k: int, stride: int) -> None:
    x = RNG.normal(size=(1, 7, 9, 2)).astype(np.float32)
    attr = {"ksize": ints(1, k, k, 1), "strides": ints(1, stride, stride, 1), "padding": s(padding)}
    (y,) = one_op(tmp_path, "MaxPool", x, attr=attr)
    if padding == "SAME":
        (t0, t1), (l0, l1) = same_pads(7, k, stride), same_pads(9, k, stride)
        x = np.pad(x, ((0, 0), (t0, t1), (l0, l1), (0, 0)), constant_values=-np.inf)
    oh, ow = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    windows = [x[:, a: a + (oh - 1) * stride + 1: stride, c: c + (ow - 1) * stride + 1: stride]
               for a in range(k) for c in range(k)]
    np.testing.assert_array_equal(y, np.max(windows, axis=0))


# -- resize and depth-to-space ---------------------------------------------------------------------
@pytest.mark.parametrize(("align", "half", "out_hw"), [(False, True, (9, 14)), (True, False, (9, 14)),
                                                       (False, False, (9, 14)), (False, True, (3, 2))])
def test_resize_bilinear(tmp_path: Path, align: bool, half: bool, out_hw: tuple[int, int]) -> None:
    x = RNG.normal(size=(2, 4, 6, 3)).astype(np.float32)
    attr = {"align_corners": b(align), "half_pixel_centers": b(half)}
    (y,) = one_op(tmp_path, "ResizeBilinear", x, {"size": np.array(out_hw, np.int32)}, attr)
    expected = tf_bilinear(x.astype(np.float64), *out_hw, align, half)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_depth_to_space(tmp_path: Path) -> None:
    x = np.arange(1 * 2 * 3 * 8, dtype=np.float32).reshape(1, 2, 3, 8)
    (y,) = one_op(tmp_path, "DepthToSpace", x, attr={"block_size": i(2), "data_format": s("NHWC")})
    expected = x.reshape(1, 2, 3, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(1, 4, 6, 2)
    np.testing.assert_array_equal(y, expected)
    assert y[0, 0, 1].tolist() == [2.0, 3.0] and y[0, 1, 0].tolist() == [4.0, 5.0]


# -- element-wise maths, reductions, ArgMax, TopK --------------------------------------------------
def test_sigmoid_is_accurate_in_the_tails(tmp_path: Path) -> None:
    x = np.array([-60.0, -26.0, -5.0, 0.0, 3.0, 40.0], np.float32)
    (y,) = one_op(tmp_path, "Sigmoid", x)
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-6, atol=0)


@pytest.mark.parametrize(("op", "fn"), [
    ("AddV2", np.add), ("Sub", np.subtract), ("Mul", np.multiply), ("RealDiv", np.divide),
    ("Maximum", np.maximum), ("Minimum", np.minimum), ("SquaredDifference", lambda a, c: (a - c) ** 2),
    ("Greater", np.greater), ("GreaterEqual", np.greater_equal), ("Less", np.less), ("Equal", np.equal),
])
def test_binary_broadcast(tmp_path: Path, op: str, fn: Any) -> None:
    x = np.round(RNG.normal(size=(2, 3, 4)), 1).astype(np.float32)
    c = np.round(RNG.normal(size=(4,)), 1).astype(np.float32)
    c[0] = x[0, 0, 0]  # an exact tie for the comparisons
    (y,) = one_op(tmp_path, op, x, {"c": c})
    np.testing.assert_allclose(y, fn(x, c).astype(y.dtype), rtol=1e-6)


def test_unary_and_cast(tmp_path: Path) -> None:
    x = np.array([[-7.5, -1.0, 0.25, 4.0, 9.0]], np.float32)
    nodes = [("abs", "Abs", ["x"], {}), ("sqrt", "Sqrt", ["abs"], {}), ("exp", "Exp", ["x"], {}),
             ("rec", "Reciprocal", ["x"], {}), ("relu", "Relu", ["x"], {}), ("relu6", "Relu6", ["x"], {}),
             ("pos", "Greater", ["x", "zero"], {}), ("neg", "Less", ["x", "zero"], {}),
             ("and", "LogicalAnd", ["pos", "neg"], {}),
             ("as_f", "Cast", ["pos"], {"SrcT": t("DT_BOOL"), "DstT": t("DT_FLOAT")}),
             ("as_i", "Cast", ["x"], {"SrcT": t("DT_FLOAT"), "DstT": t("DT_INT32")})]
    outs = ["sqrt", "exp", "rec", "relu", "relu6", "and", "as_f", "as_i"]
    path = write_model(tmp_path, {"x": x}, {"zero": np.zeros((), np.float32)}, nodes, outs)
    sqrt, exp, rec, relu, relu6, both, as_f, as_i = run(path, {"x": x})
    np.testing.assert_allclose(sqrt, np.sqrt(np.abs(x)), rtol=1e-6)
    np.testing.assert_allclose(exp, np.exp(x), rtol=1e-6)
    np.testing.assert_allclose(rec, 1 / x, rtol=1e-6)
    assert relu.tolist() == [[0, 0, 0.25, 4, 9]] and relu6.tolist() == [[0, 0, 0.25, 4, 6]]
    assert both.tolist() == [[False] * 5] and as_f.tolist() == [[0, 0, 1, 1, 1]]
    assert as_i.dtype == np.int32 and as_i.tolist() == [[-7, -1, 0, 4, 9]]  # truncation toward 0, as TF


def test_floor_div_int_and_float(tmp_path: Path) -> None:
    x = np.array([7, -7, 7, -7, 0, 6, -6], np.int32)
    d = np.array([2, 2, -2, -2, 3, 3, 3], np.int32)
    nodes = [("q", "FloorDiv", ["x", "d"], {"T": t("DT_INT32")}),
             ("xf", "Cast", ["x"], {"DstT": t("DT_FLOAT")}), ("df", "Cast", ["d"], {"DstT": t("DT_FLOAT")}),
             ("qf", "FloorDiv", ["xf", "df"], {"T": t("DT_FLOAT")})]
    path = write_model(tmp_path, {"x": x}, {"d": d}, nodes, ["q", "qf"])
    q, qf = run(path, {"x": x})
    assert q.dtype == np.int32 and q.tolist() == np.floor_divide(x, d).tolist() == [3, -4, -4, 3, 0, 2, -2]
    assert qf.tolist() == [3, -4, -4, 3, 0, 2, -2]


def test_add_n_select_and_reductions(tmp_path: Path) -> None:
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    cond_rows = np.array([True, False, True])
    nodes = [("sum3", "AddN", ["x", "x", "c"], {"N": i(3), "T": t("DT_FLOAT")}),
             ("pos", "Greater", ["x", "zero"], {}),
             ("sel", "Select", ["pos", "x", "c"], {}),
             ("selrows", "Select", ["rows", "x", "c"], {}),  # TF v1 Select: a vector picks whole rows
             ("max", "Max", ["x", "ax1"], {"keep_dims": b(False)}),
             ("sum", "Sum", ["x", "ax0"], {"keep_dims": b(True)}),
             ("argmax", "ArgMax", ["x", "ax1"], {"output_type": t("DT_INT32")})]
    consts = {"c": np.full((3, 4), 10, np.float32), "zero": np.zeros((), np.float32), "rows": cond_rows,
              "ax1": np.array(1, np.int32), "ax0": np.array([0], np.int32)}
    path = write_model(tmp_path, {"x": x}, consts, nodes, ["sum3", "sel", "selrows", "max", "sum", "argmax"])
    sum3, sel, selrows, mx, sm, am = run(path, {"x": x})
    np.testing.assert_allclose(sum3, 2 * x + 10, rtol=1e-6)
    np.testing.assert_array_equal(sel, np.where(x > 0, x, 10))
    np.testing.assert_array_equal(selrows, np.where(cond_rows[:, None], x, 10))
    np.testing.assert_array_equal(mx, x.max(1))
    np.testing.assert_allclose(sm, x.sum(0, keepdims=True), rtol=1e-6)
    assert am.dtype == np.int32 and am.tolist() == x.argmax(1).tolist()


def test_argmax_ties_and_top_k(tmp_path: Path) -> None:
    x = np.array([[1.0, 9.0, 9.0, 2.0, 5.0, 0.5]], np.float32)
    nodes = [("am", "ArgMax", ["x", "ax"], {"output_type": t("DT_INT32")}),
             ("tk", "TopKV2", ["x", "k"], {"sorted": b(True)}),
             ("idx", "Identity", ["tk:1"], {})]
    consts = {"ax": np.array(-1, np.int32), "k": np.array(3, np.int32)}
    path = write_model(tmp_path, {"x": x}, consts, nodes, ["am", "tk", "idx"])
    am, values, idx = run(path, {"x": x})
    assert am.tolist() == [1]  # first of the tied maxima, as TF
    assert values.tolist() == [[9.0, 9.0, 5.0]]
    assert idx.dtype == np.int32 and idx.tolist() == [[1, 2, 4]]  # ties: lower index first, as TF


# -- shape ops --------------------------------------------------------------------------------------
def test_shape_size_reshape_squeeze_expand(tmp_path: Path) -> None:
    x = RNG.normal(size=(2, 1, 3, 4)).astype(np.float32)
    nodes = [("shape", "Shape", ["x"], {"out_type": t("DT_INT32")}),
             ("size", "Size", ["x"], {"out_type": t("DT_INT32")}),
             ("resh", "Reshape", ["x", "newshape"], {}),
             ("sq", "Squeeze", ["x"], {"squeeze_dims": ints(1)}),
             ("sqall", "Squeeze", ["x"], {"squeeze_dims": ints()}),
             ("ex", "ExpandDims", ["sq", "minus1"], {})]
    consts = {"newshape": np.array([4, -1], np.int32), "minus1": np.array(-1, np.int32)}
    path = write_model(tmp_path, {"x": x}, consts, nodes, ["shape", "size", "resh", "sq", "sqall", "ex"])
    shape, size, resh, sq, sqall, ex = run(path, {"x": x})
    assert shape.dtype == np.int32 and shape.tolist() == [2, 1, 3, 4]
    assert size.dtype == np.int32 and size.tolist() == 24
    np.testing.assert_array_equal(resh, x.reshape(4, -1))
    np.testing.assert_array_equal(sq, x[:, 0])
    np.testing.assert_array_equal(sqall, x[:, 0])
    np.testing.assert_array_equal(ex, x[:, 0, :, :, None])


def test_pack_unpack_concat_split(tmp_path: Path) -> None:
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    nodes = [("un", "Unpack", ["x"], {"axis": i(1), "num": i(3)}),
             ("pk", "Pack", ["un:2", "un", "un:1"], {"axis": i(-1), "N": i(3)}),
             ("cat", "ConcatV2", ["x", "x", "axm1"], {"N": i(2)}),
             ("sp", "Split", ["ax2", "x"], {"num_split": i(2)}),
             ("sp1", "Identity", ["sp:1"], {})]
    consts = {"axm1": np.array(-1, np.int32), "ax2": np.array(2, np.int32)}
    path = write_model(tmp_path, {"x": x}, consts, nodes, ["pk", "cat", "sp", "sp1"])
    pk, cat, sp0, sp1 = run(path, {"x": x})
    np.testing.assert_array_equal(pk, np.stack([x[:, 2], x[:, 0], x[:, 1]], axis=-1))
    np.testing.assert_array_equal(cat, np.concatenate([x, x], axis=-1))
    np.testing.assert_array_equal(sp0, x[..., :2])
    np.testing.assert_array_equal(sp1, x[..., 2:])


def test_tile_fill_range_pad_gather_nd(tmp_path: Path) -> None:
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    nodes = [("tile", "Tile", ["x", "mult"], {}),
             ("fill", "Fill", ["dims", "val"], {}),
             ("rng", "Range", ["start", "limit", "delta"], {}),
             ("pad", "Pad", ["x", "pads"], {}),
             ("g", "GatherNd", ["x", "idx"], {})]
    consts = {"mult": np.array([2, 1], np.int32), "dims": np.array([2, 2], np.int32),
              "val": np.array(1.5, np.float32), "start": np.array(0.5, np.float32),
              "limit": np.array(3.0, np.float32), "delta": np.array(0.75, np.float32),
              "pads": np.array([[1, 0], [0, 2]], np.int32), "idx": np.array([[1, 2], [0, 0]], np.int32)}
    path = write_model(tmp_path, {"x": x}, consts, nodes, ["tile", "fill", "rng", "pad", "g"])
    tile, fill, rng, pad, g = run(path, {"x": x})
    np.testing.assert_array_equal(tile, np.tile(x, (2, 1)))
    assert fill.tolist() == [[1.5, 1.5], [1.5, 1.5]]
    np.testing.assert_allclose(rng, [0.5, 1.25, 2.0, 2.75])
    np.testing.assert_array_equal(pad, np.pad(x, ((1, 0), (0, 2))))
    assert g.tolist() == [5, 0]


def test_floor_mod_int_and_float(tmp_path: Path) -> None:
    """FloorMod takes the divisor's sign (Python's %), unlike C fmod; centernet uses it on peak indices."""
    x = np.array([7, -7, 7, -7, 0, 6, -6], np.int32)
    d = np.array([2, 2, -2, -2, 3, 4, 4], np.int32)
    nodes = [("m", "FloorMod", ["x", "d"], {"T": t("DT_INT32")}),
             ("xf", "Cast", ["x"], {"DstT": t("DT_FLOAT")}), ("df", "Cast", ["d"], {"DstT": t("DT_FLOAT")}),
             ("mf", "FloorMod", ["xf", "df"], {"T": t("DT_FLOAT")})]
    path = write_model(tmp_path, {"x": x}, {"d": d}, nodes, ["m", "mf"])
    m, mf = run(path, {"x": x})
    assert m.dtype == np.int32 and m.tolist() == np.mod(x, d).tolist() == [1, 1, -1, -1, 0, 2, 2]
    assert mf.tolist() == [1, 1, -1, -1, 0, 2, 2]


@pytest.mark.parametrize("sizes", [[2, 3, 1], [2, -1], [-1, 2], [1, -1, 2], [6]])
def test_split_v(tmp_path: Path, sizes: list[int]) -> None:
    x = RNG.normal(size=(2, 6, 3)).astype(np.float32)
    nodes = [("sp", "SplitV", ["x", "sizes", "axis"], {"num_split": i(len(sizes))}),
             *[(f"part{k}", "Identity", [f"sp:{k}"], {}) for k in range(len(sizes))]]
    consts = {"sizes": np.array(sizes, np.int32), "axis": np.array(1, np.int32)}
    path = write_model(tmp_path, {"x": x}, consts, nodes, [f"part{k}" for k in range(len(sizes))])
    parts = run(path, {"x": x})
    known = sum(v for v in sizes if v >= 0)
    cuts = np.cumsum([v if v >= 0 else 6 - known for v in sizes])[:-1]
    for got, want in zip(parts, np.split(x, cuts, axis=1), strict=True):
        np.testing.assert_array_equal(got, want)


def test_split_v_two_unknown_sizes_is_an_error(tmp_path: Path) -> None:
    x = np.zeros((4,), np.float32)
    consts = {"sizes": np.array([-1, -1], np.int32), "axis": np.array(0, np.int32)}
    with pytest.raises(PosekitError, match="more than one size is -1"):
        one_op(tmp_path, "SplitV", x, consts, {"num_split": i(2)})


def test_sparse_to_dense(tmp_path: Path) -> None:
    """Scalar, vector and (n, rank) indices; nanodet builds Pad paddings this way (an empty index list)."""
    x = np.array([5.0, 7.0], np.float32)
    nodes = [("vec", "SparseToDense", ["idx1", "shape1", "x", "dflt"], {}),
             ("mat", "SparseToDense", ["idx2", "shape2", "x", "dflt"], {}),
             ("one", "SparseToDense", ["idx0", "shape1", "val", "dflt"], {}),
             ("none", "SparseToDense", ["empty", "shape3", "val", "dflt"], {})]
    consts = {"idx1": np.array([3, 0], np.int32), "shape1": np.array([5], np.int32),
              "idx2": np.array([[0, 1], [2, 0]], np.int32), "shape2": np.array([3, 2], np.int32),
              "idx0": np.array(2, np.int32), "val": np.array(9.0, np.float32),
              "empty": np.zeros((0,), np.int32), "shape3": np.array([3], np.int32),
              "dflt": np.array(-1.0, np.float32)}
    path = write_model(tmp_path, {"x": x}, consts, nodes, ["vec", "mat", "one", "none"])
    vec, mat, one, none = run(path, {"x": x})
    assert vec.tolist() == [7, -1, -1, 5, -1]
    assert mat.tolist() == [[-1, 5], [-1, -1], [7, -1]]
    assert one.tolist() == [-1, -1, 9, -1, -1]
    assert none.tolist() == [-1, -1, -1]


def test_gather_v2_pad_v2_transpose_leaky_relu_mean(tmp_path: Path) -> None:
    """The other ops the detector graphs use, each against numpy."""
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    nodes = [("g", "GatherV2", ["x", "idx", "ax1"], {"batch_dims": i(0)}),
             ("p", "PadV2", ["x", "pads", "fill"], {}),
             ("tr", "Transpose", ["x", "perm"], {}),
             ("lr", "LeakyRelu", ["x"], {"alpha": {"f": 0.1}}),
             ("mean", "Mean", ["x", "ax12"], {"keep_dims": b(True)}),
             ("eq", "Equal", ["x", "tr_back"], {}),
             ("tr_back", "Transpose", ["tr", "perm_back"], {})]
    consts = {"idx": np.array([2, 0, 2], np.int32), "ax1": np.array(1, np.int32),
              "pads": np.array([[0, 0], [1, 0], [0, 2]], np.int32), "fill": np.array(-7.0, np.float32),
              "perm": np.array([2, 0, 1], np.int32), "perm_back": np.array([1, 2, 0], np.int32),
              "ax12": np.array([1, 2], np.int32)}
    path = write_model(tmp_path, {"x": x}, consts, nodes, ["g", "p", "tr", "lr", "mean", "eq"])
    g, p, tr, lr, mean, eq = run(path, {"x": x})
    np.testing.assert_array_equal(g, x[:, [2, 0, 2]])
    np.testing.assert_array_equal(p, np.pad(x, ((0, 0), (1, 0), (0, 2)), constant_values=-7))
    np.testing.assert_array_equal(tr, x.transpose(2, 0, 1))
    np.testing.assert_allclose(lr, np.where(x > 0, x, 0.1 * x), rtol=1e-6)
    np.testing.assert_allclose(mean, x.mean(axis=(1, 2), keepdims=True), rtol=1e-5)
    assert eq.all()


# (begin, end, strides, masks (begin, end, ellipsis, new_axis, shrink), numpy index)
SLICES = [
    ([1], [3], [1], (0, 0, 0, 0, 0), np.s_[1:3]),
    ([0, 1], [0, 4], [1, 2], (1, 1, 0, 0, 0), np.s_[:, 1:4:2]),
    ([1, 0], [2, 0], [1, 1], (0, 2, 0, 0, 1), np.s_[1, :]),
    ([-1], [0], [1], (0, 0, 0, 0, 1), np.s_[-1]),
    ([0, 0, 0], [0, 0, 0], [1, 1, -1], (7, 7, 0, 0, 0), np.s_[:, :, ::-1]),
    ([0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], (11, 11, 0, 4, 0), np.s_[:, :, None, :]),
    ([0, 0, 0], [0, 0, 0], [1, 1, 1], (3, 3, 0, 4, 0), np.s_[:, :, None]),
    ([0, 0, 1], [0, 0, 3], [1, 1, 1], (0, 0, 1, 2, 0), np.s_[..., None, 1:3]),
    ([0, 0, 2], [0, 0, 3], [1, 1, 1], (1, 1, 2, 0, 4), np.s_[:, ..., 2]),
    ([3, 0], [0, 0], [-2, 1], (0, 2, 0, 0, 0), np.s_[3:0:-2, :]),
]


@pytest.mark.parametrize(("begin", "end", "strides", "masks", "index"), SLICES)
def test_strided_slice(tmp_path: Path, begin: list[int], end: list[int], strides: list[int],
                       masks: tuple[int, ...], index: Any) -> None:
    x = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    keys = ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask")
    consts = {"b": np.array(begin, np.int32), "e": np.array(end, np.int32), "s": np.array(strides, np.int32)}
    (y,) = one_op(tmp_path, "StridedSlice", x, consts, {k: i(m) for k, m in zip(keys, masks, strict=True)})
    np.testing.assert_array_equal(y, x[index])


# -- inputs, errors, cache -------------------------------------------------------------------------
def test_input_shapes_make_a_conv_graph_resolution_free(tmp_path: Path) -> None:
    w = RNG.normal(size=(3, 3, 3, 2)).astype(np.float32)
    nodes = [("y", "Conv2D", ["x", "w"], {"strides": ints(1, 2, 2, 1), "padding": s("SAME")})]
    x = RNG.normal(size=(1, 8, 8, 3)).astype(np.float32)
    path = write_model(tmp_path, {"x": x}, {"w": w}, nodes, ["y"])
    model = convert_tfjs(path, input_shapes={"x:0": [1, None, None, 3]})
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 0, 0, 3] and dims[1].dim_param
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for hw in [(8, 8), (11, 6)]:
        z = RNG.normal(size=(1, *hw, 3)).astype(np.float32)
        (y,) = session.run(None, {"x": z})
        np.testing.assert_allclose(y, np_conv(z, w, 2, "SAME"), rtol=1e-5, atol=1e-5)
    with pytest.raises(PosekitError, match="'image'.*not an input"):
        convert_tfjs(path, input_shapes={"image": [1, None, None, 3]})
    with pytest.raises(PosekitError, match="rank 3"):
        convert_tfjs(path, input_shapes={"x": [None, None, 3]})


def test_cut_a_graph_into_two_parts(tmp_path: Path) -> None:
    """cut_inputs / cut_outputs convert part of a graph: x -> a = x * 2 -> b = relu(a) -> y = b + 1.
    The first part ends at b (batch dim free), the second starts at b; chained they give y."""
    x = RNG.normal(size=(1, 4)).astype(np.float32)
    nodes = [("a", "Mul", ["x", "two"], {}), ("b", "Relu", ["a"], {}), ("y", "AddV2", ["b", "one"], {})]
    path = write_model(tmp_path, {"x": x}, {"two": np.float32(2), "one": np.float32(1)}, nodes, ["y"])
    first = convert_tfjs(path, cut_inputs={"a": [None, 4]}, cut_outputs=["b"])
    second = convert_tfjs(path, cut_inputs={"b": [None, 4]})
    assert [i.name for i in first.graph.input] == ["a"] and [o.name for o in first.graph.output] == ["b"]
    assert [i.name for i in second.graph.input] == ["b"]
    batch = RNG.normal(size=(3, 4)).astype(np.float32)
    run1 = ort.InferenceSession(first.SerializeToString(), providers=["CPUExecutionProvider"])
    run2 = ort.InferenceSession(second.SerializeToString(), providers=["CPUExecutionProvider"])
    (b_,) = run1.run(None, {"a": batch})
    (y,) = run2.run(None, {"b": b_})
    np.testing.assert_allclose(y, np.maximum(batch, 0) + 1)
    with pytest.raises(PosekitError, match="no node named 'nope' to cut the graph at"):
        convert_tfjs(path, cut_outputs=["nope"])


def test_unknown_op_names_op_and_node(tmp_path: Path) -> None:
    x = np.zeros((2,), np.float32)
    path = write_model(tmp_path, {"x": x}, {}, [("my/node", "Atan2", ["x", "x"], {})], ["my/node"])
    with pytest.raises(PosekitError, match=r"node my/node uses TF op Atan2"):
        convert_tfjs(path)


def test_missing_shard_and_bad_json(tmp_path: Path) -> None:
    path = write_model(tmp_path, {"x": np.zeros(1, np.float32)}, {"c": np.ones(3, np.float32)},
                       [("y", "AddV2", ["x", "c"], {})], ["y"])
    (tmp_path / "group1-shard1of1.bin").unlink()
    with pytest.raises(PosekitError, match="group1-shard1of1.bin: weight shard missing"):
        convert_tfjs(path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PosekitError, match="bad.json: cannot read TF.js model.json"):
        convert_tfjs(bad)


def test_cached_onnx_converts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSEKIT_HOME", str(tmp_path / "home"))
    src = tmp_path / "src"
    src.mkdir()
    x = RNG.normal(size=(1, 4, 4, 3)).astype(np.float32)
    path = write_model(src, {"x": x}, {"c": np.ones(3, np.float32)}, [("y", "AddV2", ["x", "c"], {})], ["y"])
    digest = load_tfjs(path).sha256
    first = cached_onnx(path)
    version = f"c{CONVERTER_VERSION}"
    assert first == tmp_path / "home" / "onnx" / f"model-{digest[:16]}-{version}.onnx"
    stamp = first.stat().st_mtime_ns
    assert cached_onnx(path) == first and first.stat().st_mtime_ns == stamp
    tagged = cached_onnx(path, input_shapes={"x": [1, None, None, 3]})
    assert tagged.name == f"model-{digest[:16]}-x-1xNxNx3-{version}.onnx"
    # each file has its hash record and lock file; nothing else (no temp files) is left in the cache folder
    names = [p.name for p in (first, tagged)]
    assert sorted(p.name for p in first.parent.iterdir()) == sorted(
        n + ext for n in names for ext in ("", ".sha256", ".lock"))
    session = ort.InferenceSession(str(tagged), providers=["CPUExecutionProvider"])
    z = RNG.normal(size=(1, 5, 7, 3)).astype(np.float32)
    np.testing.assert_array_equal(session.run(None, {"x": z})[0], z + 1)
