"""Video speed: frames/s and real-time factor of `posekit video`'s pipeline (decode, model, tracking,
smoothing, drawing, H.264 encoding, JSONL), beside the bare model session on the same frames in the same run.
CPU ms/frame (the process's CPU time over all its threads, per frame) is the figure to compare on a busy
machine: frames/s depends on what else runs.

    python benchmarks/bench_video.py [--video PATH ...] [--threads 1 2] [--json]

Defaults: ../shared/data/media/video.avi and the PoseTrack clip in ../shared/data/mmpose-tests/posetrack18.
Configurations: movenet-multipose on the whole frame (one frame at a time on an N-thread session, and N
frames side by side on one-thread sessions, as `posekit video` runs it); top-down movenet-thunder following
each person (detector every 10 frames) and, as its peer, top-down with the detector on every frame
(--no-track).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
VIDEOS = (DATA / "media" / "video.avi",
          DATA / "mmpose-tests/posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4")


def load(config: str, threads: int, precision: str = "fp32"):
    import posekit
    from posekit.models.topdown import load_topdown

    if config == "multipose":
        return posekit.load_model("movenet-multipose", threads=threads, precision=precision)
    return load_topdown("movenet-thunder", threads=threads, precision=precision)


def session_ms(model, frames: list[np.ndarray]) -> float:
    """Median ms of the model alone (preprocess + session + decode of outputs) on decoded frames."""
    times = []
    for rgb in frames:
        t = time.perf_counter()
        model.predict(rgb)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def run_one(video: Path, config: str, threads: int, track: bool, render: bool, parallel: bool = False,
            precision: str = "fp32") -> dict:
    """``parallel``: as `posekit video` runs whole-image models, ``threads`` frames at once on one-thread
    sessions; else one frame at a time on a ``threads``-thread session."""
    from posekit.video.pose_tracker import PoseTracker
    from posekit.video.run import process_video

    model = load(config, 1 if parallel else threads, precision)
    tracker = PoseTracker(model, track=track)
    with tempfile.TemporaryDirectory() as out:
        cpu = time.process_time()
        run = process_video(video, tracker, out, render=render, progress=False,
                            workers=threads if parallel else 1)
        cpu = time.process_time() - cpu
    s = run.summary()
    label = config + ("" if track else " (no track)") + (" (frames side by side)" if parallel else "")
    return {"video": video.name, "config": label, "precision": precision, "threads": threads,
            "render": render, "frames": run.frames, "fps": s["fps"], "realtime_factor": s["realtime_factor"],
            "cpu_ms_per_frame": round(cpu * 1000 / max(run.frames, 1), 1),
            "detector_runs": tracker.stats.detector_runs, "crops": tracker.stats.crops,
            "people_per_frame": round(run.people / max(run.frames, 1), 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", nargs="*", type=Path, default=[v for v in VIDEOS if v.exists()])
    ap.add_argument("--threads", nargs="*", type=int, default=[1, 2])
    ap.add_argument("--precision", nargs="*", default=["fp32", "int8"], choices=("fp32", "int8"))
    names = ("multipose", "topdown-thunder", "topdown-thunder-notrack")
    ap.add_argument("--configs", nargs="*", default=list(names), choices=names)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from posekit.video.io import VideoReader

    rows = []
    for video in args.video:
        with VideoReader(video) as reader:
            info = reader.info
            sample = [f.rgb for _, f in zip(range(30), reader, strict=False)]
        for threads in args.threads:
            configs = [("multipose", True, False), ("topdown-thunder", True, False),
                       ("topdown-thunder-notrack", False, False)]
            if threads > 1:  # what `posekit video` does with whole-image multi-person models
                configs.insert(1, ("multipose", True, True))
            for (config, track, parallel), precision in product(configs, args.precision):
                if config not in args.configs:
                    continue
                config = config.removesuffix("-notrack")
                row = run_one(video, config, threads, track, render=True, parallel=parallel,
                              precision=precision)
                row["video_fps"] = info.fps
                if track and not parallel:
                    row["session_ms"] = round(session_ms(load(config, threads, precision), sample), 2)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| video | config | precision | threads | frames | video fps | pipeline fps | real-time x "
          "| CPU ms/frame | model alone ms (fps) | detector runs | crops | people/frame |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        alone = f"{r['session_ms']} ({1000 / r['session_ms']:.1f})" if "session_ms" in r else "-"
        print(f"| {r['video']} | {r['config']} | {r['precision']} | {r['threads']} | {r['frames']} | "
              f"{r['video_fps']:.0f} | "
              f"{r['fps']} | {r['realtime_factor']} | {r['cpu_ms_per_frame']} | {alone} | "
              f"{r['detector_runs']} | {r['crops']} | {r['people_per_frame']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
