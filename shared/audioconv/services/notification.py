"""Tell a task's owner that its conversion finished (processed or failed)."""

from __future__ import annotations

import logging

from audioconv.domain.errors import MailRejected
from audioconv.domain.model import TaskStatus
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import TaskRef

log = logging.getLogger(__name__)


def notify(deps: Dependencies, ref: TaskRef) -> None:
    """Mail the owner once per revision; repeated or stale events change nothing."""
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
    with deps.uow() as uow:
        task = uow.tasks.get(ref.task_id, for_update=True)
        if task is not None and task.revision == ref.revision:
            task.notified_revision = ref.revision
            uow.commit()
