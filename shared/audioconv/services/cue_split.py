"""An album as one audio file and its cue sheet, uploaded together: each track a task
in one batch (issue 24).

Everything that can refuse the request is checked before anything is stored: the
sheet (a 400 naming its line), the pair of files, the target and options, the batch,
that every track starts inside the audio, the quota for all the tracks. Then the
audio is cut into tracks (domain/cue_sheet.py says where; the transcoder cuts
sample-exact, each track a FLAC file with the sheet's tags and the album's cover),
and each track is uploaded as if the user had sent it: a task of the batch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from audioconv.domain.batch import MAX_BATCH_NAME_CHARS
from audioconv.domain.cue_sheet import MAX_CUE_BYTES, CueSheet, CueSheetError, parse_cue
from audioconv.domain.errors import (
    AudioconvError,
    ConversionFailed,
    InvalidInput,
    UnsupportedMedia,
)
from audioconv.domain.file_names import portable_name
from audioconv.domain.media import Probe
from audioconv.domain.options import ConversionOptions
from audioconv.services import batches
from audioconv.services.batches import BatchView, Upload
from audioconv.services.conversion import WORK_PREFIX
from audioconv.services.dependencies import Dependencies
from audioconv.services.tasks import (
    BatchGone,
    check_audio,
    check_quota,
    checked_options,
    create_task,
    target_format,
)

CUE_SUFFIX = ".cue"


def has_cue_sheet(files: Sequence[Upload]) -> bool:
    """Whether an upload's files include a cue sheet (by its name, as players know it)."""
    return any(f.file_name.lower().endswith(CUE_SUFFIX) for f in files)


def read_sheet(path: Path) -> CueSheet:
    """The sheet in the file; InvalidInput naming the line of what cannot be read."""
    if path.stat().st_size > MAX_CUE_BYTES:
        raise InvalidInput(f"cue sheet: larger than {MAX_CUE_BYTES // 1024} kB: not a cue sheet")
    try:
        return parse_cue(path.read_bytes())
    except CueSheetError as exc:
        raise InvalidInput(str(exc)) from None


def upload_album(
    deps: Dependencies,
    user_id: int,
    files: Sequence[Upload],
    new_format: str,
    options: ConversionOptions | None = None,
    batch_id: int | None = None,
    webhook_url: str | None = None,
) -> BatchView:
    """Cut the album into its tracks, a task each, in ``batch_id`` (a new batch named
    for the album if None); see the module doc."""
    sheets = [f for f in files if f.file_name.lower().endswith(CUE_SUFFIX)]
    audio = [f for f in files if not f.file_name.lower().endswith(CUE_SUFFIX)]
    if len(sheets) != 1 or len(audio) != 1:
        raise InvalidInput(
            "a cue sheet comes with exactly one audio file, the whole album "
            f"(this request has {len(sheets)} .cue files and {len(audio)} others)"
        )
    sheet = read_sheet(sheets[0].path)
    target = target_format(new_format)
    checked_options(options, target)
    batches.check_batch(deps, user_id, batch_id)
    probe = check_audio(deps, audio[0].path)
    starts = _starts(sheet, probe)
    size = audio[0].path.stat().st_size
    with deps.uow(readonly=True) as uow:
        check_quota(deps, uow, user_id, size, count=len(sheet.tracks))
    name = _album_name(sheet, probe) if batch_id is None else None
    work = deps.settings.resolved_work_dir
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=work) as tmp:
        tags = [_track_tags(sheet, probe, n) for n in range(len(sheet.tracks))]
        try:
            tracks = deps.transcoder.split(audio[0].path, probe, starts, tags, Path(tmp))
        except ConversionFailed as exc:
            reason = f"the album could not be cut into tracks: {exc.reason}"
            raise UnsupportedMedia(reason) from None
        if batch_id is None:
            batch_id = batches.create_batch(deps, user_id, name).id
        for number, (path, track_tags) in enumerate(zip(tracks, tags, strict=True), start=1):
            name = portable_name(f"{number:02d} {track_tags['title']}") + ".flac"
            try:
                create_task(deps, user_id, path, name, new_format, options, take_file=True,
                            batch_id=batch_id, webhook_url=webhook_url)  # fmt: skip
            except BatchGone:
                raise
            except AudioconvError as exc:  # over the quota by now: a failed task says so
                batches.record_refused(deps, user_id, Upload(path, name), target, options, exc,
                                       batch_id)  # fmt: skip
    assert batch_id is not None
    return batches.get_batch(deps, user_id, batch_id)


def _starts(sheet: CueSheet, probe: Probe) -> list[int]:
    """Each track's first sample; InvalidInput naming the line of a track that starts
    at or past the audio's end."""
    if not probe.sample_rate:
        raise InvalidInput("the album's audio has no sample rate to cut it at")
    starts = sheet.starts(probe.sample_rate)
    total = int(probe.duration * probe.sample_rate)
    for track, start in zip(sheet.tracks, starts, strict=True):
        if start >= total:
            raise InvalidInput(
                f"cue sheet line {track.line}: track {track.number} starts at "
                f"{start / probe.sample_rate:.2f} s, past the end of the audio "
                f"({probe.duration:.2f} s)"
            )
    return starts


# Album-wide tags of the audio file kept on every track (unless the sheet says otherwise).
_ALBUM_TAGS = ("album", "album_artist", "artist", "date", "genre", "composer", "copyright",
               "publisher", "label")  # fmt: skip


def _track_tags(sheet: CueSheet, probe: Probe, index: int) -> dict[str, str]:
    """The source's album-wide tags, then the sheet's; a track with no TITLE is called
    ``Track nn``."""
    source = {k.lower(): v for k, v in probe.tags.items()}
    tags = {key: source[key] for key in _ALBUM_TAGS if source.get(key)}
    tags |= sheet.tags(index)
    tags.setdefault("title", f"Track {sheet.tracks[index].number:02d}")
    return tags


def _album_name(sheet: CueSheet, probe: Probe) -> str | None:
    """``Performer - Title`` of the album (what is known of it)."""
    source = {k.lower(): v for k, v in probe.tags.items()}
    performer = sheet.performer or source.get("album_artist") or source.get("artist")
    title = sheet.title or source.get("album")
    name = " - ".join(part for part in (performer, title) if part)
    name = "".join(c for c in name if c.isprintable())[:MAX_BATCH_NAME_CHARS]
    return name or None
