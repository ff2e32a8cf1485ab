"""One ffmpeg run that cuts an album's audio into its tracks (a cue sheet's), each a
FLAC file with its own tags and the album's cover. Pure: the command line.

The cuts are sample numbers of the decoded stream (``atrim``'s ``start_sample`` and
``end_sample``), so each sample lands in exactly one track. One run writes at most
TRACKS_PER_RUN tracks: each output file has a thread of its own in ffmpeg, and their
stacks and allocation arenas count against a conversion's memory limit (ten at once
went past 512 MiB); a run stops decoding once its last track is written. FLAC keeps 16-bit input as
it is and anything else (24-bit, float, a lossy codec's decoded output) at 24 bits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from audioconv.adapters.cover_art import MIME_TYPES
from audioconv.domain.media import Probe

_BASE = ("-nostdin", "-hide_banner", "-nostats", "-y")
TRACKS_PER_RUN = 4


def runs(starts: Sequence[int]) -> list[list[tuple[int, int | None]]]:
    """The tracks' ``(first sample, end sample or None: the end)``, TRACKS_PER_RUN to a run."""
    cuts = [(start, end) for start, end in zip(starts, [*starts[1:], None], strict=True)]
    return [cuts[n : n + TRACKS_PER_RUN] for n in range(0, len(cuts), TRACKS_PER_RUN)]


def split_command(
    ffmpeg: str,
    src: Path,
    source: Probe,
    cuts: Sequence[tuple[int, int | None]],
    tags: Sequence[Mapping[str, str]],
    outputs: Sequence[Path],
) -> list[str]:
    """Cut ``src`` into the FLAC files ``outputs``: each from the first sample of its
    cut to its end sample (None: the end of the audio), tagged with its ``tags``."""
    if not (len(cuts) == len(tags) == len(outputs)) or not cuts:
        raise ValueError("one cut, one set of tags and one output per track")
    count = len(cuts)
    graph = [f"[0:a:0]asplit={count}" + "".join(f"[in{n}]" for n in range(count))]
    for n, (start, stop) in enumerate(cuts):
        end = f":end_sample={stop}" if stop is not None else ""
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
        # One thread per encoder: a thread's stack counts against the memory limit, and
        # an album has up to 99 encoders at once.
        cmd += ["-map_metadata", "-1", "-c:a", "flac", "-sample_fmt", sample_format,
                "-threads", "1"]  # fmt: skip
        for key, value in track_tags.items():
            cmd += ["-metadata", f"{key}={value}"]
        cmd += ["-f", "flac", f"file:{output}"]
    return cmd
