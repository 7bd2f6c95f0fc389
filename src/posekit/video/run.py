"""A whole video through a PoseTracker: frames in, JSONL or PoseTrack JSON and an annotated MP4 out.

Frames are decoded in one background thread and drawn and encoded in another while the model runs (PyAV,
PIL, numpy and onnxruntime release the GIL), so on two cores the stages overlap. A decoded frame stays in
FFmpeg's YUV: whole-image models get it scaled to their input by swscale (``PoseTracker.detect_frame``),
and the poses are drawn on its YUV planes and encoded from them (``render.draw_poses_yuv``), so the full
RGB frame is made only for models that cut crops from it (720p: 3.6 ms to make it, 2.6 to resize it and
~3 for the encoder to convert it back, per frame). Outputs are written under
temporary names and renamed into place at the end, also when the run stops early (a damaged file, a
dropped stream, Ctrl-C): the JSONL then holds every frame processed, one complete line each, and the MP4 is
finalised with the frames drawn so far.
"""

from __future__ import annotations

import json
import os
import queue
import re
import tempfile
import threading
import time as clock
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posekit.atomic import file_mode
from posekit.formats import write_json
from posekit.types import Poses
from posekit.video.io import Frame, VideoReader, VideoWriter

FORMATS = ("jsonl", "posetrack")


@dataclass
class VideoRun:
    """What a run did: frames processed, people over all frames, distinct track IDs, wall-clock seconds,
    seconds of video covered, files written, and the error that stopped it early (None when complete)."""

    frames: int = 0
    people: int = 0
    track_ids: set[int] = field(default_factory=set)
    seconds: float = 0.0
    video_seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None

    @property
    def realtime_factor(self) -> float:
        """Seconds of video per second of processing (>= 1: faster than real time)."""
        return self.video_seconds / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {"frames": self.frames, "people": self.people, "tracks": len(self.track_ids),
                "seconds": round(self.seconds, 3), "video_seconds": round(self.video_seconds, 3),
                "fps": round(self.frames / self.seconds, 2) if self.seconds > 0 else 0.0,
                "realtime_factor": round(self.realtime_factor, 3),
                "outputs": [str(p) for p in self.outputs], "error": self.error}


def source_name(source: str | Path) -> str:
    """A file-name stem for a source: the file's or folder's name, the device's, or the stream's path."""
    text = str(source).rstrip("/")
    if "://" in text:
        text = text.split("://", 1)[1].split("?", 1)[0]
        text = text.rstrip("/").rsplit("/", 1)[-1] or "stream"
    stem = Path(text).stem if Path(text).suffix else Path(text).name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem) or "video"


class JsonlWriter:
    """One JSON line per frame, flushed as it is written, into a temporary file renamed into place on
    ``close()``: what a reader finds is complete lines, one per processed frame."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.tmp = Path(tmp)
        self.file = os.fdopen(fd, "w")

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        os.chmod(self.tmp, file_mode())
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def frame_record(frame: Frame, poses: Poses) -> dict[str, Any]:
    """The JSONL line of one frame: index, time (s) and poses in the PoseNet layout (with track_id)."""
    return {"frame": frame.index, "time": round(frame.time, 6), "poses": poses.to_posenet()}


class PoseTrackWriter:
    """PoseTrack18-style JSON (COCO-like images / annotations / categories), written at ``close()``."""

    def __init__(self, path: Path, name: str, schema) -> None:
        self.path, self.name, self.schema = path, name, schema
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    def write(self, frame: Frame, poses: Poses) -> None:
        self.images.append({"id": frame.index, "file_name": f"{self.name}/{frame.index:06d}.jpg",
                            "frame_id": frame.index, "vid_id": self.name, "is_labeled": True,
                            "time": round(frame.time, 6)})
        for i in range(len(poses)):
            kp = [[float(x), float(y), float(s)]
                  for (x, y), s in zip(poses.xy[i], poses.scores[i], strict=True)]
            ann: dict[str, Any] = {
                "id": len(self.annotations), "image_id": frame.index, "category_id": 1,
                "track_id": int(poses.track_ids[i]) if poses.track_ids is not None else -1,
                "keypoints": [round(v, 3) for row in kp for v in row],
                "scores": [round(row[2], 5) for row in kp], "score": float(poses.pose_scores[i])}
            if poses.boxes is not None:
                x1, y1, x2, y2 = (float(v) for v in poses.boxes[i])
                ann["bbox"] = [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)]
            self.annotations.append(ann)

    def close(self) -> None:
        for image in self.images:
            image["nframes"] = len(self.images)
        edges = [[a + 1, b + 1] for a, b in self.schema.edges]  # COCO skeletons are 1-based
        write_json(self.path, {"images": self.images, "annotations": self.annotations, "categories": [
            {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(self.schema.keypoints),
             "skeleton": edges}]})


def prefetch(frames: Iterator[Frame], depth: int = 3) -> Iterator[Frame]:
    """``frames`` decoded ``depth`` ahead in a background thread; the reader's exception is re-raised here
    after the frames before it."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def pump() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    return
                slots.put(frame)
            slots.put(done)
        except BaseException as err:  # handed to the consumer
            slots.put(err)

    worker = threading.Thread(target=pump, daemon=True, name="posekit-video-decode")
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a pump waiting on a full queue
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(0.05)


class Worker:
    """Calls ``fn(item)`` for each ``put`` item, in order, in a background thread (at most ``depth``
    waiting). ``close()`` waits for the rest; an error in ``fn`` is raised by the next ``put`` or by
    ``close``."""

    def __init__(self, fn, depth: int = 4) -> None:
        self.fn = fn
        self.items: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="posekit-video-encode")
        self.thread.start()

    def _run(self) -> None:
        while (item := self.items.get()) is not None:
            if self.error is None:
                try:
                    self.fn(item)
                except BaseException as err:  # handed to the producer
                    self.error = err

    def put(self, item) -> None:
        if self.error is not None:
            raise self.error
        self.items.put(item)

    def close(self) -> None:
        self.items.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


# x264 preset of the annotated MP4, by measurement on 100 frames of video.avi (720p50), CPU ms per frame and
# size: ultrafast 8.3 ms, 1.3 MB; superfast 14.3 ms, 0.7 MB; veryfast 21.1 ms, 0.4 MB. The encoder shares two
# cores with decoding and the model: ultrafast keeps 6 ms per frame for them (5 Mbit/s at 720p50).
ENCODER_PRESET = "ultrafast"


class AnnotatedVideo:
    """Draws each frame's poses and encodes it (H.264 MP4 at ``fps``), the writer opened on the first
    frame."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self.video: VideoWriter | None = None

    def __call__(self, item: tuple[Frame, Poses]) -> None:
        from posekit.render import draw_poses, draw_poses_yuv

        frame, poses = item
        if self.video is None:
            w, h = frame.size
            self.video = VideoWriter(self.path, self.fps, w, h, preset=ENCODER_PRESET)
        planes = frame.yuv420()
        if planes is not None:  # drawn on the decoder's YUV planes, encoded without an RGB frame
            draw_poses_yuv(planes, poses)
            self.video.write_yuv(planes, frame.time)
        else:
            self.video.write(np.asarray(draw_poses(frame.rgb, poses)), frame.time)

    def close(self) -> None:
        if self.video is not None:
            self.video.close()


def tracked(frames: Iterator[Frame], tracker, workers: int = 1) -> Iterator[tuple[Frame, Poses]]:
    """(frame, poses) in frame order. For an ``independent`` tracker (whole-image models), the model runs on
    up to ``workers`` frames at once (one onnxruntime thread each scales better on few cores than one
    session's threads), and identities are assigned in order as each frame's people arrive."""
    if workers <= 1 or not tracker.independent:
        for frame in frames:
            yield frame, tracker.update_frame(frame)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="posekit-video-model") as pool:
        pending: deque = deque()
        for frame in frames:
            pending.append((frame, pool.submit(tracker.detect_frame, frame)))
            if len(pending) >= workers:
                done, found = pending.popleft()
                yield done, tracker.associate(found.result(), done.time)
        while pending:
            done, found = pending.popleft()
            yield done, tracker.associate(found.result(), done.time)


def process_video(source: str | Path, tracker, out_dir: str | Path, fmt: str = "jsonl", render: bool = True,
                  start: float | None = None, duration: float | None = None, progress: bool = True,
                  name: str | None = None, workers: int = 1) -> VideoRun:
    """Run ``tracker`` (a PoseTracker) over every frame of ``source``; write ``<name>.jsonl`` (or
    ``<name>.json`` in PoseTrack layout) and, with ``render``, ``<name>.mp4`` into ``out_dir``. ``workers``:
    frames the model runs on at once (see ``tracked``).

    A reader error after some frames (damaged file, dropped stream) is recorded in ``VideoRun.error`` with
    the outputs finalised; an error before any frame, and KeyboardInterrupt, are raised (outputs finalised).
    """
    from tqdm import tqdm

    from posekit.errors import PosekitError

    out_dir = Path(out_dir)
    name = name or source_name(source)
    run = VideoRun()
    reader = VideoReader(source, start=start, duration=duration)
    info = reader.info
    if fmt == "jsonl":
        writer: JsonlWriter | PoseTrackWriter = JsonlWriter(out_dir / f"{name}.jsonl")
    else:
        writer = PoseTrackWriter(out_dir / f"{name}.json", name, tracker.schema)
    annotated = AnnotatedVideo(out_dir / f"{name}.mp4", info.fps or 30.0) if render else None
    encoder = Worker(annotated) if annotated else None
    bar = tqdm(total=info.frames, desc=name, unit="frame", disable=not progress, leave=False)
    began = clock.perf_counter()
    first_time = last_time = None
    frames = prefetch(iter(reader))
    results = tracked(frames, tracker, workers)
    try:
        for frame, poses in results:
            if fmt == "jsonl":
                writer.write(frame_record(frame, poses))
            else:
                writer.write(frame, poses)
            if encoder is not None:
                encoder.put((frame, poses))
            run.frames += 1
            run.people += len(poses)
            if poses.track_ids is not None:
                run.track_ids.update(int(t) for t in poses.track_ids)
            first_time = frame.time if first_time is None else first_time
            last_time = frame.time
            bar.update(1)
    except PosekitError as err:
        if run.frames == 0:
            raise
        run.error = str(err)
    finally:
        bar.close()
        results.close()  # stops the model threads, then the decoding thread, before the file is closed
        frames.close()
        reader.close()
        if run.frames:
            writer.close()
            run.outputs.append(writer.path)
        elif isinstance(writer, JsonlWriter):
            writer.discard()
        if encoder is not None:
            try:
                encoder.close()
            finally:
                annotated.close()
            if annotated.video is not None:
                run.outputs.append(annotated.path)
        run.seconds = clock.perf_counter() - began
    if first_time is not None:
        rate = info.fps or 30.0
        run.video_seconds = last_time - first_time + 1.0 / rate
    return run
