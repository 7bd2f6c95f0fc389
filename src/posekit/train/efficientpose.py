"""EfficientPose-style heatmap models (after Groos, Ramampiaro & Ihlen, 2021), sized for a CPU.

Two MBConv feature extractors see the image at full and at half resolution; the half-resolution features
are upsampled to the full-resolution feature grid and concatenated (cross-resolution features), MBConv
detection blocks refine them, and transposed convolutions upsample to the heatmap resolution.
MBConv = 1x1 expansion, depthwise kxk, squeeze-and-excitation, 1x1 projection, Swish (SiLU), residual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from posekit.errors import PosekitError

# Extractor stages: (expansion, kernel, stride, output channels at width 1, repeats). Total stride 8.
_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2))


@dataclass(frozen=True)
class EfficientPoseConfig:
    """width: channel multiplier; depth: repeat multiplier; detection_blocks: MBConv blocks after the
    concatenation; input_size / output_size: (H, W) pixels (output = input / 2 or / 4)."""

    name: str
    width: float = 1.0
    depth: float = 1.0
    detection_blocks: int = 2
    input_size: tuple[int, int] = (128, 128)
    output_size: tuple[int, int] = (32, 32)


EFFICIENTPOSE_CONFIGS: dict[str, EfficientPoseConfig] = {
    c.name: c
    for c in (
        EfficientPoseConfig("efficientpose-s", 0.75, 1.0, 2, (128, 128), (32, 32)),
        EfficientPoseConfig("efficientpose-m", 1.0, 1.5, 3, (192, 192), (48, 48)),
        EfficientPoseConfig("efficientpose-l", 1.5, 2.0, 4, (256, 256), (64, 64)),
    )
}


def channels(c: int, width: float) -> int:
    """``c`` scaled by ``width``, rounded to a multiple of 8 (at least 8)."""
    return max(8, int(round(c * width / 8)) * 8)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, reduced, 1),
            nn.SiLU(),
            nn.Conv2d(reduced, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)


class MBConv(nn.Module):
    """Inverted bottleneck with squeeze-and-excitation (SE ratio 0.25 of the block's input) and Swish."""

    def __init__(self, cin: int, cout: int, expansion: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.SiLU()]
        layers += [
            nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False),
            nn.BatchNorm2d(mid),
            nn.SiLU(),
            SqueezeExcite(mid, max(4, cin // 4)),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


def mbconv_stages(stages: tuple[tuple[int, int, int, int, int], ...], width: float, depth: float
                  ) -> tuple[list[nn.Module], int]:
    """EfficientNet's stem (3x3 stride-2 conv to 32 x width channels) and MBConv stages.

    stages: (expansion, kernel, first stride, out channels, repeats) per stage, scaled by ``width`` (channels,
    rounded to multiples of 8) and ``depth`` (repeats). Returns the layers and their output channels.
    """
    c = channels(32, width)
    layers: list[nn.Module] = [nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.SiLU()]
    for e, k, s, cout, n in stages:
        cout = channels(cout, width)
        for r in range(max(1, math.ceil(n * depth))):
            layers.append(MBConv(c, cout, e, k, s if r == 0 else 1))
            c = cout
    return layers, c


def _extractor(cfg: EfficientPoseConfig) -> tuple[nn.Sequential, int]:
    layers, c = mbconv_stages(_STAGES, cfg.width, cfg.depth)
    return nn.Sequential(*layers), c


class EfficientPose(nn.Module):
    """(B, 3, H, W) normalised images -> [heatmaps (B, K, h, w)] (a one-element list, like the hourglass)."""

    def __init__(self, cfg: EfficientPoseConfig, num_keypoints: int) -> None:
        super().__init__()
        self.cfg, self.num_keypoints = cfg, num_keypoints
        ups = cfg.input_size[0] // cfg.output_size[0]
        if ups not in (2, 4) or cfg.output_size[0] * ups != cfg.input_size[0]:
            raise PosekitError(f"{cfg.name}: output size must be input size / 2 or / 4")
        self.high, c = _extractor(cfg)
        self.low, _ = _extractor(cfg)
        d = channels(64, cfg.width)
        blocks: list[nn.Module] = [MBConv(2 * c, d, 6, 5, 1)]
        blocks += [MBConv(d, d, 6, 5, 1) for _ in range(cfg.detection_blocks - 1)]
        self.detection = nn.Sequential(*blocks)
        head: list[nn.Module] = []
        for _ in range(int(math.log2(8 // ups))):  # stride 8 features -> output stride
            head += [
                nn.ConvTranspose2d(d, d, 4, stride=2, padding=1, groups=1, bias=False),
                nn.BatchNorm2d(d),
                nn.SiLU(),
            ]
        self.upsample = nn.Sequential(*head)
        self.head = nn.Conv2d(d, num_keypoints, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        high = self.high(x)
        low = self.low(nn.functional.avg_pool2d(x, 2))
        low = nn.functional.interpolate(low, size=high.shape[-2:], mode="bilinear", align_corners=False)
        f = self.detection(torch.cat([high, low], dim=1))
        return [self.head(self.upsample(f))]
