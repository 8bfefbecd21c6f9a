"""The tests' own layout: one test file per module of modules/, config/, ops/ and stacks/
(tests/test_<module>.py; tests/test_<package>_<module>.py for a module outside modules/ whose name
another package also uses, such as config/network.py beside modules/network.py); shared helpers live
in tests/support/, so

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
        elif (
            _called(node, "loads")
            and node.args
            and _called(node.args[0], "dumps")
            and node.args[0].args
            and _is_default_data(node.args[0].args[0])
        ):
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
    offenders = {
        str(p.relative_to(TESTS)): found for p in python_files() if (found := imported_test_modules(p.read_text()))
    }
    assert not offenders, f"import shared helpers from tests/support/ instead: {offenders}"


def test_the_default_configuration_is_varied_only_through_support_configs():
    offenders = {
        str(p.relative_to(TESTS)): lines
        for p in python_files()
        if p.parent.name != "support" and (lines := copies_of_default_data(p.read_text()))
    }
    assert not offenders, f"use support.configs.variant(default_data, ...): {offenders}"


# The packages whose every module has its own test file; modules/ owns the plain names.
PACKAGES = ("modules", "config", "ops", "stacks")


def expected_test_file(package: str, module: str, modules_by_package: dict[str, set[str]]) -> str:
    """tests/test_<module>.py, or tests/test_<package>_<module>.py when the module is outside
    modules/ and another package has a module of the same name."""
    shared = sum(module in names for names in modules_by_package.values()) > 1
    return f"test_{package}_{module}.py" if shared and package != "modules" else f"test_{module}.py"


def modules_by_package(root: Path = TESTS.parent) -> dict[str, set[str]]:
    return {package: {p.stem for p in (root / package).glob("*.py")} for package in PACKAGES}


def test_the_expected_test_file_names():
    packages = {"modules": {"network", "alb"}, "config": {"network", "loader"}, "ops": {"doctor"}}
    assert expected_test_file("modules", "network", packages) == "test_network.py"
    assert expected_test_file("config", "network", packages) == "test_config_network.py"
    assert expected_test_file("config", "loader", packages) == "test_loader.py"
    assert expected_test_file("ops", "doctor", packages) == "test_doctor.py"
    assert expected_test_file("ops", "loader", {**packages, "ops": {"loader"}}) == "test_ops_loader.py"


# Modules without a test file of their own, each with why (where their behaviour is tested, if
# anywhere). A module leaves this list when it gets its own test file, or is gone (the test below
# fails until it does).
MODULES_WITHOUT_THEIR_OWN_TEST_FILE = {
    "modules/__init__.py": "only puts the bundled Node first on PATH (modules/runtime.py) before cdktf is imported",
    "modules/aws.py": "the lazy provider-binding importer: it has no behaviour of its own besides laziness, which "
    "tests/test_lazy_import.py measures across a whole synth",
    "modules/runtime.py": "Node for jsii: every synth in the suite runs through it (the conftest imports modules "
    "first) and tests/test_app.py runs the real cdktf CLI on bundled_node_bin()",
    "config/__init__.py": "a docstring only; the package's rule (it imports no modules/, stacks/ or ops/) is "
    "tests/test_layers.py's",
    "config/choices.py": "the closed sets as StrEnums, no logic: tests/test_settings.py proves they read and "
    "serialize as their strings, tests/test_loader.py that a value outside a set is refused",
    "ops/__init__.py": "a docstring only",
    "stacks/__init__.py": "only imports modules (the bundled Node first on PATH), whose entry is above",
}


def test_every_module_has_its_own_test_file_or_says_why_not():
    packages = modules_by_package()
    expected = {
        f"{package}/{module}.py": expected_test_file(package, module, packages)
        for package, names in packages.items()
        for module in names
    }
    missing = sorted(
        f"{path}: tests/{name}"
        for path, name in expected.items()
        if path not in MODULES_WITHOUT_THEIR_OWN_TEST_FILE and not (TESTS / name).is_file()
    )
    assert not missing, f"add the test file (or list the module, with why, above): {missing}"
    stale = sorted(
        path
        for path in MODULES_WITHOUT_THEIR_OWN_TEST_FILE
        if path not in expected or (TESTS / expected[path]).is_file()
    )
    assert not stale, f"drop from MODULES_WITHOUT_THEIR_OWN_TEST_FILE (gone, or now has a test file): {stale}"
