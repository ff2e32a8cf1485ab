"""The deploy configuration as the infra and cloud tests see it.

The render script (scripts/render_deploy_config.py) loaded as a module, a fake
project's ``terraform output`` and Secret Manager versions to render from, the
committed App Engine yaml, and the functions their entrypoints must run.
"""

from __future__ import annotations

import ast
import importlib.util
import shlex
import sys
from types import ModuleType
from typing import Any

import yaml

from tests.support.tfmodel import ROOT, Terraform


def _load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_deploy_config", ROOT / "scripts" / "render_deploy_config.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


render = _load_render()

# Function each App Engine standard service runs: (source, target, signature type).
FUNCTIONS = {
    "app.yaml": ("functions/upload_api/main.py", "api", "http"),
    "notify.yaml": ("functions/notify/main.py", "notify", "cloudevent"),
}
DECORATOR = {"http": "http", "cloudevent": "cloud_event"}
ACCOUNTS = ("api", "worker", "notify", "sweep", "migrate")
# The fake project's secret versions, by secret id.
SECRET_VALUES = {
    "audioconv-db-password": "db-pass'\"word",
    "audioconv-secret-key": "signing-key-of-the-cloud-at-least-32-chars",
    "audioconv-smtp-password": "smtp: pass",
}


def load_yaml(name: str) -> dict[str, Any]:
    """A committed yaml file at the repository's root, parsed."""
    with (ROOT / name).open() as f:
        data = yaml.safe_load(f)
    assert isinstance(data, dict)
    return data


def fake_outputs(tf: Terraform, *, iam_auth: bool = True, project: str = "proj") -> dict[str, Any]:
    """A `terraform output` for a project, with one value per declared output."""
    host = f"{project}.uc.r.appspot.com"
    accounts = {key: f"audioconv-{key}@{project}.iam.gserviceaccount.com" for key in ACCOUNTS}
    db_users = {
        key: email.removesuffix(".gserviceaccount.com")
        if iam_auth and key != "migrate"
        else "audioconv"
        for key, email in accounts.items()
    }
    known: dict[str, Any] = {
        "project_id": project,
        "region": "us-central1",
        "api_url": f"https://{host}",
        "worker_url": f"https://worker-dot-{host}",
        "notify_url": f"https://notify-dot-{host}",
        "conversion_subscription": "audioconv-conversion-requests-worker",
        "direct_upload_subscription": "audioconv-direct-uploads-worker",
        "report_subscription": "audioconv-report-requests-worker",
        "sql_instance_connection_name": f"{project}:us-central1:audioconv-pg",
        "db_iam_auth": iam_auth,
        "db_private_ip": False,
        "db_private_network": None,
        "job_subnetwork": None,
        "db_users": db_users,
        "db_admin_user": "audioconv",
        "smtp_port": 587,
        "smtp_starttls": True,
        "retention_hours": 0,
        "service_accounts": accounts,
        "scheduler_service_account_email": f"audioconv-scheduler@{project}.iam.gserviceaccount.com",
        "jobs": {"migrate": "audioconv-migrate", "sweep": "audioconv-sweep"},
        "image_repository": f"us-central1-docker.pkg.dev/{project}/audioconv",
        "push_service_account_email": f"audioconv-push@{project}.iam.gserviceaccount.com",
        "secret_ids": {k: f"audioconv-{k.replace('_', '-')}" for k in tf.locals["secrets"]},
    }
    return {name: known.get(name, f"fake-{name}") for name in tf.outputs}


def fake_has_version(project: str, secret_id: str) -> bool:
    """Whether the fake project's secret has a version (the render script asks)."""
    assert project == "proj"
    return secret_id in SECRET_VALUES


def secret_manager_of_proj() -> dict[str, str]:
    """The fake project's secret versions, by resource name."""
    return {
        f"projects/proj/secrets/{secret_id}/versions/latest": value
        for secret_id, value in SECRET_VALUES.items()
    }


def parse_entrypoint(command: str) -> tuple[str, str, str]:
    """(source, target, signature type) of a `functions-framework` command line."""
    args = shlex.split(command)
    assert args[0] == "functions-framework"
    opts = dict(a[2:].split("=", 1) for a in args[1:] if a.startswith("--") and "=" in a)
    assert opts.get("port") in (None, "$PORT", "${PORT:-8080}")
    return opts["source"], opts["target"], opts["signature-type"]


def assert_function_exists(source: str, target: str, signature: str) -> None:
    """The source file defines ``target`` with the Functions Framework decorator of its type."""
    path = ROOT / source
    assert path.is_file(), f"{source} missing"
    tree = ast.parse(path.read_text())
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert target in funcs, f"{source} has no function {target}"
    decorators = {ast.unparse(d) for d in funcs[target].decorator_list}
    assert f"functions_framework.{DECORATOR[signature]}" in decorators, (source, decorators)
