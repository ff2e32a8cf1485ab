"""Loudness normalisation, trim and fades on real ffmpeg, checked by measuring the
output independently (ffmpeg's ebur128 meter, decoded durations, levels); the true
duration of raw AAC; the report pass (loudness of both files, exact length, the
waveform picture). Through the transcoder and the API."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.domain.errors import ConversionFailed
from audioconv.domain.formats import FORMATS
from audioconv.domain.job import ConversionResult, MediaReport
from audioconv.services.dependencies import Dependencies
from tests.support.api import ApiClient
from tests.support.audio import FFMPEG, decoded_duration, job, probe
from tests.support.loudness import ebur128, make_noise

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def mean_volume(path: Path, start: float, end: float) -> float:
    """The mean level (dB) of the decoded audio between two points."""
    log = subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-nostats", "-i", str(path),
         "-af", f"atrim={start}:{end},volumedetect", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    found = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", log)
    assert found, log
    return float(found[1])


def report_of(
    transcoder: FfmpegTranscoder, src: Path, result: ConversionResult, dst: Path
) -> MediaReport:
    """The report pass over a conversion's input and output (the waveform beside it)."""
    png = dst.with_name("waveform.png")
    return transcoder.report(src, transcoder.probe(src), dst, result.output.duration, png)


@pytest.fixture(scope="module")
def transcoder() -> FfmpegTranscoder:
    return FfmpegTranscoder()


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_noise(tmp_path_factory.mktemp("loud") / "quiet.flac", 8.0, gain_db=-24.0)


@pytest.mark.parametrize(("target", "fmt"), [(-16.0, "mp3"), (-23.0, "flac"), (-16.0, "aac")])
def test_loudness_reaches_its_target_within_1_lu(
    transcoder: FfmpegTranscoder, quiet: Path, tmp_path: Path, target: float, fmt: str
) -> None:
    before, _ = ebur128(quiet)
    assert before < target - 5  # far from the target: the gain is real work
    dst = tmp_path / f"out.{FORMATS[fmt].extension}"
    result = transcoder.convert(
        quiet, job(transcoder.probe(quiet), fmt, loudness=target), dst, lambda _: None
    )
    integrated, peak = ebur128(dst)
    assert abs(integrated - target) <= 1.0, integrated
    assert peak <= -1.0 + 0.1, peak  # the default ceiling, -1 dBTP, holds after the encoder
    # The measuring pass tells the input's loudness; the report both, the output's near
    # the target.
    assert result.input_loudness and abs(result.input_loudness.integrated - before) <= 0.5
    report = report_of(transcoder, quiet, result, dst)
    assert report.input_loudness and abs(report.input_loudness.integrated - before) <= 0.5
    assert report.output_loudness and abs(report.output_loudness.integrated - target) <= 1.0
    assert abs(decoded_duration(dst) - 8.0) < 0.05


@pytest.mark.parametrize(
    ("target", "ceiling", "fmt"), [(-14.0, -4.5, "wav"), (-16.0, -6.0, "wav"), (-14.0, -4.5, "mp3")]
)
def test_the_true_peak_ceiling_holds(
    transcoder: FfmpegTranscoder,
    quiet: Path,
    tmp_path: Path,
    target: float,
    ceiling: float,
    fmt: str,
) -> None:
    """The noise peaks ~11 dB over its loudness: one gain would put its peaks over the
    ceiling, so loudnorm limits them (its dynamic mode) and still reaches the target."""
    found = transcoder.probe(quiet)
    loud, peak = ebur128(quiet)
    assert peak - loud + target > ceiling  # linear normalisation alone would overshoot
    dst = tmp_path / f"out.{fmt}"
    result = transcoder.convert(quiet, job(found, fmt, loudness=target, truePeak=ceiling),
                                dst, lambda _: None)  # fmt: skip
    integrated, peak = ebur128(dst)
    assert peak <= ceiling + 0.1, peak  # within 0.1 dB, also after a lossy encoder
    assert abs(integrated - target) <= 1.0, integrated
    report = report_of(transcoder, quiet, result, dst)
    assert report.output_loudness and report.output_loudness.true_peak <= ceiling + 0.1


@pytest.mark.parametrize(
    ("fmt", "options", "seconds"),
    [
        ("flac", {"start": 1.5}, 6.5),
        ("wav", {"end": 2.25}, 2.25),
        ("mp3", {"start": 0.75, "end": 4.5}, 3.75),
        ("m4a", {"start": 2, "end": 7.1, "loudness": -18}, 5.1),
    ],
)
def test_trims_are_within_50_ms(
    transcoder: FfmpegTranscoder, quiet: Path, tmp_path: Path, fmt: str,
    options: dict[str, Any], seconds: float,
) -> None:  # fmt: skip
    dst = tmp_path / f"out.{FORMATS[fmt].extension}"
    result = transcoder.convert(quiet, job(transcoder.probe(quiet), fmt, **options), dst,
                                lambda _: None)  # fmt: skip
    assert abs(decoded_duration(dst) - seconds) <= 0.05
    # What the task shows at first: the encoder's count, short by at most one packet
    # (56 ms for wav); then the report pass's count of the samples, exact.
    assert abs(result.output.duration - seconds) <= 0.06
    exact = report_of(transcoder, quiet, result, dst).output_seconds
    assert exact is not None and abs(exact - seconds) <= 0.05


def test_a_trim_starts_where_it_was_asked(transcoder: FfmpegTranscoder, tmp_path: Path) -> None:
    """One second of silence, then noise: starting at 1 s keeps only the noise."""
    noise = make_noise(tmp_path / "noise.wav", 2.0)
    src = tmp_path / "late.wav"
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(noise),
         "-af", "adelay=1000:all=1", str(src)],
        check=True,
    )  # fmt: skip
    dst = tmp_path / "out.wav"
    transcoder.convert(src, job(transcoder.probe(src), "wav", start=1), dst, lambda _: None)
    assert mean_volume(dst, 0, 0.2) > -40  # noise from the first moment, not silence
    assert abs(decoded_duration(dst) - 2.0) <= 0.05


def test_fades_in_and_out(transcoder: FfmpegTranscoder, quiet: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.flac"
    options = {"fadeIn": 2, "fadeOut": 2}
    transcoder.convert(quiet, job(transcoder.probe(quiet), "flac", **options), dst,
                       lambda _: None)  # fmt: skip
    middle = mean_volume(dst, 3, 5)
    assert mean_volume(dst, 0, 0.3) < middle - 15  # starts near silence
    assert mean_volume(dst, 7.7, 8) < middle - 15  # ends near silence
    assert abs(mean_volume(dst, 3, 5) - mean_volume(quiet, 3, 5)) < 0.5  # the middle as it was


def test_raw_aac_shows_its_true_duration(transcoder: FfmpegTranscoder, tmp_path: Path) -> None:
    """ffprobe estimates ADTS durations from the bitrate (165.4 s for a 161.3 s file):
    the task shows the encoder's own count instead."""
    src = make_noise(tmp_path / "long.flac", 161.3)
    dst = tmp_path / "out.aac"
    result = transcoder.convert(src, job(transcoder.probe(src), "aac"), dst, lambda _: None)
    assert abs(result.output.duration - 161.3) <= 0.1, result.output.duration
    assert abs(decoded_duration(dst) - result.output.duration) <= 0.1


def test_the_waveform_is_a_png_of_both_files(
    transcoder: FfmpegTranscoder, quiet: Path, tmp_path: Path
) -> None:
    dst = tmp_path / "out.ogg"
    result = transcoder.convert(quiet, job(transcoder.probe(quiet), "ogg"), dst, lambda _: None)
    report = report_of(transcoder, quiet, result, dst)
    assert report.waveform == tmp_path / "waveform.png"
    (picture,) = probe(report.waveform)["streams"]
    assert (picture["codec_name"], picture["width"], picture["height"]) == ("png", 1200, 320)


def test_a_conversion_alone_measures_only_with_the_loudness_option(
    transcoder: FfmpegTranscoder, quiet: Path, tmp_path: Path
) -> None:
    """No report pass in the conversion: no output loudness, no picture; the loudness
    option's measuring pass still tells the input's; the duration is the encoder's count."""
    found = transcoder.probe(quiet)
    plain = transcoder.convert(quiet, job(found, "flac"), tmp_path / "a.flac", lambda _: None)
    assert (plain.input_loudness, plain.output.loudness) == (None, None)
    assert abs(plain.output.duration - 8.0) <= 0.1
    assert list(tmp_path.iterdir()) == [tmp_path / "a.flac"]  # no picture drawn
    louder = transcoder.convert(quiet, job(found, "flac", loudness=-20), tmp_path / "b.flac",
                                lambda _: None)  # fmt: skip
    assert louder.input_loudness and abs(louder.input_loudness.integrated - ebur128(quiet)[0]) < 0.5
    assert abs(ebur128(tmp_path / "b.flac")[0] + 20) <= 1.0


def test_a_failed_report_pass_says_why_without_our_paths(
    transcoder: FfmpegTranscoder, quiet: Path, tmp_path: Path
) -> None:
    """An output ffmpeg cannot read: ConversionFailed (the service records no figures),
    naming no file of ours, and no picture left behind."""
    dst = tmp_path / "out.mp3"
    dst.write_bytes(b"not audio at all" * 100)
    png = tmp_path / "waveform.png"
    with pytest.raises(ConversionFailed) as failed:
        transcoder.report(quiet, transcoder.probe(quiet), dst, 8.0, png)
    assert str(tmp_path) not in failed.value.reason and not png.exists()


# --- through the API ---------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.report_pass
def test_the_task_shows_loudness_true_durations_and_a_waveform(
    alice: ApiClient, deps: Dependencies, tmp_path: Path
) -> None:
    song = make_noise(tmp_path / "long.flac", 161.3, gain_db=-26.0)
    created = alice.upload(song, "aac", loudness="-16", start="0.5")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["options"] == {"loudness": -16.0, "start": 0.5}
    assert created.get_json()["links"]["waveform"] is None
    url = f"/api/tasks/{created.get_json()['id']}"
    task = alice.wait(created.get_json()["id"], timeout=180, report=True)
    assert (task["status"], task["report"]) == ("processed", None), task
    assert abs(task["output"]["duration"] - 160.8) <= 0.1, task["output"]
    shown_in, shown_out = task["input"]["loudness"], task["output"]["loudness"]
    assert set(shown_in) == {"integrated", "range", "truePeak"}
    assert shown_in["integrated"] < -25 and abs(shown_out["integrated"] + 16) <= 1.0
    out = tmp_path / "out.aac"
    out.write_bytes(alice.get(f"{url}/converted").data)
    assert abs(ebur128(out)[0] + 16) <= 1.0
    assert abs(decoded_duration(out) - 160.8) <= 0.1

    assert task["links"]["waveform"] == f"{url}/waveform.png"
    picture = alice.get(f"{url}/waveform.png")
    assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert picture.data.startswith(b"\x89PNG\r\n\x1a\n")
    mallory = ApiClient(alice.client, "mallory")
    refused = mallory.get(f"{url}/waveform.png")
    assert refused.status_code == 404 and "message" in refused.get_json()


@SQLITE_ONLY
@pytest.mark.report_pass
def test_no_waveform_before_the_conversion_is_a_404(alice: ApiClient, tmp_path: Path) -> None:
    song = make_noise(tmp_path / "s.wav", 1.0)
    missing = alice.get("/api/tasks/999/waveform.png")
    assert missing.status_code == 404 and missing.get_json()["message"] == "no task 999"
    created = alice.upload(song, "wav").get_json()
    url = f"/api/tasks/{created['id']}"
    first = alice.get(f"{url}/waveform.png")
    if first.status_code == 404:  # not converted yet
        assert "no waveform image" in first.get_json()["message"]
    alice.wait(created["id"], report=True)
    before = alice.get(f"{url}/waveform.png").data
    assert before.startswith(b"\x89PNG")
    # Converted again (trimmed): the old picture, of the old output, goes with it.
    again = alice.client.put(url, json={"newFormat": "flac", "end": "0.5"}, headers=alice.headers)
    assert again.status_code == 200 and again.get_json()["links"]["waveform"] is None
    task = alice.wait(created["id"], report=True)
    assert (task["revision"], task["links"]["waveform"]) == (2, f"{url}/waveform.png")
    assert alice.get(f"{url}/waveform.png").data != before


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("form", "needle"),
    [
        ({"loudness": "-80"}, "loudness: Input should be greater than or equal to -70"),
        ({"loudness": "loud"}, "loudness: must be a number in plain ASCII digits"),
        ({"truePeak": "-1"}, "truePeak is the ceiling of loudness normalisation"),
        ({"loudness": "-16", "truePeak": "3"}, "truePeak: Input should be less than or equal"),
        ({"start": "5"}, "start (5 s) is not before the audio's end (2 s)"),
        ({"start": "1", "end": "0.5"}, "end (0.5 s) must come after start (1 s)"),
        ({"end": "-1"}, "end: Input should be greater than or equal to 0"),
        ({"fadeIn": "1.5", "fadeOut": "1"}, "must fit in the 2 s converted"),
        ({"fadeOut": "nan"}, "fadeOut"),
    ],
)
def test_nonsense_audio_options_are_a_400(
    alice: ApiClient, tmp_path: Path, form: dict[str, str], needle: str
) -> None:
    song = make_noise(tmp_path / "s.wav", 2.0)
    response = alice.upload(song, "mp3", **form)
    assert response.status_code == 400, response.get_json()
    assert needle in response.get_json()["message"]
    assert alice.get("/api/tasks").get_json() == []
