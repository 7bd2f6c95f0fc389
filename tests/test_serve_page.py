"""The live web page of `posekit serve` in a real headless Chromium against the real server.

Chromium's fake camera plays a Y4M clip of the astronaut photo panning across the frame; the page streams it
over the WebSocket, and we read what it counted (``window.posekitStats``) and what it drew (the overlay
canvas's pixels). Photo mode uploads a JPEG through the page's file input.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.network, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("the browser tests need chromium and chromedriver (Debian: apt-get install chromium "
                "chromium-driver; or `make browser`)", allow_module_level=True)
pytest.importorskip("selenium", reason="the browser tests need selenium: pip install 'posekit[test]'")
pytest.importorskip("fastapi", reason="`posekit serve` needs its extras: pip install 'posekit[serve]'")

from PIL import Image  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from posekit.video.io import write_y4m  # noqa: E402

MODEL = "movenet-lightning"
WAIT_S = 90  # generous: two CPU cores are shared with the server, Chromium and other work


# --- fixtures: a camera clip, the server, the browser ------------------------------------------------------
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data", reason="the test clip needs scikit-image")
    return skimage_data.astronaut()


def panning_frames(photo: np.ndarray, n: int = 40, size: tuple[int, int] = (480, 360)) -> list[np.ndarray]:
    """The photo, scaled to the frame's height, sliding left and right over a grey frame (a smooth loop)."""
    w, h = size
    person = np.asarray(Image.fromarray(photo).resize((h, h), Image.BILINEAR))
    frames = []
    for i in range(n):
        x = int(round((w - h) / 2 * (1 + np.sin(2 * np.pi * i / n))))
        frame = np.full((h, w, 3), 90, np.uint8)
        frame[:, x:x + h] = person
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "astronaut.y4m"
    write_y4m(path, panning_frames(astronaut()))
    return path


@pytest.fixture(scope="module")
def photo_jpeg(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "astronaut.jpg"
    Image.fromarray(astronaut()).save(path, quality=92)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`posekit serve` as a subprocess on 127.0.0.1; restartable on the same port."""

    def __init__(self, port: int, log: Path, *extra: str):
        self.port = port
        self.extra = list(extra)
        self.url = f"http://127.0.0.1:{port}/"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "posekit", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--model", MODEL, *self.extra]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"`posekit serve` exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        pytest.fail(f"`posekit serve` did not answer /healthz in {WAIT_S} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(free_port(), tmp_path_factory.mktemp("server") / "serve.log")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(clip):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={clip}", "--window-size=1000,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, server):
    """The page freshly loaded, its model list filled; afterwards, the console must hold no error."""
    browser.get(server.url)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return document.getElementById('model').value") == MODEL)
    yield browser
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


# --- reading the page ---------------------------------------------------------------------------------------
def stats(driver) -> dict:
    return driver.execute_script("return Object.assign({}, window.posekitStats)")


def wait_stats(driver, predicate, what: str, errors_expected: bool = False) -> dict:
    """Wait until ``predicate(stats)``; an error shown by the page fails at once (unless expected)."""
    def done(d) -> bool:
        s = stats(d)
        if s["errors"] and not errors_expected:
            raise AssertionError(f"the page shows an error: {s['lastError']!r}")
        return predicate(s)

    try:
        WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(done)
    except TimeoutException:
        pytest.fail(f"the page never reached: {what}; stats: {stats(driver)}")
    return stats(driver)


def overlay_pixels(driver) -> np.ndarray:
    """The overlay canvas as (H, W, 4) RGBA: only what the page drew, over transparency."""
    url = driver.execute_script("return document.getElementById('overlay').toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def colour_mask(pixels: np.ndarray, hex_colour: str, tol: int = 6) -> np.ndarray:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    close = np.abs(pixels[..., :3].astype(int) - rgb).max(axis=-1) <= tol
    return close & (pixels[..., 3] == 255)


def palette(driver, index: int) -> dict[str, str]:
    return driver.execute_script("return window.posekitPalette[arguments[0] % window.posekitPalette.length]",
                                 index)


# --- tests -----------------------------------------------------------------------------------------------
def side_centroids(driver, colours: dict[str, str]) -> tuple[float, float, int]:
    """Mean x of the overlay's left-side and right-side limb pixels, and the overlay's width."""
    pixels = overlay_pixels(driver)
    left, right = colour_mask(pixels, colours["left"]), colour_mask(pixels, colours["right"])
    assert left.sum() > 50 and right.sum() > 50
    return np.nonzero(left)[1].mean(), np.nonzero(right)[1].mean(), pixels.shape[1]


def transform(driver, element_id: str) -> str:
    script = "return getComputedStyle(document.getElementById(arguments[0])).transform"
    return driver.execute_script(script, element_id)


def test_camera_streams_tracked_poses_one_frame_in_flight(page):
    page.find_element(By.ID, "start").click()
    in_flight = []
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        s = stats(page)
        in_flight.append(s["framesSent"] - s["framesAnswered"])
        if s["framesAnswered"] >= 40:
            break
        time.sleep(0.1)
    s = stats(page)
    assert s["framesAnswered"] >= 40, s
    assert s["errors"] == 0, s["lastError"]
    # Exactly one frame in flight: the page never sent a frame before the previous one was answered, and
    # the server never had to drop a frame that waited behind another.
    assert set(in_flight) <= {0, 1} and 1 in in_flight
    assert s["serverDropped"] == 0
    # The astronaut is in every frame of the clip: a tracked person in nearly all answers.
    assert s["framesWithTracks"] >= 0.9 * s["framesAnswered"], s
    assert len(s["trackIds"]) == 1 and isinstance(s["trackIds"][0], int), s
    assert s["fps"] > 1 and s["latencyMs"] > 0, s
    assert page.find_element(By.ID, "people").text == "1"
    assert page.find_element(By.ID, "latency").text.endswith(" ms")

    # The skeleton is drawn in the track's colours: lighter left limbs, darker right limbs.
    colours = palette(page, s["trackIds"][0])
    pixels = overlay_pixels(page)
    for side in ("left", "right", "centre"):
        assert colour_mask(pixels, colours[side]).sum() > 50, side

    # The camera starts mirrored (a selfie view): the person's left side is drawn on the left. Unmirrored,
    # facing the camera, it is on the right; the person pans by a few pixels between two frames at most.
    assert page.find_element(By.ID, "mirror").is_selected()
    assert transform(page, "video") == "matrix(-1, 0, 0, 1, 0, 0)"
    left_x, right_x, _ = side_centroids(page, colours)
    assert left_x < right_x - 20
    page.find_element(By.ID, "mirror").click()
    assert transform(page, "video") == "none"
    answered = stats(page)["framesAnswered"]
    wait_stats(page, lambda s: s["framesAnswered"] >= answered + 2, "two more frames answered")
    left_x, right_x, _ = side_centroids(page, colours)
    assert left_x > right_x + 20
    page.find_element(By.ID, "mirror").click()  # back to the default for the next tests

    page.find_element(By.ID, "start").click()
    s = wait_stats(page, lambda s: s["mode"] == "idle", "camera stopped")
    assert page.find_element(By.ID, "start").get_attribute("aria-pressed") == "false"
    assert overlay_pixels(page)[..., 3].max() == 0  # nothing left drawn


def test_photo_mode_draws_poses_and_mirror_flips_them(page, photo_jpeg):
    page.find_element(By.ID, "file").send_keys(str(photo_jpeg))
    s = wait_stats(page, lambda s: s["photosAnswered"] == 1 and s["draws"] > 0, "the photo's poses drawn")
    assert s["mode"] == "photo" and s["photoPoses"] == 1, s
    assert page.find_element(By.ID, "status").text == "Found 1 person."
    assert page.find_element(By.ID, "error").is_displayed() is False
    # The photo is shown at its own aspect ratio (512 x 512), the overlay over it.
    w, h = page.execute_script("const c = document.getElementById('overlay'); return [c.width, c.height]")
    assert abs(w - h) <= 1

    # Photos are shown as taken (not mirrored): she faces the camera, her left side is on the right.
    mirror = page.find_element(By.ID, "mirror")
    assert not mirror.is_selected() and transform(page, "photo") == "none"
    colours = palette(page, 0)
    left_x, right_x, width = side_centroids(page, colours)
    assert left_x > right_x + 20
    assert s["edgesDrawn"] >= 8, s  # MoveNet's COCO-17 skeleton: face, shoulders, arms, hips

    draws = s["draws"]
    mirror.click()
    wait_stats(page, lambda s: s["draws"] > draws, "a redraw after the mirror toggle")
    assert transform(page, "photo") == "matrix(-1, 0, 0, 1, 0, 0)"
    m_left_x, m_right_x, m_width = side_centroids(page, colours)
    assert m_width == width
    # The same drawing, flipped: x -> width - x (pixel centres: width - 1 - x).
    assert abs(m_left_x - (width - 1 - left_x)) < 3 and abs(m_right_x - (width - 1 - right_x)) < 3


def test_topdown_box_sends_the_photo_again_through_the_detector(page, photo_jpeg):
    """Ticking Top-down re-sends the photo with mode=topdown: the answer's person has the detector's box
    (the whole-image answer of a one-person model has none)."""
    page.find_element(By.ID, "file").send_keys(str(photo_jpeg))
    s = wait_stats(page, lambda s: s["photosAnswered"] == 1, "the photo's poses")
    assert (s["photoPoses"], s["photoBoxes"]) == (1, 0), s
    page.find_element(By.ID, "topdown").click()
    s = wait_stats(page, lambda s: s["photosAnswered"] == 2, "the photo's top-down poses")
    assert (s["photoPoses"], s["photoBoxes"]) == (1, 1), s
    assert page.find_element(By.ID, "error").is_displayed() is False


def test_a_file_that_is_not_an_image_is_reported(page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    page.find_element(By.ID, "file").send_keys(str(notes))
    WebDriverWait(page, WAIT_S).until(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert page.find_element(By.ID, "error").text == "notes.txt is not an image (text/plain)."
    assert stats(page)["mode"] == "idle"


def test_stream_reconnects_after_the_server_restarts(browser, server):
    browser.get(server.url)
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return document.getElementById('model').value") == MODEL)
    browser.find_element(By.ID, "start").click()
    wait_stats(browser, lambda s: s["framesAnswered"] >= 5, "5 frames answered")

    server.stop()
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_element(By.ID, "error").text.startswith("Connection lost"))
    before = stats(browser)
    server.start()
    after = wait_stats(browser, lambda s: s["framesAnswered"] >= before["framesAnswered"] + 5,
                       "5 more frames answered after the restart", errors_expected=True)
    assert after["reconnects"] >= 1
    assert after["mode"] == "camera"
    assert browser.find_element(By.ID, "error").is_displayed() is False
    browser.get_log("browser")  # the dead server's refused connections are expected console errors here


def test_model_picker_reruns_the_photo_with_another_schema(page, photo_jpeg):
    page.find_element(By.ID, "file").send_keys(str(photo_jpeg))
    wait_stats(page, lambda s: s["photosAnswered"] == 1, "the photo's poses")
    Select(page.find_element(By.ID, "model")).select_by_value("blazepose-lite")
    s = wait_stats(page, lambda s: s["photosAnswered"] == 2, "the photo again, with blazepose-lite")
    assert s["photoModel"] == "blazepose-lite" and s["photoPoses"] == 1, s
    # BlazePose's 33 landmarks have their own skeleton table: far more edges than COCO-17's 16.
    assert s["edgesDrawn"] > 16, s
    left_x, right_x, _ = side_centroids(page, palette(page, 0))
    assert left_x > right_x + 20


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    srv = Server(free_port(), tmp_path_factory.mktemp("server") / "serve-token.log", "--token", "s3cret")
    srv.start()
    yield srv
    srv.stop()


def test_token_from_the_page_url_is_sent_to_the_api_and_the_stream(browser, token_server):
    browser.get(token_server.url)  # no token: the page says what to do
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "401" in browser.find_element(By.ID, "error").text
    assert "?token=" in browser.find_element(By.ID, "error").text
    browser.get_log("browser")  # the refused request is an expected console error here

    browser.get(token_server.url + "?token=s3cret")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return document.getElementById('model').value") == MODEL)
    browser.find_element(By.ID, "start").click()
    s = wait_stats(browser, lambda s: s["framesAnswered"] >= 5, "5 frames answered with the token")
    assert s["errors"] == 0, s["lastError"]
    browser.find_element(By.ID, "start").click()
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
