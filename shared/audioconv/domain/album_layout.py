"""Where each converted file of a batch goes in its ZIP, and the playlist beside them.

- ``flat`` (the default): the converted file names, made unique.
- ``album``: ``Artist/Album/01 Title.ext`` from the tags (the album artist, else the
  artist; ``1-01 Title`` on a set of several discs), every part a name any file system
  takes (domain/file_names.py).

The playlist is an extended M3U in UTF-8 (``#EXTINF:seconds,Artist - Title``) in
track order: by disc, then track number, then the order of the batch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from audioconv.domain.file_names import portable_name

Layout = Literal["flat", "album"]
LAYOUTS: tuple[Layout, ...] = ("flat", "album")
PLAYLIST = "playlist.m3u8"
_NUMBER = re.compile(r"\s*0*(\d{1,4})\s*(?:/\s*0*(\d{1,4}))?")


@dataclass(frozen=True)
class TrackInfo:
    """What the layout and the playlist read of one converted file."""

    file_name: str  # the converted file's own name (with its extension)
    tags: Mapping[str, str]  # the file's tags, any case
    seconds: float | None
    position: int  # its place in the batch

    def tag(self, *names: str) -> str | None:
        lowered = {k.lower(): v for k, v in self.tags.items()}
        for name in names:
            value = (lowered.get(name) or "").strip()
            if value:
                return value
        return None

    @property
    def title(self) -> str:
        return self.tag("title") or PurePosixPath(self.file_name).stem

    @property
    def artist(self) -> str | None:
        return self.tag("artist", "album_artist", "albumartist")

    @property
    def album_artist(self) -> str:
        return self.tag("album_artist", "albumartist", "album artist", "artist") or "Unknown Artist"

    @property
    def album(self) -> str:
        return self.tag("album") or "Unknown Album"

    @property
    def track(self) -> tuple[int | None, int | None]:
        """Track number and count, from ``3`` or ``03/12``."""
        return _number(self.tag("track", "tracknumber"))

    @property
    def disc(self) -> tuple[int | None, int | None]:
        return _number(self.tag("disc", "discnumber"))

    def order(self) -> tuple[int, int, int]:
        disc, track = self.disc[0], self.track[0]
        return (disc or 0, track if track is not None else 10_000, self.position)


def _number(value: str | None) -> tuple[int | None, int | None]:
    match = _NUMBER.fullmatch(value or "")
    if match is None:
        return None, None
    return int(match[1]), int(match[2]) if match[2] else None


def album_path(track: TrackInfo) -> str:
    """``Artist/Album/01 Title.ext`` (``1-01 Title.ext`` when the set has discs)."""
    extension = PurePosixPath(track.file_name).suffix
    number, _ = track.track
    disc, discs = track.disc
    several = (discs or 0) > 1 or (disc or 0) > 1
    prefix = ""
    if number is not None:
        prefix = f"{disc}-{number:02d} " if several and disc else f"{number:02d} "
    name = portable_name(prefix + track.title, fallback="Untitled") + extension
    return "/".join((portable_name(track.album_artist), portable_name(track.album), name))


def unique_paths(paths: Iterable[str], taken: Iterable[str] = ()) -> list[str]:
    """Each path, made unique (ignoring case, as Windows and macOS do) by a counter
    before the extension of its last part: ``a/song.mp3``, ``a/song (2).mp3``."""
    used = {p.casefold() for p in taken}
    out = []
    for path in paths:
        candidate, n = path, 1
        folder, _, name = path.rpartition("/")
        stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
        while candidate.casefold() in used:
            n += 1
            candidate = f"{folder}/{stem} ({n}){suffix}" if folder else f"{stem} ({n}){suffix}"
        used.add(candidate.casefold())
        out.append(candidate)
    return out


def playlist(entries: Sequence[tuple[str, TrackInfo]]) -> str:
    """The extended M3U of ``(path in the ZIP, track)`` pairs, in track order."""
    lines = ["#EXTM3U"]
    for path, track in sorted(entries, key=lambda entry: entry[1].order()):
        seconds = round(track.seconds) if track.seconds is not None else -1
        label = f"{track.artist} - {track.title}" if track.artist else track.title
        lines += [f"#EXTINF:{seconds},{_one_line(label)}", path]
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())
