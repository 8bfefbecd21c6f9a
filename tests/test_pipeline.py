"""D1: ops/pipeline.py through the CLI: plan, deploy and destroy, driven up to the process boundary.

A `terraform` stand-in on PATH (the conftest's `fake` fixture, no environment variable needed)
records its arguments and working directory and replays canned output; AWS is never called.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support.terraform import DESTROY_DB, invoke


def test_plan_runs_init_plan_show_per_stack(fake, tmp_path):
    result = invoke(tmp_path, "plan", "--env", "dev", "--instance-count", "us-west-2=4")  # dev: 2..4
    assert result.exit_code == 0, result.output
    for stack in ("dev-us-east-1", "dev-us-west-2", "dev-global"):
        assert [step for s, step in fake.steps() if s == stack] == ["init", "plan", "show"]
    assert len(fake.steps()) == 9
    plans = {c["stack"]: c["args"] for c in fake.calls() if c["args"][0] == "plan"}
    assert "-var=instance_count=4" in plans["dev-us-west-2"] and "-out=plan.tfplan" in plans["dev-us-west-2"]
    assert not any(a.startswith("-var") for a in plans["dev-us-east-1"] + plans["dev-global"])
    assert "dev-us-east-1" in result.stdout and "planned" in result.stdout
    assert (tmp_path / "out" / "stacks" / "dev-global" / "plan.json").is_file()


def test_parallel_1_runs_the_stacks_one_after_the_other_in_order(fake, tmp_path):
    result = invoke(tmp_path, "plan", "--env", "dev", "--parallel", "1")
    assert result.exit_code == 0, result.output
    assert fake.steps() == [
        (s, step) for s in ("dev-us-east-1", "dev-us-west-2", "dev-global") for step in ("init", "plan", "show")
    ]


def test_each_stacks_terraform_output_is_in_its_own_log_named_in_the_summary(fake, tmp_path):
    result = invoke(tmp_path, "deploy", "--env", "dev")
    assert result.exit_code == 0, result.output
    logs = tmp_path / "out" / "logs"
    for stack in ("dev-us-east-1", "dev-us-west-2", "dev-global"):
        text = (logs / f"{stack}.log").read_text()
        assert [line for line in text.splitlines() if line.startswith("$ terraform ")] == [
            "$ terraform init -input=false -no-color",
            "$ terraform plan -input=false -no-color -out=plan.tfplan",
            "$ terraform show -json -no-color plan.tfplan",
            "$ terraform apply -input=false -no-color plan.tfplan",
        ]
    assert "applied: dev-us-east-1, dev-us-west-2, dev-global" in result.stdout
    assert f"logs: {logs} (one <stack>.log per stack)" in " ".join(result.stdout.split())


@pytest.mark.parametrize("value", ["0", "-2"])
def test_parallel_below_one_is_a_usage_error(fake, tmp_path, value):
    result = invoke(tmp_path, "deploy", "--env", "dev", "--parallel", value)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --parallel {value}: expected a number of Terraform processes of at least 1"
    assert not fake.steps() and not (tmp_path / "out").exists(), "refused before any work"


def test_parallel_must_be_a_number(fake, tmp_path):
    result = invoke(tmp_path, "plan", "--env", "dev", "--parallel", "many")
    assert result.exit_code == 2 and "Invalid value for '--parallel'" in result.stderr and not fake.steps()


def test_deploy_applies_the_saved_plans(fake, tmp_path):
    result = invoke(tmp_path, "deploy", "--env", "dev", "--region", "us-east-1")
    assert result.exit_code == 0, result.output
    assert fake.steps() == [("dev-us-east-1", s) for s in ("init", "plan", "show", "apply")]
    (apply,) = [c["args"] for c in fake.calls() if c["args"][0] == "apply"]
    assert apply[-1] == "plan.tfplan", "exactly the reviewed plan is applied"


def test_deploy_refuses_destructive_plans_unless_allowed(fake, tmp_path):
    fake.behavior["plans"] = {"dev-us-east-1": DESTROY_DB}
    fake.save()
    refused = invoke(tmp_path, "deploy", "--env", "dev")
    assert refused.exit_code == 3
    assert "deletes or replaces stateful resources" in refused.stderr and "--allow-destroy" in refused.stderr
    assert "refused" in refused.stdout and "aws_db_instance.db" in refused.stdout, "the review is shown"
    assert not [s for s in fake.steps() if s[1] == "apply"]
    allowed = invoke(tmp_path, "deploy", "--env", "dev", "--allow-destroy")
    assert allowed.exit_code == 0, allowed.output
    assert ("dev-us-east-1", "apply") in fake.steps()


def test_a_failure_stops_the_run_and_names_the_stack_and_its_log(fake, tmp_path):
    """dev-us-west-2's plan fails while its primary has changes to apply: it is planned again once
    the primary is applied (a first deploy), and fails again: the edge is never applied."""
    fake.behavior["fail"] = {"dev-us-west-2": {"plan": "Error: Invalid reference in main.tf"}}
    fake.save()
    result = invoke(tmp_path, "deploy", "--env", "dev")
    assert result.exit_code == 1
    log = tmp_path / "out" / "logs" / "dev-us-west-2.log"
    assert f"dev-us-west-2: terraform plan failed: Error: Invalid reference in main.tf (log: {log})" in result.stderr
    assert "Error: Invalid reference in main.tf" in log.read_text()
    assert [s for s in fake.steps() if s == ("dev-us-west-2", "plan")] == [("dev-us-west-2", "plan")] * 2
    assert [s for s in fake.steps() if s[1] == "apply"] == [("dev-us-east-1", "apply")]
    stdout = " ".join(result.stdout.split())
    assert "applied: dev-us-east-1" in stdout and f"failed: dev-us-west-2 (log: {log})" in stdout
    assert "not started: dev-global" in stdout
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("behavior", "message"),
    [
        ({"version": "1.9.8"}, "Terraform 1.9.8 is too old"),
        (
            {"fail": {"dev-us-east-1": {"init": "Error: Failed to query available provider packages"}}},
            "could not install the AWS provider hashicorp/aws 5.100.0",
        ),
        ({"fail": {"dev-us-east-1": {"plan": "Error: No valid credential sources found"}}}, "AWS credentials"),
    ],
)
def test_machine_problems_are_one_actionable_line_and_exit_2(fake, tmp_path, behavior, message):
    fake.behavior.update(behavior)
    fake.save()
    result = invoke(tmp_path, "plan", "--env", "dev")
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_terraform_is_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    result = invoke(tmp_path, "plan", "--env", "dev")
    assert result.exit_code == 2 and "Terraform was not found" in result.stderr


def test_destroy_goes_edge_first_with_destroy_plans(fake, tmp_path):
    assert invoke(tmp_path, "destroy", "--env", "all").exit_code == 2
    fake.behavior["default_plan"] = {
        "format_version": "1.2",
        "resource_changes": [{"address": "aws_vpc.network", "type": "aws_vpc", "change": {"actions": ["delete"]}}],
    }
    fake.save()
    result = invoke(tmp_path, "destroy", "--env", "dev")
    assert result.exit_code == 0, result.output
    assert [s for s, step in fake.steps() if step == "apply"] == ["dev-global", "dev-us-west-2", "dev-us-east-1"]
    assert all("-destroy" in c["args"] for c in fake.calls() if c["args"][0] == "plan")


def test_bad_instance_count_is_a_usage_error(fake, tmp_path):
    result = invoke(tmp_path, "plan", "--env", "dev", "--instance-count", "mars-1=3")
    assert result.exit_code == 2 and "REGION=N" in result.stderr


def test_a_destructive_plan_exits_3_naming_its_stack(fake, tmp_path):
    """`plan` shows every stack's review, then refuses (config/errors.py's Refused carries the 3)."""
    fake.behavior["plans"] = {"dev-us-east-1": DESTROY_DB}
    fake.save()
    result = invoke(tmp_path, "plan", "--env", "dev")
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        "error: dev-us-east-1: the plan deletes or replaces stateful resources "
        "(deploy refuses it without --allow-destroy)"
    )
    assert "aws_db_instance.db" in result.stdout and not [s for s in fake.steps() if s[1] == "apply"]


def test_the_resume_command_spells_out_every_option_given_and_the_resolved_parallel():
    from ops.pipeline import Action, resume_command

    assert resume_command(
        Action.DEPLOY, "dev", "us-east-1", Path("my config.toml"), Path("out"), ["us-east-1=3"], True, 4
    ) == (
        "python main.py deploy --env dev --region us-east-1 --config 'my config.toml' --out out "
        "--instance-count us-east-1=3 --allow-destroy --parallel 4"
    )
    assert resume_command(Action.PLAN, "all", None, None, Path("cdktf.out"), None, False, 2) == (
        "python main.py plan --env all --out cdktf.out --parallel 2"
    )
