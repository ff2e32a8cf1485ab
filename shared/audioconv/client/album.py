"""``audioconv convert album.flac album.cue``: an album and its cue sheet, sent in one
request; the server cuts it into its tracks (a task each, in one batch). The tracks
come back one by one beside the album (or in ``-o DIR``), or as one ZIP laid out
``Artist/Album/01 Title.ext`` with its playlist."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from audioconv.client.api import POLL_SECONDS, Api, ApiError
from audioconv.client.convert import Job
from audioconv.client.progress import Progress, human_bytes

CUE_SUFFIX = ".cue"


def is_album(files: list[Path]) -> bool:
    """Whether the files to convert include a cue sheet."""
    return any(f.suffix.lower() == CUE_SUFFIX for f in files)


def convert_album(
    api: Api, files: list[Path], job: Job, zip_path: Path | None, layout: str, progress: Progress
) -> list[str]:
    """Send the album and its sheet, wait for every track (and its album gain), then
    download; the problems, in words (empty: every track converted)."""
    sheets = [f for f in files if f.suffix.lower() == CUE_SUFFIX]
    audio = [f for f in files if f.suffix.lower() != CUE_SUFFIX]
    if len(sheets) != 1 or len(audio) != 1:
        return ["give one audio file (the whole album) and its one .cue sheet"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        return [f"{name}: no such file" for name in missing]
    name = audio[0].name

    def sent(done: int, total: int) -> None:
        percent = 100 * done / total if total else 100
        progress.update(name, "uploading", percent, f"{human_bytes(done)} of {human_bytes(total)}")

    try:
        batch = api.upload_files([audio[0], sheets[0]], job.new_format, job.options, sent)
        batch_id = int(batch["id"])
        progress.line(f"{name}: {len(batch['tasks'])} tracks in batch {batch_id}")
        tracks = _wait(api, batch_id, name, progress)
        problems = [f"{t['fileName']}: {t.get('error') or 'failed'}" for t in tracks
                    if t["status"] != "processed"]  # fmt: skip
        if zip_path is not None:
            api.download(f"/api/batches/{batch_id}/zip?layout={layout}", zip_path)
            progress.line(f"{name}: tracks of batch {batch_id} -> {zip_path}")
            return problems
        folder = job.out_dir or audio[0].parent
        for track in tracks:
            dest = folder / Path(track["outputFileName"]).name
            if track["status"] != "processed":
                continue
            if dest.exists() and not job.force:
                problems.append(f"{dest} exists (use --force to overwrite it)")
                continue
            api.download(track["links"]["converted"], dest)
            progress.line(f"{name}: track -> {dest}")
        return problems
    except ApiError as exc:
        return [f"{name}: {exc.message}"]


def _wait(api: Api, batch_id: int, name: str, progress: Progress) -> list[dict[str, Any]]:
    """The batch's tracks once every one is finished and no album gain is still due."""
    while True:
        tracks: list[dict[str, Any]] = api.batch(batch_id)["tasks"]
        done = [t for t in tracks if t["status"] in ("processed", "failed")]
        progress.update(name, "converting", 100 * len(done) / max(1, len(tracks)))
        if len(done) == len(tracks) and not any(t.get("albumGain") for t in tracks):
            return tracks
        time.sleep(POLL_SECONDS)
