"""Every kind of input we read, written by the tool that writes it (ffmpeg where it has
the encoder, Debian's mpcenc for Musepack SV8 and libjmac-java for Monkey's Audio;
tests/support/dsd.py, tak.py and musepack7.py from the formats, for DSD, TAK and
Musepack SV7, which nothing here writes), probed by content and converted; what we do
not read is named."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from audioconv.adapters.ffmpeg import FfmpegTranscoder
from audioconv.domain.errors import UnsupportedMedia
from tests.support.audio import FFMPEG, decoded_duration, job, make_audio, probe
from tests.support.dsd import write_dff, write_dsf
from tests.support.musepack7 import write_mpc7
from tests.support.tak import write_tak

SECONDS = 0.5
# name -> (file name, ffmpeg arguments, lossless): written by the pinned ffmpeg.
BY_FFMPEG: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "ac3": ("a.ac3", ("-c:a", "ac3"), False),
    "eac3": ("a.eac3", ("-c:a", "eac3"), False),
    "dts": ("a.dts", ("-strict", "-2", "-c:a", "dca", "-ar", "48000"), False),
    "truehd": ("a.thd", ("-strict", "-2", "-c:a", "truehd", "-ar", "48000", "-f", "truehd"), True),
    "mlp": ("a.mlp", ("-strict", "-2", "-c:a", "mlp", "-ar", "48000", "-f", "mlp"), True),
    "wavpack": ("a.wv", ("-c:a", "wavpack"), True),
    "tta": ("a.tta", ("-c:a", "tta"), True),
    "mp2": ("a.mp2", ("-c:a", "mp2"), False),
    "amr": ("a.amr", ("-c:a", "libopencore_amrnb", "-ar", "8000", "-ac", "1"), False),
    "au": ("a.au", ("-c:a", "pcm_s16be"), True),
    "w64": ("a.w64", ("-c:a", "pcm_s24le"), True),
    "caf": ("a.caf", ("-c:a", "alac"), True),
    "mka": ("a.mka", ("-c:a", "flac"), True),
    "webm": ("a.webm", ("-c:a", "libopus"), False),
}
OURS = {"webm": "mka", "musepack7": "musepack"}  # our name, where it differs
# Written by other tools (Debian's musepack-tools and libjmac-java) or from the format
# (tests/support: TAK, DSF, DFF): lossless or not.
BY_OTHERS = {
    "musepack": False, "musepack7": False, "ape": True, "tak": True, "dsf": False, "dff": False,
}  # fmt: skip
JMAC = Path("/usr/share/java/jmac.jar")


@pytest.fixture(scope="module")
def transcoder() -> FfmpegTranscoder:
    return FfmpegTranscoder()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    tone = make_audio(folder / "tone.wav", SECONDS, ("-c:a", "pcm_s16le"), rate=48000)
    files = {}
    for name, (file_name, args, _) in BY_FFMPEG.items():
        files[name] = folder / file_name
        subprocess.run(
            [FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(tone), *args,
             "-metadata", "title=Tone", str(files[name])],
            check=True,
        )  # fmt: skip
    files["tak"] = write_tak(folder / "a.tak", SECONDS)
    files["musepack7"] = write_mpc7(folder / "a7.mpc", SECONDS)
    files["dsf"] = write_dsf(folder / "a.dsf", SECONDS)
    files["dff"] = write_dff(folder / "a.dff", SECONDS)
    if shutil.which("mpcenc"):  # musepack-tools (scripts/install_system_deps.sh)
        files["musepack"] = folder / "a.mpc"
        subprocess.run(
            ["mpcenc", "--silent", "--overwrite", str(tone), str(files["musepack"])],
            check=True,
        )
    if shutil.which("java") and JMAC.exists():  # libjmac-java: Monkey's Audio's encoder
        files["ape"] = folder / "a.ape"
        subprocess.run(
            ["java", "-jar", str(JMAC), "c2", str(tone), str(files["ape"])],
            check=True, capture_output=True,
        )  # fmt: skip
    return files


@pytest.mark.parametrize("name", [*BY_FFMPEG, *BY_OTHERS])
def test_every_input_ffmpeg_decodes_is_read_and_converted(
    transcoder: FfmpegTranscoder, written: dict[str, Path], tmp_path: Path, name: str
) -> None:
    if name not in written:
        pytest.skip("its writer is not installed (scripts/install_system_deps.sh)")
    src = written[name]
    found = transcoder.probe(src)
    assert found.format == OURS.get(name, name)
    dst = tmp_path / "out.flac"
    result = transcoder.convert(src, job(found, "flac"), dst, lambda _: None)
    stream = next(s for s in probe(dst)["streams"] if s["codec_type"] == "audio")
    assert stream["codec_name"] == "flac"
    assert abs(decoded_duration(dst) - SECONDS) < 0.1
    lossless = BY_FFMPEG[name][2] if name in BY_FFMPEG else BY_OTHERS.get(name, False)
    # Lossless inputs come out bit-identical, and the conversion proves it.
    assert result.verified is (True if lossless else None), name
    if found.is_dsd:  # DSD64 becomes 88.2 kHz 24-bit PCM
        assert (stream["sample_rate"], stream["bits_per_raw_sample"]) == ("88200", "24")
    if not lossless and not found.is_dsd:  # a lossy input made lossless: said so
        assert any("lossy" in w for w in result.warnings), result.warnings


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"#EXTM3U\n#EXTINF:10,\nhttp://example.invalid/a.mp3\n", "an M3U/HLS playlist is"),
        (b"ffconcat version 1.0\nfile 'a.wav'\n", "an ffmpeg concat script is"),
        (b"ajkg\x02" + bytes(200), "Shorten (SHN) is not supported"),
        (b"MThd\x00\x00\x00\x06" + bytes(100), "MIDI is not supported"),
        (b"just some text, not audio at all\n" * 10, "not an audio file we can read: "),
    ],
)
def test_a_file_we_do_not_read_is_named_never_with_ffmpegs_error_number(
    transcoder: FfmpegTranscoder, tmp_path: Path, content: bytes, said: str
) -> None:
    path = tmp_path / "upload.mp3"
    path.write_bytes(content)
    with pytest.raises(UnsupportedMedia) as refused:
        transcoder.probe(path)
    assert said in refused.value.message
    assert "Invalid" not in refused.value.message and "0x" not in refused.value.message


@pytest.mark.parametrize(
    ("rate", "target", "expected"), [(24000, "wma", 32000), (64000, "mp3", 48000)]
)
def test_an_input_rate_the_target_lacks_goes_up_not_down(
    transcoder: FfmpegTranscoder, tmp_path: Path, rate: int, target: str, expected: int
) -> None:
    """A 24 kHz WAV into WMA (which has 8, 11.025, 16, 22.05, 32, 44.1, 48 kHz) comes out
    at 32 kHz, not at 8 kHz (a divisor, which kept a third of its band); 64 kHz into
    MP3 (48 kHz at most) at 48 kHz, not 32."""
    src = make_audio(tmp_path / "in.wav", 2.0, rate=rate)
    dst = tmp_path / f"out.{target}"
    transcoder.convert(src, job(transcoder.probe(src), target), dst, lambda _: None)
    stream = next(s for s in probe(dst)["streams"] if s["codec_type"] == "audio")
    assert int(stream["sample_rate"]) == expected
    assert abs(decoded_duration(dst) - 2.0) < 0.1
