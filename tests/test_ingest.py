"""R2, F4: the ingest pipeline on the synthesized JSON of every regional stack."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from support.stack_names import REGIONAL, env_of
from support.synth import synthesize
from support.tfjson import only, policy_document, referenced, refers_to, resources, tagged

import modules.ingest


@pytest.mark.parametrize("name", REGIONAL)
def test_incoming_objects_invoke_the_function_after_the_permission_exists(synthesized, name):
    stack = synthesized.stacks[name]
    bucket_name, _ = tagged(stack, "aws_s3_bucket", "ingest")
    function_name, _ = only(stack, "aws_lambda_function")
    permission_name, permission = only(stack, "aws_lambda_permission")
    assert permission["principal"] == "s3.amazonaws.com" and permission["action"] == "lambda:InvokeFunction"
    assert refers_to(permission["source_arn"], "aws_s3_bucket", bucket_name, "arn")
    assert refers_to(permission["source_account"], "aws_caller_identity", "caller", "account_id", data=True)
    _, notification = only(stack, "aws_s3_bucket_notification")
    assert refers_to(notification["bucket"], "aws_s3_bucket", bucket_name, "id")
    (target,) = notification["lambda_function"]
    assert target["filter_prefix"] == "incoming/" and target["events"] == ["s3:ObjectCreated:*"]
    assert refers_to(target["lambda_function_arn"], "aws_lambda_function", function_name, "arn")
    assert f"aws_lambda_permission.{permission_name}" in notification["depends_on"]


@pytest.mark.parametrize("name", REGIONAL)
def test_the_function_is_packaged_configured_and_traced(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, function = only(stack, "aws_lambda_function")
    assert function["runtime"] == "python3.12" and function["architectures"] == ["arm64"]
    assert function["handler"] == "handler.handler"
    assert function["memory_size"] == env.ingest.memory_mb and function["timeout"] == env.ingest.timeout_s
    assert function["reserved_concurrent_executions"] == env.ingest.reserved_concurrency
    assert function["tracing_config"]["mode"] == "Active"
    assert refers_to(function["kms_key_arn"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    variables = function["environment"]["variables"]
    assert refers_to(variables["ERROR_TOPIC_ARN"], "aws_sns_topic", only(stack, "aws_sns_topic")[0], "arn")
    assert variables["MAX_BYTES"] == str(env.ingest.max_bytes)
    assert variables["ALLOWED_TYPES"].split(",") == list(env.ingest.content_types)
    assert function["source_code_hash"] in function["filename"], "the hash follows the packaged asset"
    archive = synthesized.out_dir / "stacks" / name / function["filename"]
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == ["handler.py"], "only the sources, no __pycache__ or README"


@pytest.mark.parametrize("name", REGIONAL)
def test_dead_letters_logs_and_network(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, function = only(stack, "aws_lambda_function")
    dlq_name, dlq = only(stack, "aws_sqs_queue")
    assert refers_to(function["dead_letter_config"]["target_arn"], "aws_sqs_queue", dlq_name, "arn")
    assert refers_to(dlq["kms_master_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    _, logs = tagged(stack, "aws_cloudwatch_log_group", "ingest")
    assert logs["retention_in_days"] == env.log_retention_days and logs["kms_key_id"]
    assert function["logging_config"]["log_group"].endswith(".name}")
    _, _, group = referenced(stack, function["logging_config"]["log_group"])
    assert group == logs
    app = {n for n, b in resources(stack, "aws_subnet").items() if b["tags"]["Service"].startswith("app")}
    assert {n for n in app if refers_to(function["vpc_config"]["subnet_ids"], "aws_subnet", n, "id")} == app
    sg_name, _ = tagged(stack, "aws_security_group", "ingest")
    rules = [
        r
        for t in ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule")
        for r in resources(stack, t).values()
        if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")
    ]
    assert [(r["from_port"], r["to_port"]) for r in rules] == [(443, 443)], "no ingress, HTTPS out only"


@pytest.mark.parametrize("name", REGIONAL)
def test_the_role_reaches_only_its_prefixes_topic_queue_key_and_logs(synthesized, name):
    stack = synthesized.stacks[name]
    role_name, _ = tagged(stack, "aws_iam_role", "ingest")
    (policy,) = [
        p
        for p in resources(stack, "aws_iam_role_policy").values()
        if refers_to(p["role"], "aws_iam_role", role_name, "id")
    ]
    statements = {s["sid"]: s for s in policy_document(stack, policy["policy"])}
    bucket_name, _ = tagged(stack, "aws_s3_bucket", "ingest")
    arn = f"${{aws_s3_bucket.{bucket_name}.arn}}"
    assert statements["ReadAndMoveIncoming"]["resources"] == [f"{arn}/incoming/*"]
    assert "s3:DeleteObject" in statements["ReadAndMoveIncoming"]["actions"]
    assert statements["WriteResults"]["resources"] == [f"{arn}/processed/*", f"{arn}/quarantine/*"]
    assert statements["ListResults"]["resources"] == [arn]
    assert (
        statements["PublishErrors"]["resources"][0].endswith(".arn}")
        and "aws_sns_topic" in statements["PublishErrors"]["resources"][0]
    )
    assert "aws_sqs_queue" in statements["DeadLetters"]["resources"][0]
    for statement in statements.values():
        assert all(r != "*" for r in statement["resources"]), statement["sid"]
        assert not any(a.endswith("*") for a in statement["actions"]), statement["sid"]


def test_the_code_hash_is_stable_and_changes_with_the_code(default_config, synthesized, tmp_path, monkeypatch):
    name = "dev-us-east-1"
    again = synthesize(default_config, tmp_path / "again", env="dev")
    first_hash = only(synthesized.stacks[name], "aws_lambda_function")[1]["source_code_hash"]
    assert only(again.stacks[name], "aws_lambda_function")[1]["source_code_hash"] == first_hash
    cached = tmp_path / "cached"
    shutil.copytree(modules.ingest.SOURCE, cached)
    (cached / "__pycache__").mkdir()
    (cached / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\x00compiled")
    monkeypatch.setattr(modules.ingest, "SOURCE", cached)
    with_cache = synthesize(default_config, tmp_path / "with-cache", env="dev")
    assert only(with_cache.stacks[name], "aws_lambda_function")[1]["source_code_hash"] == first_hash, (
        "a __pycache__ folder must not change the package"
    )
    changed = tmp_path / "changed"
    shutil.copytree(modules.ingest.SOURCE, changed)
    (changed / "handler.py").write_text((changed / "handler.py").read_text() + "\n# a change\n")
    monkeypatch.setattr(modules.ingest, "SOURCE", changed)
    edited = synthesize(default_config, tmp_path / "edited", env="dev")
    assert only(edited.stacks[name], "aws_lambda_function")[1]["source_code_hash"] != first_hash
