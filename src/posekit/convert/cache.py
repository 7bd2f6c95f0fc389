"""The converted-model cache: ``$POSEKIT_HOME/onnx/<name>-<source sha256[:16]>[-<shape tag>]-c<N>.onnx``.

The file name carries the hash of the TF.js source (model.json + weights) and the converter's version, so a
changed source or converter never reuses a stale conversion. The cache heals itself:

- every file is written atomically with a record beside it (``NAME.onnx.sha256``: its sha256 and size);
  loading checks the record (about 20 ms for 20 MB) and rebuilds a truncated or corrupt file from the
  verified source, saying so in one line;
- a package model's source files are checked against their pinned sha256 before each conversion, and a
  modified weight file is refused with the fix;
- conversions hold a lock file, so two processes converting the same model both end with a good file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from posekit.atomic import write_atomic
from posekit.convert.core import InputShapes, convert_tfjs
from posekit.convert.graph import source_sha256

# Bumped whenever the converter's output changes (new rewrites, fixed ops): part of every cache file name.
CONVERTER_VERSION = 3

_verified: dict[Path, tuple[int, int]] = {}  # path -> (size, mtime_ns) verified in this process


def cached_onnx(name_or_model_json: str | Path, input_shapes: InputShapes | None = None) -> Path:
    """Path of the ONNX conversion of a model, converting on first use (or when the cached file is damaged).

    ``name_or_model_json`` is a package model name (``"movenet-lightning"``, resolved with
    ``posekit.hub.model_json``) or the path of a TF.js ``model.json``. ``input_shapes`` as in
    ``convert_tfjs``; each distinct value gets its own file.
    """
    from posekit import hub

    source = Path(name_or_model_json)
    packaged = isinstance(name_or_model_json, str) and source.suffix != ".json" and len(source.parts) == 1
    if packaged:
        source = hub.model_json(name_or_model_json)
    stem = f"{source.stem}-{source_sha256(source)[:16]}{shape_tag(input_shapes)}-c{CONVERTER_VERSION}"
    path = hub.cache_dir() / "onnx" / f"{stem}.onnx"

    def build() -> bytes:
        if packaged:
            hub.verify_source(str(name_or_model_json))
        return convert_tfjs(source, input_shapes=input_shapes).SerializeToString()

    return cached_file(path, build, what=f"the verified source {source.name}")


def cached_file(path: Path, build: Callable[[], bytes], what: str) -> Path:
    """``path`` if it matches its sha256 record, else ``build()``'s bytes written there (atomically, under a
    lock, with a new record). ``what`` names the source in the one-line message about a damaged file."""
    state = check_record(path)
    if state == "ok":
        return path
    with _lock(path):
        state = check_record(path)  # another process may have built it while we waited
        if state == "ok":
            return path
        if state != "missing":
            print(f"posekit: {path} is damaged ({state}); rebuilding it from {what}", file=sys.stderr)
        data = build()
        write_atomic(path, data)
        write_atomic(record_path(path), f"{hashlib.sha256(data).hexdigest()} {len(data)}\n".encode())
        _remember(path)
    return path


def record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def check_record(path: Path) -> str:
    """``"ok"``, ``"missing"`` (no file), or why the file does not match its record."""
    if not path.is_file():
        return "missing"
    stat = path.stat()
    if _verified.get(path) == (stat.st_size, stat.st_mtime_ns):
        return "ok"
    try:
        digest, size = record_path(path).read_text().split()
    except (OSError, ValueError):
        return "no hash record"
    if stat.st_size != int(size):
        return f"{stat.st_size} bytes, {size} expected"
    from posekit.hub import sha256_file

    if sha256_file(path) != digest:
        return "sha256 mismatch"
    _remember(path)
    return "ok"


def file_digest(path: Path) -> str:
    """sha256 of ``path``: from its record when the file matches it (no second read), else computed."""
    if check_record(path) == "ok":
        return record_path(path).read_text().split()[0]
    from posekit.hub import sha256_file

    return sha256_file(path)


def _remember(path: Path) -> None:
    stat = path.stat()
    _verified[path] = (stat.st_size, stat.st_mtime_ns)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s ``.lock`` file (advisory; held until the block ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic writes still keep every file whole
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def shape_tag(input_shapes: InputShapes | None) -> str:
    """File-name tag for ``input_shapes``: ``{"input": [1, None, None, 3]}`` -> ``"-input-1xNxNx3"``."""
    if not input_shapes:
        return ""
    parts = []
    for key in sorted(input_shapes):
        dims = "x".join("N" if d is None or d < 0 else str(int(d)) for d in input_shapes[key])
        parts.append(f"{re.sub(r'[^A-Za-z0-9_]', '_', key)}-{dims}")
    return "-" + "-".join(parts)
