"""D1: the CLI's commands, exit codes and messages, run in-process and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from main import cli

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def run(*args: str):
    return runner.invoke(cli, list(args))


def test_list_shows_every_stack_with_account_and_role():
    result = run("list")
    assert result.exit_code == 0, result.output
    for name in ("dev-us-east-1", "staging-us-west-2", "prod-global", "333333333333", "secondary", "edge"):
        assert name in result.stdout


def test_list_json_is_machine_readable():
    result = run("list", "--env", "prod", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["prod-us-east-1", "prod-us-west-2", "prod-global"]
    assert {r["account_id"] for r in rows} == {"333333333333"}


def test_validate_config_shows_resolved_values():
    result = run("validate-config")
    assert result.exit_code == 0
    assert "is valid" in result.stdout and "10.64.0.0/17" in result.stdout and "per_az" in result.stdout


@pytest.mark.parametrize("command", [["synth"], ["list"]])
def test_unknown_environment_exits_2_listing_choices(command):
    result = run(*command, "--env", "qa")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: unknown environment 'qa'; choose one of: dev, staging, prod, all"


@pytest.mark.parametrize("command", [["synth"], ["list"]])
def test_unknown_region_exits_2_listing_choices(command):
    result = run(*command, "--env", "dev", "--region", "eu-west-1")
    assert result.exit_code == 2
    assert "choose one of: us-east-1, us-west-2, global" in result.stderr


@pytest.mark.parametrize("command", [["synth"], ["list"], ["validate-config"]])
def test_config_option_works_on_every_command_and_bad_config_exits_2(command, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[project]\nname = "webapp"\nsuffix = "A!"\n')
    result = run(*command, "--config", str(bad))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 4, "one line per problem: suffix, domain, owner, cost_center, environments..."
    assert all(line.startswith(f"error: {bad}: ") for line in lines)
    assert "Traceback" not in result.output


def test_config_option_reads_the_given_file(tmp_path, default_data):
    import tomllib

    text = (ROOT / "config" / "default.toml").read_text().replace('regions = ["us-east-1", "us-west-2"]   # first',
                                                                 'regions = ["eu-west-1"]   # first')
    assert tomllib.loads(text)["environments"]["dev"]["regions"] == ["eu-west-1"]
    path = tmp_path / "custom.toml"
    path.write_text(text)
    result = run("list", "--config", str(path), "--env", "dev", "--json")
    assert [r["name"] for r in json.loads(result.stdout)] == ["dev-eu-west-1", "dev-global"]


def test_missing_config_file_is_a_clean_error(tmp_path):
    result = run("list", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert "file not found" in result.stderr


def test_unknown_option_is_a_usage_error():
    result = run("synth", "--environment", "dev")
    assert result.exit_code == 2


def test_synth_refusing_an_unsafe_out_folder_exits_2(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    result = run("synth", "--env", "dev", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "refusing to replace" in result.stderr
    assert (tmp_path / "keep.txt").exists()


def test_synth_into_an_impossible_folder_exits_2(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run("synth", "--env", "dev", "--out", str(blocker / "out"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot create {blocker / 'out'}")
    assert "Traceback" not in result.output


def test_synth_as_a_real_process_with_no_system_node(tmp_path):
    """The shipped command, with PATH reduced to the virtualenv: jsii gets the bundled Node 24,
    prints no end-of-life banner, and every stack lands where D1 says."""
    env = {k: v for k, v in os.environ.items() if k not in ("PATH", "NODE", "JSII_NODE")}
    env["PATH"] = str(Path(sys.executable).parent)
    out = tmp_path / "cdktf.out"
    done = subprocess.run([sys.executable, "main.py", "synth", "--env", "prod", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "end-of-life" not in done.stderr + done.stdout and "!!!" not in done.stderr
    for name in ("prod-us-east-1", "prod-us-west-2", "prod-global"):
        assert (out / "stacks" / name / "cdk.tf.json").is_file()
        assert name in done.stdout
    assert not (out / "stacks" / "dev-us-east-1").exists()


def test_no_command_prints_help():
    result = run()
    assert "synth" in result.output and "validate-config" in result.output
