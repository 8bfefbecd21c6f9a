"""Where this machine keeps the interpreters the platform's code really runs on: Python 3.9 for
the instances' webapp (Amazon Linux 2023), Python 3.12 for the Lambda function.

Looked up under pyenv (`$PYENV_ROOT`, default `~/.pyenv`), then as `python3.X` on PATH (pyenv's
shims are skipped: they answer "command not found" unless that version is selected). Missing
is an error that names the version: code is tested on its real runtime or not at all.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

INSTANCE_PYTHON = "3.9"  # Amazon Linux 2023's python3
LAMBDA_PYTHON = "3.12"  # the function's runtime (modules/ingest.py)


class RuntimeMissing(RuntimeError):
    """The interpreter a piece of code runs on in AWS is not on this machine."""


def find_python(version: str) -> str:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = sorted(
        root.glob(f"versions/{version}.*/bin/python3"),
        key=lambda p: tuple(int(x) for x in p.parts[-3].split(".") if x.isdigit()),
    )
    if found:
        return str(found[-1])
    path = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep) if "/shims" not in d)
    on_path = shutil.which(f"python{version}", path=path)
    if not on_path:
        raise RuntimeMissing(
            f"Python {version} was not found (python{version} on PATH, or pyenv under {root}): "
            f"install it, e.g. `pyenv install {version}`"
        )
    return on_path


if __name__ == "__main__":  # .ci/run: one line per missing interpreter, exit 1
    import sys

    missing = []
    for wanted in (INSTANCE_PYTHON, LAMBDA_PYTHON):
        try:
            find_python(wanted)
        except RuntimeMissing as exc:
            missing.append(str(exc))
    for line in missing:
        print(f"error: {line}", file=sys.stderr)
    sys.exit(1 if missing else 0)
