"""An album and its cue sheet into a task per track, on fakes of every port: what is
checked before anything is stored, and what each track is called and tagged."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from audioconv.domain.errors import InvalidInput
from audioconv.domain.options import ConversionOptions
from audioconv.services import batches, cue_split
from audioconv.services.batches import Upload
from audioconv.services.dependencies import Dependencies
from tests.unit.fakes import FakeBlobs

ANN = 1
SHEET = b"""PERFORMER "Band"
TITLE "Record"
FILE "other name.wav" WAVE
TRACK 01 AUDIO
  TITLE "A/B"
  INDEX 01 00:00:00
TRACK 02 AUDIO
  INDEX 01 00:00:30
"""


def files(tmp_path: Path, sheet: bytes) -> list[Upload]:
    audio = tmp_path / "album-spool"
    audio.write_bytes(b"AUDIO " + bytes(range(200)))
    cue = tmp_path / "cue-spool"
    cue.write_bytes(sheet)
    return [Upload(audio, "album.flac"), Upload(cue, "album.CUE")]


def test_each_track_is_a_task_of_a_batch_named_for_the_album(
    deps: Dependencies, tmp_path: Path
) -> None:
    view = cue_split.upload_album(
        deps, ANN, files(tmp_path, SHEET), "mp3", ConversionOptions(gain="album")
    )
    assert view.batch.name == "Band - Record"
    assert [t.file_name for t in view.tasks] == ["01 A_B.flac", "02 Track 02.flac"]
    assert all(t.options.gain == "album" for t in view.tasks)
    stored = cast(FakeBlobs, deps.blobs).files
    second = stored[view.tasks[1].input_key]
    assert b"'title': 'Track 02'" in second and b"'track': '2/2'" in second


@pytest.mark.parametrize(
    ("sheet", "message"),
    [
        (
            b"FILE a WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:00\nTRACK 02 AUDIO\nINDEX 01 00:05:00\n",
            "cue sheet line 4: track 2 starts at 5.00 s, past the end of the audio (1.00 s)",
        ),
        (
            b"FILE a WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:00\nBOGUS\n",
            "cue sheet line 4: unknown command 'BOGUS'",
        ),
        (b"REM " * 70000, "cue sheet: larger than 256 kB"),
    ],
)
def test_a_sheet_that_cannot_be_cut_by_stores_nothing(
    deps: Dependencies, tmp_path: Path, sheet: bytes, message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        cue_split.upload_album(deps, ANN, files(tmp_path, sheet), "mp3")
    assert refused.value.message.startswith(message)
    assert cast(FakeBlobs, deps.blobs).files == {}
    assert batches.list_batches(deps, ANN) == []


def test_one_sheet_goes_with_one_audio_file(deps: Dependencies, tmp_path: Path) -> None:
    two = [*files(tmp_path, SHEET), Upload(tmp_path / "album-spool", "more.flac")]
    with pytest.raises(InvalidInput, match=r"1 \.cue files and 2 others"):
        cue_split.upload_album(deps, ANN, two, "mp3")
    assert cue_split.has_cue_sheet(two) and not cue_split.has_cue_sheet(two[:1])
