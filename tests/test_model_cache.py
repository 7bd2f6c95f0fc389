"""The converted-model cache heals itself: damaged files are rebuilt, modified sources refused, concurrent
conversions safe. Real package files (copied into a temporary POSEKIT_HOME), real conversions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from posekit import hub
from posekit.cli import main
from posekit.convert import cache, cached_onnx
from posekit.convert.cache import check_record, record_path
from posekit.errors import PosekitError

pytestmark = pytest.mark.network
MODEL = "movenet-lightning"


@pytest.fixture
def home(model_package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A POSEKIT_HOME whose package folder links the real files (lightning's copied, so tests may edit it)."""
    home = tmp_path / "home"
    folder = home / "packages" / model_package.name
    folder.mkdir(parents=True)
    for src in model_package.iterdir():
        if src.name.startswith(MODEL):
            shutil.copy(src, folder / src.name)
        else:
            (folder / src.name).symlink_to(src)
    monkeypatch.setenv("POSEKIT_HOME", str(home))
    return home


def _runs(path: Path) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": np.zeros((1, 192, 192, 3), np.int32)})[0]
    assert out.shape == (1, 1, 17, 3) and np.isfinite(out).all()


@pytest.mark.parametrize("damage", ["truncate", "flip", "record"])
def test_damaged_conversion_is_rebuilt(home: Path, damage: str, capfd: pytest.CaptureFixture) -> None:
    path = cached_onnx(MODEL)
    good = path.read_bytes()
    if damage == "truncate":  # a full disk or an interrupted copy
        path.write_bytes(good[: len(good) // 2])
    elif damage == "flip":  # same size, one byte changed
        path.write_bytes(good[:1000] + bytes([good[1000] ^ 0xFF]) + good[1001:])
    else:
        record_path(path).unlink()
    cache._verified.clear()  # as in a new process (a process checks each file once)
    assert check_record(path) != "ok"
    assert cached_onnx(MODEL) == path
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{path} is damaged" in err[0] and "rebuilding it" in err[0]
    assert path.read_bytes() == good and check_record(path) == "ok"
    _runs(path)


def test_estimate_heals_a_truncated_model(home: Path, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    from PIL import Image

    from posekit.models.movenet import split_onnx
    from posekit.models.registry import get_spec

    path = split_onnx(get_spec(MODEL))[0]  # the network part that estimate runs (its heads decoded in numpy)
    path.write_bytes(path.read_bytes()[:4096])
    image = tmp_path / "a.png"
    Image.fromarray(np.full((64, 48, 3), 128, np.uint8)).save(image)
    out = tmp_path / "out"
    assert main(["estimate", str(image), "--model", MODEL, "--out", str(out), "--no-render"]) == 0
    assert "is damaged" in capfd.readouterr().err
    assert (out / "a.json").is_file()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert len(session.run(None, {session.get_inputs()[0].name: np.zeros((2, 192, 192, 3), np.float32)})) == 4


def test_modified_weights_are_refused(home: Path, capfd: pytest.CaptureFixture) -> None:
    weights = home / "packages" / f"human-models-{hub.VERSION}" / f"{MODEL}.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(PosekitError, match=rf"{MODEL}.bin: sha256 differs .* run `posekit models pull`"):
        cached_onnx(MODEL)
    assert not list((home / "onnx").glob("*.onnx"))
    assert main(["estimate", "x.png", "--model", MODEL]) != 0
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sha256 differs" in err[0]


def test_two_processes_converting_at_once(home: Path) -> None:
    code = "from posekit.convert import cached_onnx; print(cached_onnx('movenet-lightning'))"
    env = {**os.environ, "POSEKIT_HOME": str(home)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {Path(out.strip()) for out, _ in outs}
    assert len(paths) == 1
    path = paths.pop()
    assert check_record(path) == "ok" and not any("damaged" in err for _, err in outs)
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        [path.name, record_path(path).name, path.name + ".lock"])
    _runs(path)
