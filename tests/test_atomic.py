"""The one atomic-write primitive: content, usual permissions, and nothing left behind on failure."""

from __future__ import annotations

import os
import stat

import pytest

from posekit.atomic import file_mode, write_atomic


def test_writes_content_with_usual_permissions(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_atomic(target, b"[1, 2]")
    assert target.read_bytes() == b"[1, 2]"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == file_mode() == 0o666 & ~mask


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.json"
    write_atomic(target, b"old")
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
