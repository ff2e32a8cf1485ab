"""Two small rules read by the edges: a refusal with no name for the file passes on what
ffmpeg said, and only a RetryLater that knows its time tells a consumer when to retry."""

from __future__ import annotations

from audioconv.domain.errors import RetryLater, retry_delay
from audioconv.domain.refused_formats import refusal


def test_an_unnamed_file_is_refused_with_ffmpegs_reason_else_where_to_look() -> None:
    assert refusal(b"hello", "its header is damaged") == (
        "not an audio file we can read (its header is damaged)"
    )
    assert refusal(b"hello", "") == (
        "not an audio file we can read: the formats we read are listed at GET /api/formats"
    )
    # The first bytes win over the reason: they say what the file is.
    assert refusal(b"%PDF-1.7", "no audio stream") == (
        "not an audio file we can read: it is a PDF document"
    )


def test_a_retry_delay_is_given_only_by_a_retry_later_that_knows_it() -> None:
    assert retry_delay(RetryLater("busy", after_seconds=12.5)) == 12.5
    assert retry_delay(RetryLater("busy")) is None
    assert retry_delay(RuntimeError("boom")) is None
