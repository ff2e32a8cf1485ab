"""CloudEvent function: a conversion finished (Pub/Sub push) -> mail the task's owner
and queue its webhook; a webhook attempt (its own topic, pushed here too) -> POST it."""

import functions_framework
from cloudevents.http import CloudEvent

from audioconv.entrypoints import events


@functions_framework.cloud_event
def notify(cloud_event: CloudEvent) -> None:
    """Notify the owner of the task named in the event."""
    events.authorize_push()
    events.handle_finished(cloud_event)
