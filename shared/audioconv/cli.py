"""The ``audioconv`` command: every process of the service, and the client's commands.

- ``serve``: the embedded service (API, workers, notifier; embedded.py);
- ``pull-worker``: the cloud worker, Pub/Sub streaming pull (App Engine flexible);
- ``function api|convert|notify``: one function under functions-framework on $PORT,
  against the cloud settings;
- ``migrate [--grant-to ROLE]``, ``sweep``: the Cloud Run jobs (and by hand);
- login, convert, tasks, ...: the client (client/commands.py), which reads no
  server settings.

Each server command starts through ``startup`` (settings, logging once, dependencies).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from audioconv.client import commands as client

DESCRIPTION = (
    "Run the audioconv service (serve, pull-worker, function, migrate, sweep) "
    "or use one (login, convert, ...)."
)
# The folder of functions/*/main.py: beside shared/ (the repository, the image's /app).
FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
# function name -> (source, target, signature type): as app.yaml and notify.yaml run them.
FUNCTIONS = {
    "api": ("functions/upload_api/main.py", "api", "http"),
    "convert": ("functions/convert_worker/main.py", "convert", "cloudevent"),
    "notify": ("functions/notify/main.py", "notify", "cloudevent"),
}
# A function alone refused: sysexits' EX_USAGE.
EX_USAGE = 64


def parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="audioconv", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the embedded server (API, worker, notifier) on $PORT")
    sub.add_parser(
        "pull-worker",
        help="the cloud worker: pull conversions, report passes and direct uploads from "
        "Pub/Sub, health checks on $PORT (App Engine flexible, worker.yaml)",
    )
    function = sub.add_parser(
        "function",
        help="one function under functions-framework on $PORT, against the cloud settings "
        "(its database migrated: audioconv migrate)",
    )
    function.add_argument("name", choices=sorted(FUNCTIONS))
    from audioconv import migrate

    migrate.add_arguments(
        sub.add_parser("migrate", help="apply database migrations to the configured database")
    )
    sub.add_parser("sweep", help="republish tasks that are still due (safe to run any time)")
    client.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command in client.COMMANDS:
        sys.exit(client.run(args))
    from audioconv import startup

    if args.command == "serve":
        from audioconv.embedded import serve

        serve(startup.settings("serve"))
    elif args.command == "pull-worker":
        from audioconv.entrypoints import pull_worker

        _need_a_shared_database("pull-worker")
        sys.exit(pull_worker.run(startup.start("pull-worker")))
    elif args.command == "function":
        run_function(args.name)
    elif args.command == "migrate":
        from audioconv import migrate

        migrate.run(args, startup.settings("migrate"))
    else:
        from audioconv.services.recovery import sweep

        deps = startup.start("sweep")
        try:
            result = sweep(deps)
        finally:
            deps.close()
        print(json.dumps(result.as_json()))


def _need_a_shared_database(command: str) -> None:
    """Exit (EX_USAGE) unless a shared database is configured: one function or the pull
    worker alone would be half a service on a private SQLite file, its tasks never
    converted."""
    if not (os.environ.get("AUDIOCONV_CLOUD_SQL_INSTANCE") or os.environ.get(
            "AUDIOCONV_DATABASE_URL")):  # fmt: skip
        print(
            f"audioconv {command} runs one function against the cloud settings: set "
            "AUDIOCONV_CLOUD_SQL_INSTANCE (or AUDIOCONV_DATABASE_URL) and the rest "
            "(docs/deploy.md), or run `audioconv serve` for the whole service",
            file=sys.stderr,
        )
        sys.exit(EX_USAGE)


def run_function(name: str) -> None:
    """Become functions-framework serving function ``name`` on $PORT (WORKERS and
    THREADS tune its gunicorn); its module starts through ``startup`` on the first
    request. Refused without a shared database (``_need_a_shared_database``)."""
    _need_a_shared_database(f"function {name}")
    source, target, signature = FUNCTIONS[name]
    argv = [
        sys.executable, "-m", "functions_framework",
        f"--source={FUNCTIONS_DIR.parent / source}", f"--target={target}",
        f"--signature-type={signature}", f"--port={os.environ.get('PORT', '8080')}",
    ]  # fmt: skip
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
