"""Choose the API's gunicorn workers and threads for an App Engine instance class.

Runs the upload API as app.yaml runs it (functions-framework, WORKERS and THREADS
from the environment) on the CPUs an instance class has (``taskset``; F1/F2 are a
fraction of one core, F4 about one core, so ``--cpus 1`` stands for them), against
real PostgreSQL, and puts the locust scenarios of bench/locustfile.py on it from
the other core(s). Prints requests/min, failures and p95 for each WORKERS x THREADS.

What it does not imitate: Cloud SQL's and Cloud Storage's network latency (the
blobs go to local disk, conversion requests to the database queue, which nothing
consumes here). More threads hide that latency, so the cloud wants at least the
threads this finds.

Usage: .venv/bin/python bench/appengine_api.py [--cpus 1] [--workers 1,2]
       [--threads 4,8,16] [--users 20] [--seconds 30] [--scenario LoginUpload]
Not part of the test suite; the figures are for reading, not asserting.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from load import SCENARIOS, make_upload, print_stats, start_locust  # noqa: E402

from tests.support.procs import BIN, free_port, running  # noqa: E402

PG = "postgresql+pg8000://postgres@127.0.0.1:5432"


def fresh_database() -> str:
    """A new, migrated PostgreSQL database; its URL."""
    name = f"audioconv_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    url = f"{PG}/{name}"
    env = {**os.environ, "AUDIOCONV_DATABASE_URL": url}
    subprocess.run([str(BIN / "audioconv"), "migrate"], env=env, check=True)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpus", type=int, default=1, help="CPUs the API may use")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--threads", default="4,8,16")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--scenario", default="LoginUpload", choices=SCENARIOS)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    api_cpus = ",".join(str(c) for c in range(args.cpus))
    load_cpus = ",".join(str(c) for c in range(args.cpus, cores)) or api_cpus
    print(f"API on CPU {api_cpus}, locust on CPU {load_cpus}; {args.scenario}, "
          f"{args.users} users, {args.seconds:.0f} s per setting")  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory(prefix="audioconv-appengine-") as tmpdir:
        tmp = Path(tmpdir)
        upload = make_upload(tmp / "upload.mp3")
        for workers, threads in itertools.product(
            [int(w) for w in args.workers.split(",")], [int(t) for t in args.threads.split(",")]
        ):
            env = {
                "WORKERS": str(workers),
                "THREADS": str(threads),
                "PYTHONPATH": "shared",
                "AUDIOCONV_DATABASE_URL": fresh_database(),
                "AUDIOCONV_EVENT_BACKEND": "queue",
                "AUDIOCONV_DATA_DIR": str(tmp / f"data-{workers}x{threads}"),
                "AUDIOCONV_QUOTA_TASKS_IN_FLIGHT": "0",
            }
            port = free_port()
            log = tmp / f"api-{workers}x{threads}.log"
            command = [
                "taskset", "-c", api_cpus, str(BIN / "functions-framework"),
                "--source", "functions/upload_api/main.py", "--target", "api",
                "--signature-type", "http", "--port", str(port),
            ]  # fmt: skip
            with running(command, env, port, log):
                print(f"\n== WORKERS={workers} THREADS={threads}")
                locust = start_locust(args.scenario, f"http://127.0.0.1:{port}", args, tmp,
                                      upload)  # fmt: skip
                subprocess.run(["taskset", "-a", "-p", "-c", load_cpus, str(locust.pid)],
                               check=True, stdout=subprocess.DEVNULL)  # fmt: skip
                locust.wait()
                figures = print_stats(tmp / f"{args.scenario}_stats.csv", args.seconds)
            results.append((workers, threads, figures))
    print("\nWORKERS THREADS  req/min  failures  p95 ms")
    for workers, threads, f in results:
        print(f"{workers:7} {threads:7} {f['rpm']:8.0f} {f['failures']:9.0f} {f['p95']:7.0f}")


if __name__ == "__main__":
    main()
