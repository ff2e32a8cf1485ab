#!/usr/bin/env python3
"""Render what a deploy needs from Terraform outputs (scripts/deploy.sh runs it).

Values such as the bucket or the Cloud SQL connection name are known only after
``terraform apply``. So app.yaml, worker.yaml and notify.yaml hold the static
settings and ``includes:`` one generated file each:

    .deploy/api.env.yaml  .deploy/worker.env.yaml  .deploy/notify.env.yaml

(mode 0600, in a directory that ignores itself in git and that .gcloudignore
keeps out of the uploaded source). Each service's deployable is its yaml with
its own ``service_account:`` added (the e-mail holds the project ID, so the
committed yaml cannot name it): ``app.deploy.yaml``, ``worker.deploy.yaml``,
``notify.deploy.yaml`` beside the originals (gcloud takes a service's source
folder from its yaml's). It also writes the Cloud Run jobs' environments,
``.deploy/migrate.env.yaml`` and ``.deploy/sweep.env.yaml`` (``gcloud run jobs
deploy --env-vars-file``), ``.deploy/migrate.args`` (the migrate job's
arguments), and ``.deploy/deploy.env``, the names scripts/deploy.sh uses.

No secret value is written: each secret setting is rendered as the resource name
of its Secret Manager version (``AUDIOCONV_SECRET_KEY_SECRET=projects/P/secrets/
audioconv-secret-key/versions/latest``), which the services read at start-up, so
a rotated secret needs no new render or deploy. gcloud only checks that each
secret has an enabled version (its metadata; the value is never read).

    python3 scripts/render_deploy_config.py                  # terraform + gcloud
    python3 scripts/render_deploy_config.py --tf-output-json out.json --secrets-json s.json

Only the standard library: it runs in Cloud Shell with no venv.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# App Engine service -> its yaml at the repository root.
SERVICES: dict[str, str] = {"api": "app.yaml", "worker": "worker.yaml", "notify": "notify.yaml"}

# Env var -> terraform output, for every service.
COMMON_FROM_TERRAFORM: dict[str, str] = {
    "AUDIOCONV_GCP_PROJECT": "project_id",
    "AUDIOCONV_GCS_BUCKET": "bucket_name",
    "AUDIOCONV_CLOUD_SQL_INSTANCE": "sql_instance_connection_name",
    "AUDIOCONV_DB_NAME": "db_name",
    "AUDIOCONV_DB_IAM_AUTH": "db_iam_auth",
    "AUDIOCONV_DB_PRIVATE_IP": "db_private_ip",
    "AUDIOCONV_CONVERSION_TOPIC": "conversion_topic",
    "AUDIOCONV_FINISHED_TOPIC": "finished_topic",
    "AUDIOCONV_REPORT_TOPIC": "report_topic",
    "AUDIOCONV_WEBHOOK_TOPIC": "webhook_topic",
    "AUDIOCONV_PUBLIC_URL": "api_url",
    "AUDIOCONV_PUSH_SERVICE_ACCOUNT": "push_service_account_email",
    "AUDIOCONV_MAIL_FROM": "mail_from",
    "AUDIOCONV_SMTP_HOST": "smtp_host",
    "AUDIOCONV_SMTP_PORT": "smtp_port",
    "AUDIOCONV_SMTP_USER": "smtp_user",
    "AUDIOCONV_SMTP_STARTTLS": "smtp_starttls",
    "AUDIOCONV_RETENTION_HOURS": "retention_hours",
}

# Env var -> terraform output, per service: the notifier's OIDC push audience,
# the worker's pull subscriptions.
SERVICE_FROM_TERRAFORM: dict[str, dict[str, str]] = {
    "api": {},
    "worker": {
        "AUDIOCONV_CONVERSION_SUBSCRIPTION": "conversion_subscription",
        "AUDIOCONV_DIRECT_UPLOAD_SUBSCRIPTION": "direct_upload_subscription",
        "AUDIOCONV_REPORT_SUBSCRIPTION": "report_subscription",
    },
    "notify": {"AUDIOCONV_PUSH_AUDIENCE": "notify_url"},
}

# Env var naming a secret version -> key of the `secret_ids` output, per service
# (least privilege: only notify sends mail). DB_PASSWORD_SECRET is left out when
# db_iam_auth is on.
SECRETS: dict[str, dict[str, str]] = {
    "api": {
        "AUDIOCONV_SECRET_KEY_SECRET": "secret_key",
        "AUDIOCONV_DB_PASSWORD_SECRET": "db_password",
    },
    "worker": {
        "AUDIOCONV_SECRET_KEY_SECRET": "secret_key",
        "AUDIOCONV_DB_PASSWORD_SECRET": "db_password",
    },
    "notify": {
        "AUDIOCONV_SECRET_KEY_SECRET": "secret_key",
        "AUDIOCONV_DB_PASSWORD_SECRET": "db_password",
        "AUDIOCONV_SMTP_PASSWORD_SECRET": "smtp_password",
    },
}

# Secrets that may have no version yet (an SMTP relay without authentication).
OPTIONAL_SECRETS = {"smtp_password"}

# Env var -> key of the `service_accounts` output: the API signs upload and
# download URLs as itself (IAM signBlob).
SIGNER = {"api": {"AUDIOCONV_SIGNING_SERVICE_ACCOUNT": "api"}, "worker": {}, "notify": {}}

# What `audioconv migrate` needs (the migrate job), taken from the api
# service's env. The secret key too: start-up refuses to go on without one once
# a Cloud SQL instance is configured (issue 22, item 1).
MIGRATE_KEYS = [
    "AUDIOCONV_GCP_PROJECT",
    "AUDIOCONV_CLOUD_SQL_INSTANCE",
    "AUDIOCONV_DB_NAME",
    "AUDIOCONV_DB_USER",
    "AUDIOCONV_DB_PASSWORD_SECRET",
    "AUDIOCONV_DB_IAM_AUTH",
    "AUDIOCONV_DB_PRIVATE_IP",
    "AUDIOCONV_SECRET_KEY_SECRET",
]
# And the sweep job (`python -m audioconv.cli sweep`): the database, the topics it
# republishes to, and the bucket it deletes expired tasks' files from.
SWEEP_KEYS = [
    *MIGRATE_KEYS,
    "AUDIOCONV_GCS_BUCKET",
    "AUDIOCONV_RETENTION_HOURS",
    "AUDIOCONV_CONVERSION_TOPIC",
    "AUDIOCONV_FINISHED_TOPIC",
    "AUDIOCONV_REPORT_TOPIC",
    "AUDIOCONV_WEBHOOK_TOPIC",
    "AUDIOCONV_PUBLIC_URL",
]
# What every job sets besides: Cloud Run jobs set no GAE_* or K_SERVICE variable,
# so "auto" would log text; the data folder is the job's in-memory /tmp.
# One unit of work at a time: two connections (tests/infra/test_capacity.py).
JOB_STATIC = {
    "AUDIOCONV_LOG_FORMAT": "json",
    "AUDIOCONV_DATA_DIR": "/tmp/audioconv",
    "AUDIOCONV_DB_POOL_SIZE": "1",
    "AUDIOCONV_DB_MAX_OVERFLOW": "1",
}
# App Engine service -> runtime account key (`service_accounts`, `db_users`).
ACCOUNT = {"api": "api", "worker": "worker", "notify": "notify"}
# Where each service's deployable goes, beside its committed yaml.
DEPLOYABLE = {svc: yaml.replace(".yaml", ".deploy.yaml") for svc, yaml in SERVICES.items()}

# (project, secret id) -> whether the secret has an enabled latest version.
SecretChecker = Callable[[str, str], bool]


class RenderError(Exception):
    pass


def terraform_outputs(tf_dir: Path) -> dict[str, object]:
    """`terraform output -json`, flattened to name -> value."""
    raw = subprocess.run(
        ["terraform", f"-chdir={tf_dir}", "output", "-json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return flatten_outputs(json.loads(raw))


def flatten_outputs(data: Mapping[str, object]) -> dict[str, object]:
    """Accept both `terraform output -json` ({name: {value: ...}}) and plain {name: value}."""
    flat: dict[str, object] = {}
    for name, item in data.items():
        wrapped = isinstance(item, dict) and "value" in item
        if wrapped and set(item) <= {"value", "type", "sensitive"}:
            flat[name] = item["value"]
        else:
            flat[name] = item
    return flat


def gcloud_has_version(project: str, secret_id: str) -> bool:
    """Whether the secret's latest version exists and is enabled (metadata only)."""
    proc = subprocess.run(
        [
            "gcloud",
            "secrets",
            "versions",
            "describe",
            "latest",
            f"--secret={secret_id}",
            f"--project={project}",
            "--format=value(state)",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        if "NOT_FOUND" in proc.stderr or "not found" in proc.stderr.lower():
            return False
        raise RenderError(f"gcloud could not describe secret {secret_id}: {proc.stderr.strip()}")
    return proc.stdout.strip() == "ENABLED"


def secret_version(project: str, secret_id: str) -> str:
    """The resource name the services read the secret's newest version by."""
    return f"projects/{project}/secrets/{secret_id}/versions/latest"


def env_value(value: object) -> str:
    """App Engine env values are strings; booleans as the code parses them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def render_env(
    service: str, outputs: Mapping[str, object], has_version: SecretChecker
) -> dict[str, str]:
    """The env_variables of one service's generated include file."""
    mapping = {**COMMON_FROM_TERRAFORM, **SERVICE_FROM_TERRAFORM[service]}
    missing = sorted({out for out in mapping.values() if out not in outputs})
    if missing:
        raise RenderError(f"terraform outputs missing: {', '.join(missing)} (run terraform apply)")
    env = {var: env_value(outputs[out]) for var, out in mapping.items()}
    env["AUDIOCONV_DB_USER"] = env_value(_map(outputs, "db_users")[ACCOUNT[service]])
    for var, key in SIGNER[service].items():
        env[var] = env_value(_map(outputs, "service_accounts")[key])

    secret_ids = outputs.get("secret_ids")
    if not isinstance(secret_ids, Mapping):
        raise RenderError("terraform output secret_ids is missing")
    iam_auth = outputs.get("db_iam_auth") is True
    project = str(outputs["project_id"])
    for var, key in SECRETS[service].items():
        if var == "AUDIOCONV_DB_PASSWORD_SECRET" and iam_auth:
            continue
        secret_id = str(secret_ids[key])
        if not has_version(project, secret_id):
            if key in OPTIONAL_SECRETS:
                continue  # no password: render again after adding one
            raise RenderError(f"secret {secret_id} has no enabled version")
        env[var] = secret_version(project, secret_id)
    return env


def _map(outputs: Mapping[str, object], name: str) -> Mapping[str, object]:
    value = outputs.get(name)
    if not isinstance(value, Mapping):
        raise RenderError(f"terraform output {name} is missing (run terraform apply)")
    return value


def migrate_as_owner(
    env: dict[str, str], outputs: Mapping[str, object], has_version: SecretChecker
) -> None:
    """Point the migrate job at the built-in user (db_admin_user), which owns schema
    public, and its password's secret."""
    secret_ids = _map(outputs, "secret_ids")
    project, secret_id = str(outputs["project_id"]), str(secret_ids["db_password"])
    if not has_version(project, secret_id):
        raise RenderError(f"secret {secret_id} has no enabled version")
    env["AUDIOCONV_DB_USER"] = env_value(outputs["db_admin_user"])
    env["AUDIOCONV_DB_IAM_AUTH"] = "false"
    env["AUDIOCONV_DB_PASSWORD_SECRET"] = secret_version(project, secret_id)


def migrate_args(outputs: Mapping[str, object]) -> list[str]:
    """The migrate job's arguments (the image's entrypoint, `audioconv`): migrate,
    then grant data access to every login that is not the owner."""
    owner = str(outputs["db_admin_user"])
    logins = sorted({str(u) for u in _map(outputs, "db_users").values()} - {owner})
    return ["migrate", *(f"--grant-to={login}" for login in logins)]


def sweep_env(api: Mapping[str, str], outputs: Mapping[str, object]) -> dict[str, str]:
    """The sweep job's environment: the API's database settings and topics, logged in
    as the sweep's own account."""
    env = {k: api[k] for k in SWEEP_KEYS if k in api} | JOB_STATIC
    env["AUDIOCONV_EVENT_BACKEND"] = "pubsub"
    env["AUDIOCONV_BLOB_BACKEND"] = "gcs"
    env["AUDIOCONV_DB_USER"] = env_value(_map(outputs, "db_users")["sweep"])
    return env


def deployable(service: str, outputs: Mapping[str, object]) -> str:
    """A service's committed yaml with its runtime account added."""
    text = (ROOT / SERVICES[service]).read_text()
    account = env_value(_map(outputs, "service_accounts")[ACCOUNT[service]])
    return (
        f"# Generated by scripts/render_deploy_config.py from {SERVICES[service]}: do not edit.\n"
        f"{text.rstrip()}\n\n"
        "# The version's runtime identity (Terraform output service_accounts).\n"
        f"service_account: {account}\n"
    )


def deploy_names(outputs: Mapping[str, object]) -> dict[str, str]:
    """What scripts/deploy.sh reads from .deploy/deploy.env."""
    accounts, jobs = _map(outputs, "service_accounts"), _map(outputs, "jobs")
    names = {f"SA_{key.upper()}": env_value(email) for key, email in accounts.items()}
    names |= {f"JOB_{key.upper()}": env_value(name) for key, name in jobs.items()}
    names |= {
        "PROJECT_ID": env_value(outputs["project_id"]),
        "REGION": env_value(outputs["region"]),
        "API_URL": env_value(outputs["api_url"]),
        "SA_SCHEDULER": env_value(outputs["scheduler_service_account_email"]),
        "IMAGE_REPOSITORY": env_value(outputs["image_repository"]),
        "JOB_NETWORK": env_value(outputs.get("db_private_network")),
        "JOB_SUBNET": env_value(outputs.get("job_subnetwork")),
    }
    return names


def yaml_map(env: Mapping[str, str]) -> str:
    """A flat YAML map of strings (gcloud run jobs deploy --env-vars-file)."""
    lines = ["# Generated by scripts/render_deploy_config.py; do not edit or commit."]
    lines += [f"{key}: {json.dumps(value)}" for key, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    path.chmod(0o600)


def yaml_env_file(env: Mapping[str, str]) -> str:
    # JSON strings are valid YAML scalars: quoting stays right for any secret.
    lines = [
        "# Generated by scripts/render_deploy_config.py; do not edit or commit.",
        "env_variables:",
    ]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def render(
    outputs: Mapping[str, object],
    has_version: SecretChecker,
    out_dir: Path,
    deployables_dir: Path | None = None,
) -> dict[str, Path]:
    """Write every service's include file and deployable, the jobs' environments and
    deploy.env; return service -> include path. Deployables go beside the committed
    yaml (``deployables_dir``, by default the repository root)."""
    written: dict[str, Path] = {}
    envs = {svc: render_env(svc, outputs, has_version) for svc in SERVICES}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ".gitignore").write_text("# Rendered per project: never commit.\n*\n")
    for svc, env in envs.items():
        path = out_dir / f"{svc}.env.yaml"
        write_private(path, yaml_env_file(env))
        written[svc] = path
        write_private((deployables_dir or ROOT) / DEPLOYABLE[svc], deployable(svc, outputs))
    migrate = {k: envs["api"][k] for k in MIGRATE_KEYS if k in envs["api"]} | JOB_STATIC
    # The IAM users may not create tables in schema public (PostgreSQL 15): migrate
    # as the built-in user that owns it, then grant the others data access.
    migrate_as_owner(migrate, outputs, has_version)
    write_private(out_dir / "migrate.env.yaml", yaml_map(migrate))
    write_private(out_dir / "migrate.args", ",".join(migrate_args(outputs)) + "\n")
    write_private(out_dir / "sweep.env.yaml", yaml_map(sweep_env(envs["api"], outputs)))
    write_private(
        out_dir / "deploy.env",
        "".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(deploy_names(outputs).items())),
    )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tf-dir", type=Path, default=ROOT / "infra" / "terraform")
    parser.add_argument(
        "--tf-output-json",
        type=Path,
        help="saved `terraform output -json` instead of running terraform",
    )
    parser.add_argument(
        "--secrets-json",
        type=Path,
        help="JSON {secret_id: value} of the secrets that have a version, instead of asking "
        "gcloud (only the ids are used)",
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / ".deploy")
    parser.add_argument(
        "--deployables-dir",
        type=Path,
        default=ROOT,
        help="where the *.deploy.yaml files go (beside the committed yaml)",
    )
    args = parser.parse_args(argv)

    try:
        if args.tf_output_json:
            outputs = flatten_outputs(json.loads(args.tf_output_json.read_text()))
        else:
            outputs = terraform_outputs(args.tf_dir)
        has_version: SecretChecker = gcloud_has_version
        if args.secrets_json:
            given = json.loads(args.secrets_json.read_text())

            def has_version(_project: str, secret_id: str) -> bool:
                return secret_id in given

        written = render(outputs, has_version, args.out_dir, args.deployables_dir)
    except (RenderError, subprocess.CalledProcessError, OSError, ValueError) as exc:
        print(f"render_deploy_config: {exc}", file=sys.stderr)
        return 1
    for svc, path in written.items():
        print(f"{DEPLOYABLE[svc]}: {SERVICES[svc]} with its service account, including {path}")
    print(f"jobs: {args.out_dir / 'migrate.env.yaml'}, {args.out_dir / 'sweep.env.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
