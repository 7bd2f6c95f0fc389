"""Shared fixtures: the real-data folder beside the checkout, and the model package cache."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real datasets); tests that need it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def model_package() -> Path:
    """The extracted model package (downloaded from the npm registry on first use)."""
    from posekit import hub

    return hub.ensure_package(progress=False)
