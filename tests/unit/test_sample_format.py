"""A lossless stream's resolution and a stream's channel layout, from what ffprobe says
of it: the decoder's sample format narrowed by the bits the file uses."""

from __future__ import annotations

from typing import Any

import pytest

from audioconv.adapters.ffmpeg_parse import parse_probe, sample_format


def _stream(codec: str, fmt: str, raw: Any = None, bits: Any = None) -> dict[str, Any]:
    stream = {"codec_name": codec, "sample_fmt": fmt}
    if raw is not None:
        stream["bits_per_raw_sample"] = raw
    if bits is not None:
        stream["bits_per_sample"] = bits
    return stream


@pytest.mark.parametrize(
    ("stream", "resolution"),
    [
        (_stream("mp3", "fltp"), None),  # lossy
        (_stream("dsd_lsbf", "fltp"), None),  # DSD
        (_stream("", "s16"), None),
        (_stream("flac", "s16", raw="16"), "s16"),
        (_stream("flac", "s32", raw="24"), "s24"),  # 24-bit audio in 32-bit samples
        (_stream("flac", "s32"), "s32"),  # the file does not say: the decoder's
        (_stream("flac", "s16", raw="24"), "s16"),  # never more than the decoder's
        (_stream("flac", "s16", raw="8"), "u8"),
        (_stream("flac", "s16", raw="9"), "s16"),
        (_stream("flac", "s32", raw="17"), "s24"),
        (_stream("flac", "s32", raw="25"), "s32"),
        (_stream("alac", "s32p", raw="20"), "s24"),
        (_stream("alac", "s16p"), "s16"),
        (_stream("wavpack", "s64"), "s32"),
        (_stream("wavpack", "u8p"), "u8"),
        (_stream("tta", "s8"), None),  # a sample format we do not name
        (_stream("pcm_s24le", "s32", bits=24), "s24"),  # PCM says bits_per_sample
        (_stream("pcm_s24le", "s32", raw="24", bits=32), "s24"),  # the raw bits first
        (_stream("pcm_s16le", "s16", bits="16"), "s16"),
        (_stream("pcm_u8", "u8", bits=8), "u8"),
        (_stream("pcm_mulaw", "s16", bits=8), "s16"),  # 8-bit codes, 16-bit samples
        (_stream("pcm_alaw", "s16", bits=8), "s16"),
        (_stream("pcm_f32le", "flt"), "f32"),
        (_stream("flac", "fltp"), "f32"),
        (_stream("pcm_f64le", "dbl"), "f64"),
        (_stream("pcm_f64be", "dblp"), "f64"),
        (_stream("shorten", "s16p", raw="N/A"), "s16"),
    ],
)
def test_a_lossless_streams_resolution(stream: dict[str, Any], resolution: str | None) -> None:
    assert sample_format(stream) == resolution


@pytest.mark.parametrize(
    ("said", "layout"),
    [("stereo", "stereo"), ("5.1(side)", "5.1(side)"), ("3 channels", "unknown"),
     ("", None), (None, None)],
)  # fmt: skip
def test_a_layout_is_what_ffprobe_names_unknown_or_unsaid(
    said: str | None, layout: str | None
) -> None:
    audio: dict[str, Any] = {"codec_type": "audio", "codec_name": "flac", "channels": 2}
    if said is not None:
        audio["channel_layout"] = said
    info = {"format": {"format_name": "flac", "duration": "1.0"}, "streams": [audio]}
    assert parse_probe(info, None).layout == layout


def test_the_probe_carries_the_streams_resolution() -> None:
    flac = _stream("flac", "s32", raw="24") | {"codec_type": "audio", "channels": 2}
    info = {"format": {"format_name": "flac", "duration": "1.0"}, "streams": [flac]}
    assert parse_probe(info, None).sample_format == "s24"
