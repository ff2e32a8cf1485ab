"""CloudEvent function: a conversion finished (Pub/Sub push) -> mail the task's owner
and queue its webhook; a webhook attempt (its own topic, pushed here too) -> POST it."""

import functions_framework
from cloudevents.http import CloudEvent

from audioconv import bootstrap, startup
from audioconv.config import Settings
from audioconv.entrypoints import pubsub_push
from audioconv.entrypoints.event_log import for_cloud_event
from audioconv.ports import MessageHandler

startup.configure_logging()  # on Google Cloud, one JSON line per entry; always redacted


@bootstrap.once
def wired() -> tuple[Settings, MessageHandler]:
    """The handler, bound to this process's adapters; built on the first push, in the
    process that serves it (gRPC channels and the Cloud SQL connector's thread do not
    survive the server's fork)."""
    deps = startup.start("function")
    return deps.settings, bootstrap.subscriptions(deps).finished.handler


@functions_framework.cloud_event
@for_cloud_event
def notify(cloud_event: CloudEvent) -> None:
    """Notify the owner of the task named in the pushed message."""
    settings, handle = wired()
    pubsub_push.deliver(cloud_event, settings, handle)
