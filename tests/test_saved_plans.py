"""Saved-plan bundles (ops/saved_plans.py; `plan --bundle`, `apply --plans`).

Proves, with real Terraform against the moto server and the S3 backend with its lock file: a plan
saved in one checkout folder is applied from a copy of its bundle in another folder, and its
resources exist afterwards, while a tampered copy is refused (exit 2); a bundle whose stack's
state moved since the plan is refused with exit 5 before anything is applied; the lock file stays
as planned. With the recording `terraform`
stand-in: the apply order (every stack initialised and checked, then applied by wave); a changed,
missing or extra file, another environment's bundle, another Terraform version and an unreadable
manifest are refused with exit 2 before Terraform runs; a destructive saved plan needs
--allow-destroy; Terraform's own "Saved plan is stale" is exit 5 naming what was applied before;
`plan --bundle` writes the bundle after a plan.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from support.small_stack import STACK, write_stack
from support.terraform import DESTROY_DB, invoke
from typer.testing import CliRunner

from config import model
from config.errors import StalePlan
from config.facts import StackRole
from config.model import StackSpec
from main import cli
from ops import saved_plans
from ops import terraform as tf

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- real Terraform, moto, S3 backend


@pytest.fixture
def aws(moto_endpoint, monkeypatch, tmp_path_factory, request):
    """Credentials for moto, one provider cache for the session, and a state bucket of this test's own."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    cache = Path(str(tmp_path_factory.getbasetemp())) / "saved-plans-plugin-cache"
    cache.mkdir(exist_ok=True)
    monkeypatch.setenv("TF_PLUGIN_CACHE_DIR", str(cache))
    bucket = f"state-{request.node.name.replace('_', '-')[:40].strip('-').lower()}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return moto_endpoint, bucket


def plan_in(checkout: Path, endpoint: str, bucket: str, parameters: list[str]) -> Path:
    """What the plan job does for one stack (ops.pipeline's init, plan, show), then `plan --bundle`'s save."""
    out = checkout / "cdktf.out"
    write_stack(out, endpoint, bucket, parameters)
    runner = tf.Terraform(out)
    runner.init(STACK)
    runner.plan(STACK)
    runner.show_json(STACK)
    spec = StackSpec(STACK, "dev", "us-east-1", StackRole.PRIMARY, "123456789012")  # moto's default account
    saved_plans.save([spec], out, checkout / "plans")
    return checkout / "plans"


def parameters(endpoint: str, bucket: str) -> list[str]:
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")
    found = ssm.get_parameters_by_path(Path=f"/{bucket}")["Parameters"]
    return sorted(p["Name"].rsplit("/", 1)[1] for p in found)


def apply_cli(plans: Path, *extra: str):
    return CliRunner().invoke(cli, ["apply", "--env", "dev", "--plans", str(plans), *extra])


def test_a_saved_plan_is_applied_from_another_checkout(aws, tmp_path):
    endpoint, bucket = aws
    bundle = plan_in(tmp_path / "plan-job", endpoint, bucket, ["alpha", "beta"])
    deploy_copy = tmp_path / "elsewhere" / "deploy-job" / "plans"
    shutil.copytree(bundle, deploy_copy)  # the artifact, downloaded into a fresh checkout
    shutil.rmtree(tmp_path / "plan-job")  # nothing of the plan job's folder is needed
    lock = (deploy_copy / "stacks" / STACK / tf.LOCK_FILE).read_text()
    tampered = tmp_path / "tampered" / "plans"
    shutil.copytree(deploy_copy, tampered)
    stack_json = tampered / "stacks" / STACK / "cdk.tf.json"
    stack_json.write_text(stack_json.read_text().replace('"value": "alpha"', '"value": "changed"'))

    refused = apply_cli(tampered)
    assert refused.exit_code == 2
    assert f"error: {stack_json}: changed since the plan (checksum differs)" in refused.stderr
    assert parameters(endpoint, bucket) == []

    # As the deploy job runs it: a real process, in the other checkout, with a relative --plans.
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "apply", "--env", "dev", "--plans", "plans"],
        cwd=deploy_copy.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert parameters(endpoint, bucket) == ["alpha", "beta"]
    assert f"{STACK}: apply" in result.stdout and "applied" in result.stdout
    assert (deploy_copy / "stacks" / STACK / tf.LOCK_FILE).read_text() == lock  # -lockfile=readonly


def test_a_plan_whose_state_moved_is_refused_before_anything_is_applied(aws, tmp_path):
    endpoint, bucket = aws
    first = plan_in(tmp_path / "pipeline-1", endpoint, bucket, ["alpha"])
    second = plan_in(tmp_path / "pipeline-2", endpoint, bucket, ["alpha", "gamma"])  # planned from the same state
    assert apply_cli(first).exit_code == 0

    result = apply_cli(second)

    assert result.exit_code == StalePlan.exit_code == 5
    assert result.stderr.startswith(f"error: {STACK}: the saved plan is stale")
    assert "nothing was applied" in result.stderr and "re-run the plan job" in result.stderr
    assert parameters(endpoint, bucket) == ["alpha"]  # gamma was not created


# ------------------------------------------------------ the recording stand-in: order and refusals


def fake_bundle(tmp_path: Path, default_config, version: str = "1.11.0", plan: dict | None = None) -> Path:
    """A bundle of dev's three stacks as the stand-in plans them (saved plans without prior state)."""
    out = tmp_path / "out"
    specs = default_config.select("dev")
    for spec in specs:
        folder = out / "stacks" / spec.name
        (folder / "assets" / "lambda").mkdir(parents=True)
        (folder / "assets" / "lambda" / "archive.zip").write_bytes(b"zip of the handler")
        backend = {"s3": {"bucket": "platform-state", "key": f"{spec.name}.tfstate", "use_lockfile": True}}
        (folder / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": backend}, "resource": {}}))
        (folder / tf.LOCK_FILE).write_text('provider "registry.terraform.io/hashicorp/aws" {}\n')
        (folder / tf.PLAN_JSON).write_text(json.dumps(plan or {"format_version": "1.2", "resource_changes": []}))
        with zipfile.ZipFile(folder / tf.PLAN_FILE, "w") as archive:
            archive.writestr("tfplan", "the plan")
        (folder / ".terraform").mkdir()  # init's folder: not bundled
        (folder / ".terraform" / "terraform.tfstate").write_text("{}")
    saved_plans.write(saved_plans.stacks_of(list(reversed(specs))), out, tmp_path / "plans", version)
    return tmp_path / "plans"


def test_apply_checks_every_stack_then_applies_by_wave(fake, tmp_path, default_config):
    bundle = fake_bundle(tmp_path, default_config)
    manifest = json.loads((bundle / saved_plans.MANIFEST).read_text())
    assert [(s["name"], s["wave"]) for s in manifest["stacks"]] == [
        ("dev-us-east-1", 0),
        ("dev-us-west-2", 1),
        ("dev-global", 2),
    ]
    assert sorted(manifest["stacks"][0]["files"]) == [
        tf.LOCK_FILE,
        "assets/lambda/archive.zip",
        "cdk.tf.json",
        tf.PLAN_JSON,
        tf.PLAN_FILE,
    ]
    assert manifest["terraform_version"] == "1.11.0"

    result = apply_cli(bundle)

    assert result.exit_code == 0, result.output
    order = [s.name for s in default_config.select("dev")]
    assert fake.steps() == [
        *((name, step) for name in order for step in ("init", "state")),
        *((name, "apply") for name in order),
    ]
    inits = [c["args"] for c in fake.calls() if c["args"][0] == "init"]
    assert all("-lockfile=readonly" in args for args in inits)
    applies = [c["args"] for c in fake.calls() if c["args"][0] == "apply"]
    assert all(args[-1] == tf.PLAN_FILE for args in applies)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda s: (s / "cdk.tf.json").write_text("{}"), "cdk.tf.json: changed since the plan (checksum differs)"),
        (lambda s: (s / tf.LOCK_FILE).unlink(), f"{tf.LOCK_FILE}: missing"),
        (lambda s: (s / "extra.tf.json").write_text("{}"), "extra.tf.json: not in the manifest"),
        (lambda s: (s / "assets" / "lambda" / "archive.zip").write_bytes(b"other"), "archive.zip: changed"),
        (lambda s: shutil.rmtree(s), "cdk.tf.json: missing"),
    ],
    ids=["changed", "lock-missing", "extra-file", "asset-changed", "stack-missing"],
)
def test_a_changed_bundle_is_refused_before_terraform_runs(fake, tmp_path, default_config, damage, message):
    bundle = fake_bundle(tmp_path, default_config)
    damage(bundle / "stacks" / "dev-us-west-2")

    result = apply_cli(bundle)

    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.splitlines()[-1] == ("error: nothing was applied: re-run the plan job and apply its bundle")
    assert fake.steps() == []


def test_a_foreign_or_unreadable_bundle_is_refused(fake, tmp_path, default_config):
    bundle = fake_bundle(tmp_path, default_config)
    other = CliRunner().invoke(cli, ["apply", "--env", "prod", "--plans", str(bundle)])
    assert other.exit_code == 2 and "holds the plans of dev, not prod" in other.stderr

    fake.behavior["version"] = "1.11.5"
    fake.save()
    newer = apply_cli(bundle)
    assert newer.exit_code == 2
    assert "made with Terraform 1.11.0 and this is 1.11.5" in newer.stderr

    (bundle / saved_plans.MANIFEST).write_text("not json")
    unreadable = apply_cli(bundle)
    assert unreadable.exit_code == 2 and "is not a plan bundle manifest" in unreadable.stderr

    missing = apply_cli(tmp_path / "nowhere")
    assert missing.exit_code == 2 and "manifest.json not found" in missing.stderr
    assert [s for s in fake.steps()] == []


def test_a_destructive_saved_plan_needs_allow_destroy(fake, tmp_path, default_config):
    bundle = fake_bundle(tmp_path, default_config, plan=DESTROY_DB)

    refused = apply_cli(bundle)
    assert refused.exit_code == 3
    assert "the saved plan deletes or replaces stateful resources; nothing was applied" in refused.stderr
    assert fake.steps() == []

    assert apply_cli(bundle, "--allow-destroy").exit_code == 0
    assert [step for _, step in fake.steps()].count("apply") == 3


def test_terraforms_own_stale_plan_error_is_exit_5_naming_what_was_applied(fake, tmp_path, default_config):
    bundle = fake_bundle(tmp_path, default_config)
    fake.behavior["fail"] = {"dev-us-west-2": {"apply": "Error: Saved plan is stale"}}
    fake.save()

    result = apply_cli(bundle)

    assert result.exit_code == 5
    assert result.stderr == (
        "error: dev-us-west-2: the saved plan is stale: the stack's state changed after the plan was made "
        "(another apply ran since); applied before it: dev-us-east-1; re-run the plan job for this environment, "
        "review and apply the new plan\n"
    )
    assert ("dev-global", "apply") not in fake.steps()


def test_another_failure_names_what_was_applied(fake, tmp_path, default_config):
    bundle = fake_bundle(tmp_path, default_config)
    fake.behavior["fail"] = {"dev-us-west-2": {"apply": "Error: creating EC2 Instance: boom"}}
    fake.save()

    result = apply_cli(bundle)

    assert result.exit_code == 1
    assert "dev-us-west-2: terraform apply failed: Error: creating EC2 Instance: boom" in result.stderr
    assert "applied before it: dev-us-east-1; the stacks after it were not touched" in result.stderr


def test_plan_bundle_writes_the_bundle_after_the_plan(fake, tmp_path):
    locks = tmp_path / tf.LOCKS_DIR  # the stand-in records no lock file; a real init would
    locks.mkdir()
    (locks / f"dev-us-east-1{tf.LOCK_FILE}").write_text('provider "registry.terraform.io/hashicorp/aws" {}\n')
    s3 = tmp_path / "s3.toml"
    s3.write_text(
        model.DEFAULT_CONFIG.read_text()
        + '\n[state]\nbackend = "s3"\nbucket = "platform-state"\nregion = "us-east-1"\n'
    )
    local = invoke(tmp_path, "plan", "--env", "dev", "--region", "us-east-1", "--bundle", str(tmp_path / "plans"))
    assert local.exit_code == 2
    assert "dev-us-east-1: its state is local, not S3; saved plans are applied on another machine" in local.stderr
    assert not (tmp_path / "plans").exists()

    result = invoke(
        tmp_path,
        "plan",
        "--env",
        "dev",
        "--region",
        "us-east-1",
        "--config",
        str(s3),
        "--bundle",
        str(tmp_path / "plans"),
    )

    assert result.exit_code == 0, result.output
    manifest = saved_plans.read(tmp_path / "plans")
    assert [s.name for s in manifest.stacks] == ["dev-us-east-1"]
    files = manifest.files["dev-us-east-1"]
    assert {"cdk.tf.json", tf.PLAN_FILE, tf.PLAN_JSON, tf.LOCK_FILE} <= set(files)
    assert not any(name.startswith(".terraform/") for name in files)
    assert any(name.startswith("assets/") and name.endswith("archive.zip") for name in files)  # the Lambda's code

    every = invoke(tmp_path, "plan", "--env", "all", "--bundle", str(tmp_path / "plans"))
    assert every.exit_code == 2 and "one environment at a time" in every.stderr


def test_the_bundle_folder_is_never_one_with_other_data(tmp_path, default_config):
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    with pytest.raises(saved_plans.BundleInvalid, match="is not a plan bundle"):
        saved_plans.write(saved_plans.stacks_of(default_config.select("dev")), tmp_path / "out", keep, "1.11.4")
    assert (keep / "notes.txt").read_text() == "mine"
    with pytest.raises(saved_plans.BundleInvalid, match="run plan for this stack first"):
        saved_plans.write(saved_plans.stacks_of(default_config.select("dev")), tmp_path / "out", tmp_path / "b", "1")


# ------------------------------------------------------------------------------ the CI workflow

WORKFLOW = ROOT / ".github" / "workflows" / "platform.yml"


def workflow_runs(job: dict) -> list[list[str]]:
    """The `main.py` command lines of a job's steps, as argument lists."""
    import shlex

    lines = [step["run"] for step in job["steps"] if "main.py" in step.get("run", "")]
    return [shlex.split(line.split("main.py", 1)[1]) for line in lines]


def test_the_workflow_applies_the_plan_jobs_bundle_and_never_replans():
    import yaml

    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    plan, deploy = jobs["plan"], jobs["deploy"]
    assert plan["strategy"]["matrix"]["env"] == deploy["strategy"]["matrix"]["env"]
    assert deploy["needs"] == "plan" and deploy["environment"] == "${{ matrix.env }}"
    assert deploy["concurrency"] == {"group": "deploy-${{ matrix.env }}", "cancel-in-progress": False}
    # GitHub cancels the older pending job of a group: a pull request's plan must not cancel main's
    assert "${{ github.ref }}" in plan["concurrency"]["group"] and plan["concurrency"]["cancel-in-progress"] is False

    (planned,) = [r for r in workflow_runs(plan) if r[0] == "plan"]
    assert planned[planned.index("--bundle") + 1] == "plans"
    upload = next(s for s in plan["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    download = next(s for s in deploy["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert upload["with"]["name"] == download["with"]["name"] == "plans-${{ matrix.env }}"
    assert upload["with"]["path"].rstrip("/") == download["with"]["path"] == "plans"
    assert upload["with"]["include-hidden-files"] is True  # the lock files start with a dot

    commands = [r[0] for r in workflow_runs(deploy)]
    assert commands == ["apply", "smoke"]  # no plan, no deploy: what was reviewed is what is applied
    (applied,) = [r for r in workflow_runs(deploy) if r[0] == "apply"]
    assert applied[applied.index("--plans") + 1] == "plans"


def test_every_option_the_workflow_passes_exists():
    import typer.main
    import yaml

    group = typer.main.get_command(cli)
    for job in yaml.safe_load(WORKFLOW.read_text())["jobs"].values():
        for command, *args in workflow_runs(job):
            known = {opt for p in group.commands[command].params for opt in p.opts}
            assert {a for a in args if a.startswith("--")} <= known, (command, args)


def test_an_interrupted_apply_names_what_was_applied_and_exits_128_plus_the_signal(
    fake, tmp_path, default_config, monkeypatch
):
    import signal

    bundle = fake_bundle(tmp_path, default_config)
    real_apply = tf.Terraform.apply

    def apply(self, stack):
        if stack == "dev-us-west-2":
            raise tf.Interrupted(stack, "apply", True, [signal.SIGTERM], False)
        real_apply(self, stack)

    monkeypatch.setattr(tf.Terraform, "apply", apply)

    result = apply_cli(bundle)

    assert result.exit_code == 143
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        "error: interrupted by SIGTERM during terraform apply of dev-us-west-2",
        "error: applied: dev-us-east-1",
    ]
    assert "re-run the plan job" in lines[2]
    assert ("dev-global", "apply") not in fake.steps()


def test_a_bundle_with_local_state_is_refused(fake, tmp_path, default_config):
    bundle = fake_bundle(tmp_path, default_config)
    stack_json = bundle / "stacks" / "dev-global" / "cdk.tf.json"
    stack_json.write_text(json.dumps({"terraform": {"backend": {"local": {"path": "x.tfstate"}}}}))
    manifest = json.loads((bundle / saved_plans.MANIFEST).read_text())  # consistent, as a bundle made so
    manifest["stacks"][-1]["files"]["cdk.tf.json"] = hashlib.sha256(stack_json.read_bytes()).hexdigest()
    (bundle / saved_plans.MANIFEST).write_text(json.dumps(manifest))

    result = apply_cli(bundle)

    assert result.exit_code == 2
    assert result.stderr.startswith("error: dev-global: its state is local, not S3")
    assert fake.steps() == []


def test_a_manifest_naming_files_outside_the_bundle_is_refused(fake, tmp_path, default_config):
    bundle = fake_bundle(tmp_path, default_config)
    path = bundle / saved_plans.MANIFEST
    path.write_text(path.read_text().replace('"name": "dev-global"', '"name": "../../elsewhere"'))

    result = apply_cli(bundle)

    assert result.exit_code == 2 and "names a file outside the bundle" in result.stderr
    assert fake.steps() == []
