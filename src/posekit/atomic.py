"""Atomic file writes: a temporary file in the target's folder, then a rename.

A reader sees the old file or the new one, never half of one; an interrupted write leaves no file behind.
Every posekit output (JSON, PNG, ONNX, checkpoints, caches) goes through ``write_atomic``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def file_mode() -> int:
    """0o666 less the process umask (mkstemp makes 0600 files; outputs get the usual permissions)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (creating its folder) through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
