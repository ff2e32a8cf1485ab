"""Benchmark: what request ids and access logging add to each API request.

Sends the same cheap request (``GET /api/formats``, no database) through the
Flask app's WSGI interface in three set-ups and prints microseconds per request:

- ``bare``: the app without the request-log hooks (no request id, no access line);
- ``hooks``: request id, trace, context and ``X-Request-Id``, access line off (WARNING);
- ``json`` / ``text``: all of it, one redacted access line per request, to /dev/null.

Not part of the test suite.

    .venv/bin/python bench/bench_logging.py [--requests 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from flask import Flask  # noqa: E402

from audioconv import bootstrap, logs  # noqa: E402
from audioconv.config import LogSettings, Settings  # noqa: E402
from audioconv.entrypoints import request_log  # noqa: E402
from audioconv.entrypoints.api import create_app  # noqa: E402


def without_hooks(app: Flask) -> Flask:
    for funcs in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        for hook in (request_log._begin, request_log._answer, request_log._end):
            if hook in funcs.get(None, []):
                funcs[None].remove(hook)
    return app


def per_request_us(app: Flask, requests: int, rounds: int) -> float:
    """The fastest round's mean, in microseconds (the least disturbed by other load)."""
    client = app.test_client()
    headers = {"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}
    for _ in range(200):  # warm up
        client.get("/api/formats", headers=headers)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(requests):
            client.get("/api/formats", headers=headers)
        best = min(best, (time.perf_counter() - start) / requests * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open("/dev/null", "w") as sink:
        deps = bootstrap.build(Settings(data_dir=Path(tmp), secret_key="b" * 40))
        setups: dict[str, tuple[Callable[[], Flask], LogSettings]] = {
            "bare": (lambda: without_hooks(create_app(lambda: deps)),
                     LogSettings(log_format="text", log_level="WARNING")),
            "hooks": (lambda: create_app(lambda: deps),
                      LogSettings(log_format="text", log_level="WARNING")),
            "text": (lambda: create_app(lambda: deps), LogSettings(log_format="text")),
            "json": (lambda: create_app(lambda: deps),
                     LogSettings(log_format="json", gcp_project="p")),
        }  # fmt: skip
        results = {}
        for name, (make, log_settings) in setups.items():
            logs.configure(log_settings, stream=sink)
            results[name] = per_request_us(make(), args.requests, args.rounds)
        deps.close()
    bare = results["bare"]
    for name, us in results.items():
        extra = "" if name == "bare" else f"  (+{us - bare:.1f} us, +{(us / bare - 1) * 100:.1f} %)"
        print(f"{name:>5}: {us:8.1f} us/request{extra}")


if __name__ == "__main__":
    main()
