"""Errors the services raise, each saying what went wrong in words a user can read.

They know nothing of HTTP: ``entrypoints/errors.py`` maps each to a status."""

from __future__ import annotations


class AudioconvError(Exception):
    """Base of all expected errors: each carries a message a user can read."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AudioconvError):
    """A missing or malformed field, an unknown format, an option the format cannot do."""


class Unauthorized(AudioconvError):
    """No credentials, or wrong or expired ones."""


class Forbidden(AudioconvError):
    """Known, but not allowed to do this."""


class NotFound(AudioconvError):
    """No such thing, or not the caller's."""


class Conflict(AudioconvError):
    """Conflicts with the current state (taken, used already, not ready)."""


class PayloadTooLarge(AudioconvError):
    """Larger than a limit (a file, a request, a quota); the message names it."""

    @classmethod
    def over(cls, limit: int) -> PayloadTooLarge:
        """The error for an upload larger than ``limit`` bytes (one wording everywhere)."""
        return cls(f"upload is larger than the limit of {limit} bytes")


class UnsupportedMedia(AudioconvError):
    """Not audio we can read, judged by its content."""


class TooManyRequests(AudioconvError):
    """Slow down: try again in ``retry_after`` seconds (0: when something finishes)."""

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidTransition(Exception):
    """A task was asked for a change its state does not allow (``Task``'s transition
    table): a bug in the caller, never the user's doing."""


class ConversionFailed(Exception):
    """ffmpeg could not convert this input: permanent, shown to the user as the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailRejected(Exception):
    """The mail server refused this message for good (a 5xx reply): sending it again
    cannot help. Transient failures (4xx, no connection) are raised as they are."""


class RetryLater(Exception):
    """The work cannot be done now but may succeed later: the event must be redelivered.

    ``after_seconds``, when the raiser knows it (a busy task's lease end, a webhook
    attempt's due time), is when a retry can first succeed: the consumers redeliver
    then instead of after their usual back-off."""

    def __init__(self, message: str, after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.after_seconds = after_seconds


def retry_delay(exc: BaseException) -> float | None:
    """Seconds after which a handler's failure can first succeed, if it said so (a
    ``RetryLater`` with ``after_seconds``); None: an ordinary failure, to back off."""
    return exc.after_seconds if isinstance(exc, RetryLater) else None
