"""Batches on fakes of every port: their ids and names as requests give them (the
request models of entrypoints/schemas.py), who may see
them, multi-file uploads (one task per file sent, refused files included) and deletion."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from audioconv.domain.errors import InvalidInput, NotFound, PayloadTooLarge, TooManyRequests
from audioconv.domain.model import TaskStatus
from audioconv.domain.options import requested_options
from audioconv.entrypoints.schemas import InBatch, NewBatchBody
from audioconv.entrypoints.web import validated
from audioconv.services import batches, tasks
from audioconv.services.batches import Upload
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import FakeBlobs, FakeBus

ANN, BOB = 1, 2


def blobs(deps: Dependencies) -> FakeBlobs:
    return cast(FakeBlobs, deps.blobs)


def spooled(tmp_path: Path, name: str, content: bytes = b"AUDIO samples") -> Upload:
    path = tmp_path / f"spool-{len(list(tmp_path.iterdir()))}"
    path.write_bytes(content)
    return Upload(path, name)


# --- the batch field and the name ---------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), (7, 7), ("12", 12),
                                                 (" 12 ", 12), (2**31 - 1, 2**31 - 1),
                                                 (7.0, 7)])  # fmt: skip  # JSON's 7.0 is 7
def test_the_batch_field_is_empty_or_a_batch_id(value: object, expected: int | None) -> None:
    assert validated(InBatch, {"batch": value}).batch == expected


@pytest.mark.parametrize("value", [True, False, 1.5, "1.5", "abc", "12abc", "-3", "١٢", " ", [1]])
def test_a_batch_field_that_is_not_a_whole_number_is_refused(value: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        validated(InBatch, {"batch": value})
    assert refused.value.message == "batch must be a batch id (a whole number)"


@pytest.mark.parametrize(("value", "shown"), [(0, "0"), ("0", "0"), (2**31, "2147483648")])
def test_a_number_no_batch_can_have_is_not_found(
    deps: Dependencies, value: object, shown: str
) -> None:
    with pytest.raises(NotFound) as missing:
        batches.check_batch(deps, ANN, validated(InBatch, {"batch": value}).batch)
    assert missing.value.message == f"no batch {shown}"


def test_a_batch_name_is_optional_text_of_at_most_200_characters() -> None:
    def name(value: object) -> str | None:
        return validated(NewBatchBody, {"name": value}).name

    assert name(None) is None and validated(NewBatchBody, {}).name is None
    assert name("") is None
    assert name("x" * 200) == "x" * 200
    assert name("Live at the Roxy") == "Live at the Roxy"
    with pytest.raises(InvalidInput) as long:
        name("x" * 201)
    assert long.value.message == "name must be at most 200 characters"
    with pytest.raises(InvalidInput) as number:
        name(5)
    assert number.value.message == "name must be text"
    with pytest.raises(InvalidInput) as control:
        name("a\x00b")
    assert control.value.message == "name must not contain control characters"


# --- owning, listing, deleting ------------------------------------------------------------


def test_a_batch_is_its_owners_alone(deps: Dependencies) -> None:
    batch = batches.create_batch(deps, ANN, "mine")
    assert batch.id is not None
    assert batch.name == "mine" and batch.user_id == ANN and batch.created_at == deps.clock()
    assert batches.get_batch(deps, ANN, batch.id).batch is batch
    batches.check_batch(deps, ANN, batch.id)
    batches.check_batch(deps, BOB, None)
    for wrong in (lambda: batches.get_batch(deps, BOB, batch.id or 0),
                  lambda: batches.check_batch(deps, BOB, batch.id),
                  lambda: batches.delete_batch(deps, BOB, batch.id or 0)):  # fmt: skip
        with pytest.raises(NotFound) as missing:
            wrong()
        assert missing.value.message == f"no batch {batch.id}"
    with pytest.raises(NotFound, match=r"^no batch 99$"):
        batches.get_batch(deps, ANN, 99)
    with pytest.raises(NotFound, match=r"^no batch 0$"):
        batches.get_batch(deps, ANN, 0)
    assert [v.batch for v in batches.list_batches(deps, ANN)] == [batch]
    assert batches.list_batches(deps, BOB) == []


def test_a_batch_shows_its_tasks_and_how_far_they_are(deps: Dependencies, tmp_path: Path) -> None:
    view = batches.upload_files(deps, ANN, [spooled(tmp_path, "a.mp3"), spooled(tmp_path, "b.mp3")],
                                "ogg")  # fmt: skip
    batch_id = view.batch.id
    assert batch_id is not None
    view.tasks[0].fail("broken", deps.clock())
    shown = batches.get_batch(deps, ANN, batch_id)
    assert [t.file_name for t in shown.tasks] == ["a.mp3", "b.mp3"]
    assert shown.progress.as_json() == {"total": 2, "uploaded": 1, "processing": 0,
                                        "processed": 0, "failed": 1, "done": 0.5}  # fmt: skip
    empty = batches.create_batch(deps, ANN)
    listed = batches.list_batches(deps, ANN)
    assert [v.batch for v in listed] == [view.batch, empty]
    assert [v.progress.as_json()["total"] for v in listed] == [2, 0]
    assert listed[0].progress.counts[TaskStatus.FAILED] == 1
    assert all(v.tasks == () for v in listed)


def test_deleting_a_batch_deletes_its_tasks_and_their_files(
    deps: Dependencies, tmp_path: Path
) -> None:
    view = batches.upload_files(deps, ANN, [spooled(tmp_path, "a.mp3"), spooled(tmp_path, "b.mp3")],
                                "ogg")  # fmt: skip
    other = tasks.create_task(deps, ANN, spooled(tmp_path, "c.mp3").path, "c.mp3", "ogg")
    assert view.batch.id is not None and len(blobs(deps).files) == 3
    batches.delete_batch(deps, ANN, view.batch.id)
    assert list(blobs(deps).files) == [other.input_key]
    assert [t.id for t in tasks.list_tasks(deps, ANN, None, False)] == [other.id]
    with pytest.raises(NotFound):
        batches.get_batch(deps, ANN, view.batch.id)


# --- uploading several files --------------------------------------------------------------


def test_files_uploaded_together_make_a_new_batch_of_tasks(
    deps: Dependencies, tmp_path: Path
) -> None:
    files = [spooled(tmp_path, "a.mp3"), spooled(tmp_path, "b.mp3")]
    view = batches.upload_files(deps, ANN, files, ".OGG", requested_options({"quality": "high"}),
                                webhook_url="https://hooks.example.com/x")  # fmt: skip
    assert view.batch.id is not None and view.batch.user_id == ANN and view.batch.name is None
    assert [(t.file_name, t.output_format, t.status, t.batch_id) for t in view.tasks] == [
        ("a.mp3", "ogg", TaskStatus.UPLOADED, view.batch.id),
        ("b.mp3", "ogg", TaskStatus.UPLOADED, view.batch.id),
    ]
    assert all(t.options.as_json() == {"quality": "high"} for t in view.tasks)
    assert all(t.webhook_url == "https://hooks.example.com/x" for t in view.tasks)
    requested = [TaskRef.from_message(data).task_id
                 for topic, data, _ in cast(FakeBus, deps.bus).published
                 if topic == deps.settings.conversion_topic]  # fmt: skip
    assert requested == [t.id for t in view.tasks]


def test_files_uploaded_into_a_batch_join_it(deps: Dependencies, tmp_path: Path) -> None:
    batch = batches.create_batch(deps, ANN, "album")
    view = batches.upload_files(deps, ANN, [spooled(tmp_path, "a.mp3")], "ogg",
                                batch_id=batch.id)  # fmt: skip
    assert view.batch is batch and [t.batch_id for t in view.tasks] == [batch.id]
    assert [v.batch for v in batches.list_batches(deps, ANN)] == [batch]


@pytest.mark.parametrize(
    ("fmt", "options", "message"),
    [("mp4", None, "unknown format 'mp4'"), ("ogg", {"bitrate": 5}, "bitrate")],
)
def test_a_wrong_format_or_option_refuses_every_file_before_anything_is_stored(
    deps: Dependencies, tmp_path: Path, fmt: str, options: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        batches.upload_files(
            deps, ANN, [spooled(tmp_path, "a.mp3")], fmt, requested_options(options or {})
        )
    assert blobs(deps).files == {} and batches.list_batches(deps, ANN) == []


def test_someone_elses_batch_refuses_every_file(deps: Dependencies, tmp_path: Path) -> None:
    theirs = batches.create_batch(deps, BOB)
    with pytest.raises(NotFound, match=rf"^no batch {theirs.id}$"):
        batches.upload_files(deps, ANN, [spooled(tmp_path, "a.mp3")], "ogg", batch_id=theirs.id)
    assert blobs(deps).files == {} and tasks.list_tasks(deps, BOB, None, False) == []


def test_the_quota_is_checked_for_all_the_files_together(
    deps: Dependencies, tmp_path: Path
) -> None:
    deps.settings = deps.settings.model_copy(update={"quota_tasks_in_flight": 2,
                                                     "quota_stored_bytes": 30})  # fmt: skip
    three = [spooled(tmp_path, n, b"AUDIO") for n in ("a.mp3", "b.mp3", "c.mp3")]
    with pytest.raises(TooManyRequests) as many:
        batches.upload_files(deps, ANN, three, "ogg")
    assert many.value.message == (
        "you have 0 conversions waiting or running and these 3 files would make 3, the limit "
        "is 2; send more when some have finished"
    )
    two = [spooled(tmp_path, n, b"AUDIO 6789 12345") for n in ("a.mp3", "b.mp3")]  # 16 each
    with pytest.raises(PayloadTooLarge, match="your files would take up to 32 bytes"):
        batches.upload_files(deps, ANN, two, "ogg")
    assert blobs(deps).files == {} and batches.list_batches(deps, ANN) == []


def test_a_refused_file_becomes_a_failed_task_and_the_others_go_on(
    deps: Dependencies, tmp_path: Path
) -> None:
    files = [spooled(tmp_path, "a.mp3"), spooled(tmp_path, "../notes..txt.", b"plain text"),
             spooled(tmp_path, "b.mp3")]  # fmt: skip
    view = batches.upload_files(deps, ANN, files, "ogg", requested_options({"quality": "low"}))
    good, refused, other = view.tasks
    assert (good.status, other.status) == (TaskStatus.UPLOADED, TaskStatus.UPLOADED)
    assert refused.status is TaskStatus.FAILED and refused.refused
    assert refused.error == "not an audio file we can read (fake)"
    assert refused.file_name == "notes..txt" and refused.batch_id == view.batch.id
    assert refused.output_format == "ogg" and refused.options.as_json() == {"quality": "low"}
    assert refused.input_key.startswith("uploads/") and refused.input_key.endswith("/notes..txt")
    assert refused.input_key not in blobs(deps).files
    assert sorted(blobs(deps).files) == sorted([good.input_key, other.input_key])
    announced = [TaskRef.from_message(data).task_id
                 for topic, data, _ in cast(FakeBus, deps.bus).published
                 if topic == deps.settings.finished_topic]  # fmt: skip
    assert announced == [refused.id]
    assert view.progress.as_json()["failed"] == 1


def test_refused_files_are_kept_apart_from_each_other(deps: Dependencies, tmp_path: Path) -> None:
    files = [spooled(tmp_path, "x.txt", b"text"), spooled(tmp_path, "x.txt", b"text")]
    first, second = batches.upload_files(deps, ANN, files, "ogg").tasks
    assert first.input_key != second.input_key


def test_an_id_no_row_can_have_is_not_found(deps: Dependencies) -> None:
    for missing in (0, 2**31, -(2**31) - 1):
        with pytest.raises(NotFound, match=f"^no batch {missing}$"):
            batches.get_batch(deps, ANN, missing)


def test_the_files_uploaded_together_are_the_uploaders_tasks_refused_ones_too(
    deps: Dependencies, tmp_path: Path
) -> None:
    files = [spooled(tmp_path, "a.mp3"), spooled(tmp_path, "notes.txt", b"plain text")]
    view = batches.upload_files(deps, ANN, files, "ogg")
    assert [t.user_id for t in view.tasks] == [ANN, ANN]
    assert tasks.list_tasks(deps, ANN, None, False) == list(view.tasks)
    assert tasks.list_tasks(deps, BOB, None, False) == []


def test_the_quota_counts_the_uploaders_conversions_already_waiting(
    deps: Dependencies, tmp_path: Path
) -> None:
    deps.settings = deps.settings.model_copy(update={"quota_tasks_in_flight": 2})
    batches.upload_files(deps, ANN, [spooled(tmp_path, "a.mp3")], "ogg")
    batches.upload_files(deps, BOB, [spooled(tmp_path, "b.mp3")], "ogg")
    with pytest.raises(TooManyRequests) as many:
        batches.upload_files(deps, ANN, [spooled(tmp_path, "c.mp3"), spooled(tmp_path, "d.mp3")],
                             "ogg")  # fmt: skip
    assert many.value.message.startswith(
        "you have 1 conversions waiting or running and these 2 files would make 3"
    )
