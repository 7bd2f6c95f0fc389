"""The training loop: Adam + per-step cosine schedule, intermediate supervision, PCK@0.2 validation, CSV log,
PNG curves and an atomic checkpoint every epoch, with exact resume.

Loss: for every supervised stage, the mean over (batch, keypoint, pixel) of w_k * (pred - target)^2 with
w_k = 0 for unlabelled / off-map keypoints; stage losses are summed.

Validation PCK@0.2 is measured in the un-augmented crop (a similarity transform of the image, so the
normalised distances equal those in image pixels): a keypoint counts when labelled, and is correct when
``||pred - gt|| <= 0.2 * torso``, torso = ||right_shoulder - left_hip|| of the ground truth (the diagonal
`posekit.metrics.pck` uses for LSP). When the schema lacks those joints or either is unlabelled, the size is
the longer side of the box around the labelled ground-truth keypoints instead (bbox-normalised).
"""

from __future__ import annotations

import csv
import io
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tqdm import tqdm

from posekit.atomic import write_atomic
from posekit.datasets.sample import Sample
from posekit.errors import PosekitError
from posekit.skeletons import Schema
from posekit.train.augment import AugmentConfig
from posekit.train.checkpoint import cosine_schedule, load_checkpoint, restore, rng_state, save_checkpoint
from posekit.train.flops import count_flops, count_parameters
from posekit.train.generator import MEAN, STD, PersonDataset, make_loader
from posekit.train.models import config_from_dict, config_to_dict, create_model, get_config
from posekit.train.plot import plot_curves
from posekit.train.targets import HeatmapCodec
from posekit.train.validation import pck_hits

LOG_FIELDS = ("epoch", "train_loss", "val_loss", "val_pck", "lr", "train_images", "val_images", "seconds")


@dataclass(frozen=True)
class TrainConfig:
    """model: a name from `posekit.train.models`; sigma: heatmap Gaussian in heatmap pixels (None: 2 px at
    64x64, scaled with the heatmap width; with init: the family's); threads: torch CPU threads (None: leave
    torch's default). Fine-tuning: init: a zoo name or fine-tuned .onnx (`posekit.train.pretrained`; then
    ``model`` is ignored); freeze_epochs: the pretrained backbone is frozen for the first that many epochs;
    backbone_lr: its learning rate (None: lr / 10; ``lr`` is the head's); freeze_layers: the first that many
    weight layers stay frozen for the whole run (`posekit.train.pretrained.early_layers`). epoch_size:
    persons per epoch (a fresh random subset each epoch; None: all). data: the data options (spec, split),
    stored for resume. cache_features: with init, K > 0 freezes the trunk for the whole run, computes its
    features once for K views per person and trains the heads only (`posekit.train.cached`); cache_at
    "image": caches the crops instead and trains the whole network (trunk at backbone_lr); "frozen" (with
    freeze_layers): caches what the frozen layers hand to the rest and trains that rest. distil: with
    cache_features on a MoveNet, the weight of matching the initial model's heads on the channels the data
    does not label (LSP: the face joints; `posekit.train.cached.distil_loss`); 0: those channels get no
    loss."""

    model: str = "hourglass-s"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    sigma: float | None = None
    seed: int = 0
    num_workers: int = 0
    threads: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    init: str | None = None
    freeze_epochs: int = 0
    freeze_layers: int = 0
    backbone_lr: float | None = None
    epoch_size: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    cache_features: int = 0
    cache_at: str = "trunk"
    distil: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        aug = dict(d.pop("augment"))
        for key in ("scale", "enlarge"):
            aug[key] = tuple(aug[key])
        return cls(**d, augment=AugmentConfig(**aug))


def heatmap_loss(
    outputs: Sequence[torch.Tensor], targets: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Sum over stages of mean weighted squared error. outputs: stages of (B, K, h, w); weights: (B, K)."""
    w = weights[:, :, None, None]
    return sum(((o.float() - targets) ** 2 * w).mean() for o in outputs)


def evaluate(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    codec: HeatmapCodec,
    schema: Schema,
    device: torch.device,
    epoch: int = 0,
) -> tuple[float, float, NDArray[np.float32]]:
    """Validation loss, PCK@0.2 (fraction) and predictions (N, K, 2) in crop pixels, over the loader."""
    model.eval()
    loader.sampler.set_epoch(epoch)
    total, batches, hits, counted, preds = 0.0, 0, 0, 0, []
    with torch.no_grad():
        for batch in tqdm(loader, desc="val", unit="batch", leave=False, disable=None):
            outputs = model(batch["image"].to(device))
            total += float(
                heatmap_loss(outputs[-1:], batch["heatmaps"].to(device), batch["weights"].to(device))
            )
            batches += 1
            xy, _ = codec.decode(outputs[-1].float().cpu().numpy())
            h, c = pck_hits(xy, batch["keypoints"].numpy(), batch["labelled"].numpy(), schema)
            hits, counted = hits + h, counted + c
            preds.append(xy)
    model.train()
    pck = hits / counted if counted else float("nan")
    return total / max(batches, 1), pck, np.concatenate(preds) if preds else np.zeros((0, 0, 2), np.float32)


def _write_csv(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=LOG_FIELDS)
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k) for k in LOG_FIELDS})
    write_atomic(path, buf.getvalue().encode("utf-8"))


def keep_freed_memory() -> bool:
    """glibc only: keep the memory that freed tensors leave in the process (mmap and trim thresholds 1 GiB)
    instead of unmapping it, so the next step's activations and gradients reuse it without the kernel
    zero-filling fresh pages (`benchmarks/bench_train_step.py` measures it). The process's peak memory stays
    held until it exits. False where the C library has no ``mallopt`` (not glibc)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold, 1 << 30))


def default_sigma(heatmap_size: tuple[int, int]) -> float:
    """2 px at 64x64, proportionally smaller or larger for other heatmap widths."""
    return 2.0 * heatmap_size[1] / 64.0


def train(
    config: TrainConfig,
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample],
    out_dir: str | Path,
    resume: bool = False,
    stop_after_epoch: int | None = None,
    log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> list[dict[str, Any]]:
    """Train (or resume) a heatmap model; returns the per-epoch history (also in ``out_dir/log.csv``).

    out_dir receives last.pt (every epoch), best.pt (best val PCK), log.csv and curves.png.
    resume: continue from ``out_dir/last.pt`` with its stored config (config.epochs may extend the run,
    which changes the cosine schedule from then on). stop_after_epoch: stop once that many epochs are done
    (as if killed), for tests and time-boxed runs.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = None
    if resume:
        ckpt = load_checkpoint(out / "last.pt")
        stored = TrainConfig.from_dict(ckpt["train_config"])
        config = replace(stored, epochs=config.epochs, num_workers=config.num_workers, threads=config.threads)
    if config.threads:
        torch.set_num_threads(config.threads)
    keep_freed_memory()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    use_amp = device.type == "cuda"

    if not train_samples:
        raise PosekitError("no samples to train on: check the --data path")
    if config.cache_features:
        from posekit.train.cached import train_cached

        return train_cached(config, train_samples, val_samples, out, ckpt, stop_after_epoch, log)
    schema = train_samples[0].schema
    pre = None
    if config.init:
        from posekit.train.pretrained import freeze_early_layers, load_pretrained

        pre = load_pretrained(config.init, schema)
        started = (ckpt.get("init") or {}).get("sha256", "none") if ckpt else None
        if ckpt and started != pre.identity["sha256"]:
            raise PosekitError(f"--resume {out}: --init {config.init} changed since the run started "
                               f"(sha256 {started[:12]} -> {pre.identity['sha256'][:12]})")
        model_cfg = None
        input_size, heatmap_size = pre.spec.input_size, pre.spec.heatmap_size
        mean, std, family_sigma = pre.spec.mean, pre.spec.std, pre.spec.sigma
    else:
        model_cfg = config_from_dict(ckpt["model_config"]) if ckpt else get_config(config.model)
        input_size, heatmap_size = model_cfg.input_size, model_cfg.output_size
        mean, std, family_sigma = MEAN, STD, default_sigma(heatmap_size)
    sigma = config.sigma if config.sigma is not None else family_sigma
    codec = HeatmapCodec(input_size, heatmap_size, sigma)
    if not ckpt:
        random.seed(config.seed)
        np.random.seed(config.seed)
        torch.manual_seed(config.seed)
    train_set = PersonDataset(train_samples, codec, config.augment, config.seed, mean, std)
    val_set = PersonDataset(val_samples, codec, None, config.seed, mean, std)
    schema = train_set.schema
    if val_set.schema.name != schema.name:
        raise PosekitError(
            f"validation schema {val_set.schema.name} differs from training schema {schema.name}"
        )
    if ckpt and ckpt["schema"] != schema.name:
        raise PosekitError(f"--resume {out}: the run trained on {ckpt['schema']}, this data is "
                           f"{schema.name}; resume with the run's own data")
    for line in train_set.skipped + val_set.skipped:
        log(f"skipped: {line}")
    train_loader = make_loader(train_set, config.batch_size, True, config.num_workers, drop_last=True,
                               per_epoch=config.epoch_size)
    val_loader = make_loader(val_set, config.batch_size, False, config.num_workers)
    if len(train_loader) == 0:
        raise PosekitError(f"{len(train_set)} training persons is less than one batch of {config.batch_size}")

    if pre is not None:
        model = pre.module.to(device)
        fixed = freeze_early_layers(model.graph, pre.proto, config.freeze_layers, log)
        backbone = [p for p in pre.backbone() if id(p) not in fixed]
        heads = [p for p in pre.head() if id(p) not in fixed]
        backbone_lr = config.backbone_lr if config.backbone_lr is not None else config.lr / 10
        groups = [{"params": heads, "lr": config.lr}] + ([{"params": backbone, "lr": backbone_lr}] if backbone
                                                           else [])
        opt = torch.optim.Adam(groups, weight_decay=config.weight_decay)
        name = f"{pre.spec.base} (pretrained, {schema.name} head by joint name)"
    else:
        model = create_model(model_cfg, schema.num_keypoints).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        name = model_cfg.name
    total_steps = config.epochs * len(train_loader)
    sched = cosine_schedule(opt, total_steps)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history: list[dict[str, Any]] = []
    start = 0
    if ckpt:
        history, start = restore(ckpt, model, opt, sched, scaler)
        log(f"resumed {out / 'last.pt'} after epoch {start}")
    flops = f"{count_flops(model, input_size) / 1e9:.3f} GFLOPs per image" if pre is None else "pretrained"
    log(
        f"{name}: {count_parameters(model):,} parameters, {flops}; device {device}, "
        f"torch threads {torch.get_num_threads()}, {len(train_set)} train / {len(val_set)} val persons"
    )

    reported: set[int] = set()
    trained = [h["val_pck"] for h in history if h["epoch"] > 0 and h["val_pck"] == h["val_pck"]]
    best = max(trained, default=-1.0)
    if pre is not None and not history:
        t0 = time.time()
        val_loss, pck, _ = evaluate(model, val_loader, codec, schema, device)
        history.append({"epoch": 0, "train_loss": float("nan"), "val_loss": val_loss, "val_pck": pck,
                        "lr": 0.0, "train_images": 0, "val_images": len(val_set),
                        "seconds": round(time.time() - t0, 2)})
        log(f"epoch 0 (pretrained start): val loss {val_loss:.6g}  val PCK@0.2 {pck:.4f}")
        _write_csv(out / "log.csv", history)
    if stop_after_epoch is not None and start >= stop_after_epoch:
        return history
    for epoch in range(start, config.epochs):
        t0 = time.time()
        model.train()
        if pre is not None:
            frozen = epoch < config.freeze_epochs
            for p in backbone:
                p.requires_grad_(not frozen)
            if frozen:
                log(f"epoch {epoch + 1}: backbone frozen ({len(pre.backbone())} tensors)")
        train_loader.sampler.set_epoch(epoch)
        total, n = 0.0, 0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch", disable=None)
        for batch in bar:
            images = batch["image"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                outputs = model(images)
            loss = heatmap_loss(outputs, batch["heatmaps"].to(device), batch["weights"].to(device))
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            total += loss.item()
            n += 1
            for i in batch["bad"][batch["bad"] >= 0].tolist():
                if i not in reported:
                    reported.add(i)
                    log(f"skipped: {train_set.bad_item_message(i)}")
            bar.set_postfix(loss=f"{total / n:.3g}")
        val_loss, pck, _ = evaluate(model, val_loader, codec, schema, device)
        row = {
            "epoch": epoch + 1,
            "train_loss": total / n,
            "val_loss": val_loss,
            "val_pck": pck,
            "lr": opt.param_groups[0]["lr"],
            "train_images": n * config.batch_size,
            "val_images": len(val_set),
            "seconds": round(time.time() - t0, 2),
        }
        history.append(row)
        log(
            f"epoch {epoch + 1}: train loss {row['train_loss']:.6g}  val loss {val_loss:.6g}  "
            f"val PCK@0.2 {pck:.4f}  ({row['seconds']} s)"
        )
        state = {
            "model_config": config_to_dict(model_cfg) if model_cfg is not None else None,
            "init": pre.identity if pre is not None else None,
            "num_keypoints": schema.num_keypoints,
            "schema": schema.name,
            "codec": {
                "input_size": codec.input_size,
                "heatmap_size": codec.heatmap_size,
                "sigma": codec.sigma,
            },
            "mean": mean,
            "std": std,
            "train_config": config.to_dict(),
            "epoch": epoch + 1,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng_state(),
            "history": history,
        }
        save_checkpoint(out / "last.pt", state)
        if pck > best:
            best = pck
            save_checkpoint(out / "best.pt", state)
        _write_csv(out / "log.csv", history)
        epochs = [h["epoch"] for h in history]
        plot_curves(
            out / "curves.png",
            epochs,
            {"train loss": [h["train_loss"] for h in history], "val loss": [h["val_loss"] for h in history]},
            {"val PCK@0.2": [h["val_pck"] for h in history]},
        )
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    return history
