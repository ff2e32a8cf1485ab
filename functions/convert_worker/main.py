"""CloudEvent function: a conversion request arrives (Pub/Sub push) -> ffmpeg -> result.

The bucket's finalize notifications for direct uploads are pushed here too, and so
may report-pass requests be (told apart by their ``report`` attribute).
"""

import functions_framework
from cloudevents.http import CloudEvent

from audioconv import bootstrap, startup
from audioconv.config import Settings
from audioconv.entrypoints import pubsub_push
from audioconv.entrypoints.event_log import for_cloud_event

startup.configure_logging()  # on Google Cloud, one JSON line per entry; always redacted


@bootstrap.once
def wired() -> tuple[Settings, bootstrap.Subscriptions]:
    """The handlers, bound to this process's adapters; built on the first push, in the
    process that serves it (gRPC channels and the Cloud SQL connector's thread do not
    survive the server's fork)."""
    deps = startup.start("function")
    return deps.settings, bootstrap.subscriptions(deps)


@functions_framework.cloud_event
@for_cloud_event
def convert(cloud_event: CloudEvent) -> None:
    """Convert the task a conversion request names, or make the task of a direct upload
    the bucket announces; raising makes Pub/Sub redeliver the push."""
    settings, subscriptions = wired()
    pubsub_push.deliver(
        cloud_event, settings, subscriptions.conversion.handler, subscriptions.uploads.handler
    )
