"""The package's import graph: no cycle, and no import from a lower layer to a higher one.

Every ``import`` statement counts, those inside functions and under TYPE_CHECKING
too (grimp reads them all from the source). The layers, lowest first, are those of
docs/architecture.md ("Layers"); a module of one layer may import its own layer and
those below, never one above. A new top-level module or package must be placed in
a layer here (the test says so), which is the moment to ask where it belongs.
"""

from __future__ import annotations

import grimp
import pytest

# Lowest first. Each entry: the top-level modules and packages of ``audioconv`` in it.
LAYERS: list[tuple[str, set[str]]] = [
    # Plain data and process-wide helpers that know nothing of the service: the
    # settings (config: imports nothing of ours), logging and its redaction, the
    # upload spool's file names, the parent-death signal of ffmpeg and children, HTTP
    # helpers for files (a download's name, chunked reads).
    ("foundation", {"config", "logs", "spool", "parent_death", "http_files"}),
    ("domain", {"domain"}),
    ("ports", {"ports"}),
    ("services", {"services"}),
    # The outer ring: adapters (ports' implementations), entrypoints (HTTP routes,
    # message handlers, the pull worker), the HTTP client, and the pieces the
    # embedded server runs (gunicorn's worker class and logger, the supervisor).
    (
        "adapters/entrypoints",
        {"adapters", "entrypoints", "client", "gunicorn_worker", "gunicorn_logging"}
        | {"supervisor"},
    ),
    # The composition root: settings' secrets resolved, one adapter per port.
    ("bootstrap", {"bootstrap"}),
    # Where every process starts: settings, logging once, dependencies.
    ("startup", {"startup"}),
    # The processes: the `audioconv` command, the embedded server, migrations.
    ("processes", {"cli", "embedded", "migrate", "migrations"}),
]
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("audioconv", cache_dir=None)


def _top(module: str) -> str:
    """``audioconv.services.tasks`` -> ``services``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_top_level_module_has_a_layer(graph: grimp.ImportGraph) -> None:
    tops = {_top(m) for m in graph.modules} - {""}
    assert tops - set(RANK) == set(), "place each new module in a layer of LAYERS"
    gone = set(RANK) - tops - {"migrations"}  # (no __init__.py: grimp does not list it)
    assert gone == set(), "a module named in LAYERS is gone"


def test_no_import_goes_up_a_layer(graph: grimp.ImportGraph) -> None:
    upward = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            low, high = _top(importer), _top(imported)
            if low and high and RANK[high] > RANK[low]:
                upward.append(f"{importer} -> {imported}")
    assert upward == [], "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_there_is_no_import_cycle(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_checks_see_what_they_must_refuse() -> None:
    """The two checks above are not blind: on a graph with a cycle and an upward
    import (a function-level import counts like any other), each finds it."""
    bad = grimp.ImportGraph()
    for module in ("audioconv", "audioconv.config", "audioconv.logs", "audioconv.services",
                   "audioconv.bootstrap"):  # fmt: skip
        bad.add_module(module)
    imports = [
        ("audioconv.config", "audioconv.logs", "    from audioconv import logs"),  # in a function
        ("audioconv.logs", "audioconv.config", "from audioconv.config import LogSettings"),
        ("audioconv.services", "audioconv.bootstrap", "from audioconv import bootstrap"),
    ]
    for importer, imported, line in imports:
        bad.add_import(importer=importer, imported=imported, line_number=1, line_contents=line)
    assert _cycles(bad) == [["audioconv.config", "audioconv.logs"]]
    with pytest.raises(AssertionError, match=r"audioconv\.services -> audioconv\.bootstrap"):
        test_no_import_goes_up_a_layer(bad)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return sorted(found)
