"""Every input format to every output format, checked with ffprobe: codec, container,
channels, sample rate, duration, tags and cover art."""

from __future__ import annotations

from pathlib import Path

import pytest

from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.domain.formats import FORMATS
from tests.engine.media import (
    FULL_TAGS,
    audio_stream,
    cover_bytes,
    cover_streams,
    make_sources,
)
from tests.support.audio import decoded_duration, job, probe, tags_of

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
CONTAINER = {
    "mp3": "mp3", "aac": "aac", "m4a": MP4, "alac": MP4, "ogg": "ogg", "opus": "ogg",
    "wav": "wav", "flac": "flac", "wma": "asf", "aiff": "aiff",
}  # fmt: skip
# Formats whose files carry the cover (see domain/formats.py for why the others do not).
WITH_COVER = {name for name, fmt in FORMATS.items() if fmt.cover != "none"}


@pytest.fixture(scope="module")
def transcoder() -> FfmpegTranscoder:
    # A conversion runs no report pass: the checks below measure each output themselves
    # (ffprobe and a full decode); test_loudness_trim.py and the API tests cover it.
    return FfmpegTranscoder()


@pytest.fixture(scope="module")
def sources(
    tmp_path_factory: pytest.TempPathFactory, transcoder: FfmpegTranscoder
) -> dict[str, Path]:
    return make_sources(tmp_path_factory.mktemp("matrix"), transcoder)


@pytest.fixture(scope="module")
def master_cover(sources: dict[str, Path]) -> bytes:
    return cover_bytes(sources["flac"])


@pytest.mark.parametrize("src_name", sorted(FORMATS))
def test_every_input_to_every_output(
    transcoder: FfmpegTranscoder,
    sources: dict[str, Path],
    master_cover: bytes,
    tmp_path: Path,
    src_name: str,
) -> None:
    src = sources[src_name]
    found = transcoder.probe(src)
    assert found.format == src_name
    assert (found.picture is not None) == (src_name in WITH_COVER)
    src_duration = decoded_duration(src)
    for dst_name, fmt in sorted(FORMATS.items()):
        dst = tmp_path / f"{dst_name}.{fmt.extension}"
        transcoder.convert(src, job(found, dst_name), dst, lambda _: None)
        info = probe(dst)
        stream = audio_stream(info)
        where = f"{src_name} -> {dst_name}"
        assert info["format"]["format_name"] == CONTAINER[dst_name], where
        assert stream["codec_name"] == fmt.probe_codec, where
        assert stream["channels"] == 2, where
        rate = 48000 if "opus" in (src_name, dst_name) else 44100  # Opus decodes at 48 kHz
        assert int(stream["sample_rate"]) == rate, where
        assert abs(decoded_duration(dst) - src_duration) < 0.1, where
        tags = tags_of(info)
        assert {k: tags.get(k) for k in FULL_TAGS} == FULL_TAGS, where
        covers = cover_streams(info)
        if src_name in WITH_COVER and dst_name in WITH_COVER:
            assert len(covers) == 1, where
            assert cover_bytes(dst) == master_cover, where
        else:
            assert covers == [], where
        if dst_name in ("wav", "aac", "wma"):  # no picture, and no stray video stream
            assert [s["codec_type"] for s in info["streams"]] == ["audio"], where
