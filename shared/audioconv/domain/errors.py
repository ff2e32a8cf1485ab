"""Errors the services raise; the API maps each to an HTTP status."""

from __future__ import annotations


class AudioconvError(Exception):
    """Base of all expected errors: each carries a message a user can read."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AudioconvError):
    status = 400


class Unauthorized(AudioconvError):
    status = 401


class Forbidden(AudioconvError):
    status = 403


class NotFound(AudioconvError):
    status = 404


class Conflict(AudioconvError):
    status = 409


class PayloadTooLarge(AudioconvError):
    status = 413

    @classmethod
    def over(cls, limit: int) -> PayloadTooLarge:
        """The error for an upload larger than ``limit`` bytes (one wording everywhere)."""
        return cls(f"upload is larger than the limit of {limit} bytes")


class UnsupportedMedia(AudioconvError):
    status = 415


class TooManyRequests(AudioconvError):
    """Slow down: try again in ``retry_after`` seconds (0: when something finishes)."""

    status = 429

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConversionFailed(Exception):
    """ffmpeg could not convert this input: permanent, shown to the user as the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailRejected(Exception):
    """The mail server refused this message for good (a 5xx reply): sending it again
    cannot help. Transient failures (4xx, no connection) are raised as they are."""


class RetryLater(Exception):
    """The work cannot be done now but may succeed later: the event must be redelivered."""
