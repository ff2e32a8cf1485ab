#!/usr/bin/env python3
"""Render the per-service App Engine env files from Terraform outputs.

Values such as the bucket or the Cloud SQL connection name are known only after
``terraform apply``. So app.yaml, worker.yaml and notify.yaml hold the static
settings and ``includes:`` one generated file each:

    .deploy/api.env.yaml  .deploy/worker.env.yaml  .deploy/notify.env.yaml

(mode 0600, in a directory that ignores itself in git and that .gcloudignore
keeps out of the uploaded source). It also writes ``.deploy/migrate.env``, shell
exports for running ``audioconv migrate`` against Cloud SQL.

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
    "AUDIOCONV_DB_USER": "db_user",
    "AUDIOCONV_DB_IAM_AUTH": "db_iam_auth",
    "AUDIOCONV_DB_PRIVATE_IP": "db_private_ip",
    "AUDIOCONV_CONVERSION_TOPIC": "conversion_topic",
    "AUDIOCONV_FINISHED_TOPIC": "finished_topic",
    "AUDIOCONV_REPORT_TOPIC": "report_topic",
    "AUDIOCONV_WEBHOOK_TOPIC": "webhook_topic",
    "AUDIOCONV_PUBLIC_URL": "api_url",
    "AUDIOCONV_SIGNING_SERVICE_ACCOUNT": "app_service_account_email",
    "AUDIOCONV_PUSH_SERVICE_ACCOUNT": "push_service_account_email",
    "AUDIOCONV_MAIL_FROM": "mail_from",
    "AUDIOCONV_SMTP_HOST": "smtp_host",
    "AUDIOCONV_SMTP_PORT": "smtp_port",
    "AUDIOCONV_SMTP_USER": "smtp_user",
    "AUDIOCONV_SMTP_STARTTLS": "smtp_starttls",
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

# What `audioconv migrate` needs, taken from the api service's env.
MIGRATE_KEYS = [
    "AUDIOCONV_GCP_PROJECT",
    "AUDIOCONV_CLOUD_SQL_INSTANCE",
    "AUDIOCONV_DB_NAME",
    "AUDIOCONV_DB_USER",
    "AUDIOCONV_DB_PASSWORD_SECRET",
    "AUDIOCONV_DB_IAM_AUTH",
    "AUDIOCONV_DB_PRIVATE_IP",
]

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


def migrate_as_owner(
    env: dict[str, str], outputs: Mapping[str, object], has_version: SecretChecker
) -> None:
    """Point migrate.env at the built-in user (db_admin_user) and its password's secret."""
    secret_ids = outputs["secret_ids"]
    assert isinstance(secret_ids, Mapping)
    project, secret_id = str(outputs["project_id"]), str(secret_ids["db_password"])
    if not has_version(project, secret_id):
        raise RenderError(f"secret {secret_id} has no enabled version")
    env["AUDIOCONV_DB_USER"] = env_value(outputs["db_admin_user"])
    env["AUDIOCONV_DB_IAM_AUTH"] = "false"
    env["AUDIOCONV_DB_PASSWORD_SECRET"] = secret_version(project, secret_id)


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
    outputs: Mapping[str, object], has_version: SecretChecker, out_dir: Path
) -> dict[str, Path]:
    """Write every service's include file and migrate.env; return service -> path."""
    written: dict[str, Path] = {}
    envs = {svc: render_env(svc, outputs, has_version) for svc in SERVICES}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / ".gitignore").write_text("# Rendered per project: never commit.\n*\n")
    for svc, env in envs.items():
        path = out_dir / f"{svc}.env.yaml"
        write_private(path, yaml_env_file(env))
        written[svc] = path
    migrate = {k: envs["api"][k] for k in MIGRATE_KEYS if k in envs["api"]}
    if outputs.get("db_iam_auth") is True:
        # The IAM user may not create tables in schema public (PostgreSQL 15):
        # migrate as the built-in user that owns it, then grant the IAM user
        # data access (`python -m audioconv.migrate --grant-to`, docs/deploy.md).
        migrate_as_owner(migrate, outputs, has_version)
    write_private(
        out_dir / "migrate.env",
        "".join(f"export {k}={shlex.quote(v)}\n" for k, v in migrate.items()),
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

        written = render(outputs, has_version, args.out_dir)
    except (RenderError, subprocess.CalledProcessError, OSError, ValueError) as exc:
        print(f"render_deploy_config: {exc}", file=sys.stderr)
        return 1
    for svc, path in written.items():
        print(f"{SERVICES[svc]} includes {path}")
    print(f"migration env: source {args.out_dir / 'migrate.env'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
