"""R8, R12: modules/notifications.py, the encrypted error topic and its subscriptions, in every
environment and region."""

from __future__ import annotations

import pytest
from support.configs import variant
from support.stack_names import REGIONAL, env_of, region_of
from support.synth import synthesize
from support.tfjson import jsonencoded, only, policy_document, refers_to, resources

from config import model

# ------------------------------------------------------------------ topics (R8, R12)


@pytest.mark.parametrize("name", REGIONAL)
def test_error_topic_is_encrypted_and_publishable_across_environments(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _topic_name, topic = only(stack, "aws_sns_topic")
    assert topic["name"] == f"{name}-errors-a1"
    assert refers_to(topic["kms_master_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    (policy,) = resources(stack, "aws_sns_topic_policy").values()
    statements = {s["sid"]: s for s in policy_document(stack, policy["policy"])}
    others = sorted(
        e.account_number for e in default_config.environments.values() if e.account_number != env.account_number
    )
    publishers = statements["OtherEnvironmentsPublish"]["principals"][0]["identifiers"]
    assert [p.split(":")[4] for p in publishers] == others
    assert not any(env.account_number in p for p in publishers), "never the topic's own account as 'another'"
    alarms = statements["CloudWatchAlarmsPublish"]
    assert alarms["principals"] == [{"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}]
    assert any(
        c["variable"] == "aws:SourceArn" and c["values"][0].endswith(f":alarm:{name}-*") for c in alarms["condition"]
    )
    key_policy = {s["Sid"]: s for s in jsonencoded(only(stack, "aws_kms_key")[1]["policy"])["Statement"]}
    cross = key_policy["OtherEnvironmentsPublishToEncryptedTopics"]
    assert sorted(a.split(":")[4] for a in cross["Principal"]["AWS"]) == others
    assert cross["Condition"]["StringEquals"]["kms:ViaService"] == [f"sns.{region_of(name)}.amazonaws.com"]


def test_alert_emails_subscribe_to_the_topic(default_data, tmp_path):
    data = variant(default_data, environments={"staging": {"alert_emails": ["oncall@example.com", "lead@example.com"]}})
    stack = synthesize(model.parse(data, "c.toml"), tmp_path / "o", env="staging").stacks["staging-us-east-1"]
    topic_name, _ = only(stack, "aws_sns_topic")
    subs = resources(stack, "aws_sns_topic_subscription").values()
    assert sorted(s["endpoint"] for s in subs) == ["lead@example.com", "oncall@example.com"]
    assert all(s["protocol"] == "email" and refers_to(s["topic_arn"], "aws_sns_topic", topic_name, "arn") for s in subs)
