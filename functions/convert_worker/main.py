"""CloudEvent function: a conversion request arrives (Pub/Sub push) -> ffmpeg -> result."""

import functions_framework
from cloudevents.http import CloudEvent

from audioconv import logs
from audioconv.entrypoints import events

logs.configure()  # one JSON line per entry on Google Cloud, redacted


@functions_framework.cloud_event
def convert(cloud_event: CloudEvent) -> None:
    """Convert the task named in the event; raising makes Pub/Sub redeliver it."""
    events.authorize_push()
    events.handle_conversion(cloud_event)
