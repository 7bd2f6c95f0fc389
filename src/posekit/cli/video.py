"""`posekit video`: poses over a video, a folder of frames, a stream or a camera, with tracking IDs."""

from __future__ import annotations

import argparse
import json
import sys

from posekit.cli.estimate import add_model_options, add_precision_options, add_topdown_options, load_pipeline


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="poses over video with tracking IDs and smoothing",
                       description="Writes <name>.jsonl (one line per frame: frame, time, poses "
                                   "with track_id) or PoseTrack JSON, and <name>.mp4 with skeletons and IDs "
                                   "drawn.")
    p.add_argument("input", metavar="VIDEO", help="a video file (mp4, avi, mov, mkv, webm...), a folder of "
                   "frames, a stream URL (rtsp://, http://) or a camera device (/dev/video0)")
    p.add_argument("--model", default=None, help="zoo model name or .onnx path (default: movenet-multipose; "
                   "movenet-thunder with --mode topdown)")
    p.add_argument("--out", default="out", help="output folder (default: ./out)")
    p.add_argument("--format", choices=("jsonl", "posetrack"), default="jsonl",
                   help="jsonl: one line per frame; posetrack: PoseTrack18-style JSON")
    p.add_argument("--no-render", action="store_true", help="do not write the annotated MP4")
    p.add_argument("--no-track", action="store_true",
                   help="every frame on its own: no IDs, no smoothing, no crops carried over")
    p.add_argument("--no-smooth", action="store_true", help="keep raw keypoints (no One Euro filter)")
    p.add_argument("--detect-every", type=int, default=10, metavar="N",
                   help="followed people: run the detector at least every N frames (default 10)")
    p.add_argument("--start", type=float, default=None, metavar="S", help="start at S seconds")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="process S seconds")
    p.add_argument("--min-score", type=float, default=None,
                   help="drop people whose pose score is lower (default: the model's own: 0.25 MoveNet, "
                        "0.5 BlazePose as MediaPipe)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads (default: all cores): whole-image multi-person models run this many "
                        "frames at once, one onnxruntime thread each; others use as many onnxruntime threads")
    s = p.add_argument_group("smoothing (One Euro filter; speed in person sizes per second; default: the "
                             "model's own, for BlazePose MediaPipe's)")
    s.add_argument("--min-cutoff", type=float, default=None, help="cutoff at rest, Hz (lower: smoother)")
    s.add_argument("--beta", type=float, default=None, help="cutoff increase with speed (higher: less lag)")
    s.add_argument("--d-cutoff", type=float, default=None, help="cutoff of the speed estimate, Hz")
    t = p.add_argument_group("tracking")
    t.add_argument("--max-age", type=float, default=None, help="seconds a lost track keeps its ID (2.0)")
    t.add_argument("--min-similarity", type=float, default=None,
                   help="least similarity (mean of OKS and box IoU) to continue a track (0.15)")
    t.add_argument("--max-tracks", type=int, default=None, help="most tracks kept (18)")
    add_topdown_options(p, "whole: the model on each whole frame (one-person models follow their person "
                           "with a crop)")
    add_model_options(p)
    add_precision_options(p)
    p.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> dict:
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from posekit.models.registry import DEFAULT_MODEL, MODELS
    from posekit.models.runner import default_threads
    from posekit.video.pose_tracker import PoseTracker
    from posekit.video.run import process_video
    from posekit.video.smoothing import OneEuroParams
    from posekit.video.tracks import TrackerParams

    given = _given(args, ("min_cutoff", "beta", "d_cutoff"))
    smoothing = OneEuroParams(**given) if given else None  # None: the model's own (BlazePose: MediaPipe's)
    tracking = TrackerParams(**_given(args, ("max_age", "min_similarity", "max_tracks")))
    threads = args.threads or default_threads()
    name = args.model or DEFAULT_MODEL
    # Whole-image models that find everyone need no state from the last frame: frames run side by side.
    multi = name in MODELS and MODELS[name].multi_person
    frame_parallel = args.mode == "whole" and (args.no_track or multi)
    model = load_pipeline(args, threads=1 if frame_parallel else threads)
    tracker = PoseTracker(model, smooth=not args.no_smooth, track=not args.no_track,
                          detect_every=args.detect_every, smoothing=smoothing, tracking=tracking)
    result = process_video(args.input, tracker, Path(args.out), fmt=args.format, render=not args.no_render,
                           start=args.start, duration=args.duration, progress=not args.quiet,
                           workers=threads if frame_parallel else 1)
    summary = result.summary()
    summary.update(detector_runs=tracker.stats.detector_runs, crops=tracker.stats.crops)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{result.frames} frame(s), {result.people} person-frame(s), {len(result.track_ids)} "
              f"track(s) in {result.seconds:.1f} s: {summary['fps']} frames/s, "
              f"{result.realtime_factor:.2f}x real time")
        for path in result.outputs:
            print(f"  {path}")
    if result.error:
        print(f"posekit: error: {result.error} (outputs hold the {result.frames} frame(s) before it)",
              file=sys.stderr)
        return 1
    return 0
