"""Gain tags on real files (issue 24): an album of mixed lossless and lossy sources
converted to every format with a convention, through the API with ``gain: "album"``;
the tags read back with mutagen and checked against two meters that are not ours:
ffmpeg's own integrated loudness (its ``ebur128`` filter's figure, and over the
album's tracks joined by ``concat``) and Debian's ``loudgain`` (libebur128)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from audioconv.domain.formats import FORMATS
from tests.support.api import ApiClient
from tests.support.audio import FFMPEG

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LOUDGAIN = shutil.which("loudgain")
TOLERANCE_DB = 0.1


def _make(path: Path, source: str, seconds: float, gain_db: float, args: list[str]) -> Path:
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}:d={seconds}",
         "-af", f"volume={gain_db}dB", *args, str(path)],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def album_sources(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three tracks of very different loudness: lossless stereo, lossless mono at
    48 kHz, and a lossy MP3."""
    folder = tmp_path_factory.mktemp("album")
    return [
        _make(folder / "01 loud.flac", "anoisesrc=color=pink:r=44100:seed=3", 6, -8,
              ["-ac", "2"]),
        _make(folder / "02 tone.wav", "sine=frequency=330:r=48000", 4, -14, ["-ac", "1"]),
        _make(folder / "03 quiet.mp3", "anoisesrc=color=brown:r=44100:seed=5", 5, -26,
              ["-ac", "2", "-b:a", "192k"]),
    ]  # fmt: skip


def ffmpeg_loudness(paths: list[Path]) -> float:
    """ffmpeg's own integrated loudness (LUFS, three decimals) of the files one after
    the other (one file: that file), resampled to stereo 48 kHz for ``concat``."""
    inputs = [a for p in paths for a in ("-i", str(p))]
    chains = "".join(f"[{n}:a:0]aformat=sample_rates=48000:channel_layouts=stereo[a{n}];"
                     for n in range(len(paths)))  # fmt: skip
    joined = "".join(f"[a{n}]" for n in range(len(paths)))
    graph = (f"{chains}{joined}concat=n={len(paths)}:v=0:a=1,ebur128=metadata=1,"
             "ametadata=mode=print:key=lavfi.r128.I:file=-")  # fmt: skip
    out = subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", *inputs, "-filter_complex", graph, "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return float(out.strip().splitlines()[-1].partition("=")[2])


def loudgain(paths: list[Path]) -> dict[str, tuple[float, float]]:
    """loudgain's album scan: (gain dB, true peak ratio) of each file and of 'Album'
    (for Opus files its gains are relative to -23 LUFS, as R128_* tags are)."""
    assert LOUDGAIN, "loudgain is not installed (scripts/install_system_deps.sh)"
    out = subprocess.run(
        [LOUDGAIN, "-q", "-a", "-s", "s", "-O", *map(str, paths)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = {}
    for line in out.splitlines()[1:]:
        cells = line.split("\t")
        name = "Album" if cells[0] == "Album" else Path(cells[0]).name
        found[name] = (float(cells[8].split()[0]), float(cells[3]))
    return found


def read_gain(path: Path, target: str) -> dict[str, str]:
    """The gain tags as a player reads them, by lower-case name, via mutagen."""
    if target == "mp3":
        return {f.desc.lower(): str(f.text[0]) for f in ID3(path).getall("TXXX")}
    if target in ("m4a", "alac"):
        tags = MP4(path).tags or {}
        prefix = "----:com.apple.iTunes:"
        return {k[len(prefix) :].lower(): bytes(v[0]).decode() for k, v in tags.items()
                if k.startswith(prefix)}  # fmt: skip
    audio = {"flac": FLAC, "ogg": OggVorbis, "opus": OggOpus}[target](path)
    found: dict[str, str] = {}
    for key, value in (audio.tags or {}).items():
        found[key.lower()] = value[0] if isinstance(value, list) else value
    return found


def opus_output_gain(path: Path) -> int:
    """The OpusHead's output gain (RFC 7845: bytes 16-17, little-endian, signed)."""
    data = path.read_bytes()
    head = data.index(b"OpusHead")
    return int.from_bytes(data[head + 16 : head + 18], "little", signed=True)


@SQLITE_ONLY
@pytest.mark.parametrize("target", ["mp3", "flac", "ogg", "opus", "m4a", "alac"])
def test_album_gain_tags_agree_with_ffmpeg_and_loudgain(
    alice: ApiClient, album_sources: list[Path], target: str, tmp_path: Path
) -> None:
    handles = [p.open("rb") for p in album_sources]
    try:
        response = alice.client.post(
            "/api/tasks", headers=alice.headers, content_type="multipart/form-data",
            data={"fileName": [(fh, p.name) for fh, p in zip(handles, album_sources,
                                                              strict=True)],
                  "newFormat": target, "gain": "album"},
        )  # fmt: skip
    finally:
        for fh in handles:
            fh.close()
    assert response.status_code == 201, response.get_json()
    tracks = alice.wait_album(response.get_json()["id"])
    assert [t["status"] for t in tracks] == ["processed"] * 3, tracks
    outputs = []
    for task in tracks:
        path = tmp_path / f"{Path(task['fileName']).stem}.{FORMATS[target].extension}"
        path.write_bytes(alice.get(task["links"]["converted"]).data)
        outputs.append(path)
    album_loudness = ffmpeg_loudness(outputs)
    meter = loudgain(outputs)
    for task, path in zip(tracks, outputs, strict=True):
        tags = read_gain(path, target)
        shown = task["output"]["gain"]
        if target == "opus":
            assert not any(name.startswith("replaygain") for name in tags)
            r128_track, r128_album = (int(tags[f"r128_{x}_gain"]) / 256 for x in ("track", "album"))
            assert r128_track == pytest.approx(meter[path.name][0], abs=TOLERANCE_DB)
            assert r128_album == pytest.approx(meter["Album"][0], abs=TOLERANCE_DB)
            track_db, album_db = r128_track + 5, r128_album + 5  # -23 LUFS to -18
            assert opus_output_gain(path) == 0
        else:
            track_db = float(tags["replaygain_track_gain"].removesuffix(" dB"))
            album_db = float(tags["replaygain_album_gain"].removesuffix(" dB"))
            assert float(tags["replaygain_track_peak"]) == pytest.approx(shown["trackPeak"])
            assert float(tags["replaygain_album_peak"]) == pytest.approx(shown["albumPeak"])
            peak = meter[path.name][1]
            assert float(tags["replaygain_track_peak"]) == pytest.approx(peak, rel=0.03)
            # Independent meter: loudgain (libebur128).
            assert track_db == pytest.approx(meter[path.name][0], abs=TOLERANCE_DB)
            assert album_db == pytest.approx(meter["Album"][0], abs=TOLERANCE_DB)
        assert track_db == pytest.approx(shown["trackGain"], abs=0.01)
        assert album_db == pytest.approx(shown["albumGain"], abs=0.01)
        # ffmpeg's own integrated figure, of the file and of the album's files joined.
        assert track_db == pytest.approx(-18 - ffmpeg_loudness([path]), abs=TOLERANCE_DB)
        assert album_db == pytest.approx(-18 - album_loudness, abs=TOLERANCE_DB)
    # Album gain is one figure for the album, not each track's own.
    gains = [t["output"]["gain"] for t in tracks]
    assert len({g["albumGain"] for g in gains}) == 1
    assert max(g["trackGain"] for g in gains) - min(g["trackGain"] for g in gains) > 10


@SQLITE_ONLY
@pytest.mark.parametrize("target", ["wav", "aiff", "wma", "aac"])
def test_gain_is_refused_before_anything_is_stored(
    alice: ApiClient, album_sources: list[Path], target: str
) -> None:
    response = alice.upload(album_sources[1], target, gain="track")
    assert response.status_code == 400
    body = response.get_json()
    assert f"{target} has no convention for gain tags" in body["message"] and body["requestId"]
    assert (
        alice.get("/api/tasks").get_json() == []
        or alice.get("/api/tasks").get_json().get("tasks", []) == []
    )


@pytest.mark.parametrize("target", ["mp3", "flac", "ogg", "opus", "m4a"])
def test_stale_gain_tags_are_replaced_not_kept_beside_the_new_ones(
    tmp_path: Path, target: str
) -> None:
    """Tags an earlier run (or the source) left, an old album's among them, give way to
    the new figures; a track-only write leaves no album tag behind."""
    from audioconv.adapters.gain_tags import write_gain_tags
    from audioconv.domain.gain import Gain

    path = tmp_path / f"t.{FORMATS[target].extension}"
    codec = {"m4a": ["-c:a", "aac"], "opus": ["-c:a", "libopus"]}.get(target, [])
    _make(path, "sine=frequency=440:r=48000", 1, -10, codec)
    write_gain_tags(path, target, Gain(-20.0, 0.5, -30.0, 0.9))
    write_gain_tags(path, target, Gain(-14.0, 0.25))
    tags = read_gain(path, target)
    if target == "opus":
        assert tags["r128_track_gain"] == str(-9 * 256) and "r128_album_gain" not in tags
    else:
        assert tags["replaygain_track_gain"] == "-4.00 dB"
        assert tags["replaygain_track_peak"] == "0.250000"
        assert tags["replaygain_reference_loudness"] == "-18.00 LUFS"
        assert not {"replaygain_album_gain", "replaygain_album_peak"} & set(tags)
    assert sum(name.startswith(("replaygain_track_gain", "r128_track")) for name in tags) == 1


@SQLITE_ONLY
@pytest.mark.parametrize("target", ["mp3", "opus"])
def test_loudness_drops_the_sources_gain_tags_that_it_makes_wrong(
    alice: ApiClient, tmp_path: Path, target: str
) -> None:
    """A source's gain tags come along when the level stays, and go when ``loudness``
    changes it (they would be off by the change)."""
    source = _make(tmp_path / "tagged.flac", "anoisesrc=color=pink:r=44100:seed=2", 2, -20,
                   ["-ac", "2", "-metadata", "REPLAYGAIN_TRACK_GAIN=+3.20 dB",
                    "-metadata", "R128_TRACK_GAIN=-456"])  # fmt: skip
    kept = {}
    for loudness in ("", "-16"):
        response = alice.upload(source, target, **({"loudness": loudness} if loudness else {}))
        assert response.status_code == 201, response.get_json()
        task = alice.wait(response.get_json()["id"])
        out = tmp_path / f"out{loudness}.{FORMATS[target].extension}"
        out.write_bytes(alice.get(task["links"]["converted"]).data)
        kept[loudness] = {k for k in read_gain(out, target) if k.startswith(("replay", "r128"))}
    assert kept[""]  # carried over, as every other tag
    assert kept["-16"] == set()
