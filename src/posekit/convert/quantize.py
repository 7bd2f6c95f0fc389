"""Static int8 quantization of a converted model with onnxruntime's quantization tools.

QDQ format, weights int8 per output channel (7-bit outside depthwise layers, see below), activations uint8
per tensor, ranges calibrated (min/max) on real photos run through the model's own preprocessing. Only the
encoder is quantized: convolutions and what joins them (``QUANTIZED_OPS``) up to the first upsampling. Kept
fp32, by measurement:
- the decoder (every layer downstream of the first Resize: MoveNet's feature pyramid and heads). Quantized,
  MultiPose lost 3.7-7.6 COCO AP on the development sets; kept fp32, 0.2-0.4, for about the same speed-up;
- the layers that feed the decoding ops (``head_nodes``), and those ops themselves (MoveNet's centre
  weighting, arg-max, gathers): their int8 forms are slower than fp32, and they carry the coordinates.
Not kept fp32: the first convolution, on the RGB image: quantizing its output instead of the image (whose
0..255 integers uint8 holds exactly) cost Lightning 1.9 COCO AP on coco-mini-train. Its int8 kernel over 3
channels is slower than fp32 (onnxruntime's fast int8 convolutions need a multiple of 4 input channels), so
it is first rewritten exactly as a stride-1 convolution over the image's 2x2 SpaceToDepth, 12 channels
(``posekit.convert.optimize.space_to_depth_convs``): on Lightning 0.6 -> 0.35 ms, less ~0.15 ms for the
rearrangement and a layout transpose: the int8 session 0-2% faster (Thunder: even; MultiPose, whose
input size is free, keeps its stem).

Kept fp32 for some models (``FP32_CONVS``): their first two convolutions, where that bought accuracy for
little speed (Thunder, EfficientPose).

On an x86 CPU without VNNI (``paired_weight_bits``), weights are 7-bit (-64..63) in every convolution but
the depthwise ones (``paired_convs``): onnxruntime's u8 x s8 kernels there add pairs of products over input
channels in 16 bits (VPMADDUBSW), and two large activations (up to 255) times two large weights (up to 127)
overflow it; with 7-bit weights they cannot. With VNNI (VPDPBUSD sums in 32 bits) and elsewhere the weights
keep 8 bits. Depthwise kernels pair no channels, and 7 bits cost them accuracy. On such a CPU, against 8-bit
weights: MultiPose coco-mini AP 8.5 -> 18.9 (fp32 20.5), mmpose-coco 21.9 -> 49.5 (47.9); Lightning LSP
PCK@0.2 55.6 -> 56.1, coco-mini AP 28.7 -> 30.5 (fp32 57.8, 31.5). 7-bit depthwise weights too cost Lightning
1.1 PCK and 4.1 AP more.

Before quantizing, element-wise ops with a per-channel constant whose values are all equal (MoveNet's input
normalisation ``(x - [0, 0, 0]) * [1/127.5] * 3``) take a scalar instead (``scalar_constants``): the int8
graph runs NHWC around its QLinearConvs, and onnxruntime broadcasts a (1, 1, 1, 3) constant element by
element (1.6 ms per op on MultiPose's 256 x 256 input, a tenth of the int8 session) where a scalar is one
vectorised pass.

The int8 file lives in the model cache next to the fp32 one, ``<fp32 stem>-int8-q<N>w<bits>-<hash[:12]>.onnx``
(hash of the fp32 file and the calibration photos; bits: ``paired_weight_bits``), so a new source, converter,
quantizer, calibration set or CPU kind never reuses a stale file; it has the same hash record and
self-healing as the fp32 cache (``posekit.convert.cache.cached_file``).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.convert.cache import cached_file, file_digest
from posekit.errors import PosekitError

PRECISIONS = ("fp32", "int8")
QUANTIZER_VERSION = 10
QUANTIZED_OPS = ("Conv", "Add", "Concat", "Resize", "Relu", "Clip", "MaxPool", "AveragePool")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Zoo models whose first convolutions stay fp32 (``quantize_onnx``'s fp32_convs), by measurement (AVX-512
# VNNI, one thread; PCK@0.2 on LSP Extended 7,001-8,000 with ground-truth boxes, the tuning split, and COCO
# AP on the development sets): Thunder int8 - fp32 LSP -0.11 -> +0.02, coco-mini +0.08 -> +0.60, for 2.1x
# -> 2.0x fp32's speed; EfficientPose LSP -0.77 -> -0.45 for 1.69x -> 1.67x. Lightning (speed-up 1.5x, the
# least margin), MultiPose and PoseNet gained nothing consistent from it.
FP32_CONVS = {"movenet-thunder": 2, "efficientpose": 2}


def default_calibration() -> list[NDArray[np.uint8]]:
    """The fixed default calibration set: scikit-image's two public-domain photos of people (astronaut
    Eileen Collins; the cameraman), each whole, as three crops around the person and mirrored: 16 images."""
    try:
        from skimage import data
    except ImportError:
        raise PosekitError("int8 calibration needs photos: pip install 'posekit[demo]' (scikit-image ships "
                           "the default set), or pass --calibration DIR with your own photos") from None
    photos = [data.astronaut(), np.repeat(data.camera()[:, :, None], 3, axis=2)]
    out = []
    for rgb in photos:
        h, w = rgb.shape[:2]
        crops = [rgb, rgb[: h * 3 // 4, w // 8: w * 7 // 8], rgb[h // 8:, : w * 3 // 4],
                 rgb[h // 4:, w // 4:]]
        for crop in crops:
            crop = np.ascontiguousarray(crop)
            out += [crop, np.ascontiguousarray(crop[:, ::-1])]
    return out


def calibration_files(folder: str | Path, limit: int = 64, flag: str = "--calibration") -> list[Path]:
    """Up to ``limit`` photos of ``folder`` (sorted by name, evenly spread); ``flag`` names it in errors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PosekitError(f"{flag} {folder}: no such folder; give a folder of photos of people")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise PosekitError(f"{flag} {folder}: no images (.jpg, .png, ...) in it")
    picks = [files[i] for i in np.linspace(0, len(files) - 1, min(limit, len(files))).round().astype(int)]
    return list(dict.fromkeys(picks))


def files_key(files: Sequence[Path]) -> str:
    """What identifies a folder's calibration set without reading the photos: each file's name, size and
    modification time (a changed photo changes them; the cache key then changes)."""
    h = hashlib.sha256()
    for path in files:
        st = path.stat()
        h.update(f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def calibration_hash(images: Sequence[NDArray[np.uint8]]) -> str:
    h = hashlib.sha256()
    for rgb in images:
        h.update(np.asarray(rgb.shape, np.int64).tobytes())
        h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def paired_weight_bits(cpuinfo: str | None = None, machine: str | None = None) -> int:
    """Bits of the int8 weights of convolutions that sum over input channels, for this CPU: 7 on x86 without
    VNNI (onnxruntime's u8 x s8 kernels there add pairs of products in 16 bits, which 8-bit weights
    overflow), else 8. ``POSEKIT_INT8_WEIGHT_BITS`` (7 or 8) overrides; ``cpuinfo`` / ``machine``: for tests
    (default: /proc/cpuinfo, ``platform.machine()``; x86 without /proc/cpuinfo: 7, the safe side)."""
    import os
    import platform
    import re

    forced = os.environ.get("POSEKIT_INT8_WEIGHT_BITS")
    if forced in ("7", "8"):
        return int(forced)
    machine = (machine if machine is not None else platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "x86", "i386", "i686"):
        return 8
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return 7
    return 8 if re.search(r"\b(avx512_vnni|avx_vnni)\b", cpuinfo) else 7


def quantize_onnx(fp32: Path, feeds: Sequence[dict[str, NDArray]], ops: Sequence[str] = QUANTIZED_OPS,
                  weight_bits: int = 8, fp32_convs: int = 0) -> bytes:
    """The int8 QDQ model (serialized) of ``fp32``, calibrated on ``feeds`` (session input dicts);
    ``weight_bits`` 7: 7-bit weights in the convolutions that pair input channels (``paired_convs``);
    ``fp32_convs``: the graph's first convolutions kept fp32 (and in their own form: a stem kept fp32 is not
    rewritten over SpaceToDepth)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from posekit.convert.optimize import space_to_depth_convs

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory(prefix="posekit-quant-") as tmp:
        pre, out = Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        model = onnx.load(str(pre))
        first = [n.name for n in model.graph.node if n.op_type == "Conv"][:fp32_convs]
        if scalar_constants(model) + space_to_depth_convs(model, skip=set(first)):
            onnx.save(model, str(pre))
        fp32_nodes = set(head_nodes(pre, ops)) | set(decoder_nodes(pre)) | set(first)
        overrides = seven_bit_weights(paired_convs(model, fp32_nodes)) if weight_bits == 7 else {}
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(ops), nodes_to_exclude=sorted(fp32_nodes),
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"TensorQuantOverrides": overrides} if overrides else None)
        return out.read_bytes()


def paired_convs(model, exclude: set[str] | frozenset[str] = frozenset()) -> dict[str, int]:
    """The convolutions (not in ``exclude``) whose int8 kernels sum products over input channels, i.e. all
    but depthwise ones: {weight name: output channels}."""
    from onnx import numpy_helper

    weights = {t.name: t for t in model.graph.initializer}
    found = {}
    for node in model.graph.node:
        if node.op_type != "Conv" or node.name in exclude or node.input[1] not in weights:
            continue
        shape = numpy_helper.to_array(weights[node.input[1]]).shape
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if group == 1 or shape[1] > 1:
            found[node.input[1]] = shape[0]
    return found


def seven_bit_weights(convs: dict[str, int]) -> dict[str, list[dict]]:
    """``quantize_static``'s per-channel overrides giving ``convs`` 7-bit weights (-64..63)."""
    return {name: [{"reduce_range": True, "axis": 0}] + [{"reduce_range": True}] * (channels - 1)
            for name, channels in convs.items()}


def scalar_constants(model) -> int:
    """Rewrite in place each element-wise op's constant input whose values are all equal into a scalar, where
    the other input's shape (from shape inference) shows the result keeps its shape. Returns how many."""
    from onnx import numpy_helper

    from posekit.convert.optimize import ELEMENTWISE, value_shapes

    graph = model.graph
    consts = {t.name: t for t in graph.initializer}
    shapes = value_shapes(graph)
    added: dict[str, str] = {}
    count = 0
    for node in graph.node:
        if node.op_type not in ELEMENTWISE or len(node.input) != 2:
            continue
        for i, name in enumerate(node.input):
            other = shapes.get(node.input[1 - i])
            if name not in consts or other is None:
                continue
            value = numpy_helper.to_array(consts[name])
            if value.size < 2 or not np.all(value == value.flat[0]) or not _covers(other, value.shape):
                continue
            if name not in added:
                added[name] = f"{name}/scalar"
                graph.initializer.append(numpy_helper.from_array(np.array(value.flat[0], value.dtype),
                                                                 added[name]))
            node.input[i] = added[name]
            count += 1
    used = {name for node in graph.node for name in node.input}
    for name in added:  # the per-channel originals, unless another node still reads them
        if name not in used:
            graph.initializer.remove(consts[name])
    return count


def _covers(shape: list[int | None], const: tuple[int, ...]) -> bool:
    """Whether a tensor of ``shape`` broadcast with a constant of shape ``const`` keeps ``shape``."""
    if len(const) > len(shape):
        return False
    return all(c == 1 or s == c for s, c in zip(shape[len(shape) - len(const):], const, strict=True))


def head_nodes(path: Path, ops: Sequence[str]) -> list[str]:
    """The last layers: nodes of ``ops`` whose output feeds the decoder (an op outside ``ops``) or is a
    graph output. They stay fp32: 256 levels of a heatmap's logits make ties that move the arg-max."""
    import onnx

    graph = onnx.load(str(path)).graph
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    outputs = {o.name for o in graph.output}
    return [node.name for node in graph.node if node.op_type in ops and any(
        out in outputs or any(op not in ops for op in consumers.get(out, [])) for out in node.output)]


def decoder_nodes(path: Path) -> list[str]:
    """Every node downstream of the graph's first Resize (upsampling): the decoder of an encoder-decoder
    network. None where the graph has no Resize."""
    import onnx

    graph = onnx.load(str(path)).graph
    first = next((n for n in graph.node if n.op_type == "Resize"), None)
    if first is None:
        return []
    tainted = set(first.output)
    found = []
    for node in graph.node:  # ONNX graphs list nodes in topological order
        if any(name in tainted for name in node.input):
            tainted.update(node.output)
            found.append(node.name)
    return found


def quantized_onnx(model, calibration: str | Path | None = None) -> Path:
    """The cached int8 file for a loaded single-session ``model`` (its ``runner``, ``preprocess`` and
    ``input_name``), quantizing on first use with ``calibration`` (a folder of photos; None: the default
    set)."""
    from posekit.hub import cache_dir

    if calibration is None:
        images = default_calibration()  # 16 small arrays: hashed as they are
        key = calibration_hash(images)
    else:  # a user's folder is read only when the int8 file is built (not on every load)
        files = calibration_files(calibration)
        key = f"files:{files_key(files)}"
    fp32 = Path(model.runner.path)
    digest = hashlib.sha256(f"{file_digest(fp32)} {key}".encode()).hexdigest()
    bits = paired_weight_bits()
    path = cache_dir() / "onnx" / f"{fp32.stem}-int8-q{QUANTIZER_VERSION}w{bits}-{digest[:12]}.onnx"

    def build() -> bytes:
        from posekit.images import read_image

        photos = images if calibration is None else [read_image(p).rgb for p in files]
        def feed(tensor: NDArray) -> dict[str, NDArray]:
            if hasattr(model, "session_input"):  # the runner's own input form (MoveNet's network part)
                return model.session_input(tensor)
            return {model.input_name: tensor}

        feeds = [feed(model.preprocess(rgb)[0]) for rgb in photos]
        name = getattr(getattr(model, "spec", None), "name", "")
        return quantize_onnx(fp32, feeds, weight_bits=bits, fp32_convs=FP32_CONVS.get(name, 0))

    return cached_file(path, build, what=f"{fp32.name} and the calibration photos")
