"""Event bus on Google Cloud Pub/Sub: publishes and waits for the server's ack."""

from __future__ import annotations

import json
from typing import Any

from google.cloud.pubsub_v1 import PublisherClient

# Keyword arguments of PublisherClient.publish: attributes cannot use these names.
_RESERVED = frozenset({"topic", "data", "ordering_key", "retry", "timeout"})


class PubSubBus:
    """Publishes JSON messages to topics given by short name in ``project``.

    ``publish`` blocks until Pub/Sub has stored the message, so a caller that
    answers "accepted" only after it returns never loses an event.
    """

    def __init__(
        self,
        project: str,
        publisher: PublisherClient | None = None,
        timeout: float = 30,
    ) -> None:
        if not project:
            raise ValueError("PubSubBus needs a Google Cloud project id")
        self.project = project
        self.publisher = publisher or PublisherClient()
        self.timeout = timeout
        self._paths: dict[str, str] = {}

    def _topic_path(self, topic: str) -> str:
        path = self._paths.get(topic)
        if path is None:
            path = self._paths[topic] = self.publisher.topic_path(self.project, topic)
        return path

    def publish(self, topic: str, data: dict[str, Any], attributes: dict[str, str]) -> str:
        clash = _RESERVED & attributes.keys()
        if clash:
            raise ValueError(f"reserved attribute names: {sorted(clash)}")
        payload = json.dumps(data, separators=(",", ":")).encode()
        future = self.publisher.publish(self._topic_path(topic), payload, **attributes)
        return str(future.result(timeout=self.timeout))

    def close(self) -> None:
        """Send what is batched and stop the publisher's threads."""
        self.publisher.stop()
