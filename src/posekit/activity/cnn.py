"""Two-stage image + pose activity CNN (the MPII pipeline's design), torch.

Input (B, 4, S, S): normalised RGB plus the rendered pose map (`posekit.activity.posemap`), or (B, 3, S, S)
for the image-only variant. A 1x1 convolution maps the 4 channels to 3 (the "stem" that lets an RGB
backbone take the pose channel), then an EfficientNet-B0-style backbone: 3x3 stride-2 convolution, seven
MBConv stages (expansion, kernel, stride, channels, repeats as in B0; MBConv with squeeze-and-excitation
and Swish, from `posekit.train.efficientpose`), a 1x1 convolution to 1280 x width channels, global average
pooling, dropout, a linear layer to the categories. ``forward`` gives logits; `probabilities` the softmax.
Widths and depths scale by the config's multipliers (B0 = 1.0 / 1.0), as EfficientNet does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from posekit.errors import PosekitError
from posekit.train.efficientpose import channels, mbconv_stages

# EfficientNet-B0 stages: (expansion, kernel, stride, output channels, repeats).
B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
             (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


@dataclass(frozen=True)
class ActivityCNNConfig:
    """width / depth: channel and repeat multipliers of B0; input_size: S (square images, pixels)."""

    name: str
    width: float = 1.0
    depth: float = 1.0
    input_size: int = 224
    dropout: float = 0.2


CNN_CONFIGS: dict[str, ActivityCNNConfig] = {
    c.name: c
    for c in (
        ActivityCNNConfig("b0", 1.0, 1.0, 224, 0.2),
        ActivityCNNConfig("b0-cpu", 0.5, 0.5, 160, 0.2),
        ActivityCNNConfig("tiny", 0.25, 0.25, 64, 0.0),
    )
}


def get_cnn_config(name: str) -> ActivityCNNConfig:
    try:
        return CNN_CONFIGS[name]
    except KeyError:
        raise PosekitError(f"unknown CNN config {name!r}; choose one of {', '.join(CNN_CONFIGS)}") from None


class ActivityCNN(nn.Module):
    """(B, 4 or 3, S, S) -> (B, num_classes) logits (module docstring)."""

    def __init__(self, cfg: ActivityCNNConfig, num_classes: int, with_pose: bool = True) -> None:
        super().__init__()
        self.cfg, self.num_classes, self.with_pose = cfg, num_classes, with_pose
        self.stem_in = nn.Conv2d(4, 3, 1) if with_pose else nn.Identity()
        layers, c = mbconv_stages(B0_STAGES, cfg.width, cfg.depth)
        head = channels(1280, cfg.width)
        layers += [nn.Conv2d(c, head, 1, bias=False), nn.BatchNorm2d(head), nn.SiLU()]
        self.backbone = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(head, num_classes))

    @property
    def in_channels(self) -> int:
        return 4 if self.with_pose else 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise PosekitError(f"{self.cfg.name}: expected {self.in_channels} input channels, "
                               f"got {x.shape[1]}")
        f = self.backbone(self.stem_in(x))
        return self.classifier(f.mean(dim=(2, 3)))

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C) softmax over the categories (eval mode)."""
        was = self.training
        self.eval()
        try:
            return torch.softmax(self(x), dim=1)
        finally:
            self.train(was)
