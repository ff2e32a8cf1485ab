"""CloudEvent function: a conversion finished (Pub/Sub push) -> mail the task's owner."""

import functions_framework
from audioconv.entrypoints import events
from cloudevents.http import CloudEvent


@functions_framework.cloud_event
def notify(cloud_event: CloudEvent) -> None:
    """Notify the owner of the task named in the event."""
    events.handle_finished(cloud_event)
