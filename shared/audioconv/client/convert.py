"""``audioconv convert``: upload, wait, download, for many files at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import urlsplit

from audioconv.client.api import Api, ApiError
from audioconv.client.progress import Progress, human_bytes
from audioconv.domain.formats import FORMATS

# Files larger than this go through a direct-upload URL (App Engine takes at most
# 32 MB per request, multipart overhead included).
DIRECT_UPLOAD_BYTES = int(os.environ.get("AUDIOCONV_DIRECT_UPLOAD_BYTES", 30 * 1024 * 1024))
# Files larger than this go as resumable (tus) uploads where the server takes them
# (``--no-resume``: never): an interrupted ``convert`` goes on where it stopped.
RESUMABLE_BYTES = int(os.environ.get("AUDIOCONV_RESUMABLE_BYTES", 8 * 1024 * 1024))


@dataclass(frozen=True)
class Job:
    new_format: str
    options: Mapping[str, str]
    out_dir: Path | None
    force: bool
    # The batch every upload goes into, if any.
    batch_id: int | None = None
    # Leave the converted files on the server (they come as one ZIP instead).
    download: bool = True
    # Large files as resumable uploads (where the server takes them).
    resume: bool = True

    @property
    def fields(self) -> dict[str, str]:
        """What each upload sends beside the format: the options and the batch."""
        batch = {"batch": str(self.batch_id)} if self.batch_id is not None else {}
        return {**self.options, **batch}


@dataclass(frozen=True)
class Outcome:
    source: Path
    output: Path | None = None
    error: str | None = None
    # What the server said of the output: its warnings, and whether it was verified.
    warnings: tuple[str, ...] = ()
    verified: bool = False


def destination(source: Path, job: Job, name: str | None = None) -> Path:
    """Where the converted ``source`` goes: beside it, or in ``-o DIR``."""
    if name is None:
        name = f"{PurePath(source.name).stem}.{FORMATS[job.new_format].extension}"
    return (job.out_dir or source.parent) / PurePath(name).name


def convert_one(server: str, token: str, source: Path, job: Job, progress: Progress) -> Outcome:
    name = source.name
    try:
        if not source.is_file():
            return Outcome(source, error="no such file")
        dest = destination(source, job)
        if job.download and dest.exists() and not job.force:
            return Outcome(source, error=f"{dest} exists (use --force to overwrite it)")
        api = Api(server, token)

        size = source.stat().st_size
        direct = size > DIRECT_UPLOAD_BYTES
        phase = "uploading directly" if direct else "uploading"

        def sent(done: int, total: int) -> None:
            percent = 100 * done / total if total else 100
            progress.update(name, phase, percent, f"{human_bytes(done)} of {human_bytes(total)}")

        task = None
        if job.resume and size > RESUMABLE_BYTES:
            phase = "uploading (resumable)"
            task = api.resumable_upload(source, job.new_format, job.fields, sent)
        if task is None:
            phase = "uploading directly" if direct else "uploading"
            upload = api.direct_upload if direct else api.upload
            task = upload(source, job.new_format, job.fields, sent)
        return _finish(api, source, task, job, progress)
    except ApiError as exc:
        return Outcome(source, error=exc.message)
    except OSError as exc:
        return Outcome(source, error=f"{exc.strerror or exc}")


def is_url(argument: str) -> bool:
    """Whether a ``convert`` argument is a URL for the server to import, not a file."""
    return argument.startswith(("http://", "https://"))


def import_one(server: str, token: str, url: str, job: Job, progress: Progress) -> Outcome:
    """Convert the file at ``url``: the server fetches it (``sourceUrl``); the result
    comes into ``-o DIR`` or the current folder."""
    source = Path(PurePath(urlsplit(url).path).name or "download")
    try:
        api = Api(server, token)
        body = {"sourceUrl": url, "newFormat": job.new_format, **job.fields}
        task = api.request("POST", "/api/tasks", json=body).json()
        return _finish(api, source, task, job, progress)
    except ApiError as exc:
        return Outcome(source, error=exc.message)
    except OSError as exc:
        return Outcome(source, error=f"{exc.strerror or exc}")


def _finish(api: Api, source: Path, task: dict[str, Any], job: Job, progress: Progress) -> Outcome:
    """Wait for the task, then download its output (unless ``job.download`` is off)."""

    def converting(task: dict[str, Any]) -> None:
        phase = {"processing": "converting", "downloading": "fetching"}.get(task["status"])
        if phase:
            progress.update(source.name, phase, float(task.get("progress") or 0))

    try:
        task = api.wait(int(task["id"]), converting)
        if task["status"] != "processed":
            return Outcome(source, error=task.get("error") or "conversion failed")
        warnings = tuple(str(w) for w in task.get("warnings") or ())
        verified = bool(task.get("verified"))
        if not job.download:
            return Outcome(source, warnings=warnings, verified=verified)
        dest = destination(source, job, task["outputFileName"])
        if dest.exists() and not job.force:
            return Outcome(source, error=f"{dest} exists (use --force to overwrite it)")
        api.download(task["links"]["converted"], dest)
        return Outcome(source, output=dest, warnings=warnings, verified=verified)
    except ApiError as exc:
        return Outcome(source, error=exc.message)
    except OSError as exc:
        return Outcome(source, error=f"{exc.strerror or exc}")


def import_all(
    server: str, token: str, urls: list[str], job: Job, jobs: int, progress: Progress
) -> list[Outcome]:
    """Convert the file at each URL, ``jobs`` at a time; report each as it finishes."""

    def run(url: str) -> Outcome:
        outcome = import_one(server, token, url, job, progress)
        if outcome.error is None:
            progress.line(f"{url_shown(url)}: converted -> {outcome.output or 'the ZIP'}")
        else:
            progress.line(f"{url_shown(url)}: FAILED: {outcome.error}")
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(run, urls))


def url_shown(url: str) -> str:
    """A URL as printed: no query string (a signed URL's signature)."""
    return url.split("?", 1)[0] + ("?..." if "?" in url else "")


def convert_all(
    server: str, token: str, sources: list[Path], job: Job, jobs: int, progress: Progress
) -> list[Outcome]:
    """Convert every source, ``jobs`` at a time; report each as it finishes."""

    claimed: dict[Path, Path] = {}
    clashes: dict[Path, Path] = {}
    for source in sources if job.download else ():  # a.flac and a.wav would both be a.mp3
        dest = destination(source, job).resolve()
        if dest in claimed and claimed[dest] != source:
            clashes[source] = claimed[dest]
        claimed.setdefault(dest, source)

    def run(source: Path) -> Outcome:
        if source in clashes:
            outcome = Outcome(source, error=f"its output would overwrite that of {clashes[source]}")
        else:
            outcome = convert_one(server, token, source, job, progress)
        if outcome.error is None:
            mark = " (verified: decodes to the input's very samples)" if outcome.verified else ""
            progress.line(f"{source}: converted -> {outcome.output or 'the ZIP'}{mark}")
            for warning in outcome.warnings:
                progress.line(f"{source}: warning: {warning}")
        else:
            progress.line(f"{source}: FAILED: {outcome.error}")
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(run, sources))
