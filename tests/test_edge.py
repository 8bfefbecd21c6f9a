"""R5, R10, F2, F3, F8: health-checked DNS routing, origin protection and the CloudFront edge."""

from __future__ import annotations

import json

import pytest
from support import configs
from support.synth import synthesize
from support.tfjson import only, policy_document, providers, referenced, refers_to, resources, tagged, walk

import webapp
from config import model

REGIONAL = ["dev-us-east-1", "dev-us-west-2", "staging-us-east-1", "staging-us-west-2", "prod-us-east-1",
            "prod-us-west-2"]
EDGE = ["dev-global", "staging-global", "prod-global"]
# AWS-managed CloudFront policies, by the IDs the CloudFront Developer Guide documents ("Use managed
# cache policies", "Use managed origin request policies"); spelled out here, not imported, so a
# typo in modules/cdn.py fails the test.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def env_of(config, name):
    return config.environments[name.split("-")[0]]


def region_of(name):
    return name.split("-", 1)[1]


def records(stack, name=None):
    found = {n: r for n, r in resources(stack, "aws_route53_record").items() if "alias" in r}
    return {n: r for n, r in found.items() if name is None or r["name"] == name}


def variant(default_data, tmp_path, env, **settings):
    data = configs.variant(default_data, environments={env: settings})
    return synthesize(model.parse(data, "variant.toml"), tmp_path / "out", env=env).stacks


# ------------------------------------------------------------------ regional DNS (R5, F2, F3)

@pytest.mark.parametrize("name", REGIONAL)
def test_health_check_probes_the_regional_origin_on_the_webapp_health_path(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, check = only(stack, "aws_route53_health_check")
    assert check["type"] == "HTTPS" and check["port"] == 443
    assert check["fqdn"] == env.regional_origin_domain(region_of(name))
    assert check["resource_path"] == webapp.HEALTH_PATH
    assert (check["request_interval"], check["failure_threshold"]) == (10, 3)
    assert check["provider"] == "aws.dns"


@pytest.mark.parametrize("name", REGIONAL)
def test_regional_record_is_an_alias_to_this_regions_alb(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    alb_name, _ = only(stack, "aws_lb")
    (record,) = records(stack, env.regional_origin_domain(region_of(name))).values()
    assert record["type"] == "A" and "records" not in record and "ttl" not in record, "an alias, not IPs (F2)"
    assert refers_to(record["alias"]["name"], "aws_lb", alb_name, "dns_name")
    assert refers_to(record["alias"]["zone_id"], "aws_lb", alb_name, "zone_id"), "zone id from the ALB"
    assert record["alias"]["evaluate_target_health"] is True
    assert record["provider"] == "aws.dns"


@pytest.mark.parametrize("name", REGIONAL)
def test_failover_members_carry_their_health_check(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    check_name, _ = only(stack, "aws_route53_health_check")
    alb_name, _ = only(stack, "aws_lb")
    (member,) = records(stack, env.origin_domain).values()
    assert refers_to(member["health_check_id"], "aws_route53_health_check", check_name, "id"), "F3"
    assert member["set_identifier"] == region_of(name)
    expected = "PRIMARY" if env.is_primary(region_of(name)) else "SECONDARY"
    assert member["failover_routing_policy"] == {"type": expected}
    assert refers_to(member["alias"]["zone_id"], "aws_lb", alb_name, "zone_id")
    assert member["alias"]["evaluate_target_health"] is True
    assert stack["output"]["origin_record"] and stack["output"]["regional_origin_record"]


def test_every_health_check_is_attached_and_set_identifiers_are_unique(synthesized):
    for env in ("dev", "staging", "prod"):
        identifiers = []
        for name in [n for n in REGIONAL if n.startswith(f"{env}-")]:
            stack = synthesized.stacks[name]
            check_name, _ = only(stack, "aws_route53_health_check")
            attached = [r for r in records(stack).values()
                        if refers_to(r.get("health_check_id", ""), "aws_route53_health_check", check_name, "id")]
            assert attached, f"{name}: health check not attached to any record"
            identifiers += [r["set_identifier"] for r in records(stack).values() if "set_identifier" in r]
        assert len(identifiers) == len(set(identifiers)) == 2


def test_latency_routing_gives_every_region_a_member(default_data, tmp_path):
    stacks = variant(default_data, tmp_path, "staging", dns_routing_policy="latency",
                     regions=["us-east-1", "us-west-2", "eu-west-1"])
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        (member,) = records(stacks[f"staging-{region}"], "origin.staging.example.com").values()
        assert member["latency_routing_policy"] == {"region": region}
        assert member["set_identifier"] == region and member["health_check_id"]


def test_weighted_routing_uses_configured_weights(default_data, tmp_path):
    stacks = variant(default_data, tmp_path, "dev", dns_routing_policy="weighted",
                     dns_weights={"us-east-1": 200, "us-west-2": 55})
    weights = {r: next(iter(records(stacks[f"dev-{r}"], "origin.dev.example.com").values()))
               ["weighted_routing_policy"]["weight"] for r in ("us-east-1", "us-west-2")}
    assert weights == {"us-east-1": 200, "us-west-2": 55}


def test_failover_beyond_two_regions_chains_nested_failover_sets(default_data, tmp_path):
    """The third region is the SECONDARY of the second's level (tests/test_routing.py follows
    the whole chain for three and four regions)."""
    stacks = variant(default_data, tmp_path, "dev", regions=["us-east-1", "us-west-2", "eu-west-1"])
    third = stacks["dev-eu-west-1"]
    assert records(third, "origin.dev.example.com") == {}
    (member,) = records(third, "failover-1.origin.dev.example.com").values()
    assert member["failover_routing_policy"] == {"type": "SECONDARY"} and member["health_check_id"]
    second = records(stacks["dev-us-west-2"], "origin.dev.example.com")
    (chain,) = second.values()
    assert chain["failover_routing_policy"] == {"type": "SECONDARY"} and "health_check_id" not in chain
    assert third["output"]["origin_record"]


def test_routing_configuration_errors_are_clear(default_data):
    data = configs.variant(default_data, environments={"dev": {"dns_routing_policy": "weighted"}})
    with pytest.raises(model.ConfigError, match="needs a weight for every region"):
        model.parse(data, "c.toml")


def test_dns_in_a_separate_account_goes_through_the_dns_provider(default_data, tmp_path):
    data = configs.variant(default_data, project={"dns_account_id": "444444444444"})
    stacks = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="prod").stacks
    for name, stack in stacks.items():
        assert providers(stack)["dns"]["allowed_account_ids"] == ["444444444444"]
        for type_ in ("aws_route53_record", "aws_route53_health_check"):
            for body in resources(stack, type_).values():
                assert body["provider"] == "aws.dns", f"{name}: {type_} outside the zone's account"
        for type_ in ("aws_lb", "aws_cloudfront_distribution"):
            for body in resources(stack, type_).values():
                assert "provider" not in body, f"{name}: {type_} must stay in the environment's account"


# ------------------------------------------------------------------ origin protection (F8)

@pytest.mark.parametrize("name", REGIONAL)
def test_alb_admits_only_cloudfront_and_route53_health_checkers_by_prefix_list(synthesized, name):
    stack = synthesized.stacks[name]
    _, alb = only(stack, "aws_lb")
    lists = {b["name"]: n for n, b in stack["data"]["aws_ec2_managed_prefix_list"].items()}
    assert set(lists) == {"com.amazonaws.global.cloudfront.origin-facing",
                          f"com.amazonaws.{region_of(name)}.route53-healthchecks"}
    for service in ("alb", "alb-health"):
        sg_name, _ = tagged(stack, "aws_security_group", service)
        assert refers_to(alb["security_groups"], "aws_security_group", sg_name, "id")
        (rule,) = [r for r in resources(stack, "aws_vpc_security_group_ingress_rule").values()
                   if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")]
        assert (rule["from_port"], rule["to_port"]) == (443, 443)
        assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule, "no hand-written CIDRs"
        assert any(refers_to(rule["prefix_list_id"], "aws_ec2_managed_prefix_list", n, "id", data=True)
                   for n in lists.values())


@pytest.mark.parametrize("name", REGIONAL)
def test_listener_requires_the_origin_verify_header_except_on_the_health_path(synthesized, name):
    stack = synthesized.stacks[name]
    (listener,) = resources(stack, "aws_lb_listener").values()
    assert listener["default_action"][0]["fixed_response"]["status_code"] == "403"
    rules = sorted(resources(stack, "aws_lb_listener_rule").values(), key=lambda r: r["priority"])
    assert next(r["condition"][0].get("path_pattern", {}).get("values") for r in rules) == [webapp.HEALTH_PATH]
    header = rules[1]["condition"][0]["http_header"]
    assert header["http_header_name"] == "X-Origin-Verify"
    assert len(header["values"]) == 2 and all("secret_string" in v for v in header["values"])


def test_origin_verify_secret_lives_once_in_the_primary_region(default_config, synthesized):
    for env in default_config.environments.values():
        name = f"{env.name}-{env.primary_region}-origin-verify-a1"
        primary = synthesized.stacks[f"{env.name}-{env.primary_region}"]
        _, secret = only(primary, "aws_secretsmanager_secret")
        assert secret["name"] == name
        assert refers_to(secret["kms_key_id"], "aws_kms_key", only(primary, "aws_kms_key")[0], "arn")
        _, version = only(primary, "aws_secretsmanager_secret_version")
        assert "uuid()" in version["secret_string"], "generated, never hard-coded"
        assert version["lifecycle"]["ignore_changes"] == ["secret_string"], "generated once, rotated by hand"
        readers = [f"{env.name}-{r}" for r in env.regions[1:]] + [f"{env.name}-global"]
        for reader in readers:
            stack = synthesized.stacks[reader]
            assert "aws_secretsmanager_secret" not in stack.get("resource", {})
            (data,) = stack["data"]["aws_secretsmanager_secret_version"].values()
            assert data["secret_id"] == name
            alias = data["provider"].partition(".")[2] or None  # "aws" or "aws.<alias>"
            assert providers(stack)[alias]["region"] == env.primary_region, "read where it lives"


def test_no_output_exposes_a_secret(synthesized):
    for name, stack in synthesized.stacks.items():
        for key, output in stack.get("output", {}).items():
            text = json.dumps(output["value"])
            assert "secret_string" not in text and "secretsmanager" not in text, f"{name}: output {key}"


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
    assert refers_to(viewer["acm_certificate_arn"], "aws_acm_certificate_validation", validation_name,
                     "certificate_arn")
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
        env.regional_origin_domain(r) for r in env.regions[:2]]
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
    assert refers_to(default["response_headers_policy_id"], "aws_cloudfront_response_headers_policy", headers_name,
                     "id")
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
    stacks = variant(default_data, tmp_path, "dev", waf=True)
    assert only(stacks["dev-global"], "aws_wafv2_web_acl")


@pytest.mark.parametrize("name", EDGE)
def test_viewer_records_are_aliases_to_the_distribution(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    dist_name, _ = only(stack, "aws_cloudfront_distribution")
    viewer = records(stack, env.app_domain)
    assert sorted(r["type"] for r in viewer.values()) == ["A", "AAAA"]
    for record in viewer.values():
        assert refers_to(record["alias"]["name"], "aws_cloudfront_distribution", dist_name, "domain_name")
        assert refers_to(record["alias"]["zone_id"], "aws_cloudfront_distribution", dist_name, "hosted_zone_id")
        assert record["alias"]["evaluate_target_health"] is False
        assert record["provider"] == "aws.dns"
    outputs = stack["output"]
    assert refers_to(outputs["cloudfront_domain_name"]["value"], "aws_cloudfront_distribution", dist_name,
                     "domain_name")
    assert refers_to(outputs["cloudfront_distribution_id"]["value"], "aws_cloudfront_distribution", dist_name, "id")
    assert outputs["viewer_records"]["value"] == [env.app_domain]


def test_viewer_aliases_join_the_certificate_and_records(default_data, tmp_path):
    stacks = variant(default_data, tmp_path, "prod", viewer_aliases=["www.example.com"])
    edge = stacks["prod-global"]
    _, cert = only(edge, "aws_acm_certificate")
    assert cert["subject_alternative_names"] == ["www.example.com"]
    assert only(edge, "aws_cloudfront_distribution")[1]["aliases"] == ["app.example.com", "www.example.com"]
    assert len(records(edge, "www.example.com")) == 2


@pytest.mark.parametrize("name", EDGE)
def test_access_logs_are_delivered_v2(synthesized, name):
    stack = synthesized.stacks[name]
    dist_name, _ = only(stack, "aws_cloudfront_distribution")
    _, source = only(stack, "aws_cloudwatch_log_delivery_source")
    assert source["log_type"] == "ACCESS_LOGS" and source["provider"] == "aws.us_east_1"
    assert refers_to(source["resource_arn"], "aws_cloudfront_distribution", dist_name, "arn")
    bucket_name, _ = tagged(stack, "aws_s3_bucket", "cdn-logs")
    destination_name, destination = only(stack, "aws_cloudwatch_log_delivery_destination")
    assert refers_to(destination["delivery_destination_configuration"][0]["destination_resource_arn"],
                     "aws_s3_bucket", bucket_name, "arn")
    _, delivery = only(stack, "aws_cloudwatch_log_delivery")
    assert refers_to(delivery["delivery_destination_arn"], "aws_cloudwatch_log_delivery_destination",
                     destination_name, "arn")
    policy = next(p for p in resources(stack, "aws_s3_bucket_policy").values()
                  if refers_to(p["bucket"], "aws_s3_bucket", bucket_name, "id"))
    write = next(s for s in policy_document(stack, policy["policy"]) if s["sid"] == "LogDeliveryWrite")
    assert write["principals"] == [{"type": "Service", "identifiers": ["delivery.logs.amazonaws.com"]}]
    assert {c["variable"] for c in write["condition"]} >= {"aws:SourceAccount", "aws:SourceArn"}


def test_no_raw_alb_names_anywhere_in_the_edge(synthesized):
    for name in EDGE:
        assert not [v for _, v in walk(synthesized.stacks[name]) if isinstance(v, str) and "elb.amazonaws.com" in v]
