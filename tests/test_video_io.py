"""Video reading and writing on clips generated here with PyAV: containers, timestamps, rotation, damage."""

from __future__ import annotations

import socket
import stat
import sys
import threading
import time
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from posekit.errors import PosekitError
from posekit.video import io as vio
from posekit.video.io import VideoReader, VideoWriter, read_video

av = pytest.importorskip("av")

W, H, SIDE, ROW = 64, 48, 16, 8  # frame size; a red square SIDE wide, top at ROW, left at 2 * frame number
RED = np.array([255, 0, 0])


def square_frame(i: int, w: int = W, h: int = H, noise: bool = False) -> np.ndarray:
    rgb = np.zeros((h, w, 3), np.uint8)
    if noise:  # incompressible background: the file's bytes are spread evenly over its frames
        rgb[:] = np.random.default_rng(i).integers(0, 160, (h, w, 3), dtype=np.uint8)
    rgb[ROW:ROW + SIDE, 2 * i:2 * i + SIDE] = RED
    return rgb


def square_left(rgb: np.ndarray) -> float:
    """Left edge of the red square on its middle row (columns that are clearly red)."""
    row = rgb[ROW + SIDE // 2].astype(int)
    red = np.flatnonzero((row[:, 0] > 160) & (row[:, 1] < 90) & (row[:, 2] < 90))
    return float(red.min()) if red.size else -1.0


def make_clip(path: Path, codec: str = "libx264", n: int = 24, rate: int = 24,
              times: list[float] | None = None, size: tuple[int, int] = (W, H), rotation: int | None = None,
              noise: bool = False, gop: int | None = None, fmt: str | None = None,
              options: dict | None = None) -> Path:
    """A clip of ``square_frame``s; ``times`` (seconds) set each frame's pts for a variable frame rate."""
    with av.open(str(path), "w", format=fmt, options=options or {}) as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        if gop:
            s.codec_context.gop_size = gop
        if times is not None:
            s.codec_context.time_base = s.time_base = Fraction(1, 1000)
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i in range(n if times is None else len(times)):
            f = av.VideoFrame.from_ndarray(square_frame(i, *size, noise=noise), format="rgb24")
            if times is not None:
                f.pts, f.time_base = round(times[i] * 1000), Fraction(1, 1000)
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def count_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


# -- containers and timestamps ------------------------------------------------------------------------


@pytest.mark.parametrize("name, codec, declared", [
    ("clip.mp4", "libx264", 24), ("clip.mov", "libx264", 24), ("clip.mkv", "libx264", None),
    ("clip.webm", "libvpx", None), ("clip.avi", "mpeg4", 24),
])
def test_reads_each_container_frame_by_frame(tmp_path, name, codec, declared):
    clip = make_clip(tmp_path / name, codec)
    with VideoReader(clip) as reader:
        frames = list(reader)
        info = reader.info
    assert (info.width, info.height, info.fps, info.frames, info.rotation) == (W, H, 24.0, declared, 0)
    assert info.codec == {"libx264": "h264", "libvpx": "vp8", "mpeg4": "mpeg4"}[codec]
    assert info.duration == pytest.approx(1.0, abs=1e-3)
    assert [f.index for f in frames] == list(range(24))
    assert [f.time for f in frames] == pytest.approx([i / 24 for i in range(24)], abs=1e-3)
    for f in frames:
        assert f.rgb.shape == (H, W, 3) and f.rgb.dtype == np.uint8
        assert abs(square_left(f.rgb) - 2 * f.index) <= 1
        assert np.abs(f.rgb[ROW + 8, 2 * f.index + 8].astype(int) - RED).max() <= 60
        assert f.rgb[40, 2].max() <= 40  # background stays black


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mkv"])
def test_variable_frame_rate_times_come_from_the_container(tmp_path, name):
    times = [0.0, 0.04, 0.1, 0.25, 0.26, 0.6, 0.61, 1.0, 1.5, 1.52]
    frames = list(read_video(make_clip(tmp_path / name, times=times)))
    assert [f.time for f in frames] == pytest.approx(times, abs=1e-3)
    assert [square_left(f.rgb) for f in frames] == pytest.approx([2 * i for i in range(10)], abs=1)


@pytest.mark.parametrize("name", ["long.mp4", "long.mkv"])
@pytest.mark.parametrize("start, duration, first, count", [
    (0.5, 0.5, 12, 12), (1.0, None, 24, 24), (None, 0.25, 0, 6), (0.52, 0.1, 13, 2),
])
def test_start_and_duration_pick_a_time_range(tmp_path, name, start, duration, first, count):
    clip = make_clip(tmp_path / name, n=48, size=(128, 48), gop=10)  # keyframes every 10: a real seek
    frames = list(read_video(clip, start=start, duration=duration))
    assert [f.index for f in frames] == list(range(count))
    assert [f.time for f in frames] == pytest.approx([(first + k) / 24 for k in range(count)], abs=1e-3)
    lefts = [square_left(f.rgb) for f in frames]
    assert lefts == pytest.approx([2 * (first + k) for k in range(count)], abs=1)


def test_fps_thins_a_video_keeping_source_index_and_time(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", n=24)
    with VideoReader(clip, fps=8) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == list(range(0, 24, 3))
    assert [f.time for f in frames] == pytest.approx([i / 24 for i in range(0, 24, 3)], abs=1e-3)


def test_read_video_closes_the_file_when_the_loop_breaks(tmp_path):
    gen = read_video(make_clip(tmp_path / "clip.mp4"))
    assert next(gen).index == 0
    gen.close()
    assert gen.gi_frame is None  # the generator ran its ``with`` exit


# -- rotation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("matrix_ccw, rotation", [(-90, 90), (90, 270), (180, 180)])
def test_display_matrix_rotation_is_applied(tmp_path, matrix_ccw, rotation):
    """A phone's portrait video holds landscape pictures and a display matrix (ffprobe: rotation -90)."""
    clip = make_clip(tmp_path / "phone.mp4", n=4, rotation=matrix_ccw)
    with VideoReader(clip) as reader:
        frames = list(reader)
        info = reader.info
    upright = (W, H) if rotation == 180 else (H, W)  # (width, height)
    assert info.rotation == rotation
    assert (info.width, info.height) == upright
    rgb = frames[0].rgb
    assert rgb.shape == (upright[1], upright[0], 3)
    # The square's centre (row 16, column 8 of the stored picture) after turning it clockwise by rotation:
    r, c = ROW + SIDE // 2, SIDE // 2
    expected = {90: (c, H - 1 - r), 270: (W - 1 - c, r), 180: (H - 1 - r, W - 1 - c)}[rotation]
    assert np.abs(rgb[expected].astype(int) - RED).max() <= 60
    assert rgb[r, c].max() <= 40 or expected == (r, c)  # the stored position is now background


# -- folders of frames ----------------------------------------------------------------------------------


def save_frames(folder: Path, n: int) -> Path:
    from PIL import Image

    folder.mkdir()
    for i in range(n):
        Image.fromarray(square_frame(i)).save(folder / f"frame_{i:04d}.png")
    return folder


def test_folder_of_frames_is_read_in_name_order_at_30_fps(tmp_path):
    folder = save_frames(tmp_path / "frames", 6)
    with VideoReader(folder) as reader:
        frames = list(reader)
        info = reader.info
    assert (info.width, info.height, info.fps, info.frames, info.codec) == (W, H, 30.0, 6, "image")
    assert [f.time for f in frames] == pytest.approx([i / 30 for i in range(6)], abs=1e-9)
    for f in frames:
        assert np.array_equal(f.rgb, square_frame(f.index))  # PNG is lossless: exact pixels


def test_folder_fps_start_and_duration(tmp_path):
    folder = save_frames(tmp_path / "frames", 10)
    frames = list(VideoReader(folder, start=0.2, duration=0.3, fps=10))
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.time for f in frames] == pytest.approx([0.2, 0.3, 0.4], abs=1e-9)
    assert np.array_equal(frames[0].rgb, square_frame(2))


def test_folder_with_frames_of_two_sizes_is_refused(tmp_path):
    from PIL import Image

    folder = save_frames(tmp_path / "frames", 2)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(folder / "frame_0002.png")
    frames = []
    with pytest.raises(PosekitError, match=r"frame_0002\.png: frame is 10x10 but the first is 64x48"):
        frames.extend(VideoReader(folder))
    assert len(frames) == 2


# -- bad input ------------------------------------------------------------------------------------------


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(4):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, i * 1024
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def zero_frame_avi(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        c.start_encoding()
    return path


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.mp4", r"missing\.mp4: no such file"),
    (lambda p: write(p / "empty.mp4", b""), r"empty\.mp4: empty file"),
    (lambda p: write(p / "notes.mp4", b"not a video\n"),
     r"notes\.mp4: not a readable video \(.*\); pass a video file"),
    (lambda p: audio_only(p / "sound.m4a"), r"sound\.m4a: no video stream \(it holds audio\)"),
    (lambda p: zero_frame_avi(p / "none.avi"), r"none\.avi: the video has no frames"),
    (lambda p: (p / "frames").mkdir() or p / "frames", r"frames: no image files in the folder"),
    (lambda p: make_clip(p / "clip.mp4"), None),  # start past the end, below
])
def test_bad_input_raises_one_line_errors(tmp_path, make, message):
    source = make(tmp_path)
    if message is None:
        message, start = r"clip\.mp4: no frames from 5 s; pass a start before the end", 5
    else:
        start = None
    with pytest.raises(PosekitError, match=message) as err:
        VideoReader(source, start=start)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name, codec, reason", [
    # mp4 moov at the front (faststart); on one core FFmpeg reports the half packet as invalid data, on more
    # it ends silently, short of the declared count (both seen)
    ("cut.mp4", "libx264", r"48 frames declared, \d+ decoded|Invalid data found when processing input"),
    ("cut.avi", "mpeg4", r"the frame is corrupt"),  # its last packet is half there
    ("cut.mkv", "libx264", r"the video ends at [\d.]+ s of the 2\.00 s declared"),  # no count in mkv
])
def test_truncated_file_yields_frames_then_names_where_it_stopped(tmp_path, name, codec, reason):
    whole = make_clip(tmp_path / f"whole{Path(name).suffix}", codec, n=48, noise=True, fmt=None,
                      options={"movflags": "+faststart"} if name.endswith("mp4") else None)
    data = whole.read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) // 2])
    frames = []
    with pytest.raises(PosekitError) as err:
        frames.extend(read_video(cut))
    n = len(frames)
    assert 6 <= n <= 40  # about half of the 48 frames came out before the error
    assert str(err.value).startswith(f"{cut}: decoding stopped at frame {n}: ")
    assert str(err.value).endswith("; the file is truncated or damaged")
    assert err.match(reason)
    assert [f.index for f in frames] == list(range(n))
    assert [square_left(f.rgb) for f in frames] == pytest.approx([2 * i for i in range(n)], abs=1)


def test_whole_noise_clip_reads_without_error(tmp_path):
    """The control for the truncation test: the same clip uncut gives all 48 frames and no error."""
    clip = make_clip(tmp_path / "whole.mkv", n=48, noise=True)
    assert len(list(read_video(clip))) == 48


def test_missing_pyav_names_the_install_command(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "clip.mp4", n=2)
    monkeypatch.setitem(sys.modules, "av", None)  # ``import av`` now raises ImportError
    for make in (lambda: VideoReader(clip), lambda: VideoWriter(tmp_path / "out.mp4", 24, W, H)):
        with pytest.raises(PosekitError, match=r"install it with: pip install 'posekit\[video\]'$"):
            make()


# -- streams ---------------------------------------------------------------------------------------------


@pytest.fixture
def http_clip(tmp_path):
    """An HTTP server on 127.0.0.1 serving a 48-frame MP4: /whole.mp4 all of it, /drop.mp4 half of it then
    the connection closes, /stall.mp4 half of it then nothing (the connection stays open)."""
    clip = make_clip(tmp_path / "served.mp4", n=48, noise=True, options={"movflags": "+faststart"})
    data = clip.read_bytes()
    stall = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data if self.path == "/whole.mp4" else data[: len(data) // 2])
            self.wfile.flush()
            if self.path == "/stall.mp4":
                stall.wait(10)
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stall.set()
    server.shutdown()
    server.server_close()


def test_http_stream_is_read_whole(http_clip):
    with VideoReader(f"{http_clip}/whole.mp4") as reader:
        frames = list(reader)
        assert (reader.info.frames, reader.info.width, reader.info.height) == (48, W, H)
    assert [f.time for f in frames] == pytest.approx([i / 24 for i in range(48)], abs=1e-3)


@pytest.mark.parametrize("path, reason, seconds", [
    ("drop.mp4", r"Input/output error|Invalid data", (0, 0.9)),
    # The read timeout cuts the last packet short: the decoder may report that before the timeout itself.
    ("stall.mp4", r"no data within 1 s \(timed out\)|Invalid data", (0.9, 5)),
])
def test_stream_that_drops_yields_frames_then_names_the_last(http_clip, monkeypatch, path, reason, seconds):
    monkeypatch.setattr(vio, "READ_TIMEOUT", 1.0)
    url = f"{http_clip}/{path}"
    frames = []
    began = time.monotonic()
    with pytest.raises(PosekitError) as err:
        frames.extend(read_video(url))
    assert seconds[0] <= time.monotonic() - began < seconds[1]
    n = len(frames)
    assert 12 <= n <= 36
    assert str(err.value).startswith(f"{url}: the stream stopped after frame {n - 1}: ")
    assert err.match(reason)
    assert [f.index for f in frames] == list(range(n))


def test_stream_that_never_answers_times_out(monkeypatch):
    monkeypatch.setattr(vio, "OPEN_TIMEOUT", 1.0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/live.mp4"
        began = time.monotonic()
        with pytest.raises(PosekitError, match=r"live\.mp4: cannot open the stream \(no data within 1 s"):
            VideoReader(url)
        assert time.monotonic() - began < 5


# -- writing --------------------------------------------------------------------------------------------


def box_order(data: bytes) -> list[bytes]:
    """Top-level MP4 box types in file order."""
    order, at = [], 0
    while at + 8 <= len(data):
        size, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        order.append(kind)
        at += size if size >= 8 else len(data)
    return order


def test_writer_round_trip_keeps_times_pixels_and_faststart(tmp_path):
    times = [0.0, 0.05, 0.15, 0.16, 0.4, 0.45, 0.9, 1.0, 1.25, 1.3, 2.0, 2.04]
    out = tmp_path / "out" / "poses.mp4"
    with VideoWriter(out, fps=25, width=W, height=H) as writer:
        for i, t in enumerate(times):
            writer.write(square_frame(i), time=t)
    assert out.is_file() and list(out.parent.iterdir()) == [out]  # no temporary file left
    assert stat.S_IMODE(out.stat().st_mode) == vio.file_mode()
    order = box_order(out.read_bytes())
    assert order.index(b"moov") < order.index(b"mdat")  # +faststart
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert (c.format.name.split(",")[0], s.codec_context.name, s.codec_context.pix_fmt) == (
            "mov", "h264", "yuv420p")
    frames = list(read_video(out))
    assert [f.time for f in frames] == pytest.approx(times, abs=1e-3)
    for f in frames:
        assert abs(square_left(f.rgb) - 2 * f.index) <= 1
        assert np.abs(f.rgb[ROW + 8, 2 * f.index + 8].astype(int) - RED).max() <= 60


def test_writer_spaces_frames_at_fps_without_times(tmp_path):
    out = tmp_path / "even.mp4"
    with VideoWriter(out, fps=30000 / 1001, width=W, height=H, bitrate=200_000) as writer:
        for i in range(15):
            writer.write(square_frame(i))
    with VideoReader(out) as reader:
        assert reader.info.fps == pytest.approx(30000 / 1001, abs=1e-3)
        assert [f.time for f in reader] == pytest.approx([i * 1001 / 30000 for i in range(15)], abs=1e-3)


def test_writer_pads_odd_sizes_by_one_pixel(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, fps=24, width=W - 1, height=H - 1) as writer:
        assert writer.size == (W, H)
        for i in range(3):
            writer.write(square_frame(i)[:-1, :-1])
    frames = list(read_video(out))
    assert len(frames) == 3 and frames[0].rgb.shape == (H, W, 3)


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
def test_interrupted_writer_leaves_a_playable_mp4(tmp_path, interrupt):
    out = tmp_path / "partial.mp4"
    with pytest.raises(interrupt):
        with VideoWriter(out, fps=24, width=W, height=H) as writer:
            for i in range(30):
                if i == 10:
                    raise interrupt("stop")
                writer.write(square_frame(i))
    assert list(tmp_path.iterdir()) == [out]
    assert count_frames(out) == 10
    frames = list(read_video(out))  # and our reader finds nothing missing
    assert [f.time for f in frames] == pytest.approx([i / 24 for i in range(10)], abs=1e-3)


def test_writer_with_no_frames_saves_nothing(tmp_path):
    out = tmp_path / "nothing.mp4"
    with pytest.raises(PosekitError, match=r"nothing\.mp4: no frames were written"):
        with VideoWriter(out, fps=24, width=W, height=H):
            pass
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_times_that_go_back(tmp_path):
    with VideoWriter(tmp_path / "t.mp4", fps=24, width=W, height=H) as writer:
        writer.write(square_frame(0), time=0.5)
        with pytest.raises(ValueError, match="frame times must increase"):
            writer.write(square_frame(1), time=0.5)
        with pytest.raises(ValueError, match=r"frame must be \(48, 64, 3\) uint8"):
            writer.write(np.zeros((H, W), np.uint8))
    assert count_frames(tmp_path / "t.mp4") == 1


def test_y4m_round_trip_through_ffmpeg(tmp_path):
    from posekit.video.io import write_y4m

    frames = [np.full((32, 48, 3), c, np.uint8) for c in ((200, 30, 30), (30, 200, 30), (30, 30, 200))]
    write_y4m(tmp_path / "clip.y4m", frames, fps=10)
    with VideoReader(tmp_path / "clip.y4m") as video:
        got = list(video)
    assert [f.index for f in got] == [0, 1, 2]
    assert [f.time for f in got] == pytest.approx([0.0, 0.1, 0.2], abs=1e-3)
    assert [f.rgb.shape for f in got] == [(32, 48, 3)] * 3
    data = (tmp_path / "clip.y4m").read_bytes()
    header, rest = data.split(b"\n", 1)
    assert header == b"YUV4MPEG2 W48 H32 F10:1 Ip A1:1 C420jpeg"
    first = rest[len(b"FRAME\n"):][: 48 * 32 * 3 // 2]  # full-range BT.601 of (200, 30, 30): 81, 99, 213
    assert set(first[:48 * 32]) == {81}
    assert set(first[48 * 32:48 * 40]) == {99} and set(first[48 * 40:]) == {213}
    with pytest.raises(PosekitError, match="even frame size"):
        write_y4m(tmp_path / "odd.y4m", [np.zeros((31, 48, 3), np.uint8)])


# -- the YUV path: frames converted to RGB only when asked, drawing and encoding without RGB ----------------


def test_decoded_frames_convert_to_rgb_only_when_read(tmp_path):
    path = make_clip(tmp_path / "clip.mp4", n=3)
    with VideoReader(path) as reader:
        frames = list(reader)
    assert all(f.picture is not None and f._rgb is None for f in frames)
    assert frames[1].size == (W, H)
    rgb = frames[1].rgb
    assert rgb.shape == (H, W, 3) and frames[1]._rgb is rgb  # converted once, kept
    assert abs(square_left(rgb) - 2) <= 1
    small = frames[1].reduced(W // 2, H // 2)  # swscale from the YUV picture
    assert small.shape == (H // 2, W // 2, 3)
    ref = np.asarray(__import__("PIL.Image", fromlist=["Image"]).fromarray(rgb).resize((W // 2, H // 2)))
    assert np.abs(small.astype(int) - ref).mean() < 6
    y, u, v = frames[1].yuv420()
    assert y.shape == (H, W) and u.shape == v.shape == (H // 2, W // 2)
    assert 70 < y[ROW + 8, 2 + 8] < 100 and v[(ROW + 8) // 2, (2 + 8) // 2] > 200  # red: Y ~81, Cr ~240


def test_yuv_frames_without_a_picture_or_of_odd_size_take_the_rgb_way(tmp_path):
    assert vio.Frame(0, 0.0, square_frame(0)).yuv420() is None
    path = make_clip(tmp_path / "odd.mkv", n=2, size=(W - 2, H - 2))
    with VideoReader(path) as reader:
        assert next(iter(reader)).yuv420() is not None
    with pytest.raises(ValueError, match="rgb or a decoded picture"):
        vio.Frame(0, 0.0)


def test_writer_takes_yuv_planes_and_refuses_wrong_shapes(tmp_path):
    src = make_clip(tmp_path / "src.mp4", n=6)
    out = tmp_path / "copy.mp4"
    with VideoReader(src) as reader, VideoWriter(out, fps=24, width=W, height=H, crf=12) as writer:
        for f in reader:
            writer.write_yuv(f.yuv420(), f.time)
        with pytest.raises(ValueError, match="yuv420p planes"):
            writer.write_yuv([np.zeros((H, W), np.uint8)] * 3)
    frames = list(read_video(out))
    assert len(frames) == 6
    for f in frames:
        assert abs(square_left(f.rgb) - 2 * f.index) <= 1


def test_poses_drawn_on_yuv_planes_match_poses_drawn_in_rgb():
    """``draw_poses_yuv`` draws what ``draw_poses`` draws: the same pixels change, in the same colours."""
    from posekit.render import draw_poses, draw_poses_yuv
    from posekit.skeletons import COCO17
    from posekit.types import Poses

    k = 3  # a 960x720 frame: 3 px lines (the 2 px of a small frame are 1 px on the chroma planes)
    h, w = 240 * k, 320 * k
    rgb = np.full((h, w, 3), 90, np.uint8)
    rng = np.random.default_rng(3)
    xy = np.stack([rng.uniform([40, 40], [140, 200], (17, 2)), rng.uniform([180, 40], [300, 200], (17, 2))])
    poses = Poses(xy.astype(np.float32) * k, np.full((2, 17), 0.9, np.float32),
                  np.array([0.9, 0.8], np.float32), COCO17,
                  np.array([[30, 30, 150, 210], [170, 30, 310, 210]], np.float32) * k,
                  np.array([3, 7]))
    want = np.asarray(draw_poses(rgb, poses)).astype(int)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    planes = vio.Frame(0, 0.0, picture=frame).yuv420()
    draw_poses_yuv(planes, poses)
    out = av.VideoFrame(w, h, "yuv420p")
    for plane, src in zip(out.planes, planes, strict=True):
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width] = src
    got = out.to_ndarray(format="rgb24").astype(int)
    base = frame.to_ndarray(format="rgb24").astype(int)
    drawn_want = np.abs(want - rgb).max(axis=-1) > 40
    drawn_got = np.abs(got - base).max(axis=-1) > 40
    assert drawn_want.sum() > 2000 * k

    def near(mask):  # within one pixel (chroma is half resolution: a line's edge moves by a pixel)
        padded = np.pad(mask, 1)
        shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        return np.any([padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in shifts], axis=0)

    assert (drawn_got & near(drawn_want)).sum() / drawn_got.sum() > 0.97  # nothing drawn elsewhere
    assert (drawn_want & near(drawn_got)).sum() / drawn_want.sum() > 0.97  # nothing left out
    both = drawn_want & drawn_got  # and in the same colours where both drew
    assert np.median(np.abs(got - want)[both]) < 25


@pytest.mark.parametrize("mode, k", [("L", 1), ("LA", 2)])
def test_yuv_drawing_through_imagedraw_core_calls_equals_the_public_methods(mode, k):
    """The video path draws lines, dots and boxes through ImageDraw's core calls with cached inks: the
    pixels are exactly those of ImageDraw's public methods given the same colours and widths."""
    from PIL import Image, ImageDraw

    from posekit.render import _draw_shapes, _moved_all, _person_ops, _yuv
    from posekit.skeletons import COCO17
    from posekit.types import Poses

    rng = np.random.default_rng(5)
    poses = Poses(rng.uniform(10, 230, (3, 17, 2)).astype(np.float32),
                  rng.uniform(0, 1, (3, 17)).astype(np.float32), np.full(3, 0.9, np.float32), COCO17,
                  np.array([[5, 5, 120, 200], [60, 20, 230, 230], [0, 0, 10, 10]], np.float32),
                  np.array([1, 4, 9]))
    size = (240 // k, 240 // k)
    public = Image.new(mode, size, 0 if mode == "L" else (0, 0))
    core = public.copy()
    for i in range(len(poses)):
        shapes = [op for op in _person_ops(poses, i, 0.2, 240) if op[0] != "text"]
        xy = np.array([op[1][0] for op in shapes], np.float64)
        is_line = np.array([op[0] == "line" for op in shapes])
        moved = _moved_all(xy, is_line, 2, 4, k).tolist()
        draw = ImageDraw.Draw(public)
        for (method, _, kwargs), coords in zip(shapes, moved, strict=True):
            ink = {key: (_yuv(v)[0] if mode == "L" else _yuv(v)[1:])
                   for key, v in kwargs.items() if key in ("fill", "outline")}
            if "width" in kwargs:
                ink["width"] = max(1, kwargs["width"] // k)
            getattr(draw, method)(coords, **ink)
        _draw_shapes(ImageDraw.Draw(core).draw, mode, shapes, moved, 0 if mode == "L" else 1, k)
    assert np.asarray(public).any()
    np.testing.assert_array_equal(np.asarray(core), np.asarray(public))
