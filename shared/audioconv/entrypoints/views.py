"""The API's JSON shape of a task, without Flask: the routes answer it, and a webhook
event carries it (the notifier's message handler imports it)."""

from __future__ import annotations

from typing import Any

from audioconv.domain.model import Task
from audioconv.domain.source_url import shown


def task_json(task: Task) -> dict[str, Any]:
    base = f"/api/tasks/{task.id}"
    return {
        "id": task.id,
        "fileName": task.file_name,
        "status": task.shown_status,
        "inputFormat": task.input_format,
        "newFormat": task.output_format,
        "outputFileName": task.output_name,
        "revision": task.revision,
        "progress": task.progress,
        "error": task.error,
        "input": task.input_probe.as_dict() if task.input_probe else None,
        "output": task.output_probe.as_dict() if task.output_probe else None,
        "report": "due" if task.report_due else None,
        "albumGain": "due" if task.album_gain_due else None,
        "warnings": task.warnings or [],
        "verified": task.verified,
        "exactLength": task.exact_length,
        "exactLengthReason": task.exact_length_reason,
        "options": task.options.as_json() or {},
        "batchId": task.batch_id,
        "createdAt": task.created_at.isoformat(),
        "updatedAt": task.updated_at.isoformat(),
        "expiresAt": task.expires_at.isoformat() if task.expires_at else None,
        "webhookUrl": task.webhook_url,
        "sourceUrl": shown(task.source_url) if task.source_url else None,
        "webhookDeliveries": [attempt.as_json() for attempt in task.webhook_deliveries],
        # The previous output, still downloadable (links.converted) while a convert-again
        # runs or after it failed, until a new output replaces it.
        "keptOutput": {
            "format": task.kept_output_format,
            "fileName": task.kept_output_name,
            "bytes": task.kept_output_bytes,
        }
        if task.kept_output_key
        else None,
        "links": {
            "self": base,
            "original": f"{base}/original",
            "converted": f"{base}/converted" if task.output_key or task.kept_output_key else None,
            "waveform": f"{base}/waveform.png" if task.waveform_key else None,
        },
    }


# Keys of the task as the API shows it that an event leaves out: they change with
# every attempt, and the event must be the same bytes each time.
_NOT_IN_EVENT = ("webhookDeliveries",)


def event_json(task: Task) -> dict[str, Any]:
    """The task as its webhook event shows it: as the API does, less what changes
    from one delivery attempt to the next."""
    return {k: v for k, v in task_json(task).items() if k not in _NOT_IN_EVENT}
