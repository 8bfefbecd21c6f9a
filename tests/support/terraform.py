"""Terraform stand-ins: `terraform` executables put first on PATH so the CLI runs its real
subprocess path while AWS is never called.

- FakeTerraform writes a script that records each call's arguments and working directory and
  replays canned output (a plan, outputs, failures) from behavior.json (tests/test_pipeline.py,
  tests/test_smoke.py).
- INTERRUPTIBLE is a script that shuts down the way Terraform does on SIGINT and SIGTERM
  (tests/test_signals.py).
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

INTERRUPTIBLE = Path(__file__).with_name("fake_terraform.py")

CREATE = {
    "format_version": "1.2",
    "resource_changes": [
        {"address": "aws_vpc.network", "type": "aws_vpc", "change": {"actions": ["create"]}},
        {"address": "aws_security_group.web", "type": "aws_security_group", "change": {"actions": ["update"]}},
        {"address": "aws_s3_bucket.logs", "type": "aws_s3_bucket", "change": {"actions": ["no-op"]}},
    ],
}
# A plan that replaces the database: destructive, so deploy refuses it and review exits 3.
DESTROY_DB = {
    "format_version": "1.2",
    "resource_changes": [
        {"address": "aws_db_instance.db", "type": "aws_db_instance", "change": {"actions": ["delete", "create"]}},
    ],
}
"""The plan FakeTerraform shows unless told otherwise: one create, one update, one no-op."""

FAKE = """#!{python}
import json, os, sys
from pathlib import Path
here = Path(__file__).resolve().parent
behavior = json.loads((here / "behavior.json").read_text())
stack = Path.cwd().name
step = sys.argv[1]
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps({{"stack": stack, "args": sys.argv[1:]}}) + "\\n")
failure = behavior.get("fail", {{}}).get(stack, {{}}).get(step)
if failure:
    print(failure)
    sys.exit(1)
if step == "version":
    print(json.dumps({{"terraform_version": behavior.get("version", "1.11.0")}}))
elif step == "plan":
    Path("plan.tfplan").write_text("binary plan")
elif step == "show":
    print(json.dumps(behavior.get("plans", {{}}).get(stack, behavior["default_plan"])))
elif step == "output":
    print(json.dumps({{k: {{"value": v}} for k, v in behavior.get("outputs", {{}}).get(stack, {{}}).items()}}))
"""


class FakeTerraform:
    """A recording `terraform` in `folder` (the caller puts the folder first on PATH). Change
    `behavior` (plans per stack, outputs, failures per stack and step, version), then `save()`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.behavior = {"default_plan": CREATE}
        script = folder / "terraform"
        script.write_text(FAKE.format(python=sys.executable))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        self.save()

    def save(self):
        (self.folder / "behavior.json").write_text(json.dumps(self.behavior))

    def calls(self) -> list[dict]:
        path = self.folder / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def steps(self) -> list[tuple[str, str]]:
        return [(c["stack"], c["args"][0]) for c in self.calls() if c["args"][0] != "version"]


def invoke(tmp_path, *args):
    """The CLI run in-process with `args`, writing under tmp_path/out (`review` takes no --out)."""
    from typer.testing import CliRunner

    from main import cli

    return CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "out")] if args[0] != "review" else list(args))
