"""CloudEvent function: a conversion finished (Pub/Sub push) -> mail the task's owner."""

import functions_framework
from cloudevents.http import CloudEvent

from audioconv import logs
from audioconv.entrypoints import events

logs.configure()  # one JSON line per entry on Google Cloud, redacted


@functions_framework.cloud_event
def notify(cloud_event: CloudEvent) -> None:
    """Notify the owner of the task named in the event."""
    events.authorize_push()
    events.handle_finished(cloud_event)
