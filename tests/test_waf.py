"""R10: modules/waf.py, the CloudFront web ACL with managed rule groups, where the environment asks for one."""

from __future__ import annotations

from support.synth import env_variant
from support.tfjson import (
    only,
    referenced,
    refers_to,
    resources,
)


def test_web_acl_in_prod_with_managed_rule_groups(synthesized):
    prod = synthesized.stacks["prod-global"]
    acl_name, acl = only(prod, "aws_wafv2_web_acl")
    assert acl["scope"] == "CLOUDFRONT" and acl["provider"] == "aws.us_east_1"
    groups = [r["statement"]["managed_rule_group_statement"]["name"] for r in acl["rule"]]
    assert "AWSManagedRulesCommonRuleSet" in groups and "AWSManagedRulesKnownBadInputsRuleSet" in groups
    _, d = only(prod, "aws_cloudfront_distribution")
    assert refers_to(d["web_acl_id"], "aws_wafv2_web_acl", acl_name, "arn")
    (logging,) = resources(prod, "aws_wafv2_web_acl_logging_configuration").values()
    _, _, group = referenced(prod, logging["log_destination_configs"][0])
    assert group["name"].startswith("aws-waf-logs-prod-global-") and group["kms_key_id"]
    for name in ("dev-global", "staging-global"):
        assert "aws_wafv2_web_acl" not in synthesized.stacks[name]["resource"]
        assert "web_acl_id" not in only(synthesized.stacks[name], "aws_cloudfront_distribution")[1]


def test_web_acl_is_configurable(default_data, tmp_path):
    stacks = env_variant(default_data, tmp_path, "dev", waf=True)
    assert only(stacks["dev-global"], "aws_wafv2_web_acl")
