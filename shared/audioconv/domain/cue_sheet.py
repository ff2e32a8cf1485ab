"""Cue sheets: one audio file of a whole album, and where each track starts in it.

What is read: UTF-8 (with or without a byte-order mark), UTF-16 with its mark, else
Windows-1252 (what EAC and most rippers wrote for years); commands in any case;
``REM`` lines (``GENRE``, ``DATE``, ``DISCNUMBER``, ``TOTALDISCS``, ``COMMENT`` are
kept, any other remark ignored); ``INDEX 00`` pregaps. Times are ``mm:ss:ff``, 75
frames a second (a CD's sectors).

Tracks are cut at their ``INDEX 01``: a pregap (``INDEX 00``) stays at the end of the
track before, as a CD player plays it, and whatever comes before the first track's
``INDEX 01`` (a hidden track, or the first pregap) stays at the start of the first track,
so the tracks together are the whole file: not a sample lost, not one twice.

A sheet that cannot be read is a ``CueSheetError`` naming its line.
"""

from __future__ import annotations

import codecs
import itertools
import re
from dataclasses import dataclass, field

# A CD's frames (sectors) per second: the unit of every cue sheet time.
FRAMES_PER_SECOND = 75
MAX_TRACKS = 99
# The largest cue sheet read, in bytes (a 99-track sheet with long titles is ~20 kB).
MAX_CUE_BYTES = 256 * 1024

_TIME = re.compile(r"(\d{1,4}):(\d{2}):(\d{2})")
# Commands a sheet may hold that say nothing about the audio we cut: ignored.
_IGNORED = {"CATALOG", "CDTEXTFILE", "FLAGS", "ISRC", "POSTGAP", "PREGAP", "SONGWRITER"}
# Remarks kept, by the name they carry in a sheet.
_REMARKS = {"GENRE": "genre", "DATE": "date", "DISCNUMBER": "disc", "TOTALDISCS": "discs",
            "COMMENT": "comment"}  # fmt: skip


class CueSheetError(ValueError):
    """The sheet cannot be read; the message names the line (``line``: its number)."""

    def __init__(self, line: int | None, problem: str) -> None:
        where = f"cue sheet line {line}: " if line is not None else "cue sheet: "
        super().__init__(where + problem)
        self.line = line
        self.problem = problem


@dataclass(frozen=True)
class CueTrack:
    number: int
    start: int  # frames into the file: its INDEX 01
    pregap: int | None = None  # frames into the file: its INDEX 00, if any
    title: str | None = None
    performer: str | None = None
    line: int = 0  # where its TRACK command is


@dataclass(frozen=True)
class CueSheet:
    tracks: tuple[CueTrack, ...]
    file_name: str | None = None
    title: str | None = None
    performer: str | None = None
    remarks: dict[str, str] = field(default_factory=dict)

    def starts(self, sample_rate: int) -> list[int]:
        """Each track's first sample in a file at ``sample_rate`` (the first track starts
        at 0: whatever is before its INDEX 01 is its own). A frame is a whole number of
        samples at the CD's rate and every common one; elsewhere it rounds down."""
        return [0] + [t.start * sample_rate // FRAMES_PER_SECOND for t in self.tracks[1:]]

    def tags(self, index: int) -> dict[str, str]:
        """The tags of track ``index`` (0-based), in ffmpeg's generic names: title,
        artist (the track's performer, else the album's), album, album_artist, track
        (``n/total``), disc, date, genre, comment; what the sheet does not say is left out."""
        track = self.tracks[index]
        disc = self.remarks.get("disc")
        if disc and self.remarks.get("discs"):
            disc = f"{disc}/{self.remarks['discs']}"
        found = {
            "title": track.title,
            "artist": track.performer or self.performer,
            "album": self.title,
            "album_artist": self.performer,
            "track": f"{track.number}/{len(self.tracks)}",
            "disc": disc,
            "date": self.remarks.get("date"),
            "genre": self.remarks.get("genre"),
            "comment": self.remarks.get("comment"),
        }
        return {name: value for name, value in found.items() if value}


def decode(data: bytes) -> str:
    """A sheet's text: UTF-16 or UTF-8 by their byte-order marks, UTF-8 if it is that,
    else Windows-1252 (bytes it leaves undefined are kept as their Latin-1 letters)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise CueSheetError(None, "it says it is UTF-16 but is not") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    return "".join(_cp1252(byte) for byte in data)


def _cp1252(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: unassigned
        return chr(byte)


def parse_cue(data: bytes | str) -> CueSheet:
    """The sheet in ``data``; CueSheetError naming the line of anything it cannot read."""
    if isinstance(data, bytes):
        if len(data) > MAX_CUE_BYTES:
            raise CueSheetError(None, f"larger than {MAX_CUE_BYTES // 1024} kB: not a cue sheet")
        data = decode(data)
    return _Parser().parse(data)


@dataclass
class _OpenTrack:
    number: int
    line: int
    title: str | None = None
    performer: str | None = None
    indexes: dict[int, int] = field(default_factory=dict)


class _Parser:
    def __init__(self) -> None:
        self.album: dict[str, str] = {}
        self.remarks: dict[str, str] = {}
        self.files: list[str] = []
        self.tracks: list[_OpenTrack] = []

    def parse(self, text: str) -> CueSheet:
        if "\x00" in text:
            raise CueSheetError(None, "it holds NUL bytes: not a text file")
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if line:
                self._line(number, line)
        if not self.tracks:
            raise CueSheetError(None, "it has no TRACK")
        tracks = [self._closed(track) for track in self.tracks]
        for before, after in itertools.pairwise(tracks):
            was = f"track {before.number} ({_time(before.start)})"
            if after.start <= before.start:
                raise CueSheetError(
                    after.line, f"track {after.number}'s INDEX 01 must come after {was}"
                )
            if after.pregap is not None and after.pregap < before.start:
                raise CueSheetError(after.line, f"track {after.number}'s INDEX 00 is before {was}")
        return CueSheet(tuple(tracks), self.files[0] if self.files else None,
                        self.album.get("title"), self.album.get("performer"),
                        dict(self.remarks))  # fmt: skip

    def _line(self, number: int, line: str) -> None:
        command, _, rest = line.partition(" ")
        command, rest = command.upper(), rest.strip()
        if command == "REM":
            name, _, value = rest.partition(" ")
            if name.upper() in _REMARKS and value.strip():
                self.remarks[_REMARKS[name.upper()]] = _value(number, value.strip())
        elif command in ("TITLE", "PERFORMER"):
            value = _value(number, rest)
            if self.tracks:
                setattr(self.tracks[-1], command.lower(), value)
            else:
                self.album[command.lower()] = value
        elif command == "FILE":
            self._file(number, rest)
        elif command == "TRACK":
            self._track(number, rest)
        elif command == "INDEX":
            self._index(number, rest)
        elif command not in _IGNORED:
            shown = command if len(command) <= 20 else command[:20] + "..."
            raise CueSheetError(number, f"unknown command {shown!r}")

    def _file(self, number: int, rest: str) -> None:
        name, kind = _split_file(number, rest)
        if kind.upper() in ("BINARY", "MOTOROLA"):
            raise CueSheetError(number, f"FILE type {kind} is a data file, not audio")
        self.files.append(name)
        if len(self.files) > 1:
            raise CueSheetError(number, "a second FILE: this sheet cuts one audio file only "
                                "(the whole album in one file)")  # fmt: skip

    def _track(self, number: int, rest: str) -> None:
        if not self.files:
            raise CueSheetError(number, "TRACK before any FILE")
        parts = rest.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise CueSheetError(number, "TRACK must be 'TRACK nn AUDIO'")
        track_no = int(parts[0])
        if parts[1].upper() != "AUDIO":
            raise CueSheetError(number, f"track {track_no} is {parts[1]}, not AUDIO")
        if not 1 <= track_no <= MAX_TRACKS:
            raise CueSheetError(number, f"track number {track_no} is not 1-{MAX_TRACKS}")
        if self.tracks and track_no <= self.tracks[-1].number:
            raise CueSheetError(number, f"track {track_no} after track {self.tracks[-1].number}")
        self.tracks.append(_OpenTrack(track_no, number))

    def _index(self, number: int, rest: str) -> None:
        if not self.tracks:
            raise CueSheetError(number, "INDEX before any TRACK")
        parts = rest.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise CueSheetError(number, "INDEX must be 'INDEX nn mm:ss:ff'")
        index = int(parts[0])
        frames = _frames(number, parts[1])
        track = self.tracks[-1]
        if index in track.indexes:
            raise CueSheetError(number, f"track {track.number} has INDEX {index:02d} twice")
        for other, at in track.indexes.items():
            if (other < index and at > frames) or (other > index and at < frames):
                raise CueSheetError(number, f"INDEX {index:02d} ({_time(frames)}) is out of "
                                    f"order with INDEX {other:02d} ({_time(at)})")  # fmt: skip
        track.indexes[index] = frames

    @staticmethod
    def _closed(track: _OpenTrack) -> CueTrack:
        if 1 not in track.indexes:
            raise CueSheetError(track.line, f"track {track.number} has no INDEX 01")
        return CueTrack(track.number, track.indexes[1], track.indexes.get(0),
                        track.title, track.performer, track.line)  # fmt: skip


def _frames(line: int, text: str) -> int:
    match = _TIME.fullmatch(text)
    if match is None or int(match[2]) > 59 or int(match[3]) >= FRAMES_PER_SECOND:
        raise CueSheetError(line, f"time {text!r} is not mm:ss:ff (seconds 00-59, frames 00-74)")
    minutes, seconds, frames = int(match[1]), int(match[2]), int(match[3])
    return (minutes * 60 + seconds) * FRAMES_PER_SECOND + frames


def _time(frames: int) -> str:
    seconds, frame = divmod(frames, FRAMES_PER_SECOND)
    return f"{seconds // 60:02d}:{seconds % 60:02d}:{frame:02d}"


def _value(line: int, text: str) -> str:
    """A quoted or bare value (a quoted one may hold quotes: up to the last one)."""
    if text.startswith('"'):
        end = text.rfind('"')
        if end == 0:
            raise CueSheetError(line, "a quote that is never closed")
        return text[1:end]
    return text


def _split_file(line: int, rest: str) -> tuple[str, str]:
    """``FILE "name" TYPE``: the name and the type."""
    if rest.startswith('"'):
        end = rest.rfind('"')
        if end == 0:
            raise CueSheetError(line, "a quote that is never closed")
        name, kind = rest[1:end], rest[end + 1 :].strip()
    else:
        name, _, kind = rest.rpartition(" ")
        name, kind = name.strip(), kind.strip()
    if not name or not kind:
        raise CueSheetError(line, "FILE must be 'FILE \"name\" TYPE' (WAVE, FLAC, MP3...)")
    return name, kind
