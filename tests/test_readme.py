"""D2: the README and docs/ stay true: every configuration key and every command is documented in
the README, every link between them resolves, and every requirement code the code cites is defined."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config import model
from main import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
CODE = re.compile(r"\b[RFD](?:[1-9]|1[0-9])\b")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Folders that hold no source of ours: virtualenvs, tools, Terraform and synth output.
NOT_OURS = {"cdktf.out", "terraform-state", "terraform-locks", "node_modules", "__pycache__"}
TEXT = {".py", ".md", ".toml", ".yml", ".yaml"}


@pytest.mark.parametrize("key", sorted({*model.ENV_KEYS, *model.PROJECT_KEYS, *model.STATE_KEYS}))
def test_every_configuration_key_is_documented(key):
    assert f"`{key}`" in README or f"{key} =" in README, f"README does not document {key}"


@pytest.mark.parametrize("command", sorted(c.name or c.callback.__name__ for c in cli.registered_commands))
def test_every_command_is_documented(command):
    assert f"`{command}" in README, f"README does not document the {command} command"


def test_the_quick_start_commands_exist():
    makefile = (ROOT / "Makefile").read_text()
    assert "make synth" in README and "make test" in README
    assert "\nsynth:" in makefile and "\ntest:" in makefile


def test_the_quick_start_comes_first():
    """D2: the first section a reader meets is the quick start, then architecture, commands and
    configuration, in that order."""
    headings = [line for line in README.splitlines() if line.startswith("## ")]
    order = ["## Quick start", "## Architecture and layout", "## Commands", "## Configuration"]
    assert headings[: len(order)] == order, headings


@pytest.mark.parametrize("doc", ["operations.md", "architecture.md", "development.md", "testing.md", "requirements.md"])
def test_the_readme_links_every_document(doc):
    assert (DOCS / doc).is_file(), f"docs/{doc} is missing"
    assert f"](docs/{doc}" in README, f"README does not link docs/{doc}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found, seen, fenced = set(), {}, False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            base = slug(line.lstrip("#"))
            found.add(base if base not in seen else f"{base}-{seen[base]}")
            seen[base] = seen.get(base, 0) + 1
    return found


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("document", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_resolves(document):
    """Sections moved between the README and docs/ must not leave links to nowhere."""
    broken = []
    for target in LINK.findall(document.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{document.name}: {broken}"


def test_the_link_checker_catches_a_missing_anchor():
    assert "terraform-validate-every-stack" in anchors("## `terraform validate`, every stack\n")
    assert "interrupting-a-deploy" not in anchors("## Interrupting\n```\n# Interrupting a deploy\n```\n")


def sources() -> list[Path]:
    """Our source, tests, configuration and documentation (hidden folders other than CI's skipped)."""
    found = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if any(p in NOT_OURS or (p.startswith(".") and p not in {".github", ".ci"}) for p in parts[:-1]):
            continue
        if path.is_file() and (path.suffix in TEXT or path.name in {"Makefile", "run"}):
            found.append(path)
    return found


def test_every_requirement_code_cited_is_defined():
    defined = set(re.findall(r"^\| ([RFD]\d+) \|", (DOCS / "requirements.md").read_text(), re.M))
    cited = {}
    for path in sources():
        for code in CODE.findall(path.read_text(errors="replace")):
            cited.setdefault(code, path.relative_to(ROOT).as_posix())
    assert len(cited) > 10, "the scan found almost no codes: is it reading the sources?"
    undefined = {code: where for code, where in cited.items() if code not in defined}
    assert not undefined, f"cited but not defined in docs/requirements.md: {undefined}"


def test_the_readme_shows_no_bare_requirement_codes():
    """Users read the README; codes are for readers of code and tests, and defined in docs/."""
    assert not CODE.findall(README), CODE.findall(README)


SOURCE_PATH = re.compile(
    r"`((?:config|modules|stacks|ops|e2e|webapp|lambda|bench|tests|docs|\.github)/[\w./-]+"
    r"|main\.py|Makefile)`"
)


@pytest.mark.parametrize("document", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_file_the_documents_name_exists(document):
    """A file moved or renamed must take its mentions along."""
    missing = sorted({p for p in SOURCE_PATH.findall(document.read_text()) if not (ROOT / p.rstrip("/")).exists()})
    assert not missing, f"{document.name} names files that do not exist: {missing}"
