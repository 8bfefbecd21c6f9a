"""stacks/edge.py, `<env>-global`: the viewer names (certificate, A and AAAA aliases to the
distribution), its outputs, and no instance_count input (it runs no instances)."""

from __future__ import annotations

import pytest
from support.stack_names import EDGE, env_of
from support.synth import env_variant
from support.tfjson import alias_records, jsonencoded, only, refers_to, tagged


def test_edge_stacks_have_no_instance_count(synthesized):
    assert "variable" not in synthesized.stacks["prod-global"]


@pytest.mark.parametrize("name", EDGE)
def test_the_edge_key_admits_only_what_this_stack_encrypts(default_config, synthesized, name):
    """Its consumers grant themselves: the error topic (SNS, and the publishers of its alarms and
    budget), and with WAF on, WAF's log group. No bucket, database, secret, queue, function or
    instance volume of this stack uses the key, so none is admitted."""
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, key = only(stack, "aws_kms_key")
    statements = {s["Sid"]: s for s in jsonencoded(key["policy"])["Statement"]}
    via = statements["AccountUsesKeyThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == ["sns.us-east-1.amazonaws.com"]
    assert not {"AutoScalingEncryptsInstanceVolumes", "AutoScalingGrantsForVolumes"} & statements.keys()
    if env.waf:
        logs = statements["CloudWatchLogsEncryptLogGroups"]["Condition"]["ArnLike"][
            "kms:EncryptionContext:aws:logs:arn"
        ]
        assert [arn.rpartition(":log-group:")[2] for arn in logs] == ["aws-waf-logs-*"]
    else:
        assert "CloudWatchLogsEncryptLogGroups" not in statements


@pytest.mark.parametrize("name", EDGE)
def test_viewer_records_are_aliases_to_the_distribution(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    dist_name, _ = only(stack, "aws_cloudfront_distribution")
    viewer = alias_records(stack, env.app_domain)
    assert sorted(r["type"] for r in viewer.values()) == ["A", "AAAA"]
    for record in viewer.values():
        assert refers_to(record["alias"]["name"], "aws_cloudfront_distribution", dist_name, "domain_name")
        assert refers_to(record["alias"]["zone_id"], "aws_cloudfront_distribution", dist_name, "hosted_zone_id")
        assert record["alias"]["evaluate_target_health"] is False
        assert record["provider"] == "aws.dns"
    outputs = stack["output"]
    assert refers_to(
        outputs["cloudfront_domain_name"]["value"], "aws_cloudfront_distribution", dist_name, "domain_name"
    )
    assert refers_to(outputs["cloudfront_distribution_id"]["value"], "aws_cloudfront_distribution", dist_name, "id")
    assert outputs["viewer_records"]["value"] == [env.app_domain]


def test_viewer_aliases_join_the_certificate_and_records(default_data, tmp_path):
    stacks = env_variant(default_data, tmp_path, "prod", viewer_aliases=["www.example.com"])
    edge = stacks["prod-global"]
    _, cert = only(edge, "aws_acm_certificate")
    assert cert["subject_alternative_names"] == ["www.example.com"]
    assert only(edge, "aws_cloudfront_distribution")[1]["aliases"] == ["app.example.com", "www.example.com"]
    assert len(alias_records(edge, "www.example.com")) == 2


@pytest.mark.parametrize("name", EDGE)
def test_role_and_budget_outputs_name_what_the_edge_stack_created(synthesized, name):
    stack = synthesized.stacks[name]
    outputs = stack["output"]
    deploy, _ = tagged(stack, "aws_iam_role", "deploy")
    readonly, _ = tagged(stack, "aws_iam_role", "ops-readonly")
    budget, _ = only(stack, "aws_budgets_budget")
    assert refers_to(outputs["deploy_role_arn"]["value"], "aws_iam_role", deploy, "arn")
    assert refers_to(outputs["ops_readonly_role_arn"]["value"], "aws_iam_role", readonly, "arn")
    assert refers_to(outputs["budget_name"]["value"], "aws_budgets_budget", budget, "name")
