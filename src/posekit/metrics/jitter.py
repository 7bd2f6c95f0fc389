"""Temporal quality of pose trajectories: jitter (acceleration error), lag, and per-frame accuracy.

A trajectory is one person over T frames: ``(T, K, 2)`` keypoints in image pixels (x before y), NaN where
the person or the prediction is absent. ``visible: (T, K)`` says which ground-truth keypoints count.
``size: (T,)`` is the person's size in pixels, the square root of the ground-truth box area (w * h), so
errors read in person sizes and compare across people and zooms.

- :func:`acceleration_error`: mean norm of the difference between the predicted and the true second
  difference ``x[t-1] - 2 x[t] + x[t+1]``, in person sizes per frame^2. Zero for a prediction that follows
  the truth with a constant offset; a +-a px alternating jitter on a straight path gives 4a / size.
- :func:`lag_frames`: the sub-frame time shift of the truth that best explains the prediction (positive =
  the prediction is late), as a smoothing filter shows on steady motion.
- :func:`match_trajectories`: per-frame OKS matching of predicted to true people, then each true track gets
  the predicted track it matches most often, giving the trajectory pairs the two measures above take.
- :func:`frame_pck`: PCK@alpha over every frame (torso-normalised), people matched per frame by OKS.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from posekit.metrics.oks import COCO_SIGMAS, oks
from posekit.metrics.pck import normalized_distances, torso_sizes
from posekit.skeletons import COCO17, Schema


def _valid(pred: NDArray[np.float64], gt: NDArray[np.float64],
           visible: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """(T, K) where the GT keypoint counts and both positions are finite."""
    return np.asarray(visible, bool) & np.isfinite(pred).all(axis=2) & np.isfinite(gt).all(axis=2)


def acceleration_errors(pred: NDArray[np.floating], gt: NDArray[np.floating], visible: NDArray[np.bool_],
                        size: NDArray[np.floating]) -> NDArray[np.float64]:
    """Every acceleration-error term (see :func:`acceleration_error`) as a flat array, person sizes / frame^2.

    pred, gt: (T, K, 2) px; visible: (T, K); size: (T,) px. A term exists for (t, k) when frames t-1, t,
    t+1 are all valid (labelled, finite, size > 0); a NaN or invisible frame breaks the run.
    """
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    s = np.asarray(size, np.float64)
    ok = _valid(p, g, visible) & (np.isfinite(s) & (s > 0))[:, None]
    if len(p) < 3:
        return np.zeros(0)
    both = ok[:-2] & ok[1:-1] & ok[2:]
    acc_p = p[:-2] - 2 * p[1:-1] + p[2:]
    acc_g = g[:-2] - 2 * g[1:-1] + g[2:]
    err = np.linalg.norm(np.where(both[..., None], acc_p - acc_g, 0.0), axis=2)
    err /= np.where(ok, s[:, None], 1.0)[1:-1]
    return err[both]


def acceleration_error(pred: NDArray[np.floating], gt: NDArray[np.floating], visible: NDArray[np.bool_],
                       size: NDArray[np.floating]) -> float:
    """Mean |(x[t-1] - 2x[t] + x[t+1]) - (g[t-1] - 2g[t] + g[t+1])| / size[t], person sizes per frame^2.

    pred, gt: (T, K, 2) px; visible: (T, K) bool; size: (T,) px (sqrt of the GT box area). The mean runs
    over (t, k) whose frames t-1, t, t+1 are all valid; NaN when there is none.
    """
    terms = acceleration_errors(pred, gt, visible, size)
    return float(terms.mean()) if terms.size else float("nan")


def _shifted(g: NDArray[np.float64], ok: NDArray[np.bool_], times: NDArray[np.float64]) -> tuple[
        NDArray[np.float64], NDArray[np.bool_]]:
    """gt at fractional frame ``times`` (T',) by linear interpolation; valid where both neighbours are."""
    lo = np.floor(times).astype(int)
    frac = (times - lo)[:, None, None]
    hi = np.minimum(lo + 1, len(g) - 1)
    val = ok[lo] & (ok[hi] | (frac[:, :, 0] == 0))
    g_hi = np.where((frac > 0) & ok[hi][..., None], g[hi], g[lo])
    return g[lo] * (1 - frac) + g_hi * frac, val


def lag_curve(pred: NDArray[np.floating], gt: NDArray[np.floating], visible: NDArray[np.bool_],
              max_lag: float = 5.0, step: float = 0.05,
              min_frames: int = 1) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean squared error (px^2) of ``pred[t]`` against ``gt(t - d)``, shifts d in +-max_lag by ``step``.

    gt(t - d) is linearly interpolated between frames. Every shift is scored on the same frames
    t in [ceil(max_lag), T - 1 - ceil(max_lag)], so that shifts compare fairly. Returns shifts (S,) and
    errors (S,), NaN where a shift has valid pairs in fewer than ``min_frames`` frames.
    """
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    ok_p = np.asarray(visible, bool) & np.isfinite(p).all(axis=2)
    ok_g = np.asarray(visible, bool) & np.isfinite(g).all(axis=2)
    n = int(round(max_lag / step))
    shifts = np.round(np.arange(-n, n + 1) * step, 10)
    margin = int(np.ceil(max_lag))
    t = np.arange(margin, len(p) - margin, dtype=np.float64)
    errors = np.full(len(shifts), np.nan)
    if not len(t):
        return shifts, errors
    ti = t.astype(int)
    for i, d in enumerate(shifts):
        gs, ok = _shifted(np.nan_to_num(g), ok_g, t - d)
        ok &= ok_p[ti]
        if ok.any(axis=1).sum() >= max(min_frames, 1):
            errors[i] = float(((p[ti] - gs) ** 2).sum(axis=2)[ok].mean())
    return shifts, errors


def lag_frames(pred: NDArray[np.floating], gt: NDArray[np.floating], visible: NDArray[np.bool_],
               max_lag: float = 5.0, step: float = 0.05, min_frames: int = 1) -> float:
    """Frames by which ``pred`` trails ``gt``: the shift d minimising the mean squared error of pred[t]
    against gt(t - d).

    pred, gt: (T, K, 2) px; visible: (T, K). Positive = pred lags. Searched in ``step`` frames over
    +-``max_lag`` (see :func:`lag_curve`); NaN when fewer than ``min_frames`` frames can be compared.
    The squared error keeps the estimate unbiased under independent per-frame noise. Meaningful on moving
    targets: a still target has no lag to find, and on a straight-line motion a constant model bias along
    the path reads as lag (on back-and-forth motion it mostly cancels).
    """
    shifts, errors = lag_curve(pred, gt, visible, max_lag, step, min_frames)
    if np.isnan(errors).all():
        return float("nan")
    return float(shifts[np.nanargmin(errors)])


@dataclass(frozen=True)
class FramePeople:
    """The people of one frame. track_ids: (N,) int; xy: (N, K, 2) px; visible: (N, K) bool (GT: labelled,
    predictions: all True); area: (N,) px^2 OKS area (GT only); size: (N,) px person size (GT only)."""

    track_ids: NDArray[np.int64]
    xy: NDArray[np.float64]
    visible: NDArray[np.bool_]
    area: NDArray[np.float64] | None = None
    size: NDArray[np.float64] | None = None
    scores: NDArray[np.float64] | None = None

    @classmethod
    def empty(cls, k: int = 17) -> FramePeople:
        """No people (K keypoints)."""
        return cls(np.zeros(0, np.int64), np.zeros((0, k, 2)), np.zeros((0, k), bool), np.zeros(0),
                   np.zeros(0))


def match_frame(gt: FramePeople, pred: FramePeople, threshold: float = 0.5,
                sigmas: NDArray[np.floating] = COCO_SIGMAS) -> list[tuple[int, int]]:
    """One-to-one (gt index, pred index) pairs of one frame maximising total OKS, each with OKS >= threshold.

    GT people without a labelled keypoint are never matched. ``threshold`` 0 keeps any pair with OKS > 0.
    """
    labelled = np.flatnonzero(gt.visible.any(axis=1))
    if not len(labelled) or not len(pred.track_ids):
        return []
    sim = oks(pred.xy, gt.xy[labelled], gt.visible[labelled], gt.area[labelled], sigmas=sigmas)  # (D, G)
    rows, cols = linear_sum_assignment(-sim)
    return sorted((int(labelled[c]), int(r)) for r, c in zip(rows, cols, strict=True)
                  if sim[r, c] >= threshold and sim[r, c] > 0)


@dataclass(frozen=True)
class TrajectoryPair:
    """One GT track and the predicted track assigned to it.

    gt, pred: (T, K, 2) px, NaN where the GT person is absent / where the assigned predicted track is not
    matched to this person in that frame. visible: (T, K) labelled GT keypoints. size: (T,) px, NaN where
    absent. pred_track: the assigned predicted id (None if never matched); matched: frames it matched.
    """

    gt_track: int
    pred_track: int | None
    gt: NDArray[np.float64]
    pred: NDArray[np.float64]
    visible: NDArray[np.bool_]
    size: NDArray[np.float64]
    matched: int


def match_trajectories(gt_frames: list[FramePeople], pred_frames: list[FramePeople], threshold: float = 0.5,
                       sigmas: NDArray[np.floating] = COCO_SIGMAS) -> list[TrajectoryPair]:
    """Pair every GT track with the predicted track it matches most often (per-frame OKS >= threshold).

    gt_frames, pred_frames: one FramePeople per frame, same length T. Ties go to the smaller predicted id.
    A predicted track may serve several GT tracks (an identity that jumps between people). Returns one
    TrajectoryPair per GT track, in track-id order; pred is filled only in frames where the assigned
    predicted track was matched to that GT person.
    """
    if len(gt_frames) != len(pred_frames):
        raise ValueError(f"{len(gt_frames)} GT frames but {len(pred_frames)} predicted frames")
    pairs = [match_frame(g, p, threshold, sigmas) for g, p in zip(gt_frames, pred_frames, strict=True)]
    votes: dict[int, Counter[int]] = {}
    for g, p, frame_pairs in zip(gt_frames, pred_frames, pairs, strict=True):
        for tid in g.track_ids.tolist():
            votes.setdefault(int(tid), Counter())
        for gi, pi in frame_pairs:
            votes[int(g.track_ids[gi])][int(p.track_ids[pi])] += 1
    k = gt_frames[0].xy.shape[1] if gt_frames else 17
    out = []
    for tid in sorted(votes):
        best = min(votes[tid].items(), key=lambda kv: (-kv[1], kv[0]))[0] if votes[tid] else None
        t_n = len(gt_frames)
        gt_xy, pred_xy = np.full((t_n, k, 2), np.nan), np.full((t_n, k, 2), np.nan)
        vis, size = np.zeros((t_n, k), bool), np.full(t_n, np.nan)
        matched = 0
        for t, (g, p, frame_pairs) in enumerate(zip(gt_frames, pred_frames, pairs, strict=True)):
            where = np.flatnonzero(g.track_ids == tid)
            if not len(where):
                continue
            gi = int(where[0])
            gt_xy[t], vis[t] = g.xy[gi], g.visible[gi]
            size[t] = g.size[gi] if g.size is not None else np.nan
            for a, b in frame_pairs:
                if a == gi and best is not None and p.track_ids[b] == best:
                    pred_xy[t] = p.xy[b]
                    matched += 1
        out.append(TrajectoryPair(tid, best, gt_xy, pred_xy, vis, size, matched))
    return out


def identity_switches(gt_frames: list[FramePeople], pred_frames: list[FramePeople], threshold: float = 0.5,
                      sigmas: NDArray[np.floating] = COCO_SIGMAS) -> int:
    """Person-level identity switches (CLEAR MOT's count, with per-frame OKS matching): each time a GT
    person is matched (OKS >= ``threshold``) to a predicted track other than the one it was last matched
    to. Frames where the person is unmatched do not count, nor does the first match. Unlike PoseTrack's
    per-joint count, a keypoint that lands nearer another person is no switch: only the tracker's identities
    are measured."""
    last: dict[int, int] = {}
    switches = 0
    for g, p in zip(gt_frames, pred_frames, strict=True):
        for gi, pi in match_frame(g, p, threshold, sigmas):
            person, track = int(g.track_ids[gi]), int(p.track_ids[pi])
            switches += person in last and last[person] != track
            last[person] = track
    return switches


def frame_pck_counts(gt_frames: list[FramePeople], pred_frames: list[FramePeople], alpha: float = 0.2,
                     schema: Schema = COCO17, torso: tuple[str, str] = ("right_shoulder", "left_hip"),
                     sigmas: NDArray[np.floating] = COCO_SIGMAS) -> tuple[int, int]:
    """(correct, counted) GT keypoints over all frames for PCK@alpha; see :func:`frame_pck`."""
    hits = counted = 0
    a, b = schema.index(torso[0]), schema.index(torso[1])
    for g, p in zip(gt_frames, pred_frames, strict=True):
        if not len(g.track_ids):
            continue
        vis = g.visible & g.visible[:, [a]] & g.visible[:, [b]]
        pred = np.full(g.xy.shape, np.nan)
        for gi, pi in match_frame(g, p, 0.0, sigmas):
            pred[gi] = p.xy[pi]
        dist = normalized_distances(pred, g.xy, torso_sizes(g.xy, schema, torso))
        hits += int((np.where(vis, np.nan_to_num(dist, nan=np.inf), np.inf) <= alpha).sum())
        counted += int(vis.sum())
    return hits, counted


def frame_pck(gt_frames: list[FramePeople], pred_frames: list[FramePeople], alpha: float = 0.2,
              schema: Schema = COCO17, torso: tuple[str, str] = ("right_shoulder", "left_hip"),
              sigmas: NDArray[np.floating] = COCO_SIGMAS) -> float:
    """PCK@alpha over every frame: fraction of labelled GT keypoints within alpha x torso of the prediction.

    Torso = distance between the GT's ``torso`` joints (right shoulder to left hip, as LSP PCK); a person
    without both labelled has no torso and does not count. People are matched per frame by maximal total
    OKS (any OKS > 0), regardless of track ids; an unmatched GT person's keypoints are misses. NaN when
    nothing counts.
    """
    hits, counted = frame_pck_counts(gt_frames, pred_frames, alpha, schema, torso, sigmas)
    return hits / counted if counted else float("nan")
