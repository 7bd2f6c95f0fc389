"""Two-stage image + pose CNN: shapes, and the training loop end to end on generated learnable images."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from activity_fixtures import ARMS, pose, write_mpii_csv

torch = pytest.importorskip("torch")

from PIL import Image, ImageDraw  # noqa: E402

from posekit.activity.cnn import CNN_CONFIGS, ActivityCNN, get_cnn_config  # noqa: E402
from posekit.activity.train_cnn import ImageItem, make_input, train_cnn  # noqa: E402
from posekit.datasets.sample import Person, Sample  # noqa: E402
from posekit.errors import PosekitError  # noqa: E402
from posekit.skeletons import MPII16  # noqa: E402

COLOURS = {"arms down": (220, 40, 40), "arms up": (40, 200, 40), "arms out": (40, 40, 220)}


def make_images(folder: Path, n_per_class: int, seed: int = 0) -> tuple[list[Sample], np.ndarray, list[str]]:
    """96 x 96 noisy images: a disc in the class colour and the class pose drawn in white; the pose
    (MPII-16, torso 25 px) is also the annotation."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    samples, all_xy, labels = [], [], []
    for label in ARMS:
        for i in range(n_per_class):
            xy = pose(label) * 0.25 + rng.uniform(35, 60, 2) + rng.normal(0, 1.5, (16, 2))
            img = Image.fromarray(rng.integers(60, 140, (96, 96, 3), dtype=np.uint8))
            d = ImageDraw.Draw(img)
            cx, cy = rng.uniform(14, 82, 2)
            d.ellipse([cx - 14, cy - 14, cx + 14, cy + 14], fill=COLOURS[label])
            for a, b in MPII16.edges:
                d.line([tuple(xy[a]), tuple(xy[b])], fill=(255, 255, 255), width=2)
            path = folder / f"{label.replace(' ', '_')}_{i:03d}.png"
            img.save(path)
            samples.append(Sample(path, 96, 96, MPII16, [Person(xy, np.full(16, 2), category=label)]))
            all_xy.append(xy)
            labels.append(label)
    return samples, np.asarray(all_xy), labels


@pytest.mark.parametrize("name", list(CNN_CONFIGS))
def test_shapes_and_softmax(name: str) -> None:
    cfg = get_cnn_config(name)
    for with_pose, channels in ((True, 4), (False, 3)):
        model = ActivityCNN(cfg, 20, with_pose)
        x = torch.randn(2, channels, 64, 64)
        assert model(x).shape == (2, 20)
        p = model.probabilities(x)
        assert torch.allclose(p.sum(dim=1), torch.ones(2)) and model.training
        with pytest.raises(PosekitError, match=f"expected {channels} input channels"):
            model(torch.randn(1, 7 - channels, 64, 64))
    if name == "b0":  # torchvision's efficientnet_b0 has 5,288,548 parameters with 1000 classes, so
        # 5,288,548 - 1280 x 980 - 980 with 20; the 1x1 4->3 stem adds 15
        assert sum(t.numel() for t in ActivityCNN(cfg, 20, False).parameters()) == 4_033_168
        assert sum(t.numel() for t in ActivityCNN(cfg, 20, True).parameters()) == 4_033_168 + 15
    with pytest.raises(PosekitError, match="unknown CNN config 'b7'"):
        get_cnn_config("b7")


def test_input_has_the_pose_map_channel(tmp_path: Path) -> None:
    samples, xy, _ = make_images(tmp_path, 1)
    item = ImageItem(samples[0].image_path, xy[:1].astype(np.float32), np.ones((1, 16), bool), MPII16, 0)
    x = make_input(item, 48, True)
    assert x.shape == (4, 48, 48) and x.dtype == np.float32
    assert set(np.unique(x[3])) == {0.0, 1.0}
    # the pose map is drawn at 48/96 of the annotation: the pelvis must be lit
    px, py = (xy[0, MPII16.index("pelvis")] * 0.5).round().astype(int)
    assert x[3, py, px] == 1.0
    rgb = (np.asarray(Image.open(samples[0].image_path).resize((48, 48), Image.BILINEAR)) / 255.0)
    assert np.allclose(x[0], (rgb[:, :, 0] - 0.485) / 0.229, atol=1e-5)
    assert make_input(item, 48, False).shape == (3, 48, 48)


@pytest.mark.slow
def test_training_learns_and_resumes(tmp_path: Path) -> None:
    samples, _, _ = make_images(tmp_path / "images", 30)
    run = tmp_path / "run"
    opts = dict(config="tiny", batch_size=8, lr=3e-3, seed=0, threads=1, progress=False)
    first = train_cnn(samples, run, epochs=2, **opts)
    written = sorted(p.name for p in run.iterdir())
    assert written == ["best.pt", "confusion_test.png", "last.pt", "report.json"]
    report = train_cnn(samples, run, epochs=5, resume=True, **opts)
    losses = [h["train_loss"] for h in report["history"]]
    assert report["history"][:2] == first["history"] and len(losses) == 5
    assert losses[-1] < 0.7 * losses[0], losses  # the loss falls
    counts = report["counts"]
    assert [counts[f"{n} images"] for n in ("train", "val", "test")] == [63, 14, 13]
    assert counts["missing image file"] == 0
    assert report["test"]["accuracy"] >= 0.7, report["history"]  # chance 1/3 (measured 0.92 at 6 epochs)
    base = report["majority_baseline"]["test"]
    assert base["accuracy"] == report["test"]["per_class"][base["label"]]["support"] / 13 == 4 / 13
    assert json.loads((run / "report.json").read_text())["test"]["accuracy"] == report["test"]["accuracy"]
    with pytest.raises(PosekitError, match="trained with .*use another --out"):
        train_cnn(samples, run, epochs=6, resume=True, **{**opts, "config": "b0-cpu"})


@pytest.mark.slow
def test_cli_reports_missing_images(tmp_path: Path) -> None:
    samples, xy, labels = make_images(tmp_path / "images", 8)
    csv = tmp_path / "mpii.csv"
    write_mpii_csv(csv, np.concatenate([xy, xy[:1]]), [*labels, labels[0]])
    # write_mpii_csv names rows 000000000.jpg...: give the images those names, the last one stays missing
    for i, s in enumerate(samples):
        Image.open(s.image_path).convert("RGB").save(tmp_path / "images" / f"{i:09d}.jpg")
    cmd = [sys.executable, "-m", "posekit", "activity", "train-cnn", "--data", f"mpii-csv:{csv}", "--images",
           str(tmp_path / "images"), "--out", str(tmp_path / "run"), "--config", "tiny", "--epochs", "1",
           "--threads", "1", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["counts"]["missing image file"] == 1
    assert report["counts"]["missing examples"][0].endswith(f"{len(samples):09d}.jpg")
    bad = subprocess.run([*cmd[:8], str(tmp_path / "nowhere"), *cmd[9:]], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "no such images folder" in bad.stderr and bad.stderr.count("\n") == 1
