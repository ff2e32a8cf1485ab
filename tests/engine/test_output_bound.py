"""The output size bound holds for what ffmpeg really writes, in the worst case:
full-scale white noise (nothing to compress, VBR encoders at their busiest),
24-bit, with cover art, into every format at its default and its best quality."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from audioconv.adapters.ffmpeg import FfmpegTranscoder, wheel_binaries
from audioconv.domain.formats import FORMATS
from audioconv.domain.output_size import InputShape, output_bound
from tests.engine.media import make_cover
from tests.support.audio import job

SECONDS = 4


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("noise")
    cover = make_cover(folder / "cover.png")
    path = folder / "noise.flac"
    subprocess.run(
        [wheel_binaries()[0], "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"anoisesrc=color=white:amplitude=1:r=48000:d={SECONDS}",
         "-i", str(cover), "-map", "0", "-map", "1", "-ac", "2",
         "-c:a", "flac", "-sample_fmt", "s32", "-c:v", "copy", "-disposition:v:0", "attached_pic",
         str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.mark.parametrize("quality", [None, "best"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_noise_stays_under_the_bound(
    fmt: str, quality: str | None, noise: Path, tmp_path: Path
) -> None:
    target = FORMATS[fmt]
    if quality is not None and target.lossless:
        pytest.skip("lossless formats have no quality presets")
    transcoder = FfmpegTranscoder(*wheel_binaries())  # no report pass: the size is all we check
    found = transcoder.probe(noise)
    conversion = job(found, fmt, **({"quality": quality} if quality else {}))
    options = conversion.options
    out = tmp_path / f"out.{target.extension}"
    transcoder.convert(noise, conversion, out, lambda _: None)
    shape = InputShape(
        found.duration, found.sample_rate, found.channels, found.codec,
        noise.stat().st_size, has_picture=found.picture is not None,
        sample_format=found.sample_format, dsd=found.is_dsd,
    )  # fmt: skip
    bound = output_bound(target, options, shape).bytes
    size = out.stat().st_size
    assert size <= bound, f"{fmt}/{quality}: {size} bytes written, bound {bound}"
    if fmt in ("wav", "aiff"):  # PCM is exact: only the overhead and the cover's room
        slack = 0.01 * size + 64 * 1024 + min(noise.stat().st_size, 16 << 20)
        assert bound - size <= slack, (size, bound)
