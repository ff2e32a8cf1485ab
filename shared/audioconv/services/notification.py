"""Tell a task's owner that its conversion finished (processed or failed): by mail
(unless the owner turned it off, or has not verified the address) and by webhook
(services/webhooks.py) if one is set.

A task converted again and again must not make a mail and a webhook call per revision
(finding 8 of issue 18: 40 of each in 20 s). So a task's owner is told at most once per
``notify_window_seconds``: a revision that finishes within the window of the last
notification is not told now; the sweep tells the task's latest revision once the
window has passed (an older revision's event is dropped as stale). Every mail to an
address also counts towards its hourly bound (``services/mail_quota.py``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from audioconv.domain import webhook_events
from audioconv.domain.errors import MailRejected
from audioconv.domain.model import Task, TaskStatus, User
from audioconv.services import mail_quota, webhook_delivery
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef

log = logging.getLogger(__name__)


def notify(deps: Dependencies, ref: TaskRef) -> None:
    """Mail the owner once per revision and queue the webhook's delivery; repeated or
    stale events change nothing (a repeated webhook carries the same event id)."""
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id)
        if task is None or task.revision != ref.revision or not task.finished:
            log.info("finished event for task %s r%s is stale; dropped", ref.task_id, ref.revision)
            return
        if task.notified_revision >= ref.revision:
            return
        user = uow.users.get(task.user_id)
    if user is None:
        return
    now = deps.clock()
    if not task.may_notify(now, window(deps)):
        log.info("task %s r%s: its owner was told less than %.0f s ago; told after that",
                 ref.task_id, ref.revision, deps.settings.notify_window_seconds)  # fmt: skip
        return
    announced = webhook_delivery.announce(deps, task, user)
    if user.email_notifications and user.email_verified_at is not None:
        _mail(deps, ref, task, user)
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id, for_update=True)
        if task is None:
            return
        if task.revision == ref.revision:
            first = announced and webhook_events.attempts_made(task) == 0
            # A first webhook attempt is due now: the sweep republishes a lost message.
            task.notified(now, webhook_due=deps.clock() if first else None)
        else:  # converted again meanwhile: what was sent still opens the window
            task.told_of_older(now)
        uow.commit()


def window(deps: Dependencies) -> timedelta:
    """The least time between two notifications about one task."""
    return timedelta(seconds=deps.settings.notify_window_seconds)


def _mail(deps: Dependencies, ref: TaskRef, task: Task, user: User) -> None:
    base = deps.settings.resolved_public_url
    if task.status is TaskStatus.PROCESSED:
        subject = f"Your file {task.file_name} is ready as {task.output_format}"
        body = (
            f"Hello {user.username},\n\n"
            f"{task.file_name} was converted to {task.output_format}.\n"
            f"Download it (with your API token) from:\n"
            f"{base}/api/tasks/{task.id}/converted\n"
        )
    else:
        subject = f"Your file {task.file_name} could not be converted"
        body = (
            f"Hello {user.username},\n\n"
            f"{task.file_name} could not be converted to {task.output_format}:\n"
            f"{task.error}\n"
        )
    footer = mail_quota.take(deps, user.email)
    if footer is None:
        return
    try:
        deps.mailer.send(user.email, subject, body + footer)
    except MailRejected as exc:
        # Sending again cannot help: record the revision as notified so the sweep stops.
        log.warning("task %s r%s: notification given up: %s", ref.task_id, ref.revision, exc)
