"""The trainable model zoo: plain dicts of frozen configs and `create_model(name, num_keypoints)`."""

from __future__ import annotations

from dataclasses import asdict

from torch import nn

from posekit.errors import PosekitError
from posekit.train.efficientpose import EFFICIENTPOSE_CONFIGS, EfficientPose, EfficientPoseConfig
from posekit.train.hourglass import HOURGLASS_CONFIGS, HourglassConfig, StackedHourglass

MODEL_CONFIGS: dict[str, HourglassConfig | EfficientPoseConfig] = {
    **HOURGLASS_CONFIGS,
    **EFFICIENTPOSE_CONFIGS,
}


def list_models() -> list[str]:
    """Names `create_model` accepts."""
    return list(MODEL_CONFIGS)


def get_config(name: str) -> HourglassConfig | EfficientPoseConfig:
    try:
        return MODEL_CONFIGS[name]
    except KeyError:
        raise PosekitError(f"unknown model {name!r}; known: {', '.join(MODEL_CONFIGS)}") from None


def create_model(config: str | HourglassConfig | EfficientPoseConfig, num_keypoints: int) -> nn.Module:
    """A fresh model from a name or config. Its forward returns a list of (B, K, h, w) heatmap tensors
    (one per supervised stage; the last is the prediction)."""
    cfg = get_config(config) if isinstance(config, str) else config
    if isinstance(cfg, HourglassConfig):
        return StackedHourglass(cfg, num_keypoints)
    return EfficientPose(cfg, num_keypoints)


def config_to_dict(cfg: HourglassConfig | EfficientPoseConfig) -> dict:
    """A JSON/pickle-friendly dict with the family under 'family' (for checkpoints)."""
    family = "hourglass" if isinstance(cfg, HourglassConfig) else "efficientpose"
    return {"family": family, **asdict(cfg)}


def config_from_dict(d: dict) -> HourglassConfig | EfficientPoseConfig:
    d = dict(d)
    family = d.pop("family")
    for key in ("input_size", "output_size"):
        d[key] = tuple(d[key])
    return HourglassConfig(**d) if family == "hourglass" else EfficientPoseConfig(**d)
