"""Score calibration of fine-tuned MoveNet exports (``posekit train calibrate``): the fit puts a sunk
export's joint scores back on the zoo model's scale, the runtime applies it without moving a keypoint, and
the metadata it reads is checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from posekit.errors import PosekitError  # noqa: E402

# How far the fixture sinks the heatmap logits (the face joints most, as an LSP fine-tune does).
FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
SINK_FACE, SINK_BODY = 2.5, 1.0


def _posekit(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "posekit", *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def photos(model_package: Path) -> list[np.ndarray]:
    """24 real photos: crops, scales and mirror images of the astronaut sample (512 x 512)."""
    from PIL import Image

    from posekit.samples import sample_image

    image = Image.open(sample_image()).convert("RGB")
    out = []
    for i in range(12):
        left, top, side = 8 * (i % 4), 10 * (i // 4), 512 - 40 - 12 * i
        crop = np.asarray(image.crop((left, top, left + side, top + side)).resize((256 - 8 * i, 256)))
        out += [crop, np.ascontiguousarray(crop[:, ::-1])]
    return out


@pytest.fixture(scope="module")
def sunk_export(tmp_path_factory: pytest.TempPathFactory, model_package: Path) -> Path:
    """A grown Lightning (LSP's neck and head top) as `posekit train export` writes it, with the heatmap
    heads' biases lowered by SINK_FACE (face joints) or SINK_BODY: a fine-tune whose scores sank."""
    from onnx import numpy_helper

    from posekit.models.movenet import GROWN_HEADS, HEADS
    from posekit.skeletons import COCO17, LSP14
    from posekit.train.pretrained import grow, resolve_init

    spec, zoo, _ = resolve_init("movenet-lightning")
    _, proto, _ = grow(spec, zoo, LSP14)
    producers = {o: n for n in proto.graph.node for o in n.output}
    inits = {t.name: t for t in proto.graph.initializer}
    for head, joints in ((HEADS[False][0], COCO17.keypoints), (GROWN_HEADS[0], ("neck", "head_top"))):
        conv = producers[producers[head].input[0]]
        bias = numpy_helper.to_array(inits[conv.input[2]])
        sink = np.array([SINK_FACE if j in FACE else SINK_BODY for j in joints], np.float32)
        inits[conv.input[2]].CopyFrom(numpy_helper.from_array(bias - sink, conv.input[2]))
    for key, value in (("posekit.kind", "finetuned"), ("posekit.base", "movenet-lightning"),
                       ("posekit.schema", "coco17+neck+head_top"), ("posekit.trained_on", "lsp14")):
        proto.metadata_props.add(key=key, value=value)
    path = tmp_path_factory.mktemp("calibrate") / "sunk.onnx"
    onnx.save(proto, str(path))
    return path


def _scores(path: str | Path, photos: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list]:
    """(N, K) joint scores, (N,) pose scores and the poses of a model on the photos."""
    from posekit.models.registry import load_model

    model = load_model(path, threads=1, min_score=0.0)
    poses = [model.predict(p) for p in photos]
    return np.array([p.scores[0] for p in poses]), np.array([p.pose_scores[0] for p in poses]), poses


def test_calibration_restores_the_zoo_scale_without_moving_keypoints(sunk_export: Path, photos, tmp_path):
    from posekit.train.calibrate import calibrate_export

    zoo, zoo_pose, _ = _scores("movenet-lightning", photos)
    before, before_pose, before_poses = _scores(sunk_export, photos)
    assert np.median(zoo_pose) > 0.25 > np.median(before_pose)  # the default threshold drops the sunk one
    fit = calibrate_export(sunk_export, photos, tmp_path / "calibrated.onnx")
    after, after_pose, after_poses = _scores(tmp_path / "calibrated.onnx", photos)
    # the fit undoes the sink of the zoo's 17 joints: the face ones' bias ~2.5, the others' ~1 (not exactly:
    # the sunk maps' balance against MoveNet's distance weighting picks a few other cells, and 24 similar
    # photos fit the scale loosely); the grown joints are matched to a proxy (neck: shoulders, head top: nose)
    face = np.isin(fit.joints[:17], FACE)
    assert (fit.bias[:17][face] > 2.0).all() and (np.abs(fit.bias[:17][~face] - SINK_BODY) < 0.6).all()
    assert (np.abs(fit.scale[:17] - 1) < 0.3).all()
    # the zoo's 17 joints score as the zoo's do again; the pose passes the default threshold
    np.testing.assert_allclose(np.median(after[:, :17], axis=0), np.median(zoo, axis=0), atol=0.03)
    np.testing.assert_allclose(np.median(after, axis=0), fit.after, atol=1e-4)  # what the runtime applies
    assert np.median(after_pose) > 0.25
    # ... and every keypoint is where it was
    for a, b in zip(before_poses, after_poses, strict=True):
        np.testing.assert_array_equal(a.xy, b.xy)
    # calibrating a calibrated export refits its uncalibrated scores: the same map
    again = calibrate_export(tmp_path / "calibrated.onnx", photos, tmp_path / "again.onnx")
    np.testing.assert_allclose(again.scale, fit.scale, rtol=1e-6)
    np.testing.assert_allclose(again.bias, fit.bias, rtol=1e-6, atol=1e-6)


def test_cli_calibrate(sunk_export: Path, photos, tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    for i, p in enumerate(photos):
        Image.fromarray(p).save(folder / f"{i:02d}.png")
    out = tmp_path / "calibrated.onnx"
    r = _posekit("train", "calibrate", str(sunk_export), "--photos", str(folder), "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    fit = json.loads(r.stdout)
    assert fit["method"] == "zoo-quantiles" and fit["photos"] == 24 and len(fit["joints"]) == 19
    stored = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(stored["posekit.score_calibration"]) == fit
    assert stored["posekit.base"] == "movenet-lightning"  # the export's own metadata is kept
    r = _posekit("train", "calibrate", str(out), "--photos", str(tmp_path / "none"), "--out", str(out))
    assert r.returncode != 0 and "--photos" in r.stderr and "Traceback" not in r.stderr


def test_calibrate_refuses_a_zoo_graph(tmp_path: Path, model_package: Path) -> None:
    from posekit.models.registry import get_spec, onnx_path
    from posekit.train.calibrate import calibrate_export

    photos = [np.zeros((64, 64, 3), np.uint8)] * 20
    with pytest.raises(PosekitError, match="not a posekit export of a single-pose MoveNet fine-tune"):
        calibrate_export(onnx_path(get_spec("movenet-lightning")), photos, tmp_path / "x.onnx")
    with pytest.raises(PosekitError, match="at least 20 photos"):
        calibrate_export(tmp_path / "x.onnx", photos[:3], tmp_path / "x.onnx")


def test_match_quantiles_recovers_an_affine_map() -> None:
    from posekit.train.calibrate import MIN_SCALE, match_quantiles

    x = np.random.default_rng(0).normal(size=1000)
    a, b = match_quantiles(x, 1.7 * x - 0.4)
    assert a == pytest.approx(1.7) and b == pytest.approx(-0.4)
    a, b = match_quantiles(x, 0.1 * x + 2)  # a map flatter than MIN_SCALE: the least scale, centres matched
    centre = np.mean(np.quantile(x, np.linspace(0.1, 0.9, 9)))
    assert a == MIN_SCALE and b == pytest.approx(2 + (0.1 - MIN_SCALE) * centre)


def test_calibrate_scores_maps_the_score_column_only() -> None:
    from posekit.decode.movenet import calibrate_scores

    rows = np.array([[[[0.2, 0.3, 0.5], [0.6, 0.7, 1 / (1 + np.exp(-1.0))]]]], np.float32)  # (1, 1, 2, 3)
    out = calibrate_scores(rows, np.array([1.0, 2.0], np.float32), np.array([1.0, -0.5], np.float32))
    np.testing.assert_array_equal(out[..., :2], rows[..., :2])
    np.testing.assert_allclose(out[0, 0, :, 2], [1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(-1.5))], rtol=1e-6)


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({}, None),
        ({"posekit.score_calibration": '{"joints": {"b": {"scale": 2, "bias": 0.5}}}'}, ([1, 2], [0, 0.5])),
        ({"posekit.score_calibration": '{"joints": {"a": {"scale": 0, "bias": 1}}}'}, "scale <= 0"),
        ({"posekit.score_calibration": '{"joints": {"a": {"bias": 1}}}'}, "metadata unreadable"),
        ({"posekit.score_calibration": "not json"}, "metadata unreadable"),
    ],
)
def test_score_calibration_metadata(meta: dict, expected) -> None:
    from posekit.models.movenet import score_calibration

    if isinstance(expected, str):
        with pytest.raises(PosekitError, match=expected):
            score_calibration(meta, ("a", "b"))
        return
    got = score_calibration(meta, ("a", "b"))
    if expected is None:
        assert got is None
    else:
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])


def test_export_calibrates_on_the_images_the_run_never_read(tmp_path: Path) -> None:
    """`posekit train export` calibrates a MoveNet fine-tune on its --data images between --limit and the
    held-out tail (the recipe: LSP 7,501-8,000), none when the run read them all."""
    from test_train_export import _lspet_folder

    from posekit.cli.train import _split, _unused_images

    spec = f"lspet:{_lspet_folder(tmp_path / 'lspet', 30)}"
    data = {"data": spec, "val_last": 4, "limit": 5}
    unused = [p.name for p in _unused_images(data)]
    assert unused == [f"im{i:05d}.jpg" for i in range(6, 27)]
    train, val = _split(data)
    assert not {s.image_path.name for s in train + val} & set(unused)
    assert _unused_images({"data": spec, "val_last": 4}) == []
    assert len(_unused_images({"data": spec, "limit": 20})) == 7  # val_fraction 0.1: the last 3 held out
