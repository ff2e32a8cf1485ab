"""URL import: a task whose input the worker fetches from an http(s) URL (``sourceUrl``).

The request only checks the URL (scheme, and that its host is a public address),
the format, options, batch and quotas, and records the task with its source; the
conversion request follows as for an upload. The attempt that claims the task
fetches the file first (the task shows ``downloading`` with its progress; the lease
is renewed as bytes arrive), checks it as an upload is checked, stores it under the
task's ``input_key`` and records it on the task under the claim's fence, then
converts it. A fetch that fails fails the task with the reason; a worker that dies
mid-fetch leaves the task claimed under a lease that runs out, so it is due again
(the sweep) and the next attempt fetches it anew, into the same key.
"""

from __future__ import annotations

import logging
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from audioconv.domain.errors import AudioconvError, ConversionFailed, InvalidInput
from audioconv.domain.model import Task
from audioconv.domain.options import ConversionOptions
from audioconv.ports import FetchFailed, UrlFetcher
from audioconv.services.batches import BatchView, check_batch, create_batch, get_batch
from audioconv.services.dependencies import Dependencies
from audioconv.services.messages import request_conversion
from audioconv.services.tasks import (
    check_audio,
    check_output_fits,
    check_quota,
    checked_options,
    fitted_options,
    record_task,
    safe_file_name,
    target_format,
)

log = logging.getLogger(__name__)
PREFIX = "imports/"
# Most URLs one request may import (a batch).
MAX_URLS = 100


def _fetcher(deps: Dependencies) -> UrlFetcher:
    if deps.fetcher is None:
        raise InvalidInput("this server does not import files from URLs")
    return deps.fetcher


def checked_url(deps: Dependencies, url: object) -> str:
    """``url`` if it may be fetched (http(s), a public host); InvalidInput saying why."""
    if not isinstance(url, str):
        raise InvalidInput("sourceUrl must be an http(s) URL")
    try:
        _fetcher(deps).check(url)
    except FetchFailed as exc:
        raise InvalidInput(str(exc)) from None
    return url


def _name_from(url: str) -> str:
    """The name of the file a URL points at, from its path (the server may give
    another when it sends the file: ``Content-Disposition``)."""
    return safe_file_name(PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name)


def import_url(
    deps: Dependencies,
    user_id: int,
    url: str,
    new_format: str,
    options: ConversionOptions | None = None,
    webhook_url: str | None = None,
    batch_id: int | None = None,
) -> Task:
    """Record a task that converts the file at ``url`` (checked with ``checked_url``)
    and request it; the worker fetches the file."""
    target = target_format(new_format)
    chosen = checked_options(options, target)
    name = _name_from(url)
    key = f"{PREFIX}{uuid.uuid4().hex}/input"
    task = record_task(deps, user_id, key, name, target, None, options=chosen,
                       webhook_url=webhook_url, batch_id=batch_id,
                       source_url=url)  # fmt: skip
    request_conversion(deps, task)
    return task


def import_urls(
    deps: Dependencies,
    user_id: int,
    urls: Sequence[str],
    new_format: str,
    options: ConversionOptions | None = None,
    batch_id: int | None = None,
    webhook_url: str | None = None,
) -> BatchView:
    """A task for each URL, all in ``batch_id`` (a new batch if None); every URL,
    the format, options, batch and the quota for all of them checked first."""
    if len(urls) > MAX_URLS:
        raise InvalidInput(f"at most {MAX_URLS} URLs per request")
    target = target_format(new_format)
    checked_options(options, target)
    check_batch(deps, user_id, batch_id)
    with deps.uow(readonly=True) as uow:
        check_quota(deps, uow, user_id, 0, count=len(urls))
    if batch_id is None:
        batch_id = create_batch(deps, user_id).id
    for url in urls:
        import_url(deps, user_id, url, target, options, webhook_url, batch_id)
    assert batch_id is not None
    return get_batch(deps, user_id, batch_id)


def fetch_input(
    deps: Dependencies, task: Task, folder: Path, on_progress: Callable[[float], None]
) -> Callable[[Task], None]:
    """Fetch a claimed URL import's file into ``folder``, check it as an upload is
    checked and store it under the task's ``input_key``; the change that records it on
    the task (to apply under the claim's fence). ConversionFailed with the reason when
    the fetch fails or the file is refused (nothing is kept then)."""
    assert task.source_url is not None
    fetcher = deps.fetcher
    if fetcher is None:
        raise ConversionFailed("this server does not import files from URLs")
    path = folder / "fetched"
    limit = deps.settings.max_upload_bytes

    def progress(done: int, total: int | None) -> None:
        on_progress(100.0 * done / total if total else 0.0)

    try:
        fetched = fetcher.fetch(task.source_url, path, limit, progress)
    except FetchFailed as exc:
        raise ConversionFailed(f"could not fetch the file: {exc}") from None
    try:
        probe = check_audio(deps, path)
        stored = fitted_options(task.options, probe.duration)
        reserve = check_output_fits(deps, probe, fetched.size, task.output_format, stored)
        with deps.uow(readonly=True) as uow:
            check_quota(deps, uow, task.user_id, fetched.size + reserve, count=0)
    except AudioconvError as exc:
        raise ConversionFailed(exc.message) from None
    name = safe_file_name(fetched.name or "") if fetched.name else task.file_name
    deps.blobs.put_file(task.input_key, path, "application/octet-stream", move=True)
    input_format = probe.format or "unknown"

    def change(claimed: Task) -> None:
        claimed.fetched(probe, input_format, fetched.size, name, reserve, deps.clock())

    return change
