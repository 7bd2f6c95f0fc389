"""Generated pose fixtures for the activity tests: learnable classes of MPII-16 poses and an MPII CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from posekit.skeletons import MPII16

# An upright person in MPII-16 order, torso length 100 px (thorax y=0 .. pelvis y=100), arms down.
_BASE = {
    "right_ankle": (-20, 300), "right_knee": (-20, 200), "right_hip": (-20, 100), "left_hip": (20, 100),
    "left_knee": (20, 200), "left_ankle": (20, 300), "pelvis": (0, 100), "thorax": (0, 0),
    "upper_neck": (0, -15), "head_top": (0, -65), "right_wrist": (-40, 100), "right_elbow": (-40, 50),
    "right_shoulder": (-40, 0), "left_shoulder": (40, 0), "left_elbow": (40, 50), "left_wrist": (40, 100),
}
# Arms per class: (elbow, wrist) offsets from the shoulder for the left arm (mirrored for the right).
ARMS = {"arms down": ((0, 50), (0, 100)), "arms up": ((0, -50), (0, -100)), "arms out": ((50, 0), (100, 0))}


def pose(label: str) -> np.ndarray:
    """(16, 2) MPII-16 keypoints of the class ``label``, no noise."""
    xy = np.array([_BASE[n] for n in MPII16.keypoints], dtype=np.float64)
    (ex, ey), (wx, wy) = ARMS[label]
    for side, sign in (("left", 1), ("right", -1)):
        sx, sy = xy[MPII16.index(f"{side}_shoulder")]
        xy[MPII16.index(f"{side}_elbow")] = (sx + sign * ex, sy + ey)
        xy[MPII16.index(f"{side}_wrist")] = (sx + sign * wx, sy + wy)
    return xy


def poses(n_per_class: int, seed: int = 0, noise: float = 12.0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(N, 16, 2) noisy, randomly scaled and shifted poses, (N, 16) visibility and N labels."""
    rng = np.random.default_rng(seed)
    xy, labels = [], []
    for label in ARMS:
        for _ in range(n_per_class):
            p = pose(label) + rng.normal(0, noise, (16, 2))
            xy.append(p * rng.uniform(0.5, 2.0) + rng.uniform(200, 800, 2))
            labels.append(label)
    vis = np.full((len(xy), 16), 2, np.int8)
    return np.asarray(xy), vis, labels


def write_mpii_csv(path: Path, xy: np.ndarray, labels: list[str], missing: np.ndarray | None = None) -> Path:
    """An MPII CSV export (one person per image) with category = label; missing joints written as -1."""
    joints = [n.replace("right_", "r ").replace("left_", "l ").replace("_", " ") for n in MPII16.keypoints]
    header = ["ID", "NAME", *[f"{j}_{a}" for j in joints for a in "XY"], "Scale", "Activity", "Category"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i, (p, label) in enumerate(zip(xy, labels, strict=True)):
            q = p.copy()
            if missing is not None:
                q[missing[i]] = -1
            w.writerow([i + 1, f"{i:09d}.jpg", *[f"{v:.3f}" for v in q.reshape(-1)], "1.5", label, label])
    return path
