"""Every topic this service consumes, each with its handler (entrypoints/events.py)
bound to one process's dependencies: the one place a topic meets its handler.

The embedded buses subscribe them all (bootstrap.subscribe), each cloud function
serves one (``functions/*/main.py``), and the pull worker pulls three
(entrypoints/pull_worker.py).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from audioconv.entrypoints import events
from audioconv.ports import MessageHandler
from audioconv.services.dependencies import Dependencies


class Subscription(NamedTuple):
    """A topic, the handler bound to it, and how many messages it may handle at once.

    ``after``: another topic whose slots this one shares, served only when a slot is
    free and none of that topic's messages is waiting (lower priority).
    """

    topic: str
    handler: MessageHandler
    workers: int
    after: str | None = None


class Subscriptions(NamedTuple):
    """Every topic this service consumes, each with its handler bound to ``deps``.

    The one place a topic meets its handler: the embedded buses subscribe them
    all, and each cloud function serves one (``functions/*/main.py``). A new
    topic is a new field here.
    """

    conversion: Subscription
    # Direct uploads that arrived (in the cloud: the bucket's notifications, which
    # are pushed to the worker function beside the conversion requests).
    uploads: Subscription
    finished: Subscription
    # Report passes, in the conversions' slots once no conversion waits (in the cloud:
    # pulled by the worker beside the conversion requests).
    report: Subscription
    # Webhook delivery attempts (in the cloud: pushed to the notify function, whose
    # finished handler hands them on).
    webhooks: Subscription


def subscriptions(deps: Dependencies) -> Subscriptions:
    """The handlers of ``events``, bound to ``deps`` and to their topics."""
    settings = deps.settings
    return Subscriptions(
        conversion=Subscription(
            settings.conversion_topic,
            partial(events.handle_conversion, deps),
            settings.conversion_slots,
        ),
        uploads=Subscription(
            settings.direct_uploads_topic,
            partial(events.handle_upload, deps),
            settings.conversion_slots,
        ),
        finished=Subscription(settings.finished_topic, partial(events.handle_finished, deps), 2),
        report=Subscription(
            settings.report_topic,
            partial(events.handle_report, deps),
            settings.conversion_slots,
            after=settings.conversion_topic,
        ),
        # Each POST may wait up to its timeout: more threads than the notifier's.
        webhooks=Subscription(settings.webhook_topic, partial(events.handle_webhook, deps), 4),
    )
