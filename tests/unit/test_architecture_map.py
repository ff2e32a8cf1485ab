"""docs/architecture.md's map names every module of shared/audioconv, and only those.

Each module is one line of the map's code block that starts with its path (relative
to shared/audioconv; functions/ relative to the repository). A new module missing
from the map, or a line naming one that is gone (renamed, merged), fails here: the
map stays what a newcomer can trust. Packages' ``__init__.py`` and the migration
revisions (one folder line) are not listed one by one.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shared" / "audioconv"
DOC = ROOT / "docs" / "architecture.md"
_LINE = re.compile(r"^([\w/]+\.py)\s")


def map_lines() -> list[str]:
    """The lines of the first code block under "## The map"."""
    text = DOC.read_text()
    section = text.split("\n## The map\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1].splitlines()


def named() -> list[str]:
    return [m.group(1) for line in map_lines() if (m := _LINE.match(line))]


def modules() -> set[str]:
    return {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "versions" not in path.parts
    }


def test_every_module_is_on_the_map() -> None:
    missing = sorted(modules() - set(named()))
    assert missing == [], f"docs/architecture.md, The map: add a line for each of {missing}"


def test_the_map_names_no_module_that_is_gone() -> None:
    gone = sorted(
        name for name in named()
        if not (PACKAGE / name).is_file() and not (ROOT / name).is_file()
    )  # fmt: skip
    assert gone == [], f"docs/architecture.md, The map: {gone} no longer exist"
    assert len(named()) == len(set(named())), "a module is on the map twice"


def test_each_line_says_what_the_module_is() -> None:
    bare = [line for line in map_lines() if _LINE.match(line) and len(line.split()) < 3]
    assert bare == []


def test_the_functions_are_on_the_map_too() -> None:
    functions = {str(p.relative_to(ROOT)) for p in (ROOT / "functions").glob("*/main.py")}
    assert functions <= set(named())
