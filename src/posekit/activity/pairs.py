"""Richer pose features: every joint pair's distance, on top of the base features.

Pose-only action recognition works best with relational features (the field's joint-pair distances and
orientations: e.g. Yao & Fei-Fei's poselet-free pose descriptors, Chéron et al.'s P-CNN pose part, the
"JCD" joint-collection distances of DD-Net). For the 14 canonical joints (`posekit.activity.features`), in
the person's frame (centre, scale as the base features):

- ``dist_<a>_<b>`` (91): |p_a - p_b| / s for every pair a < b;

missing pairs are 0 (the base features' mask says which joints are missing). ``RICH_FEATURE_NAMES`` = the 76
base features + these 91 = 167. (Pair directions, 2 x 91 more, were left out: the base features' normalised
coordinates already carry the orientation, and on 2 shared cores the boosted trees' time grows with the
feature count.)

`flip_joints` mirrors canonical joints (x -> width - x, left <-> right), for flip augmentation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posekit.activity.features import CANONICAL_JOINTS, FEATURE_NAMES, body_frame, joint_features

_PAIRS = [(a, b) for a in range(len(CANONICAL_JOINTS)) for b in range(a + 1, len(CANONICAL_JOINTS))]
_PA = np.array([a for a, _ in _PAIRS])
_PB = np.array([b for _, b in _PAIRS])
PAIR_NAMES: tuple[str, ...] = tuple(f"dist_{CANONICAL_JOINTS[a]}_{CANONICAL_JOINTS[b]}" for a, b in _PAIRS)
RICH_FEATURE_NAMES = (*FEATURE_NAMES, *PAIR_NAMES)
FEATURE_SETS = ("base", "rich")

_MIRROR = [CANONICAL_JOINTS.index(n.replace("left_", "right_") if n.startswith("left_")
                                  else n.replace("right_", "left_")) for n in CANONICAL_JOINTS]


def pair_features(joints: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 14, 2) canonical joints in pixels (NaN missing) -> (N, 91) scaled pair distances."""
    j = np.array(joints, dtype=np.float64)
    j[~np.isfinite(j).all(axis=2)] = np.nan
    _, scale, _ = body_frame(j)
    length = np.linalg.norm(j[:, _PB] - j[:, _PA], axis=2)
    return np.nan_to_num(length / scale[:, None], nan=0.0)


def features_of(joints: NDArray[np.float64], kind: str = "rich") -> NDArray[np.float64]:
    """Base (76) or rich (167) features of (N, 14, 2) canonical joints."""
    base = joint_features(joints)
    return np.concatenate([base, pair_features(joints)], axis=1) if kind == "rich" else base


def feature_width(kind: str) -> int:
    """How many features the set ``kind`` has (76 or 167)."""
    if kind not in FEATURE_SETS:
        from posekit.errors import PosekitError

        raise PosekitError(f"unknown feature set {kind!r}; choose one of {', '.join(FEATURE_SETS)}")
    return len(RICH_FEATURE_NAMES) if kind == "rich" else len(FEATURE_NAMES)


def flip_joints(joints: NDArray[np.float64], width: float) -> NDArray[np.float64]:
    """(N, 14, 2) canonical joints of an image ``width`` px wide, mirrored: x -> width - x, left <-> right."""
    j = np.array(joints, dtype=np.float64)[:, _MIRROR]
    j[..., 0] = width - j[..., 0]
    return j
