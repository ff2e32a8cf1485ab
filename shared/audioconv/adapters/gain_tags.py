# mutagen has no type hints: its calls are untyped, its tag objects plain Any here.
# mypy: disable-error-code="no-untyped-call"
"""Gain tags written into a converted file with mutagen, each format its own way.

- mp3: ID3v2.3 ``TXXX:REPLAYGAIN_TRACK_GAIN`` (``-7.15 dB``), ``..._PEAK`` (``0.171000``),
  ``..._ALBUM_*``, and ``REPLAYGAIN_REFERENCE_LOUDNESS``;
- flac, ogg: the same names as Vorbis comments;
- opus: ``R128_TRACK_GAIN`` / ``R128_ALBUM_GAIN`` (Q7.8 integers, relative to -23 LUFS),
  no ``REPLAYGAIN_*`` (RFC 7845 and opus-tools forbid them); the header's output gain
  is left as ffmpeg wrote it (0);
- m4a, alac: iTunes freeform atoms ``----:com.apple.iTunes:replaygain_*``.

Tags of an album left from before (an earlier run) are removed when only the track's
are written, so a file never carries figures of some other album.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mutagen.flac import FLAC
from mutagen.id3 import ID3, TXXX, ID3NoHeaderError
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from audioconv.domain.gain import GAIN_TAG_STYLES, REPLAYGAIN_REFERENCE, Gain

_ITUNES = "----:com.apple.iTunes:"
_NAMES = ("replaygain_track_gain", "replaygain_track_peak", "replaygain_album_gain",
          "replaygain_album_peak", "replaygain_reference_loudness")  # fmt: skip
_R128 = ("r128_track_gain", "r128_album_gain")


def replaygain_values(gain: Gain | None) -> dict[str, str]:
    """ReplayGain 2.0 tags, by lower-case name, as text (none for None)."""
    if gain is None:
        return {}
    values = {
        "replaygain_track_gain": f"{gain.track_gain:.2f} dB",
        "replaygain_track_peak": f"{gain.track_peak:.6f}",
        "replaygain_reference_loudness": f"{REPLAYGAIN_REFERENCE:.2f} LUFS",
    }
    if gain.album_gain is not None and gain.album_peak is not None:
        values["replaygain_album_gain"] = f"{gain.album_gain:.2f} dB"
        values["replaygain_album_peak"] = f"{gain.album_peak:.6f}"
    return values


def write_gain_tags(path: Path, target: str, gain: Gain | None) -> None:
    """Tag ``path`` (a file of format ``target``) with ``gain`` (None: remove every gain
    tag, as for audio whose level was changed); ValueError for a format with no
    convention (options.py refuses those before anything is stored)."""
    style = GAIN_TAG_STYLES.get(target)
    if style == "id3":
        _id3(path, gain)
    elif style == "vorbis":
        _vorbis(FLAC(path) if target == "flac" else OggVorbis(path), gain)
    elif style == "r128":
        _opus(OggOpus(path), gain)
    elif style == "itunes":
        _itunes(MP4(path), gain)
    else:
        raise ValueError(f"{target} has no convention for gain tags")


def _id3(path: Path, gain: Gain | None) -> None:
    try:
        tags = ID3(path)
    except ID3NoHeaderError:
        tags = ID3()
    for name in (*_NAMES, *_R128):  # an Opus source's R128 gains come as TXXX frames
        tags.delall(f"TXXX:{name.upper()}")
        tags.delall(f"TXXX:{name}")
    for name, value in replaygain_values(gain).items():
        tags.add(TXXX(encoding=3, desc=name.upper(), text=[value]))
    tags.save(path, v2_version=3)


def _vorbis(audio: Any, gain: Gain | None) -> None:
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    for name in (*_NAMES, *_R128):  # Opus's own, carried over from an Opus source
        if name in audio.tags:
            del audio.tags[name]
    for name, value in replaygain_values(gain).items():
        audio.tags[name.upper()] = [value]
    audio.save()


def _opus(audio: Any, gain: Gain | None) -> None:
    assert audio.tags is not None  # an Ogg Opus stream always has its comment header
    for name in (*_NAMES, *_R128):
        if name in audio.tags:
            del audio.tags[name]
    if gain is None:
        audio.save()
        return
    audio.tags["R128_TRACK_GAIN"] = [str(gain.r128_track)]
    if gain.r128_album is not None:
        audio.tags["R128_ALBUM_GAIN"] = [str(gain.r128_album)]
    audio.save()


def _itunes(audio: Any, gain: Gain | None) -> None:
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    for key in list(audio.tags.keys()):
        if key.lower().startswith(_ITUNES.lower()) and key[len(_ITUNES) :].lower() in _NAMES:
            del audio.tags[key]
    for name, value in replaygain_values(gain).items():
        audio.tags[_ITUNES + name] = [MP4FreeForm(value.encode())]
    audio.save()
