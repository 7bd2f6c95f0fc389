"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) for keypoint coordinates.

Follows MediaPipe's ``one_euro_filter.cc``: time is passed in explicitly (variable frame rates work), the
derivative is taken of the value multiplied by ``value_scale`` so that speed is measured in the units the
caller chooses (posekit passes 1 / person size: speed in person sizes per second, so one parameter set suits
near and far people, as MediaPipe's landmark smoothing does), and a sample whose time does not advance is
returned unfiltered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class OneEuroParams:
    """min_cutoff (Hz): cutoff at rest, lower = smoother and laggier when still. beta: how fast the cutoff
    rises with speed (per person size per second), higher = less lag on fast moves. d_cutoff (Hz): cutoff
    of the speed estimate itself. frequency (Hz): assumed rate until two timestamps have been seen."""

    min_cutoff: float = 0.3
    beta: float = 5.0
    d_cutoff: float = 1.0
    frequency: float = 30.0

    def __post_init__(self) -> None:
        from posekit.errors import PosekitError

        for name in ("min_cutoff", "d_cutoff", "frequency"):
            if not getattr(self, name) > 0:
                raise PosekitError(f"One Euro {name}={getattr(self, name)}: give a value above 0")
        if self.beta < 0:
            raise PosekitError(f"One Euro beta={self.beta}: give 0 or more")


def _alpha(cutoff: NDArray[np.float64] | float, frequency: float) -> NDArray[np.float64] | float:
    """Smoothing factor of a first-order low-pass filter at ``cutoff`` Hz sampled at ``frequency`` Hz."""
    te = 1.0 / frequency
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / te)


class OneEuroFilter:
    """One Euro filter over an array of values (e.g. (K, 2) keypoints) sharing one timestamp.

    ``filter(value, time, value_scale) -> filtered`` with ``time`` in seconds. ``reset()`` forgets the
    state (a lost track starts afresh when it is found again).
    """

    def __init__(self, params: OneEuroParams | None = None) -> None:
        self.params = params or OneEuroParams()
        self.reset()

    def reset(self) -> None:
        self.frequency = self.params.frequency
        self.last_time: float | None = None
        self.last_raw: NDArray[np.float64] | None = None
        self.x: NDArray[np.float64] | None = None  # filtered value
        self.dx: NDArray[np.float64] | None = None  # filtered scaled speed

    def filter(self, value: NDArray[np.floating], time: float, value_scale: float = 1.0
               ) -> NDArray[np.float64]:
        value = np.asarray(value, np.float64)
        if self.last_time is not None and time <= self.last_time:
            return value.copy()
        if self.last_time is not None:
            self.frequency = 1.0 / (time - self.last_time)
        self.last_time = time
        p = self.params
        if self.last_raw is None or self.last_raw.shape != value.shape:
            speed = np.zeros_like(value)
            self.dx = None
            self.x = None
        else:
            speed = (value - self.last_raw) * value_scale * self.frequency
        rate = self.frequency
        self.dx = speed if self.dx is None else self._blend(speed, self.dx, _alpha(p.d_cutoff, rate))
        cutoff = p.min_cutoff + p.beta * np.abs(self.dx)
        self.x = value.copy() if self.x is None else self._blend(value, self.x, _alpha(cutoff, rate))
        self.last_raw = value
        return self.x.copy()

    @staticmethod
    def _blend(value: NDArray[np.float64], previous: NDArray[np.float64], alpha) -> NDArray[np.float64]:
        return alpha * value + (1.0 - alpha) * previous


def person_size(xy: NDArray[np.floating], scores: NDArray[np.floating], threshold: float = 0.3) -> float:
    """A person's size in pixels: the mean of the width and height of the box around its keypoints scoring
    at least ``threshold`` (all keypoints when fewer than two do), at least 1 px. (K, 2), (K,) -> float."""
    xy = np.asarray(xy, np.float64)
    keep = np.asarray(scores) >= threshold
    pts = xy[keep] if keep.sum() >= 2 else xy
    if len(pts) == 0:
        return 1.0
    w, h = pts.max(axis=0) - pts.min(axis=0)
    return max(float(w + h) / 2.0, 1.0)
