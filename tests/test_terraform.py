"""Real Terraform over the synthesized stacks: every stack of every shipped configuration validates
with the provider users get, and the toolchain (mirror or registry, plugin cache, lock files)
behaves as ops/toolchain.py and ops/terraform.py promise. No AWS call is made."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config import model
from main import cli
from ops import terraform, toolchain

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / "config" / "default.toml", *sorted((ROOT / "config" / "examples").glob("*.toml"))]
runner = CliRunner()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_stack_of_every_shipped_configuration_validates(path, tmp_path):
    specs = model.load(path).select("all")
    result = runner.invoke(cli, ["validate", "--env", "all", "--config", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output + (result.stderr or "")
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in result.output.splitlines()
        if line.count("│") >= 4 and line.split("│")[1].strip()
    }
    assert {s.name: "valid" for s in specs}.items() <= rows.items()
    # Each stack's lock file was kept beside the output, pinning exactly the provider version.
    for spec in specs:
        lock = (tmp_path / terraform.LOCKS_DIR / f"{spec.name}{terraform.LOCK_FILE}").read_text()
        assert f'version     = "{toolchain.PROVIDER_VERSION}"' in lock and "h1:" in lock


@pytest.fixture(scope="module")
def one_stack(tmp_path_factory):
    """The dev primary stack, synthesized and initialized once (backend off)."""
    from stacks import app

    base = tmp_path_factory.mktemp("tf")
    config = model.load()
    app.synth(config, config.select("dev", "us-east-1"), base / "out")
    tf = terraform.Terraform(base / "out")
    tf.init("dev-us-east-1", backend=False)
    return base, tf


def test_lock_files_are_reused_and_verified(one_stack):
    base, tf = one_stack
    kept = base / terraform.LOCKS_DIR / f"dev-us-east-1{terraform.LOCK_FILE}"
    original = kept.read_text()
    # A tampered checksum must stop init: the kept lock file is what init verifies against.
    kept.write_text(re.sub(r'"h1:[^"]+"', '"h1:' + "A" * 43 + '="', original))
    try:
        with pytest.raises(terraform.EnvironmentProblem, match="does not match the checksums recorded in"):
            tf.init("dev-us-east-1", backend=False)
    finally:
        kept.write_text(original)
    tf.init("dev-us-east-1", backend=False)
    assert tf.validate("dev-us-east-1") == []


def test_a_stack_without_a_lock_file_starts_from_a_siblings(one_stack):
    base, tf = one_stack
    from stacks import app

    config = model.load()
    app.synth(config, config.select("dev"), base / "out")
    tf.init("dev-us-west-2", backend=False)
    kept = base / terraform.LOCKS_DIR
    assert (kept / f"dev-us-west-2{terraform.LOCK_FILE}").read_text() == (
        kept / f"dev-us-east-1{terraform.LOCK_FILE}"
    ).read_text()
    # One install, shared: the stack's provider is a link into the plugin cache.
    installed = next((base / "out/stacks/dev-us-west-2/.terraform/providers").rglob("linux_*"))
    assert installed.is_symlink()
    assert Path(installed.readlink()).is_relative_to(tf.chain.env["TF_PLUGIN_CACHE_DIR"])


def test_an_invalid_stack_is_reported_with_terraforms_diagnostics(one_stack):
    import json

    base, tf = one_stack
    tf.init("dev-us-east-1", backend=False)  # an earlier test may have synthesized the folder anew
    path = base / "out" / "stacks" / "dev-us-east-1" / "cdk.tf.json"
    original = path.read_text()
    broken = json.loads(original)
    broken["output"]["vpc_id"]["value"] = "${aws_vpc.does_not_exist.id}"
    path.write_text(json.dumps(broken))
    try:
        (diagnostic,) = tf.validate("dev-us-east-1")
    finally:
        path.write_text(original)
    assert diagnostic.severity == "error" and "undeclared resource" in diagnostic.summary.lower()
