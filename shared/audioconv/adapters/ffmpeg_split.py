"""One ffmpeg run that cuts an album's audio into its tracks (a cue sheet's), each a
FLAC file with its own tags and the album's cover. Pure: the command line.

The cuts are sample numbers of the decoded stream (``atrim``'s ``start_sample`` and
``end_sample``), so each sample lands in exactly one track. FLAC keeps 16-bit input as
it is and anything else (24-bit, float, a lossy codec's decoded output) at 24 bits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from audioconv.adapters.cover_art import MIME_TYPES
from audioconv.domain.media import Probe

_BASE = ("-nostdin", "-hide_banner", "-nostats", "-y")


def split_command(
    ffmpeg: str,
    src: Path,
    source: Probe,
    starts: Sequence[int],
    tags: Sequence[Mapping[str, str]],
    outputs: Sequence[Path],
) -> list[str]:
    """Cut ``src`` at the ``starts`` (first samples of each track; the last runs to the
    end) into the FLAC files ``outputs``, each tagged with its ``tags``."""
    if not (len(starts) == len(tags) == len(outputs)) or not starts:
        raise ValueError("one start, one set of tags and one output per track")
    count = len(starts)
    graph = [f"[0:a:0]asplit={count}" + "".join(f"[in{n}]" for n in range(count))]
    for n, start in enumerate(starts):
        end = f":end_sample={starts[n + 1]}" if n + 1 < count else ""
        graph.append(f"[in{n}]atrim=start_sample={start}{end},asetpts=PTS-STARTPTS[out{n}]")
    cmd = [
        ffmpeg, *_BASE, "-loglevel", "error", "-protocol_whitelist", "file,pipe",
        "-progress", "pipe:1", "-threads", "1", "-f", source.demuxer, "-i", f"file:{src}",
        "-filter_complex", ";".join(graph),
    ]  # fmt: skip
    cover = source.picture is not None and source.picture.codec in MIME_TYPES
    sample_format = "s16" if source.sample_format in ("s16", "u8") else "s32"
    for n, (output, track_tags) in enumerate(zip(outputs, tags, strict=True)):
        cmd += ["-map", f"[out{n}]"]
        if cover:
            cmd += ["-map", "0:v:0", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
        cmd += ["-map_metadata", "-1", "-c:a", "flac", "-sample_fmt", sample_format]
        for key, value in track_tags.items():
            cmd += ["-metadata", f"{key}={value}"]
        cmd += ["-f", "flac", f"file:{output}"]
    return cmd
