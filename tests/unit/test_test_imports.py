"""No test module imports another test module or a conftest.

Helpers that several test modules use live in a support module (tests/support/, or
a non-test module beside the tests, such as tests/infra/tfschema.py); fixtures come
from a conftest.py, never by import. Importing a test module runs its module-level
set-up and makes pytest collect its fixtures twice; importing a conftest's fixture
shadows the one pytest would register (and needs two noqa).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = TESTS / "support"


def _is_test_module(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return dotted.startswith("tests.") and (last.startswith("test_") or last == "conftest")


def imported_test_modules(source: str) -> list[str]:
    """The test modules and conftests that ``source`` imports (any depth, any form)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            found += [n for n in names if _is_test_module(n)][:1]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_test_module(a.name)]
    return found


def test_no_test_module_imports_another() -> None:
    bad = []
    for path in sorted(TESTS.rglob("*.py")):
        name = str(path.relative_to(TESTS.parent))
        for imported in imported_test_modules(path.read_text()):
            bad.append(f"{name} imports {imported}")
    assert bad == [], "move what is shared into tests/support/:\n" + "\n".join(bad)


def test_the_check_sees_each_form() -> None:
    source = """
from tests.infra.test_appengine import render
from tests.cloud.conftest import pubsub_emulator
from tests.unit import test_fidelity
import tests.e2e.test_image
def f():
    from tests.infra.conftest import x
from tests.support.deploy_config import render
from tests.infra.tfschema import ProviderSchema
from tests.unit.fakes import fake_deps
"""
    assert imported_test_modules(source) == [
        "tests.infra.test_appengine",
        "tests.cloud.conftest",
        "tests.unit.test_fidelity",
        "tests.e2e.test_image",
        "tests.infra.conftest",
    ]


def imported_test_folders(source: str) -> set[str]:
    """The folders of tests (``tests.infra``, ``tests.support``...) ``source`` imports from."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {".".join(n.split(".")[:2]) for n in names if n.startswith("tests.")}
    return found


def test_support_modules_import_only_each_other() -> None:
    """tests/support/ serves every folder: it depends on none of them."""
    bad = {
        path.name: sorted(imported_test_folders(path.read_text()) - {"tests.support"})
        for path in sorted(SUPPORT.glob("*.py"))
    }
    assert {name: found for name, found in bad.items() if found} == {}
    assert imported_test_folders(
        "import tests.unit.fakes\nfrom tests.infra.tfschema import X\nfrom tests.support import api"
    ) == {"tests.unit", "tests.infra", "tests.support"}
