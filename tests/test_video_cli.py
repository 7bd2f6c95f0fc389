"""`posekit video` end to end: a clip the test encodes, real models, JSONL / PoseTrack / MP4 outputs,
damaged input and Ctrl-C leaving valid outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from posekit.cli import main
from posekit.video.io import VideoReader, VideoWriter

pytestmark = pytest.mark.network


def write_clip(path: Path, frames: int, fps: float = 10.0, step: int = 4, size: int = 256) -> Path:
    """The astronaut (scaled to ``size``) moving right ``step`` px a frame, H.264."""
    from PIL import Image as PILImage

    rgb = np.asarray(PILImage.fromarray(pytest.importorskip("skimage.data").astronaut()).resize((size, size)))
    with VideoWriter(path, fps, size, size) as video:
        for i in range(frames):
            video.write(np.roll(rgb, step * i, axis=1), i / fps)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "astro.mp4", 12)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_and_annotated_mp4(model_package, clip, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["video", str(clip), "--model", "movenet-lightning", "--out", str(out), "--json",
                 "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["frames"], summary["tracks"]) == (12, 1)
    lines = read_jsonl(out / "astro.jsonl")
    assert [line["frame"] for line in lines] == list(range(12))
    assert [line["time"] for line in lines] == pytest.approx([i / 10 for i in range(12)], abs=1e-3)
    assert all(len(line["poses"]) == 1 and line["poses"][0]["track_id"] == 1 for line in lines)
    noses = [line["poses"][0]["keypoints"][0]["position"]["x"] for line in lines]
    assert noses[-1] - noses[0] == pytest.approx(4 * 11, abs=8)  # smoothing lags a little behind
    with VideoReader(out / "astro.mp4") as video:
        assert (video.info.width, video.info.height) == (256, 256)
        assert sum(1 for _ in video) == 12
    assert sorted(p.name for p in out.iterdir()) == ["astro.jsonl", "astro.mp4"]


def test_posetrack_format_and_no_track(model_package, clip, tmp_path):
    out = tmp_path / "pt"
    assert main(["video", str(clip), "--model", "movenet-lightning", "--out", str(out), "--format",
                 "posetrack", "--no-render", "--quiet"]) == 0
    doc = json.loads((out / "astro.json").read_text())
    assert [im["frame_id"] for im in doc["images"]] == list(range(12))
    assert {im["nframes"] for im in doc["images"]} == {12}
    assert doc["categories"][0]["keypoints"][0] == "nose"
    assert len(doc["annotations"]) == 12 and {a["track_id"] for a in doc["annotations"]} == {1}
    assert all(len(a["keypoints"]) == 51 for a in doc["annotations"])
    plain = tmp_path / "plain"
    assert main(["video", str(clip), "--model", "movenet-lightning", "--out", str(plain), "--no-track",
                 "--no-render", "--quiet"]) == 0
    assert all("track_id" not in p for line in read_jsonl(plain / "astro.jsonl") for p in line["poses"])


def test_folder_of_frames(model_package, tmp_path):
    from PIL import Image as PILImage

    frames = tmp_path / "frames"
    frames.mkdir()
    rgb = pytest.importorskip("skimage.data").astronaut()
    for i in range(3):
        PILImage.fromarray(np.roll(rgb, 8 * i, axis=1)).save(frames / f"{i:03d}.png")
    assert main(["video", str(frames), "--model", "movenet-lightning", "--out", str(tmp_path / "o"),
                 "--no-render", "--quiet"]) == 0
    lines = read_jsonl(tmp_path / "o" / "frames.jsonl")
    assert [line["frame"] for line in lines] == [0, 1, 2]


def test_damaged_video_keeps_the_frames_before_the_damage(model_package, tmp_path, capsys):
    whole = write_clip(tmp_path / "whole.mp4", 40, step=2, size=128)
    data = whole.read_bytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out"
    code = main(["video", str(damaged), "--model", "movenet-lightning", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "damaged.mp4" in err and len(err.strip().splitlines()) == 1
    lines = read_jsonl(out / "damaged.jsonl")
    assert 0 < len(lines) < 40 and [line["frame"] for line in lines] == list(range(len(lines)))
    with VideoReader(out / "damaged.mp4") as video:
        assert sum(1 for _ in video) == len(lines)


def test_not_a_video_is_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    assert main(["video", str(bad), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("posekit: error:") and "notes.mp4" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_ctrl_c_leaves_valid_jsonl_and_a_finalised_mp4(model_package, tmp_path):
    clip = write_clip(tmp_path / "long.mp4", 1500, step=1, size=128)  # long enough to be cut under any load
    out = tmp_path / "out"
    # the child gets Ctrl-C's default disposition: a runner started in the background of a shell without job
    # control (`pytest ... &` in a script) ignores SIGINT, and its children would inherit that
    proc = subprocess.Popen([sys.executable, "-m", "posekit", "video", str(clip), "--model",
                             "movenet-lightning", "--out", str(out), "--quiet", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until a few frames are written
        parts = list(out.glob(".long.jsonl.*.tmp")) if out.exists() else []
        if parts and parts[0].read_text().count("\n") >= 5:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = read_jsonl(out / "long.jsonl")
    assert 5 <= len(lines) < 1500 and [line["frame"] for line in lines] == list(range(len(lines)))
    with VideoReader(out / "long.mp4") as video:
        assert abs(sum(1 for _ in video) - len(lines)) <= 1  # the frame being drawn may be cut
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert os.path.getsize(out / "long.mp4") > 0


def test_frames_side_by_side_give_the_same_result_in_order(model_package, clip, tmp_path):
    import posekit
    from posekit.video.pose_tracker import PoseTracker
    from posekit.video.run import process_video

    model = posekit.load_model("movenet-multipose", threads=1)
    outs = []
    for workers in (1, 2, 3):
        run = process_video(clip, PoseTracker(model), tmp_path / str(workers), render=False, progress=False,
                            workers=workers)
        assert run.frames == 12
        outs.append((tmp_path / str(workers) / "astro.jsonl").read_text())
    assert outs[0] == outs[1] == outs[2]
