"""The batch domain: names made unique for a ZIP, and progress from task statuses."""

from __future__ import annotations

from audioconv.domain.batch import BatchProgress, unique_names
from audioconv.domain.model import TaskStatus


def test_names_are_made_unique_before_the_extension_ignoring_case() -> None:
    names = ["song.mp3", "song.mp3", "Song.MP3", "song (2).mp3", "other.ogg", "noext", "noext"]
    assert unique_names(names, taken=["manifest.json"]) == [
        "song.mp3", "song (2).mp3", "Song (3).MP3", "song (2) (2).mp3", "other.ogg", "noext",
        "noext (2)",
    ]  # fmt: skip
    assert unique_names(["manifest.json"], taken=["manifest.json"]) == ["manifest (2).json"]


def test_progress_counts_each_status_and_the_finished_fraction() -> None:
    statuses = [TaskStatus.PROCESSED, TaskStatus.FAILED, TaskStatus.UPLOADED, TaskStatus.PROCESSED]
    progress = BatchProgress.of(statuses)
    assert progress.as_json() == {"total": 4, "uploaded": 1, "processing": 0, "processed": 2,
                                  "failed": 1, "done": 0.75}  # fmt: skip
    assert BatchProgress.of([]).as_json()["done"] == 1.0
    assert BatchProgress.counted({TaskStatus.PROCESSING: 3}).done == 0.0
