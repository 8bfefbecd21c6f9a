"""The layers point one way: `config/` is the bottom layer and stands on nothing of ours above it,
and a construct never sees the configuration model, only the parts of `config/` that hold no
configuration (names, regions, shared facts, errors, closed sets, CIDR allocation). Checked on the
source with `ast`, so an import inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABOVE_CONFIG = {"modules", "stacks", "ops", "main", "e2e", "webapp"}
# The parts of config/ that hold no configuration. The rest (model, loader, settings, checks) is the
# configuration itself, which a stack reads and hands to a construct as props.
# config/groups.py is values only: the typed groups of settings a stack hands whole to the props.
FOR_MODULES = {"naming", "regions", "facts", "errors", "choices", "network", "groups"}


def imported(source: str) -> set[str]:
    """Every module an `import` or `from ... import` in the source names, with `from package import
    name` also counted as `package.name` (it may be a submodule)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).glob("*.py"))


def test_the_walk_sees_every_form_of_import():
    """The check below would pass on nothing if `imported` missed a form: prove it sees each."""
    source = "import modules.aws\nfrom stacks import app\ndef f():\n    from ops.smoke import Smoke\n"
    assert {"modules.aws", "stacks", "stacks.app", "ops.smoke", "ops.smoke.Smoke"} <= imported(source)


@pytest.mark.parametrize("path", sources("config"), ids=lambda p: p.name)
def test_config_imports_nothing_above_it(path):
    crossing = sorted(m for m in imported(path.read_text()) if m.split(".")[0] in ABOVE_CONFIG)
    assert not crossing, f"config/{path.name} imports {crossing}: config/ is the bottom layer"


@pytest.mark.parametrize("path", sources("modules"), ids=lambda p: p.name)
def test_modules_never_import_the_configuration(path):
    parts = [m.split(".") for m in imported(path.read_text())]
    crossing = sorted(".".join(p) for p in parts if p[0] == "config" and len(p) > 1 and p[1] not in FOR_MODULES)
    assert not crossing, f"modules/{path.name} imports {crossing}: a construct gets its settings from its props"


def test_the_naming_helper_lives_in_config():
    """One naming source, beside the region catalogue; no copy or shim left in modules/."""
    assert (ROOT / "config" / "naming.py").is_file()
    assert not (ROOT / "modules" / "naming.py").exists()
