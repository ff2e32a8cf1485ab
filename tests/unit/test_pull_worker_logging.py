"""The cloud pull worker's process logs like every other: `audioconv pull-worker`
starts through audioconv.startup, whose one redacting handler writes JSON lines.

Issue 22, item 13: it used to start with logging.basicConfig, so on App Engine
flexible its lines were neither Cloud Logging JSON nor redacted. worker.yaml sets
AUDIOCONV_LOG_FORMAT=json (the flexible environment sets no GAE_ENV for "auto").
"""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from audioconv import bootstrap, cli, startup
from audioconv.config import Settings
from tests.support.tfmodel import ROOT


class Stop(Exception):
    pass


def test_the_pull_worker_writes_redacted_json_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    worker_env = yaml.safe_load((ROOT / "worker.yaml").read_text())["env_variables"]
    monkeypatch.setenv("AUDIOCONV_LOG_FORMAT", worker_env["AUDIOCONV_LOG_FORMAT"])
    monkeypatch.setenv("AUDIOCONV_SECRET_KEY", "the-pull-workers-signing-key-0123456789")
    # (never connected to: build is stubbed) the worker refuses to start without one.
    monkeypatch.setenv("AUDIOCONV_DATABASE_URL", "postgresql://worker@127.0.0.1/unused")
    built: list[Settings] = []

    def build(settings: Settings) -> None:
        built.append(settings)
        logging.getLogger("audioconv.test").warning(
            "connecting with Authorization: Bearer abcdefgh12345678 password=hunter2 "
            "key the-pull-workers-signing-key-0123456789"
        )
        raise Stop

    monkeypatch.setattr(bootstrap, "build", build)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        with pytest.raises(Stop):
            cli.main(["pull-worker"])
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        startup._configured.clear()  # the next test's configure_logging installs again
    assert len(built) == 1  # the settings went through startup to bootstrap
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    (line,) = [entry for entry in lines if entry.get("logger") == "audioconv.test"]
    assert line["severity"] == "WARNING"
    for secret in ("hunter2", "abcdefgh12345678", "the-pull-workers-signing-key-0123456789"):
        assert secret not in line["message"]
    assert "[redacted]" in line["message"]
