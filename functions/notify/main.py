"""CloudEvent function: a conversion finished (Pub/Sub push) -> mail the task's owner."""

import functools

import functions_framework
from cloudevents.http import CloudEvent

from audioconv import bootstrap
from audioconv.config import Settings
from audioconv.entrypoints import pubsub_push
from audioconv.ports import MessageHandler


@functools.cache
def wired() -> tuple[Settings, MessageHandler]:
    """The handler, bound to this process's adapters; built on the first push, in the
    process that serves it (gRPC channels and the Cloud SQL connector's thread do not
    survive the server's fork)."""
    deps = bootstrap.build()
    return deps.settings, bootstrap.subscriptions(deps).finished.handler


@functions_framework.cloud_event
def notify(cloud_event: CloudEvent) -> None:
    """Notify the owner of the task named in the pushed message."""
    settings, handle = wired()
    pubsub_push.deliver(cloud_event, settings, handle)
