"""Every third-party module the tool can import at runtime (main.py and the packages it ships) is
installed by `pip install .`: a declared runtime dependency of pyproject.toml, or something one of
them requires. `make synth` installs only those; a module reached only through the dev extra
(moto, pytest) used to be how `doctor` and `smoke` ended in a ModuleNotFoundError traceback
(boto3)."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def runtime_closure() -> set[str]:
    """The declared dependencies and, transitively, what their installed metadata requires on this
    platform (requirements behind an extra or another platform's marker do not count)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in metadata.requires(name) or []]
    return seen


def shipped_files() -> list[Path]:
    tool = PYPROJECT["tool"]["setuptools"]
    files = [ROOT / f"{module}.py" for module in tool["py-modules"]]
    for package in tool["packages"]:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def imported_top_level(path: Path) -> set[str]:
    """Absolute imports anywhere in the file, lazy ones inside functions included; imports inside a
    `try` that handles ImportError are optional (a fallback) and do not count."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            return
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return names


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> files importing it, for modules neither stdlib nor shipped here."""
    tool = PYPROJECT["tool"]["setuptools"]
    local = set(tool["packages"]) | set(tool["py-modules"])
    found: dict[str, set[str]] = {}
    for path in shipped_files():
        for name in imported_top_level(path) - local - set(sys.stdlib_module_names) - {"__future__"}:
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_runtime_import_is_installed_by_the_runtime_dependencies():
    from packaging.utils import canonicalize_name

    closure = runtime_closure()
    providers = metadata.packages_distributions()
    missing = {}
    for module, files in third_party_imports().items():
        distributions = {canonicalize_name(d) for d in providers.get(module, [])}
        if not distributions & closure:
            missing[module] = sorted(files)
    assert not missing, f"imported at runtime but not a runtime dependency (pyproject.toml): {missing}"


def test_the_check_sees_the_aws_sdk_imports():
    """boto3 (smoke, doctor) and botocore (smoke's error handling) are among what it checks, so the
    test above cannot pass by not looking."""
    found = third_party_imports()
    assert "ops/smoke.py" in found["botocore"] and "main.py" in found["boto3"]
    assert "boto3" in runtime_closure() and "botocore" in runtime_closure()
