"""Checkpoints: everything needed to resume a run exactly, written atomically.

A checkpoint is a dict saved with torch.save: format, model_config (see `models.config_to_dict`), schema
name, codec (input_size, heatmap_size, sigma), mean/std, train_config, epoch (epochs completed), model /
optimizer / scheduler / scaler state dicts, rng (python, numpy, torch, cuda) and history (one dict per epoch).
The data loader needs no state of its own: its draws depend only on (seed, epoch, index).
"""

from __future__ import annotations

import io
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posekit.atomic import write_atomic
from posekit.errors import PosekitError

FORMAT = "posekit-train-1"


def rng_state() -> dict[str, Any]:
    """The python, numpy and torch (CPU and CUDA) random states."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def restore(ckpt: dict[str, Any], model, opt, sched, scaler=None) -> tuple[list[dict[str, Any]], int]:
    """Load a checkpoint's model, optimizer, scheduler (and AMP scaler) states and RNGs into a run; returns
    its history and the number of epochs completed."""
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    if scaler is not None:
        scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    return list(ckpt["history"]), int(ckpt["epoch"])


def cosine_schedule(opt, total_steps: int):
    """Per-step cosine decay of every group's learning rate from its value to 0 over ``total_steps``."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)))


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """torch.save, written atomically (``posekit.atomic.write_atomic``: never a half-written file)."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **checkpoint}, buf)
    write_atomic(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint dict; a run folder means its ``last.pt``."""
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise PosekitError(
            f"{path}: no checkpoint there; pass a run folder or a .pt file written by posekit train"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises many types for a corrupt file
        raise PosekitError(
            f"{path}: not a readable checkpoint ({type(err).__name__}); re-run training"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise PosekitError(f"{path}: not a posekit training checkpoint (format {FORMAT} expected)")
    return ckpt
