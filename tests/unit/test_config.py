"""Cloud mode refuses to start without a strong token signing key; the settings are
plain data (reading them has no side effect), their secrets resolved at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from audioconv import bootstrap
from audioconv.config import Settings

CLOUD = [
    {"blob_backend": "gcs", "gcs_bucket": "b"},
    {"event_backend": "pubsub", "gcp_project": "p"},
    {"cloud_sql_instance": "p:r:i"},
]


@pytest.mark.parametrize("cloud", CLOUD)
@pytest.mark.parametrize("secret", ["", "short", "x" * 31])
def test_cloud_backends_need_a_long_secret(cloud: dict[str, Any], secret: str) -> None:
    with pytest.raises(bootstrap.SettingsError) as refused:
        bootstrap.resolve_secrets(Settings(secret_key=secret, **cloud))
    assert "AUDIOCONV_SECRET_KEY must be set to at least 32" in str(refused.value)


@pytest.mark.parametrize("cloud", CLOUD)
def test_cloud_backends_start_with_a_long_secret(cloud: dict[str, Any]) -> None:
    settings = bootstrap.resolve_secrets(Settings(secret_key="x" * 32, **cloud))
    assert settings.signing_key == "x" * 32


def test_the_embedded_mode_needs_no_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Reading the settings writes nothing; resolving them makes the key file once."""
    monkeypatch.delenv("AUDIOCONV_SECRET_KEY", raising=False)
    settings = Settings(data_dir=tmp_path)
    assert settings.secret_key == "" and not (tmp_path / "secret_key").exists()
    with pytest.raises(RuntimeError, match="resolved at start-up"):
        settings.signing_key  # noqa: B018 (the property raises)
    key = bootstrap.resolve_secrets(settings).signing_key
    assert len(key) >= 32 and (tmp_path / "secret_key").read_text() == key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert bootstrap.resolve_secrets(Settings(data_dir=tmp_path)).signing_key == key


def test_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOCONV_EVENT_BACKEND", "pubsub")
    monkeypatch.setenv("AUDIOCONV_SECRET_KEY", "change-me")
    with pytest.raises(bootstrap.SettingsError, match="too short"):
        bootstrap.resolve_secrets(Settings())


@pytest.mark.parametrize(
    ("slots", "processes", "shares"),
    [
        (2, 0, [2]),  # auto: one process per 8 slots
        (8, 0, [8]),
        (9, 0, [5, 4]),
        (17, 0, [6, 6, 5]),
        (64, 0, [8] * 8),
        (4, 3, [2, 1, 1]),  # as many as asked, the slots split exactly
        (2, 5, [1, 1]),  # never a process without a slot
        (1, 1, [1]),
    ],
)
def test_worker_processes_share_the_conversion_slots_exactly(
    slots: int, processes: int, shares: list[int]
) -> None:
    settings = Settings(max_concurrent_conversions=slots, worker_processes=processes)
    assert settings.worker_slot_shares == shares
    assert sum(shares) == settings.conversion_slots


def test_a_worker_id_is_short_lowercase_without_separator() -> None:
    assert Settings(worker_id="w17").worker_id == "w17"
    for bad in ("w.1", "W1", "a" * 13):
        with pytest.raises(ValidationError):
            Settings(worker_id=bad)


def test_a_copy_works_out_its_derived_values_from_its_own_settings(tmp_path: Path) -> None:
    settings = Settings(max_concurrent_conversions=2, data_dir=tmp_path / "a")
    assert (settings.conversion_slots, settings.resolved_work_dir) == (2, tmp_path / "a" / "work")
    copy = settings.model_copy(update={"max_concurrent_conversions": 5, "data_dir": tmp_path / "b"})
    assert (copy.conversion_slots, copy.resolved_work_dir) == (5, tmp_path / "b" / "work")
    assert settings.conversion_slots == 2  # the original keeps its own
