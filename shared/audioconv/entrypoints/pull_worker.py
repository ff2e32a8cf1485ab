"""The cloud worker as a long-running process: Pub/Sub streaming pull, not push.

``audioconv pull-worker`` (the image's ``worker`` target, what worker.yaml runs
on App Engine flexible; cli.py starts it through ``startup``, then ``run``). It
pulls conversion requests, report-pass requests and the bucket's finalize
notifications of direct uploads, hands each to the same handler the
push function calls (entrypoints/subscriptions.py), and runs conversions and report
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
import threading
from collections.abc import Callable
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from audioconv.adapters.pubsub_pull import PubSubPuller
from audioconv.domain import fair_share
from audioconv.domain.errors import RetryLater
from audioconv.entrypoints.pubsub_push import uploaded_object
from audioconv.entrypoints.subscriptions import subscriptions
from audioconv.ports import Message, MessageHandler
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import USER
from audioconv.services.slots import conversions_by_owner

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
    while a report runs waits for at most that one report.

    Conversions share the slots fairly between users (domain/fair_share.py; the
    ``userId`` attribute names the owner). The instance holds up to as many requests
    again as it has slots (its FlowControl), so another user's request can arrive
    while one user holds every slot; whose turn it is comes from the database
    (``load``: running conversions per owner everywhere, and who waits), so it holds
    across instances. A request in hand that cannot run now while another user's
    request waits on the server is deferred (``RetryLater``: Pub/Sub redelivers it
    later) to make room for that one: Pub/Sub delivers roughly in publishing order,
    and one user's backlog would otherwise fill every place in hand. Alone, a user's
    requests are never deferred."""

    def __init__(
        self,
        slots: int,
        load: Callable[[], tuple[dict[int, int], set[int]]] | None = None,
        cap: int = 0,
        recheck_seconds: float = 1.0,
    ) -> None:
        self._changed = threading.Condition()
        self.slots = slots
        self._running_total = 0
        self._conversions_waiting = 0
        self._load = load
        self.cap = cap or fair_share.default_cap(slots)
        self.recheck = recheck_seconds
        # Conversions in hand waiting for a turn, oldest first: (entry, owner).
        self._queue: list[tuple[object, int | None]] = []
        self._running: dict[int | None, int] = {}

    def guard(self, handler: MessageHandler, first: bool = True) -> MessageHandler:
        """``handler`` run in a slot: taken before any report's if ``first`` (and then
        shared fairly between users)."""

        def run(message: Message) -> None:
            owner = _owner(message) if first else None
            self._take(first, owner)
            try:
                handler(message)
            finally:
                with self._changed:
                    self._running_total -= 1
                    if first:
                        self._running[owner] -= 1
                    self._changed.notify_all()

        return run

    def _take(self, first: bool, owner: int | None) -> None:
        with self._changed:
            if not first:
                self._changed.wait_for(
                    lambda: self._running_total < self.slots and not self._conversions_waiting
                )
                self._running_total += 1
                return
            entry = object()
            self._queue.append((entry, owner))
            self._conversions_waiting += 1
            try:
                while not self._turn(entry, owner):
                    self._changed.wait(self.recheck)
            finally:
                self._queue.remove((entry, owner))
                self._conversions_waiting -= 1
            self._running_total += 1
            self._running[owner] = self._running.get(owner, 0) + 1
            self._changed.notify_all()

    def _turn(self, entry: object, owner: int | None) -> bool:
        """Whether ``entry`` runs now; RetryLater if it should make room instead."""
        running: dict[int | None, int] = dict(self._running)
        waiting_elsewhere: set[int | None] = set()
        if self._load is not None:
            try:
                everywhere, waiting = self._load()
            except Exception:
                log.warning("reading who waits failed; sharing by what is in hand",
                            exc_info=True)  # fmt: skip
            else:
                for user, count in everywhere.items():
                    running[user] = max(running.get(user, 0), count)
                in_hand = {o for _, o in self._queue}
                waiting_elsewhere = {u for u in waiting if u not in in_hand}
        in_hand_counts: dict[int | None, int] = {}
        for _, o in self._queue:
            in_hand_counts[o] = in_hand_counts.get(o, 0) + 1
        beyond = max(0, self._running_total - self.slots)
        picks = fair_share.choose(
            max(0, self.slots - self._running_total), self.slots - beyond, running,
            list(in_hand_counts.items()), self.cap, beyond, waiting_elsewhere,
        )  # fmt: skip
        mine = [e for e, o in self._queue if o == owner]
        if mine.index(entry) < picks.count(owner):
            return True
        if waiting_elsewhere - {owner} and running.get(owner, 0) >= self.cap:
            raise RetryLater(
                f"user {owner} holds {running.get(owner, 0)} conversion slots while others "
                "wait: deferred to make room for their requests",
                after_seconds=0,
            )
        return False


def _owner(message: Message) -> int | None:
    value = message.attributes.get(USER, "")
    return int(value) if value.isdigit() else None


def puller(deps: Dependencies) -> PubSubPuller:
    """The worker's subscriptions (the report passes' with ``report_pass``), each bound
    to its handler."""
    settings = deps.settings
    handlers = subscriptions(deps)
    pull = PubSubPuller(settings.gcp_project, settings.resolved_max_lease_seconds)
    workers = handlers.conversion.workers
    slots = Slots(workers, partial(conversions_by_owner, deps), settings.user_conversion_slots)
    # As many again in hand as there are slots: another user's request can arrive while
    # one user holds every slot (Slots), and run beside a borrowed one.
    pull.subscribe(
        settings.conversion_subscription, slots.guard(handlers.conversion.handler), workers * 2
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


def run(deps: Dependencies) -> int:
    """Pull until SIGTERM or SIGINT (0) or until a stream stops (1: the platform then
    restarts the instance); ``deps`` from ``startup.start``, which configured the
    logging (worker.yaml sets AUDIOCONV_LOG_FORMAT=json: flexible sets no GAE_ENV)."""
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
    return 1 if failed else 0
