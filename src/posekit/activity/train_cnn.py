"""Training loop of the two-stage image + pose activity CNN (`posekit activity train-cnn`).

Images (one category per image: `posekit.activity.dataset.image_category`) are split train / val / test
stratified by category (seeded), resized to S x S (aspect not kept), normalised with the ImageNet mean and
std; the pose map of the image's annotated persons (`posekit.activity.posemap`) is rendered at S x S as a
fourth channel. Training: AdamW, cross-entropy with balanced class weights, random horizontal flips, a
progress bar; after each epoch the BatchNorm statistics are re-estimated on up to 20 training batches
(`recalibrate_batchnorm`), the val accuracy / macro-F1 are measured, ``last.pt`` (everything needed to
resume) and, on a new best val macro-F1, ``best.pt`` are written atomically. ``--resume`` continues from
``last.pt`` (same labels, config and input, else PosekitError). At the end the best model is evaluated on
val and test, and ``report.json`` (as `posekit activity train`'s, plus the loss history) and
``confusion_test.png`` are written. Images missing on disk are counted and skipped; unreadable ones are
counted and fed as zeros.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.activity.dataset import image_category, split_samples
from posekit.datasets.sample import Sample
from posekit.errors import PosekitError
from posekit.skeletons import Schema

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
CACHE_BYTES = 512 * 2**20  # decoded inputs are kept in memory when they fit in this


@dataclass(frozen=True)
class ImageItem:
    """One training image: its persons' keypoints xy (N, K, 2) pixels, valid (N, K), and label index."""

    path: Path
    xy: NDArray[np.float32]
    valid: NDArray[np.bool_]
    schema: Schema
    label: int


def require_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise PosekitError("the activity CNN needs PyTorch; install it: pip install torch==2.13.0") from None
    return torch


def make_input(item: ImageItem, size: int, with_pose: bool) -> NDArray[np.float32]:
    """(4 or 3, S, S) float32 network input of ``item`` (module docstring)."""
    from PIL import Image

    from posekit.activity.posemap import render_pose_map
    from posekit.images import read_image

    image = read_image(item.path)
    h, w = image.rgb.shape[:2]
    rgb = np.asarray(Image.fromarray(image.rgb).resize((size, size), Image.BILINEAR), np.float32) / 255.0
    channels = [((rgb - MEAN) / STD).transpose(2, 0, 1)]
    if with_pose:
        # keypoints are in original-image pixels; image.rgb may be a reduced decode (image.scale)
        factor = np.array([size / w, size / h]) / image.scale
        pose = render_pose_map(item.xy * factor, item.valid, item.schema, (size, size))
        channels.append(pose.transpose(2, 0, 1))
    return np.concatenate(channels).astype(np.float32)


@dataclass
class ImageSet:
    """Items of one split, with inputs decoded on demand (cached when small) and failures counted."""

    items: list[ImageItem]
    size: int
    with_pose: bool
    cache: dict[int, NDArray[np.float32]] | None = None
    unreadable: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[NDArray[np.float32], int]:
        if self.cache is not None and i in self.cache:
            return self.cache[i], self.items[i].label
        try:
            x = make_input(self.items[i], self.size, self.with_pose)
        except PosekitError as err:
            self.unreadable[str(self.items[i].path)] = str(err)
            x = np.zeros((4 if self.with_pose else 3, self.size, self.size), np.float32)
        if self.cache is not None:
            self.cache[i] = x
        return x, self.items[i].label


def image_items(samples: list[Sample], labels: tuple[str, ...]) -> tuple[list[ImageItem], list[str]]:
    """Items of the samples whose category is in ``labels``, and the image paths missing on disk."""
    items, missing = [], []
    for s in samples:
        cat = image_category(s)
        if cat not in labels:
            continue
        if s.image_path is None or not Path(s.image_path).is_file():
            missing.append(str(s.image_path))
            continue
        persons = [p for p in s.persons if p.labelled.any()]
        k = s.schema.num_keypoints
        xy = np.stack([p.keypoints for p in persons]) if persons else np.zeros((0, k, 2), np.float32)
        valid = np.stack([p.labelled for p in persons]) if persons else np.zeros((0, k), bool)
        items.append(ImageItem(Path(s.image_path), xy, valid, s.schema, labels.index(cat)))
    return items, missing


def _save(obj: dict[str, Any], path: Path) -> None:
    import torch

    from posekit.atomic import write_atomic

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, buf.getvalue())


def recalibrate_batchnorm(model: Any, data: ImageSet, batch_size: int, max_batches: int = 20) -> None:
    """Re-estimate the BatchNorm running statistics as the plain average over up to ``max_batches``
    training batches (no gradient, weights unchanged), like ``torch.optim.swa_utils.update_bn``.

    With few optimiser steps (small data, first epochs) the default exponential running averages still
    carry the statistics of the early network, and eval-mode predictions collapse to one class.
    """
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or len(data) == 0:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    order = np.random.default_rng(0).permutation(len(data))[: max_batches * batch_size]
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            model(torch.from_numpy(np.stack([data[int(i)][0] for i in order[start:start + batch_size]])))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


def _predict(model: Any, data: ImageSet, batch_size: int) -> NDArray[np.intp]:
    import torch

    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x = np.stack([data[i][0] for i in range(start, min(len(data), start + batch_size))])
            out.append(model(torch.from_numpy(x)).argmax(dim=1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.intp)


def train_cnn(samples: list[Sample], out: str | Path, config: str = "b0-cpu", with_pose: bool = True,
              epochs: int = 10, batch_size: int = 16, lr: float = 1e-3, seed: int = 0, resume: bool = False,
              threads: int | None = None, progress: bool = True, data_name: str = "") -> dict[str, Any]:
    """Train on ``samples`` (with image paths and categories) into the run folder ``out`` (module
    docstring); returns the report (also written to ``out/report.json``)."""
    torch = require_torch()
    from tqdm import tqdm

    from posekit.activity.cnn import ActivityCNN, get_cnn_config
    from posekit.activity.report import majority_baseline, save_confusion_png, split_metrics
    from posekit.formats import write_json

    out = Path(out)
    cfg = get_cnn_config(config)
    if threads:
        torch.set_num_threads(threads)
    splits = split_samples(samples, seed)
    labels = tuple(sorted({image_category(s) for s in splits["train"]}))
    if len(labels) < 2:
        raise PosekitError(f"{data_name or 'data'}: need at least two activity categories, "
                           f"found {list(labels)}")
    sets, missing = {}, []
    for name, part in splits.items():
        items, miss = image_items(part, labels)
        missing += miss
        sets[name] = ImageSet(items, cfg.input_size, with_pose)
        nbytes = len(items) * (4 if with_pose else 3) * cfg.input_size ** 2 * 4
        sets[name].cache = {} if nbytes < CACHE_BYTES / 3 else None
    if missing and not any(len(s) for s in sets.values()):
        raise PosekitError(f"{data_name or 'data'}: none of the {len(missing)} images exist (e.g. "
                           f"{missing[0]}); pass the folder of the dataset's images with --images")
    if len(sets["train"]) == 0 or len(sets["val"]) == 0:
        raise PosekitError(f"{data_name or 'data'}: too few images with a category to train (train "
                           f"{len(sets['train'])}, val {len(sets['val'])}); use more data")
    y_train = np.array([it.label for it in sets["train"].items])
    torch.manual_seed(seed)
    model = ActivityCNN(cfg, len(labels), with_pose)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    counts = np.bincount(y_train, minlength=len(labels))
    # balanced class weights, as for the pose classifiers
    per_class = len(y_train) / (np.count_nonzero(counts) * np.maximum(counts, 1))
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.as_tensor(per_class, dtype=torch.float32))
    run = {"config": cfg.name, "with_pose": with_pose, "labels": list(labels)}
    history: list[dict[str, float]] = []
    start_epoch, best_f1 = 0, -1.0
    last = out / "last.pt"
    if resume:
        if not last.is_file():
            raise PosekitError(f"{last}: nothing to resume; run without --resume first")
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        if ckpt.get("run") != run:
            raise PosekitError(f"{last}: the checkpoint was trained with {ckpt.get('run')}, not {run}; "
                               "use another --out folder or the same data, --config and --input")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start_epoch, best_f1, history = ckpt["epoch"] + 1, ckpt["best_f1"], ckpt["history"]
    y_val = np.array([it.label for it in sets["val"].items])
    started = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        gen = torch.Generator().manual_seed(seed * 1000 + epoch)  # same order when resumed
        order = torch.randperm(len(sets["train"]), generator=gen).tolist()
        model.train()
        total, count = 0.0, 0
        bar = tqdm(range(0, len(order), batch_size), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                   disable=not progress)
        for b in bar:
            idx = order[b:b + batch_size]
            x = torch.from_numpy(np.stack([sets["train"][i][0] for i in idx]))
            y = torch.as_tensor([sets["train"].items[i].label for i in idx])
            flip = torch.rand(len(idx), generator=gen) < 0.5
            x[flip] = torch.flip(x[flip], dims=[3])
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
            bar.set_postfix(loss=f"{total / count:.4f}")
        bar.close()
        recalibrate_batchnorm(model, sets["train"], batch_size)
        pred = _predict(model, sets["val"], batch_size)
        m = split_metrics(np.asarray(labels)[y_val], np.asarray(labels)[pred], labels)
        history.append({"epoch": epoch + 1, "train_loss": total / max(count, 1),
                        "val_accuracy": m["accuracy"], "val_f1_macro": m["f1_macro"]})
        if m["f1_macro"] > best_f1:
            best_f1 = m["f1_macro"]
            _save({"run": run, "model": model.state_dict(), "epoch": epoch}, out / "best.pt")
        _save({"run": run, "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
               "best_f1": best_f1, "history": history}, last)
    best = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(best["model"])
    y_names = {n: np.asarray(labels)[[it.label for it in s.items]] for n, s in sets.items()}
    report: dict[str, Any] = {
        "data": data_name, "model": cfg.name, "input": "rgb+pose" if with_pose else "rgb", "seed": seed,
        "labels": list(labels), "best_epoch": best["epoch"] + 1, "history": history,
        "train_seconds_this_run": round(time.perf_counter() - started, 2),
        "counts": {"missing image file": len(missing), "missing examples": missing[:3],
                   "unreadable image": sum(len(s.unreadable) for s in sets.values()),
                   **{f"{n} images": len(s) for n, s in sets.items()}},
    }
    for name in ("val", "test"):
        pred = _predict(model, sets[name], batch_size)
        report[name] = split_metrics(y_names[name], np.asarray(labels)[pred], labels)
    report["majority_baseline"] = {n: majority_baseline(y_names["train"], y_names[n], labels)
                                   for n in ("val", "test")}
    title = f"{cfg.name} ({report['input']}) on {len(sets['test'])} test images"
    save_confusion_png(np.asarray(report["test"]["confusion"]), labels, title, out / "confusion_test.png")
    write_json(out / "report.json", report)
    return report


def train_cnn_on_dataset(data: str, images: str | Path, out: str | Path, **options: Any) -> dict[str, Any]:
    """`train_cnn` on the dataset ``data`` (``KIND:PATH``) with its images under ``images``."""
    from posekit.datasets import load_dataset
    from posekit.datasets.report import LoadReport

    if not Path(images).is_dir():
        raise PosekitError(f"{images}: no such images folder; pass the folder holding the dataset's images")
    samples = load_dataset(data, images_dir=images, report=LoadReport(strict=False))
    return train_cnn(samples, out, data_name=data, **options)
