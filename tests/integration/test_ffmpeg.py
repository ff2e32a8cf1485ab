"""The ffmpeg adapter on the pinned ffmpeg: each format as input and as output."""

from __future__ import annotations

import shutil
import signal
import sys
from pathlib import Path

import pytest

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


def test_env_may_point_at_another_binary(tmp_path: Path) -> None:
    fake = tmp_path / "ffprobe"
    fake.write_text("#!/bin/sh\necho 'custom ffprobe says no' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(UnsupportedMedia, match="custom ffprobe says no"):
        FfmpegTranscoder(ffprobe_path=str(fake)).probe(tmp_path / "x")


@pytest.mark.skipif(shutil.which("chrt") is None, reason="needs util-linux chrt")
def test_conversions_run_at_the_idle_cpu_priority(tmp_path: Path) -> None:
    """ffmpeg converts under SCHED_IDLE: it only gets CPU time the API does not want."""
    src = make_audio(tmp_path / "a.wav", 0.5)
    seen = tmp_path / "policy.txt"
    real = FfmpegTranscoder()
    script = fake_ffmpeg(tmp_path, f"chrt -p $$ > {seen}; exit 1")
    with pytest.raises(ConversionFailed):
        FfmpegTranscoder(script, real.ffprobe).convert(
            src, job(real.probe(src), "mp3"), tmp_path / "o.mp3", lambda _: None
        )
    assert "SCHED_IDLE" in seen.read_text()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_ffmpeg_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """Its parent-death signal is SIGKILL: a worker killed outright leaves no ffmpeg."""
    src = make_audio(tmp_path / "a.wav", 0.5)
    seen = tmp_path / "privileges.txt"
    real = FfmpegTranscoder()
    # exec: a child of the script would not inherit it (fork clears it).
    asks = (
        "import ctypes, sys; libc = ctypes.CDLL(None); sig = ctypes.c_int();"
        " libc.prctl(2, ctypes.byref(sig)); sys.stdout.write(str(sig.value)); sys.exit(1)"
    )  # PR_GET_PDEATHSIG
    script = fake_ffmpeg(tmp_path, f"exec {sys.executable} -c '{asks}' > {seen}")
    with pytest.raises(ConversionFailed):
        FfmpegTranscoder(script, real.ffprobe).convert(
            src, job(real.probe(src), "mp3"), tmp_path / "o.mp3", lambda _: None
        )
    assert seen.read_text() == str(int(signal.SIGKILL))
