"""The album layout of a batch's ZIP and its extended M3U playlist."""

from __future__ import annotations

from audioconv.domain.album_layout import TrackInfo, album_path, playlist, unique_paths


def track(name: str, position: int = 0, seconds: float | None = 61.4, **tags: str) -> TrackInfo:
    return TrackInfo(name, tags, seconds, position)


def test_album_paths_come_from_the_tags_and_are_portable() -> None:
    assert album_path(track("x.opus", TITLE="Song", ARTIST="AC/DC", ALBUM="Live: 1991",
                            TRACKNUMBER="03/12")) == "AC_DC/Live_ 1991/03 Song.opus"  # fmt: skip
    # The album artist wins over the track's; a set of discs numbers them.
    tagged = track("x.mp3", title="Intro", artist="Guest", album_artist="Band", album="Set",
                   track="1", disc="2/2")  # fmt: skip
    assert album_path(tagged) == "Band/Set/2-01 Intro.mp3"
    # Nothing known: the file's own name under Unknown Artist / Unknown Album.
    assert album_path(track("take 2.flac")) == "Unknown Artist/Unknown Album/take 2.flac"
    assert album_path(track("a.ogg", title="...", album="CON")) == (
        "Unknown Artist/_CON/Untitled.ogg"
    )


def test_paths_are_made_unique_in_their_folder_ignoring_case() -> None:
    paths = ["A/B/01 x.mp3", "a/b/01 X.mp3", "A/B/02 y.mp3", "playlist.m3u8"]
    assert unique_paths(paths, taken=["playlist.m3u8"]) == [
        "A/B/01 x.mp3", "a/b/01 X (2).mp3", "A/B/02 y.mp3", "playlist (2).m3u8",
    ]  # fmt: skip


def test_the_playlist_is_extended_m3u_in_track_order() -> None:
    entries = [
        ("B/A/02 Two.mp3", track("two.mp3", 0, 125.6, title="Two", artist="B", track="2")),
        ("B/A/01 One.mp3", track("one.mp3", 1, 59.4, title="One", artist="B", track="1/2")),
        ("x.mp3", track("x.mp3", 2, None)),
        (
            "B/A/1-01 Disc one.mp3",
            track("d.mp3", 3, 1.0, title="Disc\none", artist="B", track="1", disc="1/2"),
        ),
    ]
    assert playlist(entries) == (
        "#EXTM3U\n"
        "#EXTINF:59,B - One\nB/A/01 One.mp3\n"
        "#EXTINF:126,B - Two\nB/A/02 Two.mp3\n"
        "#EXTINF:-1,x\nx.mp3\n"
        "#EXTINF:1,B - Disc one\nB/A/1-01 Disc one.mp3\n"
    )
