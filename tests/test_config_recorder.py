"""R13, F5: modules/config_recorder.py, AWS Config (one recorder per account and region, its delivery
and rules), for the default configuration and for one where two environments share an account."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from support.configs import variant
from support.synth import synthesize
from support.tfjson import only, policy_document, referenced, refers_to, resources, tagged

from config import model

RULES = {
    "REQUIRED_TAGS",
    "ENCRYPTED_VOLUMES",
    "RDS_STORAGE_ENCRYPTED",
    "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
    "S3_BUCKET_SSL_REQUESTS_ONLY",
    "CLOUDWATCH_LOG_GROUP_ENCRYPTED",
    "SNS_ENCRYPTED_KMS",
}


def recorders(stacks):
    return {
        name: list(resources(stack, "aws_config_configuration_recorder").values()) for name, stack in stacks.items()
    }


def account_region(config, name):
    spec = next(s for s in config.stacks() if s.name == name)
    return spec.account_number, spec.region


@pytest.mark.parametrize("which", ["default", "shared"])
def test_exactly_one_recorder_per_account_and_region(synthesized, shared, which):
    result = synthesized if which == "default" else shared
    counts = Counter(
        account_region(result.config, name) for name, found in recorders(result.stacks).items() for _ in found
    )
    expected = {(s.account_number, s.region) for s in result.config.stacks() if s.role != "edge"}
    assert set(counts) == expected and set(counts.values()) == {1}


def test_the_first_environment_of_a_shared_account_owns_the_recorder(shared):
    owners = {name for name, found in recorders(shared.stacks).items() if found}
    assert owners == {"dev-us-east-1", "dev-us-west-2", "prod-us-east-1", "prod-us-west-2"}
    for name in ("staging-us-east-1", "staging-us-west-2"):
        assert "aws_config_config_rule" not in shared.stacks[name]["resource"], "the owner's rules cover it"


def test_recorder_delivery_status_and_rules_are_ordered(synthesized):
    for name in ("dev-us-east-1", "prod-us-west-2"):
        stack = synthesized.stacks[name]
        recorder_name, _recorder = only(stack, "aws_config_configuration_recorder")
        channel_name, channel = only(stack, "aws_config_delivery_channel")
        status_name, status = only(stack, "aws_config_configuration_recorder_status")
        assert f"aws_config_configuration_recorder.{recorder_name}" in channel["depends_on"]
        assert f"aws_config_delivery_channel.{channel_name}" in status["depends_on"]
        assert status["is_enabled"] is True
        assert refers_to(status["name"], "aws_config_configuration_recorder", recorder_name, "name")
        rules = resources(stack, "aws_config_config_rule").values()
        assert {r["source"]["source_identifier"] for r in rules} == RULES
        for rule in rules:
            assert rule["source"]["owner"] == "AWS"
            assert rule["depends_on"] == [f"aws_config_configuration_recorder_status.{status_name}"]


def test_recorder_records_everything_and_global_types_in_the_primary_only(default_config, synthesized):
    for name, found in recorders(synthesized.stacks).items():
        for recorder in found:
            group = recorder["recording_group"]
            assert group["all_supported"] is True
            env = default_config.environments[name.split("-")[0]]
            assert group["include_global_resource_types"] is env.is_primary(name.split("-", 1)[1])
            role = referenced(synthesized.stacks[name], recorder["role_arn"])[2]
            (trust,) = policy_document(synthesized.stacks[name], role["assume_role_policy"])
            assert trust["principals"] == [{"type": "Service", "identifiers": ["config.amazonaws.com"]}]


def test_required_tags_rule_lists_the_standard_tags(synthesized):
    stack = synthesized.stacks["prod-us-east-1"]
    (rule,) = [
        r
        for r in resources(stack, "aws_config_config_rule").values()
        if r["source"]["source_identifier"] == "REQUIRED_TAGS"
    ]
    assert json.loads(rule["input_parameters"]) == {
        "tag1Key": "Environment",
        "tag2Key": "Project",
        "tag3Key": "Owner",
        "tag4Key": "CostCenter",
    }


def test_delivery_bucket_admits_config_for_this_account_only(synthesized):
    stack = synthesized.stacks["staging-us-east-1"]
    bucket_name, _body = tagged(stack, "aws_s3_bucket", "config")
    _, channel = only(stack, "aws_config_delivery_channel")
    assert refers_to(channel["s3_bucket_name"], "aws_s3_bucket", bucket_name, "id")
    policy = next(
        p
        for p in resources(stack, "aws_s3_bucket_policy").values()
        if refers_to(p["bucket"], "aws_s3_bucket", bucket_name, "id")
    )
    document = policy_document(stack, policy["policy"])
    # The construct asks its bucket to admit Config, after the bucket's own denies.
    assert [s["sid"] for s in document] == [
        "DenyInsecureTransport",
        "DenyTlsBelow12",
        "ConfigAclCheck",
        "ConfigDelivery",
    ]
    statements = {s["sid"]: s for s in document}
    assert statements["ConfigAclCheck"]["resources"] == [
        "arn:${data.aws_partition.partition.partition}:s3:::" + _body["bucket"]
    ]
    for sid in ("ConfigAclCheck", "ConfigDelivery"):
        assert statements[sid]["principals"] == [{"type": "Service", "identifiers": ["config.amazonaws.com"]}]
        assert any(c["variable"] == "aws:SourceAccount" for c in statements[sid]["condition"])


def test_rules_are_kept_when_the_recorder_is_managed_elsewhere(default_data, tmp_path):
    data = variant(default_data, environments={"dev": {"manage_config_recorder": False}})
    stack = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev").stacks["dev-us-east-1"]
    assert "aws_config_configuration_recorder" not in stack["resource"]
    rules = resources(stack, "aws_config_config_rule").values()
    assert {r["source"]["source_identifier"] for r in rules} == RULES
    assert all("depends_on" not in r for r in rules)
