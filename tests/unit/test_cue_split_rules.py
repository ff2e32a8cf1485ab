"""An album with its cue sheet, the rest of the rules on fakes: the sheet's size limit,
every check before anything is stored, where the tracks are cut, and the album's
own tags on every track and in the batch's name."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from audioconv.domain.cue_sheet import MAX_CUE_BYTES
from audioconv.domain.errors import (
    ConversionFailed,
    InvalidInput,
    NotFound,
    TooManyRequests,
    UnsupportedMedia,
)
from audioconv.domain.model import TaskStatus
from audioconv.domain.options import requested_options
from audioconv.ports import Probe
from audioconv.services import batches, cue_split
from audioconv.services.batches import Upload
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import FakeBlobs, FakeTranscoder, configure, user_id

TRACKS = (
    b'FILE "a.wav" WAVE\nTRACK 01 AUDIO\n  INDEX 01 00:00:00\nTRACK 02 AUDIO\n  INDEX 01 00:00:30\n'
)


def _files(tmp_path: Path, sheet: bytes = TRACKS) -> list[Upload]:
    audio = tmp_path / "album-spool"
    audio.write_bytes(b"AUDIO " + bytes(range(200)))
    cue = tmp_path / "cue-spool"
    cue.write_bytes(sheet)
    return [Upload(audio, "album.flac"), Upload(cue, "album.cue")]


def _tagged(deps: Dependencies, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """The album's audio probes with ``changes`` (tags, sample rate)."""
    transcoder = cast(FakeTranscoder, deps.transcoder)
    probe = transcoder.probe

    def changed(path: Path, limits: bool = True) -> Probe:
        return dataclasses.replace(probe(path, limits), **changes)

    monkeypatch.setattr(transcoder, "probe", changed)


def _track_tags(deps: Dependencies, view: batches.BatchView) -> list[str]:
    return [cast(FakeBlobs, deps.blobs).files[t.input_key].decode(errors="replace")
            for t in view.tasks]  # fmt: skip


def test_a_sheet_of_the_largest_size_is_read_and_a_byte_more_is_not(
    deps: Dependencies, tmp_path: Path
) -> None:
    uid = user_id(deps)
    largest = TRACKS + b"\n" * (MAX_CUE_BYTES - len(TRACKS))
    assert len(cue_split.upload_album(deps, uid, _files(tmp_path, largest), "mp3").tasks) == 2
    with pytest.raises(InvalidInput, match=r"^cue sheet: larger than 256 kB: not a cue sheet$"):
        cue_split.upload_album(deps, uid, _files(tmp_path, largest + b"\n"), "mp3")


def test_everything_is_checked_before_anything_is_stored(
    deps: Dependencies, tmp_path: Path
) -> None:
    uid = user_id(deps)
    with pytest.raises(InvalidInput) as refused:
        cue_split.upload_album(deps, uid, _files(tmp_path)[1:], "mp3")
    assert refused.value.message == (
        "a cue sheet comes with exactly one audio file, the whole album "
        "(this request has 1 .cue files and 0 others)"
    )
    with pytest.raises(InvalidInput, match=r"^wav is lossless: it has no bitrate to choose$"):
        cue_split.upload_album(
            deps, uid, _files(tmp_path), "wav", requested_options({"bitrate": 96})
        )
    theirs = batches.create_batch(deps, user_id(deps, "bob")).id
    with pytest.raises(NotFound):
        cue_split.upload_album(deps, uid, _files(tmp_path), "mp3", batch_id=theirs)
    configure(deps, quota_tasks_in_flight=1)
    with pytest.raises(TooManyRequests, match="these 2 files would make 2"):
        cue_split.upload_album(deps, uid, _files(tmp_path), "mp3")
    assert cast(FakeBlobs, deps.blobs).files == {}
    assert batches.list_batches(deps, uid) == []


def test_a_track_starting_at_the_very_end_of_the_audio_is_refused(
    deps: Dependencies, tmp_path: Path
) -> None:
    at_end = TRACKS.replace(b"00:00:30", b"00:01:00")  # the fake audio lasts 1 s
    with pytest.raises(InvalidInput) as refused:
        cue_split.upload_album(deps, user_id(deps), _files(tmp_path, at_end), "mp3")
    assert refused.value.message == (
        "cue sheet line 4: track 2 starts at 1.00 s, past the end of the audio (1.00 s)"
    )


def test_audio_without_a_sample_rate_cannot_be_cut(
    deps: Dependencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tagged(deps, monkeypatch, sample_rate=None)
    with pytest.raises(InvalidInput) as refused:
        cue_split.upload_album(deps, user_id(deps), _files(tmp_path), "mp3")
    assert refused.value.message == "the album's audio has no sample rate to cut it at"


def test_tracks_are_cut_in_a_work_folder_made_as_needed(
    deps: Dependencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "deep" / "work"
    configure(deps, work_dir=work)
    transcoder = cast(FakeTranscoder, deps.transcoder)
    split = transcoder.split
    folders: list[Path] = []

    def recorded(src: Path, source: Probe, starts: Sequence[int],
                 tags: Sequence[Mapping[str, str]], folder: Path) -> list[Path]:  # fmt: skip
        folders.append(folder)
        return split(src, source, starts, tags, folder)

    monkeypatch.setattr(transcoder, "split", recorded)
    uid = user_id(deps)
    cue_split.upload_album(deps, uid, _files(tmp_path), "mp3")
    cue_split.upload_album(deps, uid, _files(tmp_path), "mp3")  # the folder exists by now
    assert [f.parent for f in folders] == [work, work]
    assert all(f.name.startswith("audioconv-") and not f.exists() for f in folders)


def test_the_albums_own_tags_go_on_every_track_and_name_the_batch(
    deps: Dependencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tagged(deps, monkeypatch, tags={"ALBUM": "Record", "Album_Artist": "Band", "ARTIST": "Guest",
                                     "COMMENT": "rip log", "Genre": "Jazz"})  # fmt: skip
    view = cue_split.upload_album(deps, user_id(deps), _files(tmp_path), "mp3")
    assert view.batch.name == "Band - Record"
    first = _track_tags(deps, view)[0]
    for kept in ("'album': 'Record'", "'album_artist': 'Band'", "'artist': 'Guest'",
                 "'genre': 'Jazz'", "'title': 'Track 01'"):  # fmt: skip
        assert kept in first, kept
    assert "rip log" not in first  # not an album-wide tag


def test_the_sheet_says_more_than_the_audios_tags(
    deps: Dependencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tagged(deps, monkeypatch, tags={"album": "Old", "artist": "Guest", "genre": "Jazz"})
    sheet = b'PERFORMER "Band"\nTITLE "New"\n' + TRACKS
    view = cue_split.upload_album(deps, user_id(deps), _files(tmp_path, sheet), "mp3")
    assert view.batch.name == "Band - New"
    first = _track_tags(deps, view)[0]
    assert "'album': 'New'" in first and "'artist': 'Band'" in first and "'genre': 'Jazz'" in first


def test_an_albums_artist_names_the_batch_without_an_album_artist(
    deps: Dependencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tagged(deps, monkeypatch, tags={"artist": "Solo"})
    view = cue_split.upload_album(deps, user_id(deps), _files(tmp_path), "mp3")
    assert view.batch.name == "Solo"
    mine = batches.create_batch(deps, view.batch.user_id, "Mine").id
    more = cue_split.upload_album(deps, view.batch.user_id, _files(tmp_path), "mp3", batch_id=mine)
    assert more.batch.name == "Mine" and len(more.tasks) == 2


def test_a_track_over_the_quota_by_now_is_a_failed_task_of_the_album(
    deps: Dependencies, tmp_path: Path
) -> None:
    uid = user_id(deps)
    album = _files(tmp_path)
    configure(deps, quota_stored_bytes=album[0].path.stat().st_size + 10)  # no room for outputs
    view = cue_split.upload_album(
        deps, uid, album, "mp3", webhook_url="https://hooks.example.org/h"
    )
    assert [t.file_name for t in view.tasks] == ["01 Track 01.flac", "02 Track 02.flac"]
    assert all(t.status is TaskStatus.FAILED and t.batch_id == view.batch.id for t in view.tasks)
    assert all(t.output_format == "mp3" for t in view.tasks)
    assert all("over your storage quota" in (t.error or "") for t in view.tasks)


def test_tracks_carry_the_albums_webhook(deps: Dependencies, tmp_path: Path) -> None:
    hook = "https://hooks.example.org/h"
    view = cue_split.upload_album(deps, user_id(deps), _files(tmp_path), "mp3", webhook_url=hook)
    assert [t.webhook_url for t in view.tasks] == [hook, hook]


def test_an_album_that_cannot_be_cut_says_why(
    deps: Dependencies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> list[Path]:
        raise ConversionFailed("the FLAC stream is damaged")

    monkeypatch.setattr(cast(FakeTranscoder, deps.transcoder), "split", broken)
    with pytest.raises(UnsupportedMedia) as refused:
        cue_split.upload_album(deps, user_id(deps), _files(tmp_path), "mp3")
    assert refused.value.message == (
        "the album could not be cut into tracks: the FLAC stream is damaged"
    )
