"""Memory of the API while it streams a batch's ZIP: flat, whatever the ZIP's size.

Starts `audioconv serve`, uploads two batches of WAV files converted to wav (the
audio is copied, so this costs little CPU): a small one (two 5 s files) and a
large one (``--files`` files of ``--minutes`` minutes), downloads each batch's ZIP
over HTTP as a slow-ish client would (reading in 64 KiB pieces), and samples the
PSS of the API processes of that server while it streams. Prints each ZIP's size,
the download time and the API's peak PSS over its idle PSS.

Usage: .venv/bin/python bench/bench_batch_zip.py [--files 3] [--minutes 10]
Not part of the test suite; the figures are for reading, not asserting.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from sampling import PeakSampler, tree_pss_kib  # noqa: E402

from audioconv.adapters.ffmpeg import wheel_binaries  # noqa: E402
from tests.support.http_api import HttpApi  # noqa: E402
from tests.support.procs import BIN, free_port, running  # noqa: E402

FFMPEG, _ = wheel_binaries()


def make_wav(path: Path, seconds: float) -> Path:
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}", "-ac", "2", str(path)],
        check=True,
    )  # fmt: skip
    return path


def api_pss_kib(root_pid: int) -> int:
    """PSS of this server's API processes (``embedded api`` under ``root_pid``)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent = int(next(line.split()[1] for line in (entry / "status").read_text()
                              .splitlines() if line.startswith("PPid:")))  # fmt: skip
        except (OSError, StopIteration):
            continue
        if "embedded api" in cmdline and parent == root_pid:
            total += tree_pss_kib(int(entry.name))
    return total


def upload_batch(api: HttpApi, files: list[Path]) -> int:
    handles = [path.open("rb") for path in files]
    try:
        response = requests.post(
            f"{api.base}/api/tasks", headers=api.headers, timeout=600,
            files=[("fileName", (p.name, fh)) for p, fh in zip(files, handles, strict=True)],
            data={"newFormat": "wav"},
        )  # fmt: skip
    finally:
        for fh in handles:
            fh.close()
    assert response.status_code == 201, response.text
    batch = response.json()
    for task in batch["tasks"]:
        assert api.wait(task["id"], timeout=600)["status"] == "processed"
    return int(batch["id"])


def download_zip(api: HttpApi, batch_id: int, dest: Path, root_pid: int) -> tuple[int, float, int]:
    """Size, seconds and the API's peak PSS (KiB) of one ZIP download."""
    start = time.perf_counter()
    with PeakSampler(lambda: api_pss_kib(root_pid)) as peak:
        api.download(f"/api/batches/{batch_id}/zip", dest)
    seconds = time.perf_counter() - start
    with zipfile.ZipFile(dest) as archive:
        assert archive.testzip() is None
    return dest.stat().st_size, seconds, peak.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of each large file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="audioconv-bench-zip-") as tmpdir:
        tmp = Path(tmpdir)
        small = [make_wav(tmp / f"short{i}.wav", 5) for i in range(2)]
        large = [make_wav(tmp / f"long{i}.wav", args.minutes * 60) for i in range(args.files)]
        port = free_port()
        env = {"AUDIOCONV_DATA_DIR": str(tmp / "data"), "AUDIOCONV_API_WORKERS": "1"}
        args_ = [str(BIN / "audioconv"), "serve"]
        with running(args_, env, port, tmp / "server.log") as server:
            api = HttpApi(f"http://127.0.0.1:{port}", "zipper")
            ids = [upload_batch(api, small), upload_batch(api, large)]
            time.sleep(1)
            idle = api_pss_kib(server.pid)
            print(f"API process, idle after the uploads: {idle / 1024:6.1f} MiB PSS")
            for label, batch_id in zip(("small", "large"), ids, strict=True):
                size, seconds, peak = download_zip(api, batch_id, tmp / f"{label}.zip", server.pid)
                print(f"{label} batch ZIP: {size / 1e6:8.1f} MB in {seconds:5.2f} s "
                      f"({size / 1e6 / seconds:6.1f} MB/s); API peak {peak / 1024:6.1f} MiB "
                      f"(+{(peak - idle) / 1024:.1f})")  # fmt: skip
                (tmp / f"{label}.zip").unlink()


if __name__ == "__main__":
    main()
