"""The short ffmpeg and ffprobe runs, each run once on a one-second file: what they
print or write is what the parsers read (a command line is only right if ffmpeg
agrees). test_ffmpeg_command.py checks the conversion's command on plain data."""

from __future__ import annotations

import array
import hashlib
import math
import struct
import subprocess
from pathlib import Path

import pytest

from audioconv.adapters import ffmpeg_command as command
from audioconv.adapters.ffmpeg_fidelity import parse_md5
from audioconv.adapters.ffmpeg_parse import (
    lacks_duration,
    parse_ebur128,
    parse_probe_json,
    parse_sample_count,
    progress_seconds,
    with_duration,
)
from audioconv.domain.formats import VORBIS_LEVELS
from tests.support.audio import FFMPEG, FFPROBE, make_audio


def _run(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, capture_output=True, timeout=60, check=False)


def _decoded(path: Path) -> bytes:
    """The file's first audio stream as 16-bit PCM, decoded independently."""
    ran = _run([FFMPEG, "-v", "error", "-i", str(path), "-map", "0:a:0",
                "-f", "s16le", "-c:a", "pcm_s16le", "-"])  # fmt: skip
    ran.check_returncode()
    return ran.stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A one-second stereo FLAC tone with a PNG cover, the cover, and an MP3 of it."""
    folder = tmp_path_factory.mktemp("commands")
    tone = make_audio(folder / "tone.flac", seconds=1.0)
    cover = folder / "cover.png"
    _run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "color=red:s=8x6", "-frames:v", "1",
          str(cover)]).check_returncode()  # fmt: skip
    flac = folder / "with-cover.flac"
    _run([FFMPEG, "-v", "error", "-i", str(tone), "-i", str(cover), "-map", "0:a",
          "-map", "1", "-c", "copy", "-disposition:v", "attached_pic", str(flac),
          ]).check_returncode()  # fmt: skip
    mp3 = make_audio(folder / "tone.mp3", seconds=1.0)
    playlist = folder / "list.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:{tone}\n")
    return {"flac": flac, "cover": cover, "mp3": mp3, "playlist": playlist, "dir": folder}


def test_the_probe_is_json_with_the_duration_and_refuses_a_playlist(
    files: dict[str, Path],
) -> None:
    ran = _run(command.probe_command(FFPROBE, files["flac"]))
    assert ran.returncode == 0, ran.stderr
    info = parse_probe_json(ran.stdout)
    assert info["format"]["format_name"] == "flac"
    assert float(info["format"]["duration"]) == pytest.approx(1.0, abs=0.01)
    assert lacks_duration(info) is None  # FLAC says its length
    refused = _run(command.probe_command(FFPROBE, files["playlist"]))
    assert refused.returncode != 0 and refused.stdout.strip() in (b"", b"{\n\n}")


def test_a_duration_is_measured_where_the_container_does_not_say_it_or_is_not_trusted() -> None:
    audio = {"codec_type": "audio", "duration": "2.0"}
    said = {"format": {"format_name": "ogg,x", "duration": "2.0"}, "streams": [audio]}
    assert lacks_duration(said) is None
    unsaid = {"format": {"format_name": "ogg"}, "streams": [{"codec_type": "audio"}]}
    assert lacks_duration(unsaid) == "ogg"
    stream_says = {"format": {"format_name": "ogg"}, "streams": [audio]}
    assert lacks_duration(stream_says) is None
    assert lacks_duration({**said, "format": {"format_name": "mpc8", "duration": "2"}}) == "mpc8"
    assert lacks_duration({"format": said["format"], "streams": [{"codec_type": "video"}]}) is None
    assert lacks_duration({"format": {"duration": "1"}, "streams": [audio]}) is None
    assert lacks_duration({"format": {}, "streams": [{"codec_type": "audio"}]}) is None
    assert lacks_duration({"format": {"format_name": "ogg,x"}, "streams": [{}, audio]}) is None
    assert lacks_duration({**unsaid, "format": {"format_name": "ogg,x"}}) == "ogg"
    container_says = {"format_name": "ogg", "duration": "2"}
    assert lacks_duration({"format": container_says, "streams": [{"codec_type": "audio"}]}) is None
    assert lacks_duration({"format": {"format_name": "ogg"}, "streams": []}) is None
    assert lacks_duration({}) is None
    assert with_duration(unsaid, 3.5) == {"format": {"format_name": "ogg", "duration": "3.5"},
                                          "streams": [{"codec_type": "audio"}]}  # fmt: skip
    assert with_duration(unsaid, None) is unsaid and with_duration(unsaid, 0.0) is unsaid
    assert with_duration({}, 1.5) == {"format": {"duration": "1.5"}}


def test_the_decoded_time_reaches_the_files_length(files: dict[str, Path]) -> None:
    ran = _run(command.decoded_time_command(FFMPEG, files["flac"], "flac"))
    assert ran.returncode == 0, ran.stderr
    times = [progress_seconds(line) for line in ran.stdout.decode().splitlines()]
    # The last report may lag the end by a frame (FLAC's are 0.1 s).
    assert max(t for t in times if t is not None) == pytest.approx(1.0, abs=0.11)


def test_the_cover_is_copied_out_byte_for_byte(files: dict[str, Path]) -> None:
    image = files["dir"] / "copied.png"
    ran = _run(command.cover_command(FFMPEG, files["flac"], "flac", image))
    assert ran.returncode == 0, ran.stderr
    assert image.read_bytes() == files["cover"].read_bytes()


def test_the_true_peak_is_in_the_log(files: dict[str, Path]) -> None:
    ran = _run(command.true_peak_command(FFMPEG, files["flac"]))
    assert ran.returncode == 0, ran.stderr
    (found,) = parse_ebur128(ran.stderr.decode())
    assert found is not None
    samples = array.array("h", _decoded(files["flac"]))
    sample_peak = 20 * math.log10(max(abs(x) for x in samples) / 32768)
    # A tone's true peak is its sample peak (to the meter's 0.1 dB and its oversampling).
    assert found.true_peak == pytest.approx(sample_peak, abs=0.3)


def test_the_md5_is_of_the_decoded_samples_as_asked(files: dict[str, Path]) -> None:
    md5 = files["dir"] / "decoded.md5"
    ran = _run(command.decoded_md5_command(FFMPEG, files["flac"], "pcm_s16le", md5))
    assert ran.returncode == 0, ran.stderr
    samples = _decoded(files["flac"])
    assert len(samples) == 44100 * 2 * 2
    assert parse_md5(md5.read_text()) == hashlib.md5(samples).hexdigest()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("decoded_once", [False, True])
def test_the_report_pass_measures_both_files_draws_both_and_counts_the_output(
    files: dict[str, Path], decoded_once: bool
) -> None:
    png = files["dir"] / f"wave-{decoded_once}.png"
    dst = None if decoded_once else files["mp3"]
    ran = _run(command.report_command(FFMPEG, files["flac"], "flac", dst, png, (1.0, 1.0)))
    assert ran.returncode == 0, ran.stderr
    log = ran.stderr.decode()
    summaries = parse_ebur128(log)
    assert len(summaries) == (1 if decoded_once else 2)
    assert all(s is not None and s.integrated == pytest.approx(-21, abs=1.5) for s in summaries)
    # The output's samples at WAVEFORM_RATE: an MP3 adds its encoder's padding.
    counted = parse_sample_count(log)
    assert counted is not None
    assert counted == command.WAVEFORM_RATE if decoded_once else 8000 <= counted <= 8100
    assert _png_size(png) == (command.WAVEFORM_WIDTH, 2 * command.WAVEFORM_BAND)


def test_the_vorbis_floor_level_is_the_best_that_fits_the_bitrate() -> None:
    assert command.vorbis_floor_level(128) == 4
    assert command.vorbis_floor_level(127) == 3
    assert command.vorbis_floor_level(500) == 10
    assert command.vorbis_floor_level(44) == min(VORBIS_LEVELS) == -1
