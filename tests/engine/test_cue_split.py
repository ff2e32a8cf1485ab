"""An album as one FLAC and its cue sheet, uploaded together (issue 24): each track a
task of one batch, cut sample-exact (the tracks decoded one after the other are the
whole decoded album, sample for sample), tagged from the sheet, with the album's cover;
a broken sheet is a 400 naming its line and nothing is stored."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mutagen.flac import FLAC
from mutagen.oggopus import OggOpus

from audioconv.services.dependencies import Dependencies
from tests.engine.media import make_cover
from tests.support.api import ApiClient
from tests.support.audio import FFMPEG
from tests.support.blobs import stored_files

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
RATE = 44100

# As EAC writes them: Windows-1252, REM lines, a FILE name that is not the uploaded
# one, a pregap (INDEX 00) before track 2, a track without a PERFORMER of its own.
SHEET = """REM GENRE "Chanson"
REM DATE 1998
REM DISCID 2A0B1C03
REM COMMENT "ExactAudioCopy v1.6"
REM DISCNUMBER 1
REM TOTALDISCS 2
PERFORMER "Zoë Ångström"
TITLE "Été"
FILE "CD1 - Range.wav" WAVE
  TRACK 01 AUDIO
    TITLE "Première"
    INDEX 01 00:00:00
  TRACK 02 AUDIO
    TITLE "Deuxième"
    PERFORMER "Zoë & Bob"
    INDEX 00 00:02:10
    INDEX 01 00:02:40
  TRACK 03 AUDIO
    TITLE "Troisième: à/b?"
    INDEX 01 00:05:01
"""
# Where the tracks start, in samples: frames (1/75 s) of 588 samples at 44.1 kHz.
STARTS = [0, (2 * 75 + 40) * 588, (5 * 75 + 1) * 588]


@pytest.fixture(scope="module")
def album(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven seconds of 16-bit stereo noise with tags and a PNG cover."""
    folder = tmp_path_factory.mktemp("album")
    cover = make_cover(folder / "cover.png")
    path = folder / "range.flac"
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"anoisesrc=color=pink:r={RATE}:d=7:seed=9", "-i", str(cover),
         "-map", "0", "-map", "1", "-ac", "2", "-c:a", "flac", "-sample_fmt", "s16",
         "-c:v", "copy", "-disposition:v:0", "attached_pic", "-metadata", "album=Wrong Name",
         "-metadata", "copyright=(c) 1998 Range", str(path)],
        check=True,
    )  # fmt: skip
    return path


def pcm(path: Path) -> bytes:
    """Every decoded sample, 16-bit stereo."""
    return subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
         "-f", "s16le", "-c:a", "pcm_s16le", "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip


def post(api: ApiClient, files: list[tuple[Path, str]], **fields: str) -> Any:
    handles = [path.open("rb") for path, _ in files]
    try:
        parts = [(fh, name) for fh, (_, name) in zip(handles, files, strict=True)]
        return api.client.post("/api/tasks", data={"fileName": parts, **fields},
                               headers=api.headers, content_type="multipart/form-data")  # fmt: skip
    finally:
        for fh in handles:
            fh.close()


@SQLITE_ONLY
def test_an_album_and_its_cue_sheet_become_its_tracks_sample_exact(
    alice: ApiClient, album: Path, tmp_path: Path
) -> None:
    sheet = tmp_path / "album.cue"
    sheet.write_bytes(SHEET.encode("cp1252"))
    response = post(alice, [(album, "range.flac"), (sheet, "range.cue")], newFormat="flac")
    assert response.status_code == 201, response.get_json()
    batch = response.get_json()
    assert batch["name"] == "Zoë Ångström - Été"
    tracks = alice.wait_album(batch["id"])
    assert [t["status"] for t in tracks] == ["processed"] * 3, tracks
    assert [t["outputFileName"] for t in tracks] == [
        "01 Première.flac", "02 Deuxième.flac", "03 Troisième_ à_b_.flac",
    ]  # fmt: skip
    paths = []
    for task in tracks:
        path = tmp_path / f"track-{task['id']}.flac"
        path.write_bytes(alice.get(task["links"]["converted"]).data)
        paths.append(path)
    # Sample-exact: no gap, no overlap; each track as long as the sheet says.
    decoded = [pcm(p) for p in paths]
    assert b"".join(decoded) == pcm(album)
    frame = 4  # bytes per sample of 16-bit stereo
    assert [len(d) // frame for d in decoded[:2]] == [STARTS[1], STARTS[2] - STARTS[1]]
    # Tags from the sheet (the track's performer, else the album's), the cover kept.
    tags = [FLAC(p) for p in paths]
    assert [t["TITLE"] for t in tags] == [["Première"], ["Deuxième"], ["Troisième: à/b?"]]
    assert [t["ARTIST"] for t in tags] == [["Zoë Ångström"], ["Zoë & Bob"], ["Zoë Ångström"]]
    for n, t in enumerate(tags, start=1):
        assert t["ALBUM"] == ["Été"] and t["ALBUMARTIST"] == ["Zoë Ångström"]
        assert t["TRACKNUMBER"][0] in (f"{n}/3", str(n))
        assert t["DATE"] == ["1998"] and t["GENRE"] == ["Chanson"]
        assert t["DISCNUMBER"][0] in ("1/2", "1")
        assert t["COPYRIGHT"] == ["(c) 1998 Range"]  # the album file's own tags stay
        assert len(t.pictures) == 1 and t.pictures[0].mime == "image/png"
    # The ZIP laid out as an album, with its playlist in track order.
    response = alice.get(f"/api/batches/{batch['id']}/zip?layout=album")
    assert response.status_code == 200, response.get_json()
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    # Disc 1 of 2: its tracks are 1-01, 1-02... (as Picard names them), apart from disc 2's.
    folder = "Zoë Ångström/Été/"
    names = [f"{folder}1-01 Première.flac", f"{folder}1-02 Deuxième.flac",
             f"{folder}1-03 Troisième_ à_b_.flac"]  # fmt: skip
    assert sorted(archive.namelist()) == sorted(["manifest.json", "playlist.m3u8", *names])
    assert archive.read(names[1]) == paths[1].read_bytes()
    seconds = [round(STARTS[1] / RATE), round((STARTS[2] - STARTS[1]) / RATE),
               round(7 - STARTS[2] / RATE)]  # fmt: skip
    assert archive.read("playlist.m3u8").decode() == (
        "#EXTM3U\n"
        f"#EXTINF:{seconds[0]},Zoë Ångström - Première\n{names[0]}\n"
        f"#EXTINF:{seconds[1]},Zoë & Bob - Deuxième\n{names[1]}\n"
        f"#EXTINF:{seconds[2]},Zoë Ångström - Troisième: à/b?\n{names[2]}\n"
    )
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["layout"] == "album" and manifest["playlist"] == "playlist.m3u8"
    refused = alice.get(f"/api/batches/{batch['id']}/zip?layout=tree")
    assert (
        refused.status_code == 400
        and "layout must be one of flat, album" in (refused.get_json()["message"])
    )


@SQLITE_ONLY
def test_an_album_becomes_opus_tracks_with_album_gain(
    alice: ApiClient, album: Path, tmp_path: Path
) -> None:
    sheet = tmp_path / "album.cue"
    sheet.write_bytes(SHEET.encode("utf-8-sig"))  # UTF-8 with its BOM
    response = post(alice, [(sheet, "x.cue"), (album, "range.flac")], newFormat="opus",
                    gain="album")  # fmt: skip
    assert response.status_code == 201, response.get_json()
    tracks = alice.wait_album(response.get_json()["id"])
    albums = set()
    titles = ["Première", "Deuxième", "Troisième: à/b?"]
    for task, title in zip(tracks, titles, strict=True):
        path = tmp_path / f"{task['id']}.opus"
        path.write_bytes(alice.get(task["links"]["converted"]).data)
        opus = OggOpus(path)
        assert opus["title"] == [title]
        albums.add(opus["R128_ALBUM_GAIN"][0])
        # Q7.8 relative to -23 LUFS: the ReplayGain figure (-18 LUFS, 0.01 dB) less 5 dB.
        shown = (task["output"]["gain"]["trackGain"] - 5) * 256
        assert int(opus["R128_TRACK_GAIN"][0]) == pytest.approx(shown, abs=3)
    assert len(albums) == 1


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("sheet", "words"),
    [
        (
            'FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n  TRACK 02 AUDIO\n'
            "    INDEX 01 00:03:99\n",
            "cue sheet line 5: time '00:03:99' is not mm:ss:ff",
        ),
        (
            'FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n  TRACK 02 AUDIO\n'
            "    INDEX 01 09:00:00\n",
            "cue sheet line 4: track 2 starts at 540.00 s, past the end",
        ),
        ("PERFORMER x\n", "cue sheet: it has no TRACK"),
    ],
)
def test_a_broken_sheet_is_refused_naming_its_line_and_nothing_is_stored(
    alice: ApiClient, deps: Dependencies, album: Path, tmp_path: Path, sheet: str, words: str
) -> None:
    cue = tmp_path / "broken.cue"
    cue.write_text(sheet)
    response = post(alice, [(album, "range.flac"), (cue, "range.cue")], newFormat="mp3")
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["message"].startswith(words)
    assert response.get_json()["requestId"]
    assert alice.get("/api/batches").get_json() == []
    assert stored_files(deps) == []


@SQLITE_ONLY
def test_a_cue_sheet_needs_exactly_one_audio_file(
    alice: ApiClient, album: Path, tmp_path: Path
) -> None:
    cue = tmp_path / "a.cue"
    cue.write_text(SHEET)
    response = post(alice, [(album, "a.flac"), (album, "b.flac"), (cue, "a.cue")], newFormat="mp3")
    assert response.status_code == 400
    assert "exactly one audio file" in response.get_json()["message"]


@SQLITE_ONLY
def test_an_album_of_many_tracks_is_cut_in_several_runs_sample_exact(
    alice: ApiClient, album: Path, tmp_path: Path
) -> None:
    """More tracks than one ffmpeg run writes (adapters/ffmpeg_split.py): still every
    sample once, at frames that are no whole number of milliseconds."""
    frames = [0, 7, 101, 149, 263, 377]  # 1/75 s each: two runs of at most 4 tracks
    sheet = tmp_path / "many.cue"
    sheet.write_text('FILE "x.wav" WAVE\n' + "".join(
        f"TRACK {n + 1:02d} AUDIO\n  INDEX 01 00:{f // 75:02d}:{f % 75:02d}\n"
        for n, f in enumerate(frames)
    ))  # fmt: skip
    response = post(alice, [(album, "range.flac"), (sheet, "many.cue")], newFormat="flac")
    assert response.status_code == 201, response.get_json()
    tracks = alice.wait_album(response.get_json()["id"])
    assert [t["status"] for t in tracks] == ["processed"] * len(frames)
    decoded = []
    for task in tracks:
        path = tmp_path / f"{task['id']}.flac"
        path.write_bytes(alice.get(task["links"]["converted"]).data)
        decoded.append(pcm(path))
    assert b"".join(decoded) == pcm(album)
    lengths = [len(d) // 4 for d in decoded[:-1]]
    assert lengths == [(b - a) * 588 for a, b in itertools.pairwise(frames)]
