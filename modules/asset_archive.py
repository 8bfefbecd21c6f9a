"""A folder zipped once per process, for every stack that packages it (the ingest function's code).

cdktf zips an ARCHIVE asset at synth, once per stack that has one, each time by starting a Node
process of its own (`execSync("node .../fs.js src dest")`: there is no synchronous zip in Node):
about 0.13 s per regional stack here, 0.8 s of the default configuration's synth. The archive of
one folder is the same bytes in every stack, so here cdktf zips it once, in a scratch App holding
only that asset, and each stack gets a FILE asset of that zip with the folder's hash: the same
path (`assets/<id>/<hash>/archive.zip`), the same `source_code_hash`, the same bytes as an ARCHIVE
asset of the folder (tests/test_asset_archive.py compares them).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

STAGED_MTIME = 946684800  # 2000-01-01: fixed timestamps make the archive reproducible too
ARCHIVE_NAME = "archive.zip"  # cdktf's name for an ARCHIVE asset's file; a FILE asset keeps its file's name


@dataclass(frozen=True)
class Archive:
    path: Path  # the zip, named as cdktf names an ARCHIVE asset's file
    asset_hash: str  # cdktf's hash of the folder it zipped


_made: dict[str, Archive] = {}
_scratch: list[tuple[int, Path]] = []  # (the process that made it, the folder)


def remove_scratch() -> None:
    """Remove the staged folders and zips this process made (at exit; a forked worker calls it
    itself). A forked worker inherits its parent's list, and those folders are the parent's: they
    stay, or the parent's next synth finds its zip gone (ENOENT)."""
    me = os.getpid()
    mine = [folder for pid, folder in _scratch if pid == me]
    for folder in mine:
        shutil.rmtree(folder, ignore_errors=True)
    _scratch[:] = [(pid, folder) for pid, folder in _scratch if pid != me]
    for key, archive in list(_made.items()):  # their zips are gone with the folders
        if any(folder in archive.path.parents for folder in mine):
            del _made[key]


atexit.register(remove_scratch)


def _scratch_folder(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix)).resolve()
    _scratch.append((os.getpid(), folder))
    return folder


def stage(source: Path, pattern: str = "*.py") -> Path:
    """A clean copy of the files of `source` matching `pattern` (no __pycache__, so the hash only
    changes with the code), with fixed timestamps, at an absolute path removed at exit."""
    staging = _scratch_folder("asset-stage-")
    for path in sorted(source.glob(pattern)):
        shutil.copyfile(path, staging / path.name)
        os.utime(staging / path.name, (STAGED_MTIME, STAGED_MTIME))
    return staging


def packaged(source: Path, pattern: str = "*.py") -> Archive:
    """The zip of `source`'s `pattern` files as cdktf's ARCHIVE asset makes it, made on first use
    in this process (per content: an edited file makes a new one)."""
    contents = hashlib.sha256()
    for path in sorted(source.glob(pattern)):
        contents.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    key = f"{source.resolve()}|{pattern}|{contents.hexdigest()}"
    if key not in _made:
        from cdktf import App, AssetType, TerraformAsset, TerraformStack

        outdir = _scratch_folder("asset-archive-")
        app = App(outdir=str(outdir))
        asset = TerraformAsset(
            TerraformStack(app, "archive"), "asset", path=str(stage(source, pattern)), type=AssetType.ARCHIVE
        )
        app.synth()
        zipped = outdir / "stacks" / "archive" / asset.path
        if zipped.name != ARCHIVE_NAME:  # the FILE asset's path (its file's name) relies on it
            raise RuntimeError(f"cdktf named the archive {zipped.name}, not {ARCHIVE_NAME}: update {__name__}")
        _made[key] = Archive(zipped, asset.asset_hash)
    return _made[key]
