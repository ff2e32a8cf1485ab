"""The ffmpeg adapter on the pinned ffmpeg: each format as input and as output."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from audioconv.adapters import ffmpeg as ffmpeg_adapter
from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.domain.errors import ConversionFailed, UnsupportedMedia
from audioconv.domain.formats import FORMATS
from tests.support.audio import decoded_duration, job, make_audio, probe
from tests.support.procs import fake_ffmpeg

SECONDS = 1.5
ENCODE_ARGS = {
    "mp3": ("-c:a", "libmp3lame"), "aac": ("-c:a", "aac"), "m4a": ("-c:a", "aac"),
    "ogg": ("-c:a", "libvorbis"), "opus": ("-c:a", "libopus"), "wav": (),
    "flac": (), "wma": ("-c:a", "wmav2"), "aiff": (), "alac": ("-c:a", "alac"),
}  # fmt: skip
CONTAINER = {
    "mp3": "mp3", "aac": "aac", "m4a": "mov,mp4,m4a,3gp,3g2,mj2", "ogg": "ogg", "opus": "ogg",
    "wav": "wav", "flac": "flac", "wma": "asf", "aiff": "aiff", "alac": "mov,mp4,m4a,3gp,3g2,mj2",
}  # fmt: skip


@pytest.fixture(scope="module")
def transcoder() -> FfmpegTranscoder:
    return FfmpegTranscoder()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    return {
        name: make_audio(
            folder / f"tone-{name}.{FORMATS[name].extension}", SECONDS, ENCODE_ARGS[name]
        )
        for name in FORMATS
    }


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_is_recognised_as_input(
    transcoder: FfmpegTranscoder, sources: dict[str, Path], name: str
) -> None:
    found = transcoder.probe(sources[name])
    assert found.format == name
    assert found.codec == FORMATS[name].probe_codec
    assert abs(found.duration - SECONDS) < 0.1
    assert found.channels == 2


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_converts_to_and_from_wav_and_mp3(
    transcoder: FfmpegTranscoder, sources: dict[str, Path], tmp_path: Path, name: str
) -> None:
    for src_name, dst_name in ((name, "mp3" if name != "mp3" else "wav"), ("wav", name)):
        src = sources[src_name]
        dst = tmp_path / f"out-{src_name}.{FORMATS[dst_name].extension}"
        progress: list[float] = []
        transcoder.convert(src, job(transcoder.probe(src), dst_name), dst, progress.append)
        info = probe(dst)
        stream = info["streams"][0]
        assert info["format"]["format_name"] == CONTAINER[dst_name]
        assert stream["codec_name"] == FORMATS[dst_name].probe_codec
        assert abs(decoded_duration(dst) - decoded_duration(src)) < 0.1, (src_name, dst_name)
        assert all(0 <= p < 100 for p in progress)


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"", "not an audio file"), (b"\x00garbage" * 512, "not an audio file"),
     (b"#EXTM3U\n#EXTINF:1,\nfile:///etc/passwd\n", "not an audio file")],
)  # fmt: skip
def test_probe_refuses_what_is_not_audio(
    transcoder: FfmpegTranscoder, tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "bad.mp3"
    path.write_bytes(content)
    with pytest.raises(UnsupportedMedia, match=needle):
        transcoder.probe(path)


def test_env_may_point_at_another_binary(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = tmp_path / "ffprobe"
    ran = tmp_path / "custom ffprobe ran"
    fake.write_text(f"#!/bin/sh\ntouch '{ran}'\necho 'Invalid argument' >&2\nexit 1\n")
    fake.chmod(0o755)
    # Its refusal is ours, never ffprobe's error number; its words go to the log only.
    with pytest.raises(UnsupportedMedia, match=r"^not an audio file we can read: the formats"):
        FfmpegTranscoder(ffprobe_path=str(fake)).probe(tmp_path / "x")
    assert ran.exists()
    assert "Invalid argument" in caplog.text


# What a child reports of itself: scheduling policy, nice level, parent-death signal.
_SELF_REPORT = (
    "import ctypes, os, sys; sig = ctypes.c_int();"
    " ctypes.CDLL(None).prctl(2, ctypes.byref(sig));"  # PR_GET_PDEATHSIG
    " sys.stdout.write(' '.join(map(str, (os.sched_getscheduler(0),"
    " os.getpriority(os.PRIO_PROCESS, 0), sig.value)))); sys.exit(1)"
)


@pytest.fixture(params=["exec chain", "preexec fallback"])
def confinement(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a child is confined: tools exec'ing into it, or a preexec function."""
    if request.param == "exec chain":
        if not all(map(shutil.which, ("prlimit", "setpriv"))):
            pytest.skip("needs util-linux prlimit and setpriv")
    else:
        monkeypatch.setattr(ffmpeg_adapter, "_PRLIMIT", None)
    return str(request.param)


def niced(adjustment: int) -> str:
    """The nice level ``nice -n adjustment`` gives a child of this process."""
    return str(min(19, os.getpriority(os.PRIO_PROCESS, 0) + adjustment))


@pytest.mark.skipif(sys.platform != "linux", reason="prctl is Linux's")
def test_conversions_run_at_the_lowest_priority_and_die_with_the_worker(
    tmp_path: Path, confinement: str
) -> None:
    """ffmpeg converts at nice 19, not SCHED_IDLE (it gets the CPU the API leaves), and
    its parent-death signal is SIGKILL: a worker killed outright leaves no ffmpeg."""
    src = make_audio(tmp_path / "a.wav", 0.5)
    seen = tmp_path / "self.txt"
    real = FfmpegTranscoder()
    # exec: a child of the script would not inherit the parent-death signal.
    script = fake_ffmpeg(tmp_path, f'exec {sys.executable} -c "{_SELF_REPORT}" > {seen}')
    with pytest.raises(ConversionFailed):
        FfmpegTranscoder(script, real.ffprobe).convert(
            src, job(real.probe(src), "mp3"), tmp_path / "o.mp3", lambda _: None
        )
    assert seen.read_text().split() == [
        str(os.SCHED_OTHER),
        niced(ffmpeg_adapter.CONVERSION_NICE),
        str(int(signal.SIGKILL)),
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="prctl is Linux's")
def test_probes_run_at_the_configured_nice_level(tmp_path: Path, confinement: str) -> None:
    """A probe is on an upload's path: ``nice`` (AUDIOCONV_FFMPEG_NICE), not the lowest."""
    seen = tmp_path / "self.txt"
    script = fake_ffmpeg(tmp_path, f'exec {sys.executable} -c "{_SELF_REPORT}" > {seen}')
    with pytest.raises(UnsupportedMedia):
        FfmpegTranscoder(script, script, nice=7).probe(make_audio(tmp_path / "a.wav", 0.5))
    assert seen.read_text().split() == [str(os.SCHED_OTHER), niced(7), str(int(signal.SIGKILL))]
