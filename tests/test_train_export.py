"""ONNX export: onnxruntime matches torch, metadata round-trips, the CLI runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # several threads on a shared, busy CPU spin-wait and run many times slower

import onnxruntime as ort  # noqa: E402

from posekit.errors import PosekitError  # noqa: E402
from posekit.train.checkpoint import save_checkpoint  # noqa: E402
from posekit.train.export import export_onnx, model_from_checkpoint, read_heatmap_model_meta  # noqa: E402
from posekit.train.generator import MEAN, STD  # noqa: E402
from posekit.train.models import config_to_dict, create_model, get_config  # noqa: E402


def random_checkpoint(path: Path, name: str, k: int = 14, seed: int = 0) -> dict:
    """A checkpoint of a randomly initialised model with non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    cfg = get_config(name)
    model = create_model(cfg, k)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    ckpt = {
        "model_config": config_to_dict(cfg), "num_keypoints": k, "schema": "lsp14",
        "codec": {"input_size": cfg.input_size, "heatmap_size": cfg.output_size, "sigma": 1.0},
        "mean": MEAN, "std": STD, "epoch": 3, "model": model.state_dict(),
        "history": [{"epoch": 3, "val_pck": 0.625}],
    }  # fmt: skip
    save_checkpoint(path, ckpt)
    return ckpt


@pytest.mark.parametrize("name", ["hourglass-tiny", "hourglass-xs", "efficientpose-s"])
def test_onnxruntime_matches_torch(name: str, tmp_path: Path) -> None:
    ckpt = random_checkpoint(tmp_path / "model.pt", name)
    out = export_onnx(tmp_path / "model.pt", tmp_path / "model.onnx")
    h, w = ckpt["codec"]["input_size"]
    x = np.random.default_rng(1).normal(size=(3, 3, h, w)).astype(np.float32)  # batch 3: dynamic batch axis
    with torch.no_grad():
        expected = model_from_checkpoint(ckpt)(torch.from_numpy(x))[-1].numpy()
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["image"]
    got = sess.run(["heatmaps"], {"image": x})[0]
    assert got.shape == (3, 14, *ckpt["codec"]["heatmap_size"])
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert out.stat().st_size < 8 * 1024 * 1024


def test_metadata_round_trip(tmp_path: Path) -> None:
    random_checkpoint(tmp_path / "run" / "best.pt", "hourglass-tiny")
    out = export_onnx(tmp_path / "run", tmp_path / "m.onnx")  # a run folder means its best.pt
    meta = read_heatmap_model_meta(out)
    assert meta == {
        "kind": "heatmap", "model": "hourglass-tiny", "schema": "lsp14", "input_size": (32, 32),
        "heatmap_size": (16, 16), "mean": MEAN, "std": STD, "color": "RGB",
        "decoder": "heatmap-argmax-quadratic", "crop_enlarge": 1.3, "sigma": 1.0, "val_pck": 0.625,
    }  # fmt: skip
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_read_meta_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(PosekitError, match="x.onnx"):
        read_heatmap_model_meta(bad)
    random_checkpoint(tmp_path / "m.pt", "hourglass-tiny")
    import onnx

    out = export_onnx(tmp_path / "m.pt", tmp_path / "m.onnx")
    proto = onnx.load(out)
    del proto.metadata_props[:]
    onnx.save(proto, tmp_path / "plain.onnx")
    with pytest.raises(PosekitError, match="posekit train export"):
        read_heatmap_model_meta(tmp_path / "plain.onnx")


def _lspet_folder(root: Path, n: int) -> Path:
    """A tiny LSPET-layout folder: joints.mat (14 x 3 x n) and images/im00001.jpg ... with dots at joints."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    joints = np.zeros((14, 3, n))
    for i in range(n):
        xy = rng.uniform(10, 70, (14, 2))
        img = Image.new("RGB", (80, 80), (90, 90, 90))
        draw = ImageDraw.Draw(img)
        for j, (x, y) in enumerate(xy):
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(18 * j, 255 - 18 * j, 128))
        img.save(root / "images" / f"im{i + 1:05d}.jpg")
        joints[:, :2, i], joints[:, 2, i] = xy, 1
    scipy.io.savemat(root / "joints.mat", {"joints": joints})
    return root


def _posekit(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "posekit", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


@pytest.mark.slow
def test_cli_train_resume_export(tmp_path: Path) -> None:
    data = f"lspet:{_lspet_folder(tmp_path / 'lspet', 24)}"
    run = tmp_path / "run"
    common = ["--data", data, "--val-last", "8", "--num-workers", "0", "--threads", "1"]
    r = _posekit("train", *common, "--model", "hourglass-tiny", "--epochs", "2", "--batch-size", "8",
                 "--stop-after", "1", "--out", str(run))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["epoch"] == 1
    r = _posekit("train", *common, "--resume", str(run))
    assert r.returncode == 0, r.stderr
    assert "resumed" in r.stderr and json.loads(r.stdout)["epoch"] == 2
    assert len((run / "log.csv").read_text().splitlines()) == 3
    r = _posekit("train", "export", str(run), "--out", str(tmp_path / "m.onnx"))
    assert r.returncode == 0, r.stderr
    assert read_heatmap_model_meta(tmp_path / "m.onnx")["schema"] == "lsp14"
    # onnxruntime in original-image pixels agrees with the PCK the training loop measured in crop pixels
    r = _posekit("train", "eval-onnx", str(tmp_path / "m.onnx"), "--data", data, "--val-last", "8", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    logged = [float(line.split(",")[3]) for line in (run / "log.csv").read_text().splitlines()[1:]]
    assert result["persons"] == 8
    assert result["pck_train_rule"] == pytest.approx(max(logged), abs=1e-9)  # the export took best.pt


def test_cli_in_process_errors_and_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from posekit.cli import main

    assert main(["train", "export", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no checkpoint" in err
    assert main(["train", "--model", "hourglass-tiny"]) == 2
    assert "--data" in capsys.readouterr().err
    data = f"lspet:{_lspet_folder(tmp_path / 'lspet', 12)}"
    args = [
        "--model",
        "hourglass-tiny",
        "--batch-size",
        "4",
        "--batches",
        "2",
        "--num-workers",
        "0",
        "--json",
    ]
    assert main(["train", "bench-loader", "--data", data, *args]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert bench["loader_images_per_s"] > 0 and bench["train_step_images_per_s"] > 0


@pytest.mark.slow
def test_cli_models_lists_counts() -> None:
    r = _posekit("train", "models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    from posekit.train.flops import count_flops, count_parameters

    model = create_model("hourglass-xs", 14)
    assert rows["hourglass-xs"]["params"] == count_parameters(model)
    assert rows["hourglass-xs"]["gflops"] == round(count_flops(model, (128, 128)) / 1e9, 4)
    assert {"efficientpose-s", "efficientpose-m", "efficientpose-l", "hourglass-s"} <= set(rows)
