"""kNN after Procrustes alignment: pose-only activity by the nearest training poses.

The base features start with the 14 canonical joints' normalised coordinates (28 values, 0 where missing)
and end with the missing-joint mask (`posekit.activity.features`). `ProcrustesCoords` reads those, aligns each
pose to the training set's mean pose by the similarity transform (rotation, uniform scale, translation)
that best fits its present joints (orthogonal Procrustes, reflections excluded), puts the mean pose's joint
where a joint is missing, and returns the 28 aligned coordinates. Image orientation is given up only up to
``max_rotation`` radians (default 45 degrees): a lying person stays lying. `SoftVote` averages the
probabilities of fitted classifiers (the ensemble of boosted trees and kNN).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.activity.features import CANONICAL_JOINTS, FEATURE_NAMES

_K = len(CANONICAL_JOINTS)
_MISSING = FEATURE_NAMES.index(f"missing_{CANONICAL_JOINTS[0]}")


def _split(features: NDArray[np.floating]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    x = np.asarray(features, dtype=np.float64)
    return x[:, :2 * _K].reshape(-1, _K, 2), x[:, _MISSING:_MISSING + _K] < 0.5


def procrustes_align(pts: NDArray[np.float64], present: NDArray[np.bool_], ref: NDArray[np.float64],
                     max_rotation: float = np.pi / 4) -> NDArray[np.float64]:
    """(N, K, 2) poses aligned to ``ref`` (K, 2) on their ``present`` (N, K) joints; missing joints (and
    poses with fewer than 2 present joints) take ``ref``'s positions. Rotations are clipped to
    +-``max_rotation``."""
    out = np.repeat(ref[None], len(pts), axis=0)
    w = present.astype(np.float64)[..., None]
    n = w.sum(axis=1)  # (N, 1)
    ok = n[:, 0] >= 2
    safe = np.maximum(n, 1.0)
    mu_p = (pts * w).sum(axis=1) / safe
    mu_r = (ref[None] * w).sum(axis=1) / safe
    p, r = (pts - mu_p[:, None]) * w, (ref[None] - mu_r[:, None]) * w
    # 2-D Procrustes in closed form: the angle maximising sum r . R p, and the least-squares scale
    a = (p[..., 0] * r[..., 0] + p[..., 1] * r[..., 1]).sum(axis=1)
    b = (p[..., 0] * r[..., 1] - p[..., 1] * r[..., 0]).sum(axis=1)
    theta = np.clip(np.arctan2(b, a), -max_rotation, max_rotation)
    cos, sin = np.cos(theta), np.sin(theta)
    rot = np.stack([p[..., 0] * cos[:, None] - p[..., 1] * sin[:, None],
                    p[..., 0] * sin[:, None] + p[..., 1] * cos[:, None]], axis=2)
    norm = (p ** 2).sum(axis=(1, 2))
    scale = np.where(norm > 1e-12, (rot * r).sum(axis=(1, 2)) / np.maximum(norm, 1e-12), 1.0)
    aligned = rot * scale[:, None, None] + mu_r[:, None]
    keep = present & ok[:, None]
    out[keep] = aligned[keep]
    return out


class ProcrustesCoords:
    """A scikit-learn transformer: base (or rich) features -> (N, 28) Procrustes-aligned coordinates."""

    def __init__(self, max_rotation: float = np.pi / 4) -> None:
        self.max_rotation = max_rotation

    def fit(self, x: NDArray[np.floating], y: Any = None) -> ProcrustesCoords:
        pts, present = _split(x)
        ref = np.where(present[..., None], pts, 0.0).sum(axis=0) / np.maximum(present.sum(axis=0), 1)[:, None]
        # a second pass: the mean of the poses aligned to the first mean
        aligned = procrustes_align(pts, present, ref, self.max_rotation)
        self.ref_ = aligned.mean(axis=0)
        return self

    def transform(self, x: NDArray[np.floating]) -> NDArray[np.float64]:
        pts, present = _split(x)
        return procrustes_align(pts, present, self.ref_, self.max_rotation).reshape(len(pts), -1)

    def fit_transform(self, x: NDArray[np.floating], y: Any = None) -> NDArray[np.float64]:
        return self.fit(x, y).transform(x)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"max_rotation": self.max_rotation}

    def set_params(self, **params: Any) -> ProcrustesCoords:
        self.max_rotation = params.get("max_rotation", self.max_rotation)
        return self


def make_knn(k: int = 30) -> Any:
    """Procrustes alignment, then a distance-weighted k-nearest-neighbour vote."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    return Pipeline([("align", ProcrustesCoords()), ("knn", KNeighborsClassifier(k, weights="distance"))])


class SoftVote:
    """Weighted mean of fitted classifiers' probabilities (all with classes_ 0..C-1)."""

    def __init__(self, estimators: list[Any], weights: list[float]) -> None:
        self.estimators, self.weights = estimators, list(weights)
        self.classes_ = estimators[0].classes_

    def predict_proba(self, x: NDArray[np.floating]) -> NDArray[np.float64]:
        total = sum(w * np.asarray(e.predict_proba(x)) for e, w in zip(self.estimators, self.weights,
                                                                        strict=True))
        return total / sum(self.weights)
