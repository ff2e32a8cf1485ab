"""Fixtures of the service-layer unit tests: the services wired to fakes of every port."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import fake_deps


@pytest.fixture
def deps(tmp_path: Path) -> Dependencies:
    """The services' dependencies, each port a fake (tests/unit/fakes.py)."""
    return fake_deps(tmp_path)


@pytest.fixture
def upload(tmp_path: Path) -> Path:
    """A file the fake transcoder takes for audio."""
    path = tmp_path / "in.mp3"
    path.write_bytes(b"AUDIO some samples")
    return path
