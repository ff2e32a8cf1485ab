"""The client's subcommands: login, signup, logout, whoami, verify-email, passwd,
delete-account, convert, tasks, get, rm."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from audioconv.client import config
from audioconv.client.album import convert_album, is_album
from audioconv.client.api import Api, ApiError
from audioconv.client.convert import Job, convert_all, import_all, is_url
from audioconv.client.progress import Progress
from audioconv.domain.album_layout import LAYOUTS
from audioconv.domain.formats import FORMATS, QUALITIES
from audioconv.domain.gain import GAIN_MODES
from audioconv.domain.options import OPTION_FIELDS, parse_options
from audioconv.domain.preset import Preset

COMMANDS = ("login", "signup", "logout", "whoami", "verify-email", "passwd", "delete-account",
            "convert", "tasks", "get", "rm")  # fmt: skip


class Failure(Exception):
    """Ends the command with this message and exit status 1."""


def _flag(field: str) -> str:
    """``sampleRate`` -> ``--sample-rate``."""
    return "--" + "".join(f"-{c.lower()}" if c.isupper() else c for c in field)


def _option_help() -> dict[str, tuple[str, str]]:
    """Metavar and help for each option flag, limits taken from the formats."""
    most = max(f.max_channels for f in FORMATS.values())
    fewer = sorted({f.max_channels for f in FORMATS.values()} - {most})
    limits = "; ".join(
        f"{', '.join(sorted(n for n, f in FORMATS.items() if f.max_channels == c))}: at most {c}"
        for c in fewer
    )
    return {
        "bitrate": ("KBITS", "kbit/s, e.g. 192 or 192k (lossy formats; not with --quality)"),
        "sampleRate": ("HZ", "sample rate in Hz, e.g. 44100"),
        "channels": ("N", f"1-{most}" + (f" ({limits})" if limits else "")),
        "quality": ("PRESET", f"{', '.join(QUALITIES)} (lossy formats; not with --bitrate)"),
        "loudness": ("LUFS", "normalise to this integrated loudness, e.g. -16 or -23"),
        "truePeak": ("DBTP", "true-peak ceiling of --loudness (default -1)"),
        "start": ("SECONDS", "trim: start this far into each file"),
        "end": ("SECONDS", "trim: end this far into each file"),
        "fadeIn": ("SECONDS", "fade in over this long"),
        "fadeOut": ("SECONDS", "fade out over this long"),
        "gain": (
            "MODE",
            "track or album: write ReplayGain 2.0 tags (R128 for opus), audio untouched; "
            "album (with several files: one album) measures them all together",
        ),
        "bitDepth": (
            "BITS",
            "16, 24 or 32 (32-bit float; wav, aiff) for lossless formats "
            "(default: the input's; a reduction is dithered)",
        ),
    }


def add_parsers(sub: Any) -> None:
    """Add the client's subcommands to the ``audioconv`` parser's subparsers."""
    server_help = f"server URL (default: $AUDIOCONV_SERVER, stored, {config.DEFAULT_SERVER})"
    for name, text in (("login", "log in and store the token"), ("signup", "create an account")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--server", help=server_help)
        p.add_argument("--username")
        if name == "signup":
            p.add_argument("--email")
        else:
            p.add_argument("--api-key", metavar="KEY",
                           help="store this API key (ak_live_...; '-': read it from standard "
                           "input) instead of logging in with a password")  # fmt: skip
    sub.add_parser("logout", help="revoke the stored token on the server and forget it")
    p = sub.add_parser("whoami", help="who you are logged in as, and whether your e-mail "
                       "address is verified (no mail goes to it until it is)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    sub.add_parser("verify-email", help="mail the link that verifies your address again")
    sub.add_parser("passwd", help="change your password (your other logins are logged out)")
    p = sub.add_parser("delete-account", help="delete your account and everything it has")
    p.add_argument("--yes", action="store_true",
                   help="do not ask for confirmation (needed when not at a terminal)")  # fmt: skip

    p = sub.add_parser("convert", help="convert files and download the results beside them")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="a file, or an http(s) URL the server fetches the file from")  # fmt: skip
    p.add_argument("--to", choices=sorted(FORMATS), metavar="FORMAT",
                   help=f"target format: {', '.join(sorted(FORMATS))} (required unless "
                   "--preset gives it)")  # fmt: skip
    p.add_argument("--preset", metavar="NAME",
                   help="one of your presets (the page saves them; POST /api/presets): its "
                   "format and options, under those given here")  # fmt: skip
    helps = _option_help()
    p.add_argument("--no-upscale", dest="upscale", action="store_const", const="false",
                   help="never encode above a lossy input's bitrate: cap it at the input's "
                   "(without it, such a conversion carries a warning)")  # fmt: skip
    for field in OPTION_FIELDS:
        if field == "upscale":
            continue
        metavar, text = helps.get(field, (field.upper(), ""))
        kwargs: dict[str, Any] = {"dest": field, "metavar": metavar, "help": text}
        if field == "quality":
            kwargs["choices"] = QUALITIES
        if field == "gain":
            kwargs["choices"] = GAIN_MODES
        p.add_argument(_flag(field), **kwargs)
    p.add_argument("-o", "--output-dir", type=Path, metavar="DIR",
                   help="folder for the converted files (default: beside each input)")  # fmt: skip
    p.add_argument("-j", "--jobs", type=int, default=2, metavar="N",
                   help="files converted at once (default 2)")  # fmt: skip
    p.add_argument("--zip", type=Path, metavar="FILE",
                   help="download the converted files as one ZIP at FILE (with manifest.json, "
                   "which names any that failed) instead of one by one")  # fmt: skip
    p.add_argument("--layout", choices=LAYOUTS, default=None,
                   help="names in the --zip: flat (the files' names) or album (Artist/"
                   "Album/01 Title.ext; the default for an album with its .cue)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="upload large files in one go, not as resumable uploads (by default "
                   "a large file's interrupted upload goes on where it stopped when the "
                   "same command is run again)")  # fmt: skip

    p = sub.add_parser("tasks", help="list your tasks")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    p = sub.add_parser("get", help="show one task (JSON)")
    p.add_argument("id", type=int)
    p = sub.add_parser("rm", help="delete a task and its files")
    p.add_argument("id", type=int)


def run(args: argparse.Namespace) -> int:
    """Run a client subcommand; the process exit status."""
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "login": _login, "signup": _signup, "logout": _logout, "whoami": _whoami,
        "verify-email": _verify_email, "passwd": _passwd, "delete-account": _delete_account,
        "convert": _convert, "tasks": _tasks, "get": _get, "rm": _rm,
    }  # fmt: skip
    try:
        return handlers[args.command](args)
    except ApiError as exc:
        if exc.status == 401 and args.command not in ("login", "signup"):
            print(f"audioconv: {exc.message}; log in again: audioconv login", file=sys.stderr)
        else:
            print(f"audioconv: {exc.message}", file=sys.stderr)
    except Failure as exc:
        print(f"audioconv: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("audioconv: interrupted", file=sys.stderr)
        return 130
    return 1


def _ask(prompt: str, given: str | None) -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        raise Failure(f"give {prompt.lower()} as an option when not at a terminal")
    return input(f"{prompt}: ").strip()


def _password(confirm: bool = False, prompt: str = "Password") -> str:
    """From the terminal (not echoed), or the next line of stdin when it is not a terminal."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise Failure(f"no {prompt.lower()} on standard input")
        return password
    password = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} again: ") != password:
        raise Failure("the passwords differ")
    return password


def _store(server: str, token: str, username: str) -> int:
    path = config.save(config.Login(server, token))
    print(f"logged in to {server} as {username} (token in {path})")
    return 0


def _login(args: argparse.Namespace) -> int:
    server = config.current(args.server).server
    if args.api_key:
        return _store_key(server, args.api_key)
    username = _ask("Username", args.username)
    return _store(server, Api(server).login(username, _password()), username)


def _store_key(server: str, given: str) -> int:
    """Check the API key against the server (whose it is), then store it as the token."""
    key = sys.stdin.readline().strip() if given == "-" else given.strip()
    if not key.startswith("ak_"):
        raise Failure("an API key starts with ak_live_ (make one on the page, or POST /api/keys)")
    me = Api(server, key).me()
    path = config.save(config.Login(server, key))
    print(f"logged in to {server} as {me['username']} with API key {key[:16]}... (in {path})")
    return 0


def _signup(args: argparse.Namespace) -> int:
    server = config.current(args.server).server
    username = _ask("Username", args.username)
    email = _ask("E-mail", args.email)
    return _store(server, Api(server).signup(username, email, _password(confirm=True)), username)


def _logout(args: argparse.Namespace) -> int:
    login = config.current()
    if login.token and login.token.startswith("ak_"):
        print("the API key stays valid until you revoke it (the page's API keys, or "
              "DELETE /api/keys/ID)", file=sys.stderr)  # fmt: skip
    elif login.token:
        try:
            Api(login.server, login.token).logout()
        except ApiError as exc:  # revoked or expired already, or the server is away
            if exc.status != 401:
                print(f"audioconv: the server could not revoke the token: {exc.message}",
                      file=sys.stderr)  # fmt: skip
    print("logged out" if config.forget() else "was not logged in")
    return 0


def _whoami(args: argparse.Namespace) -> int:
    api = _api()
    profile = api.me()
    if args.json:
        print(json.dumps(profile, indent=2))
        return 0
    print(f"{profile['username']} <{profile['email']}> on {api.server}")
    if profile.get("emailVerified"):
        print("e-mail address: verified")
    else:
        print("e-mail address: NOT verified: no mail goes to it until you open the link "
              "mailed there (audioconv verify-email sends it again)")  # fmt: skip
    return 0


def _verify_email(args: argparse.Namespace) -> int:
    try:
        sent = _api().resend_verification()
    except ApiError as exc:
        if exc.status != 409:
            raise
        print(exc.message)  # verified already: nothing to do
        return 0
    print(f"a new link is on its way to {sent['email']}")
    return 0


def _passwd(args: argparse.Namespace) -> int:
    api = _api()
    old = _password(prompt="Current password")
    new = _password(confirm=True, prompt="New password")
    revoked = api.change_password(old, new)
    print(f"password changed; {revoked} other login(s) logged out")
    return 0


def _delete_account(args: argparse.Namespace) -> int:
    api = _api()
    if not args.yes:
        if not sys.stdin.isatty():
            raise Failure("give --yes to delete the account when not at a terminal")
        name = api.me()["username"]
        typed = input(f"This deletes {name} and every file of it, for good. Type the "
                      "username to go on: ").strip()  # fmt: skip
        if typed != name:
            raise Failure("not deleted")
    deleted = api.delete_account(_password())
    config.forget()
    counts = ", ".join(f"{n} {kind}" for kind, n in deleted.items())
    print(f"account deleted ({counts}); logged out")
    return 0


def _api() -> Api:
    login = config.current()
    if not login.token:
        raise Failure(f"not logged in to {login.server}: run audioconv login")
    return Api(login.server, login.token)


def _convert(args: argparse.Namespace) -> int:
    api = _api()
    if args.output_dir is not None and not args.output_dir.is_dir():
        raise Failure(f"{args.output_dir} is not a folder")
    options = {f: str(getattr(args, f)) for f in OPTION_FIELDS if getattr(args, f) is not None}
    target, checked = args.to, dict(options)
    if args.preset:  # its format names the outputs; its options are checked with these
        preset = _preset(api, args.preset)
        checked = preset.merged({"newFormat": args.to, **options})
        target = str(checked.pop("newFormat"))
        options["preset"] = args.preset
    if target is None:
        raise Failure("give the target format: --to FORMAT (or --preset NAME)")
    try:  # the server checks too; this saves uploading files only to hear it
        parse_options(checked, FORMATS[target])
    except (ValueError, KeyError) as exc:
        raise Failure(f"{exc}") from None
    zip_path: Path | None = args.zip
    if zip_path is not None and zip_path.exists() and not args.force:
        raise Failure(f"{zip_path} exists (use --force to overwrite it)")
    job = Job(target, options, args.output_dir, args.force, download=zip_path is None,
              resume=args.resume)  # fmt: skip
    urls = [f for f in args.files if is_url(f)]
    files = [Path(f) for f in args.files if not is_url(f)]
    if is_album(files):  # one audio file and its cue sheet: the server cuts it
        layout = args.layout or "album"
        problems = convert_album(api, files, job, zip_path, layout, Progress(sys.stderr))
        for problem in problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        return 1 if problems else 0
    if len(args.files) > 1 or zip_path is not None:
        job = replace(job, batch_id=_batch(api, zip_path is not None))
    progress = Progress(sys.stderr)
    outcomes = convert_all(api.server, str(api.token), files, job, args.jobs, progress)
    outcomes += import_all(api.server, str(api.token), urls, job, args.jobs, progress)
    if zip_path is not None and job.batch_id is not None:
        api.download(f"/api/batches/{job.batch_id}/zip?layout={args.layout or 'flat'}", zip_path)
        print(f"converted files of batch {job.batch_id} -> {zip_path}", file=sys.stderr)
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} files failed:", file=sys.stderr)
        for outcome in failed:
            print(f"  {outcome.source}: {outcome.error}", file=sys.stderr)
        return 1
    return 0


def _preset(api: Api, name: str) -> Preset:
    """The user's preset of that name, from the server."""
    found = {p["name"]: p for p in api.request("GET", "/api/presets").json()}
    if name not in found:
        yours = ", ".join(sorted(found)) or "none yet"
        raise Failure(f"you have no preset named {name!r} (yours: {yours})")
    chosen = found[name]
    return Preset(0, name, str(chosen["newFormat"]), dict(chosen["options"]))


def _batch(api: Api, needed: bool) -> int | None:
    """A new batch for this run's files; None from a server without batches (unless
    ``needed``: the ZIP comes from one)."""
    try:
        batch_id = api.create_batch()
    except ApiError as exc:
        if needed or exc.status not in (404, 405):
            raise Failure(f"cannot start a batch: {exc.message}") from None
        return None
    print(f"batch {batch_id}: {api.server}/api/batches/{batch_id}", file=sys.stderr)
    return batch_id


def _tasks(args: argparse.Namespace) -> int:
    found = _api().tasks()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        print("no tasks")
    for task in found:
        progress = f" {task['progress']:.0f}%" if task["status"] == "processing" else ""
        line = f"{task['id']:>5}  {task['status']:<10}{progress}  {task['fileName']}"
        line += f" -> {task['newFormat']}"
        if task.get("error"):
            line += f"  ({task['error']})"
        print(line)
    return 0


def _get(args: argparse.Namespace) -> int:
    print(json.dumps(_api().task(args.id), indent=2))
    return 0


def _rm(args: argparse.Namespace) -> int:
    _api().delete(args.id)
    print(f"deleted task {args.id}")
    return 0
