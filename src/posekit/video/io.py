"""Reading frames with timestamps from videos, streams, cameras and image folders; writing H.264 MP4.

``VideoReader`` yields ``Frame(index, time, rgb)``: ``time`` comes from the container's timestamps (variable
frame rate works), ``rgb`` is upright (the display matrix phones write is applied). A truncated file, a
damaged one or a stream that drops raises ``PosekitError`` after the frames decoded before the damage.
``VideoWriter`` writes H.264 / yuv420p MP4 (``+faststart``) through a temporary file renamed into place; an
exception inside its ``with`` block still leaves a playable file with the frames written so far.

PyAV (which carries FFmpeg) is imported lazily: ``pip install 'posekit[video]'``.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posekit.atomic import file_mode
from posekit.errors import PosekitError

INSTALL = "pip install 'posekit[video]'"
# Seconds to wait for a stream or camera to open, and for each read after that.
OPEN_TIMEOUT = 10.0
READ_TIMEOUT = 10.0
FOLDER_FPS = 30.0
# Writer timestamps are in 1/90000 s (exact for 24, 25, 30 and 30000/1001 fps; MPEG's usual clock).
WRITER_TIME_BASE = Fraction(1, 90000)
# A file is called truncated when it yields more than this many frames fewer than its header declares
# (edit lists can legitimately hide a frame or two), or ends this long before its declared duration.
FRAME_SLACK = 2
TIME_SLACK = 0.5
_EPS = 1e-3  # timestamps are often rounded to milliseconds (Matroska, WebM)


class Frame:
    """index: 0-based frame number in the source, counted from ``start``; time: seconds from the stream's
    start (container timestamps, not index / fps); rgb: (H, W, 3) uint8, upright.

    A decoded video frame keeps FFmpeg's picture (``picture``, planar YUV as decoded) and converts it to
    ``rgb`` only when ``rgb`` is first read (a 720p frame: ~3.6 ms), so a pipeline that needs only a reduced
    copy (``reduced``) or the YUV planes (``yuv420``, for drawing and re-encoding) never pays for it.
    """

    __slots__ = ("index", "time", "_rgb", "picture")

    def __init__(self, index: int, time: float, rgb: NDArray[np.uint8] | None = None, picture=None) -> None:
        if rgb is None and picture is None:
            raise ValueError("a Frame needs rgb or a decoded picture")
        self.index, self.time, self._rgb, self.picture = index, time, rgb, picture

    @property
    def rgb(self) -> NDArray[np.uint8]:
        if self._rgb is None:
            self._rgb = self.picture.to_ndarray(format="rgb24")
        return self._rgb

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        if self._rgb is not None:
            return self._rgb.shape[1], self._rgb.shape[0]
        return self.picture.width, self.picture.height

    def reduced(self, width: int, height: int) -> NDArray[np.uint8]:
        """(height, width, 3) uint8 RGB: the frame resized (no padding, the caller keeps the aspect ratio).
        From the decoded picture, swscale scales and converts in one pass: its bilinear filter widens with
        the reduction, like PIL's antialiased resize (1.2 grey levels apart on average; its area mode
        is 2.8 apart and moved tracking results), 2.1 ms for 720p to 256x144 against 3.6 ms for the full
        RGB frame alone and 2.6 more to resize it."""
        if self._rgb is None:
            return self.picture.reformat(width=width, height=height, format="rgb24",
                                         interpolation="BILINEAR").to_ndarray()
        from posekit.preprocess import resize

        return resize(self._rgb, width, height)

    def yuv420(self) -> YuvPlanes | None:
        """A copy of the picture as Y, U and V planes ((H, W), (H/2, W/2) twice; writable) where it is
        decoded as limited-range yuv420p with an even size, else None (then draw on ``rgb``). The planes
        are views into a new FFmpeg picture (``YuvPlanes.picture``) that ``VideoWriter.write_yuv`` encodes
        as it is: one copy of the pixels on the way from the decoder to the encoder."""
        pic = self.picture
        if (pic is None or pic.format.name != "yuv420p" or pic.width % 2 or pic.height % 2
                or getattr(pic, "color_range", 1) == 2):  # full-range (JPEG) YUV: the RGB way converts it
            return None
        av = _import_av()
        out = av.VideoFrame(pic.width, pic.height, "yuv420p")
        planes = YuvPlanes(_plane_view(p) for p in out.planes)
        for dst, src in zip(planes, pic.planes, strict=True):
            np.copyto(dst, _plane_view(src))
        planes.picture = out
        return planes


class YuvPlanes(list):
    """[Y, U, V] uint8 planes; ``picture``: the FFmpeg frame they are views of (None for plain arrays)."""

    picture = None


def _plane_view(plane) -> NDArray[np.uint8]:
    """A numpy view of an FFmpeg picture plane, without the row padding (``line_size``)."""
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]


@dataclass(frozen=True)
class VideoInfo:
    """width, height: of the upright frames; fps: average rate (None when unknown, e.g. some streams);
    frames, duration (seconds): what the container declares, else None; rotation: degrees clockwise the
    decoded pictures were turned to be upright (0, 90, 180, 270); codec: FFmpeg's decoder name, or
    ``"image"`` for a folder of frames."""

    source: str
    width: int
    height: int
    fps: float | None
    frames: int | None
    duration: float | None
    rotation: int
    codec: str


def _import_av():
    try:
        import av
    except ImportError:
        raise PosekitError(f"reading and writing video needs PyAV; install it with: {INSTALL}") from None
    return av


def _is_url(source: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source) is not None


def _is_camera(source: str) -> bool:
    return sys.platform.startswith("linux") and source.startswith("/dev/video")


def _clockwise(degrees_ccw: float) -> int:
    """FFmpeg's display rotation (counter-clockwise, [-180, 180]) as clockwise 0 / 90 / 180 / 270."""
    return int(round(-degrees_ccw / 90.0)) % 4 * 90


def _upright(rgb: NDArray[np.uint8], rotation: int) -> NDArray[np.uint8]:
    if rotation == 0:
        return rgb
    return np.ascontiguousarray(np.rot90(rgb, k=-rotation // 90))  # np.rot90 turns counter-clockwise


def _reason(err: Exception, av, timeout: float) -> str:
    """FFmpeg's error text; its interrupt (how PyAV's timeout fires) as the timeout it is."""
    if isinstance(err, av.ExitError):
        return f"no data within {timeout:g} s (timed out)"
    return str(err)


def _parse_hms(text: str) -> float | None:
    """Matroska's per-track ``DURATION`` tag, ``HH:MM:SS.nnnnnnnnn``."""
    m = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", text.strip())
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None


class VideoReader:
    """Frames of a video file, a stream URL, a camera device or a folder of images, in order.

    ``source``: a file FFmpeg reads (mp4, mov, mkv, webm, avi, ...); ``rtsp://``, ``rtmp://``, ``http(s)://``
    and other URLs; ``/dev/videoN`` (V4L2, Linux); or a folder of image files (sorted by path, times
    ``index / fps``). ``start``: seconds to seek to; ``duration``: stop after that many seconds of video time
    (frames with ``start <= time < start + duration``). ``fps``: for a folder, its frame rate (default 30);
    for a video, at most this many frames per second are yielded (others are skipped; ``index`` and ``time``
    stay those of the source).

    Opening decodes the first frame (so ``info`` knows the upright size), which also reports a file with no
    frames at once. Iterate once; use as a context manager or call ``close()``.
    """

    def __init__(self, source: str | Path, start: float | None = None, duration: float | None = None,
                 fps: float | None = None):
        if start is not None and start < 0:
            raise PosekitError(f"start must be >= 0 seconds, got {start}")
        if duration is not None and duration <= 0:
            raise PosekitError(f"duration must be > 0 seconds, got {duration}")
        if fps is not None and fps <= 0:
            raise PosekitError(f"fps must be > 0, got {fps}")
        self.source = str(source)
        self._start = start
        self._end = None if duration is None else (start or 0.0) + duration
        self._container = None
        self._live = _is_url(self.source) or _is_camera(self.source)
        if not self._live and Path(source).is_dir():
            self.info, self._frames = self._open_folder(Path(source), fps or FOLDER_FPS)
        else:
            self.info, self._frames = self._open_video(fps)

    # -- folders of images ---------------------------------------------------------------------------

    def _open_folder(self, folder: Path, fps: float) -> tuple[VideoInfo, Iterator[Frame]]:
        from posekit.images import find_images, read_image

        paths = find_images([folder])
        if not paths:
            raise PosekitError(f"{folder}: no image files in the folder; pass a folder of JPEG or PNG frames")
        first = int(np.ceil((self._start or 0.0) * fps - 1e-9))
        last = len(paths) if self._end is None else min(len(paths), int(np.ceil(self._end * fps - 1e-9)))
        if first >= len(paths):
            raise PosekitError(f"{folder}: start {self._start} s is past the last frame "
                               f"({len(paths)} frames at {fps:g} fps); pass a smaller start")
        rgb = read_image(paths[first]).rgb
        height, width = rgb.shape[:2]
        info = VideoInfo(str(folder), width, height, fps, len(paths), len(paths) / fps, 0, "image")

        def frames() -> Iterator[Frame]:
            for n, i in enumerate(range(first, last)):
                image = rgb if n == 0 else read_image(paths[i]).rgb
                if image.shape[:2] != (height, width):
                    raise PosekitError(f"{paths[i]}: frame is {image.shape[1]}x{image.shape[0]} but the "
                                       f"first is {width}x{height}; resize the frames to one size")
                yield Frame(n, i / fps, image)

        return info, frames()

    # -- FFmpeg sources ------------------------------------------------------------------------------

    def _open_container(self):
        av = _import_av()
        if self._live:
            options = {"rtsp_transport": "tcp"} if self.source.startswith("rtsp") else {}
            try:
                return av.open(self.source, format="v4l2" if _is_camera(self.source) else None,
                               options=options, timeout=(OPEN_TIMEOUT, READ_TIMEOUT))
            except (av.FFmpegError, OSError) as err:
                reason = _reason(err, av, OPEN_TIMEOUT)
                raise PosekitError(f"{self.source}: cannot open the stream ({reason}); check the address, "
                                   f"the network and that the camera or server is running") from None
        path = Path(self.source)
        if not path.exists():
            raise PosekitError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise PosekitError(f"{path}: empty file; pass a video file (mp4, mov, mkv, webm, avi)")
        try:
            return av.open(str(path))
        except (av.FFmpegError, OSError) as err:
            raise PosekitError(f"{path}: not a readable video ({err}); pass a video file (mp4, mov, mkv, "
                               f"webm, avi); a file cut short before its index is unrecoverable") from None

    def _open_video(self, fps: float | None) -> tuple[VideoInfo, Iterator[Frame]]:
        self._container = container = self._open_container()
        if not container.streams.video:
            kinds = ", ".join(s.type for s in container.streams) or "no streams"
            self.close()
            raise PosekitError(f"{self.source}: no video stream (it holds {kinds}); "
                               f"pass a file that holds video")
        stream = container.streams.video[0]
        # Frame threading delays each frame by a few frames: fine for files, not for a live picture.
        stream.thread_type = "SLICE" if self._live else "AUTO"
        frames = self._frames_of(stream, fps)
        try:
            first = next(frames)
        except StopIteration:
            self.close()
            if self._start or self._end is not None:
                window = f"from {self._start or 0:g} s"
                window += "" if self._end is None else f" to {self._end:g} s"
                raise PosekitError(f"{self.source}: no frames {window}; pass a start before the end of "
                                   f"the video or a longer duration") from None
            raise PosekitError(f"{self.source}: the video has no frames; pass a video that has "
                               f"some") from None
        except BaseException:
            self.close()
            raise
        rotation = self._rotation
        width, height = first.size
        rate = stream.average_rate
        declared = self._declared_duration(stream)
        info = VideoInfo(self.source, width, height, float(rate) if rate else None, stream.frames or None,
                         declared, rotation, stream.codec_context.name)

        def frames_with_first() -> Iterator[Frame]:
            yield first
            yield from frames

        return info, frames_with_first()

    def _declared_duration(self, stream) -> float | None:
        if stream.duration:
            return float(stream.duration * stream.time_base)
        tagged = _parse_hms(stream.metadata.get("DURATION", ""))  # Matroska / WebM
        if tagged:
            return tagged
        if len(self._container.streams) == 1 and self._container.duration:
            return self._container.duration / 1_000_000
        return None

    def _seek(self, stream) -> None:
        offset = (stream.start_time or 0) + int(self._start / stream.time_base)
        try:
            self._container.seek(offset, stream=stream, backward=True, any_frame=False)
        except Exception:  # noqa: BLE001 - not seekable (a live stream): frames before start are dropped
            pass

    def _frames_of(self, stream, fps: float | None) -> Iterator[Frame]:
        """Decode, time, turn upright, cut to [start, end), thin to ``fps``; raise on damage at the end."""
        av = _import_av()
        tb = stream.time_base
        origin = float((stream.start_time or 0) * tb) if tb else 0.0
        rate = float(stream.average_rate) if stream.average_rate else None
        if self._start:
            self._seek(stream)
        self._rotation = 0
        decoded = 0  # frames at or after start
        last_time = None
        next_kept = None
        error: Exception | str | None = None
        raw = self._decode(stream, av)
        while True:
            try:
                frame = next(raw)
            except StopIteration:
                break
            except (av.FFmpegError, OSError) as err:
                error = err
                break
            if frame.pts is not None and frame.time_base is not None:
                time = float(frame.pts * frame.time_base) - origin
            else:  # no timestamp (rare): one average frame interval after the previous frame
                time = 0.0 if last_time is None else last_time + 1.0 / (rate or 30.0)
            if self._start and time < self._start - _EPS:
                continue
            if self._end is not None and time >= self._end - _EPS:
                return
            if frame.is_corrupt:  # e.g. the last packet of a cut file, partly read and concealed
                error = "the frame is corrupt"
                break
            if decoded == 0:
                self._rotation = _clockwise(frame.rotation)
            index, decoded, last_time = decoded, decoded + 1, time
            if fps is not None:  # keep the phase of the first kept frame; restart it after a gap
                if next_kept is not None and time < next_kept - _EPS:
                    continue
                next_kept = time + 1.0 / fps if next_kept is None else next_kept + 1.0 / fps
                if next_kept <= time:
                    next_kept = time + 1.0 / fps
            if self._rotation:
                yield Frame(index, time, _upright(frame.to_ndarray(format="rgb24"), self._rotation))
            else:  # converted to RGB when first needed (Frame.rgb)
                yield Frame(index, time, picture=frame)
        if decoded == 0 and error is None:
            return
        if isinstance(error, str):
            reason = error
        elif error is not None:
            reason = _reason(error, av, READ_TIMEOUT)
        else:
            reason = self._shortfall(stream, decoded, last_time, rate)
        if reason is None:
            return
        if self._live and decoded == 0:
            raise PosekitError(f"{self.source}: the stream stopped before its first frame: {reason}; "
                               f"check the connection or the camera and retry")
        if self._live:
            raise PosekitError(f"{self.source}: the stream stopped after frame {decoded - 1}: {reason}; "
                               f"check the connection or the camera and retry")
        raise PosekitError(f"{self.source}: decoding stopped at frame {decoded}: {reason}; "
                           f"the file is truncated or damaged")

    def _decode(self, stream, av) -> Iterator:
        """Decoded av frames; on a read or decode error, drains what the decoder holds, then raises it."""
        try:
            for packet in self._container.demux(stream):
                yield from packet.decode()
        except (av.FFmpegError, OSError):
            try:
                yield from stream.codec_context.decode(None)
            except (av.FFmpegError, OSError):
                pass
            raise

    def _shortfall(self, stream, decoded: int, last_time: float | None, rate: float | None) -> str | None:
        """Why a stream that ended without an error is short of what its header declares, else None.

        FFmpeg often ends a cut file silently: the demuxer just reaches the end of the bytes.
        """
        if self._start is None and stream.frames and decoded < stream.frames - FRAME_SLACK:
            return f"{stream.frames} frames declared, {decoded} decoded"
        declared = self._declared_duration(stream)
        if declared is None or last_time is None:
            return None
        reached = last_time + (1.0 / rate if rate else 0.0)
        wanted = declared if self._end is None else min(declared, self._end)
        if reached < wanted - max(TIME_SLACK, 3.0 / (rate or 30.0)):
            return f"the video ends at {reached:.2f} s of the {declared:.2f} s declared"
        return None

    # -- iteration -----------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        return self._frames

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_video(source: str | Path, start: float | None = None,
               duration: float | None = None) -> Iterator[Frame]:
    """Frames of ``source`` (see ``VideoReader``); the source is closed when the loop ends or breaks."""
    with VideoReader(source, start, duration) as reader:
        yield from reader


class VideoWriter:
    """An H.264 (libx264, yuv420p) MP4 with ``+faststart`` (playable in browsers while it downloads).

    ``fps``: the nominal rate (frames written without a ``time`` are spaced 1 / fps apart); ``bitrate``
    (bits per second) replaces the constant-quality ``crf`` when given; ``preset`` is x264's speed / size
    trade-off (``veryfast`` encodes several times faster than ``medium`` for a somewhat larger file).
    yuv420p needs even sizes: an odd width or height is padded by one pixel on the right or bottom,
    repeating the edge (``size`` says what is encoded). The file is written beside ``path`` under a
    temporary name and renamed into place on ``close()``. In a ``with`` block, an exception
    (KeyboardInterrupt included) still finalises the file with the frames written so far, then propagates.
    """

    def __init__(self, path: str | Path, fps: float, width: int, height: int, bitrate: int | None = None,
                 crf: int = 23, preset: str = "medium"):
        av = _import_av()
        if fps <= 0 or width <= 0 or height <= 0:
            raise PosekitError(f"{path}: cannot write a {width}x{height} video at {fps} fps; "
                               f"pass a positive size and frame rate")
        self.path = Path(path)
        self.fps = float(fps)
        self.width, self.height = width, height
        self.size = (width + width % 2, height + height % 2)
        self.frames = 0
        self._last_pts: int | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        try:
            self._container = av.open(tmp, "w", format="mp4", options={"movflags": "+faststart"})
            options = {"preset": preset} if bitrate else {"crf": str(crf), "preset": preset}
            stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001),
                                                options=options)
            stream.width, stream.height = self.size
            stream.pix_fmt = "yuv420p"
            if bitrate:
                stream.bit_rate = int(bitrate)
            stream.codec_context.time_base = WRITER_TIME_BASE
            stream.time_base = WRITER_TIME_BASE
        except (av.FFmpegError, OSError) as err:
            self._tmp.unlink(missing_ok=True)
            raise PosekitError(f"{self.path}: cannot write the video ({err}); check the folder is "
                               f"writable") from None
        self._stream = stream

    def write(self, rgb: NDArray[np.uint8], time: float | None = None) -> None:
        """Append one (height, width, 3) uint8 frame; ``time`` (seconds) sets its timestamp, else the
        previous frame's + 1 / fps. Times must increase."""
        av = _import_av()
        if self._container is None:
            raise ValueError(f"{self.path}: the writer is closed")
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"frame must be ({self.height}, {self.width}, 3) uint8, "
                             f"got {rgb.shape} {rgb.dtype}")
        if self.size != (self.width, self.height):
            rgb = np.pad(rgb, ((0, self.size[1] - self.height), (0, self.size[0] - self.width), (0, 0)),
                         mode="edge")
        self._encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24"), time)

    def write_yuv(self, planes: list[NDArray[np.uint8]], time: float | None = None) -> None:
        """Append one frame given as yuv420p planes (Y (height, width), U and V (height/2, width/2)
        uint8, limited range): no RGB conversion on the way to the encoder. ``Frame.yuv420``'s planes are
        encoded without a copy."""
        av = _import_av()
        if self._container is None:
            raise ValueError(f"{self.path}: the writer is closed")
        shapes = [p.shape for p in planes]
        half = (self.height // 2, self.width // 2)
        want = [(self.height, self.width), half, half]
        if self.size != (self.width, self.height) or shapes != want:
            raise ValueError(f"yuv420p planes must be {want} for an even-sized video, got {shapes}")
        frame = getattr(planes, "picture", None)
        if frame is None:
            frame = av.VideoFrame(self.width, self.height, "yuv420p")
            for plane, src in zip(frame.planes, planes, strict=True):
                _plane_view(plane)[...] = src
        self._encode(frame, time)

    def _encode(self, frame, time: float | None) -> None:
        if time is None:
            pts = 0 if self._last_pts is None else self._last_pts + round(1 / (self.fps * WRITER_TIME_BASE))
        else:
            pts = round(time / WRITER_TIME_BASE)
            if self._last_pts is not None and pts <= self._last_pts:
                raise ValueError(f"frame times must increase: {time} s after "
                                 f"{float(self._last_pts * WRITER_TIME_BASE)} s")
        frame.pts, frame.time_base = pts, WRITER_TIME_BASE
        self._container.mux(self._stream.encode(frame))
        self._last_pts = pts
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder, finish the MP4 and rename it into place (no file if no frame was written)."""
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            if self.frames:
                container.mux(self._stream.encode(None))
            container.close()
            if not self.frames:
                raise PosekitError(f"{self.path}: no frames were written, so no video was saved")
            os.chmod(self._tmp, file_mode())
            os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # keep what was written playable, and let the original exception through
            self.close()
        except Exception:  # noqa: BLE001
            pass


def write_y4m(path: str | Path, frames: list[NDArray[np.uint8]], fps: int = 30) -> None:
    """Write (H, W, 3) uint8 RGB frames (even H and W) as an uncompressed YUV4MPEG2 clip: full-range
    BT.601 I420 (``C420jpeg``), the format Chromium's fake camera (``--use-file-for-fake-video-capture``)
    and FFmpeg read."""
    from posekit.atomic import write_atomic

    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise PosekitError(f"{path}: Y4M 4:2:0 needs an even frame size, not {w}x{h}; crop a pixel")

    def half(plane: NDArray[np.float32]) -> NDArray[np.float32]:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    parts = [f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode()]
    for rgb in frames:
        r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
        y = 0.299 * r + 0.587 * g + 0.114 * b
        u = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
        v = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
        parts.append(b"FRAME\n")
        parts += [np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in (y, half(u), half(v))]
    write_atomic(Path(path), b"".join(parts))
