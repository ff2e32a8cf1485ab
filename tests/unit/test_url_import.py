"""URL imports on fakes (a fetcher that serves bytes it is given): what a request
records, what the claiming attempt fetches, checks and stores, and the reason a user
reads when the fetch or the file is refused. tests/integration/test_url_import.py
fetches from a real server through the real guard."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from audioconv.domain.errors import ConversionFailed, InvalidInput, NotFound, TooManyRequests
from audioconv.domain.model import Task, TaskStatus
from audioconv.domain.options import requested_options
from audioconv.ports import Fetched, FetchFailed
from audioconv.services import batches, conversion, tasks, url_import
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef
from tests.unit.fakes import Clock, FakeBlobs, FakeBus, configure, fake_deps, user_id

URL = "https://files.example.org/music/My%20Song.flac?sig=abc"
AUDIO = b"AUDIO fetched samples"
Progress = Callable[[int, int | None], None]  # bytes so far, the size announced


class FakeFetcher:
    """Serves ``body`` for every URL, reporting ``steps`` of (done, total) as it goes;
    refuses the hosts in ``refused`` and fails every fetch with ``fail_with``."""

    def __init__(self) -> None:
        self.body = AUDIO
        self.name: str | None = None
        self.steps: list[tuple[int, int | None]] = []
        self.refused: set[str] = set()
        self.fail_with: str | None = None
        self.fetched: list[tuple[str, int]] = []  # (url, max_bytes) of each fetch
        self.during_fetch: Callable[[], None] | None = None
        self.after_step: Callable[[], None] | None = None  # runs after each progress report
        self.folders: list[Path] = []  # where each fetch wrote

    def check(self, url: str) -> None:
        if any(host in url for host in self.refused):
            raise FetchFailed("the URL's host is a private address")

    def fetch(self, url: str, dest: Path, max_bytes: int,
              on_progress: Progress = lambda *_: None) -> Fetched:  # fmt: skip
        self.fetched.append((url, max_bytes))
        self.folders.append(dest.parent)
        for done, total in self.steps:
            on_progress(done, total)
            if self.after_step:
                self.after_step()
        if self.during_fetch:
            self.during_fetch()
        if self.fail_with:
            raise FetchFailed(self.fail_with)
        dest.write_bytes(self.body)
        return Fetched(len(self.body), self.name, "audio/flac")


@pytest.fixture
def fetcher() -> FakeFetcher:
    return FakeFetcher()


@pytest.fixture
def deps(tmp_path: Path, fetcher: FakeFetcher) -> Dependencies:
    return dataclasses.replace(fake_deps(tmp_path), fetcher=fetcher)


def _blobs(deps: Dependencies) -> FakeBlobs:
    return cast(FakeBlobs, deps.blobs)


def _claimed(deps: Dependencies, task: Task) -> Task:
    """The task as the worker's claim leaves it, before the fetch."""
    with deps.uow() as uow:
        found = uow.tasks.get(task.id or 0, for_update=True)
        assert found is not None
        found.claim(task.revision, deps.clock(), timedelta(seconds=60), "w1")
        uow.commit()
    return found


# --- the request ------------------------------------------------------------------------


def test_a_url_is_checked_by_the_fetcher_and_refusals_say_why(
    deps: Dependencies, fetcher: FakeFetcher
) -> None:
    assert url_import.checked_url(deps, URL) == URL
    with pytest.raises(InvalidInput, match=r"^sourceUrl must be an http\(s\) URL$"):
        url_import.checked_url(deps, 42)
    fetcher.refused.add("10.0.0.1")
    with pytest.raises(InvalidInput, match=r"^the URL's host is a private address$"):
        url_import.checked_url(deps, "http://10.0.0.1/a.wav")
    deps.fetcher = None
    with pytest.raises(InvalidInput, match=r"^this server does not import files from URLs$"):
        url_import.checked_url(deps, URL)


def test_an_import_records_a_task_awaiting_its_file_and_requests_it(deps: Dependencies) -> None:
    uid = user_id(deps)
    options = requested_options({"bitrate": 96})
    task = url_import.import_url(deps, uid, URL, "MP3", options, "https://hooks.example.org/x")
    assert (task.user_id, task.source_url, task.output_format) == (uid, URL, "mp3")
    # The name from the URL's path, unquoted (the server may give another later).
    assert (task.file_name, task.input_format, task.input_bytes) == ("My Song.flac", "unknown", 0)
    assert task.input_key.startswith("imports/") and task.input_key.endswith("/input")
    assert len(task.input_key.split("/")[1]) == 32
    assert task.options.bitrate == 96 and task.webhook_url == "https://hooks.example.org/x"
    assert task.shown_status == "downloading" and task.status is TaskStatus.UPLOADED
    assert _blobs(deps).files == {}  # nothing fetched yet: the worker does that
    ((topic, data, _),) = cast(FakeBus, deps.bus).published
    assert data["taskId"] == task.id and topic == deps.settings.conversion_topic
    with pytest.raises(InvalidInput, match="format"):
        url_import.import_url(deps, uid, URL, "exe")


def test_a_url_without_a_file_name_imports_as_audio(deps: Dependencies) -> None:
    task = url_import.import_url(deps, user_id(deps), "https://example.org/", "wav")
    assert task.file_name == "audio"


def test_several_urls_make_one_batch_after_every_check(deps: Dependencies) -> None:
    uid = user_id(deps)
    urls = [f"https://example.org/{n}.wav" for n in range(3)]
    view = url_import.import_urls(deps, uid, urls, "flac")
    assert [t.file_name for t in view.tasks] == ["0.wav", "1.wav", "2.wav"]
    assert {t.batch_id for t in view.tasks} == {view.batch.id}
    assert view.batch.user_id == uid
    hook = "https://hooks.example.org/h"
    more = url_import.import_urls(deps, uid, urls[:1], "ogg", requested_options({"bitrate": 96}),
                                  batch_id=view.batch.id, webhook_url=hook)  # fmt: skip
    assert more.batch.id == view.batch.id and len(more.tasks) == 4
    added = more.tasks[-1]
    assert (added.options.bitrate, added.webhook_url) == (96, hook)
    with pytest.raises(NotFound):
        url_import.import_urls(deps, user_id(deps, "bob"), urls, "flac", batch_id=view.batch.id)
    assert len(batches.get_batch(deps, uid, view.batch.id or 0).tasks) == 4  # none of bob's


def test_at_most_max_urls_per_request(deps: Dependencies) -> None:
    uid = user_id(deps)
    configure(deps, quota_tasks_in_flight=0)
    urls = [f"https://example.org/{n}.wav" for n in range(url_import.MAX_URLS)]
    assert len(url_import.import_urls(deps, uid, urls, "mp3").tasks) == url_import.MAX_URLS
    with pytest.raises(InvalidInput, match=r"^at most 100 URLs per request$"):
        url_import.import_urls(deps, uid, [*urls, urls[0]], "mp3")


def test_the_quota_counts_every_url_before_any_is_recorded(deps: Dependencies) -> None:
    uid = user_id(deps)
    configure(deps, quota_tasks_in_flight=2)
    urls = [f"https://example.org/{n}.wav" for n in range(3)]
    with pytest.raises(TooManyRequests, match="these 3 files would make 3"):
        url_import.import_urls(deps, uid, urls, "mp3")
    with pytest.raises(InvalidInput, match="format"):
        url_import.import_urls(deps, uid, urls[:1], "exe")
    with pytest.raises(InvalidInput, match=r"^wav is lossless: it has no bitrate to choose$"):
        url_import.import_urls(deps, uid, urls[:1], "wav", requested_options({"bitrate": 96}))
    assert tasks.list_tasks(deps, uid, None, False) == []  # no batch, no task
    assert batches.list_batches(deps, uid) == []
    url_import.import_url(deps, uid, URL, "mp3")  # one in flight already
    with pytest.raises(TooManyRequests, match="you have 1 conversions waiting or running and "
                                              "these 2 files would make 3"):  # fmt: skip
        url_import.import_urls(deps, uid, urls[:2], "mp3")


# --- the fetch --------------------------------------------------------------------------


def test_the_worker_fetches_checks_stores_and_converts_the_file(
    deps: Dependencies, fetcher: FakeFetcher
) -> None:
    configure(deps, max_upload_bytes=12345)
    task = url_import.import_url(deps, user_id(deps), URL, "opus")
    fetcher.name = "../Real Name.flac"
    conversion.convert(deps, TaskRef.of(task))
    assert fetcher.fetched == [(URL, 12345)]  # at most what an upload may be
    assert task.status is TaskStatus.PROCESSED and task.error is None
    assert _blobs(deps).files[task.input_key] == AUDIO
    assert _blobs(deps).content_types[task.input_key] == "application/octet-stream"
    assert (task.file_name, task.input_format, task.input_bytes) == (
        "Real Name.flac", "mp3", len(AUDIO))  # fmt: skip
    assert task.input_probe is not None and task.output_name == "Real Name.opus"
    assert _blobs(deps).files[task.output_key or ""] == b"AUDIO opus " + AUDIO


def test_without_a_name_from_the_server_the_url_names_the_file(
    deps: Dependencies, tmp_path: Path
) -> None:
    task = _claimed(deps, url_import.import_url(deps, user_id(deps), URL, "mp3"))
    change = url_import.fetch_input(deps, task, tmp_path, lambda percent: None)
    change(task)
    assert task.file_name == "My Song.flac" and not task.awaits_fetch
    assert task.reserved_bytes > 0  # room held for its output in the owner's quota


def test_fetch_progress_is_a_percentage_of_the_announced_size(
    deps: Dependencies, fetcher: FakeFetcher, tmp_path: Path
) -> None:
    task = _claimed(deps, url_import.import_url(deps, user_id(deps), URL, "mp3"))
    fetcher.steps = [(0, 400), (100, 400), (400, 400), (5, None), (7, 0)]
    seen: list[float] = []
    url_import.fetch_input(deps, task, tmp_path, seen.append)
    assert seen == [0.0, 25.0, 100.0, 0.0, 0.0]


@pytest.mark.parametrize(("gap", "progress"), [
    (1.0, [25.0, 50.0, 75.0]),  # a second between reports: each one renews
    (0.5, [0.0, 50.0, 50.0]),  # half a second: every other one
])  # fmt: skip
def test_the_lease_is_renewed_with_progress_once_a_second_while_bytes_arrive(
    deps: Dependencies, fetcher: FakeFetcher, monkeypatch: pytest.MonkeyPatch,
    gap: float, progress: list[float],
) -> None:  # fmt: skip
    task = url_import.import_url(deps, user_id(deps), URL, "mp3")
    ticks = iter(range(1000))  # ``gap`` seconds pass between readings of the clock
    monkeypatch.setattr(time, "monotonic", lambda: next(ticks) * gap)
    fetcher.steps = [(1, 4), (2, 4), (3, 4)]
    shown: list[tuple[str, float]] = []
    fetcher.after_step = lambda: shown.append((task.shown_status, task.progress))
    conversion.convert(deps, TaskRef.of(task))
    assert shown == [("downloading", percent) for percent in progress]
    assert task.status is TaskStatus.PROCESSED


def test_a_fetch_writes_into_its_own_folder_in_the_work_folder(
    deps: Dependencies, fetcher: FakeFetcher
) -> None:
    task = url_import.import_url(deps, user_id(deps), URL, "mp3")
    conversion.convert(deps, TaskRef.of(task))
    (folder,) = fetcher.folders
    assert folder.parent == deps.settings.resolved_work_dir
    assert folder.name.startswith("audioconv-") and not folder.exists()


@pytest.mark.parametrize(("body", "reason"), [
    (b"<html>not found</html>", "^not an audio file we can read \\(fake\\)$"),
    (AUDIO, "^could not fetch the file: 404 Not Found$"),
])  # fmt: skip
def test_a_refused_fetch_fails_the_task_with_the_reason(
    deps: Dependencies, fetcher: FakeFetcher, body: bytes, reason: str
) -> None:
    task = url_import.import_url(deps, user_id(deps), URL, "mp3")
    fetcher.body = body
    fetcher.fail_with = "404 Not Found" if body == AUDIO else None
    conversion.convert(deps, TaskRef.of(task))
    assert task.status is TaskStatus.FAILED
    assert re.match(reason, task.error or "")
    assert _blobs(deps).files == {}  # nothing kept


def test_a_fetched_file_over_the_storage_quota_fails_but_the_task_itself_may_be_in_flight(
    deps: Dependencies, fetcher: FakeFetcher, tmp_path: Path
) -> None:
    uid = user_id(deps)
    configure(deps, quota_tasks_in_flight=1)  # the import itself is the one in flight
    task = _claimed(deps, url_import.import_url(deps, uid, URL, "wav"))
    url_import.fetch_input(deps, task, tmp_path, lambda p: None)
    configure(deps, quota_stored_bytes=len(AUDIO) + 10)
    with pytest.raises(ConversionFailed, match="over your storage quota"):
        url_import.fetch_input(deps, task, tmp_path, lambda p: None)


def test_the_storage_quota_counts_what_the_owner_stores_already(
    deps: Dependencies, tmp_path: Path, upload: Path
) -> None:
    uid = user_id(deps)
    other = tasks.create_task(deps, uid, upload, "other.mp3", "mp3")
    configure(deps, quota_stored_bytes=other.stored_bytes + 10)  # room for one such file
    task = _claimed(deps, url_import.import_url(deps, uid, URL, "mp3"))
    with pytest.raises(ConversionFailed, match="over your storage quota"):
        url_import.fetch_input(deps, task, tmp_path, lambda p: None)
    alone = _claimed(deps, url_import.import_url(deps, user_id(deps, "bob"), URL, "mp3"))
    url_import.fetch_input(deps, alone, tmp_path, lambda p: None)  # bob stores nothing else


def test_a_trim_is_checked_against_the_fetched_audio_and_the_fetch_is_recorded_now(
    deps: Dependencies, tmp_path: Path
) -> None:
    uid = user_id(deps)
    trimmed = _claimed(deps, url_import.import_url(deps, uid, URL, "mp3",
                                                   requested_options({"start": 10})))  # fmt: skip
    with pytest.raises(ConversionFailed, match=r"^start \(10 s\) is not before the audio's end"):
        url_import.fetch_input(deps, trimmed, tmp_path, lambda p: None)
    task = _claimed(deps, url_import.import_url(deps, uid, URL, "mp3"))
    cast(Clock, deps.clock).advance(30)
    url_import.fetch_input(deps, task, tmp_path, lambda p: None)(task)
    assert task.updated_at == deps.clock()


def test_a_server_that_does_not_fetch_fails_the_import(deps: Dependencies, tmp_path: Path) -> None:
    task = _claimed(deps, url_import.import_url(deps, user_id(deps), URL, "mp3"))
    deps.fetcher = None
    with pytest.raises(ConversionFailed, match=r"^this server does not import files from URLs$"):
        url_import.fetch_input(deps, task, tmp_path, lambda p: None)


def test_a_task_deleted_during_its_fetch_is_left_alone(
    deps: Dependencies, fetcher: FakeFetcher
) -> None:
    uid = user_id(deps)
    task = url_import.import_url(deps, uid, URL, "mp3")
    fetcher.during_fetch = lambda: tasks.delete_task(deps, uid, task.id or 0)
    conversion.convert(deps, TaskRef.of(task))  # the lease is lost: no error, no retry
    assert not any(key.startswith("outputs/") for key in _blobs(deps).files)
    assert task.status is TaskStatus.PROCESSING and task.error is None
