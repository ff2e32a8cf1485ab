"""Signed webhooks: the delivery of each finished task's event (users' URLs and
secrets are in ``services/profile.py``).

The notifier publishes one delivery message per finished revision on the webhook
topic; ``deliver`` POSTs the signed event and records the outcome on the task.
A network error, a timeout or a 5xx is tried again through the event bus: the
next attempt is published with a ``notBefore`` attribute (the SQL queue and the
in-process bus hold it until then; on Pub/Sub a message that comes too early is
nacked, and the subscription's retry policy brings it back later). No thread
sleeps. Every attempt carries the same event id.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audioconv.domain import webhook_events
from audioconv.domain.errors import RetryLater
from audioconv.domain.model import Task, User, valid_id
from audioconv.services import profile
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)

NOT_BEFORE = "notBefore"
# Marks a delivery message: on Google Cloud its subscription pushes to the notify
# service, whose one function also takes the finished events.
ATTEMPT = "webhookAttempt"


@dataclass(frozen=True)
class Delivery:
    """One attempt at one finished revision's event, as the delivery message says."""

    task_id: int
    revision: int
    attempt: int
    not_before: datetime | None = None

    @classmethod
    def from_message(cls, data: dict[str, Any], attributes: dict[str, str]) -> Delivery:
        """Parse a delivery message; ValueError if it is not one."""
        try:
            when = attributes.get(NOT_BEFORE)
            found = cls(int(data["taskId"]), int(data["revision"]), int(data["attempt"]),
                        datetime.fromisoformat(when) if when else None)  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a webhook delivery message: {data!r:.200}") from exc
        if not (valid_id(found.task_id) and valid_id(found.revision) and found.attempt >= 1):
            raise ValueError(f"webhook delivery message out of range: {data!r:.200}")
        return found


def _publish(deps: Dependencies, task: Task, attempt: int, not_before: datetime | None) -> None:
    data = {"taskId": task.id, "revision": task.revision, "attempt": attempt}
    attributes = {"taskId": str(task.id), "revision": str(task.revision), ATTEMPT: str(attempt)}
    if not_before is not None:
        attributes[NOT_BEFORE] = not_before.isoformat()
    deps.bus.publish(deps.settings.webhook_topic, data, attributes)


def announce(deps: Dependencies, task: Task, user: User) -> bool:
    """Queue the first delivery of this finished revision's event, if there is a URL
    to send it to (the caller records it as due). Raises if the bus fails: the
    notification is then redelivered."""
    if not (task.webhook_url or user.webhook_url) or webhook_events.settled(task):
        return False
    _publish(deps, task, 1, None)
    return True


def republish(deps: Dependencies, task: Task) -> None:
    """Queue again the attempt due for ``task`` (its message was lost: the sweep)."""
    _publish(deps, task, webhook_events.attempts_made(task) + 1, None)


def deliver(deps: Dependencies, message: Delivery, show: Callable[[Task], dict[str, Any]]) -> None:
    """Make one attempt: POST the signed event, record the outcome, and queue the next
        attempt if this one may be tried again. ``show`` is the task as its event shows it
    (``entrypoints/views.event_json``: the same bytes on every attempt).

        Idempotent: an event delivered or given up is not sent again; a stale message
        (task deleted or converted again since) is dropped. RetryLater for a message
        that came before its time (Pub/Sub redelivers it later).
    """
    now = deps.clock()
    if message.not_before is not None and now < message.not_before:
        raise RetryLater(
            f"webhook attempt {message.attempt} is due at {message.not_before}",
            after_seconds=(message.not_before - now).total_seconds(),
        )
    with deps.uow(readonly=True) as uow:
        task = uow.tasks.get(message.task_id)
        user = uow.users.get(task.user_id) if task is not None else None
    if task is None or user is None or task.revision != message.revision or not task.finished:
        log.info("webhook for task %s r%s is stale; dropped", message.task_id, message.revision)
        return
    url = task.webhook_url or user.webhook_url
    if not url or webhook_events.settled(task):
        _nothing_due(deps, task)
        return
    if webhook_events.attempts_made(task) >= message.attempt:  # a copy of an attempt made
        return
    body = webhook_events.event_body(task, show(task))
    key = profile.secret(deps, user.id or 0)
    event = webhook_events.event_id(task)
    headers = webhook_events.signed_headers(key, event, int(now.timestamp()), body)
    outcome = deps.webhooks.post(url, body, headers)
    settings = deps.settings
    next_at = None
    again = outcome.retryable and message.attempt < settings.webhook_max_attempts
    if not outcome.delivered and again:
        next_at = deps.clock() + webhook_events.backoff(
            message.attempt, settings.webhook_backoff_seconds
        )
    with deps.uow() as uow:
        current = uow.tasks.get(message.task_id, for_update=True)
        if current is None or current.revision != message.revision:
            return
        if webhook_events.attempts_made(current) >= message.attempt:  # a copy made it meanwhile
            return
        entry = webhook_events.record(current, url, message.attempt, outcome, now, next_at)
        uow.commit()
    host = urllib.parse.urlsplit(url).hostname  # not the URL: its query may hold a token
    log.info("webhook %s attempt %d to %s: %s", event, message.attempt, host,
             outcome.status or outcome.error)  # fmt: skip
    if next_at is not None:
        _publish(deps, current, message.attempt + 1, next_at)
    elif entry.result == "failed":
        log.warning("webhook %s given up after attempt %d", event, message.attempt)


def _nothing_due(deps: Dependencies, task: Task) -> None:
    """No attempt is due for ``task``'s revision (its URL was removed, or it settled)."""
    if task.webhook_due_at is None:
        return
    with deps.uow() as uow:
        current = uow.tasks.get(task.id or 0, for_update=True)
        if current is not None and current.revision == task.revision:
            current.no_webhook_due()
            uow.commit()
