"""R4: modules/alb.py, the public, HTTPS-only, logged load balancer and its target group, in every
environment and region."""

from __future__ import annotations

import pytest
from support.configs import variant
from support.stack_names import REGIONAL, env_of, region_of
from support.synth import synthesize
from support.tfjson import only, policy_document, refers_to, resources, tagged, walk

import webapp
from config import model

# ------------------------------------------------------------------ load balancer (R4)


@pytest.mark.parametrize("name", REGIONAL)
def test_https_only_listener_uses_the_validated_certificate(synthesized, name):
    stack = synthesized.stacks[name]
    (listener,) = resources(stack, "aws_lb_listener").values()
    assert (listener["port"], listener["protocol"]) == (443, "HTTPS")
    assert listener["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    validation_name, _ = only(stack, "aws_acm_certificate_validation")
    assert refers_to(listener["certificate_arn"], "aws_acm_certificate_validation", validation_name, "certificate_arn")
    tg_name, _ = only(stack, "aws_lb_target_group")
    (action,) = listener["default_action"]
    assert action["type"] == "fixed-response" and action["fixed_response"]["status_code"] == "403"
    for rule in resources(stack, "aws_lb_listener_rule").values():
        (forward,) = rule["action"]
        assert forward["type"] == "forward"
        assert refers_to(forward["target_group_arn"], "aws_lb_target_group", tg_name, "arn")


def test_no_port_80_anywhere(synthesized):
    for name, stack in synthesized.stacks.items():
        for type_ in ("aws_lb_listener", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
            for body in resources(stack, type_).values():
                for key in ("port", "from_port", "to_port"):
                    assert body.get(key) != 80, f"{name}: {type_} on port 80"
        assert not [v for k, v in walk(stack.get("resource", {})) if k in ("from_port", "port") and v == 80]


@pytest.mark.parametrize("name", REGIONAL)
def test_alb_is_public_hardened_logged_and_admits_443_only(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _alb_name, alb = only(stack, "aws_lb")
    assert alb["internal"] is False and alb["load_balancer_type"] == "application"
    assert alb["drop_invalid_header_fields"] is True
    assert alb["enable_deletion_protection"] is env.deletion_protection
    public = {n for n, b in resources(stack, "aws_subnet").items() if b["tags"]["Service"].startswith("public")}
    assert {n for n in public if refers_to(alb["subnets"], "aws_subnet", n, "id")} == public
    log_bucket, _ = tagged(stack, "aws_s3_bucket", "logs")
    assert alb["access_logs"]["enabled"] is True and alb["access_logs"]["prefix"] == "alb"
    assert refers_to(alb["access_logs"]["bucket"], "aws_s3_bucket", log_bucket, "id")
    (log_policy,) = [
        n
        for n, b in resources(stack, "aws_s3_bucket_policy").items()
        if refers_to(b["bucket"], "aws_s3_bucket", log_bucket, "id")
    ]
    assert f"aws_s3_bucket_policy.{log_policy}" in alb["depends_on"], "ELB checks bucket access at creation"
    sg_name, _sg = tagged(stack, "aws_security_group", "alb")
    assert refers_to(alb["security_groups"], "aws_security_group", sg_name, "id")
    ingress = [
        r
        for r in resources(stack, "aws_vpc_security_group_ingress_rule").values()
        if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")
    ]
    assert [(r["from_port"], r["to_port"], r["ip_protocol"]) for r in ingress] == [(443, 443, "tcp")]
    egress = [
        r
        for r in resources(stack, "aws_vpc_security_group_egress_rule").values()
        if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")
    ]
    web_sg, _ = tagged(stack, "aws_security_group", "web")
    assert [(r["from_port"], r["to_port"]) for r in egress] == [(webapp.PORT, webapp.PORT)]
    assert refers_to(egress[0]["referenced_security_group_id"], "aws_security_group", web_sg, "id")


def test_deletion_protection_follows_the_environment(synthesized):
    protection = {
        n.split("-")[0]: only(synthesized.stacks[n], "aws_lb")[1]["enable_deletion_protection"] for n in REGIONAL
    }
    assert protection == {"dev": False, "staging": False, "prod": True}


@pytest.mark.parametrize(("name", "principal"), [("prod-us-east-1", "AWS"), ("dev-eu-central-2", "Service")])
def test_log_bucket_admits_alb_log_delivery_without_hand_written_accounts(
    default_data, synthesized, tmp_path, name, principal
):
    if name in synthesized.stacks:
        stack = synthesized.stacks[name]
    else:  # a region launched after August 2022: the log-delivery service principal
        data = variant(default_data, environments={"dev": {"regions": ["eu-central-2"]}})
        stack = synthesize(model.parse(data, "c.toml"), tmp_path / "o", env="dev").stacks[name]
    bucket, _ = tagged(stack, "aws_s3_bucket", "logs")
    policy = next(
        p
        for p in resources(stack, "aws_s3_bucket_policy").values()
        if refers_to(p["bucket"], "aws_s3_bucket", bucket, "id")
    )
    (delivery,) = [s for s in policy_document(stack, policy["policy"]) if s["sid"] == "AlbAccessLogDelivery"]
    assert delivery["actions"] == ["s3:PutObject"]
    assert delivery["resources"] == [
        f"${{aws_s3_bucket.{bucket}.arn}}/alb/AWSLogs/${{data.aws_caller_identity.caller.account_id}}/*"
    ]
    (principals,) = delivery["principals"]
    assert principals["type"] == principal
    if principal == "AWS":
        (account_source,) = stack["data"]["aws_elb_service_account"]
        assert principals["identifiers"] == [f"${{data.aws_elb_service_account.{account_source}.arn}}"]
    else:
        assert principals["identifiers"] == ["logdelivery.elasticloadbalancing.amazonaws.com"]


@pytest.mark.parametrize("name", REGIONAL)
def test_target_group_checks_the_webapp_health_path(synthesized, name):
    _, tg = only(synthesized.stacks[name], "aws_lb_target_group")
    assert (tg["port"], tg["protocol"], tg["target_type"]) == (webapp.PORT, "HTTP", "instance")
    assert tg["deregistration_delay"] == "30"
    check = tg["health_check"]
    assert check["path"] == webapp.HEALTH_PATH and check["matcher"] == "200" and check["port"] == "traffic-port"
    assert check["interval"] <= 30 and check["healthy_threshold"] >= 2 and check["unhealthy_threshold"] >= 2
    assert len(tg["name"]) <= 32


# ------------------------------------------------------------------ origin protection (F8)


@pytest.mark.parametrize("name", REGIONAL)
def test_alb_admits_only_cloudfront_and_route53_health_checkers_by_prefix_list(synthesized, name):
    stack = synthesized.stacks[name]
    _, alb = only(stack, "aws_lb")
    lists = {b["name"]: n for n, b in stack["data"]["aws_ec2_managed_prefix_list"].items()}
    assert set(lists) == {
        "com.amazonaws.global.cloudfront.origin-facing",
        f"com.amazonaws.{region_of(name)}.route53-healthchecks",
    }
    for service in ("alb", "alb-health"):
        sg_name, _ = tagged(stack, "aws_security_group", service)
        assert refers_to(alb["security_groups"], "aws_security_group", sg_name, "id")
        (rule,) = [
            r
            for r in resources(stack, "aws_vpc_security_group_ingress_rule").values()
            if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")
        ]
        assert (rule["from_port"], rule["to_port"]) == (443, 443)
        assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule, "no hand-written CIDRs"
        assert any(
            refers_to(rule["prefix_list_id"], "aws_ec2_managed_prefix_list", n, "id", data=True) for n in lists.values()
        )


@pytest.mark.parametrize("name", REGIONAL)
def test_listener_requires_the_origin_verify_header_except_on_the_health_path(synthesized, name):
    stack = synthesized.stacks[name]
    (listener,) = resources(stack, "aws_lb_listener").values()
    assert listener["default_action"][0]["fixed_response"]["status_code"] == "403"
    rules = sorted(resources(stack, "aws_lb_listener_rule").values(), key=lambda r: r["priority"])
    assert next(r["condition"][0].get("path_pattern", {}).get("values") for r in rules) == [
        webapp.HEALTH_PATH,
        webapp.READY_PATH,
    ], "Route 53's checkers (readiness) cannot send the origin-verify header"
    header = rules[1]["condition"][0]["http_header"]
    assert header["http_header_name"] == "X-Origin-Verify"
    assert len(header["values"]) == 2 and all("secret_string" in v for v in header["values"])
