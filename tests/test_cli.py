"""D1: the CLI's commands, exit codes and messages, run in-process and as a real process."""

from __future__ import annotations

import json
import os
import re
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

    text = (
        (ROOT / "config" / "default.toml")
        .read_text()
        .replace('regions = ["us-east-1", "us-west-2"]   #', 'regions = ["eu-west-1"]   #')
    )
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
    done = subprocess.run(
        [sys.executable, "main.py", "synth", "--env", "prod", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "end-of-life" not in done.stderr + done.stdout and "!!!" not in done.stderr
    for name in ("prod-us-east-1", "prod-us-west-2", "prod-global"):
        assert (out / "stacks" / name / "cdk.tf.json").is_file()
        assert name in done.stdout
    assert not (out / "stacks" / "dev-us-east-1").exists()


def test_no_command_prints_help():
    result = run()
    assert "synth" in result.output and "validate-config" in result.output


# ------------------------------------------------------------------ usage errors and help text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["synth", "--config", "config"], "Invalid value for '--config' / '-c': file 'config' is a directory"),
        (["synth", "--out", "README.md"], "Invalid value for '--out' / '-o': dir 'README.md' is a file"),
        (["synth", "--env"], "Option '--env' requires an argument"),
        (["synth", "--environment", "dev"], "No such option: --environment (see 'main.py synth --help')"),
        (["launch"], "No such command 'launch'. Did you mean 'plan'? (see 'main.py --help')"),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_2(args, says):
    """Click's own rendering is a usage block and a boxed message; every bad input here is one
    `error:` line with exit 2, as the README's exit-code table says."""
    result = runner.invoke(cli, args, prog_name="main.py")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith("error: ") and says in result.stderr
    assert result.stdout == ""


def test_usage_error_as_a_real_process():
    done = subprocess.run(
        [sys.executable, "main.py", "list", "--region"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr == "error: Option '--region' requires an argument\n" and done.stdout == ""


COMMANDS = [
    "synth",
    "list",
    "validate-config",
    "validate",
    "plan",
    "deploy",
    "apply",
    "destroy",
    "review",
    "outputs",
    "smoke",
    "doctor",
    "failover",
    "graph",
    "cost",
    "drift",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_text_is_plain_and_true(command):
    """Help is plain text: the default of --config is shown (Rich markup mode ate `[default: ...]`),
    flags have no `<bool>` metavar, and no internal requirement code (D3, R5, F15) appears."""
    result = run(command, "--help")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "<bool>" not in text and "╭" not in text
    assert not re.search(r"\b[DRF]\d{1,2}\b", text), re.search(r"\b[DRF]\d{1,2}\b", text)
    if "--config" in text:
        assert "[default: config/default.toml]" in " ".join(text.split())
    for flag in ("--verbose", "--allow-destroy", "--json", "--help"):
        if flag in text:
            assert re.search(rf"{flag}\s{{2,}}\S", text), f"{flag} shows a metavar"


def test_commands_list_is_complete():
    """The help test above covers every command."""
    assert sorted(c.name or c.callback.__name__.replace("_", "-") for c in cli.registered_commands) == sorted(COMMANDS)


# ------------------------------------------------------------------ --instance-count against capacity


def test_instance_count_outside_the_environments_capacity_is_refused_before_any_work(tmp_path):
    out = tmp_path / "out"
    result = run("plan", "--env", "all", "--instance-count", "us-east-1=5", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: --instance-count us-east-1=5: environment dev allows 2..4 instances (min_capacity..max_capacity); "
        "choose a count in that range or change those settings"
    ], "staging (..6) and prod (..12) allow 5"
    assert not out.exists(), "nothing was synthesized"
    assert "allows 2..12" in run("plan", "--env", "prod", "--instance-count", "us-west-2=13", "--out", str(out)).stderr


def test_instance_count_for_a_region_outside_the_selection_is_refused(tmp_path):
    result = run(
        "plan",
        "--env",
        "dev",
        "--region",
        "us-east-1",
        "--instance-count",
        "us-west-2=3",
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 2
    assert "expected REGION=N with a region of the selected stacks (us-east-1)" in result.stderr


def test_instance_count_within_capacity_is_accepted(default_config):
    from ops.pipeline import instance_counts

    specs = default_config.select("prod")
    assert instance_counts(["us-west-2=12", "us-east-1=2"], default_config, specs) == {"us-west-2": 12, "us-east-1": 2}


# ------------------------------------------------------------------ reading commands leave the synth alone

STAND_IN = """#!{python}
import json, os, sys
from pathlib import Path
with open({log!r}, "a") as log:
    log.write(json.dumps({{"cwd": os.getcwd(), "args": sys.argv[1:]}}) + "\\n")
if sys.argv[1] == "version":
    print(json.dumps({{"terraform_version": "1.11.0"}}))
elif sys.argv[1] == "output":
    assert Path("cdk.tf.json").is_file()
    print(json.dumps({{"asg_name": {{"value": Path.cwd().name + "-web"}}}}))
"""


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_outputs_leave_the_users_synth_as_it_is(tmp_path, monkeypatch):
    """`outputs` (and `smoke`, through the same function) synthesize into a private folder beside
    --out and remove it: the user's synth of other stacks, and a saved plan, stay as they were."""
    out = tmp_path / "cdktf.out"
    (out / "stacks" / "prod-global").mkdir(parents=True)
    (out / "manifest.json").write_text('{"stacks": {"prod-global": {}}}')
    (out / "stacks" / "prod-global" / "cdk.tf.json").write_text("{}")
    (out / "stacks" / "prod-global" / "plan.tfplan").write_text("a reviewed plan")
    before = snapshot(out)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    script = bin_dir / "terraform"
    script.write_text(STAND_IN.format(python=sys.executable, log=str(log)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    result = run("outputs", "--env", "dev", "--region", "us-east-1", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"dev-us-east-1": {"asg_name": "dev-us-east-1-web"}}
    assert snapshot(out) == before, "the user's synth was replaced"
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    folders = {Path(c["cwd"]) for c in calls if c["args"][0] in ("init", "output")}
    assert len(folders) == 1
    (folder,) = folders
    assert folder.parent.parent.parent == tmp_path and folder.parent.parent.name.startswith(".cdktf.out.read-")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".cdktf.out")], "the private folder is removed"


def test_errors_other_than_usage_errors_pass_through_the_one_line_handler(monkeypatch, capsys):
    """The handler that turns Click's usage errors into one line must let every other exception
    through unchanged (Ctrl-C outside Terraform exits 130, as the README says; anything else is itself)."""
    from config import model

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "load", interrupted)
    with pytest.raises(SystemExit) as exited:
        cli(["validate-config"])
    assert exited.value.code == 130 and "Traceback" not in capsys.readouterr().err

    def broken(path):
        raise LookupError("from the command itself")

    monkeypatch.setattr(model, "load", broken)
    with pytest.raises(LookupError, match="from the command itself"):
        cli(["validate-config"])


def test_synth_writes_where_the_cdktf_cli_says(tmp_path, monkeypatch):
    """`cdktf synth --output DIR` runs the app with CDKTF_OUTDIR=DIR and reads DIR/manifest.json."""
    import main
    from stacks import app

    assert main.CDKTF_CLI_OUTDIR == app.CDKTF_CLI_OUTDIR, "one variable name for both sides"
    monkeypatch.chdir(tmp_path)
    cli_out = tmp_path / "other"
    result = CliRunner().invoke(
        cli,
        ["synth", "--env", "dev", "--config", str(ROOT / "config" / "default.toml")],
        env={main.CDKTF_CLI_OUTDIR: str(cli_out)},
    )
    assert result.exit_code == 0, result.output
    assert (cli_out / "manifest.json").is_file() and not (tmp_path / "cdktf.out").exists()


def test_validate_exits_1_naming_each_stack_terraform_found_invalid(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from ops import terraform

    def validate_stacks(config, specs, out_dir):
        found = {s: [] for s in specs}
        found[specs[0]] = [terraform.Diagnostic("error", "Unsupported argument", "", "aws_vpc.network")]
        return SimpleNamespace(chain=SimpleNamespace(describe=lambda: "fake terraform")), found

    monkeypatch.setattr(terraform, "validate_stacks", validate_stacks)
    result = runner.invoke(cli, ["validate", "--env", "dev", "--region", "us-east-1", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "INVALID" in result.stdout
    assert result.stderr.strip() == "error: terraform validate reported errors or warnings in dev-us-east-1"
