"""Validation PCK@alpha of the training loop (pure numpy, so the ONNX evaluation shares it without torch).

A keypoint counts when labelled, and is correct when ``||pred - gt|| <= alpha * size``: size = torso =
||right_shoulder - left_hip|| of the ground truth (the diagonal `posekit.metrics.pck` uses for LSP), or, when
the schema lacks those joints or either is unlabelled, the longer side of the box around the person's
labelled ground-truth keypoints (bbox-normalised). Unlike `posekit.metrics.pck.lsp_pck`, persons without a
torso still count (with the bbox size).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posekit.skeletons import Schema


def pck_hits(
    pred: NDArray[np.floating],
    gt: NDArray[np.floating],
    labelled: NDArray[np.bool_],
    schema: Schema,
    alpha: float = 0.2,
) -> tuple[int, int]:
    """(correct, counted) keypoints for PCK@alpha; pred, gt (N, K, 2) px; labelled (N, K). See module doc."""
    gt = np.asarray(gt, np.float64)
    labelled = np.asarray(labelled, bool)
    size = np.full(len(gt), np.nan)
    if "right_shoulder" in schema.keypoints and "left_hip" in schema.keypoints:
        a, b = schema.index("right_shoulder"), schema.index("left_hip")
        ok = labelled[:, a] & labelled[:, b]
        size[ok] = np.linalg.norm(gt[ok, a] - gt[ok, b], axis=1)
    for i in np.flatnonzero(~(size > 0)):
        pts = gt[i][labelled[i]]
        size[i] = (pts.max(axis=0) - pts.min(axis=0)).max() if len(pts) else np.nan
    count = labelled & (size[:, None] > 0)
    dist = np.linalg.norm(np.asarray(pred, np.float64) - gt, axis=2)
    with np.errstate(invalid="ignore"):
        hit = dist <= alpha * size[:, None]
    return int((hit & count).sum()), int(count.sum())
