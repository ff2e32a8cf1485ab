"""The rules of URL imports and resumable uploads that need no network: what a task
awaiting its fetch shows, what a fetched one records, how a source URL is shown,
and how tus metadata is read."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from audioconv.domain.errors import InvalidInput
from audioconv.domain.model import Task, TaskStatus
from audioconv.domain.source_url import BadSourceUrl, check_url_syntax, shown
from audioconv.services.resumable import parse_metadata

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _task(**kwargs: object) -> Task:
    return Task(user_id=1, file_name="talk.flac", input_format="unknown", output_format="mp3",
                input_key="imports/x/input", **kwargs)  # type: ignore[arg-type]  # fmt: skip


def test_a_task_awaiting_its_fetch_shows_downloading_until_it_is_fetched_or_finished() -> None:
    task = _task(source_url="https://example.org/talk.flac?sig=1")
    assert task.awaits_fetch and task.shown_status == "downloading"
    task.status = TaskStatus.PROCESSING
    assert task.shown_status == "downloading"
    task.fetched({"codec": "flac"}, "flac", 1234, "Talk.flac", 99, NOW)
    assert not task.awaits_fetch and task.shown_status == "processing"
    assert (task.input_format, task.input_bytes, task.file_name, task.reserved_bytes) == (
        "flac", 1234, "Talk.flac", 99)  # fmt: skip
    assert task.progress == 0.0 and task.updated_at == NOW
    failed = _task(source_url="https://example.org/a.wav")
    failed.fail("could not fetch the file: 404", NOW)
    assert failed.awaits_fetch and failed.shown_status == "failed"
    assert _task().shown_status == "uploaded" and not _task().awaits_fetch


@pytest.mark.parametrize(("url", "expected"), [
    ("https://bucket.example.org/a/b.wav?X-Goog-Signature=abc", "https://bucket.example.org/a/b.wav?..."),
    ("http://u:p@host:8080/x.wav", "http://host:8080/x.wav"),
    ("http://[::1]:99/x", "http://[::1]:99/x"),
    ("http://host:99999/x", "http://host/x"),
])  # fmt: skip
def test_a_source_url_is_shown_without_its_query_or_credentials(url: str, expected: str) -> None:
    assert shown(url) == expected


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://host/a", "http:// or https://"), ("http:///a", "no host"),
    ("http://a b/", "spaces"), ("http://u:p@h/a", "user name"), ("http://h:99999/", "valid URL"),
    ("", "at most"), ("https://h/" + "a" * 5000, "at most"),
])  # fmt: skip
def test_bad_source_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(BadSourceUrl, match=reason):
        check_url_syntax(url)


def test_tus_metadata_is_base64_pairs() -> None:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    assert parse_metadata(f"filename {b64('Ünï.wav')},newFormat {b64('mp3')}, empty ") == {
        "filename": "Ünï.wav", "newFormat": "mp3", "empty": ""}  # fmt: skip
    assert parse_metadata(None) == {}
    with pytest.raises(InvalidInput, match="twice"):
        parse_metadata(f"a {b64('1')},a {b64('2')}")
    with pytest.raises(InvalidInput, match="base64"):
        parse_metadata("a %%%")
