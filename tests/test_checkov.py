"""checkov over every synthesized stack: zero failed checks, zero parsing errors.

Skips live only in .checkov.yaml, each with its reason. checkov runs from its own virtualenv
(.venv-checkov, made by `make test`) because it pins packages the test tools cannot share."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def checkov_binary() -> str:
    local = ROOT / ".venv-checkov" / "bin" / "checkov"
    found = str(local) if local.exists() else shutil.which("checkov")
    if not found:
        pytest.fail("checkov not found: run `make setup-dev` (creates .venv-checkov)")
    return found


def test_checkov_passes_every_stack(synthesized):
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}  # offline: no Bridgecrew guideline download
    done = subprocess.run(
        [checkov_binary(), "--directory", str(synthesized.out_dir / "stacks"), "--framework", "terraform_json",
         "--config-file", str(ROOT / ".checkov.yaml"), "--output", "json", "--quiet", "--compact"],
        capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = {k: sum(r["summary"][k] for r in reports) for k in ("passed", "failed", "parsing_errors")}
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})"
              for r in reports for c in r["results"]["failed_checks"]]
    assert summary["parsing_errors"] == 0, "checkov could not parse a stack; it would silently check nothing"
    assert summary["failed"] == 0, "\n".join(failed)
    assert summary["passed"] > 0, "checkov ran no checks"
    assert done.returncode == 0
