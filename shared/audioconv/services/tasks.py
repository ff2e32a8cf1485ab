"""Creating, listing, changing and deleting conversion tasks, and their files."""

from __future__ import annotations

import logging
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath, PureWindowsPath

from audioconv.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    UnsupportedMedia,
)
from audioconv.domain.fidelity import source_rate
from audioconv.domain.formats import FORMATS, parse_format
from audioconv.domain.model import Task, TaskStatus, valid_id
from audioconv.domain.options import ConversionOptions
from audioconv.domain.output_size import InputShape, output_bound, too_large_reason
from audioconv.ports import Probe, UnitOfWork
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import request_conversion

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^\w.\- ()\[\]&+,']+")


def has_control_characters(text: str) -> bool:
    """Whether ``text`` has a control character (NUL, escape, ...) in it."""
    return any(unicodedata.category(char) == "Cc" for char in text)


def checked_name(value: object, purpose: str, limit: int) -> str:
    """A user's name for something of theirs (a key, a preset), trimmed: text, not
    empty, at most ``limit`` characters, no control characters; ``purpose`` says in the
    missing-field message what it is for."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"missing field 'name': {purpose}")
    name = value.strip()
    if len(name) > limit:
        raise InvalidInput(f"field 'name' must be at most {limit} characters")
    if has_control_characters(name):
        raise InvalidInput("field 'name' must not contain control characters")
    return name


# Longest stored file name in UTF-8 bytes: under the 255 bytes file systems allow for
# one name, with room for the converted file's extension (``.opus`` for ``.mp3``).
MAX_FILE_NAME_BYTES = 200
# Longest extension kept as such when a long name is cut (``.flac`` is 5 bytes).
_MAX_EXTENSION_BYTES = 16


def safe_file_name(name: str) -> str:
    """The client's file name without folders, control characters or odd symbols, cut
    to MAX_FILE_NAME_BYTES of UTF-8 (the extension kept, no character split)."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    base = unicodedata.normalize("NFC", base)
    base = _UNSAFE.sub("_", base).strip(" .")
    if len(base.encode()) > MAX_FILE_NAME_BYTES:
        stem, dot, extension = base.rpartition(".")
        if not dot or not stem or len(extension.encode()) > _MAX_EXTENSION_BYTES:
            stem, extension = base, ""
        suffix = f".{extension}" if extension else ""
        room = MAX_FILE_NAME_BYTES - len(suffix.encode())
        stem = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
        base = f"{stem}{suffix}" if stem else extension
    return base or "audio"


def target_format(value: object) -> str:
    try:
        return parse_format(value).name
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def checked_options(options: ConversionOptions | None, target: str) -> ConversionOptions:
    """Conversion options (None: the format's defaults) checked against the target format."""
    try:
        return (options or ConversionOptions()).checked_for(FORMATS[target])
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def fitted_options(options: ConversionOptions, duration: float | None) -> ConversionOptions:
    """Options checked against the input too (trim and fades within its ``duration``,
    when known), as stored on the task."""
    if duration is not None:
        try:
            options.checked_for_input(duration)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    return options


def check_album_batch(options: ConversionOptions, batch_id: int | None) -> None:
    """InvalidInput for album gain on a task of no batch (its album is its batch)."""
    if options.gain == "album" and batch_id is None:
        raise InvalidInput(
            'gain "album" measures a batch\'s tracks together: upload them as a batch '
            '(or give batch), or ask for gain "track"'
        )


class BatchGone(NotFound):
    """The batch a file was being added to has been deleted meanwhile."""


def create_task(
    deps: Dependencies,
    user_id: int,
    upload: Path,
    file_name: str,
    new_format: str,
    options: ConversionOptions | None = None,
    take_file: bool = False,
    webhook_url: str | None = None,
    batch_id: int | None = None,
) -> Task:
    """Check the upload by its content, store it and the task, and request the conversion.

    ``take_file``: the store may move ``upload`` in (a rename on local disk) instead of
    copying it; the caller's spool file is then gone. ``batch_id``: a batch the caller
    has checked is the user's (services/batches.py).
    """
    target = target_format(new_format)
    chosen = checked_options(options, target)
    check_album_batch(chosen, batch_id)
    size = upload.stat().st_size
    with deps.uow(
        readonly=True
    ) as uow:  # before the work of probing and storing; checked again below
        check_quota(deps, uow, user_id, size)
    probe = check_audio(deps, upload)
    stored = fitted_options(chosen, probe.duration)
    reserve = check_output_fits(deps, probe, size, target, stored)
    name = safe_file_name(file_name)
    key = f"uploads/{uuid.uuid4().hex}/{name}"
    deps.blobs.put_file(key, upload, "application/octet-stream", move=take_file)
    try:
        task = record_task(deps, user_id, key, name, target, probe, options=stored, size=size,
                           webhook_url=webhook_url, batch_id=batch_id,
                           reserve=reserve)  # fmt: skip
    except BaseException:
        deps.blobs.delete(key)
        raise
    request_conversion(deps, task)
    return task


def check_audio(deps: Dependencies, path: Path) -> Probe:
    """Probe a file by its content; UnsupportedMedia unless it is audio we read."""
    probe = deps.transcoder.probe(path)
    if probe.format is None:
        raise UnsupportedMedia(f"audio in {probe.demuxer}/{probe.codec} is not a format we read")
    return probe


def predicted_output(
    deps: Dependencies, probe: Probe, size: int, target: str, options: ConversionOptions
) -> tuple[int, str | None]:
    """The most bytes converting this input to ``target`` can write (the room its
    output takes in the owner's quota), and why it cannot fit the output limit, or None."""
    source = InputShape(
        probe.duration, source_rate(probe), probe.channels, probe.codec, size,
        has_picture=probe.picture is not None, sample_format=probe.sample_format,
        dsd=probe.is_dsd,
    )  # fmt: skip
    bound = output_bound(FORMATS[target], options, source)
    return bound.bytes, too_large_reason(bound, source, deps.settings.max_output_bytes)


def output_too_large(
    deps: Dependencies, probe: Probe, size: int, target: str, options: ConversionOptions
) -> str | None:
    """Why converting this input to ``target`` cannot fit the output limit, or None."""
    return predicted_output(deps, probe, size, target, options)[1]


def check_output_fits(
    deps: Dependencies, probe: Probe, size: int, target: str, options: ConversionOptions
) -> int:
    """The output's predicted upper bound in bytes; PayloadTooLarge, saying what to
    choose instead, if the output could outgrow the limit."""
    bound, reason = predicted_output(deps, probe, size, target, options)
    if reason is not None:
        raise PayloadTooLarge(reason)
    return bound


def check_quota(
    deps: Dependencies, uow: UnitOfWork, user_id: int, size: int, count: int = 1
) -> None:
    """TooManyRequests or PayloadTooLarge if ``count`` more tasks of ``size`` bytes in
    all are over quota."""
    in_flight, stored = uow.tasks.usage(user_id)
    most_tasks, most_bytes = deps.settings.quota_tasks_in_flight, deps.settings.quota_stored_bytes
    if most_tasks and count > 0 and in_flight + count > most_tasks:
        more = f" and these {count} files would make {in_flight + count}" if count > 1 else ""
        raise TooManyRequests(
            f"you have {in_flight} conversions waiting or running{more}, the limit is "
            f"{most_tasks}; send more when some have finished"
        )
    if most_bytes and size > 0 and stored + size > most_bytes:
        raise PayloadTooLarge(quota_message(stored + size, most_bytes))


def quota_message(total: int, quota: int) -> str:
    """Why ``total`` bytes do not fit a storage quota of ``quota``."""
    return (
        f"your files would take up to {total} bytes (uploads, converted files and room "
        f"for the conversions still running), over your storage quota of {quota} bytes; "
        "delete some tasks, or choose a smaller output format"
    )


def record_task(
    deps: Dependencies,
    user_id: int,
    key: str,
    name: str,
    target: str,
    probe: Probe | None,
    error: str | None = None,
    options: ConversionOptions | None = None,
    size: int = 0,
    upload_id: str | None = None,
    webhook_url: str | None = None,
    batch_id: int | None = None,
    reserve: int = 0,
    source_url: str | None = None,
) -> Task:
    """Insert the task for an input already stored under ``key`` (failed if ``error``).

    Within the owner's quota, counting ``reserve`` bytes held for its output (checked
    with the owner's row locked, so concurrent uploads cannot both slip under it); a
    refused upload (``error``) stores nothing. ``upload_id`` (a direct upload) is used
    up in the same transaction.
    """
    now = deps.clock()
    with deps.uow() as uow:
        if error is None:
            uow.users.get(user_id, for_update=True)
            check_quota(deps, uow, user_id, size + reserve)
        # Its batch, locked so that it cannot be deleted before this task is committed
        # (a deleted one is a clear 404, not a foreign key's conflict).
        if batch_id is not None and uow.batches.get(batch_id, for_update=True) is None:
            raise BatchGone(f"no batch {batch_id}: it was deleted")
        task = Task(
            user_id=user_id,
            file_name=name,
            input_format=probe.format if probe and probe.format else "unknown",
            output_format=target,
            input_key=key,
            input_probe=probe,
            options=options or ConversionOptions(),
            input_bytes=size,
            webhook_url=webhook_url,
            batch_id=batch_id,
            reserved_bytes=0 if error else reserve,
            source_url=source_url,
            created_at=now,
            updated_at=now,
            expires_at=expiry(deps, now),
        )
        if error:
            task.fail(error, now)
        if upload_id is not None:
            uow.uploads.use(upload_id, user_id, now)
        uow.tasks.add(task)
        uow.commit()
    return task


def expiry(deps: Dependencies, made_at: datetime) -> datetime | None:
    """When a task made at ``made_at`` is to be deleted (AUDIOCONV_RETENTION_HOURS);
    None: kept."""
    hours = deps.settings.retention_hours
    return made_at + timedelta(hours=hours) if hours > 0 else None


def list_tasks(
    deps: Dependencies, user_id: int, limit: int | None, descending: bool
) -> Sequence[Task]:
    with deps.uow(readonly=True) as uow:
        return uow.tasks.for_user(user_id, limit, descending)


def _owned(uow: UnitOfWork, user_id: int, task_id: int, for_update: bool = False) -> Task:
    task = uow.tasks.get(task_id, for_update=for_update) if valid_id(task_id) else None
    if task is None or task.user_id != user_id:
        raise NotFound(f"no task {task_id}")
    return task


def get_task(deps: Dependencies, user_id: int, task_id: int) -> Task:
    with deps.uow(readonly=True) as uow:
        return _owned(uow, user_id, task_id)


# change_format's webhook_url when the request does not set it.
UNCHANGED = "unchanged"


def change_format(
    deps: Dependencies,
    user_id: int,
    task_id: int,
    new_format: str,
    options: ConversionOptions | None = None,
    webhook_url: str | None = UNCHANGED,
) -> Task:
    """Convert again to another format or with other options (none given: the
    format's defaults). The current output stays, downloadable, until the new one
    replaces it (a failed conversion keeps it: ``Task.kept_output_key``). Within the
    owner's quotas: one more task in flight, room for the new output.
    ``webhook_url``: the task's own webhook from now on (None: none), unless UNCHANGED."""
    target = target_format(new_format)
    chosen = checked_options(options, target)
    with deps.uow() as uow:
        uow.users.get(user_id, for_update=True)  # quotas: as record_task, owner first
        task = _owned(uow, user_id, task_id, for_update=True)
        check_album_batch(chosen, task.batch_id)
        if webhook_url is not UNCHANGED:
            task.use_webhook(webhook_url)
        duration = task.input_probe.duration if task.input_probe else None
        stored = fitted_options(chosen, duration or None)
        unchanged = target == task.output_format and stored == task.options
        if unchanged and task.status is not TaskStatus.FAILED:
            uow.commit()
            return task
        probe = task.full_input_probe
        reserve = 0
        if probe is not None:  # (older tasks stored less: the worker checks those)
            reserve = check_output_fits(deps, probe, task.input_bytes or 0, target, stored)
        # Quota after the change: one more in flight if it had finished; the new
        # output's room instead of whatever the task held for one before.
        check_quota(deps, uow, user_id, reserve - task.reserved_bytes,
                    count=1 if task.finished else 0)  # fmt: skip
        old_waveform = task.waveform_key
        task.retarget(target, deps.clock(), stored, reserve=reserve)
        uow.commit()
    if old_waveform:
        deps.blobs.delete(old_waveform)
    request_conversion(deps, task)
    return task


def stored_files(task: Task) -> list[str]:
    """The keys of every file the task has stored."""
    keys = (task.input_key, task.output_key, task.waveform_key, task.kept_output_key)
    return [k for k in keys if k]


def delete_task(deps: Dependencies, user_id: int, task_id: int) -> None:
    """Remove the task, then its files (a crash in between leaves only orphan files)."""
    with deps.uow() as uow:
        task = _owned(uow, user_id, task_id, for_update=True)
        keys = stored_files(task)
        uow.tasks.delete(task)
        uow.commit()
    for key in keys:
        deps.blobs.delete(key)


@dataclass(frozen=True)
class Download:
    """A file to send: streamed by the API, or (``url``) fetched from storage itself."""

    key: str
    name: str
    mime_type: str
    size: int | None
    # A short-lived signed URL of the blob (Cloud Storage); None: the API streams it.
    url: str | None = None


def _original(task: Task) -> Download:
    return Download(task.input_key, task.file_name, "application/octet-stream", None)


def _converted(task: Task) -> Download:
    """The converted file: this revision's output, else the one kept from before
    (while a convert-again runs, or after it failed)."""
    if task.status is TaskStatus.PROCESSED and task.output_key:
        fmt = FORMATS[task.output_format]
        return Download(task.output_key, task.output_name, fmt.mime_type, None)
    if task.kept_output_key and task.kept_output_name and task.kept_output_format in FORMATS:
        fmt = FORMATS[task.kept_output_format]
        return Download(task.kept_output_key, task.kept_output_name, fmt.mime_type, None)
    raise Conflict(f"task {task.id} is {task.status.value}, not processed yet")


def task_download(deps: Dependencies, user_id: int, task_id: int, which: str) -> Download:
    """The original or the converted file of one task."""
    pick = {"original": _original, "converted": _converted}.get(which)
    if pick is None:
        raise NotFound(f"no file {which!r}; use 'original' or 'converted'")
    with deps.uow(readonly=True) as uow:
        task = _owned(uow, user_id, task_id)
    return _sized(deps, pick(task))


def task_waveform(deps: Dependencies, user_id: int, task_id: int) -> Download:
    """The PNG of a task's input and output waveforms; NotFound until one was made."""
    with deps.uow(readonly=True) as uow:
        task = _owned(uow, user_id, task_id)
    missing = NotFound(f"task {task_id} has no waveform image (made when it is converted)")
    if not task.waveform_key:
        raise missing
    size = deps.blobs.size(task.waveform_key)
    if size is None:
        raise missing
    name = f"{PurePosixPath(task.file_name).stem}-waveform.png"
    return Download(task.waveform_key, name, "image/png", size)


def file_download(deps: Dependencies, user_id: int, file_name: str) -> Download:
    """By file name, as the older API did: the converted file once processed, else the original.

    The name may be the original one or the converted one (stem + new extension).
    No stored name has control characters (and PostgreSQL cannot even compare one
    with NUL in it), so such a name is simply not found.
    """
    task = None
    if not has_control_characters(file_name):
        with deps.uow(readonly=True) as uow:
            task = uow.tasks.by_file_name(user_id, file_name)
    if task is None:
        raise NotFound(f"no file named {file_name!r}")
    ready = (task.status is TaskStatus.PROCESSED and task.output_key) or task.kept_output_key
    # The converted file's own name asks for it alone: 409 until it exists.
    wants_output = file_name != task.file_name
    return _sized(deps, _converted(task) if ready or wants_output else _original(task))


def _sized(deps: Dependencies, download: Download) -> Download:
    """The download with its size and, where storage signs URLs, the URL to send the
    client to (App Engine caps a response at 32 MB: the API cannot send large files)."""
    size = deps.blobs.size(download.key)
    if size is None:
        raise NotFound(f"the file {download.name!r} is no longer stored")
    ttl = deps.settings.download_url_ttl_seconds
    url = deps.blobs.signed_get_url(download.key, download.name, download.mime_type, ttl)
    return Download(download.key, download.name, download.mime_type, size, url)
