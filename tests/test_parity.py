"""Parity of our TF.js -> ONNX conversion with the original TF.js graph models.

The reference is the pure-JS ``@tensorflow/tfjs`` CPU backend run by ``tools/tfjs-reference/run_model.js``
on byte-identical input. Every signature output must satisfy
``max|onnx - tfjs| <= 5e-3 * max|tfjs|`` for a real photo and for seeded random input.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "tools" / "tfjs-reference"
TOLERANCE = 5e-3

# model -> (input dtype, NHWC input shape, value range); ranges are plausible for each model's preprocessing.
MODELS: dict[str, tuple[str, tuple[int, ...], tuple[float, float]]] = {
    "movenet-lightning": ("int32", (1, 192, 192, 3), (0, 255)),
    "movenet-thunder": ("int32", (1, 256, 256, 3), (0, 255)),
    "movenet-multipose": ("int32", (1, 256, 256, 3), (0, 255)),
    "posenet": ("float32", (1, 385, 385, 3), (-1.0, 1.0)),
    "efficientpose": ("float32", (1, 368, 368, 3), (-1.0, 1.0)),
    "blazepose-detector": ("float32", (1, 224, 224, 3), (0.0, 1.0)),
    "blazepose-lite": ("float32", (1, 256, 256, 3), (0.0, 1.0)),
    "blazepose-full": ("float32", (1, 256, 256, 3), (0.0, 1.0)),
    "blazepose-heavy": ("float32", (1, 256, 256, 3), (0.0, 1.0)),
    "centernet": ("float32", (1, 512, 512, 3), (0.0, 255.0)),
    "nanodet": ("float32", (1, 3, 416, 416), (0.0, 1.0)),  # NCHW
}


def make_input(model: str, kind: str) -> np.ndarray:
    """The model's input: ``"photo"`` = skimage astronaut resized to fit, ``"random"`` = seeded uniform.
    A shape with 3 in dim 1 is NCHW (nanodet)."""
    dtype, shape, (lo, hi) = MODELS[model]
    if kind == "photo":
        from PIL import Image
        from skimage import data

        nchw = shape[1] == 3
        h, w = shape[2:4] if nchw else shape[1:3]
        image = Image.fromarray(data.astronaut()).resize((w, h), Image.BILINEAR)
        unit = np.asarray(image, np.float32)[None] / 255.0
        unit = unit.transpose(0, 3, 1, 2) if nchw else unit
    else:
        unit = np.random.default_rng(sum(map(ord, model))).random(shape, dtype=np.float32)
    if dtype == "int32":
        return np.round(unit * 255).astype(np.int32)
    return (lo + unit * (hi - lo)).astype(np.float32)


def run_reference(model_json: Path, x: np.ndarray, work: Path) -> dict[str, np.ndarray]:
    """Outputs of the TF.js CPU backend for input ``x``, keyed by signature output name."""
    work.mkdir(parents=True, exist_ok=True)
    x.tofile(work / "input.bin")
    (work / "input.json").write_text(json.dumps({"dtype": str(x.dtype), "shape": list(x.shape)}))
    subprocess.run(["node", str(HARNESS / "run_model.js"), str(model_json), str(work / "input.bin"),
                    str(work / "out"), "--backend", "cpu"], check=True, capture_output=True, timeout=600)
    index = json.loads((work / "out" / "index.json").read_text())
    return {o["name"]: np.fromfile(work / "out" / o["file"], np.float32).reshape(o["shape"])
            for o in index["outputs"]}


def run_onnx(model_json: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    from posekit.convert import convert_tfjs

    model = convert_tfjs(model_json)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: x}), strict=True))


def relative_errors(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, float]:
    """``max|ours - ref| / max|ref|`` per output (shapes and names must match exactly)."""
    assert list(ours) == list(ref), "outputs differ in names or order"
    errors = {}
    for name, r in ref.items():
        assert ours[name].shape == r.shape, f"{name}: shape {ours[name].shape} != reference {r.shape}"
        errors[name] = float(np.abs(ours[name].astype(np.float32) - r).max() / max(np.abs(r).max(), 1e-12))
    return errors


@pytest.fixture(scope="module")
def node_harness() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (HARNESS / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        pytest.skip(f"{HARNESS}/node_modules is absent (run `npm ci` there)")
    return HARNESS


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["photo", "random"])
@pytest.mark.parametrize("model", list(MODELS))
def test_onnx_matches_tfjs(model: str, kind: str, node_harness: Path, tmp_path: Path) -> None:
    from posekit import hub

    model_json = hub.model_json(model)
    x = make_input(model, kind)
    ref = run_reference(model_json, x, tmp_path)
    errors = relative_errors(run_onnx(model_json, x), ref)
    print(f"{model} {kind}: " + ", ".join(f"{k}={v:.2e}" for k, v in errors.items()))
    assert all(np.abs(r).max() > 0 for r in ref.values()), "reference output is all zeros"
    bad = {k: v for k, v in errors.items() if not v <= TOLERANCE}
    assert not bad, f"{model} {kind}: relative error above {TOLERANCE}: {bad}"


@pytest.mark.node
@pytest.mark.slow
def test_multipose_at_another_resolution(node_harness: Path, tmp_path: Path) -> None:
    """movenet-multipose has free H, W: the converted graph must follow TF.js at 192x320 too."""
    from posekit import hub

    model_json = hub.model_json("movenet-multipose")
    x = np.random.default_rng(3).integers(0, 256, (1, 192, 320, 3)).astype(np.int32)
    errors = relative_errors(run_onnx(model_json, x), run_reference(model_json, x, tmp_path))
    assert errors["output_0"] <= TOLERANCE, errors
