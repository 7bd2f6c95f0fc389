"""How alike two sets of people are, and the best one-to-one assignment between them.

``keypoint_similarity`` is TF.js MoveNet's tracker OKS (tfjs-models ``KeypointTracker``): keypoints that
both poses hold with at least ``threshold`` confidence count, each scores exp(-d^2 / (2 A (2 sigma)^2)) with
A the area of the box around the track's confident keypoints, and the mean is the similarity (0 when fewer
than ``min_keypoints`` count). ``box_iou`` serves schemas without COCO sigmas (and posekit's NMS: the
detectors', BlazePose's weighted one). ``assign`` is the optimal
assignment (scipy's Hungarian solver) with pairs below ``min_similarity`` left unmatched.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from posekit.metrics.oks import COCO_SIGMAS
from posekit.skeletons import COCO17, Schema, joint_mapping


def schema_sigmas(schema: Schema) -> NDArray[np.float64]:
    """(K,) COCO OKS sigmas for the joints of ``schema`` that COCO-17 has (by name), NaN for the others."""
    sigmas = np.full(schema.num_keypoints, np.nan)
    for own_index, coco in enumerate(joint_mapping(COCO17, schema)):
        if coco is not None:
            sigmas[own_index] = COCO_SIGMAS[coco]
    return sigmas


def keypoint_similarity(track_xy: NDArray[np.floating], track_scores: NDArray[np.floating],
                        det_xy: NDArray[np.floating], det_scores: NDArray[np.floating],
                        sigmas: NDArray[np.floating], threshold: float = 0.3, min_keypoints: int = 4
                        ) -> NDArray[np.float64]:
    """(T, D) OKS between T tracks and D detections.

    track_xy: (T, K, 2) pixels; track_scores: (T, K); det_xy: (D, K, 2); det_scores: (D, K);
    sigmas: (K,) per-joint sigmas, NaN for joints that never count.
    """
    t_xy, d_xy = np.asarray(track_xy, np.float64), np.asarray(det_xy, np.float64)
    t_ok = np.asarray(track_scores) >= threshold
    d_ok = np.asarray(det_scores) >= threshold
    sig = np.asarray(sigmas, np.float64)
    usable = ~np.isnan(sig)
    if len(t_xy) == 0 or len(d_xy) == 0:
        return np.zeros((len(t_xy), len(d_xy)))
    boxes = keypoint_boxes(t_xy, track_scores, threshold).astype(np.float64)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) + 1e-6  # (T,) px^2
    both = t_ok[:, None, :] & d_ok[None, :, :] & usable[None, None, :]  # (T, D, K)
    d2 = ((t_xy[:, None] - d_xy[None]) ** 2).sum(-1)  # (T, D, K)
    k2 = (2 * np.nan_to_num(sig)) ** 2
    ks = np.exp(-d2 / (2 * area[:, None, None] * np.maximum(k2, 1e-12)[None, None, :]))
    count = both.sum(-1)
    total = np.where(both, ks, 0.0).sum(-1)
    return np.where(count >= max(min_keypoints, 1), total / np.maximum(count, 1), 0.0)


def box_iou(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float64]:
    """(A, B) intersection over union of boxes x1, y1, x2, y2: (A, 4) and (B, 4)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def keypoint_boxes(xy: NDArray[np.floating], scores: NDArray[np.floating], threshold: float = 0.3
                   ) -> NDArray[np.float32]:
    """(N, 4) x1, y1, x2, y2 around each person's keypoints scoring at least ``threshold`` (all keypoints
    for a person with fewer than two such). xy: (N, K, 2); scores: (N, K)."""
    xy = np.asarray(xy, np.float32)
    ok = np.asarray(scores) >= threshold
    ok = np.where(ok.sum(1, keepdims=True) >= 2, ok, True)
    big = np.float32(np.finfo(np.float32).max)
    lo = np.where(ok[:, :, None], xy, big).min(axis=1)
    hi = np.where(ok[:, :, None], xy, -big).max(axis=1)
    return np.concatenate([lo, hi], axis=1).reshape(-1, 4).astype(np.float32)


def assign(similarity: NDArray[np.floating], min_similarity: float) -> list[tuple[int, int]]:
    """Optimal one-to-one (row, column) pairs maximising total similarity; pairs below
    ``min_similarity`` are dropped (those rows and columns stay unmatched)."""
    from scipy.optimize import linear_sum_assignment

    sim = np.asarray(similarity, np.float64)
    if sim.size == 0:
        return []
    rows, cols = linear_sum_assignment(-sim)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if sim[r, c] >= min_similarity]
