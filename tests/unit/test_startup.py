"""startup.py, the one way every process starts: logging configured once, the
settings' secrets resolved and hidden before anything is built."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from audioconv import bootstrap, logs, startup
from audioconv.config import Settings


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    """The root logger as it was, and startup's memory of it, after the test."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, list(startup._configured))
    startup._configured.clear()
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        startup._configured[:] = saved[2]


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, logs._Handler)]


def test_logging_is_configured_once_per_process(
    fresh_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIOCONV_LOG_FORMAT", "json")
    startup.configure_logging()
    (first,) = _ours()
    startup.configure_logging()  # the function's import, then its first request
    assert _ours() == [first], "a second call replaced the handler"
    assert isinstance(first.formatter, logs.CloudFormatter)
    monkeypatch.setenv("AUDIOCONV_LOG_FORMAT", "text")  # other settings: installed anew
    startup.configure_logging()
    (second,) = _ours()
    assert second is not first and isinstance(second.formatter, logs.TextFormatter)


def test_start_builds_from_resolved_settings(
    fresh_logging: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The embedded mode's key file is made before the adapters are built, and its
    key is hidden from every log line from then on."""
    monkeypatch.delenv("AUDIOCONV_SECRET_KEY", raising=False)
    monkeypatch.setenv("AUDIOCONV_DATA_DIR", str(tmp_path))
    built: list[Settings] = []
    monkeypatch.setattr(bootstrap, "build", lambda settings: built.append(settings))
    startup.start("sweep")
    (settings,) = built
    key = (tmp_path / "secret_key").read_text()
    assert settings.signing_key == key and len(key) >= 32
    assert logs.redact(f"the key is {key}") == f"the key is {logs.REDACTED}"


def test_a_setting_that_cannot_start_stops_the_start(
    fresh_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIOCONV_EVENT_BACKEND", "pubsub")
    monkeypatch.setenv("AUDIOCONV_SECRET_KEY", "short")
    monkeypatch.setattr(bootstrap, "build", lambda settings: pytest.fail("built anyway"))
    with pytest.raises(bootstrap.SettingsError, match="too short"):
        startup.start("pull-worker")
