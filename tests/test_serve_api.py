"""`posekit serve` end to end: a real uvicorn server on loopback, real HTTP (httpx) and WebSocket
(websockets) clients, the real movenet-lightning model and a real photo (scikit-image's astronaut)."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("websockets")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from websockets.asyncio.client import connect  # noqa: E402

import posekit  # noqa: E402
from posekit.images import read_image  # noqa: E402

pytestmark = pytest.mark.network  # needs the filled model cache

MODEL = "movenet-lightning"
LIMIT_MB = 1  # the in-thread server's --max-upload-mb
TOKEN = "s3cret-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> dict[str, Path]:
    """The astronaut as PNG (512 x 512) and as a JPEG named like a COCO file."""
    from PIL import Image

    from posekit.samples import sample_image

    png = sample_image()
    jpg = tmp_path_factory.mktemp("photo") / "000000000139.jpg"
    Image.open(png).convert("RGB").save(jpg, quality=90)
    return {"png": png, "jpg": jpg}


@pytest.fixture(scope="module")
def reference():
    """The library's own model (default threads, default min_score 0.25)."""
    return posekit.load_model(MODEL)


@pytest.fixture(scope="module")
def server():
    """create_app on uvicorn.Server in a thread: base URL and the app."""
    from posekit.serve.app import create_app

    app = create_app([MODEL], max_upload_mb=LIMIT_MB, threads=2)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            ws_max_size=LIMIT_MB * 2**20)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def cli_server():
    """`posekit serve --token` as a subprocess: base URL and its first line of output."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "posekit", "serve", "--port", str(port), "--model", MODEL,
                             "--token", TOKEN, "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        line = proc.stdout.readline()
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "posekit serve did not start"
            time.sleep(0.1)
        yield base, line
    finally:
        proc.terminate()
        proc.wait(10)


def expected_poses(reference, path: Path) -> posekit.Poses:
    image = read_image(path, reference.spec.input_size)
    return reference.predict(image.rgb).scaled(image.scale)


def posenet_xy(poses: list[dict]) -> np.ndarray:
    return np.array([[[k["position"]["x"], k["position"]["y"]] for k in p["keypoints"]] for p in poses])


def posenet_scores(poses: list[dict]) -> np.ndarray:
    return np.array([[k["score"] for k in p["keypoints"]] for p in poses])


def metric_values(text: str) -> dict[str, float]:
    """'name{labels}' -> value for every sample line of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def raw_http(base: str, data: bytes) -> tuple[int, dict]:
    """Send ``data`` (a hand-made request) on a plain socket; the response's status and JSON body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, body = buf.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
        while len(body) < length:
            body += sock.recv(65536)
    return int(head.split()[1]), json.loads(body)


# ---------------------------------------------------------------- HTTP


def test_health_and_models(server):
    base, _ = server
    r = httpx.get(f"{base}/healthz", headers={"Origin": "http://evil.example"})
    assert r.json() == {"status": "ok"} and "access-control-allow-origin" not in r.headers  # CORS off
    models = httpx.get(f"{base}/v1/models").json()
    assert models["default"] == MODEL and models["loaded"] == [MODEL]
    assert models["available"] == posekit.list_models()
    assert "first use" in models["note"]


@pytest.mark.parametrize("kind", ["png", "jpg"])
def test_poses_equal_the_library(server, photo, reference, kind):
    base, _ = server
    data = photo[kind].read_bytes()
    mime = "image/png" if kind == "png" else "image/jpeg"
    expected = expected_poses(reference, photo[kind])
    assert len(expected) == 1
    multipart = httpx.post(f"{base}/v1/poses", files={"file": (photo[kind].name, data, mime)})
    raw = httpx.post(f"{base}/v1/poses", content=data, headers={"Content-Type": mime})
    for r in (multipart, raw):
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["model"], body["width"], body["height"]) == (MODEL, 512, 512)
        assert set(body["timing"]) == {"decode_ms", "inference_ms", "total_ms"}
        assert body["timing"]["total_ms"] >= body["timing"]["inference_ms"] > 0
        np.testing.assert_allclose(posenet_xy(body["poses"]), expected.xy, atol=1e-3)
        np.testing.assert_allclose(posenet_scores(body["poses"]), expected.scores, atol=1e-5)
        assert body["poses"][0]["score"] == pytest.approx(float(expected.pose_scores[0]), abs=1e-5)
    assert multipart.json()["poses"] == raw.json()["poses"]


def test_min_score_drops_people(server, photo, reference):
    base, _ = server
    score = float(expected_poses(reference, photo["png"]).pose_scores[0])
    for min_score, people in ((round(score - 0.01, 3), 1), (round(score + 0.01, 3), 0)):
        r = httpx.post(f"{base}/v1/poses", params={"min_score": min_score},
                       files={"file": ("a.png", photo["png"].read_bytes(), "image/png")})
        assert len(r.json()["poses"]) == people


def test_coco_format(server, photo, reference):
    base, _ = server
    r = httpx.post(f"{base}/v1/poses", params={"format": "coco"},
                   files={"file": (photo["jpg"].name, photo["jpg"].read_bytes(), "image/jpeg")})
    (result,) = r.json()["poses"]
    assert (result | {"keypoints": None}) == posekit.formats.to_coco_results(
        expected_poses(reference, photo["jpg"]), 139)[0] | {"keypoints": None}
    assert result["image_id"] == 139 and result["category_id"] == 1
    kp = np.array(result["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(kp[:, :2], expected_poses(reference, photo["jpg"]).xy[0], atol=2e-3)


def test_topdown_mode_equals_load_topdown(server, photo):
    from posekit.models.topdown import load_topdown

    base, _ = server
    r = httpx.post(f"{base}/v1/poses", params={"mode": "topdown"},
                   files={"file": ("a.png", photo["png"].read_bytes(), "image/png")}, timeout=60)
    assert r.status_code == 200, r.text
    pipeline = load_topdown(MODEL, min_score=0.25)
    expected = pipeline.predict(read_image(photo["png"], 192).rgb)
    assert len(expected) >= 1
    np.testing.assert_allclose(posenet_xy(r.json()["poses"]), expected.xy, atol=1e-3)
    assert [p["box"]["x1"] for p in r.json()["poses"]] == pytest.approx(expected.boxes[:, 0], abs=1e-3)


def test_topdown_detector_and_tta_options_equal_the_library(server, photo):
    """detector= and tta= give what load_topdown / CropModel give the same image (the CLI's options)."""
    from posekit.models.topdown import load_topdown
    from posekit.models.tta import CropModel

    base, _ = server
    png = photo["png"].read_bytes()
    rgb = read_image(photo["png"], 192).rgb
    r = httpx.post(f"{base}/v1/poses", params={"mode": "topdown", "detector": "centernet", "tta": "flip"},
                   files={"file": ("a.png", png, "image/png")}, timeout=60)
    assert r.status_code == 200, r.text
    expected = load_topdown(MODEL, "centernet", min_score=0.25, tta="flip").predict(rgb)
    assert len(expected) >= 1
    np.testing.assert_allclose(posenet_xy(r.json()["poses"]), expected.xy, atol=1e-3)
    # Flip TTA on the whole image of a one-person model; the result differs from the plain model's.
    r = httpx.post(f"{base}/v1/poses", params={"tta": "flip"}, files={"file": ("a.png", png, "image/png")})
    assert r.status_code == 200, r.text
    flipped = CropModel(posekit.load_model(MODEL), tta="flip", min_score=0.25).predict(rgb)
    np.testing.assert_allclose(posenet_xy(r.json()["poses"]), flipped.xy, atol=1e-3)
    plain = httpx.post(f"{base}/v1/poses", files={"file": ("a.png", png, "image/png")}).json()["poses"]
    plain = posenet_xy(plain)
    assert np.abs(plain - flipped.xy).max() > 0.01


def _bad_requests(png: bytes, jpg: bytes):
    files = {"file": ("a.png", png, "image/png")}
    return [
        ("not an image", {"content": b"hello, not a picture", "headers": {"Content-Type": "image/png"}}, 422,
         "not a readable image"),
        ("zero bytes", {"content": b"", "headers": {"Content-Type": "image/jpeg"}}, 422, "upload: empty"),
        ("zero-byte file", {"files": {"file": ("a.jpg", b"", "image/jpeg")}}, 422, "upload: empty"),
        ("truncated jpeg", {"content": jpg[: len(jpg) // 3], "headers": {"Content-Type": "image/jpeg"}}, 422,
         "JPEG or PNG"),
        ("text type", {"content": png, "headers": {"Content-Type": "text/plain"}}, 415, "'text/plain'"),
        ("no type", {"content": png}, 415, "'(none)'"),
        ("form type", {"data": {"file": "x"}}, 415, "application/x-www-form-urlencoded"),
        ("no file field", {"files": {"image": ("a.png", png, "image/png")}}, 422, "no field 'file'"),
        ("unknown model", {"files": files, "params": {"model": "nope"}}, 404, "known models: blazepose-full"),
        ("model path", {"files": files, "params": {"model": "/tmp/x.onnx"}}, 404, "unknown model"),
        ("min_score too big", {"files": files, "params": {"min_score": 2}}, 422, "min_score"),
        ("min_score text", {"files": files, "params": {"min_score": "abc"}}, 422, "min_score"),
        ("format", {"files": files, "params": {"format": "xml"}}, 422, "'posenet' or 'coco'"),
        ("mode", {"files": files, "params": {"mode": "sideways"}}, 422, "'whole' or 'topdown'"),
        ("detector", {"files": files, "params": {"mode": "topdown", "detector": "yolo"}}, 422, "'nanodet'"),
        ("detector, whole image", {"files": files, "params": {"detector": "nanodet"}}, 422,
         "with mode=topdown only"),
        ("tta", {"files": files, "params": {"tta": "rot"}}, 422, "'flip,rot'"),
        ("tta, multi-person", {"files": files, "params": {"tta": "flip", "model": "movenet-multipose"}}, 422,
         "use mode=topdown"),
        ("too large", {"content": b"\xff" * (LIMIT_MB * 2**20 + 1),
                       "headers": {"Content-Type": "image/jpeg"}}, 413, "limit of 1 MB"),
        ("broken multipart", {"content": b"--x\r\nnonsense",
                              "headers": {"Content-Type": "multipart/form-data"}}, 400, "boundary"),
    ]


def test_bad_requests_get_one_line_json_errors(server, photo):
    base, _ = server
    png, jpg = photo["png"].read_bytes(), photo["jpg"].read_bytes()
    for name, kwargs, status, message in _bad_requests(png, jpg):
        r = httpx.post(f"{base}/v1/poses", **kwargs)
        assert r.status_code == status, (name, r.text)
        body = r.json()
        assert list(body) == ["error"] and "\n" not in body["error"], name
        assert message in body["error"], (name, body)
    r = httpx.get(f"{base}/v1/poses")
    assert (r.status_code, list(r.json())) == (405, ["error"])


def test_too_large_is_refused_before_and_while_reading(server):
    base, _ = server
    # A Content-Length over the limit is answered at once: no body is ever sent.
    head = (b"POST /v1/poses HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 1000000000\r\n\r\n")
    status, body = raw_http(base, head)
    assert status == 413 and "limit of 1 MB" in body["error"]
    # A chunked body (no length) is refused once it passes the limit, without waiting for its end.
    chunk = b"\xff" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(LIMIT_MB * 16 + 1))
    head = (b"POST /v1/poses HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    status, body = raw_http(base, head + chunks)  # the terminating 0-chunk is never sent
    assert status == 413 and "limit of 1 MB" in body["error"]


def test_static_files_and_no_traversal(server):
    from importlib.resources import files

    base, _ = server
    index = (files("posekit.serve") / "static" / "index.html").read_bytes()
    for path in ("/", "/static/index.html"):
        r = httpx.get(base + path)
        assert (r.status_code, r.content) == (200, index)
        assert r.headers["content-type"].split(";")[0] == "text/html"
    host, port = base.removeprefix("http://").split(":")
    for path in ("/static/..%2fapp.py", "/static/..%2f..%2f..%2fpyproject.toml", "/static/%2e%2e/app.py",
                 "/static/../app.py", "/static/..%5capp.py", "/static/%2fetc%2fpasswd", "/static//etc/passwd",
                 "/static/", "/static/missing.js"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", path)  # http.client sends the path as written (httpx would normalise it)
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
        assert response.status == 404 and list(body) == ["error"], path


def test_metrics_count_exactly(server, photo):
    base, _ = server
    png = photo["png"].read_bytes()
    before = metric_values(httpx.get(f"{base}/metrics").text)
    for _ in range(3):
        assert httpx.post(f"{base}/v1/poses", files={"file": ("a.png", png, "image/png")}).status_code == 200
    for _ in range(2):
        r = httpx.post(f"{base}/v1/poses", content=png, headers={"Content-Type": "text/csv"})
        assert r.status_code == 415
    assert httpx.get(f"{base}/healthz").status_code == 200
    r = httpx.get(f"{base}/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    after = metric_values(r.text)

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta('posekit_http_requests_total{endpoint="/v1/poses",status="200"}') == 3
    assert delta('posekit_http_requests_total{endpoint="/v1/poses",status="415"}') == 2
    assert delta('posekit_http_requests_total{endpoint="/healthz",status="200"}') == 1
    assert delta('posekit_http_requests_total{endpoint="/metrics",status="200"}') == 1  # the first scrape
    assert delta('posekit_http_errors_total{endpoint="/v1/poses",kind="client"}') == 2
    assert delta('posekit_http_request_duration_seconds_count{endpoint="/v1/poses"}') == 5
    assert delta('posekit_http_request_duration_seconds_bucket{endpoint="/v1/poses",le="+Inf"}') == 5


# ---------------------------------------------------------------- token and CLI


def test_cli_token(cli_server, photo):
    base, line = cli_server
    port = base.rsplit(":", 1)[1]
    assert line.startswith(f"posekit serve: open http://127.0.0.1:{port}/?token={TOKEN}")
    png = photo["png"].read_bytes()
    files = {"file": ("a.png", png, "image/png")}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        for r in (httpx.post(f"{base}/v1/poses", files=files, headers=headers),
                  httpx.get(f"{base}/v1/models", headers=headers)):
            assert r.status_code == 401 and "Authorization: Bearer TOKEN" in r.json()["error"], headers
            assert r.headers["www-authenticate"] == "Bearer"
    good = {"Authorization": f"Bearer {TOKEN}"}
    r = httpx.post(f"{base}/v1/poses", files=files, headers=good)
    assert r.status_code == 200 and len(r.json()["poses"]) == 1
    assert httpx.get(f"{base}/v1/models", headers=good).json()["loaded"] == [MODEL]
    for path in ("/healthz", "/", "/static/index.html"):
        assert httpx.get(base + path).status_code == 200, path  # open without the token

    async def stream(query: str) -> tuple[dict, int | None]:
        ws = await connect(f"{base.replace('http', 'ws')}/v1/stream{query}")
        if query == f"?token={TOKEN}":  # (a refused client is answered without sending anything)
            await ws.send(photo["jpg"].read_bytes())
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if "error" in answer:
            await asyncio.wait_for(ws.wait_closed(), 10)
        else:
            await ws.close()
        return answer, ws.close_code

    answer, _ = asyncio.run(stream(f"?token={TOKEN}"))
    assert answer["frame"] == 1 and len(answer["poses"]) == 1
    answer, code = asyncio.run(stream("?token=wrong"))
    assert "wrong token" in answer["error"] and code == 1008


def test_missing_extra_names_the_install_command(monkeypatch, capsys):
    from posekit.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == \
        "posekit: error: posekit serve needs uvicorn: pip install 'posekit[serve]'\n"


def test_loopback_detection():
    from posekit.cli.serve import is_loopback

    hosts = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "192.168.1.4", "example.org")
    assert [is_loopback(h) for h in hosts] == [True, True, True, False, False, False]


# ---------------------------------------------------------------- WebSocket


def ws_url(base: str, **query) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"{base.replace('http', 'ws')}/v1/stream" + (f"?{q}" if q else "")


def test_stream_tracks_the_same_person(server, photo, reference):
    base, _ = server
    jpg = photo["jpg"].read_bytes()
    first_http = httpx.post(f"{base}/v1/poses", content=jpg, headers={"Content-Type": "image/jpeg"}).json()

    async def run() -> list[dict]:
        answers = []
        async with connect(ws_url(base)) as ws:
            for _ in range(5):
                await ws.send(jpg)
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        return answers

    answers = asyncio.run(run())
    assert [a["frame"] for a in answers] == [1, 2, 3, 4, 5]
    assert [a["dropped"] for a in answers] == [0] * 5
    assert {(a["width"], a["height"]) for a in answers} == {(512, 512)}
    assert [len(a["poses"]) for a in answers] == [1] * 5
    assert len({a["poses"][0]["track_id"] for a in answers}) == 1
    # The first frame is the whole-image detection: the same poses /v1/poses gives.
    np.testing.assert_allclose(posenet_xy(answers[0]["poses"]), posenet_xy(first_http["poses"]), atol=1e-3)
    for a in answers:
        assert set(a["timing"]) == {"decode_ms", "inference_ms", "total_ms"}
        assert a["timing"]["total_ms"] >= a["timing"]["inference_ms"] > 0


def followed_stream(base: str, jpg: bytes, frames: int, **query) -> list[dict]:
    """The same JPEG ``frames`` times on a stream with ``query``: a pose on every answer, one identity, the
    first answer equal to /v1/poses with the same query (the whole-image pipeline). The answers."""
    first_http = httpx.post(f"{base}/v1/poses", params=query, content=jpg,
                            headers={"Content-Type": "image/jpeg"}, timeout=60).json()

    async def run() -> list[dict]:
        async with connect(ws_url(base, **query)) as ws:
            answers = []
            for _ in range(frames):
                await ws.send(jpg)
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
        return answers

    answers = asyncio.run(run())
    assert [len(a["poses"]) for a in answers] == [1] * frames, answers
    assert len({a["poses"][0]["track_id"] for a in answers}) == 1
    np.testing.assert_allclose(posenet_xy(answers[0]["poses"]), posenet_xy(first_http["poses"]), atol=1e-3)
    return answers


def test_stream_topdown_follows_the_person_with_boxes(server, photo):
    """mode=topdown on the stream: the detector's person on frame 1, then a crop that follows them: one
    identity, a box on every answer, the first frame equal to /v1/poses?mode=topdown."""
    base, _ = server
    answers = followed_stream(base, photo["jpg"].read_bytes(), 4, mode="topdown")
    assert all("box" in a["poses"][0] for a in answers)

    async def refused() -> dict:
        async with connect(ws_url(base, detector="nanodet")) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    assert "with mode=topdown only" in asyncio.run(refused())["error"]


def test_stream_blazepose_follows_the_person_with_its_own_roi(server, photo):
    """model=blazepose-full on the stream (PoseTracker through BlazePose's own ``track``): frame 1 is the
    detector's (equal to /v1/poses), then the ROI from the last frame's filtered alignment landmarks: a
    pose on every frame, one identity."""
    base, _ = server
    answers = followed_stream(base, photo["jpg"].read_bytes(), 5, model="blazepose-full")
    assert {len(a["poses"][0]["keypoints"]) for a in answers} == {33}


def test_stream_burst_keeps_only_the_latest_frame(server, photo):
    base, _ = server
    jpg = photo["jpg"].read_bytes()
    before = metric_values(httpx.get(f"{base}/metrics").text)

    async def run() -> list[dict]:
        answers: list[dict] = []
        async with connect(ws_url(base)) as ws:
            for _ in range(20):
                await ws.send(jpg)
            while not answers or answers[-1]["frame"] + answers[-1]["dropped"] < 20:
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            try:  # nothing more may come: every frame was answered or dropped
                extra = await asyncio.wait_for(ws.recv(), 1.0)
                answers.append(json.loads(extra))
            except asyncio.TimeoutError:
                pass
        return answers

    answers = asyncio.run(run())
    assert len(answers) < 20
    assert [a["frame"] for a in answers] == list(range(1, len(answers) + 1))
    assert len(answers) + answers[-1]["dropped"] == 20
    after = metric_values(httpx.get(f"{base}/metrics").text)
    frames, dropped = "posekit_stream_frames_total", "posekit_stream_frames_dropped_total"
    assert after[frames] - before.get(frames, 0) == len(answers)
    assert after[dropped] - before.get(dropped, 0) == answers[-1]["dropped"]


def test_stream_bad_frame_gets_an_error_and_the_socket_works(server, photo):
    base, _ = server
    jpg = photo["jpg"].read_bytes()

    async def run() -> list[dict]:
        out = []
        async with connect(ws_url(base, min_score=0.1)) as ws:
            for message in (b"not a picture", "some text", jpg):
                await ws.send(message)
                out.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        return out

    bad, text, good = asyncio.run(run())
    assert list(bad) == ["error"] and "not a readable image" in bad["error"]
    assert list(text) == ["error"]
    assert good["frame"] == 1 and len(good["poses"]) == 1 and good["dropped"] == 0


def test_stream_unknown_model_and_disconnect_mid_frame(server, photo):
    base, _ = server
    jpg = photo["jpg"].read_bytes()

    async def unknown() -> tuple[dict, int | None]:
        ws = await connect(ws_url(base, model="nope"))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await asyncio.wait_for(ws.wait_closed(), 10)
        return answer, ws.close_code

    answer, code = asyncio.run(unknown())
    assert "unknown model 'nope'" in answer["error"] and code == 1008

    async def from_page(origin: str) -> dict:
        ws = await connect(ws_url(base), origin=origin)
        if origin == base:
            await ws.send(jpg)
        answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        await ws.close()
        return answer

    assert "may not connect" in asyncio.run(from_page("http://evil.example"))["error"]
    assert asyncio.run(from_page(base))["frame"] == 1  # the server's own page

    async def leave() -> None:
        async with connect(ws_url(base)) as ws:
            await ws.send(jpg)
            await ws.send(jpg)  # leave with one frame running and one waiting

    asyncio.run(leave())
    deadline = time.monotonic() + 10
    while metric_values(httpx.get(f"{base}/metrics").text)["posekit_stream_clients"] != 0:
        assert time.monotonic() < deadline, "the closed client is still counted"
        time.sleep(0.05)
    r = httpx.post(f"{base}/v1/poses", content=jpg, headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and len(r.json()["poses"]) == 1


def test_no_request_gave_a_server_error(server):
    """Runs last in this file: every bad input above was answered without a 500."""
    base, _ = server
    text = httpx.get(f"{base}/metrics").text
    assert 'status="500"' not in text and 'kind="server"' not in text
    assert 'status="422"' in text and 'status="413"' in text  # the bad inputs were counted
