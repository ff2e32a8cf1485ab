"""Secret settings read from Secret Manager once, at start-up (bootstrap.resolve_secrets).

There is no Secret Manager emulator, so google-cloud-secret-manager's client class
is replaced by a small stub (tests/infra/secret_stub.py); what is tested is our
resolution logic: which names are read, into which settings, and the errors.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from audioconv import bootstrap
from audioconv.config import Settings
from tests.infra.secret_stub import StubSecretManager

KEY = "projects/p/secrets/audioconv-secret-key/versions/latest"
DB = "projects/p/secrets/audioconv-db-password/versions/3"
SMTP = "projects/p/secrets/audioconv-smtp-password/versions/latest"
VALUES = {KEY: "k" * 64, DB: "db pass\nword", SMTP: "smtp:pass"}
CLOUD = {"blob_backend": "gcs", "gcs_bucket": "b"}


@pytest.fixture(autouse=True)
def stub(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SECRET_KEY", "DB_PASSWORD", "SMTP_PASSWORD"):
        monkeypatch.delenv(f"AUDIOCONV_{var}", raising=False)
        monkeypatch.delenv(f"AUDIOCONV_{var}_SECRET", raising=False)
    StubSecretManager.install(monkeypatch, VALUES)


def test_each_named_version_fills_its_setting_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOCONV_SECRET_KEY_SECRET", KEY)
    monkeypatch.setenv("AUDIOCONV_DB_PASSWORD_SECRET", DB)
    monkeypatch.setenv("AUDIOCONV_SMTP_PASSWORD_SECRET", SMTP)

    read = Settings(**CLOUD)
    assert StubSecretManager.clients == 0, "reading the settings asks nothing"
    settings = bootstrap.resolve_secrets(read)

    assert settings.signing_key == "k" * 64
    assert settings.db_password == "db pass\nword"  # as stored, byte for byte
    assert settings.smtp_password == "smtp:pass"
    assert StubSecretManager.clients == 1
    assert sorted(StubSecretManager.accessed) == sorted([KEY, DB, SMTP])


def test_without_names_secret_manager_is_never_asked() -> None:
    settings = bootstrap.resolve_secrets(Settings(secret_key="x" * 32, **CLOUD))
    assert settings.secret_key == "x" * 32
    assert StubSecretManager.clients == 0


def test_a_value_and_a_name_for_one_setting_is_refused() -> None:
    with pytest.raises(
        ValidationError, match="AUDIOCONV_DB_PASSWORD or AUDIOCONV_DB_PASSWORD_SECRET"
    ):
        Settings(db_password="x", db_password_secret=DB)
    assert StubSecretManager.accessed == []


@pytest.mark.parametrize(
    "name", ["audioconv-secret-key", "projects/p/secrets/s", "projects/p/secrets/s/versions/"]
)
def test_a_name_that_is_no_version_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="AUDIOCONV_SECRET_KEY_SECRET must be a secret"):
        Settings(secret_key_secret=name)
    assert StubSecretManager.accessed == []


def test_a_missing_version_stops_the_start_naming_it() -> None:
    missing = "projects/p/secrets/audioconv-secret-key/versions/9"
    with pytest.raises(bootstrap.SettingsError) as refused:
        bootstrap.resolve_secrets(Settings(secret_key_secret=missing, **CLOUD))
    assert f"cannot read a secret from Secret Manager: {missing}" in str(refused.value)


def test_a_short_key_from_secret_manager_is_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    StubSecretManager.install(monkeypatch, {KEY: "short"})
    with pytest.raises(
        bootstrap.SettingsError, match="AUDIOCONV_SECRET_KEY must be set to at least 32"
    ):
        bootstrap.resolve_secrets(Settings(secret_key_secret=KEY, **CLOUD))
