"""Model outputs -> Poses: the numpy decoders of each family, and what they share."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def sigmoid(x: NDArray[np.floating]) -> NDArray[np.floating]:
    """The logistic function in ``x``'s float dtype; exp(-x) overflowing to inf (x below about -88 in
    float32) gives exactly 0, without a warning."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))
