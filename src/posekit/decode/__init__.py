"""Model outputs -> Poses: the numpy decoders of each family, and what they share."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def sigmoid(x: NDArray[np.floating]) -> NDArray[np.floating]:
    """The logistic function in ``x``'s float dtype; exp(-x) overflowing to inf (x below about -88 in
    float32) gives exactly 0, without a warning."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def logit(p: NDArray[np.floating]) -> NDArray[np.float64]:
    """The inverse of `sigmoid` in float64, ``p`` clipped to [1e-7, 1 - 1e-7] so 0 and 1 stay finite."""
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))
