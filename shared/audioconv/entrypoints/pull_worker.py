"""The cloud worker as a long-running process: Pub/Sub streaming pull, not push.

``python -m audioconv.entrypoints.pull_worker`` (the image's
``AUDIOCONV_FUNCTION=convert-pull``, what worker.yaml runs on App Engine
flexible). It pulls conversion requests, report-pass requests and the bucket's
finalize notifications of direct uploads, hands each to the same handler the
push function calls (bootstrap.subscriptions), and runs conversions and report
passes in one set of slots (``Slots``: as many at once as there are conversion
slots; a report in hand, one at a time, waits for a free one), and
answers the platform's health checks on $PORT: 200 while its streams are open,
503 once one has closed (App Engine then restarts the instance). SIGTERM stops
taking messages, kills running ffmpeg children (their tasks are released and
their messages nacked, so another instance redoes them) and exits.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from audioconv import bootstrap, logs
from audioconv.adapters.pubsub_pull import PubSubPuller
from audioconv.entrypoints.pubsub_push import uploaded_object
from audioconv.ports import Message, MessageHandler
from audioconv.services.dependencies import Dependencies

log = logging.getLogger(__name__)


def storage_notifications(uploads: MessageHandler) -> MessageHandler:
    """The bucket's notifications: a finalized object is the ``UploadArrived`` the
    uploads handler takes (as a push of it is, entrypoints/pubsub_push.py); the rest
    are acknowledged and dropped."""

    def handle(message: Message) -> None:
        arrived = uploaded_object(message)
        if arrived is not None:
            uploads(arrived)

    return handle


class Slots:
    """The instance's conversion slots, shared by conversions and report passes: at
    most ``slots`` ffmpeg runs at once, and a report takes a free slot only when no
    conversion waits for one. Pub/Sub has no priorities, so the report subscription
    takes one message at a time (its FlowControl) and that report waits in hand (its
    ack deadline extended) while conversions hold every slot; a conversion arriving
    while a report runs waits for at most that one report."""

    def __init__(self, slots: int) -> None:
        self._changed = threading.Condition()
        self._free = slots
        self._conversions_waiting = 0

    def guard(self, handler: MessageHandler, first: bool = True) -> MessageHandler:
        """``handler`` run in a slot: taken before any report's if ``first``."""

        def run(message: Message) -> None:
            self._take(first)
            try:
                handler(message)
            finally:
                with self._changed:
                    self._free += 1
                    self._changed.notify_all()

        return run

    def _take(self, first: bool) -> None:
        with self._changed:
            self._conversions_waiting += first
            try:
                self._changed.wait_for(
                    lambda: self._free > 0 and (first or not self._conversions_waiting)
                )
            finally:
                self._conversions_waiting -= first
            self._free -= 1


def puller(deps: Dependencies) -> PubSubPuller:
    """The worker's subscriptions (the report passes' with ``report_pass``), each bound
    to its handler."""
    settings = deps.settings
    handlers = bootstrap.subscriptions(deps)
    pull = PubSubPuller(settings.gcp_project, settings.resolved_max_lease_seconds)
    slots = Slots(handlers.conversion.workers)
    pull.subscribe(
        settings.conversion_subscription,
        slots.guard(handlers.conversion.handler),
        handlers.conversion.workers,
    )
    if settings.report_pass:  # else none is asked for
        report = slots.guard(handlers.report.handler, first=False)
        pull.subscribe(settings.report_subscription, report, 1)
    # A finalize probes the upload and records the task: short, one at a time is enough.
    pull.subscribe(
        settings.direct_upload_subscription, storage_notifications(handlers.uploads.handler), 1
    )
    return pull


def health_server(port: int, pull: PubSubPuller) -> ThreadingHTTPServer:
    """Answers every GET (App Engine flexible's /liveness_check and /readiness_check)."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            ok = pull.running()
            body = json.dumps({"status": "pulling" if ok else "stopped"}).encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # health checks every few seconds would drown the log

    return ThreadingHTTPServer(("", port), Health)


def main() -> None:
    # Like every other process: one redacting handler, JSON lines for Cloud Logging
    # (worker.yaml sets AUDIOCONV_LOG_FORMAT=json: flexible sets no GAE_ENV).
    logs.configure()
    deps = bootstrap.build()
    settings = deps.settings
    pull = puller(deps)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    pull.start()
    server = health_server(settings.port, pull)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    log.info("pull worker up; health checks on port %d", settings.port)
    failed = False
    while not stop.wait(5):
        if not pull.running():
            log.error("a streaming pull stopped; exiting so the platform restarts us")
            failed = True
            break
    pull.shutdown(wait=False)
    deps.close()  # kills ffmpeg children: their work is released and redone elsewhere
    server.shutdown()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
