"""Benchmark: what checking a token on each request costs, against another version of
the code (``main``: the token's signature and its user's row; this branch: the
signature and the token's record, ``api_tokens``, which is what makes revocation hold).

Sends authenticated reads through the API's Flask app (its WSGI interface, no
network) on SQLite and PostgreSQL: ``GET /api/me`` (the token check and one small
read) and ``GET /api/tasks/<id>``; and ``GET /healthz`` (no token, no database) as
the floor. Each version runs in its own process (``--code DIR`` puts that
``shared`` folder first on the path), the versions alternating round after round so
a noisy machine disturbs both alike; it prints per route and database the median
over rounds of CPU and wall microseconds per request, and the ratio of this code to
the other. Not part of the test suite.

    .venv/bin/python bench/bench_auth.py --compare /work/main/shared [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ROUTES = ("/healthz", "/api/me", "/api/tasks/{task}")


def measure(code: str, requests: int) -> dict[str, dict[str, float]]:
    """In this process, with ``code`` first on the path: microseconds per request."""
    sys.path[:0] = [code, str(ROOT)]
    from sqlalchemy import create_engine

    from audioconv import bootstrap, migrate
    from audioconv.config import Settings
    from audioconv.entrypoints.api import create_app
    from audioconv.services import auth
    from tests.support.audio import make_audio
    from tests.support.db import fresh_postgres_database

    assert Path(sys.modules["audioconv"].__file__ or "").is_relative_to(code), code
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp, fresh_postgres_database() as pg:
        song = make_audio(Path(tmp) / "song.wav", 0.5)
        for kind, url in (("sqlite", f"sqlite:///{tmp}/bench.db"), ("postgresql", pg)):
            engine = create_engine(url)
            migrate.upgrade(engine)
            engine.dispose()
            settings = Settings(data_dir=Path(tmp) / kind, database_url=url, report_pass=False,
                                secret_key="bench-secret-key-that-is-long-enough-0123")  # fmt: skip
            deps = bootstrap.build(settings)
            try:
                client = create_app(deps).test_client()
                body = {"username": "bench", "email": "bench@example.com",
                        "password1": "bench-password", "password2": "bench-password"}  # fmt: skip
                token = client.post("/api/auth/signup", json=body).get_json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                with song.open("rb") as fh:
                    task = client.post("/api/tasks", headers=headers,
                                       content_type="multipart/form-data",
                                       data={"fileName": (fh, "song.wav"), "newFormat": "mp3"},
                                       ).get_json()["id"]  # fmt: skip
                deadline = time.monotonic() + 60
                while client.get(f"/api/tasks/{task}", headers=headers).get_json()[
                    "status"
                ] not in ("processed", "failed"):
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                check = getattr(auth, "caller", auth.authenticate)  # what login_required calls
                for _ in range(50):
                    check(deps, headers["Authorization"])
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(requests):
                    check(deps, headers["Authorization"])
                results[f"{kind} token check alone"] = {
                    "cpu_us": (time.process_time() - cpu) / requests * 1e6,
                    "wall_us": (time.perf_counter() - wall) / requests * 1e6,
                }
                for route in ROUTES:
                    path = route.format(task=task)
                    for _ in range(50):  # warm up: pools, caches
                        assert client.get(path, headers=headers).status_code == 200
                    cpu, wall = time.process_time(), time.perf_counter()
                    for _ in range(requests):
                        client.get(path, headers=headers)
                    results[f"{kind} {route}"] = {
                        "cpu_us": (time.process_time() - cpu) / requests * 1e6,
                        "wall_us": (time.perf_counter() - wall) / requests * 1e6,
                    }
            finally:
                deps.close()
    return results


def compare(other: str, rounds: int, requests: int) -> None:
    versions = {"this": str(ROOT / "shared"), "other": other}
    runs: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in versions}
    for n in range(rounds):
        order = list(versions) if n % 2 == 0 else list(reversed(versions))
        for name in order:
            out = subprocess.run(
                [sys.executable, __file__, "--code", versions[name], "--requests", str(requests)],
                check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""},
            ).stdout  # fmt: skip
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
        print(f"round {n + 1}/{rounds} done", file=sys.stderr)
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}, {os.cpu_count()} cores")
    print(f"{rounds} rounds x {requests} requests; this = {ROOT}, other = {other}")
    for pick, name in ((min, "fastest round"), (statistics.median, "median over rounds")):
        print(f"\n{name}: {'database route':30} {'cpu us this':>11} {'other':>7} {'ratio':>6}"
              f"   {'wall us this':>12} {'other':>7} {'ratio':>6}")  # fmt: skip
        for key in runs["this"][0]:
            row = []
            for metric in ("cpu_us", "wall_us"):
                this = pick(r[key][metric] for r in runs["this"])
                that = pick(r[key][metric] for r in runs["other"])
                row.append(f"{this:11.0f} {that:7.0f} {this / that:6.2f}")
            print(f"{' ' * len(name)}  {key:30} {row[0]}   {row[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compare", metavar="SHARED_DIR", help="the other code's shared/")
    parser.add_argument("--code", metavar="SHARED_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    if args.code:
        result: Any = measure(args.code, args.requests)
        print(json.dumps(result))
    elif args.compare:
        compare(args.compare, args.rounds, args.requests)
    else:
        print(json.dumps(measure(str(ROOT / "shared"), args.requests), indent=2))


if __name__ == "__main__":
    main()
