"""PoseTrack18-style ground truth and tracked predictions -> :class:`~posekit.metrics.tracking.TrackFrame`.

Ground truth: PoseTrack18 JSON (COCO-like ``images`` / ``annotations`` / ``categories[0].keypoints``), one
file or a folder of per-video files. Predictions, both as ``posekit video`` writes them: the same JSON
layout (keypoints [x, y, score] * K, optional ``scores``), or JSONL with one line per frame
``{"frame", "time", "poses": [{"score", "keypoints": [{"part", "position": {x, y}, "score"}], "track_id"}]}``.

Rules, with the poseval detail each one reproduces (poseval = leonid-pishchulin/poseval, its
``convert.py`` + ``eval_helpers.py``):

- Frames: a frame's index is ``int(stem)`` of its ``file_name`` when the stem is all digits, else its
  ``frame_id``; JSONL uses ``frame``. Only GT images with ``is_labeled`` (true when absent) are scored, in
  index order. A scored GT frame without predictions counts all its people as misses (poseval instead
  counts one miss and one false positive per joint for such a frame, a bug we do not copy).
- GT joints count when labelled (v > 0). poseval's converter drops only points stored as (0, 0, 0); in
  PoseTrack18 files the two agree (unlabelled points are always (0, 0, 0)).
- Predicted joints: a point stored as (0, 0, 0) is "not predicted" (poseval's converter rule) and so is a
  point whose score is below ``min_keypoint_score``. poseval applies no score threshold: PoseTrack leaves
  choosing the keypoints to the submitter, so the default 0 keeps every keypoint; pass a threshold to drop
  low-confidence joints as PoseTrack entries do before submitting. Score = ``scores[k]`` when the
  annotation has K ``scores``, else the third keypoint value.
- Ignore regions (``ignore_regions_x`` / ``ignore_regions_y`` on GT images): GT and predicted points inside
  them are removed (poseval's ``removeIgnoredPoints``; a point exactly on the border counts as outside).
- Track ids must be unique within a frame on both sides (poseval raises for predictions; we raise for both).
- Joints: matched by name between GT and predictions; only joints both sides have and the GT labels
  somewhere are scored (poseval scores a fixed 15-joint set that leaves out PoseTrack18's never-labelled
  ears); the others are reported as left out.
- Matching rule: PoseTrack's head rule when every scored GT person with a labelled joint has a
  ``bbox_head``; otherwise the OKS rule for all (see :mod:`posekit.metrics.tracking`), with area = the
  GT ``area`` field, else its ``bbox`` w*h, else the area of the box spanned by its labelled keypoints.
- ``poseval_frames=True`` also copies poseval's frame selection: labelled frames without GT people are not
  scored (predictions there are not false positives) and the last remaining frame of every video is left
  out (``imgidxs[:-1]`` in ``computeMetrics``). Off by default: every labelled frame counts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posekit.errors import PosekitError
from posekit.metrics.oks import COCO_SIGMAS
from posekit.metrics.tracking import PoseTrackingEvaluator, TrackFrame, TrackingResult, head_sizes
from posekit.skeletons import ALIASES, COCO17

GT_FIX = "pass PoseTrack18 ground truth (images, annotations, categories[0].keypoints)"
PRED_FIX = "pass predictions written by `posekit video` (PoseTrack JSON or JSONL with track_id)"


@dataclass(frozen=True)
class PeopleFrame:
    """The people of one frame. track_ids: (N,). xy: (N, K, 2) px. present: (N, K) labelled / predicted.

    head_boxes: (N, 4) x, y, w, h px, NaN where absent (GT only). areas: (N,) px^2 (GT only, see module).
    ignore: polygons (M_i, 2) px inside which points do not count (GT only).
    """

    index: int
    track_ids: NDArray[np.int64]
    xy: NDArray[np.float64]
    present: NDArray[np.bool_]
    head_boxes: NDArray[np.float64] | None = None
    areas: NDArray[np.float64] | None = None
    ignore: tuple[NDArray[np.float64], ...] = ()


@dataclass
class TrackVideo:
    """One video of one file: joint names and its frames by index."""

    source: str
    stem: str
    vid_id: str | None
    joints: tuple[str, ...]
    frames: dict[int, PeopleFrame] = field(default_factory=dict)


# --- reading -------------------------------------------------------------------------------------------

def _files(path: Path, suffixes: tuple[str, ...], fix: str) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in suffixes and p.is_file())
        if not files:
            raise PosekitError(f"{path}: folder holds no {' / '.join(suffixes)} files; {fix}")
        return files
    if not path.is_file():
        raise PosekitError(f"{path}: no such file or folder; {fix}")
    return [path]


def _read_json(path: Path, fix: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PosekitError(f"{path}: not valid JSON ({err}); {fix}") from None


def _frame_index(img: dict[str, Any], where: str, fix: str) -> int:
    stem = Path(str(img.get("file_name", ""))).stem
    if stem.isdigit():
        return int(stem)
    fid = img.get("frame_id")
    if isinstance(fid, bool) or not isinstance(fid, int):
        raise PosekitError(f"{where}: file_name {img.get('file_name')!r} is not a frame number and there is "
                           f"no integer 'frame_id'; {fix}")
    return fid


def _track_id(ann: dict[str, Any], where: str, fix: str) -> int:
    tid = ann.get("track_id")
    if isinstance(tid, list) and len(tid) == 1:
        tid = tid[0]
    if isinstance(tid, bool) or not isinstance(tid, int):
        raise PosekitError(f"{where} has no integer 'track_id'; {fix}")
    return tid


def _numbers(raw: Any, n: int, what: str, where: str, fix: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(raw, np.float64)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise PosekitError(f"{where}: {what!r} must hold {n} finite numbers; {fix}")
    return arr


def _joint_names(data: dict[str, Any], where: str, fix: str) -> tuple[str, ...] | None:
    cats = data.get("categories")
    if not cats:
        return None
    names = cats[0].get("keypoints") if isinstance(cats, list) and isinstance(cats[0], dict) else None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise PosekitError(f"{where}: categories[0].keypoints must list the joint names; {fix}")
    return tuple(names)


def _people(frame_anns: list[tuple[str, dict[str, Any]]], k: int, gt: bool, min_score: float,
            fix: str) -> tuple[list[int], NDArray, NDArray, NDArray, NDArray]:
    ids, xy, present, heads, areas = [], [], [], [], []
    for where, ann in frame_anns:
        kp = _numbers(ann.get("keypoints"), 3 * k, "keypoints", where, fix).reshape(k, 3)
        ids.append(_track_id(ann, where, fix))
        xy.append(kp[:, :2])
        if gt:
            present.append(kp[:, 2] > 0)
            hb = ann.get("bbox_head")
            heads.append(_numbers(hb, 4, "bbox_head", where, fix) if hb is not None else np.full(4, np.nan))
            areas.append(_area(ann, kp, where, fix))
        else:
            raw = ann.get("scores")
            score = _numbers(raw, k, "scores", where, fix) if isinstance(raw, list) and len(raw) == k \
                else kp[:, 2]
            stored_empty = (kp[:, 0] == 0) & (kp[:, 1] == 0) & (kp[:, 2] == 0)
            present.append(~stored_empty & (score >= min_score))
    return ids, np.array(xy).reshape(-1, k, 2), np.array(present, bool).reshape(-1, k), \
        np.array(heads).reshape(-1, 4), np.array(areas, np.float64)


def _area(ann: dict[str, Any], kp: NDArray[np.float64], where: str, fix: str) -> float:
    if ann.get("area") is not None:
        return float(_numbers([ann["area"]], 1, "area", where, fix)[0])
    if ann.get("bbox") is not None:
        box = _numbers(ann["bbox"], 4, "bbox", where, fix)
        return float(box[2] * box[3])
    lab = kp[kp[:, 2] > 0, :2]
    return float(np.ptp(lab[:, 0]) * np.ptp(lab[:, 1])) if len(lab) else 0.0


def _ignore_regions(img: dict[str, Any], where: str) -> tuple[NDArray[np.float64], ...]:
    xs, ys = img.get("ignore_regions_x") or [], img.get("ignore_regions_y") or []
    if len(xs) != len(ys):
        raise PosekitError(f"{where}: ignore_regions_x and ignore_regions_y differ in length; {GT_FIX}")
    out = []
    for px, py in zip(xs, ys, strict=True):
        if len(px) != len(py):
            raise PosekitError(f"{where}: an ignore region has unequal x and y lists; {GT_FIX}")
        if len(px) >= 3:
            out.append(np.stack([np.asarray(px, np.float64), np.asarray(py, np.float64)], axis=1))
    return tuple(out)


def read_posetrack_json(path: Path, gt: bool, min_score: float = 0.0,
                        joints: tuple[str, ...] | None = None) -> list[TrackVideo]:
    """The videos of one PoseTrack18-style file (split by ``vid_id``), labelled frames only when ``gt``.

    joints: names to assume when the file has no ``categories`` (predictions only).
    """
    fix = GT_FIX if gt else PRED_FIX
    data = _read_json(path, fix)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise PosekitError(f"{path}: not a PoseTrack JSON file (needs lists 'images' and 'annotations'); "
                           f"{fix}")
    names = _joint_names(data, str(path), fix) or joints
    if names is None:
        raise PosekitError(f"{path}: no categories[0].keypoints to name the joints; {fix}")
    by_image: dict[Any, list[tuple[str, dict[str, Any]]]] = {}
    for n, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise PosekitError(f"{path}: annotations[{n}] is not an object with an 'image_id'; {fix}")
        by_image.setdefault(ann["image_id"], []).append((f"{path}: annotations[{n}]", ann))
    videos: dict[str | None, TrackVideo] = {}
    for n, img in enumerate(data["images"]):
        where = f"{path}: images[{n}]"
        if not isinstance(img, dict) or "id" not in img:
            raise PosekitError(f"{where} is not an object with an 'id'; {fix}")
        if gt and not img.get("is_labeled", True):
            continue
        vid = None if img.get("vid_id") is None else str(img["vid_id"])
        video = videos.setdefault(vid, TrackVideo(str(path), path.stem, vid, names))
        index = _frame_index(img, where, fix)
        if index in video.frames:
            raise PosekitError(f"{where}: frame {index} appears twice in video {vid or path.stem}; {fix}")
        ids, xy, present, heads, areas = _people(by_image.get(img["id"], []), len(names), gt, min_score, fix)
        if len(set(ids)) != len(ids):
            raise PosekitError(f"{where}: frame {index} has a track_id twice; track ids must be unique "
                               f"within a frame")
        video.frames[index] = PeopleFrame(index, np.array(ids, np.int64), xy, present,
                                          heads if gt else None, areas if gt else None,
                                          _ignore_regions(img, where) if gt else ())
    return list(videos.values())


def read_posekit_jsonl(path: Path, min_score: float = 0.0) -> TrackVideo:
    """One video from ``posekit video`` JSONL (joint names from the poses' ``part`` fields)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise PosekitError(f"{path}: cannot read ({err}); {PRED_FIX}") from None
    names: list[str] = []
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}: line {n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise PosekitError(f"{where}: not valid JSON ({err}); {PRED_FIX}") from None
        if not isinstance(rec, dict) or isinstance(rec.get("frame"), bool) or not isinstance(
                rec.get("frame"), int) or not isinstance(rec.get("poses"), list):
            raise PosekitError(f"{where}: needs an integer 'frame' and a list 'poses'; {PRED_FIX}")
        for pose in rec["poses"]:
            for kp in pose.get("keypoints", []) if isinstance(pose, dict) else []:
                if isinstance(kp, dict) and isinstance(kp.get("part"), str) and kp["part"] not in names:
                    names.append(kp["part"])
        records.append((where, rec))
    video = TrackVideo(str(path), path.stem, None, tuple(names))
    col = {name: i for i, name in enumerate(names)}
    for where, rec in records:
        if rec["frame"] in video.frames:
            raise PosekitError(f"{where}: frame {rec['frame']} appears twice; {PRED_FIX}")
        ids, xy = [], np.zeros((len(rec["poses"]), len(names), 2))
        present = np.zeros((len(rec["poses"]), len(names)), bool)
        for p, pose in enumerate(rec["poses"]):
            if not isinstance(pose, dict) or not isinstance(pose.get("keypoints"), list):
                raise PosekitError(f"{where}: pose {p} has no 'keypoints' list; {PRED_FIX}")
            ids.append(_track_id(pose, f"{where}: pose {p}", PRED_FIX))
            for kp in pose["keypoints"]:
                try:
                    x, y, s = (float(kp["position"]["x"]), float(kp["position"]["y"]), float(kp["score"]))
                    j = col[kp["part"]]
                except (KeyError, TypeError, ValueError):
                    raise PosekitError(f"{where}: pose {p} has a keypoint without part, position.x/y and "
                                       f"score; {PRED_FIX}") from None
                if not all(map(math.isfinite, (x, y, s))):
                    raise PosekitError(f"{where}: pose {p} holds a NaN or infinite value; {PRED_FIX}")
                xy[p, j] = x, y
                present[p, j] = not (x == 0 and y == 0 and s == 0) and s >= min_score
        if len(set(ids)) != len(ids):
            raise PosekitError(f"{where}: frame {rec['frame']} has a track_id twice; track ids must be "
                               f"unique within a frame")
        video.frames[rec["frame"]] = PeopleFrame(rec["frame"], np.array(ids, np.int64), xy, present)
    return video


def load_track_gt(path: str | Path) -> list[TrackVideo]:
    """Ground-truth videos from one PoseTrack18 JSON file or a folder of them."""
    path = Path(path)
    return [v for f in _files(path, (".json",), GT_FIX) for v in read_posetrack_json(f, gt=True)]


def load_track_predictions(path: str | Path, min_score: float = 0.0,
                           joints: tuple[str, ...] | None = None) -> list[TrackVideo]:
    """Predicted videos from a PoseTrack JSON / posekit JSONL file or a folder of them."""
    path = Path(path)
    out = []
    for f in _files(path, (".json", ".jsonl"), PRED_FIX):
        if f.suffix == ".jsonl":
            out.append(read_posekit_jsonl(f, min_score))
        else:
            out.extend(read_posetrack_json(f, gt=False, min_score=min_score, joints=joints))
    return out


# --- pairing and scoring --------------------------------------------------------------------------------

def pair_videos(gts: list[TrackVideo], preds: list[TrackVideo]) -> list[tuple[TrackVideo, TrackVideo | None]]:
    """Each GT video with its predictions: same ``vid_id``, else the only video of the file with the same
    stem, else (one video on each side) each other; None when nothing pairs (all its people are misses)."""
    by_vid = {p.vid_id: p for p in preds if p.vid_id is not None}
    by_stem: dict[str, list[TrackVideo]] = {}
    for p in preds:
        by_stem.setdefault(p.stem, []).append(p)
    out = []
    for g in gts:
        match = by_vid.get(g.vid_id) if g.vid_id is not None else None
        if match is None and len(by_stem.get(g.stem, [])) == 1:
            match = by_stem[g.stem][0]
        if match is None and len(gts) == 1 and len(preds) == 1:
            match = preds[0]
        out.append((g, match))
    return out


def _same_name(name: str, names: tuple[str, ...]) -> int | None:
    if name in names:
        return names.index(name)
    alias = ALIASES.get(name)
    return names.index(alias) if alias in names else None


def _inside(points: NDArray[np.float64], poly: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Even-odd ray casting: (N, 2) points strictly inside polygon (M, 2)."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = poly[:, 0][None], poly[:, 1][None]
    x1, y1 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (crosses & (x < xc)).sum(axis=1) % 2 == 1


def _outside_ignore(xy: NDArray[np.float64], regions: tuple[NDArray[np.float64], ...]) -> NDArray[np.bool_]:
    flat = xy.reshape(-1, 2)
    keep = np.ones(len(flat), bool)
    for poly in regions:
        keep &= ~_inside(flat, poly)
    return keep.reshape(xy.shape[:-1])


@dataclass(frozen=True)
class TrackingReport:
    """The result plus what was scored: joints left out, videos without predictions, the matching rule."""

    result: TrackingResult
    left_out: tuple[str, ...]
    videos_without_predictions: tuple[str, ...]
    frames_without_predictions: int

    def as_dict(self, percent: bool = True) -> dict[str, Any]:
        r = self.result
        return {"rule": r.rule, "videos": r.videos, "frames": r.frames,
                "joints_left_out": list(self.left_out),
                "videos_without_predictions": list(self.videos_without_predictions),
                "frames_without_predictions": self.frames_without_predictions,
                "metrics": r.rows(percent)}


def evaluate_tracking(gt_path: str | Path, pred_path: str | Path, min_keypoint_score: float = 0.0,
                      poseval_frames: bool = False) -> TrackingReport:
    """PoseTrack MOTA / MOTP / precision / recall / ID switches of tracked predictions (module docstring)."""
    gts = load_track_gt(gt_path)
    gt_joints = gts[0].joints if gts else ()
    preds = load_track_predictions(pred_path, min_keypoint_score, joints=gt_joints)
    pairs = pair_videos(gts, preds)
    for g, _ in pairs:
        if g.joints != gt_joints:
            raise PosekitError(f"{g.source}: joint names differ from {gts[0].source}; evaluate one skeleton "
                               f"at a time")
    pred_joints = next((p.joints for _, p in pairs if p is not None), ())
    for _, p in pairs:
        if p is not None and p.joints != pred_joints:
            raise PosekitError(f"{p.source}: joint names differ from the other prediction files; {PRED_FIX}")
    paired = [(g, p) for g, p in pairs if p is not None and set(g.frames) & set(p.frames)]
    if not paired:
        raise PosekitError(f"{pred_path}: no predicted frame of any video matches a labelled frame of "
                           f"{gt_path}; pair files by name / vid_id and number frames as the GT does")
    labelled = np.zeros(len(gt_joints), bool)
    for g, _ in pairs:
        for f in g.frames.values():
            labelled |= f.present.any(axis=0)
    # A joint the GT never labels is left out, as poseval's 15-joint set leaves out PoseTrack18's ears.
    joints = [n for n, lab in zip(gt_joints, labelled, strict=True)
              if lab and _same_name(n, pred_joints) is not None]
    head_rule = all(not np.isnan(f.head_boxes[f.present.any(axis=1)]).any()
                    for g, _ in pairs for f in g.frames.values())
    sigma = dict(zip(COCO17.keypoints, COCO_SIGMAS, strict=True))
    if not head_rule:
        joints = [n for n in joints if n in sigma]
    if not joints:
        raise PosekitError(f"{pred_path}: its joints ({', '.join(pred_joints) or 'none'}) share none with "
                           f"{gt_path} ({', '.join(gt_joints)}); use a model with the GT's joint names")
    gi = [gt_joints.index(n) for n in joints]
    pi = [_same_name(n, pred_joints) for n in joints]
    evaluator = PoseTrackingEvaluator(joints, None if head_rule else np.array([sigma[n] for n in joints]))
    missing_frames = 0
    for g, p in pairs:
        frames = []
        for index in sorted(g.frames):
            gf = g.frames[index]
            if poseval_frames and not len(gf.track_ids):
                continue
            pf = p.frames.get(index) if p is not None else None
            missing_frames += pf is None
            frames.append(_track_frame(gf, pf, gi, pi, head_rule))
        evaluator.update(frames[:-1] if poseval_frames else frames)
    return TrackingReport(evaluator.compute(), tuple(n for n in gt_joints if n not in joints),
                          tuple(g.vid_id or g.stem for g, p in pairs if p is None), missing_frames)


def _track_frame(gf: PeopleFrame, pf: PeopleFrame | None, gi: list[int], pi: list[int | None],
                 head_rule: bool) -> TrackFrame:
    gxy, glab = gf.xy[:, gi], gf.present[:, gi]
    glab = glab & _outside_ignore(gxy, gf.ignore)
    scale = head_sizes(gf.head_boxes) if head_rule else gf.areas
    if pf is None:
        pxy, ppres, pids = np.zeros((0, len(gi), 2)), np.zeros((0, len(gi)), bool), np.zeros(0, np.int64)
    else:
        pxy, ppres, pids = pf.xy[:, pi], pf.present[:, pi], pf.track_ids
        ppres = ppres & _outside_ignore(pxy, gf.ignore)
    return TrackFrame(gf.track_ids, gxy, glab, np.asarray(scale, np.float64), pids, pxy, ppres)
