"""The dependency locks (README, "Dependencies"): requirements.txt and
requirements-dev.txt pin every package with its hashes, match the top-level pins of
requirements.in and requirements-dev.in, and are what every install uses.

What this cannot do here: resolve again (that needs the registry); `make lock` does,
and a fresh virtual environment installs from the locks with --require-hashes
(docs/testing.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.tfmodel import ROOT

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _name(raw: str) -> str:
    """PEP 503's normalized name."""
    return re.sub(r"[-_.]+", "-", raw).lower()


def top_level(path: Path) -> dict[str, str]:
    """The pins of an .in file, those of the files it includes (-r) too."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins |= top_level(path.parent / line[3:].strip())
        elif line:
            match = _PIN.match(line)
            assert match, f"{path.name}: {line!r} is not pinned (name==version)"
            pins[_name(match.group(1))] = match.group(2)
    return pins


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """Each package of a lock: its version and how many hashes it carries."""
    packages: dict[str, tuple[str, int]] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", path.read_text())
    for entry in entries:
        if entry.startswith("#") or not entry.strip():
            continue
        match = _PIN.match(entry)
        assert match, f"{path.name}: {entry.splitlines()[0]!r} is not pinned"
        packages[_name(match.group(1))] = (match.group(2), entry.count("--hash=sha256:"))
    return packages


@pytest.mark.parametrize(
    ("source", "lock"),
    [("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")],
)
def test_each_lock_pins_its_top_level_at_the_same_versions(source: str, lock: str) -> None:
    pins, packages = top_level(ROOT / source), locked(ROOT / lock)
    moved = {
        name: (version, packages.get(name, ("missing", 0))[0])
        for name, version in pins.items()
        if packages.get(name, ("missing", 0))[0] != version
    }
    assert moved == {}, f"{source} and {lock} disagree (pin, lock): run `make lock`"
    assert len(packages) > len(pins), "the lock holds what the top level brings in too"
    unhashed = sorted(name for name, (_, hashes) in packages.items() if hashes == 0)
    assert unhashed == [], f"{lock}: packages without a hash"


def test_the_tests_run_the_runtime_versions() -> None:
    runtime, dev = locked(ROOT / "requirements.txt"), locked(ROOT / "requirements-dev.txt")
    differ = {n: (v, dev.get(n, ("missing", 0))[0]) for n, (v, _) in runtime.items()
              if dev.get(n, ("missing", 0))[0] != v}  # fmt: skip
    assert differ == {}


def test_every_install_checks_the_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r requirements.txt" in makefile
    assert "--require-hashes -r requirements-dev.txt" in makefile
    dockerfile = re.sub(r"\\\n\s*", "", (ROOT / "Dockerfile").read_text())
    assert "--require-hashes -r requirements.txt" in dockerfile
    assert "uv pip compile" in makefile and "--generate-hashes" in makefile
