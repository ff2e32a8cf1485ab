"""Direct uploads: the client PUTs the file straight into storage with a signed URL.

This is how files larger than App Engine's 32 MB request limit get in. The
object key carries everything the task needs (owner, upload id, target format,
file name), and the signature covers the key, so nothing is stored until the
file arrives. Its arrival is then announced (an ``UploadArrived`` message: the
embedded API publishes one, and in the cloud the push edge makes one of the
bucket's ``OBJECT_FINALIZE`` notification), and ``finalize`` turns it into a
task, idempotently.
"""

from __future__ import annotations

import logging
import re
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from audioconv.domain.errors import AudioconvError, Conflict, NotFound, PayloadTooLarge
from audioconv.domain.model import Task
from audioconv.domain.options import ConversionOptions, stored_options
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import announce_finished, announce_upload, request_conversion
from audioconv.services.tasks import (
    BatchGone,
    check_album_batch,
    check_audio,
    check_output_fits,
    check_quota,
    checked_options,
    fitted_options,
    record_task,
    safe_file_name,
    target_format,
)
from audioconv.spool import Claimed, claim

log = logging.getLogger(__name__)

# The folder, inside the work folder, of request bodies being received (uploads and
# direct uploads' PUTs): on the data disk, removed when a request ends, and swept.
INCOMING = "incoming"
PREFIX = "direct-uploads/"
CONTENT_TYPE = "application/octet-stream"
# What the client must send with its PUT. Cloud Storage's signed URL covers these
# headers, and the precondition makes the URL good for one upload only; the
# embedded store ignores the header and refuses a second PUT itself.
UPLOAD_HEADERS = {"Content-Type": CONTENT_TYPE, "x-goog-if-generation-match": "0"}
# Signed too, with the upload limit: Cloud Storage refuses a larger body (the
# embedded store counts the bytes itself).
LENGTH_RANGE = "x-goog-content-length-range"


def upload_headers(max_bytes: int) -> dict[str, str]:
    """Every header the PUT to a signed upload URL must carry."""
    return {**UPLOAD_HEADERS, LENGTH_RANGE: f"0,{max_bytes}"}


# direct-uploads/<user>/<upload id>/[batch-<batch id>/]<format>[+option=value...]/<file name>
_KEY = re.compile(
    rf"^{PREFIX}(\d+)/([0-9a-f]{{32}})/(?:batch-(\d+)/)?"
    r"([a-z0-9]+)((?:\+[A-Za-z]+=[a-z0-9.-]+)*)/([^/]+)$"
)
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class DirectKey:
    """The parts of a direct upload's object key."""

    user_id: int
    upload_id: str
    output_format: str
    file_name: str
    options: dict[str, Any] | None = None
    batch_id: int | None = None

    @property
    def key(self) -> str:
        chosen = "".join(f"+{k}={v}" for k, v in sorted((self.options or {}).items()))
        batch = f"batch-{self.batch_id}/" if self.batch_id is not None else ""
        return (
            f"{self.prefix(self.user_id, self.upload_id)}"
            f"{batch}{self.output_format}{chosen}/{self.file_name}"
        )

    @staticmethod
    def prefix(user_id: int, upload_id: str) -> str:
        return f"{PREFIX}{user_id}/{upload_id}/"

    @classmethod
    def parse(cls, key: str) -> DirectKey:
        match = _KEY.match(key)
        if not match:
            raise ValueError(f"not a direct upload key: {key!r}")
        pairs = (item.split("=", 1) for item in match[5].split("+")[1:])
        options = {k: int(v) if v.isdigit() else v for k, v in pairs}
        batch = int(match[3]) if match[3] else None
        return cls(int(match[1]), match[2], match[4], match[6], options or None, batch)


@dataclass(frozen=True)
class UploadTicket:
    upload_id: str
    url: str
    headers: dict[str, str]
    expires_at: datetime
    # A Cloud Storage resumable session (PUT it in Content-Range pieces), not one PUT.
    resumable: bool = False


def start(
    deps: Dependencies,
    user_id: int,
    file_name: str,
    new_format: str,
    options: ConversionOptions | None = None,
    webhook_url: str | None = None,
    batch_id: int | None = None,
    resumable_size: int | None = None,
) -> UploadTicket:
    """A signed URL the caller may PUT one file to; the task appears once it arrives.

    The target format, options and batch (one of the user's, checked by the caller)
    are checked now and ride in the signed key. ``resumable_size``: instead, a Cloud
    Storage resumable session for a file of exactly that many bytes (NotFound where
    the store has none: the embedded mode's resumable uploads are tus).
    """
    limit = deps.settings.max_upload_bytes
    if resumable_size is not None and resumable_size > limit:
        raise PayloadTooLarge.over(limit)
    target = target_format(new_format)
    chosen = checked_options(options, target)
    check_album_batch(chosen, batch_id)
    with deps.uow(readonly=True) as uow:  # the size is not known yet: checked on arrival
        check_quota(deps, uow, user_id, resumable_size or 0)
    name = safe_file_name(file_name)
    direct = DirectKey(user_id, uuid.uuid4().hex, target, name, chosen.as_json(), batch_id)
    if webhook_url:  # kept until the file arrives and the task is made
        with deps.uow() as uow:
            uow.uploads.set_webhook(direct.upload_id, webhook_url, deps.clock(), user_id)
            uow.commit()
    ttl = deps.settings.signed_url_ttl_seconds
    if resumable_size is not None:
        session = deps.blobs.resumable_upload_url(direct.key, CONTENT_TYPE, resumable_size)
        if session is None:
            raise NotFound(
                "this server's resumable uploads are tus, at /api/uploads/tus "
                "(Cloud Storage sessions are the cloud's)"
            )
        # Cloud Storage keeps a session a week.
        return UploadTicket(direct.upload_id, session, {}, deps.clock() + timedelta(days=7),
                            resumable=True)  # fmt: skip
    url = deps.blobs.signed_put_url(direct.key, CONTENT_TYPE, ttl, max_bytes=limit)
    expires = deps.clock() + timedelta(seconds=ttl)
    return UploadTicket(direct.upload_id, url, upload_headers(limit), expires)


def find(deps: Dependencies, user_id: int, upload_id: str) -> Task | None:
    """The task a direct upload became, or None while the file has not arrived.

    NotFound for an id that ``start`` can never have given out.
    """
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise NotFound(f"no upload {upload_id!r}")
    with deps.uow(readonly=True) as uow:
        return uow.tasks.by_input_prefix(DirectKey.prefix(user_id, upload_id))


def receive(deps: Dependencies, key: str, body: IO[bytes]) -> int:
    """Store a PUT body under ``key`` and announce it (the embedded mode; Cloud Storage
    announces what is PUT to it itself).

    Each upload URL works once, for good: Conflict if its object exists or a task
    was ever made of it, or if another PUT of it is still arriving (the URL is
    claimed when a PUT starts, in the spool on the data disk: audioconv/spool.py; a
    PUT that fails gives the claim back). NotFound if its batch was deleted.
    """
    direct = DirectKey.parse(key)
    used = Conflict("this upload URL has already been used; start a new upload")
    with deps.uow() as uow:
        if uow.uploads.used(direct.upload_id) or deps.blobs.size(key) is not None:
            raise used
        batch_gone = direct.batch_id is not None and uow.batches.get(direct.batch_id) is None
        webhook_url = uow.uploads.webhook(direct.upload_id)
    if batch_gone:  # its status says so too (a failed task), not "pending" for ever
        reason = f"its batch {direct.batch_id} was deleted before the file arrived"
        _refused(deps, direct, key, stored_options(direct.options), webhook_url, reason)
        raise NotFound(f"batch {direct.batch_id} was deleted; start a new upload")
    spool = deps.settings.resolved_work_dir / INCOMING
    limit = deps.settings.max_upload_bytes
    try:
        with claim(spool, direct.upload_id) as (path, out):  # one PUT at a time per URL
            size = 0
            while chunk := body.read(1 << 20):  # pragma: no mutate (the chunk size)
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge.over(limit)
                out.write(chunk)
            out.flush()
            try:
                deps.blobs.put_file(key, path, CONTENT_TYPE, if_absent=True)
            except FileExistsError:
                raise used from None
    except Claimed:
        raise Conflict(
            "this upload URL is being used by another request; start a new upload"
        ) from None
    announce_upload(deps, key)
    return size


def finalize(deps: Dependencies, key: str) -> Task | None:
    """Turn a finalized object into a task (once, however often it is announced).

    An upload id makes at most one task, ever: an object written again through
    the same URL after its task was deleted is removed, not converted; so is one
    whose batch was deleted meanwhile.
    """
    try:
        direct = DirectKey.parse(key)
    except ValueError:
        log.info("stored object %r is not a direct upload; ignored", key)
        return None
    with deps.uow() as uow:
        existing = uow.tasks.by_input_prefix(DirectKey.prefix(direct.user_id, direct.upload_id))
        owner = uow.users.get(direct.user_id)
        used = uow.uploads.used(direct.upload_id)
        webhook_url = uow.uploads.webhook(direct.upload_id)
        # Its batch deleted since the upload started: the file goes with it.
        batch_gone = direct.batch_id is not None and uow.batches.get(direct.batch_id) is None
    if existing is not None:
        if existing.refused:  # whatever came again through its URL goes too
            deps.blobs.delete(key)
        return existing
    if owner is None or used:
        deps.blobs.delete(key)
        return None
    if batch_gone:  # a failed task (in no batch), so the upload does not stay pending
        deps.blobs.delete(key)
        reason = f"its batch {direct.batch_id} was deleted before the file arrived"
        return _refused(deps, direct, key, stored_options(direct.options), webhook_url, reason)
    size = deps.blobs.size(key)
    if size is None:  # deleted since: nothing to do
        return None
    upload = direct.upload_id
    # The options ride in the key as text, checked against the format when it was signed.
    options = stored_options(direct.options)
    with tempfile.TemporaryDirectory(prefix="audioconv-") as tmp:
        path = Path(tmp) / "upload"
        try:
            if size > deps.settings.max_upload_bytes:
                raise PayloadTooLarge.over(deps.settings.max_upload_bytes)
            deps.blobs.download_to(key, path)
            probe = check_audio(deps, path)
            stored = fitted_options(options, probe.duration)
            reserve = check_output_fits(deps, probe, size, direct.output_format, stored)
            task = record_task(deps, direct.user_id, key, direct.file_name,
                               direct.output_format, probe, options=stored,
                               size=size, upload_id=upload, webhook_url=webhook_url,
                               batch_id=direct.batch_id, reserve=reserve)  # fmt: skip
        except Conflict:  # the same announcement, handled at the same time elsewhere
            return find(deps, direct.user_id, upload)
        except AudioconvError as exc:  # not audio, too large, over quota: a failed task
            deps.blobs.delete(key)
            batch = None if isinstance(exc, BatchGone) else direct.batch_id
            return _refused(deps, direct, key, options, webhook_url, exc.message, batch)
    request_conversion(deps, task)
    return task


def _refused(
    deps: Dependencies,
    direct: DirectKey,
    key: str,
    options: ConversionOptions,
    webhook_url: str | None,
    reason: str,
    batch_id: int | None = None,
) -> Task:
    """The failed task of an upload that arrived but was refused (its file deleted)."""
    task = record_task(deps, direct.user_id, key, direct.file_name, direct.output_format,
                       None, error=reason, options=options,
                       upload_id=direct.upload_id, webhook_url=webhook_url,
                       batch_id=batch_id)  # fmt: skip
    announce_finished(deps, task)
    return task
