"""The cloud pull worker's process logs like every other: through logs.configure().

Issue 22, item 13: it used to start with logging.basicConfig, so on App Engine
flexible its lines were neither Cloud Logging JSON nor redacted. worker.yaml sets
AUDIOCONV_LOG_FORMAT=json (the flexible environment sets no GAE_ENV for "auto").
"""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from audioconv import bootstrap
from audioconv.entrypoints import pull_worker
from tests.infra.tfmodel import ROOT


class Stop(Exception):
    pass


def test_the_pull_worker_writes_redacted_json_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    worker_env = yaml.safe_load((ROOT / "worker.yaml").read_text())["env_variables"]
    monkeypatch.setenv("AUDIOCONV_LOG_FORMAT", worker_env["AUDIOCONV_LOG_FORMAT"])

    def build() -> None:
        logging.getLogger("audioconv.test").warning(
            "connecting with Authorization: Bearer abcdefgh12345678 password=hunter2"
        )
        raise Stop

    monkeypatch.setattr(bootstrap, "build", build)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        with pytest.raises(Stop):
            pull_worker.main()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    (line,) = [entry for entry in lines if entry.get("logger") == "audioconv.test"]
    assert line["severity"] == "WARNING"
    assert "hunter2" not in line["message"] and "abcdefgh12345678" not in line["message"]
    assert "[redacted]" in line["message"]
