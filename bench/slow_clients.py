"""Slow clients against `audioconv serve` (as `make run` runs it): what normal clients see
while 200 connections send a login body one byte every few seconds (issue 18, finding 4).

For each worker class (ours, ``audioconv.gunicorn_worker.BufferingThreadWorker``, and
gunicorn's plain ``gthread`` for comparison) it starts a fresh server and, in alternating
rounds, measures normal clients (``GET /healthz`` and a wrong-password login, one after
another from a few threads) with no slow connection open, then with ``--slow`` of them
open and trickling. It prints p50/p95/max and failures per round and the medians, and
the ratio of p95 with slow clients to p95 without (same server, same run).

Usage: .venv/bin/python bench/slow_clients.py [--slow 200] [--rounds 3] [--seconds 10]
       [--worker ours|gthread|both]
Not part of the test suite; the figures are for reading, not asserting. Every request
goes to 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from tests.support.procs import BIN, free_port, running  # noqa: E402

LOGIN = b'{"username": "slowpoke", "password": "not-the-password"}'
WORKERS = {"ours": "", "gthread": "gthread"}


def slow_connections(port: int, count: int, stop: threading.Event) -> threading.Thread:
    """``count`` connections that send a login's head, then its body a byte every 2 s."""
    head = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(LOGIN)
    )

    def run() -> None:
        socks = []
        for _ in range(count):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(head)
                socks.append([sock, 0])
            except OSError:
                pass
        deadline = time.monotonic() + 600
        while not stop.wait(2.0) and time.monotonic() < deadline:
            for entry in socks:
                sock, sent = entry
                if sent < len(LOGIN) - 1:  # never the last byte: the body never ends
                    try:
                        sock.sendall(LOGIN[sent : sent + 1])
                        entry[1] = sent + 1
                    except OSError:  # cut by the server: open another, like an attacker
                        try:
                            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                            sock.sendall(head)
                            entry[0], entry[1] = sock, 0
                        except OSError:
                            pass
        for sock, _ in socks:
            sock.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def normal_clients(port: int, seconds: float, threads: int = 4) -> tuple[list[float], int]:
    """Latencies (s) of healthz and login requests, and how many failed or timed out."""
    base = f"http://127.0.0.1:{port}"
    times: list[float] = []
    failures = [0]
    end = time.monotonic() + seconds

    def loop() -> None:
        with requests.Session() as session:
            while time.monotonic() < end:
                for method, url, body in (("GET", "/healthz", None),
                                          ("POST", "/api/auth/login", LOGIN)):  # fmt: skip
                    start = time.monotonic()
                    try:
                        response = session.request(
                            method, base + url, data=body, timeout=10,
                            headers={"Content-Type": "application/json"},
                        )  # fmt: skip
                        ok = response.status_code in (200, 401, 429)
                    except requests.RequestException:
                        ok = False
                    times.append(time.monotonic() - start)
                    failures[0] += not ok

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return times, failures[0]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else float("nan")


def measure(worker: str, args: argparse.Namespace, tmp: Path) -> None:
    port = free_port()
    env = {"AUDIOCONV_DATA_DIR": str(tmp / f"data-{worker}")}
    if WORKERS[worker]:
        env["AUDIOCONV_API_WORKER_CLASS"] = WORKERS[worker]
    results: dict[str, list[float]] = {"quiet": [], "slow": []}
    with running([str(BIN / "audioconv"), "serve"], env, port, tmp / f"{worker}.log"):
        for round_ in range(args.rounds):
            # Alternate which comes first, so drift of the machine's load is shared.
            order = ("quiet", "slow") if round_ % 2 == 0 else ("slow", "quiet")
            for kind in order:
                stop = threading.Event()
                if kind == "slow":
                    slow_connections(port, args.slow, stop)
                    time.sleep(3)  # all open and trickling
                times, failed = normal_clients(port, args.seconds)
                stop.set()
                time.sleep(0.5)
                results[kind].append(p95(times))
                print(f"{worker:8} round {round_ + 1} {kind:5}: {len(times):5} requests, "
                      f"p50 {statistics.median(times) * 1000:7.1f} ms, "
                      f"p95 {p95(times) * 1000:7.1f} ms, max {max(times) * 1000:7.1f} ms, "
                      f"failed {failed}", flush=True)  # fmt: skip
    quiet, slow = statistics.median(results["quiet"]), statistics.median(results["slow"])
    print(f"{worker:8} median p95: {quiet * 1000:.1f} ms quiet, {slow * 1000:.1f} ms with "
          f"{args.slow} slow connections; ratio {slow / quiet:.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slow", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--worker", default="both", choices=[*WORKERS, "both"])
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="slow-clients-") as tmp:
        for worker in WORKERS if args.worker == "both" else (args.worker,):
            measure(worker, args, Path(tmp))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
