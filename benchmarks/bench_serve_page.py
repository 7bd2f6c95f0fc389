"""Frames/s and round trip of the live web page of `posekit serve` in headless Chromium, on this machine.

    .venv/bin/python benchmarks/bench_serve_page.py [--model movenet-lightning] [--seconds 20]
        [--screenshot docs/serve-page.png]

Starts `posekit serve` and Chromium (both on this machine's cores, as on a laptop running its own server),
feeds Chromium's fake camera a clip of scikit-image's public-domain astronaut photo panning across a 640 x 480
frame, starts the page's camera and reads ``window.posekitStats`` over the measured window: frames answered
per second (the page keeps one frame in flight, so this is the page's whole loop: capture, JPEG, WebSocket,
decode, inference, tracking, answer, draw) and the mean round trip the page measures per frame. With
``--screenshot`` it then saves the page as a PNG (the README's picture). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from posekit.video.io import write_y4m

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def panning_clip(path: Path, size: tuple[int, int] = (640, 480), n: int = 60) -> None:
    """The astronaut photo at the frame's height sliding left and right over a dark frame (a smooth loop)."""
    from skimage import data

    w, h = size
    person = np.asarray(Image.fromarray(data.astronaut()).resize((h, h), Image.BILINEAR))
    frames = []
    for i in range(n):
        x = int(round((w - h) / 2 * (1 + np.sin(2 * np.pi * i / n))))
        frame = np.full((h, w, 3), 40, np.uint8)
        frame[:, x:x + h] = person
        frames.append(frame)
    write_y4m(path, frames)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "posekit", "serve", "--port", str(port), "--model", model]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"posekit serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc
        except OSError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGTERM)
    sys.exit(f"posekit serve did not answer /healthz in 120 s:\n{log.read_text()}")


def start_browser(clip: Path, width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={clip}", f"--window-size={width},{height}",
                "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def stats(driver) -> dict:
    return driver.execute_script("return Object.assign({}, window.posekitStats)")


def wait_for(driver, predicate, seconds: float, what: str) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s = stats(driver)
        if predicate(s):
            return s
        time.sleep(0.2)
    sys.exit(f"the page never reached: {what}; stats: {stats(driver)}")


def measure(driver, url: str, model: str, seconds: float) -> dict:
    driver.get(url)
    wait_for(driver, lambda s: s["model"] == model, 60, "the model list")
    driver.find_element("id", "start").click()
    wait_for(driver, lambda s: s["framesAnswered"] >= 10, 120, "10 frames answered (warm-up)")
    a, t0 = stats(driver), time.monotonic()
    time.sleep(seconds)
    b, t1 = stats(driver), time.monotonic()
    frames = b["framesAnswered"] - a["framesAnswered"]
    per_frame = max(frames, 1)
    return {
        "model": model, "seconds": round(t1 - t0, 2), "frames": frames,
        "fps": round(frames / (t1 - t0), 2),
        "round_trip_ms_mean": round((b["latencyTotalMs"] - a["latencyTotalMs"]) / per_frame, 1),
        "server_ms_mean": round((b["serverTotalMs"] - a["serverTotalMs"]) / per_frame, 1),
        "frames_with_people_pct": round(100 * (b["framesWithPeople"] - a["framesWithPeople"]) / per_frame, 1),
        "page_errors": b["errors"], "reconnects": b["reconnects"], "cpu_cores": os.cpu_count(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="movenet-lightning")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured window (after a warm-up)")
    ap.add_argument("--screenshot", type=Path, default=None, help="save the page as a PNG afterwards")
    ap.add_argument("--window", default="960x1000", help="browser window WIDTHxHEIGHT (default: 960x1000)")
    args = ap.parse_args()
    width, height = (int(v) for v in args.window.split("x"))
    with tempfile.TemporaryDirectory(prefix="posekit-bench-page-") as tmp:
        clip = Path(tmp) / "astronaut.y4m"
        panning_clip(clip)
        port = free_port()
        server = start_server(args.model, port, Path(tmp) / "serve.log")
        driver = None
        try:
            driver = start_browser(clip, width, height)
            result = measure(driver, f"http://127.0.0.1:{port}/", args.model, args.seconds)
            severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            result["console_errors"] = len(severe)
            if args.screenshot:
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(args.screenshot))
                result["screenshot"] = str(args.screenshot)
        finally:
            if driver is not None:
                driver.quit()
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
