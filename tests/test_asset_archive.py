"""modules/asset_archive.py: a folder zipped once per process, as cdktf's own ARCHIVE asset zips
it: the same bytes and hash, so a FILE asset of it synthesizes exactly what an ARCHIVE asset would."""

from __future__ import annotations

import zipfile
from pathlib import Path

from modules import asset_archive

SOURCE = Path(__file__).resolve().parents[1] / "lambda" / "ingest"


def archive_asset(source: Path, out: Path) -> tuple[bytes, str, str]:
    """(zip bytes, asset hash, path) of an ordinary cdktf ARCHIVE asset of `source`'s *.py files."""
    from cdktf import App, AssetType, TerraformAsset, TerraformStack

    app = App(outdir=str(out))
    asset = TerraformAsset(
        TerraformStack(app, "s"), "code", path=str(asset_archive.stage(source)), type=AssetType.ARCHIVE
    )
    app.synth()
    return (out / "stacks" / "s" / asset.path).read_bytes(), asset.asset_hash, asset.path


def test_the_archive_is_cdktfs_own_byte_for_byte(tmp_path):
    made = asset_archive.packaged(SOURCE)
    expected_bytes, expected_hash, expected_path = archive_asset(SOURCE, tmp_path / "out")
    assert made.path.read_bytes() == expected_bytes
    assert made.asset_hash == expected_hash
    assert made.path.name == Path(expected_path).name == asset_archive.ARCHIVE_NAME
    with zipfile.ZipFile(made.path) as bundle:
        assert sorted(bundle.namelist()) == sorted(p.name for p in SOURCE.glob("*.py"))


def test_it_is_made_once_per_content(tmp_path):
    source = tmp_path / "code"
    source.mkdir()
    (source / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (source / "notes.txt").write_text("not packaged")
    first = asset_archive.packaged(source)
    assert asset_archive.packaged(source) is first, "the same content is zipped once"
    (source / "handler.py").write_text("def handler(event, context):\n    return 2\n")
    second = asset_archive.packaged(source)
    assert second.asset_hash != first.asset_hash
    with zipfile.ZipFile(second.path) as bundle:
        assert bundle.namelist() == ["handler.py"]
        assert b"return 2" in bundle.read("handler.py")


def test_scratch_folders_are_removed(tmp_path):
    source = tmp_path / "code"
    source.mkdir()
    (source / "handler.py").write_text("X = 1\n")
    made = asset_archive.packaged(source)
    staged = asset_archive.stage(source)
    asset_archive.remove_scratch()
    assert not made.path.exists() and not staged.exists()
    again = asset_archive.packaged(source)
    assert again.path.is_file(), "made again after its folder was removed"


def test_a_forked_worker_removes_only_its_own_scratch(tmp_path):
    """A worker forked by stacks/parallel.py inherits the list of scratch folders; the ones its
    parent made must survive its exit, or the parent's next synth fails on a missing zip."""
    import os

    source = tmp_path / "code"
    source.mkdir()
    (source / "handler.py").write_text("X = 3\n")
    parents = asset_archive.packaged(source)
    child = os.fork()
    if child == 0:  # the worker: make one folder of its own, then clean up as a worker does
        code = 0
        try:
            asset_archive.stage(source)
            asset_archive.remove_scratch()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parents.path.is_file(), "the parent's zip survives its worker"
    assert asset_archive.packaged(source) == parents, "and is still the one reused"
