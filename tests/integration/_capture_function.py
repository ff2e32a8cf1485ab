"""A CloudEvent function that records the event functions-framework gives it."""

import flask
import functions_framework
from cloudevents.http import CloudEvent


@functions_framework.cloud_event
def capture(cloud_event: CloudEvent) -> None:
    flask.current_app.config["captured"] = cloud_event
