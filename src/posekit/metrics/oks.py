"""COCO object keypoint similarity (OKS) and keypoint AP / AR, numerically equal to pycocotools.

This is our own vectorised implementation of ``COCOeval(iouType='keypoints')`` (pycocotools 2.0) with the
same semantics, step by step:

- ground truth: every image of ``gt["images"]`` (sorted ids) and every category of ``gt["categories"]``
  (sorted ids) is evaluated; a GT is an *ignore region* when ``iscrowd`` is set or ``num_keypoints == 0``.
  OKS uses the GT ``area``; a GT with no labelled keypoint (v > 0) is scored against the box of twice
  its ``bbox`` (distance to that box, 0 inside), averaged over all K keypoints.
- detections: sorted by score (stable), at most 20 per image and category; their area is the area of the
  box spanned by all their keypoints (or ``bbox`` w*h when the first result carries a ``bbox``, as
  ``COCO.loadRes`` does); ids are the 1-based position in the results list.
- greedy matching per OKS threshold .50:.05:.95 in score order: a regular GT is matched once, a crowd GT
  any number of times, a detection prefers the best regular GT and falls back to ignore regions; a
  detection matched to an ignored GT, or unmatched and outside the area range, is ignored.
- precision at 101 recall points with the monotone envelope; area ranges all / medium / large.

pycocotools quirks kept on purpose so numbers agree: a GT whose annotation id is 0 counts as "no match"
when accumulating (pycocotools stores matches as ids and tests ``!= 0``), and area ranges are closed
intervals on both ends.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError

COCO_SIGMAS: NDArray[np.float64] = np.array(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0
OKS_THRESHOLDS: NDArray[np.float64] = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1)
RECALL_THRESHOLDS: NDArray[np.float64] = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1)
AREA_RANGES: dict[str, tuple[float, float]] = {
    "all": (0.0, 1e5 ** 2), "medium": (32.0 ** 2, 96.0 ** 2), "large": (96.0 ** 2, 1e5 ** 2)}
MAX_DETS = 20
SUMMARY_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def oks(dt_xy: NDArray[np.floating], gt_xy: NDArray[np.floating], gt_vis: NDArray[np.integer],
        gt_area: NDArray[np.floating], gt_box: NDArray[np.floating] | None = None,
        sigmas: NDArray[np.floating] = COCO_SIGMAS) -> NDArray[np.float64]:
    """Object keypoint similarity between every detection and every ground truth.

    dt_xy: (D, K, 2) detected keypoints, pixels. gt_xy: (G, K, 2) GT keypoints, pixels.
    gt_vis: (G, K) COCO visibility (> 0 = labelled). gt_area: (G,) GT segment areas, px^2.
    gt_box: (G, 4) GT boxes x, y, w, h in pixels; needed only for GT without labelled keypoints, which are
    scored by the distance to twice their box (pycocotools' rule). sigmas: (K,) per-keypoint sigmas.
    Returns (D, G) OKS in [0, 1].
    """
    dt = np.asarray(dt_xy, np.float64)
    gt = np.asarray(gt_xy, np.float64)
    labelled = np.asarray(gt_vis) > 0
    area = np.asarray(gt_area, np.float64)
    var = (np.asarray(sigmas, np.float64) * 2) ** 2
    dx = dt[:, None, :, 0] - gt[None, :, :, 0]
    dy = dt[:, None, :, 1] - gt[None, :, :, 1]
    n_lab = labelled.sum(axis=1)
    unlabelled = n_lab == 0
    if unlabelled.any():
        if gt_box is None:
            raise ValueError("gt_box is required for ground truth without labelled keypoints")
        box = np.asarray(gt_box, np.float64)[unlabelled]
        x0, x1 = box[:, 0] - box[:, 2], box[:, 0] + box[:, 2] * 2
        y0, y1 = box[:, 1] - box[:, 3], box[:, 1] + box[:, 3] * 2
        xd, yd = dt[:, None, :, 0], dt[:, None, :, 1]
        dx[:, unlabelled] = (np.maximum(0, x0[None, :, None] - xd) + np.maximum(0, xd - x1[None, :, None]))
        dy[:, unlabelled] = (np.maximum(0, y0[None, :, None] - yd) + np.maximum(0, yd - y1[None, :, None]))
    e = (dx ** 2 + dy ** 2) / var / (area[None, :, None] + np.spacing(1)) / 2
    weight = np.where(unlabelled[:, None], True, labelled)
    return (np.exp(-e) * weight[None]).sum(axis=2) / np.maximum(weight.sum(axis=1), 1)[None]


@dataclass(frozen=True)
class CocoKeypointResult:
    """COCO keypoint AP / AR as fractions (-1 where no ground truth defines them, like pycocotools).

    precision: (T=10, R=101, C, A=3) precision per OKS threshold, recall point, category, area range.
    recall: (T, C, A) final recall. category_ids: (C,). area_labels: ("all", "medium", "large").
    """

    AP: float
    AP50: float
    AP75: float
    APm: float
    APl: float
    AR: float
    AR50: float
    AR75: float
    ARm: float
    ARl: float
    precision: NDArray[np.float64] = field(repr=False)
    recall: NDArray[np.float64] = field(repr=False)
    category_ids: tuple[int, ...] = ()
    area_labels: tuple[str, ...] = tuple(AREA_RANGES)

    def as_dict(self, percent: bool = False) -> dict[str, float]:
        """The 10 summary numbers by name; ``percent`` multiplies defined values by 100."""
        out = {}
        for k in SUMMARY_KEYS:
            v = float(getattr(self, k))
            out[k] = v * 100.0 if percent and v >= 0 else v
        return out

    def table(self) -> str:
        """The 10-line summary exactly as pycocotools prints it."""
        rows = [("Average Precision", "(AP)", None, "all"), ("Average Precision", "(AP)", .5, "all"),
                ("Average Precision", "(AP)", .75, "all"), ("Average Precision", "(AP)", None, "medium"),
                ("Average Precision", "(AP)", None, "large"), ("Average Recall", "(AR)", None, "all"),
                ("Average Recall", "(AR)", .5, "all"), ("Average Recall", "(AR)", .75, "all"),
                ("Average Recall", "(AR)", None, "medium"), ("Average Recall", "(AR)", None, "large")]
        lines = []
        for (title, kind, thr, area), key in zip(rows, SUMMARY_KEYS, strict=True):
            iou = "0.50:0.95" if thr is None else f"{thr:0.2f}"
            value = getattr(self, key)
            lines.append(f" {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6s} | maxDets={MAX_DETS:>3d} ]"
                         f" = {value:0.3f}")
        return "\n".join(lines)


@dataclass
class _Group:
    """Ground truth and detections of one (image, category)."""

    gt_xy: list = field(default_factory=list)
    gt_vis: list = field(default_factory=list)
    gt_area: list = field(default_factory=list)
    gt_box: list = field(default_factory=list)
    gt_crowd: list = field(default_factory=list)
    gt_ignore: list = field(default_factory=list)
    gt_id: list = field(default_factory=list)
    dt_xy: list = field(default_factory=list)
    dt_score: list = field(default_factory=list)
    dt_area: list = field(default_factory=list)


def _num(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(what)
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(what)
    return v


def _keypoints(raw: Any, k: int, where: str) -> NDArray[np.float64]:
    if not isinstance(raw, list) or len(raw) != 3 * k:
        n = len(raw) // 3 if isinstance(raw, list) else "no"
        raise PosekitError(f"{where}: 'keypoints' must hold {k} x (x, y, v) = {3 * k} numbers, got {n} "
                           f"keypoints; evaluate {k}-keypoint (COCO-17) poses only")
    try:
        arr = np.array(raw)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.dtype.kind not in "iuf" or arr.ndim != 1 or not np.isfinite(arr).all():
        raise PosekitError(f"{where}: 'keypoints' holds a non-numeric, NaN or infinite value; "
                           f"write finite numbers")
    return arr.astype(np.float64).reshape(k, 3)


class CocoKeypointEvaluator:
    """COCO keypoint evaluation in supervision's style: ``update(results)`` then ``compute()``.

    gt: a COCO keypoint annotation dict (``images``, ``annotations``, ``categories``).
    source: how errors name the ground truth (usually its file path).
    sigmas: (K,) per-keypoint OKS sigmas; COCO-17's by default.
    """

    def __init__(self, gt: dict, source: str = "ground truth",
                 sigmas: NDArray[np.floating] = COCO_SIGMAS) -> None:
        self.sigmas = np.asarray(sigmas, np.float64)
        self.k = len(self.sigmas)
        self._groups: dict[tuple[int, int], _Group] = defaultdict(_Group)
        self._n_results = 0
        self._area_from_bbox: bool | None = None
        self._read_gt(gt, source)

    def _read_gt(self, gt: dict, source: str) -> None:
        if not isinstance(gt, dict) or not isinstance(gt.get("images"), list) \
                or not isinstance(gt.get("annotations"), list) or not isinstance(gt.get("categories"), list):
            raise PosekitError(f"{source}: not a COCO annotation file (needs lists 'images', 'annotations' "
                               f"and 'categories'); pass the ground-truth JSON as --gt")
        try:
            self.image_ids = sorted({img["id"] for img in gt["images"]})
            self.category_ids = sorted({cat["id"] for cat in gt["categories"]})
        except (KeyError, TypeError):
            raise PosekitError(f"{source}: an image or category has no 'id'; fix the file") from None
        images, cats, seen = set(self.image_ids), set(self.category_ids), set()
        for n, ann in enumerate(gt["annotations"]):
            where = f"{source}: annotation #{n}"
            if not isinstance(ann, dict):
                raise PosekitError(f"{where} is not an object; fix the file")
            try:
                ann_id, img, cat = ann["id"], ann["image_id"], ann["category_id"]
            except KeyError as err:
                raise PosekitError(f"{where} has no {err.args[0]!r}; fix the file") from None
            where = f"{source}: annotation id {ann_id}"
            if ann_id in seen:
                raise PosekitError(f"{where} appears twice; annotation ids must be unique")
            seen.add(ann_id)
            if img not in images or cat not in cats:
                continue  # pycocotools only evaluates listed images and categories
            kp = _keypoints(ann.get("keypoints"), self.k, where)
            try:
                area = _num(ann["area"], "area")
                box = [_num(v, "bbox") for v in ann["bbox"]]
                if len(box) != 4:
                    raise ValueError("bbox")
                crowd = bool(ann.get("iscrowd", 0))
                nkp = ann.get("num_keypoints", int(np.count_nonzero(kp[:, 2] > 0)))
                nkp = _num(nkp, "num_keypoints")
            except KeyError as err:
                raise PosekitError(f"{where} has no {err.args[0]!r}; COCO keypoint GT needs it") from None
            except (TypeError, ValueError) as err:
                raise PosekitError(f"{where}: {err.args[0]!r} is not a finite number (list); fix the file") \
                    from None
            g = self._groups[img, cat]
            g.gt_xy.append(kp[:, :2])
            g.gt_vis.append(kp[:, 2])
            g.gt_area.append(area)
            g.gt_box.append(box)
            g.gt_crowd.append(crowd)
            g.gt_ignore.append(crowd or nkp == 0)
            g.gt_id.append(ann_id)

    def update(self, results: list[dict], source: str = "results") -> None:
        """Add detections: the COCO results list ``[{image_id, category_id, keypoints, score}]``.

        keypoints: [x, y, s] * K in pixels. Raises PosekitError naming ``source`` and the record for a
        record that is malformed, has NaN, the wrong keypoint count, or an image id absent from the GT.
        """
        if not isinstance(results, list):
            raise PosekitError(f"{source}: COCO results must be a JSON list of "
                               f"{{image_id, category_id, keypoints, score}} objects")
        images, cats = set(self.image_ids), set(self.category_ids)
        for n, res in enumerate(results):
            where = f"{source}: result #{n}"
            if not isinstance(res, dict):
                raise PosekitError(f"{where} is not an object; fix the file")
            for key in ("image_id", "category_id", "keypoints", "score"):
                if key not in res:
                    raise PosekitError(f"{where} has no {key!r}; COCO keypoint results need it")
            if res["image_id"] not in images:
                raise PosekitError(f"{where} names image_id {res['image_id']!r}, which is not in the "
                                   f"ground truth; evaluate against the GT file the results were made for")
            kp = _keypoints(res["keypoints"], self.k, where)
            try:
                score = _num(res["score"], "score")
            except (TypeError, ValueError):
                raise PosekitError(f"{where}: 'score' is not a finite number; fix the file") from None
            if self._area_from_bbox is None:  # COCO.loadRes decides from the first record
                self._area_from_bbox = bool(res.get("bbox"))
            if self._area_from_bbox:
                box = res.get("bbox")
                if not isinstance(box, list) or len(box) != 4:
                    raise PosekitError(f"{where} has no 4-number 'bbox' although the first result has one; "
                                       f"give every result a bbox or none")
                area = _num(box[2], "bbox") * _num(box[3], "bbox")
            else:
                x, y = kp[:, 0], kp[:, 1]
                area = (x.max() - x.min()) * (y.max() - y.min())
            self._n_results += 1
            if res["category_id"] not in cats:
                continue  # pycocotools drops detections of categories absent from the GT
            g = self._groups[res["image_id"], res["category_id"]]
            g.dt_xy.append(kp[:, :2])
            g.dt_score.append(score)
            g.dt_area.append(area)

    def compute(self) -> CocoKeypointResult:
        """AP / AR over everything added so far."""
        n_t, n_r, n_a = len(OKS_THRESHOLDS), len(RECALL_THRESHOLDS), len(AREA_RANGES)
        precision = -np.ones((n_t, n_r, len(self.category_ids), n_a))
        recall = -np.ones((n_t, len(self.category_ids), n_a))
        for c, cat in enumerate(self.category_ids):
            groups = [self._groups[img, cat] for img in self.image_ids if (img, cat) in self._groups]
            prepared = [_prepare(g, self.sigmas) for g in groups]
            for a, rng in enumerate(AREA_RANGES.values()):
                per_image = _evaluate_images(prepared, rng)
                precision[:, :, c, a], recall[:, c, a] = _accumulate(per_image)
        return _summarize(precision, recall, tuple(self.category_ids))


def coco_keypoint_eval(gt: dict, dt: list[dict], sigmas: NDArray[np.floating] = COCO_SIGMAS,
                       gt_source: str = "ground truth", dt_source: str = "results") -> CocoKeypointResult:
    """COCO keypoint AP / AR of the results list ``dt`` against the annotation dict ``gt``."""
    ev = CocoKeypointEvaluator(gt, source=gt_source, sigmas=sigmas)
    ev.update(dt, source=dt_source)
    return ev.compute()


@dataclass
class _Prepared:
    """One (image, category): detections in score order (top 20) and their OKS to every GT."""

    ious: NDArray[np.float64]        # (D, G), GT in annotation order
    dt_score: NDArray[np.float64]    # (D,)
    dt_area: NDArray[np.float64]     # (D,)
    gt_area: NDArray[np.float64]     # (G,)
    gt_ignore: NDArray[np.bool_]     # (G,)
    gt_crowd: NDArray[np.bool_]      # (G,)
    gt_id: NDArray[np.float64]       # (G,)


def _prepare(g: _Group, sigmas: NDArray[np.float64]) -> _Prepared:
    score = np.asarray(g.dt_score, np.float64)
    order = np.argsort(-score, kind="mergesort")[:MAX_DETS]
    n_d, n_g = len(order), len(g.gt_id)
    if n_d and n_g:
        dt_xy = np.asarray(g.dt_xy, np.float64)[order]
        ious = oks(dt_xy, np.asarray(g.gt_xy), np.asarray(g.gt_vis), np.asarray(g.gt_area, np.float64),
                   np.asarray(g.gt_box, np.float64), sigmas)
    else:
        ious = np.zeros((n_d, n_g))
    return _Prepared(ious, score[order], np.asarray(g.dt_area, np.float64)[order] if n_d else np.zeros(0),
                     np.asarray(g.gt_area, np.float64), np.asarray(g.gt_ignore, bool),
                     np.asarray(g.gt_crowd, bool), np.asarray(g.gt_id, np.float64))


@dataclass
class _ImageEval:
    dt_score: NDArray[np.float64]    # (D,)
    dt_matched: NDArray[np.bool_]    # (T, D) matched to a GT with a non-zero id
    dt_ignore: NDArray[np.bool_]     # (T, D)
    gt_ignore: NDArray[np.bool_]     # (G,)


def _evaluate_images(prepared: list[_Prepared], rng: tuple[float, float]) -> list[_ImageEval]:
    """Greedy matching of every image at one area range, batched over images of similar GT count."""
    lo, hi = rng
    out: list[_ImageEval | None] = [None] * len(prepared)
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prepared):
        n_g = len(p.gt_id)
        buckets[1 << max(n_g - 1, 0).bit_length()].append(i)
    for width, members in buckets.items():
        n_i, n_d = len(members), max(len(prepared[i].dt_score) for i in members)
        ious = np.full((n_i, n_d, width), -1.0)
        ignore = np.ones((n_i, width), bool)
        crowd = np.zeros((n_i, width), bool)
        ids = np.zeros((n_i, width))
        for j, i in enumerate(members):
            p = prepared[i]
            g_ign = p.gt_ignore | (p.gt_area < lo) | (p.gt_area > hi)
            order = np.argsort(g_ign, kind="mergesort")  # regular GT first, as pycocotools
            d, g = p.ious.shape
            ious[j, :d, :g] = p.ious[:, order]
            ignore[j, :g], crowd[j, :g], ids[j, :g] = g_ign[order], p.gt_crowd[order], p.gt_id[order]
        match = _greedy_match(ious, ignore, crowd)  # (I, T, D) sorted-GT index or -1
        for j, i in enumerate(members):
            p = prepared[i]
            d, g = p.ious.shape
            m = match[j, :, :d]
            hit = m >= 0
            mi = np.where(hit, m, 0)
            matched = hit & (ids[j][mi] != 0)
            dt_ig = hit & ignore[j][mi]
            outside = (p.dt_area < lo) | (p.dt_area > hi)
            dt_ig |= ~matched & outside[None, :]
            out[i] = _ImageEval(p.dt_score, matched, dt_ig, ignore[j, :g].copy())
    return out  # type: ignore[return-value]


def _last_argmax(values: NDArray[np.float64]) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Index of the LAST maximum along the last axis (pycocotools' ``>=`` update) and that maximum."""
    rev = values[..., ::-1]
    idx = values.shape[-1] - 1 - np.argmax(rev, axis=-1)
    return idx, np.take_along_axis(values, idx[..., None], axis=-1)[..., 0]


def _greedy_match(ious: NDArray[np.float64], ignore: NDArray[np.bool_],
                  crowd: NDArray[np.bool_]) -> NDArray[np.intp]:
    """pycocotools' evaluateImg matching for all thresholds and images at once.

    ious: (I, D, G) with GT sorted regular-first, padding -1. ignore, crowd: (I, G).
    Returns (I, T, D) index of the matched GT, -1 where unmatched.
    """
    n_i, n_d, n_g = ious.shape
    thr = OKS_THRESHOLDS[None, :, None]
    taken = np.zeros((n_i, len(OKS_THRESHOLDS), n_g), bool)
    match = np.full((n_i, len(OKS_THRESHOLDS), n_d), -1, np.intp)
    regular = ~ignore[:, None, :]
    for d in range(n_d):
        iou = ious[:, d, None, :]
        cand = (~taken | crowd[:, None, :]) & (iou >= thr)
        # A detection takes the best regular GT; only without one does it fall back to an ignore region.
        idx_r, best_r = _last_argmax(np.where(cand & regular, iou, -1.0))
        idx_i, best_i = _last_argmax(np.where(cand & ~regular, iou, -1.0))
        m = np.where(best_r >= 0, idx_r, np.where(best_i >= 0, idx_i, -1))
        match[:, :, d] = m
        ii, tt = np.nonzero(m >= 0)
        taken[ii, tt, m[ii, tt]] = True
    return match


def _accumulate(evals: list[_ImageEval]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Precision (T, R) and recall (T,) over all images, -1 when no regular GT exists."""
    n_t, n_r = len(OKS_THRESHOLDS), len(RECALL_THRESHOLDS)
    precision, recall = -np.ones((n_t, n_r)), -np.ones(n_t)
    if not evals:
        return precision, recall
    gt_ig = np.concatenate([e.gt_ignore for e in evals])
    npig = np.count_nonzero(gt_ig == 0)
    if npig == 0:
        return precision, recall
    scores = np.concatenate([e.dt_score for e in evals])
    inds = np.argsort(-scores, kind="mergesort")
    dtm = np.concatenate([e.dt_matched for e in evals], axis=1)[:, inds]
    dt_ig = np.concatenate([e.dt_ignore for e in evals], axis=1)[:, inds]
    tps = np.cumsum(dtm & ~dt_ig, axis=1).astype(float)
    fps = np.cumsum(~dtm & ~dt_ig, axis=1).astype(float)
    nd = tps.shape[1]
    for t in range(n_t):
        tp, fp = tps[t], fps[t]
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        recall[t] = rc[-1] if nd else 0
        if nd:
            pr = np.maximum.accumulate(pr[::-1])[::-1]
        at = np.searchsorted(rc, RECALL_THRESHOLDS, side="left")
        precision[t] = np.where(at < nd, pr[np.minimum(at, max(nd - 1, 0))] if nd else 0.0, 0.0)
    return precision, recall


def _summarize(precision: NDArray[np.float64], recall: NDArray[np.float64],
               category_ids: tuple[int, ...]) -> CocoKeypointResult:
    areas = list(AREA_RANGES)

    def mean(s: NDArray[np.float64]) -> float:
        return float(np.mean(s[s > -1])) if np.any(s > -1) else -1.0

    def ap(thr: float | None, area: str) -> float:
        s = precision if thr is None else precision[np.where(thr == OKS_THRESHOLDS)[0]]
        return mean(s[..., areas.index(area)])

    def ar(thr: float | None, area: str) -> float:
        s = recall if thr is None else recall[np.where(thr == OKS_THRESHOLDS)[0]]
        return mean(s[..., areas.index(area)])

    return CocoKeypointResult(
        ap(None, "all"), ap(.5, "all"), ap(.75, "all"), ap(None, "medium"), ap(None, "large"),
        ar(None, "all"), ar(.5, "all"), ar(.75, "all"), ar(None, "medium"), ar(None, "large"),
        precision, recall, category_ids)
