"""The code reads one way: ruff's linter and formatter (configured in pyproject.toml, version
pinned in its dev extra so the formatting cannot drift with a release) pass on the whole
repository, so `make test` and CI refuse what `make lint` would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_linter_passes():
    result = ruff("check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_file_is_formatted():
    result = ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, f"run `make format` (ruff format .):\n{result.stdout}{result.stderr}"


def test_the_format_check_notices_an_unformatted_file(tmp_path):
    source = tmp_path / "ugly.py"
    source.write_text("x = {  'a':1,\n'b' :2 }\n")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", str(source)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "ugly.py" in result.stdout
