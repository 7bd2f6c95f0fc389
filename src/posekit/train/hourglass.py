"""Stacked hourglass networks (Newell, Yang & Deng, ECCV 2016), small enough for a CPU.

A stem brings the input down to the output resolution (stride 2 conv, then max-pools), then ``n_stacks``
hourglasses each predict K heatmaps; every stack's heatmaps are supervised (intermediate supervision), and
the next stack gets features + remapped heatmaps. Convolutions are normal 3x3 or depthwise-separable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from posekit.errors import PosekitError


@dataclass(frozen=True)
class HourglassConfig:
    """input_size / output_size: (H, W) pixels (their ratio must be a power of two, >= 2); channels: feature
    width; depth: number of down-samplings inside each hourglass; depthwise: separable 3x3 convolutions."""

    name: str
    n_stacks: int = 2
    channels: int = 128
    depth: int = 4
    depthwise: bool = False
    input_size: tuple[int, int] = (256, 256)
    output_size: tuple[int, int] = (64, 64)


HOURGLASS_CONFIGS: dict[str, HourglassConfig] = {
    c.name: c
    for c in (
        HourglassConfig("hourglass-tiny", 2, 16, 2, False, (32, 32), (16, 16)),  # tests and smoke runs
        HourglassConfig("hourglass-xs", 1, 64, 3, True, (128, 128), (32, 32)),
        HourglassConfig("hourglass-s", 2, 96, 3, True, (128, 128), (32, 32)),
        HourglassConfig("hourglass-s-conv", 2, 64, 3, False, (128, 128), (32, 32)),
        HourglassConfig("hourglass-m", 2, 128, 4, True, (256, 256), (64, 64)),
        HourglassConfig("hourglass-l", 4, 128, 4, False, (256, 256), (64, 64)),
    )
}


def conv3x3(cin: int, cout: int, depthwise: bool) -> nn.Module:
    if depthwise:
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
            nn.Conv2d(cin, cout, 1, bias=False),
        )
    return nn.Conv2d(cin, cout, 3, padding=1, bias=False)


class Residual(nn.Module):
    """Pre-activation bottleneck residual: BN-ReLU-1x1 (c/2), BN-ReLU-3x3, BN-ReLU-1x1 (c)."""

    def __init__(self, cin: int, cout: int, depthwise: bool) -> None:
        super().__init__()
        mid = max(cout // 2, 8)
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            conv3x3(mid, mid, depthwise),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False),
        )
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One recursive hourglass: skip branch at this scale + pool, recurse, upsample (nearest) and add."""

    def __init__(self, depth: int, channels: int, depthwise: bool) -> None:
        super().__init__()
        self.skip = Residual(channels, channels, depthwise)
        self.down = nn.Sequential(nn.MaxPool2d(2), Residual(channels, channels, depthwise))
        self.inner = (
            Hourglass(depth - 1, channels, depthwise)
            if depth > 1
            else Residual(channels, channels, depthwise)
        )
        self.up = Residual(channels, channels, depthwise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.up(self.inner(self.down(x)))
        return self.skip(x) + nn.functional.interpolate(low, size=x.shape[-2:], mode="nearest")


class StackedHourglass(nn.Module):
    """(B, 3, H, W) normalised images -> list of n_stacks heatmap tensors (B, K, h, w); last is the answer."""

    def __init__(self, cfg: HourglassConfig, num_keypoints: int) -> None:
        super().__init__()
        self.cfg, self.num_keypoints = cfg, num_keypoints
        ratio = cfg.input_size[0] // cfg.output_size[0]
        if (
            ratio < 2
            or ratio & (ratio - 1)
            or cfg.input_size[1] // cfg.output_size[1] != ratio
            or cfg.output_size[0] * ratio != cfg.input_size[0]
        ):
            raise PosekitError(f"{cfg.name}: input/output size ratio must be a power of two >= 2")
        c, dw = cfg.channels, cfg.depthwise
        stem: list[nn.Module] = [
            nn.Conv2d(3, c // 2, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(c // 2),
            nn.ReLU(True),
            Residual(c // 2, c, dw),
        ]
        for _ in range(int(math.log2(ratio)) - 1):
            stem += [nn.MaxPool2d(2), Residual(c, c, dw)]
        self.stem = nn.Sequential(*stem)
        self.hourglasses = nn.ModuleList(Hourglass(cfg.depth, c, dw) for _ in range(cfg.n_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(
                Residual(c, c, dw), nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)
            )
            for _ in range(cfg.n_stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(c, num_keypoints, 1) for _ in range(cfg.n_stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(c, c, 1) for _ in range(cfg.n_stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(num_keypoints, c, 1) for _ in range(cfg.n_stacks - 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outputs = []
        for i in range(self.cfg.n_stacks):
            f = self.features[i](self.hourglasses[i](x))
            hm = self.heads[i](f)
            outputs.append(hm)
            if i < self.cfg.n_stacks - 1:
                x = x + self.merge_features[i](f) + self.merge_heatmaps[i](hm)
        return outputs
