"""Parameter and FLOP counts, measured with forward hooks on one forward pass.

FLOPs = 2 x multiply-accumulates of Conv2d, ConvTranspose2d and Linear layers (bias adds, batch norm,
activations, pooling, interpolation and element-wise adds are not counted; they are a few percent).
Conv2d: MACs = out elements x (in_channels / groups) x kh x kw.
ConvTranspose2d: MACs = in elements x (out_channels / groups) x kh x kw.
Linear: MACs = out elements x in_features.
"""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Number of trainable and frozen parameters (buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_size: tuple[int, int]) -> int:
    """FLOPs (2 x MACs) of one forward pass on a (1, 3, H, W) input; see the module docstring."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.ConvTranspose2d):
            kh, kw = module.kernel_size
            total += inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return 2 * total
