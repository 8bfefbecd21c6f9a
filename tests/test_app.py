"""stacks/app.py, configuration -> cdktf App -> Terraform JSON on disk. manifest.json, the
contract with the cdktf CLI: stack dependencies that order `cdktf deploy` (also when it runs
stacks in parallel) for the default and every example configuration, and an output folder the CLI
accepts when a synth selects fewer stacks than the previous one. Synthesis itself: deterministic,
and it replaces only a folder that is its own output, never one holding Terraform state."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.configs import project_table, variant
from support.synth import synthesize
from support.tfjson import load_stacks, resources

from config import model
from stacks.base import PROJECT_ROOT

EXAMPLES = sorted((PROJECT_ROOT / "config" / "examples").glob("*.toml"))
CDKTF_CLI = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "cdktf"


def manifest(out_dir: Path) -> dict:
    return json.loads((out_dir / "manifest.json").read_text())


@pytest.fixture(scope="module", params=["default", *(p.name for p in EXAMPLES)])
def synthesized_config(request, synthesized, tmp_path_factory):
    """(config, out_dir, stacks) for the default configuration and every example."""
    if request.param == "default":
        return synthesized.config, synthesized.out_dir, synthesized.stacks
    config = model.load(PROJECT_ROOT / "config" / "examples" / request.param)
    result = synthesize(config, tmp_path_factory.mktemp("example") / "cdktf.out")
    return result.config, result.out_dir, result.stacks


def closure(dependencies: dict[str, list[str]], name: str) -> set[str]:
    """Every stack `name` deploys after, directly or through another."""
    found, todo = set(), list(dependencies[name])
    while todo:
        item = todo.pop()
        if item not in found:
            found.add(item)
            todo += dependencies[item]
    return found


def test_every_secondary_depends_on_its_primary_and_the_edge_on_every_regional_stack(synthesized_config):
    config, out_dir, _ = synthesized_config
    deps = {name: stack["dependencies"] for name, stack in manifest(out_dir)["stacks"].items()}
    specs = config.stacks()
    assert sorted(deps) == sorted(s.name for s in specs)
    for spec in specs:
        same_env = [s for s in specs if s.environment == spec.environment]
        expected = {
            "primary": [],
            "secondary": [s.name for s in same_env if s.role == "primary"],
            "edge": [s.name for s in same_env if s.role != "edge"],
        }[spec.role]
        assert sorted(deps[spec.name]) == sorted(expected), spec.name


def test_the_deploy_order_respects_the_manifest(synthesized_config):
    """`main.py deploy` applies stacks in configuration order and destroys in reverse; that
    order must agree with the dependencies cdktf deploy follows."""
    config, out_dir, _ = synthesized_config
    deps = {name: stack["dependencies"] for name, stack in manifest(out_dir)["stacks"].items()}
    order = [s.name for s in config.select("all")]
    for index, name in enumerate(order):
        assert set(deps[name]) <= set(order[:index]), f"{name} deploys before {set(deps[name]) - set(order[:index])}"


def _plain(body: dict) -> set[str]:
    """The literal (not interpolated) string arguments of a resource or data source."""
    return {v for k, v in body.items() if isinstance(v, str) and "${" not in v and k != "provider"}


def cross_stack_reads(stacks: dict[str, dict]) -> set[tuple[str, str, str]]:
    """(reader, owner, what) for every lookup one stack makes of something another stack
    creates: a data source whose literal argument is the literal name of a resource of the same
    kind elsewhere (`aws_secretsmanager_secret_version` looks up an `aws_secretsmanager_secret`),
    and a certificate validation waiting on a validation record another stack owns."""
    created = {
        (name, type_, value)
        for name, stack in stacks.items()
        for type_, by_name in stack.get("resource", {}).items()
        for body in by_name.values()
        for value in _plain(body)
    }
    reads = set()
    for reader, stack in stacks.items():
        for data_type, by_name in stack.get("data", {}).items():
            for body in by_name.values():
                for value in _plain(body):
                    reads |= {
                        (reader, owner, f"data.{data_type} {value}")
                        for owner, type_, made in created
                        if owner != reader
                        and made == value
                        and (data_type == type_ or data_type.startswith(f"{type_}_"))
                    }
        for validation in resources(stack, "aws_acm_certificate_validation").values():
            for fqdn in validation["validation_record_fqdns"]:
                if "trimsuffix(" not in fqdn:
                    continue  # a record this stack creates itself
                (name,) = re.findall(r'\["([^"]+)"\]', fqdn)
                owners = [
                    owner
                    for owner, other in stacks.items()
                    if owner != reader
                    and any(f'["{name}"]' in r["name"] for r in resources(other, "aws_route53_record").values())
                ]
                assert len(owners) == 1, f"{reader} waits on the validation record of {name}: owners {owners}"
                reads.add((reader, owners[0], f"validation record of {name}"))
    return reads


def test_every_stack_deploys_after_every_stack_it_reads_from(synthesized_config):
    """The class behind "secondaries are not ordered": whatever a stack looks up by name in
    another stack, that stack is among its (transitive) dependencies in manifest.json."""
    config, out_dir, stacks = synthesized_config
    deps = {name: stack["dependencies"] for name, stack in manifest(out_dir)["stacks"].items()}
    reads = cross_stack_reads(stacks)
    missing = sorted(r for r in reads if r[1] not in closure(deps, r[0]))
    assert not missing, f"read before it may exist: {missing}"
    # Not vacuous: every secondary reads the primary's origin-verify secret and waits on its
    # validation record; every edge stack reads the primary's secret and error topic.
    for spec in config.stacks():
        primary = next(s.name for s in config.stacks() if s.environment == spec.environment and s.role == "primary")
        what = {w for reader, owner, w in reads if reader == spec.name and owner == primary}
        if spec.role == "secondary":
            assert any(w.startswith("data.aws_secretsmanager_secret_version") for w in what), spec.name
            assert any(w.startswith("validation record of origin.") for w in what), spec.name
        if spec.role == "edge":
            assert any(w.startswith("data.aws_sns_topic") for w in what), spec.name


def test_backup_replication_is_read_from_a_stack_deployed_before(default_data, tmp_path):
    """db_backup_replication (independent databases): the second region reads the primary's database."""
    data = variant(
        default_data, environments={"dev": {"db_backup_replication": True, "database_topology": "independent"}}
    )
    result = synthesize(model.parse(data, "replication.toml"), tmp_path / "out", env="dev")
    reads = cross_stack_reads(result.stacks)
    assert ("dev-us-west-2", "dev-us-east-1", "data.aws_db_instance dev-us-east-1-db-a1") in reads
    assert "dev-us-east-1" in manifest(result.out_dir)["stacks"]["dev-us-west-2"]["dependencies"]


def test_edge_stack_deploys_after_its_regional_stacks(synthesized):
    manifest = json.loads((synthesized.out_dir / "manifest.json").read_text())
    assert sorted(manifest["stacks"]["prod-global"]["dependencies"]) == ["prod-us-east-1", "prod-us-west-2"]
    assert manifest["stacks"]["prod-us-east-1"]["dependencies"] == []


# ------------------------------------------------------------------ the output folder and the CLI


def stack_folders(out_dir: Path) -> set[str]:
    return {p.name for p in (out_dir / "stacks").iterdir() if p.is_dir()}


def test_a_synth_run_by_the_cdktf_cli_leaves_every_earlier_stack_folder_for_it_to_remove(
    default_config, tmp_path, monkeypatch
):
    """The cdktf CLI lists <out>/stacks before it runs the app and afterwards deletes the folders
    the new manifest does not list: one that vanished in between makes it fail (ENOENT). Under
    the CLI (CDKTF_OUTDIR is its output folder) they stay, empty; on its own, synth removes them."""
    from stacks import app

    out = tmp_path / "cdktf.out"
    app.synth(default_config, default_config.select("dev"), out)
    before = stack_folders(out)
    assert before == {"dev-us-east-1", "dev-us-west-2", "dev-global"}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CDKTF_OUTDIR", "cdktf.out")  # as the CLI sets it: its --output, relative
    app.synth(default_config, default_config.select("dev", "global"), Path("cdktf.out"))
    listed = manifest(out)["stacks"]
    assert sorted(listed) == ["dev-global"]
    assert before <= stack_folders(out), "a folder the CLI listed before the run has vanished"
    for stack in listed.values():
        assert (out / stack["synthesizedStackPath"]).is_file()
    orphans = stack_folders(out) - set(listed)
    assert orphans == {"dev-us-east-1", "dev-us-west-2"}
    assert not any(any((out / "stacks" / o).iterdir()) for o in orphans), "left empty: nothing stale"
    for orphan in orphans:  # what the CLI does next
        shutil.rmtree(out / "stacks" / orphan)
    assert sorted(load_stacks(out)) == ["dev-global"]
    monkeypatch.delenv("CDKTF_OUTDIR")
    app.synth(default_config, default_config.select("dev"), out)
    app.synth(default_config, default_config.select("dev", "global"), out)
    assert stack_folders(out) == {"dev-global"}, "without the CLI no folder lingers"


def _node_bin() -> str | None:
    from modules.runtime import bundled_node_bin

    return bundled_node_bin()


@pytest.mark.skipif(not CDKTF_CLI.is_file(), reason="the cdktf CLI is not installed here (make tools)")
def test_cdktf_synth_of_fewer_stacks_after_a_full_synth(tmp_path):
    """The reported failure, with the real cdktf CLI: `cdktf synth` of every stack, then
    `cdktf synth --app "... synth --env prod"`."""
    node_bin = _node_bin()
    if not node_bin:
        pytest.skip("no Node.js for the cdktf CLI")
    config = tmp_path / "two.toml"
    config.write_text(
        project_table("webapp-manifest-test")
        + """
[environments.dev]
account_id = "111111111111"
regions = ["us-east-1"]

[environments.staging]
account_id = "222222222222"
regions = ["us-east-1"]
"""
    )
    app = f"{sys.executable} {PROJECT_ROOT / 'main.py'} synth --config {config}"
    (tmp_path / "cdktf.json").write_text(
        json.dumps(
            {
                "language": "python",
                "app": f"{app} --env all",
                "output": "cdktf.out",
                "projectId": "manifest-test",
                "sendCrashReports": "false",
            }
        )
    )
    environ = {
        **os.environ,
        "CHECKPOINT_DISABLE": "1",
        "CI": "1",
        "PATH": f"{node_bin}{os.pathsep}{os.environ['PATH']}",
    }
    environ.pop("CDKTF_OUTDIR", None)

    def cdktf_synth(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(CDKTF_CLI), "synth", *extra], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=600
        )

    full = cdktf_synth()
    assert full.returncode == 0, full.stdout + full.stderr
    assert stack_folders(tmp_path / "cdktf.out") == {
        "dev-us-east-1",
        "dev-global",
        "staging-us-east-1",
        "staging-global",
    }
    fewer = cdktf_synth("--app", f"{app} --env staging")
    assert fewer.returncode == 0 and "ENOENT" not in fewer.stdout + fewer.stderr, fewer.stdout + fewer.stderr
    assert sorted(manifest(tmp_path / "cdktf.out")["stacks"]) == ["staging-global", "staging-us-east-1"]
    assert stack_folders(tmp_path / "cdktf.out") == {"staging-us-east-1", "staging-global"}


# ------------------------------------------------------------------ synthesis


def test_synth_is_deterministic(default_config, synthesized, tmp_path):
    """Two synths: identical JSON and identical packaged assets, byte for byte."""
    again = synthesize(default_config, tmp_path / "again")
    for name, stack in synthesized.stacks.items():
        assert again.stacks[name] == stack, name
    files = sorted(
        p.relative_to(synthesized.out_dir) for p in (synthesized.out_dir / "stacks").rglob("*") if p.is_file()
    )
    assert any(f.name == "archive.zip" for f in files)
    assert files == sorted(p.relative_to(again.out_dir) for p in (again.out_dir / "stacks").rglob("*") if p.is_file())
    for relative in files:
        assert (again.out_dir / relative).read_bytes() == (synthesized.out_dir / relative).read_bytes(), relative


def test_synth_removes_stacks_no_longer_selected(default_config, tmp_path):
    out = tmp_path / "out"
    synthesize(default_config, out, env="dev")
    result = synthesize(default_config, out, env="prod")
    assert sorted(result.stacks) == ["prod-global", "prod-us-east-1", "prod-us-west-2"]


def test_synth_refuses_to_replace_a_folder_that_is_not_its_output(default_config, tmp_path):
    from stacks import app

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(app.OutputDirError, match=r"not empty and holds no cdktf manifest\.json"):
        app.synth(default_config, default_config.select("dev"), precious)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_synth_refuses_to_delete_terraform_state(default_config, tmp_path):
    from stacks import app

    out = tmp_path / "out"
    synthesize(default_config, out, env="dev")
    state = out / "stacks" / "dev-us-east-1" / "terraform.dev-us-east-1.tfstate"
    state.write_text("{}")
    with pytest.raises(app.OutputDirError, match="holds Terraform state"):
        app.synth(default_config, default_config.select("dev"), out)
    assert state.exists()


def test_out_path_that_is_a_file_is_refused(default_config, tmp_path):
    from stacks import app

    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(app.OutputDirError, match="not a folder"):
        app.synth(default_config, default_config.select("dev"), Path(target))


def test_synth_replaces_the_empty_folder_cdktf_leaves_behind(default_config, tmp_path):
    """cdktf's App creates <out>/stacks on construction; a run that stopped there must not block
    the next synth."""
    from stacks import app

    out = tmp_path / "out"
    (out / "stacks").mkdir(parents=True)
    app.synth(default_config, default_config.select("dev", "global"), out)
    assert (out / "stacks" / "dev-global" / "cdk.tf.json").is_file()
