"""Benchmark: what request ids and access logging add to each API request.

Sends the cheapest request there is (a route added here that answers ``ok``)
through the API's Flask app (its WSGI interface, no network) in four set-ups,
round after round in turn (a noisy machine disturbs all alike), and prints the
fastest round's CPU microseconds per request (process time: waiting for a busy
machine's cores does not count):

- ``bare``: the app without the request-log hooks (no request id, no access line);
- ``hooks``: request id, trace, context and ``X-Request-Id``, access line off (WARNING);
- ``json`` / ``text``: all of it, one redacted access line per request, to /dev/null;

then what one access line costs alone: in each format, and with the plain
``logging.basicConfig`` handler the embedded server had before (no redaction).

Not part of the test suite.

    .venv/bin/python bench/bench_logging.py [--requests 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
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


HEADERS = {"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/1;o=1"}


def with_bench_route(app: Flask) -> Flask:
    @app.get("/bench")
    def bench() -> str:
        return "ok"

    return app


def round_us(app: Flask, requests: int) -> float:
    """One round's mean, in microseconds."""
    client = app.test_client()
    start = time.process_time()
    for _ in range(requests):
        client.get("/bench", headers=HEADERS)
    return (time.process_time() - start) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, open("/dev/null", "w") as sink:
        deps = bootstrap.build(Settings(data_dir=Path(tmp), secret_key="b" * 40))
        quiet = LogSettings(log_format="text", log_level="WARNING")
        setups: dict[str, tuple[Flask, LogSettings]] = {
            "bare": (without_hooks(with_bench_route(create_app(deps))), quiet),
            "hooks": (with_bench_route(create_app(deps)), quiet),
            "text": (with_bench_route(create_app(deps)), LogSettings(log_format="text")),
            "json": (with_bench_route(create_app(deps)),
                     LogSettings(log_format="json", gcp_project="p")),
        }  # fmt: skip
        results = {name: float("inf") for name in setups}
        for round_ in range(args.rounds + 1):  # the first round warms up
            for name, (app, log_settings) in setups.items():
                logs.configure(log_settings, stream=sink)
                us = round_us(app, args.requests if round_ else 200)
                if round_:
                    results[name] = min(results[name], us)
        logs.configure(LogSettings(log_format="text"))
        deps.close()
    per_line = line_us(args.requests)
    bare = results["bare"]
    for name, us in results.items():
        extra = "" if name == "bare" else f"  (+{us - bare:.1f} us, +{(us / bare - 1) * 100:.1f} %)"
        print(f"{name:>5}: {us:8.1f} us/request{extra}")
    for name, us in per_line.items():
        print(f"one access line, {name}, to /dev/null: {us:.1f} us")


PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def line_us(lines: int) -> dict[str, float]:
    """What writing one access line costs by itself (formatting and redaction included)."""
    out: dict[str, float] = {}
    http = {"requestMethod": "GET", "requestUrl": "/api/tasks/12", "status": 200,
            "latency": "0.004100s"}  # fmt: skip
    with open("/dev/null", "w") as sink:
        formats = {"stdlib (before)": None, "text": LogSettings(log_format="text"),
                   "json": LogSettings(log_format="json", gcp_project="p")}  # fmt: skip
        for name, settings in formats.items():
            if settings is None:  # what the embedded server had: basicConfig's handler
                logs.configure(LogSettings(log_level="WARNING"), stream=sink)
                plain = logging.StreamHandler(sink)
                plain.setFormatter(logging.Formatter(PLAIN))
                root = logging.getLogger()
                root.handlers = [plain]
                root.setLevel(logging.INFO)
            else:
                logs.configure(settings, stream=sink)
            best = float("inf")
            with logs.bound(request_id=logs.new_request_id(), task_id=12, user_id=3,
                            trace_id="105445aa7843bc8bf206b12000100000"):  # fmt: skip
                for _ in range(5):
                    start = time.process_time()
                    for _ in range(lines):
                        request_log.access_log.info(
                            "%s %s %s %.1f ms", "GET", "/api/tasks/12", 200, 4.1,
                            extra={"http_request": http},
                        )  # fmt: skip
                    best = min(best, (time.process_time() - start) / lines * 1e6)
            out[name] = best
    logs.configure(LogSettings(log_format="text"))
    return out


if __name__ == "__main__":
    main()
