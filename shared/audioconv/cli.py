"""The ``audioconv`` command: serve, migrate, sweep, and the client's commands."""

from __future__ import annotations

import argparse
import json
import sys

from audioconv.client import commands as client

DESCRIPTION = "Run the audioconv service (serve, migrate, sweep) or use one (login, convert, ...)."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="audioconv", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the embedded server (API, worker, notifier) on $PORT")
    from audioconv import migrate

    migrate.add_arguments(
        sub.add_parser("migrate", help="apply database migrations to the configured database")
    )
    sub.add_parser("sweep", help="republish tasks that are still due (safe to run any time)")
    client.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command in client.COMMANDS:
        sys.exit(client.run(args))
    from audioconv import logs

    logs.configure()
    if args.command == "serve":
        from audioconv.embedded import serve

        serve()
    elif args.command == "migrate":
        migrate.run(args)
    else:
        from audioconv import bootstrap
        from audioconv.services.recovery import sweep

        deps = bootstrap.build()
        try:
            result = sweep(deps)
        finally:
            deps.close()
        print(json.dumps(result.as_json()))


if __name__ == "__main__":
    main()
