"""What a task says of a faithful conversion, through the API (real ffmpeg, both
databases): verified, exact length, warnings, bitDepth and upscale checked like the
other options, and a report pass that shows only what it measured."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.api import ApiClient
from tests.support.audio import FFMPEG, make_audio, probe


def test_a_24_bit_upload_comes_back_24_bit_and_verified(alice: ApiClient, tmp_path: Path) -> None:
    src = make_audio(tmp_path / "hires.wav", 0.4, ("-c:a", "pcm_s24le"), rate=96000)
    created = alice.upload(src, "flac")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["input"]["bitDepth"] == 24
    task = alice.wait(created.get_json()["id"])
    assert task["status"] == "processed", task
    assert (task["verified"], task["exactLength"], task["warnings"]) == (True, True, [])
    assert (task["output"]["bitDepth"], task["output"]["sampleFormat"]) == (24, "s24")


def test_bit_depth_and_upscale_are_checked_like_every_option(
    alice: ApiClient, tmp_path: Path
) -> None:
    src = make_audio(tmp_path / "a.wav", 0.3)
    refused = {
        ("mp3", "bitDepth", "16"): "mp3 is lossy: bitDepth applies to lossless formats",
        ("flac", "bitDepth", "32"): "flac bitDepth must be one of 16, 24",
        ("mp3", "upscale", "maybe"): "upscale must be true or false",
    }
    for (target, field, value), message in refused.items():
        response = alice.upload(src, target, **{field: value})
        assert response.status_code == 400, (field, value)
        assert response.get_json()["message"] == message
    reduced = alice.upload(src, "wav", bitDepth="24")  # 16-bit in: padded, and said
    task = alice.wait(reduced.get_json()["id"])
    assert task["output"]["bitDepth"] == 24
    assert task["warnings"] == ["the input is 16-bit: 24-bit adds size, not resolution"]


def test_a_lossy_upscale_is_said_or_capped(alice: ApiClient, tmp_path: Path) -> None:
    src = make_audio(tmp_path / "low.mp3", 0.5, ("-c:a", "libmp3lame", "-b:a", "128k"))
    asked = alice.wait(alice.upload(src, "mp3", bitrate="320").get_json()["id"])
    assert asked["warnings"] == ["the input is 128 kbit/s MP3: 320 kbit/s adds size, not quality"]
    assert asked["verified"] is None
    capped = alice.wait(alice.upload(src, "aac", upscale="false").get_json()["id"])
    assert "capped at its 128 kbit/s" in capped["warnings"][0]
    assert capped["exactLength"] is False and "ADTS" in capped["exactLengthReason"]


@pytest.mark.report_pass
def test_a_file_too_short_for_a_loudness_says_so(alice: ApiClient, tmp_path: Path) -> None:
    src = make_audio(tmp_path / "blip.wav", 0.14)
    task = alice.wait(alice.upload(src, "flac").get_json()["id"], report=True)
    for side in ("input", "output"):
        assert task[side]["loudness"] is None, side
        assert task[side]["loudnessReason"] == "too short to measure", side
    assert probe(tmp_path / "blip.wav")["streams"][0]["codec_name"] == "pcm_s16le"


@pytest.mark.report_pass
def test_a_lossy_output_that_clips_between_samples_says_so(
    alice: ApiClient, tmp_path: Path
) -> None:
    square = tmp_path / "square.wav"  # a full-scale square wave: its encode overshoots
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", "aevalsrc='0.99*sgn(sin(2*PI*1000*t))':s=44100:d=1", "-c:a", "pcm_s16le",
         str(square)],
        check=True,
    )  # fmt: skip
    task = alice.wait(alice.upload(square, "mp3").get_json()["id"], report=True)
    peak = task["output"]["loudness"]["truePeak"]
    assert peak > 0, task["output"]
    assert task["warnings"] == [
        f"the output's true peak is {peak:+.1f} dBTP: it clips between samples when played "
        "(lower the level, or use loudness with a truePeak ceiling)"
    ]
    lossless = alice.wait(alice.upload(square, "flac").get_json()["id"], report=True)
    assert lossless["warnings"] == [] and lossless["verified"] is True
