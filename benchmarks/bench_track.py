"""`posekit video` against exact ground truth: jitter, lag, per-frame accuracy and tracking, raw vs smoothed.

    .venv/bin/python benchmarks/make_track_clips.py --out /tmp/posekit-clips      # the clips, once
    .venv/bin/python benchmarks/bench_track.py [--clips /tmp/posekit-clips] [--models movenet-multipose]
        [--mode topdown] [--threads 1] [--out /tmp/posekit-bench] [--json] [--untracked]
    .venv/bin/python benchmarks/bench_track.py --sweep [--min-cutoff 0.1 0.3 1] [--beta 1 5 20] [--d-cutoff 1]

For every clip of the set (``clips.json``) and model, runs ``posekit video CLIP.mp4 --format jsonl
--no-render`` twice, raw (``--no-smooth``) and smoothed (the One Euro defaults, or each grid point with
``--sweep``), and reports per clip kind (motion / crossing) and overall:

- accel: acceleration error (posekit.metrics.jitter), x1000 person sizes per frame^2; ratio = smoothed / raw.
- lag: frames by which the keypoints trail the truth (per clip, all tracks together, where at least 30
  frames are matched; mean over clips). +lag: mean over clips of (lag - raw lag), the lag the smoothing
  adds (a model's bias along a straight motion reads as lag; the difference cancels it).
- PCK@0.2: fraction of labelled GT keypoints within 0.2 torso (right shoulder - left hip) of the prediction,
  people matched per frame by OKS; every GT frame counts.
- AP: COCO keypoint AP (posekit.metrics.oks) over all frames of the kind as one COCO set.
- IDsw, MOTA: ``posekit eval track --json`` totals (PoseTrack rules: ID switches counted per joint;
  predicted keypoints scoring under ``--min-keypoint-score`` (0.3) are not predictions, as the GT drops
  hidden ones). MOTA here = 1 - (misses + false positives + switches) / GT over all clips of the kind.
- ID: person-level identity switches (posekit.metrics.jitter.identity_switches: a GT person matched, OKS >=
  0.5, to another predicted track than last time), the tracker's own errors without PoseTrack's per-joint
  noise.
- fps: frames per second of the whole `posekit video` process (model loading included).

Trajectories pair each GT track with the predicted track it matches most often (OKS >= 0.5 per frame).
Writes the JSONL of every run under --out; prints a markdown table (and one JSON object with --json).
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posekit.metrics.jitter import (
    FramePeople,
    acceleration_errors,
    frame_pck_counts,
    identity_switches,
    lag_frames,
    match_trajectories,
)
from posekit.metrics.oks import coco_keypoint_eval
from posekit.skeletons import COCO17

POSEKIT = [sys.executable, "-m", "posekit"]
K = COCO17.num_keypoints
LAG_MIN_FRAMES = 30  # a clip's lag needs this many frames with a matched prediction


# -------------------------------------------------------------------------------------------- reading
def read_gt(path: Path) -> tuple[dict, list[FramePeople]]:
    """A clip's GT document and its people per frame (frame order). size = sqrt(bbox w * h)."""
    gt = json.loads(path.read_text(encoding="utf-8"))
    images = sorted(gt["images"], key=lambda i: i["frame_id"])
    by_image: dict[int, list[dict]] = {}
    for ann in gt["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    frames = []
    for img in images:
        anns = sorted(by_image.get(img["id"], []), key=lambda a: a["track_id"])
        if not anns:
            frames.append(FramePeople.empty(K))
            continue
        kp = np.array([a["keypoints"] for a in anns], np.float64).reshape(len(anns), K, 3)
        frames.append(FramePeople(
            np.array([a["track_id"] for a in anns], np.int64), kp[..., :2], kp[..., 2] > 0,
            np.array([a["area"] for a in anns], np.float64),
            np.sqrt(np.array([a["bbox"][2] * a["bbox"][3] for a in anns], np.float64))))
    return gt, frames


@dataclass(frozen=True)
class PredFrame(FramePeople):
    """Predicted people with their pose scores (N,)."""

    pose_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))


def read_jsonl(path: Path, n_frames: int) -> list[FramePeople]:
    """`posekit video` JSONL -> predicted people per frame (COCO-17 by part name; track_id -1 when absent).

    A frame the file lacks has no people; keypoint scores go to ``scores`` (N, K), pose scores to
    ``pose_scores`` (N,).
    """
    index = {name: i for i, name in enumerate(COCO17.keypoints)}
    frames = [FramePeople.empty(K) for _ in range(n_frames)]
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        f = int(rec["frame"])
        if not 0 <= f < n_frames or not rec.get("poses"):
            continue
        n = len(rec["poses"])
        xy, sc = np.full((n, K, 2), np.nan), np.zeros((n, K))
        ids, pose_scores = np.full(n, -1, np.int64), np.zeros(n)
        for p, pose in enumerate(rec["poses"]):
            ids[p] = pose.get("track_id", -1) if pose.get("track_id") is not None else -1
            pose_scores[p] = pose.get("score", 0.0)
            for kp in pose["keypoints"]:
                k = index.get(kp["part"])
                if k is not None:
                    xy[p, k] = kp["position"]["x"], kp["position"]["y"]
                    sc[p, k] = kp.get("score", 0.0)
        frames[f] = PredFrame(ids, xy, np.ones((n, K), bool), scores=sc, pose_scores=pose_scores)
    return frames


def coco_results(gt: dict, frames: list[FramePeople]) -> list[dict]:
    """COCO keypoint results for one clip: every predicted pose, image ids from the GT's frames."""
    ids = {img["frame_id"]: img["id"] for img in gt["images"]}
    out = []
    for f, fr in enumerate(frames):
        if not len(fr.track_ids) or f not in ids:
            continue
        scores = getattr(fr, "pose_scores", np.ones(len(fr.track_ids)))
        for p in range(len(fr.track_ids)):
            xy = np.nan_to_num(fr.xy[p], nan=0.0)
            kp = np.c_[xy, fr.scores[p] if fr.scores is not None else np.ones(K)]
            out.append({"image_id": ids[f], "category_id": 1, "keypoints": kp.ravel().tolist(),
                        "score": float(scores[p])})
    return out


# --------------------------------------------------------------------------------------------- running
def run_video(clip: Path, model: str, out: Path, threads: int, mode: str | None, smooth: bool = True,
              track: bool = True, one_euro: tuple[float, float, float] | None = None,
              extra: list[str] | None = None) -> tuple[Path, float]:
    """`posekit video` on one clip into ``out``; returns the JSONL path and the wall time (s)."""
    cmd = POSEKIT + ["video", str(clip), "--model", model, "--out", str(out), "--format", "jsonl",
                     "--no-render", "--threads", str(threads), "--quiet"]
    if mode:
        cmd += ["--mode", mode]
    if not smooth:
        cmd.append("--no-smooth")
    if not track:
        cmd.append("--no-track")
    if one_euro is not None:
        cmd += ["--min-cutoff", str(one_euro[0]), "--beta", str(one_euro[1]), "--d-cutoff", str(one_euro[2])]
    cmd += extra or []
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return out / f"{clip.stem}.jsonl", time.perf_counter() - t0


def eval_track(gt: Path, pred: Path, min_keypoint_score: float) -> dict | None:
    """`posekit eval track --json` totals (percent values and counts), or None where it fails."""
    cmd = POSEKIT + ["eval", "track", "--gt", str(gt), "--pred", str(pred), "--json",
                     "--min-keypoint-score", str(min_keypoint_score)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"warning: {' '.join(cmd)}: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout)["metrics"]["total"]


# --------------------------------------------------------------------------------------------- scoring
@dataclass
class Tally:
    """Sums over the clips of one kind for one model and variant."""

    accel: list[np.ndarray] = field(default_factory=list)
    lags: dict[str, float] = field(default_factory=dict)  # clip name -> lag (frames)
    pck_hits: int = 0
    pck_counted: int = 0
    gt_images: list[dict] = field(default_factory=list)
    gt_anns: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    track: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    frames: int = 0
    person_switches: int = 0

    def add_clip(self, name: str, gt: dict, gt_frames: list[FramePeople], pred: list[FramePeople],
                 track: dict | None, seconds: float, tracked: bool = True) -> None:
        if tracked:
            self.person_switches += identity_switches(gt_frames, pred)
            pairs = match_trajectories(gt_frames, pred)
            self.accel += [acceleration_errors(p.pred, p.gt, p.visible, p.size) for p in pairs]
            if pairs:
                cat = lambda a: np.concatenate(a, axis=1)  # noqa: E731  all tracks share the time axis
                self.lags[name] = lag_frames(cat([p.pred for p in pairs]), cat([p.gt for p in pairs]),
                                             cat([p.visible for p in pairs]), min_frames=LAG_MIN_FRAMES)
        hits, counted = frame_pck_counts(gt_frames, pred)
        self.pck_hits += hits
        self.pck_counted += counted
        self.gt_images += gt["images"]
        self.gt_anns += gt["annotations"]
        self.results += coco_results(gt, pred)
        for key in ("num_gt", "num_misses", "num_false_positives", "num_switches", "num_matches"):
            if track is not None:
                self.track[key] = self.track.get(key, 0) + track[key]
        self.seconds += seconds
        self.frames += len(gt_frames)

    def merge(self, other: Tally) -> None:
        self.accel += other.accel
        self.lags.update(other.lags)
        self.pck_hits += other.pck_hits
        self.pck_counted += other.pck_counted
        self.gt_images += other.gt_images
        self.gt_anns += other.gt_anns
        self.results += other.results
        for k, v in other.track.items():
            self.track[k] = self.track.get(k, 0) + v
        self.seconds += other.seconds
        self.frames += other.frames
        self.person_switches += other.person_switches

    def summary(self, categories: list[dict]) -> dict:
        terms = np.concatenate(self.accel) if self.accel else np.zeros(0)
        lags = [v for v in self.lags.values() if np.isfinite(v)]
        gt = {"images": self.gt_images, "annotations": self.gt_anns, "categories": categories}
        ap = coco_keypoint_eval(gt, self.results).AP if self.gt_images else float("nan")
        t = self.track
        mota = (1 - (t["num_misses"] + t["num_false_positives"] + t["num_switches"]) / t["num_gt"]) \
            if t.get("num_gt") else None
        return {"accel_x1000": float(terms.mean() * 1000) if terms.size else None,
                "lag_frames": float(np.mean(lags)) if lags else None,
                "pck@0.2": self.pck_hits / self.pck_counted if self.pck_counted else None,
                "AP": ap, "id_switches": t.get("num_switches"), "mota": mota,
                "person_switches": self.person_switches,
                "frames": self.frames, "fps": self.frames / self.seconds if self.seconds else None,
                "clip_lags": dict(self.lags)}


def load_clips(folder: Path, kinds: list[str] | None, limit: int | None) -> list[dict]:
    index_path = folder / "clips.json"
    if not index_path.is_file():
        raise SystemExit(f"{index_path}: no clip set there; build one with "
                         f"`.venv/bin/python benchmarks/make_track_clips.py --out {folder}`")
    clips = json.loads(index_path.read_text())["clips"]
    clips = [c for c in clips if not kinds or c["kind"] in kinds]
    if limit:  # the first `limit` of each kind
        clips = [c for kind in dict.fromkeys(c["kind"] for c in clips)
                 for c in [x for x in clips if x["kind"] == kind][:limit]]
    return clips


def bench_variant(clips: list[dict], folder: Path, model: str, out: Path, args: argparse.Namespace,
                  smooth: bool, track: bool = True, one_euro=None, label: str = "") -> dict[str, Tally]:
    """Run one variant over the clips; a Tally per clip kind."""
    tallies: dict[str, Tally] = {}
    for clip in clips:
        gt_path = folder / clip["gt"]
        gt, gt_frames = read_gt(gt_path)
        jsonl, secs = run_video(folder / clip["video"], model, out, args.threads, args.mode, smooth, track,
                                one_euro, shlex.split(args.video_args))
        pred = read_jsonl(jsonl, len(gt_frames))
        trk = eval_track(gt_path, jsonl, args.min_keypoint_score) if track else None
        tallies.setdefault(clip["kind"], Tally()).add_clip(clip["name"], gt, gt_frames, pred, trk, secs,
                                                           tracked=track)
        print(f"  {model} {label:24} {clip['name']:20} {secs:5.1f} s", file=sys.stderr)
    return tallies


def summarise(tallies: dict[str, Tally], categories: list[dict]) -> dict[str, dict]:
    out = {kind: t.summary(categories) for kind, t in sorted(tallies.items())}
    total = Tally()
    for t in tallies.values():
        total.merge(t)
    out["all"] = total.summary(categories)
    return out


def _added_lag(lags: dict[str, float], raw: dict[str, float]) -> float | None:
    """Mean over clips of (lag - raw lag): the lag smoothing adds, free of the model's own bias."""
    both = [lags[c] - raw[c] for c in lags if c in raw and np.isfinite(lags[c]) and np.isfinite(raw[c])]
    return float(np.mean(both)) if both else None


def _finite(obj):
    """NaN / inf -> None, so that the JSON is strict."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return None if isinstance(obj, float) and not np.isfinite(obj) else obj


def _f(v, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, fmt)


def table(rows: list[dict], keys: list[str]) -> str:
    head = keys + ["accel x1e3", "ratio", "lag (fr)", "+lag", "PCK@0.2", "AP", "IDsw", "MOTA", "ID", "fps"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s = r["scores"]
        cells = [str(r[k]) for k in keys] + [
            _f(s["accel_x1000"], ".3f"), _f(r.get("ratio"), ".2f"), _f(s["lag_frames"], ".2f"),
            _f(r.get("added_lag"), ".2f"),
            _f(s["pck@0.2"], ".3f"), _f(s["AP"], ".3f"), _f(s["id_switches"], "d"), _f(s["mota"], ".3f"),
            _f(s["person_switches"], "d"), _f(s["fps"], ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=Path, default=Path("/tmp/posekit-clips"))
    ap.add_argument("--models", nargs="+", default=["movenet-multipose"])
    ap.add_argument("--mode", choices=("whole", "topdown"), default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("/tmp/posekit-bench"))
    ap.add_argument("--kinds", nargs="+", default=None, help="clip kinds to run (motion, crossing)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many clips per kind")
    ap.add_argument("--min-keypoint-score", type=float, default=0.3,
                    help="for eval track: lower-scoring predicted keypoints are not predictions")
    ap.add_argument("--untracked", action="store_true", help="also run --no-track (accuracy only)")
    ap.add_argument("--sweep", action="store_true", help="smoothed runs over a One Euro grid")
    ap.add_argument("--min-cutoff", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    ap.add_argument("--beta", type=float, nargs="+", default=[1.0, 5.0, 20.0])
    ap.add_argument("--d-cutoff", type=float, nargs="+", default=[1.0])
    ap.add_argument("--video-args", default="", help="more `posekit video` arguments, e.g. '--max-age 2'")
    ap.add_argument("--json", action="store_true", help="also print one JSON object")
    args = ap.parse_args(argv)
    clips = load_clips(args.clips, args.kinds, args.limit)
    categories = json.loads((args.clips / clips[0]["gt"]).read_text())["categories"]
    rows = []
    for model in args.models:
        out = args.out / model
        variants: list[tuple[str, dict]] = [("raw", {"smooth": False})]
        if args.sweep:
            variants += [(f"{mc:g}/{b:g}/{dc:g}", {"smooth": True, "one_euro": (mc, b, dc)})
                         for mc, b, dc in itertools.product(args.min_cutoff, args.beta, args.d_cutoff)]
        else:
            variants.append(("smoothed", {"smooth": True}))
        if args.untracked:
            variants.append(("untracked", {"smooth": False, "track": False}))
        raw = None
        for label, kw in variants:
            res = summarise(bench_variant(clips, args.clips, model, out / label.replace("/", "_"), args,
                                          label=label, **kw), categories)
            raw = res if label == "raw" else raw
            for kind, scores in res.items():
                ratio = added = None
                if label != "raw" and scores["accel_x1000"] is not None and raw[kind]["accel_x1000"]:
                    ratio = scores["accel_x1000"] / raw[kind]["accel_x1000"]
                if label != "raw":
                    added = _added_lag(scores["clip_lags"], raw[kind]["clip_lags"])
                rows.append({"model": model, "variant": label, "kind": kind, "scores": scores,
                             "ratio": ratio, "added_lag": added})
    keys = ["model", "variant", "kind"]
    if args.sweep:
        print("variant = min_cutoff/beta/d_cutoff (Hz / per person size per second / Hz)\n")
    print(table(sorted(rows, key=lambda r: (r["model"], r["kind"] != "all", r["kind"])), keys))
    if args.json:
        print(json.dumps(_finite({"clips": [c["name"] for c in clips], "rows": rows})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
