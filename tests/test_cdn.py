"""R10: modules/cdn.py, the CloudFront distribution, its certificate and managed policies (the viewer
records the edge stack makes: tests/test_edge.py)."""

from __future__ import annotations

import pytest
from support.stack_names import EDGE, env_of
from support.tfjson import (
    only,
    providers,
    refers_to,
    walk,
)

# AWS-managed CloudFront policies, by the IDs the CloudFront Developer Guide documents ("Use managed
# cache policies", "Use managed origin request policies"); spelled out here, not imported, so a
# typo in modules/cdn.py fails the test.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


# ------------------------------------------------------------------ CloudFront (R10)


@pytest.mark.parametrize("name", EDGE)
def test_viewer_certificate_is_dns_validated_in_us_east_1(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _cert_name, cert = only(stack, "aws_acm_certificate")
    assert cert["domain_name"] == env.app_domain and cert["provider"] == "aws.us_east_1"
    validation_name, validation = only(stack, "aws_acm_certificate_validation")
    assert validation["provider"] == "aws.us_east_1"
    _, distribution = only(stack, "aws_cloudfront_distribution")
    viewer = distribution["viewer_certificate"]
    assert refers_to(
        viewer["acm_certificate_arn"], "aws_acm_certificate_validation", validation_name, "certificate_arn"
    )
    assert viewer["minimum_protocol_version"] == "TLSv1.2_2021" and viewer["ssl_support_method"] == "sni-only"
    assert providers(stack)["us_east_1"]["region"] == "us-east-1"


@pytest.mark.parametrize("name", EDGE)
def test_distribution_viewers_and_origins_are_https_only(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, d = only(stack, "aws_cloudfront_distribution")
    assert d["aliases"] == [env.app_domain] and d["http_version"] == "http2and3" and d["is_ipv6_enabled"] is True
    origins = {o["origin_id"]: o for o in d["origin"]}
    assert origins["origin"]["domain_name"] == env.origin_domain
    assert [origins[f"region-{i + 1}"]["domain_name"] for i in range(2)] == [
        env.regional_origin_domain(r) for r in env.regions[:2]
    ]
    for origin in origins.values():
        config = origin["custom_origin_config"]
        assert config["origin_protocol_policy"] == "https-only" and config["origin_ssl_protocols"] == ["TLSv1.2"]
        (header,) = origin["custom_header"]
        assert header["name"] == "X-Origin-Verify" and "secret_string" in header["value"]
        assert not origin["domain_name"].endswith(".elb.amazonaws.com"), "never a raw ALB name (F8)"
    behaviors = [d["default_cache_behavior"], *d["ordered_cache_behavior"]]
    assert all(b["viewer_protocol_policy"] == "redirect-to-https" for b in behaviors)


@pytest.mark.parametrize("name", EDGE)
def test_default_behavior_uses_the_failover_name_and_static_paths_the_origin_group(synthesized, name):
    stack = synthesized.stacks[name]
    _, d = only(stack, "aws_cloudfront_distribution")
    default = d["default_cache_behavior"]
    assert default["target_origin_id"] == "origin"
    assert sorted(default["allowed_methods"]) == ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    assert default["cache_policy_id"] == CACHING_DISABLED
    assert default["origin_request_policy_id"] == ALL_VIEWER_EXCEPT_HOST_HEADER, "the viewer Host header stays behind"
    headers_name, headers = only(stack, "aws_cloudfront_response_headers_policy")
    assert refers_to(
        default["response_headers_policy_id"], "aws_cloudfront_response_headers_policy", headers_name, "id"
    )
    security = headers["security_headers_config"]
    assert security["strict_transport_security"]["access_control_max_age_sec"] >= 31536000
    (group,) = d["origin_group"]
    assert [m["origin_id"] for m in group["member"]] == ["region-1", "region-2"]
    assert group["failover_criteria"]["status_codes"] == [500, 502, 503, 504]
    (static,) = d["ordered_cache_behavior"]
    assert static["path_pattern"] == "/static/*" and static["target_origin_id"] == group["origin_id"]
    assert static["cache_policy_id"] == CACHING_OPTIMIZED
    assert static["origin_request_policy_id"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert sorted(static["allowed_methods"]) == ["GET", "HEAD", "OPTIONS"], "origin groups reject writes"


def test_managed_cloudfront_policies_are_attached_by_id_not_looked_up(synthesized):
    """A lookup lists the account's policies at plan time: it needs list permissions the deploy
    role need not have, and moto answers those calls with 404. The IDs are fixed by AWS."""
    for name, stack in synthesized.stacks.items():
        data = stack.get("data", {})
        assert "aws_cloudfront_cache_policy" not in data, name
        assert "aws_cloudfront_origin_request_policy" not in data, name
    for name in EDGE:
        _, d = only(synthesized.stacks[name], "aws_cloudfront_distribution")
        behaviors = [d["default_cache_behavior"], *d["ordered_cache_behavior"]]
        assert {b["cache_policy_id"] for b in behaviors} == {CACHING_DISABLED, CACHING_OPTIMIZED}
        assert {b["origin_request_policy_id"] for b in behaviors} == {ALL_VIEWER_EXCEPT_HOST_HEADER}


def test_no_raw_alb_names_anywhere_in_the_edge(synthesized):
    for name in EDGE:
        assert not [v for _, v in walk(synthesized.stacks[name]) if isinstance(v, str) and "elb.amazonaws.com" in v]
