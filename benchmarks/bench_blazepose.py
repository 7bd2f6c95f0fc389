"""posekit's BlazePose vs MediaPipe Pose (mediapipe==0.10.14, ``make mediapipe-ref``), measured in one run.

    taskset -c 0 .venv/bin/python benchmarks/bench_blazepose.py [--lsp 1000] [--photo-rounds 3]
        [--video ../shared/data/media/video.avi] [--models blazepose-full blazepose-lite blazepose-heavy]
        [--skip lsp photos video] [--mediapipe-pipeline]

Run it under ``taskset -c 0``: posekit (onnxruntime, one thread) and the MediaPipe server (a subprocess,
which inherits the affinity) then share one core and take turns, image by image, so both see the same load.

- lsp: LSP Extended images 8,001.. (the last 1,000 here), whole image, every annotated person counts (no pose
  = all joints missed): PCK@0.2 (torso) through ``posekit.evaluate``; also on the images where both found
  someone. blazepose-full interleaved with MediaPipe (model_complexity=1); lite and heavy posekit only
  (MediaPipe downloads those at run time, which fails offline).
- photos: ms per image (``predict`` vs ``Pose.process``, static_image_mode=True, decoding excluded) over
  ../shared/data/media/*.jpg, ``--photo-rounds`` times: the mean, and the median over photos of each
  photo's median; posekit's landmark passes and the photos each found a person on.
- video: ms per frame and frames with a pose on ``--video``: posekit's ``BlazePose.track`` loop (the next ROI
  from this frame's filtered alignment landmarks, ``RoiSmoother``, the detector only when lost) vs
  Pose(static_image_mode=False), and how far posekit's next ROI is from MediaPipe's (median ``roi_change``);
  the other ``--models`` after it, posekit only.

Prints a table per part and one JSON line (``--json`` for only that).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
OPTIONS: dict = {}  # posekit's BlazePose options (--mediapipe-pipeline: fallback=False, roi_check=None)


def _reference():
    spec = importlib.util.spec_from_file_location(
        "mediapipe_pose", ROOT / "tools" / "mediapipe-reference" / "mediapipe_pose.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.mediapipe_python() is None:
        sys.exit(module.MISSING)
    return module


def _mp_poses(ref: dict, width: int, height: int, schema):
    """MediaPipe's answer as posekit Poses (continuous pixels: MediaPipe's x * width is a pixel index)."""
    from posekit.types import Poses

    if ref["landmarks"] is None:
        return Poses.empty(schema, with_boxes=True)
    lm = np.asarray(ref["landmarks"], np.float32)
    xy = lm[None, :, :2] * [width, height] + 0.5
    boxes = np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)
    return Poses(xy.astype(np.float32), lm[None, :, 3], np.ones(1, np.float32), schema, boxes)


class _Replay:
    """A 'model' that answers ``predict`` with poses computed earlier, in order (for posekit.evaluate)."""

    def __init__(self, name: str, schema, poses: list) -> None:
        from posekit.models.spec import ModelSpec

        self.spec = ModelSpec(name, "replay", name, 256, schema, False, name, "", "")
        self.schema = schema
        self._poses = iter(poses)

    def predict(self, rgb):
        return next(self._poses)


def _pck(samples, poses: list, name: str, schema) -> float:
    from posekit.evaluate import predict_dataset, score_pck

    preds = predict_dataset(_Replay(name, schema, poses), samples, progress=False)
    return round(100 * score_pck(preds, "lspet", 0.2)["tables"]["pck@0.2"].as_dict()["mean"], 1)


def bench_lsp(ref_mod, count: int, models: list[str]) -> dict:
    import posekit
    from posekit.datasets.lsp import load_lsp
    from posekit.images import read_image
    from posekit.skeletons import BLAZEPOSE33

    samples = load_lsp(DATA / "lspet-train")[8000:8000 + count]
    images = [read_image(s.image_path).rgb for s in samples]
    out: dict = {"images": len(samples)}
    full = posekit.load_model("blazepose-full", threads=1, **OPTIONS)
    pk, mp, pk_ms, mp_ms = [], [], [], []
    with ref_mod.MediaPipePose(static_image_mode=True) as pose:
        for s, rgb in zip(samples, images, strict=True):
            t0 = time.perf_counter()
            pk.append(full.predict(rgb))
            pk_ms.append((time.perf_counter() - t0) * 1000)
            r = pose.process(s.image_path)
            mp_ms.append(r["ms"])
            mp.append(_mp_poses(r, rgb.shape[1], rgb.shape[0], BLAZEPOSE33))
    both = [i for i in range(len(samples)) if len(pk[i]) and len(mp[i])]
    out["blazepose-full"] = {"pck": _pck(samples, pk, "posekit", BLAZEPOSE33),
                             "found": sum(len(p) > 0 for p in pk), "ms": round(float(np.median(pk_ms)), 1)}
    out["mediapipe-full"] = {"pck": _pck(samples, mp, "mediapipe", BLAZEPOSE33),
                             "found": sum(len(p) > 0 for p in mp), "ms": round(float(np.median(mp_ms)), 1)}
    sub = [samples[i] for i in both]
    out["both_found"] = {"images": len(both),
                         "posekit_pck": _pck(sub, [pk[i] for i in both], "posekit", BLAZEPOSE33),
                         "mediapipe_pck": _pck(sub, [mp[i] for i in both], "mediapipe", BLAZEPOSE33)}
    for name in models:
        if name == "blazepose-full":
            continue
        model = posekit.load_model(name, threads=1, **OPTIONS)
        poses = [model.predict(rgb) for rgb in images]
        out[name] = {"pck": _pck(samples, poses, name, BLAZEPOSE33), "found": sum(len(p) > 0 for p in poses)}
    return out


def bench_photos(ref_mod, rounds: int) -> dict:
    import posekit
    from posekit.images import read_image

    paths = sorted((DATA / "media").glob("*.jpg"))
    images = [read_image(p).rgb for p in paths]
    model = posekit.load_model("blazepose-full", threads=1, **OPTIONS)
    pk, mp, passes, found, found_mp = [], [], 0, 0, 0
    with ref_mod.MediaPipePose(static_image_mode=True) as pose:
        for p, rgb in zip(paths, images, strict=True):  # warm-up
            model.predict(rgb)
            pose.process(p)
        for _ in range(rounds):
            for p, rgb in zip(paths, images, strict=True):
                t0 = time.perf_counter()
                res = model.predict_detailed(rgb)
                pk.append((time.perf_counter() - t0) * 1000)
                passes, found = passes + len(res.tried), found + bool(len(res.poses))
                r = pose.process(p)
                mp.append(r["ms"])
                found_mp += r["landmarks"] is not None
    # per photo: the median of its rounds, then the median over photos
    per_pk = np.median(np.reshape(pk, (rounds, -1)), axis=0)
    per_mp = np.median(np.reshape(mp, (rounds, -1)), axis=0)
    return {"images": len(paths), "rounds": rounds, "posekit_ms": round(float(np.mean(pk)), 2),
            "mediapipe_ms": round(float(np.mean(mp)), 2),
            "speedup": round(float(np.mean(mp) / np.mean(pk)), 2),
            "posekit_median_ms": round(float(np.median(per_pk)), 2),
            "mediapipe_median_ms": round(float(np.median(per_mp)), 2),
            "median_speedup": round(float(np.median(per_mp) / np.median(per_pk)), 2),
            "posekit_landmark_passes": passes // rounds, "posekit_found": found // rounds,
            "mediapipe_found": found_mp // rounds}


def _track(model, rgb, rois: tuple, stamp: float, smoother) -> tuple:
    """One frame of posekit's video loop: (result, next ROIs, ms)."""
    t0 = time.perf_counter()
    res = model.track(rgb, rois)
    rois = smoother.next_rois(res, stamp)
    return res, rois, (time.perf_counter() - t0) * 1000


def bench_video(ref_mod, video: Path, models: list[str]) -> dict:
    import posekit
    from posekit.decode.blazepose import Roi, roi_change
    from posekit.models.blazepose import RoiSmoother
    from posekit.video.io import VideoReader

    with VideoReader(video) as reader:
        frames, times = zip(*((f.rgb, f.time) for f in reader), strict=True)
    model = posekit.load_model("blazepose-full", threads=1, **OPTIONS)
    smoother = RoiSmoother()  # MediaPipe's filter of the alignment landmarks (what PoseTracker runs)
    pk_ms, mp_ms, pk_found, mp_found, detector_runs, roi_gap = [], [], [], [], 0, []
    height, width = frames[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp, ref_mod.MediaPipePose(static_image_mode=False) as pose:
        paths = []
        for i, rgb in enumerate(frames):
            paths.append(Path(tmp) / f"{i:05d}.npy")
            np.save(paths[-1], rgb)
        model.predict(frames[0])  # warm-up (MediaPipe's first frame is its own warm-up, as in any use)
        rois: tuple = ()
        for rgb, stamp, path in zip(frames, times, paths, strict=True):
            res, rois, ms = _track(model, rgb, rois, stamp, smoother)
            pk_ms.append(ms)
            detector_runs += res.detected
            pk_found.append(len(res.poses) > 0)
            r = pose.process(path)
            mp_ms.append(r["ms"])
            mp_found.append(r["landmarks"] is not None)
            if rois and r["roi_from_landmarks"] is not None:  # the next crop, both followed the person
                xc, yc, side, _, angle = r["roi_from_landmarks"]
                theirs = Roi(xc * width + 0.5, yc * height + 0.5, side * width, angle)
                roi_gap.append(roi_change(theirs, rois[0]))
    others = {}
    for name in (m for m in models if m != "blazepose-full"):
        other = posekit.load_model(name, threads=1, **OPTIONS)
        other.predict(frames[0])
        smoother, rois, ms, found = RoiSmoother(), (), [], 0
        for rgb, stamp in zip(frames, times, strict=True):
            res, rois, took = _track(other, rgb, rois, stamp, smoother)
            ms.append(took)
            found += len(res.poses) > 0
        others[name] = {"ms": round(float(np.mean(ms)), 2), "frames_with_pose": found}
    n150 = min(150, len(frames))
    return {**others, "frames": len(frames), "posekit_ms": round(float(np.mean(pk_ms)), 2),
            "mediapipe_ms": round(float(np.mean(mp_ms)), 2),
            "speedup": round(float(np.mean(mp_ms) / np.mean(pk_ms)), 2),
            "posekit_frames_with_pose": int(sum(pk_found)), "mediapipe_frames_with_pose": int(sum(mp_found)),
            "posekit_first150": int(sum(pk_found[:n150])), "mediapipe_first150": int(sum(mp_found[:n150])),
            "posekit_detector_runs": detector_runs,
            "next_roi_vs_mediapipe_median": round(float(np.median(roi_gap)), 4) if roi_gap else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lsp", type=int, default=1000, help="LSP Extended images from 8,001 (at most 1,000)")
    ap.add_argument("--photo-rounds", type=int, default=3)
    ap.add_argument("--video", type=Path, default=DATA / "media" / "video.avi")
    ap.add_argument("--models", nargs="+", default=["blazepose-full", "blazepose-lite", "blazepose-heavy"])
    ap.add_argument("--skip", nargs="*", default=[], choices=("lsp", "photos", "video"))
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--mediapipe-pipeline", action="store_true",
                    help="posekit without its additions (no fallbacks, no ROI check): MediaPipe's pipeline")
    args = ap.parse_args()
    if args.mediapipe_pipeline:
        OPTIONS.update(fallback=False, roi_check=None)
    if not DATA.is_dir():
        sys.exit(f"{DATA}: the shared data folder is missing")
    ref = _reference()
    result = {}
    if "photos" not in args.skip:
        result["photos"] = bench_photos(ref, args.photo_rounds)
    if "video" not in args.skip:
        result["video"] = bench_video(ref, args.video, args.models)
    if "lsp" not in args.skip:
        result["lsp"] = bench_lsp(ref, min(args.lsp, 1000), args.models)
    if not args.json:
        for part, table in result.items():
            print(f"== {part}")
            for key, value in table.items():
                print(f"  {key:28s} {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
