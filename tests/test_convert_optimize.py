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

# fold_zero_pads: the layouts the converter writes (TF: NHWC Pad, then the NCHW Transpose; PyTorch-born graphs
# such as nanodet: an NCHW Pad, then a Transpose pair the converter leaves for onnxruntime to cancel), each
# with the pads given in the input's own axis order.
LAYOUTS = {
    "nhwc": ((1, 9, 8, 3), [[0, 3, 1, 2]]),
    "nchw-pair": ((1, 3, 9, 8), [[0, 2, 3, 1], [0, 3, 1, 2]]),
    "nchw": ((1, 3, 9, 8), []),
}


def _pad_conv_model(pad_value: float, pads: list[int], layout: str, extra_reader: bool = False):
    """input -> Pad (``pad_value``) -> the layout's Transposes -> 3x3 stride-2 Conv (NCHW)."""
    from onnx import TensorProto, helper, numpy_helper

    shape, perms = LAYOUTS[layout]
    channel_axis = 3 if layout == "nhwc" else 1
    rng = np.random.default_rng(0)
    channels = shape[channel_axis] + pads[channel_axis] + pads[channel_axis + 4]
    inits = [numpy_helper.from_array(np.array(pads, np.int64), "pads"),
             numpy_helper.from_array(np.array(pad_value, np.float32), "value"),
             numpy_helper.from_array(rng.normal(size=(4, channels, 3, 3)).astype(np.float32), "w")]
    nodes = [helper.make_node("Pad", ["x", "pads", "value"], ["t0"], mode="constant")]
    for k, perm in enumerate(perms):
        nodes.append(helper.make_node("Transpose", [f"t{k}"], [f"t{k + 1}"], perm=perm))
    nodes.append(helper.make_node("Conv", [f"t{len(perms)}", "w"], ["y"], strides=[2, 2]))
    free = ["n", "c", "h", "w"]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, free)]
    if extra_reader:  # the padded tensor is read by something else too: the Pad must stay
        nodes.append(helper.make_node("Relu", [f"t{len(perms)}"], ["r"]))
        outputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, None))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    graph = helper.make_graph(nodes, "g", [x], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("pad_value, spatial, folded", [
    (0.0, (1, 1, 1, 1), 1),
    (0.0, (0, 2, 1, 0), 1),  # asymmetric: top 0, left 2, bottom 1, right 0
    (1.0, (1, 1, 1, 1), 0),  # not zeros: the convolution's pads cannot hold it
    (0.0, None, 0),  # pads the channels too
    (0.0, "extra", 0),  # the padded tensor has another reader
])
def test_fold_zero_pads_is_exact_and_only_folds_spatial_zero_padding(layout, pad_value, spatial, folded):
    import onnxruntime as ort

    from posekit.convert.optimize import fold_zero_pads

    h, w = (1, 2) if layout == "nhwc" else (2, 3)
    channel = 3 if layout == "nhwc" else 1
    pads = [0] * 8
    top, left, bottom, right = spatial if isinstance(spatial, tuple) else (1, 1, 1, 1)
    pads[h], pads[w], pads[h + 4], pads[w + 4] = top, left, bottom, right
    if spatial is None:
        pads[channel] = 1
    model = _pad_conv_model(pad_value, pads, layout, extra_reader=spatial == "extra")
    x = np.random.default_rng(1).normal(size=LAYOUTS[layout][0]).astype(np.float32)

    def run(m):
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"x": x})

    before = run(model)
    assert fold_zero_pads(model) == folded
    assert sum(n.op_type == "Pad" for n in model.graph.node) == 1 - folded
    if folded:
        conv = next(n for n in model.graph.node if n.op_type == "Conv")
        assert list(next(a for a in conv.attribute if a.name == "pads").ints) == [top, left, bottom, right]
    for got, ref in zip(run(model), before, strict=True):
        np.testing.assert_array_equal(got, ref)


# uint8_image_input, output_logits, constant_resize_scales: the rewrites of posekit's BlazePose graphs

def _image_conv_model(sigmoid: str = "chain") -> onnx.ModelProto:
    """float NHWC image -> Transpose -> Conv -> sizes from the shape, Resize x2 -> sigmoid -> Identity."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(size=(2, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([8, 10], np.int64), "hw"),
             numpy_helper.from_array(np.array([0], np.int64), "s0"),
             numpy_helper.from_array(np.array([1], np.int64), "e0"),
             numpy_helper.from_array(np.array([1], np.int64), "s1"),
             numpy_helper.from_array(np.array([2], np.int64), "e1"),
             numpy_helper.from_array(np.array(1, np.float32), "one")]
    nodes = [helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["nchw", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Shape", ["c"], ["shape"]),
             helper.make_node("Slice", ["shape", "s0", "e0"], ["batch"]),
             helper.make_node("Slice", ["shape", "s1", "e1"], ["channels"]),
             helper.make_node("Concat", ["batch", "channels", "hw"], ["sizes"], axis=0),
             helper.make_node("Resize", ["c", "", "", "sizes"], ["up"], mode="linear",
                              coordinate_transformation_mode="half_pixel")]
    if sigmoid == "chain":  # the converter's form
        nodes += [helper.make_node("Neg", ["up"], ["neg"]), helper.make_node("Exp", ["neg"], ["exp"]),
                  helper.make_node("Add", ["exp", "one"], ["den"]),
                  helper.make_node("Reciprocal", ["den"], ["sig"])]
    elif sigmoid == "op":
        nodes.append(helper.make_node("Sigmoid", ["up"], ["sig"]))
    else:
        nodes.append(helper.make_node("Relu", ["up"], ["sig"]))
    nodes.append(helper.make_node("Identity", ["sig"], ["prob"]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 4, 5, 3])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["n", 2, "h", "w"]),
         helper.make_tensor_value_info("c", TensorProto.FLOAT, ["n", 2, 4, 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _run_named(model: onnx.ModelProto, feed: np.ndarray) -> dict[str, np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"image": feed}), strict=True))


# BlazePose's landmark graph, then its detector
@pytest.mark.parametrize("scale, offset", [(1 / 255, 0.0), (1 / 127.5, -1.0)])
def test_uint8_input_normalises_in_the_graph_bit_for_bit(scale, offset):
    from posekit.convert.optimize import uint8_image_input

    model = _image_conv_model()
    pixels = RNG.integers(0, 256, (2, 4, 5, 3)).astype(np.uint8)
    normalised = np.multiply(pixels, np.float32(scale), dtype=np.float32)
    if offset:
        normalised = np.subtract(normalised, np.float32(-offset))  # how BlazePose's detector had it
    want = _run_named(model, normalised)
    uint8_image_input(model, scale, offset)
    onnx.checker.check_model(model)
    assert model.graph.input[0].name == "image"
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    got = _run_named(model, pixels)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value)


@pytest.mark.parametrize("sigmoid", ["chain", "op", "relu"])
def test_output_logits_gives_the_value_before_the_sigmoid(sigmoid):
    from posekit.convert.optimize import output_logits

    model = _image_conv_model(sigmoid)
    x = RNG.normal(size=(1, 4, 5, 3)).astype(np.float32)
    want = _run_named(model, x)
    if sigmoid == "relu":
        with pytest.raises(ValueError, match="not a sigmoid"):
            output_logits(model, "prob", "logits")
        return
    output_logits(model, "prob", "logits")
    onnx.checker.check_model(model)
    assert [o.name for o in model.graph.output] == ["c", "logits"]
    assert not {"Neg", "Exp", "Reciprocal", "Sigmoid", "Identity"} & {n.op_type for n in model.graph.node}
    got = _run_named(model, x)
    np.testing.assert_array_equal(got["c"], want["c"])
    np.testing.assert_allclose(1 / (1 + np.exp(-got["logits"])), want["prob"], atol=1e-6)


def test_resize_sizes_from_the_shape_become_constant_scales():
    from posekit.convert.optimize import constant_resize_scales

    model = _image_conv_model("op")
    x = RNG.normal(size=(2, 4, 5, 3)).astype(np.float32)  # batch 2: the batch size stays free
    want = _run_named(model, x)
    assert constant_resize_scales(model) == 1
    onnx.checker.check_model(model)
    resize = next(n for n in model.graph.node if n.op_type == "Resize")
    scales = next(t for t in model.graph.initializer if t.name == resize.input[2])
    np.testing.assert_array_equal(numpy_helper.to_array(scales), [1, 1, 2, 2])
    assert not {"Shape", "Slice", "Concat"} & {n.op_type for n in model.graph.node}
    got = _run_named(model, x)
    assert got["prob"].shape == (2, 2, 8, 10)
    np.testing.assert_allclose(got["prob"], want["prob"], atol=1e-6)
    changed = _image_conv_model("op")  # the height comes from elsewhere than the Resize's input: kept
    next(n for n in changed.graph.node if n.op_type == "Shape").input[0] = "nchw"
    assert constant_resize_scales(changed) == 0


def _resize_then_conv(layout: str, kernel: int = 1, mode: str = "linear", readers: int = 1
                      ) -> onnx.ModelProto:
    """x (1, 5, 6, 8) NHWC -> Resize x2 (constant scales) -> [Transpose to NCHW] -> Conv (kernel, bias)."""
    nhwc = layout == "nhwc"
    scales = [1, 2, 2, 1] if nhwc else [1, 1, 2, 2]
    inits = [numpy_helper.from_array(np.array(scales, np.float32), "scales"),
             numpy_helper.from_array(RNG.normal(size=(3, 8, kernel, kernel)).astype(np.float32), "w"),
             numpy_helper.from_array(RNG.normal(size=3).astype(np.float32), "b")]
    nodes = [helper.make_node("Resize", ["x" if nhwc else "xt", "", "scales"], ["up"], mode=mode,
                              coordinate_transformation_mode="half_pixel")]
    if nhwc:
        nodes.append(helper.make_node("Transpose", ["up"], ["upt"], perm=[0, 3, 1, 2]))
    else:
        nodes.insert(0, helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]))
    nodes.append(helper.make_node("Conv", ["upt" if nhwc else "up", "w", "b"], ["y"],
                                  pads=[kernel // 2] * 4))
    free = ["n", "c", "h", "w"]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, free)]
    if readers == 2:  # the upsampled map is needed elsewhere too
        nodes.append(helper.make_node("Relu", ["up"], ["other"]))
        outputs.append(helper.make_tensor_value_info("other", TensorProto.FLOAT, free))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 6, 8])
    graph = helper.make_graph(nodes, "g", [x], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_pointwise_conv_moves_before_the_resize_with_the_same_result(layout, mode):
    from posekit.convert.optimize import pointwise_before_resize

    model = _resize_then_conv(layout, mode=mode)
    x = RNG.normal(size=(1, 5, 6, 8)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x})[0]
    assert pointwise_before_resize(model) == 1
    onnx.checker.check_model(model)
    ops = [n.op_type for n in model.graph.node]
    assert ops.index("Conv") < ops.index("Resize")  # the convolution now reads the small map
    resize = next(n for n in model.graph.node if n.op_type == "Resize")
    scales = next(t for t in model.graph.initializer if t.name == resize.input[2])
    np.testing.assert_array_equal(numpy_helper.to_array(scales), [1, 1, 2, 2])  # in the conv's layout
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    assert got.shape == want.shape == (1, 3, 10, 12)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel, readers", [(3, 1), (1, 2)])
def test_pointwise_move_leaves_wider_kernels_and_shared_maps(kernel, readers):
    from posekit.convert.optimize import pointwise_before_resize

    model = _resize_then_conv("nhwc", kernel, readers=readers)
    before = model.SerializeToString()
    assert pointwise_before_resize(model) == 0
    assert model.SerializeToString() == before


def test_needed_nodes_stop_at_fed_tensors_and_name_a_missing_one() -> None:
    from onnx import TensorProto, helper

    from posekit.convert.optimize import needed_nodes
    from posekit.errors import PosekitError

    value = helper.make_tensor_value_info
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="first"),
             helper.make_node("Neg", ["a"], ["b"], name="second"),
             helper.make_node("Add", ["b", "w"], ["c"], name="third"),
             helper.make_node("Abs", ["x"], ["unused"], name="other")]
    w = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph(nodes, "g", [value("x", TensorProto.FLOAT, [1])],
                              [value("c", TensorProto.FLOAT, [1])], [w])
    assert [n.name for n in needed_nodes(graph, ["c"])] == ["first", "second", "third"]
    assert [n.name for n in needed_nodes(graph, ["c"], ["a"])] == ["second", "third"]
    with pytest.raises(PosekitError, match="'missing': no such tensor"):
        needed_nodes(graph, ["missing"])
    with pytest.raises(PosekitError, match="'x': no such tensor"):  # the cut does not separate it
        needed_nodes(graph, ["c", "unused"], ["a"])


# space_to_depth_convs: stride-2 convolutions over the RGB image become a stride-1 convolution over the
# image's 2x2 SpaceToDepth (12 channels), for onnxruntime's int8 kernels.
def _stem_model(kernel: int, height: int, width: int, channels: int = 3, stride: int = 2,
                **pads) -> onnx.ModelProto:
    """x (1, C, H, W) -> Conv(kernel, stride, pads or auto_pad) with a bias -> Relu."""
    w = numpy_helper.from_array(RNG.normal(size=(8, channels, kernel, kernel)).astype(np.float32), "w")
    b = numpy_helper.from_array(RNG.normal(size=8).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], strides=[stride, stride], **pads),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, height, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "h", "w"])], [w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("kernel, pads, height, width", [
    (3, {"auto_pad": "SAME_UPPER"}, 12, 10),  # TF's 'same' stem (MoveNet): pads (0, 1) on each axis
    (3, {"auto_pad": "SAME_LOWER"}, 8, 8),  # pads (1, 0): odd top padding, not rewritten
    (3, {"pads": [0, 0, 1, 1]}, 12, 10),  # the same stem, its Pad folded into explicit pads
    (3, {}, 12, 10),  # 'valid'
    (5, {"pads": [2, 2, 2, 2]}, 12, 16),
    (7, {"pads": [2, 0, 3, 1]}, 14, 10),
    (2, {}, 8, 12),
    (4, {"pads": [2, 2, 1, 1]}, 10, 10),
])
def test_space_to_depth_conv_is_exact(kernel, pads, height, width):
    from posekit.convert.optimize import space_to_depth_convs

    model = _stem_model(kernel, height, width, **pads)
    x = RNG.normal(size=(1, 3, height, width)).astype(np.float32)
    want = run_x(model, x)
    rewritten = space_to_depth_convs(model)
    onnx.checker.check_model(model)
    assert rewritten == (pads.get("auto_pad") != "SAME_LOWER")
    if rewritten:
        assert [n.op_type for n in model.graph.node] == ["SpaceToDepth", "Conv", "Relu"]
        w = next(t for t in model.graph.initializer if t.name.startswith("w"))
        assert list(w.dims) == [8, 12, (kernel + 1) // 2, (kernel + 1) // 2]
    got = run_x(model, x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("kernel, height, width, channels, stride", [
    (3, 12, 10, 8, 2),  # 8 channels: onnxruntime's int8 kernels take them as they are
    (3, 12, 11, 3, 2),  # odd width
    (3, 12, 10, 3, 1),  # stride 1
])
def test_space_to_depth_leaves_other_convolutions(kernel, height, width, channels, stride):
    from posekit.convert.optimize import space_to_depth_convs

    model = _stem_model(kernel, height, width, channels, stride, pads=[1, 1, 1, 1])
    before = model.SerializeToString()
    assert space_to_depth_convs(model) == 0
    assert model.SerializeToString() == before


def run_x(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]


@pytest.mark.network
def test_space_to_depth_on_the_real_lightning_network(shared_data):
    """MoveNet Lightning's network part: the RGB stem is rewritten, and the heads equal the original's on
    real photos within float rounding."""
    import posekit
    from posekit.convert.optimize import space_to_depth_convs
    from posekit.images import read_image
    from posekit.samples import sample_image

    lightning = posekit.load_model("movenet-lightning", threads=1)
    model = onnx.load(str(lightning.runner.path))
    sessions = [ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])]
    assert space_to_depth_convs(model) == 1
    sessions.append(ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]))
    photos = [sample_image(), *sorted((shared_data / "lspet-train" / "images").glob("im0800*.jpg"))[:3]]
    for photo in photos:
        rgb = read_image(photo).rgb
        rgb = np.ascontiguousarray(rgb[: rgb.shape[0] * 2 // 3])  # off-centre too: padding on one side
        feed = lightning.session_input(lightning.preprocess(rgb)[0])
        for got, want in zip(sessions[1].run(None, feed), sessions[0].run(None, feed), strict=True):
            np.testing.assert_allclose(got, want, rtol=0, atol=5e-5 * np.abs(want).max())
