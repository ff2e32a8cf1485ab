"""Tell a task's owner that its conversion finished (processed or failed): by mail
(unless the owner turned it off) and by webhook (services/webhooks.py) if one is set."""

from __future__ import annotations

import logging

from audioconv.domain import webhook
from audioconv.domain.errors import MailRejected
from audioconv.domain.model import Task, TaskStatus, User
from audioconv.services import webhooks
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
    announced = webhooks.announce(deps, task, user)
    if user.email_notifications:
        _mail(deps, ref, task, user)
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id, for_update=True)
        if task is not None and task.revision == ref.revision:
            task.notified_revision = ref.revision
            if announced and webhook.attempts_made(task) == 0:
                task.webhook_due_at = deps.clock()  # the sweep republishes a lost message
            uow.commit()


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
    try:
        deps.mailer.send(user.email, subject, body)
    except MailRejected as exc:
        # Sending again cannot help: record the revision as notified so the sweep stops.
        log.warning("task %s r%s: notification given up: %s", ref.task_id, ref.revision, exc)
