"""ops/drift.py and `main.py drift`: resources changed outside Terraform, from a refresh-only plan.

- Real Terraform against moto (server mode, over HTTP as AWS would be): a small stack (S3 bucket
  with tags, SNS topic, security group) deployed and checked through the same ops code `drift`
  runs (ops.terraform init/plan/apply, then ops.drift.check); boto3 then changes one bucket tag
  and deletes the topic behind Terraform's back, and drift names exactly those: the address and
  attribute paths, "deleted outside Terraform", the untouched group not at all. Before that, the
  clean deployment reports no drift (verdict: exit 0).
- The CLI with a `terraform` stand-in (conftest `fake`): the arguments of the refresh-only plan
  (its own plan file, no lock), the table, exit 4 for drift, exit 1 when a stack's check fails
  (the other stacks are still checked), --json.
- The parsing: nested attributes, nested blocks by index, sensitive values never shown,
  malformed plans rejected with one line.
The full platform's drift, with a real deployment and a boto3 change, runs in e2e/run.py.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import boto3
import pytest
from support.terraform import invoke

from config import model
from config.errors import DriftFound, OperationFailed, PlatformError
from ops import drift, review
from ops import terraform as tf

REGION = "us-east-1"
BUCKET = "drift-probe-logs"
TOPIC = "drift-probe-alerts"


# ------------------------------------------------------------------ real Terraform against moto

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def probe_stack(state: Path) -> dict:
    """Terraform JSON of a small stack, as synth writes one (cdk.tf.json): local state outside it."""
    return {
        "terraform": {
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": tf.toolchain.PROVIDER_VERSION}},
            "backend": {"local": {"path": str(state)}},
        },
        "provider": {"aws": [{"region": REGION}]},
        "resource": {
            "aws_s3_bucket": {"logs": {"bucket": BUCKET, "tags": {"team": "web", "tier": "logs"}}},
            # Fills the bucket's computed `policy` after the bucket is created: refresh reports it,
            # drift must not (the code does not set the bucket's own `policy`).
            "aws_s3_bucket_policy": {"logs": {"bucket": "${aws_s3_bucket.logs.id}", "policy": json.dumps(POLICY)}},
            "aws_sns_topic": {"alerts": {"name": TOPIC}},
            "aws_security_group": {"web": {"name": "drift-probe-web", "description": "web", "tags": {"team": "web"}}},
        },
    }


@pytest.fixture
def deployed(tmp_path, moto_endpoint, monkeypatch):
    """The probe stack applied to moto with the ops code `deploy` uses; yields the runner."""
    for key, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    folder = tmp_path / "out" / "stacks" / "probe"
    folder.mkdir(parents=True)
    (folder / "cdk.tf.json").write_text(json.dumps(probe_stack(tmp_path / "probe.tfstate")))
    runner = tf.Terraform(tmp_path / "out")
    runner.init("probe")
    runner.plan("probe")
    runner.apply("probe")
    yield runner
    runner.plan("probe", destroy=True)  # leave the shared moto server as we found it
    runner.apply("probe")


def test_drift_finds_exactly_what_changed_behind_terraforms_back(deployed):
    (clean,) = drift.check(["probe"], deployed)
    assert clean.status is drift.Status.CLEAN and clean.resources == []
    refreshed = {e["address"]: e["change"] for e in json.loads(clean.plan_json.read_text())["resource_drift"]}
    bucket_refresh = drift.attribute_changes(
        refreshed["aws_s3_bucket.logs"]["before"], refreshed["aws_s3_bucket.logs"]["after"]
    )
    assert "policy" in [c.path for c in bucket_refresh], "Terraform reports the policy another resource set"
    drift.verdict([clean])  # no drift, nothing failed: returns, so the CLI exits 0
    assert clean.plan_json.name == tf.DRIFT_JSON and not (clean.plan_json.parent / tf.PLAN_JSON).exists()

    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_tagging(
        Bucket=BUCKET, Tagging={"TagSet": [{"Key": "team", "Value": "ops"}, {"Key": "tier", "Value": "logs"}]}
    )
    sns = boto3.client("sns", region_name=REGION)
    (topic,) = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(f":{TOPIC}")]
    sns.delete_topic(TopicArn=topic)

    (result,) = drift.check(["probe"], deployed)
    assert result.status is drift.Status.DRIFTED
    found = {r.address: r for r in result.resources}
    assert set(found) == {"aws_s3_bucket.logs", "aws_sns_topic.alerts"}, "the untouched security group is not listed"
    bucket = found["aws_s3_bucket.logs"]
    assert bucket.action == "update"
    assert [(c.path, c.before, c.after) for c in bucket.changes] == [
        ("tags.team", "web", "ops"),
        ("tags_all.team", "web", "ops"),
    ]
    assert found["aws_sns_topic.alerts"].action == "delete"
    rows = drift.rows([result])
    assert ["probe", "aws_s3_bucket.logs", 'tags.team: "web" -> "ops"; tags_all.team: "web" -> "ops"'] in rows
    assert ["probe", "aws_sns_topic.alerts", drift.DELETED] in rows
    with pytest.raises(DriftFound, match=r"2 resource\(s\) changed outside Terraform in probe") as raised:
        drift.verdict([result])
    assert raised.value.exit_code == 4
    state = json.loads((deployed.out_dir.parent / "probe.tfstate").read_text())
    assert any(r["type"] == "aws_sns_topic" for r in state["resources"]), "drift wrote no state"


# ------------------------------------------------------------------ the CLI, Terraform stood in

DRIFTED_PLAN = {
    "format_version": "1.2",
    "resource_drift": [
        {
            "address": "aws_autoscaling_group.web",
            "type": "aws_autoscaling_group",
            "change": {"actions": ["update"], "before": {"max_size": 4}, "after": {"max_size": 6}},
        },
        {
            "address": "aws_sns_topic.alerts",
            "type": "aws_sns_topic",
            "change": {"actions": ["delete"], "before": {"name": "alerts"}, "after": None},
        },
    ],
}
CLEAN_PLAN = {"format_version": "1.2"}


def test_cli_runs_a_refresh_only_plan_per_stack_and_exits_4_on_drift(fake, tmp_path):
    fake.behavior.update(default_plan=CLEAN_PLAN, plans={"dev-us-west-2": DRIFTED_PLAN})
    fake.save()
    result = invoke(tmp_path, "drift", "--env", "dev")
    assert result.exit_code == 4, result.output
    assert [s for s in fake.steps()] == [
        (s, step) for s in ("dev-us-east-1", "dev-us-west-2", "dev-global") for step in ("init", "plan", "show")
    ]
    for args in (c["args"] for c in fake.calls() if c["args"][0] == "plan"):
        assert {"-refresh-only", "-lock=false", f"-out={tf.DRIFT_PLAN}"} <= set(args)
    for args in (c["args"] for c in fake.calls() if c["args"][0] == "show"):
        assert args[-1] == tf.DRIFT_PLAN
    out = " ".join(result.stdout.split())
    assert "aws_autoscaling_group.web" in out and "max_size: 4 -> 6" in out
    assert "aws_sns_topic.alerts" in out and drift.DELETED in out
    assert "dev-us-east-1 │ - │ no drift" in out and "dev-global │ - │ no drift" in out
    assert result.stderr.strip().splitlines()[-1].startswith("error: drift found: 2 resource(s)")
    assert "Traceback" not in result.output


def test_cli_exits_0_without_drift_and_1_when_a_stack_fails(fake, tmp_path):
    fake.behavior["default_plan"] = CLEAN_PLAN
    fake.save()
    clean = invoke(tmp_path, "drift", "--env", "dev")
    assert clean.exit_code == 0, clean.output
    assert "error" not in clean.stderr

    fake.behavior.update(
        plans={"dev-global": DRIFTED_PLAN}, fail={"dev-us-east-1": {"plan": "Error: reading S3 Bucket: timeout"}}
    )
    fake.save()
    failed = invoke(tmp_path, "drift", "--env", "dev")
    assert failed.exit_code == 1, failed.output
    assert ("dev-global", "show") in fake.steps(), "the stacks after a failed one are still checked"
    assert "error: dev-us-east-1: terraform plan failed: Error: reading S3 Bucket: timeout" in failed.stderr
    assert "failed for 1 of 3 stack(s); drift found in the others: 2 resource(s)" in failed.stderr
    assert "check failed" in failed.stdout and "aws_autoscaling_group.web" in failed.stdout


def test_cli_json_lists_every_stack_and_change(fake, tmp_path):
    fake.behavior.update(default_plan=CLEAN_PLAN, plans={"dev-us-west-2": DRIFTED_PLAN})
    fake.save()
    result = invoke(tmp_path, "drift", "--env", "dev", "--region", "us-west-2", "--json")
    assert result.exit_code == 4
    report = json.loads(result.stdout)
    assert report["drift_found"] is True and report["failed"] == []
    (stack,) = report["stacks"]
    assert stack["stack"] == "dev-us-west-2" and stack["status"] == "drifted"
    assert stack["resources"][0]["changes"] == [{"path": "max_size", "before": 4, "after": 6}]
    assert stack["resources"][1] == {
        "address": "aws_sns_topic.alerts",
        "type": "aws_sns_topic",
        "action": "delete",
        "changes": [],
    }


def test_cli_bad_input_is_one_line_and_exit_2(fake, tmp_path):
    result = invoke(tmp_path, "drift", "--env", "qa")
    assert result.exit_code == 2 and result.stderr.startswith("error: unknown environment 'qa'")
    assert fake.steps() == []


def test_an_unreadable_refresh_plan_is_one_line(fake, tmp_path):
    fake.behavior["default_plan"] = {"format_version": "1.2", "resource_drift": [{"address": "x"}]}
    fake.save()
    result = invoke(tmp_path, "drift", "--env", "dev", "--region", "us-east-1")
    assert result.exit_code == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == "error: dev-us-east-1: malformed resource_drift entry: {'address': 'x'}"
    )
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ parsing


def test_attribute_paths_reach_nested_attributes_and_blocks():
    before = {"tags": {"a": "1"}, "ingress": [{"cidr_blocks": ["10.0.0.0/8"], "from_port": 443}], "name": "x"}
    after = {"tags": {"a": "2", "b": "3"}, "ingress": [{"cidr_blocks": ["0.0.0.0/0"], "from_port": 443}], "name": "x"}
    assert [(c.path, c.before, c.after) for c in drift.attribute_changes(before, after)] == [
        ("ingress[0].cidr_blocks", ["10.0.0.0/8"], ["0.0.0.0/0"]),
        ("tags.a", "1", "2"),
        ("tags.b", None, "3"),
    ]


def test_null_and_empty_are_the_same_unset_value():
    """The provider reads an unset `tags` back as {} (moto and AWS alike): not drift. An empty
    string stays a value."""
    assert drift.attribute_changes({"tags": None, "rules": [], "x": None}, {"tags": {}, "rules": None, "x": ""}) == [
        drift.AttributeChange("x", None, "")
    ]


def test_only_attributes_the_code_sets_count():
    """A refresh reports computed attributes other resources fill in (a bucket's policy); only the
    ones the configuration sets, and tags_all (default tags), are drift."""
    plan = {
        "configuration": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_s3_bucket.b",
                        "mode": "managed",
                        "type": "aws_s3_bucket",
                        "name": "b",
                        "expressions": {"bucket": {}, "tags": {}},
                    },
                    {
                        "address": "aws_iam_role.r",
                        "mode": "managed",
                        "type": "aws_iam_role",
                        "name": "r",
                        "expressions": {"name": {}},
                    },
                ]
            }
        },
        "resource_drift": [
            {
                "address": "aws_s3_bucket.b",
                "type": "aws_s3_bucket",
                "name": "b",
                "change": {
                    "actions": ["update"],
                    "before": {"policy": "", "tags": {"a": "1"}, "tags_all": {"a": "1", "env": "dev"}},
                    "after": {"policy": "{}", "tags": {"a": "2"}, "tags_all": {"a": "2", "env": "prod"}},
                },
            },
            {
                "address": "aws_iam_role.r",
                "type": "aws_iam_role",
                "name": "r",
                "change": {
                    "actions": ["update"],
                    "before": {"managed_policy_arns": []},
                    "after": {"managed_policy_arns": ["arn:aws:iam::aws:policy/X"]},
                },
            },
        ],
    }
    (bucket,) = drift.parse(plan)
    assert [c.path for c in bucket.changes] == ["tags.a", "tags_all.a", "tags_all.env"]


def test_blocks_of_another_length_are_compared_whole():
    changes = drift.attribute_changes({"rule": [{"p": 1}]}, {"rule": [{"p": 1}, {"p": 2}]})
    assert [(c.path, c.before, c.after) for c in changes] == [("rule", [{"p": 1}], [{"p": 1}, {"p": 2}])]


def test_sensitive_values_are_never_shown():
    plan = {
        "resource_drift": [
            {
                "address": "aws_db_instance.db",
                "type": "aws_db_instance",
                "change": {
                    "actions": ["update"],
                    "before": {"password": "old-secret", "nested": [{"token": "t1"}], "port": 5432},
                    "after": {"password": "new-secret", "nested": [{"token": "t2"}], "port": 5433},
                    "before_sensitive": {"password": True, "nested": [{"token": True}]},
                    "after_sensitive": {"password": True, "nested": [{"token": True}]},
                },
            }
        ]
    }
    (resource,) = drift.parse(plan)
    text = resource.describe() + json.dumps(drift.as_dict([drift.StackDrift("s", resources=[resource])]))
    assert "secret" not in text and "t1" not in text and "t2" not in text
    assert resource.describe() == (
        "nested[0].token: (sensitive) -> (sensitive); password: (sensitive) -> (sensitive); port: 5432 -> 5433"
    )


def test_long_values_and_many_changes_are_shortened_in_the_table():
    before = {f"k{i}": "v" * 60 for i in range(8)}
    after = {f"k{i}": "w" * 60 for i in range(8)}
    resource = drift.DriftedResource("a.b", "a", "update", tuple(drift.attribute_changes(before, after)))
    text = resource.describe()
    assert text.count("->") == drift.SHOWN_CHANGES and text.endswith("+2 more (--json lists them)")
    first = text.split("; ")[0]
    assert first == f'k0: "{"v" * 38}… -> "{"w" * 38}…'


def test_no_op_read_and_unset_only_entries_are_not_drift():
    plan = {
        "resource_drift": [
            {
                "address": "a.z",
                "type": "a",
                "change": {"actions": ["update"], "before": {"tags": None}, "after": {"tags": {}}},
            },
            {"address": "a.x", "type": "a", "change": {"actions": ["no-op"], "before": {}, "after": {}}},
            {"address": "data.a.y", "type": "a", "change": {"actions": ["read"], "before": None, "after": {}}},
        ]
    }
    assert drift.parse(plan) == []


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ({"resource_drift": {"a": 1}}, "resource_drift is not a list"),
        ({"resource_drift": [{"address": "a.b", "type": "a"}]}, "malformed resource_drift entry"),
    ],
)
def test_malformed_drift_is_a_plan_error(plan, message):
    with pytest.raises(review.PlanError, match=message) as raised:
        drift.parse(plan)
    assert raised.value.exit_code == 2


def test_a_failed_stack_outranks_drift():
    results = [
        drift.StackDrift("a", drift.Status.FAILED, error="terraform plan failed: Error: x"),
        drift.StackDrift("b", drift.Status.DRIFTED, [drift.DriftedResource("c.d", "c", "delete")]),
    ]
    with pytest.raises(OperationFailed) as raised:
        drift.verdict(results)
    assert raised.value.exit_code == 1
    assert raised.value.problems[0] == "a: terraform plan failed: Error: x"


# ------------------------------------------------------------------ the example workflow

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "drift.yml"


def step_script(step_id: str) -> str:
    """The `run: |` block of the workflow step with `id: step_id`, dedented."""
    lines = WORKFLOW.read_text().splitlines()
    start = lines.index(f"        id: {step_id}")
    begin = next(i for i in range(start, len(lines)) if lines[i].strip() == "run: |") + 1
    body = []
    for line in lines[begin:]:
        if line.strip() and not line.startswith(" " * 10):
            break
        body.append(line[10:])
    return "\n".join(body)


@pytest.mark.parametrize("code", [0, DriftFound.exit_code, 1])
def test_the_workflows_drift_step_records_the_exit_code_and_the_verdict(tmp_path, code):
    """The step's shell, run with `main.py drift` stood in: it never stops the job itself, records
    the exit code for the later steps, and keeps the table plus the verdict line for the issue."""
    import subprocess

    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        f"#!/bin/sh\necho 'table row'\necho 'dev-us-east-1: init' >&2\necho 'error: verdict' >&2\nexit {code}\n"
    )
    python.chmod(0o755)
    output = tmp_path / "github_output"
    done = subprocess.run(
        ["bash", "-e", "-c", step_script("drift")],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "ENV_NAME": "dev", "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert output.read_text() == f"code={code}\n"
    assert (tmp_path / "drift.txt").read_text() == "table row\nerror: verdict\n"
    text = WORKFLOW.read_text()
    assert f"steps.drift.outputs.code == '{DriftFound.exit_code}'" in text, "the issue opens on DriftFound's code"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_ends_the_run_with_128_plus_the_signal(tmp_path, monkeypatch, sig, code):
    """Terraform stopped by SIGINT/SIGTERM (ops.terraform forwards it): one line, nothing to resume."""
    from stacks import app

    def interrupted(stacks, terraform, progress=None):
        raise tf.Interrupted("dev-us-east-1", "plan", True, [sig], False)

    monkeypatch.setattr(app, "synth", lambda config, specs, out_dir: None)
    monkeypatch.setattr(drift, "check", interrupted)
    config = model.load()
    with pytest.raises(PlatformError) as raised:
        drift.run(config, config.select("dev", "us-east-1"), tmp_path / "out", tf.Terraform(tmp_path / "out"))
    assert raised.value.exit_code == code
    assert raised.value.lines() == [
        f"error: interrupted by {sig.name} during terraform plan of dev-us-east-1; "
        "drift changes nothing in AWS or in the state: run it again"
    ]
