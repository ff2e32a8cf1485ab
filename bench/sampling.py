"""Memory sampling for the benchmarks: a peak sampler and what it can sample (/proc)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path


class PeakSampler:
    """Calls ``sample`` every ``interval`` seconds while the block runs; keeps the peak."""

    def __init__(self, sample: Callable[[], int], interval: float = 0.01) -> None:
        self.sample, self.interval, self.peak = sample, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.sample())

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.sample())


def _status(proc_dir: Path) -> dict[str, str]:
    try:
        text = (proc_dir / "status").read_text()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def ffmpeg_children_hwm_kib() -> int:
    """Largest VmHWM (peak RSS, reset by exec) among this process's ffmpeg children.

    ru_maxrss would count the forked Python image before exec, not ffmpeg.
    """
    peak = 0
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            status = _status(Path("/proc") / pid)
            if status.get("Name", "").startswith("ffmpeg") and "VmHWM" in status:
                peak = max(peak, int(status["VmHWM"].split()[0]))
    return peak


def tree_pss_kib(root_pid: int) -> int:
    """PSS of a process and its descendants, ffmpeg children excluded.

    PSS splits shared pages between sharers, so a child caught between fork and
    exec does not count the whole parent twice.
    """
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (status := _status(entry)):
            children.setdefault(int(status["PPid"]), []).append(int(entry.name))
            names[int(entry.name)] = status.get("Name", "")
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        if not names.get(pid, "").startswith("ffmpeg"):
            total += _pss_kib(Path("/proc") / str(pid))
            stack.extend(children.get(pid, []))
    return total


def _pss_kib(proc_dir: Path) -> int:
    try:
        for line in (proc_dir / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def role_pids(marker: str, under: int | None = None) -> list[int]:
    """The topmost processes whose command line holds ``marker`` (e.g. ``embedded api``),
    only among ``under``'s descendants when given (other servers may run beside ours)."""
    parents: dict[int, int] = {}
    marked: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (status := _status(entry)):
            pid = int(entry.name)
            parents[pid] = int(status["PPid"])
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    marked.add(pid)
            except OSError:
                continue

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == under:
                return True
        return False

    return [
        pid for pid in marked if parents.get(pid) not in marked and (under is None or descends(pid))
    ]


def role_pss_kib(marker: str, under: int | None = None) -> int:
    """PSS of the processes ``role_pids`` finds and of their descendants, ffmpeg
    children excluded."""
    return sum(tree_pss_kib(pid) for pid in role_pids(marker, under))


def ffmpeg_rss_kib() -> int:
    """Largest resident size (VmRSS) among the machine's running ffmpeg processes."""
    peak = 0
    for entry in Path("/proc").iterdir():
        status = _status(entry) if entry.name.isdigit() else {}
        if status.get("Name", "").startswith("ffmpeg") and "VmRSS" in status:
            peak = max(peak, int(status["VmRSS"].split()[0]))
    return peak
