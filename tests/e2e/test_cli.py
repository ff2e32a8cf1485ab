"""The ``audioconv`` command-line client against a real ``audioconv serve``, as a user runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.audio import FFMPEG, decoded_duration, make_audio, probe
from tests.support.blobs import verification_link
from tests.support.procs import BIN, embedded_server

pytestmark = pytest.mark.slow

PASSWORD = "s3cret-pass"


@pytest.fixture(scope="module")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-server")


@pytest.fixture(scope="module")
def server(server_dir: Path) -> Iterator[str]:
    with embedded_server(server_dir) as url:
        yield url


class Cli:
    """Runs ``audioconv`` with its own config dir (XDG_CONFIG_HOME) and no inherited login."""

    def __init__(self, home: Path, **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOCONV_")}
        self.env.update({"XDG_CONFIG_HOME": str(home / "config"), **env})
        self.cwd = home

    def __call__(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "audioconv"), *args], input=stdin, capture_output=True, text=True,
            env={**self.env, **env}, cwd=self.cwd, timeout=240,
        )  # fmt: skip


@pytest.fixture
def cli(tmp_path: Path, server: str, request: pytest.FixtureRequest) -> Cli:
    """Signed up (as a user named after the test) and logged in on ``server``."""
    run = Cli(tmp_path)
    name = request.node.name.removeprefix("test_")[:30]
    signup = run("signup", "--server", server, "--username", name, "--email", f"{name}@example.com",
                 stdin=PASSWORD + "\n")  # fmt: skip
    assert signup.returncode == 0, signup.stderr
    return run


def test_login_stores_the_token_readable_by_its_owner_only(tmp_path: Path, server: str) -> None:
    run = Cli(tmp_path)
    assert run("signup", "--server", server, "--username", "lou", "--email", "lou@example.com",
               stdin=PASSWORD + "\n").returncode == 0  # fmt: skip
    assert run("logout").returncode == 0
    refused = run("tasks")
    assert refused.returncode == 1
    assert "not logged in" in refused.stderr

    wrong = run("login", "--server", server, "--username", "lou", stdin="not-the-password\n")
    assert wrong.returncode == 1
    assert "invalid username or password" in wrong.stderr.lower()
    login = run("login", "--server", server, "--username", "lou", stdin=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    stored = tmp_path / "config" / "audioconv" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    saved = json.loads(stored.read_text())
    assert saved["server"] == server
    assert PASSWORD not in stored.read_text()

    listed = run("tasks", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    # The environment overrides what is stored.
    bogus = run("tasks", AUDIOCONV_TOKEN="not-a-token")
    assert bogus.returncode == 1
    assert "audioconv login" in bogus.stderr
    elsewhere = run("tasks", AUDIOCONV_SERVER="http://127.0.0.1:9")
    assert elsewhere.returncode == 1
    assert "not logged in to http://127.0.0.1:9" in elsewhere.stderr
    ok = run("tasks", AUDIOCONV_SERVER="http://127.0.0.1:9", AUDIOCONV_TOKEN=saved["token"])
    assert ok.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in ok.stderr


def test_convert_files_with_plain_progress_then_tasks_get_rm(cli: Cli, tmp_path: Path) -> None:
    first = make_audio(tmp_path / "first.flac", 3.0)
    second = make_audio(tmp_path / "second.wav", 2.0)
    out = tmp_path / "out"
    out.mkdir()
    done = cli("convert", str(first), str(second), "--to", "mp3", "--bitrate", "128k",
               "-o", str(out), "--jobs", "2")  # fmt: skip
    assert done.returncode == 0, done.stderr
    for name, seconds in (("first", 3.0), ("second", 2.0)):
        mp3 = out / f"{name}.mp3"
        info = probe(mp3)
        assert info["streams"][0]["codec_name"] == "mp3"
        assert int(info["streams"][0]["bit_rate"]) == 128_000
        assert abs(decoded_duration(mp3) - seconds) < 0.1
    # Not a terminal: plain lines, no carriage returns or escape codes.
    output = done.stdout + done.stderr
    assert "\r" not in output
    assert "\x1b" not in output
    assert "first.flac: uploading 100% (" in done.stderr
    assert f"first.flac: converted -> {out / 'first.mp3'}" in done.stderr

    # Beside the input by default; never over an existing file without --force.
    beside = cli("convert", "first.flac", "--to", "opus")
    assert beside.returncode == 0, beside.stderr
    assert probe(tmp_path / "first.opus")["streams"][0]["codec_name"] == "opus"
    again = cli("convert", "first.flac", "--to", "opus")
    assert again.returncode == 1
    assert "first.opus exists (use --force to overwrite it)" in again.stderr
    (tmp_path / "first.opus").write_bytes(b"old")
    forced = cli("convert", "first.flac", "--to", "opus", "--force")
    assert forced.returncode == 0, forced.stderr
    assert probe(tmp_path / "first.opus")["streams"][0]["codec_name"] == "opus"

    listed = cli("tasks")
    assert listed.returncode == 0
    assert "first.flac -> mp3" in listed.stdout
    tasks = json.loads(cli("tasks", "--json").stdout)
    assert len(tasks) == 4
    # --jobs 2 uploaded the first two at once: their ids are in either order.
    first_id = next(t["id"] for t in tasks if t["fileName"] == "first.flac")
    shown = cli("get", str(first_id))
    assert json.loads(shown.stdout)["fileName"] == "first.flac"
    assert cli("rm", str(first_id)).returncode == 0
    gone = cli("get", str(first_id))
    assert gone.returncode == 1
    assert f"no task {first_id}" in gone.stderr

    # What the server says of each output is printed: the verified mark, the warnings.
    kept = cli("convert", "first.flac", "--to", "wav")
    assert kept.returncode == 0, kept.stderr
    assert "first.flac: converted -> first.wav (verified: decodes to the input's very samples)" in (
        kept.stderr
    )
    mp3 = str(out / "first.mp3")
    up = cli("convert", mp3, "--to", "m4a", "--bitrate", "320")
    assert f"{mp3}: warning: the input is 128 kbit/s MP3: 320 kbit/s adds size, not quality" in (
        up.stderr
    )
    capped = cli("convert", mp3, "--to", "opus", "--bitrate", "320", "--no-upscale", "--force")
    assert capped.returncode == 0, capped.stderr
    assert int(probe(out / "first.opus")["format"]["bit_rate"]) < 160_000


def test_failures_exit_non_zero_and_say_why(cli: Cli, tmp_path: Path) -> None:
    good = make_audio(tmp_path / "good.flac", 1.0)
    bogus = tmp_path / "x.mp3"
    bogus.write_bytes(bytes(range(256)) * 40)
    clash = make_audio(tmp_path / "good.wav", 1.0)
    result = cli("convert", str(bogus), str(good), "missing.wav", str(clash), "--to", "ogg")
    assert result.returncode == 1
    assert "3 of 4 files failed:" in result.stderr
    assert f"  {bogus}: not an audio file" in result.stderr
    assert "  missing.wav: no such file" in result.stderr
    assert f"  {clash}: its output would overwrite that of {good}" in result.stderr
    assert probe(tmp_path / "good.ogg")["streams"][0]["codec_name"] == "vorbis"

    # An option the format cannot do is refused before anything is uploaded.
    lossless = cli("convert", str(good), "--to", "flac", "--bitrate", "192")
    assert lossless.returncode == 1
    assert "flac is lossless: it has no bitrate to choose" in lossless.stderr
    assert "uploading" not in lossless.stderr


def test_large_files_go_through_a_direct_upload_url(cli: Cli, tmp_path: Path) -> None:
    song = make_audio(tmp_path / "big.flac", 2.0)
    result = cli("convert", str(song), "--to", "m4a", AUDIOCONV_DIRECT_UPLOAD_BYTES="1000")
    assert result.returncode == 0, result.stderr
    assert "big.flac: uploading directly 100% (" in result.stderr
    out = tmp_path / "big.m4a"
    assert probe(out)["streams"][0]["codec_name"] == "aac"
    assert abs(decoded_duration(out) - 2.0) < 0.1


def test_several_files_in_one_batch_downloaded_as_one_zip(cli: Cli, tmp_path: Path) -> None:
    flac = make_audio(tmp_path / "song.flac", 1.0)
    wav = make_audio(tmp_path / "song.wav", 1.5)  # over the threshold: a direct upload
    bogus = tmp_path / "x.mp3"  # a direct upload too: it becomes a failed task
    bogus.write_bytes(bytes(range(256)) * 400)
    result = cli("convert", str(flac), str(wav), str(bogus), "--to", "mp3", "--zip", "all.zip",
                 AUDIOCONV_DIRECT_UPLOAD_BYTES="100000")  # fmt: skip
    assert result.returncode == 1  # one file failed; the others are in the ZIP all the same
    assert "batch " in result.stderr and "/api/batches/" in result.stderr
    assert "song.wav: uploading directly 100% (" in result.stderr
    assert f"  {bogus}: not an audio file" in result.stderr
    assert not (tmp_path / "song.mp3").exists()  # not downloaded one by one
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert sorted(archive.namelist()) == [
            "manifest.json",
            "playlist.m3u8",
            "song (2).mp3",
            "song.mp3",
        ]
        manifest = json.loads(archive.read("manifest.json"))
        for entry in manifest["files"]:
            out = tmp_path / entry["name"]
            out.write_bytes(archive.read(entry["name"]))
            assert probe(out)["streams"][0]["codec_name"] == "mp3"
    assert sorted(e["fileName"] for e in manifest["files"]) == ["song.flac", "song.wav"]
    assert [e["fileName"] for e in manifest["failed"]] == ["x.mp3"]
    assert manifest["pending"] == []

    again = cli("convert", str(flac), "--to", "mp3", "--zip", "all.zip")
    assert again.returncode == 1
    assert "all.zip exists (use --force to overwrite it)" in again.stderr


def test_the_account_whoami_verify_passwd_logout_and_delete(
    tmp_path: Path, server: str, server_dir: Path
) -> None:
    run = Cli(tmp_path)
    assert run("signup", "--server", server, "--username", "nell", "--email", "nell@example.com",
               stdin=PASSWORD + "\n").returncode == 0  # fmt: skip
    who = run("whoami")
    assert who.returncode == 0, who.stderr
    assert who.stdout.startswith(f"nell <nell@example.com> on {server}\n")
    assert "NOT verified" in who.stdout and "audioconv verify-email" in who.stdout
    asked = run("verify-email")
    assert (asked.returncode, asked.stdout) == (0, "a new link is on its way to nell@example.com\n")
    link = verification_link(server_dir / "data" / "mail", "nell@example.com")
    assert requests.get(f"{server}{link}", timeout=30).status_code == 200
    assert json.loads(run("whoami", "--json").stdout)["emailVerified"] is True
    assert "e-mail address: verified" in run("whoami").stdout
    again = run("verify-email")
    assert (again.returncode, again.stdout) == (0, "your e-mail address is verified already\n")

    # passwd: the current password, then the new one (lines of stdin, as login takes it).
    other = requests.post(
        f"{server}/api/auth/login", timeout=30, json={"username": "nell", "password": PASSWORD}
    ).json()["token"]
    wrong = run("passwd", stdin="not it\nanother s3cret\n")
    assert wrong.returncode == 1 and "the password is not right" in wrong.stderr
    changed = run("passwd", stdin=f"{PASSWORD}\nanother s3cret\n")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout == "password changed; 1 other login(s) logged out\n"
    assert _status(server, other) == 401

    # logout revokes the stored token on the server, then forgets it.
    stored = json.loads((tmp_path / "config" / "audioconv" / "credentials.json").read_text())
    assert _status(server, stored["token"]) == 200
    assert run("logout").stdout == "logged out\n"
    assert _status(server, stored["token"]) == 401

    assert run("login", "--server", server, "--username", "nell",
               stdin="another s3cret\n").returncode == 0  # fmt: skip
    refused = run("delete-account", stdin="another s3cret\n")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    deleted = run("delete-account", "--yes", stdin="another s3cret\n")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.startswith("account deleted (0 tasks, 0 files, 0 batches")
    assert run("whoami").returncode == 1  # logged out: the credentials are gone
    gone = run("login", "--server", server, "--username", "nell", stdin="another s3cret\n")
    assert gone.returncode == 1


def test_a_nightly_job_logs_in_with_an_api_key_and_converts_with_a_preset(
    cli: Cli, tmp_path: Path, server: str
) -> None:
    """Issue 23: no password stored anywhere; the options typed once, as a preset."""
    token = json.loads((tmp_path / "config" / "audioconv" / "credentials.json").read_text())
    auth = {"Authorization": f"Bearer {token['token']}"}
    made = requests.post(f"{server}/api/keys", headers=auth, timeout=30,
                         json={"name": "nightly", "scopes": ["convert"]}).json()  # fmt: skip
    preset = {"name": "podcast", "newFormat": "mp3", "bitrate": 64, "channels": 1}
    assert requests.post(f"{server}/api/presets", headers=auth, json=preset,
                         timeout=30).status_code == 201  # fmt: skip

    (tmp_path / "job").mkdir()
    job = Cli(tmp_path / "job")
    bad = job("login", "--server", server, "--api-key", "ak_live_" + "0" * 64)
    assert bad.returncode == 1 and "invalid or revoked API key" in bad.stderr
    login = job("login", "--server", server, "--api-key", "-", stdin=made["key"] + "\n")
    assert login.returncode == 0, login.stderr
    assert made["prefix"] in login.stdout and made["key"] not in login.stdout
    stored = tmp_path / "job" / "config" / "audioconv" / "credentials.json"
    assert json.loads(stored.read_text())["token"] == made["key"]
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    song = make_audio(tmp_path / "song.wav", 1.0)
    out = tmp_path / "out"
    out.mkdir()
    done = job("convert", str(song), "--preset", "podcast", "-o", str(out))
    assert done.returncode == 0, done.stderr
    stream = probe(out / "song.mp3")["streams"][0]
    assert (stream["codec_name"], stream["channels"], int(stream["bit_rate"])) == ("mp3", 1, 64000)
    # An option given here wins over the preset's; a preset that is not there is named.
    vorbis = job("convert", str(song), "--preset", "podcast", "--bitrate", "96", "--to", "ogg",
                 "-o", str(out))  # fmt: skip
    assert vorbis.returncode == 0, vorbis.stderr
    stream = probe(out / "song.ogg")["streams"][0]
    assert (stream["codec_name"], stream["channels"]) == ("vorbis", 1)  # mono: the preset's
    lossless = job("convert", str(song), "--preset", "podcast", "--to", "flac", "-o", str(out))
    assert lossless.returncode == 1  # refused before uploading: a preset bitrate for flac
    assert "flac is lossless" in lossless.stderr and not (out / "song.flac").exists()
    missing = job("convert", str(song), "--preset", "nope", "-o", str(out))
    assert missing.returncode == 1
    assert "no preset named 'nope' (yours: podcast)" in missing.stderr

    # logout forgets the key here; it stays valid on the server until revoked.
    bye = job("logout")
    assert bye.returncode == 0 and "stays valid until you revoke it" in bye.stderr
    assert _status(server, made["key"]) == 200
    assert requests.delete(f"{server}/api/keys/{made['id']}", headers=auth,
                           timeout=30).status_code == 204  # fmt: skip
    assert _status(server, made["key"]) == 401


def _status(server: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(f"{server}/api/me", headers=headers, timeout=30).status_code


ALBUM_SHEET = """REM DATE 2001
PERFORMER "Quiet & Loud"
TITLE "Two Sides"
FILE "Two Sides (CD).wav" WAVE
  TRACK 01 AUDIO
    TITLE "Soft"
    INDEX 01 00:00:00
  TRACK 02 AUDIO
    TITLE "Hard"
    INDEX 00 00:01:70
    INDEX 01 00:02:00
"""


def test_an_album_and_its_cue_sheet_to_opus_with_album_gain_as_one_zip(
    cli: Cli, tmp_path: Path
) -> None:
    """The issue's own command line: the tracks come back in Artist/Album/ with R128
    gain tags of one album and a playlist."""
    from mutagen.oggopus import OggOpus

    album = tmp_path / "album.flac"
    subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", "anoisesrc=color=pink:r=44100:d=4:seed=4", "-af",
         "volume='if(lt(t,2),0.05,0.6)':eval=frame", "-ac", "2", "-c:a", "flac", str(album)],
        check=True,
    )  # fmt: skip
    sheet = tmp_path / "album.cue"
    sheet.write_bytes(ALBUM_SHEET.encode("cp1252"))
    result = cli("convert", "album.flac", "album.cue", "--to", "opus", "--gain", "album",
                 "--zip", "album.zip")  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = ["Quiet & Loud/Two Sides/01 Soft.opus", "Quiet & Loud/Two Sides/02 Hard.opus"]
    with zipfile.ZipFile(tmp_path / "album.zip") as archive:
        assert sorted(archive.namelist()) == sorted(["manifest.json", "playlist.m3u8", *names])
        playlist = archive.read("playlist.m3u8").decode()
        gains = []
        for n, name in enumerate(names):
            out = tmp_path / f"{n}.opus"
            out.write_bytes(archive.read(name))
            opus = OggOpus(out)
            gains.append((int(opus["R128_TRACK_GAIN"][0]), int(opus["R128_ALBUM_GAIN"][0])))
    assert playlist == (f"#EXTM3U\n#EXTINF:2,Quiet & Loud - Soft\n{names[0]}\n"
                        f"#EXTINF:2,Quiet & Loud - Hard\n{names[1]}\n")  # fmt: skip
    # The quiet track gets far more gain than the loud one; the album one figure.
    assert gains[0][0] - gains[1][0] > 256 * 15
    assert gains[0][1] == gains[1][1]
