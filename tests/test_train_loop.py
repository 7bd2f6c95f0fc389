"""Training loop on generated blobs: it learns, logs, checkpoints, and resumes exactly."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # several threads on a shared, busy CPU spin-wait and run many times slower

from train_fixtures import BLOBS3, blob_samples  # noqa: E402

from posekit.errors import PosekitError  # noqa: E402
from posekit.skeletons import LSP14  # noqa: E402
from posekit.train.augment import AugmentConfig  # noqa: E402
from posekit.train.checkpoint import load_checkpoint  # noqa: E402
from posekit.train.generator import PersonDataset, make_loader  # noqa: E402
from posekit.train.loop import TrainConfig, pck_hits, train  # noqa: E402
from posekit.train.targets import HeatmapCodec  # noqa: E402

AUG = AugmentConfig(
    flip=0.5, rotation=15.0, scale=(0.9, 1.1), enlarge=(1.1, 1.3), brightness=0.1, contrast=0.1, noise=0.01
)
CFG = TrainConfig(
    "hourglass-tiny", epochs=6, batch_size=16, lr=5e-3, sigma=1.0, seed=1, threads=1, augment=AUG
)


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, list]:
    folder = tmp_path_factory.mktemp("blobs")
    return blob_samples(folder / "train", 96, seed=0), blob_samples(folder / "val", 32, seed=1)


def test_pck_hits_torso_and_bbox_normalisation() -> None:
    gt = np.zeros((2, 14, 2))
    gt[:, :, 0] = np.arange(14)[None] * 2.0
    rs, lh = LSP14.index("right_shoulder"), LSP14.index("left_hip")
    gt[0, lh] = gt[0, rs] + [0, 10.0]  # torso 10 px -> threshold 2 px
    pred = gt.copy()
    pred[:, 0, 0] += 1.9  # inside 2 px
    pred[:, 1, 0] += 2.1  # outside 2 px (for person 0)
    labelled = np.ones((2, 14), bool)
    labelled[1, lh] = False  # person 1: no torso -> bbox side (x spans 0..26 = 26 px -> threshold 5.2 px)
    hits, counted = pck_hits(pred, gt, labelled, LSP14)
    assert counted == 27
    assert hits == 26  # only person 0's keypoint 1 misses


def test_loader_order_and_items_do_not_depend_on_workers(blobs: tuple[list, list]) -> None:
    codec = HeatmapCodec((32, 32), (16, 16), 1.0)
    ds = PersonDataset(blobs[0][:20], codec, AUG, seed=4)
    batches = []
    for workers in (0, 2):
        loader = make_loader(ds, 8, True, workers)
        loader.sampler.set_epoch(3)
        batches.append(next(iter(loader)))
    for key in ("image", "heatmaps", "keypoints"):
        assert torch.equal(batches[0][key], batches[1][key])
    loader.sampler.set_epoch(4)
    assert not torch.equal(next(iter(loader))["image"], batches[0]["image"])


@pytest.mark.slow
def test_training_learns_the_blobs_and_writes_the_run(blobs: tuple[list, list], tmp_path: Path) -> None:
    history = train(CFG, *blobs, tmp_path / "run", log=lambda s: None)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    # chance: a random point is within 0.2 x bbox side of a keypoint for a few percent of keypoints
    assert history[-1]["val_pck"] > 0.5
    assert history[-1]["val_pck"] > history[0]["val_pck"]
    run = tmp_path / "run"
    with open(run / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["val_pck"]) for r in rows] == pytest.approx([h["val_pck"] for h in history])
    from PIL import Image

    with Image.open(run / "curves.png") as im:
        assert im.size == (640, 480)
        assert len(im.convert("RGB").getcolors(100000)) > 4  # axes, text and coloured lines were drawn
    mask = os.umask(0)
    os.umask(mask)
    for name in ("log.csv", "curves.png", "last.pt", "best.pt"):
        assert (run / name).stat().st_mode & 0o777 == 0o666 & ~mask  # usual permissions, not mkstemp's 0600
    assert [p.name for p in run.iterdir() if ".tmp" in p.name] == []
    ckpt = load_checkpoint(run)
    assert ckpt["epoch"] == 6 and ckpt["schema"] == "blobs3" and ckpt["num_keypoints"] == 3
    assert set(ckpt["rng"]) == {"python", "numpy", "torch", "cuda"}


@pytest.mark.slow
def test_resume_reproduces_the_next_epoch_exactly(blobs: tuple[list, list], tmp_path: Path) -> None:
    cfg = TrainConfig(**{**CFG.__dict__, "epochs": 2})
    full = train(cfg, *blobs, tmp_path / "full", log=lambda s: None)
    first = train(cfg, *blobs, tmp_path / "split", stop_after_epoch=1, log=lambda s: None)
    assert len(first) == 1 and first[0]["train_loss"] == pytest.approx(full[0]["train_loss"], abs=1e-6)
    resumed = train(cfg, *blobs, tmp_path / "split", resume=True, log=lambda s: None)
    assert len(resumed) == 2
    assert resumed[1]["train_loss"] == pytest.approx(full[1]["train_loss"], abs=1e-6, rel=0)
    assert resumed[1]["val_loss"] == pytest.approx(full[1]["val_loss"], abs=1e-6, rel=0)
    assert resumed[1]["val_pck"] == full[1]["val_pck"]
    a, b = load_checkpoint(tmp_path / "full")["model"], load_checkpoint(tmp_path / "split")["model"]
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) < 1e-6


def test_resume_without_checkpoint_and_empty_data_raise(blobs: tuple[list, list], tmp_path: Path) -> None:
    with pytest.raises(PosekitError, match="no checkpoint"):
        train(CFG, *blobs, tmp_path / "nothing", resume=True, log=lambda s: None)
    with pytest.raises(PosekitError, match="no samples"):
        train(CFG, [], blobs[1], tmp_path / "empty", log=lambda s: None)


def test_a_bad_image_is_reported_not_fatal(blobs: tuple[list, list], tmp_path: Path) -> None:
    train_samples = list(blobs[0][:32])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    s0 = train_samples[0]
    train_samples[0] = type(s0)(bad, s0.width, s0.height, BLOBS3, s0.persons)
    lines: list[str] = []
    cfg = TrainConfig(**{**CFG.__dict__, "epochs": 1})
    history = train(cfg, train_samples, blobs[1], tmp_path / "run", log=lines.append)
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])
    assert any("broken.png" in line and "cannot read" in line for line in lines)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_sets_glibcs_thresholds() -> None:
    """The trainer's allocator setting: glibc accepts both thresholds (mallopt returns 1 for each)."""
    import platform

    from posekit.train.loop import keep_freed_memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert keep_freed_memory() is True
