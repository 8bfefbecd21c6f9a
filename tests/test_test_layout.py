"""The tests' own layout (issue 14): one test file per module under modules/ (tests/test_<module>.py);
shared helpers live in tests/support/, so

- no test module imports another test module (or the conftest): running one file never collects
  or silently depends on another, and a helper has one home;
- the default configuration is varied through support.configs.variant, not through another copy
  of the same deep copy (`copy.deepcopy(default_data)`, `json.loads(json.dumps(default_data))`).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TEST_MODULES = {p.stem for p in TESTS.glob("test_*.py")} | {"conftest"}


def python_files() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def imported_test_modules(source: str) -> list[str]:
    """The test modules (and the conftest) a module's source imports, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in TEST_MODULES]
    return found


def _is_default_data(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "default_data"


def _called(node: ast.AST, name: str) -> bool:
    """A call of `name` or `<module>.name`."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == name) or (isinstance(func, ast.Attribute) and func.attr == name)


def copies_of_default_data(source: str) -> list[int]:
    """Lines that copy `default_data` by hand instead of calling support.configs.variant."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if _called(node, "deepcopy") and node.args and _is_default_data(node.args[0]):
            lines.append(node.lineno)
        elif (_called(node, "loads") and node.args and _called(node.args[0], "dumps") and node.args[0].args
              and _is_default_data(node.args[0].args[0])):
            lines.append(node.lineno)
    return lines


def test_the_checks_notice_what_they_look_for():
    assert imported_test_modules("from test_pipeline import FakeTerraform\n") == ["test_pipeline"]
    assert imported_test_modules("def f():\n    import test_webapp\n") == ["test_webapp"]
    assert imported_test_modules("from conftest import synthesize\n") == ["conftest"]
    assert imported_test_modules("from support.terraform import FakeTerraform\nimport tfjson\n") == []
    assert copies_of_default_data("import copy\n\ndata = copy.deepcopy(default_data)\n") == [3]
    assert copies_of_default_data("from copy import deepcopy\nd = deepcopy(default_data)\n") == [2]
    assert copies_of_default_data("import json\nd = json.loads(json.dumps(default_data))\n") == [2]
    assert copies_of_default_data("d = variant(default_data)\nc = copy.deepcopy(other)\n") == []


def test_no_test_module_imports_another_test_module():
    offenders = {str(p.relative_to(TESTS)): found for p in python_files()
                 if (found := imported_test_modules(p.read_text()))}
    assert not offenders, f"import shared helpers from tests/support/ instead: {offenders}"


def test_the_default_configuration_is_varied_only_through_support_configs():
    offenders = {str(p.relative_to(TESTS)): lines for p in python_files()
                 if p.parent.name != "support" and (lines := copies_of_default_data(p.read_text()))}
    assert not offenders, f"use support.configs.variant(default_data, ...): {offenders}"


# Modules under modules/ without a tests/test_<module>.py of their own, each with why. A module
# leaves this list when it gets its own test file (the test below then fails until it does).
MODULES_WITHOUT_THEIR_OWN_TEST_FILE = {
    "__init__": "only puts the bundled Node first on PATH (modules/runtime.py) before cdktf is imported",
    "aws": "the lazy provider-binding importer: it has no behaviour of its own besides laziness, which "
           "tests/test_lazy_import.py measures across a whole synth",
    "runtime": "Node for jsii: every synth in the suite runs through it (the conftest imports modules first) "
               "and tests/test_app.py runs the real cdktf CLI on bundled_node_bin()",
}


def test_every_module_has_its_own_test_file_or_says_why_not():
    modules_dir = TESTS.parent / "modules"
    names = {p.stem for p in modules_dir.glob("*.py")}
    missing = sorted(n for n in names - MODULES_WITHOUT_THEIR_OWN_TEST_FILE.keys()
                     if not (TESTS / f"test_{n}.py").is_file())
    assert not missing, f"add tests/test_<module>.py for {missing} (or list it, with why, above)"
    stale = sorted(n for n in MODULES_WITHOUT_THEIR_OWN_TEST_FILE
                   if n not in names or (TESTS / f"test_{n}.py").is_file())
    assert not stale, f"drop from MODULES_WITHOUT_THEIR_OWN_TEST_FILE (gone, or now has a test file): {stale}"
