"""`outputs` and `smoke`: each stack's outputs, read from its Terraform state.

Reading must not replace what the user synthesized (or a saved plan) in their output folder, so
this synthesizes into a private folder beside it (the same lock files, plugin cache and relative
state paths), runs `terraform init` and `output` there, and removes it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from config.errors import UsageError
from config.model import Config, StackSpec
from ops import terraform


def read(config: Config, specs: list[StackSpec], out: Path) -> dict[str, dict]:
    """Stack name -> its outputs (name -> value). Raises the PlatformError that says what failed:
    UsageError (no writable folder beside `out`), EnvironmentProblem, StackFailed."""
    from stacks import app  # starts cdktf and jsii: only when outputs are really read

    beside = out.resolve().parent
    try:
        beside.mkdir(parents=True, exist_ok=True)
        private = Path(tempfile.mkdtemp(prefix=f".{out.name}.read-", dir=beside))
    except OSError as exc:
        raise UsageError(
            f"cannot create a private folder in {beside}: {exc.strerror}; choose a writable --out"
        ) from None
    try:
        app.synth(config, specs, private)
        runner = terraform.Terraform(private)
        values = {}
        for spec in specs:
            runner.init(spec.name)
            values[spec.name] = runner.outputs(spec.name)
        return values
    finally:
        shutil.rmtree(private, ignore_errors=True)
