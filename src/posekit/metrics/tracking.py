"""Multi-person pose tracking metrics (MOTA, MOTP, precision, recall, ID switches) by PoseTrack's rules.

This is our own implementation of poseval's ``evaluateTracking`` (leonid-pishchulin/poseval,
``evaluateTracking.py`` + ``eval_helpers.assignGTmulti``), including the parts it delegates to
py-motmetrics' ``MOTAccumulator`` (no motmetrics dependency). What is reproduced, step by step:

- Every joint is a separate tracking problem. In each frame the objects are the GT people whose joint is
  labelled, the hypotheses are the predicted people that have that joint; both keep their track ids.
- Distance of a GT joint to a predicted joint, head rule (PoseTrack): ``d / head_size`` with head size =
  SC_BIAS 0.6 x the diagonal of the GT head box; a pair may match when it is ``<= 0.5``, otherwise the pair
  is "no match" (NaN). OKS rule (our extension for GT without head boxes, e.g. clips made from COCO
  photos): keypoint similarity ``ks = exp(-d^2 / (2 s k^2))`` with k = 2 sigma (COCO's per-joint sigmas)
  and s = the GT person's area; a pair may match when ``ks >= 0.5`` and its distance is ``1 - ks``.
- One accumulator per joint and video, fed frame by frame in frame order (motmetrics' update rules):
  1. an object matched earlier (at any earlier frame of the video) keeps its last hypothesis when that
     hypothesis is present and the pair may match: a MATCH;
  2. the remaining objects and hypotheses are assigned by maximum-cardinality, minimum-distance matching
     (motmetrics' ``add_expensive_edges`` + scipy's ``linear_sum_assignment``); a pair whose object was
     last matched to another hypothesis is a SWITCH, otherwise a MATCH;
  3. objects left over are misses (FN), hypotheses left over are false positives (FP).
- Per joint, summed over videos: MOTA = 1 - (FN + FP + IDSW) / numGT (NaN without GT),
  MOTP = 1 - sum(distance of MATCH and SWITCH pairs) / (matches + switches), 0 when nothing matched
  (poseval's rule, so with the head rule MOTP is 1 - the mean normalised error; with the OKS rule it is
  the mean similarity of the matched keypoints), precision = (matches + switches) / (that + FP) (NaN when
  there is no prediction), recall = (matches + switches) / numGT (NaN without GT).
- Total: MOTA, MOTP, precision and recall are the plain means over the joints where they are defined
  (poseval's last column); the counts (numGT, FP, FN, IDSW, matches) are sums over joints.

MOTP note: poseval computes the distance sum as ``acc.events['D'].sum()``; with motmetrics >= 1.2 that
column also holds the RAW (and ASCEND / TRANSFER / MIGRATE) rows, so recent poseval + motmetrics
installs count distances several times. We use the sum over MATCH and SWITCH events only, which is
motmetrics' own ``motp`` metric and poseval's intent (motmetrics 1.1's events had no such rows).

Which frames and points are scored is decided by :mod:`posekit.datasets.posetrack`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

HEAD_SIZE_FACTOR = 0.6  # poseval's SC_BIAS (the MPII head size)
HEAD_THRESHOLD = 0.5  # poseval's distThresh: match when error <= 0.5 x head size
OKS_THRESHOLD = 0.5  # our OKS rule: match when keypoint similarity >= 0.5
COUNT_KEYS = ("num_gt", "num_matches", "num_switches", "num_false_positives", "num_misses")


@dataclass(frozen=True)
class TrackFrame:
    """One scored frame of one video, joints already aligned between GT and predictions (J joints).

    gt_ids: (G,) GT track ids. gt_xy: (G, J, 2) px. gt_labelled: (G, J) bool, joints that count.
    gt_scale: (G,) head sizes in px (head rule, :func:`head_sizes`) or areas in px^2 (OKS rule).
    pr_ids: (P,) predicted track ids. pr_xy: (P, J, 2) px. pr_present: (P, J) bool, predicted joints.
    """

    gt_ids: NDArray[np.int64]
    gt_xy: NDArray[np.float64]
    gt_labelled: NDArray[np.bool_]
    gt_scale: NDArray[np.float64]
    pr_ids: NDArray[np.int64]
    pr_xy: NDArray[np.float64]
    pr_present: NDArray[np.bool_]


def head_sizes(head_boxes: NDArray[np.floating]) -> NDArray[np.float64]:
    """PoseTrack head size: 0.6 x the head box diagonal. head_boxes: (G, 4) x, y, w, h px -> (G,) px."""
    hb = np.asarray(head_boxes, np.float64).reshape(-1, 4)
    return HEAD_SIZE_FACTOR * np.hypot(hb[:, 2], hb[:, 3])


def pair_distances(frame: TrackFrame, sigmas: NDArray[np.floating] | None) -> NDArray[np.float64]:
    """Distances (J, G, P) between every GT and predicted joint, NaN where the pair may not match.

    sigmas: (J,) COCO sigmas for the OKS rule, or None for the head rule (see module docstring).
    A pair also gets NaN where the GT joint is not labelled or the predicted joint is absent.
    """
    gt = np.asarray(frame.gt_xy, np.float64)
    pr = np.asarray(frame.pr_xy, np.float64)
    err2 = ((gt[:, None] - pr[None]) ** 2).sum(axis=-1).transpose(2, 0, 1)  # (J, G, P) squared px
    scale = np.asarray(frame.gt_scale, np.float64)[None, :, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        if sigmas is None:
            dist = np.sqrt(err2) / scale
            ok = dist <= HEAD_THRESHOLD
        else:
            var = ((2 * np.asarray(sigmas, np.float64)) ** 2)[:, None, None]
            sim = np.exp(-err2 / var / (scale + np.spacing(1)) / 2)  # COCO's OKS term, per keypoint
            dist = 1.0 - sim
            ok = sim >= OKS_THRESHOLD
    ok &= np.asarray(frame.gt_labelled, bool).T[:, :, None] & np.asarray(frame.pr_present, bool).T[:, None, :]
    return np.where(ok, dist, np.nan)


def _assign(dist: NDArray[np.float64]) -> list[tuple[int, int]]:
    """motmetrics' scipy solver: invalid pairs cost more than any valid matching, then dropped."""
    valid = np.isfinite(dist)
    if not valid.any():
        return []
    c = np.abs(dist[valid]).max() + 1
    costs = np.where(valid, dist, 2 * min(dist.shape) * c + 1)
    rows, cols = linear_sum_assignment(costs)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if valid[i, j]]


@dataclass
class JointAccumulator:
    """py-motmetrics' ``MOTAccumulator`` for one joint of one video, counting instead of logging events.

    last_match: object id -> hypothesis id of its most recent MATCH / SWITCH (motmetrics' ``m``).
    """

    last_match: dict[int, int] = field(default_factory=dict)
    num_gt: int = 0
    num_matches: int = 0
    num_switches: int = 0
    num_false_positives: int = 0
    num_misses: int = 0
    sum_distance: float = 0.0

    def update(self, oids: Sequence[int], hids: Sequence[int], dist: NDArray[np.floating]) -> None:
        """One frame. oids: (O,) object ids; hids: (H,) hypothesis ids; dist: (O, H), NaN = may not match."""
        oids, hids = [int(o) for o in oids], [int(h) for h in hids]
        d = np.array(dist, np.float64).reshape(len(oids), len(hids))
        free_o, free_h = np.ones(len(oids), bool), np.ones(len(hids), bool)
        self.num_gt += len(oids)
        if oids and hids:
            for i, o in enumerate(oids):  # 1. keep established pairs (object order, first free hypothesis)
                if o not in self.last_match:
                    continue
                j = next((j for j, h in enumerate(hids) if free_h[j] and h == self.last_match[o]), None)
                if j is not None and np.isfinite(d[i, j]):
                    self._pair(i, j, o, hids[j], d[i, j], free_o, free_h, switch=False)
            d[~free_o, :] = np.nan
            d[:, ~free_h] = np.nan
            for i, j in _assign(d):  # 2. optimal assignment of the rest
                o, h = oids[i], hids[j]
                switch = o in self.last_match and self.last_match[o] != h
                self._pair(i, j, o, h, d[i, j], free_o, free_h, switch=switch)
        self.num_misses += int(free_o.sum())  # 3. leftovers
        self.num_false_positives += int(free_h.sum())

    def _pair(self, i: int, j: int, o: int, h: int, d: float, free_o: NDArray[np.bool_],
              free_h: NDArray[np.bool_], switch: bool) -> None:
        free_o[i] = free_h[j] = False
        self.last_match[o] = h
        self.sum_distance += float(d)
        if switch:
            self.num_switches += 1
        else:
            self.num_matches += 1


@dataclass(frozen=True)
class TrackingResult:
    """Per-joint tracking metrics as fractions, plus a total over joints (see module docstring).

    joints: (J,) names. mota, motp, precision, recall: (J,) float, NaN where undefined.
    num_gt, num_matches, num_switches, num_false_positives, num_misses: (J,) int counts. sum_distance: (J,).
    rule: "head" or "oks" (how keypoints were matched). videos / frames: how many were scored.
    """

    joints: tuple[str, ...]
    mota: NDArray[np.float64]
    motp: NDArray[np.float64]
    precision: NDArray[np.float64]
    recall: NDArray[np.float64]
    num_gt: NDArray[np.int64]
    num_matches: NDArray[np.int64]
    num_switches: NDArray[np.int64]
    num_false_positives: NDArray[np.int64]
    num_misses: NDArray[np.int64]
    sum_distance: NDArray[np.float64]
    rule: str
    videos: int = 0
    frames: int = 0

    def total(self) -> dict[str, float]:
        """poseval's "total" column: rates averaged over the joints that define them, counts summed."""
        out = {k: _nanmean(getattr(self, k)) for k in ("mota", "motp", "precision", "recall")}
        out.update({k: int(getattr(self, k).sum()) for k in COUNT_KEYS})
        return out

    def rows(self, percent: bool = False) -> dict[str, dict[str, float]]:
        """joint name (and "total") -> {mota, motp, precision, recall (NaN where undefined), counts}."""
        scale = 100.0 if percent else 1.0
        out = {}
        for n, name in enumerate(self.joints):
            row: dict[str, float] = {k: float(getattr(self, k)[n]) * scale
                                     for k in ("mota", "motp", "precision", "recall")}
            row.update({k: int(getattr(self, k)[n]) for k in COUNT_KEYS})
            out[name] = row
        total = self.total()
        out["total"] = {k: v * scale if k not in COUNT_KEYS else v for k, v in total.items()}
        return out

    def table(self) -> str:
        """Per-joint and total rows: MOTA, MOTP, Prec, Rec in percent, then IDSW, numGT, FP, FN."""
        lines = [f"{'joint':<16}" + "".join(f"{c:>8}" for c in
                                             ("MOTA", "MOTP", "Prec", "Rec", "IDSW", "numGT", "FP", "FN"))]
        for name, r in self.rows(percent=True).items():
            rates = "".join(f"{'-':>8}" if math.isnan(r[k]) else f"{r[k]:>8.1f}"
                            for k in ("mota", "motp", "precision", "recall"))
            counts = "".join(f"{r[k]:>8d}" for k in ("num_switches", "num_gt", "num_false_positives",
                                                      "num_misses"))
            lines.append(f"{name:<16}{rates}{counts}")
        return "\n".join(lines)


def _nanmean(values: NDArray[np.float64]) -> float:
    v = values[~np.isnan(values)]
    return float(v.mean()) if v.size else float("nan")


class PoseTrackingEvaluator:
    """PoseTrack tracking evaluation in supervision's style: ``update(video_frames)`` per video, then
    ``compute()``.

    joints: (J,) joint names, the order of the TrackFrame joint axis. sigmas: (J,) COCO sigmas for the OKS
    rule, or None for PoseTrack's head rule.
    """

    def __init__(self, joints: Sequence[str], sigmas: NDArray[np.floating] | None = None) -> None:
        self.joints = tuple(joints)
        self.sigmas = None if sigmas is None else np.asarray(sigmas, np.float64)
        if self.sigmas is not None and self.sigmas.shape != (len(self.joints),):
            raise ValueError("sigmas must hold one value per joint")
        n = len(self.joints)
        self._counts = {k: np.zeros(n, np.int64) for k in COUNT_KEYS}
        self._sum_distance = np.zeros(n)
        self.videos = 0
        self.frames = 0

    def update(self, frames: Iterable[TrackFrame]) -> None:
        """Add one video: its scored frames in frame order (matches never carry across videos)."""
        accs = [JointAccumulator() for _ in self.joints]
        for frame in frames:
            dist = pair_distances(frame, self.sigmas)
            labelled = np.asarray(frame.gt_labelled, bool)
            present = np.asarray(frame.pr_present, bool)
            for j, acc in enumerate(accs):
                g, p = np.flatnonzero(labelled[:, j]), np.flatnonzero(present[:, j])
                acc.update(np.asarray(frame.gt_ids)[g], np.asarray(frame.pr_ids)[p], dist[j][np.ix_(g, p)])
            self.frames += 1
        for j, acc in enumerate(accs):
            for k in COUNT_KEYS:
                self._counts[k][j] += getattr(acc, k)
            self._sum_distance[j] += acc.sum_distance
        self.videos += 1

    def compute(self) -> TrackingResult:
        """Metrics over every video added so far."""
        c = self._counts
        num_gt = c["num_gt"].astype(np.float64)
        det = (c["num_matches"] + c["num_switches"]).astype(np.float64)
        fp = c["num_false_positives"].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            gt_or_nan = np.where(num_gt > 0, num_gt, np.nan)
            mota = 1.0 - (c["num_misses"] + c["num_switches"] + fp) / gt_or_nan
            motp = np.where(det > 0, 1.0 - self._sum_distance / np.where(det > 0, det, 1.0), 0.0)
            precision = det / np.where(det + fp > 0, det + fp, np.nan)
            recall = det / gt_or_nan
        return TrackingResult(self.joints, mota, motp, precision, recall,
                              *(c[k].copy() for k in COUNT_KEYS), self._sum_distance.copy(),
                              rule="head" if self.sigmas is None else "oks",
                              videos=self.videos, frames=self.frames)
