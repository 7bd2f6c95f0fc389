"""Training heatmap pose models with PyTorch (optional dependency: ``pip install 'posekit[train]'``).

torch is imported only inside this package's modules that need it (never by ``import posekit``).
`targets`, `augment` and `plot` are pure numpy/PIL; `generator`, `hourglass`, `efficientpose`, `flops`,
`checkpoint`, `loop` and `export` need torch.
"""

from __future__ import annotations

from types import ModuleType

from posekit.errors import PosekitError

INSTALL_HINT = "posekit train needs PyTorch: pip install 'posekit[train]' (or: pip install torch==2.13.0)"


def require_torch() -> ModuleType:
    """The torch module, or a PosekitError with the install command when it is missing."""
    try:
        import torch
    except ImportError:
        raise PosekitError(INSTALL_HINT) from None
    return torch
