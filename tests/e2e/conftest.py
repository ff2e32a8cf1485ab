"""Fixtures of the end-to-end tests that need a cloud stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pubsub_emulator import running_pubsub_emulator


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[str]:
    """host:port of Google's Pub/Sub emulator (tests/support/pubsub_emulator.py)."""
    with running_pubsub_emulator() as host:
        yield host
