"""R5, F2, F3: modules/dns_failover.py, the health-checked regional records and the failover, latency
and weighted routing between regions."""

from __future__ import annotations

import pytest
from support import configs
from support.stack_names import REGIONAL, env_of, region_of
from support.synth import env_variant, synthesize
from support.tfjson import (
    alias_records,
    only,
    providers,
    refers_to,
    resources,
)

import webapp
from config import model

# ------------------------------------------------------------------ regional DNS (R5, F2, F3)


@pytest.mark.parametrize("name", REGIONAL)
def test_health_check_probes_the_regional_origin_on_the_webapp_health_path(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, check = only(stack, "aws_route53_health_check")
    assert check["type"] == "HTTPS" and check["port"] == 443
    assert check["fqdn"] == env.regional_origin_domain(region_of(name))
    assert check["resource_path"] == webapp.READY_PATH, "readiness: a region without its database leaves DNS"
    assert (check["request_interval"], check["failure_threshold"]) == (10, 3)
    assert check["provider"] == "aws.dns"


@pytest.mark.parametrize("name", REGIONAL)
def test_regional_record_is_an_alias_to_this_regions_alb(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    alb_name, _ = only(stack, "aws_lb")
    (record,) = alias_records(stack, env.regional_origin_domain(region_of(name))).values()
    assert record["type"] == "A" and "records" not in record and "ttl" not in record, "an alias, not IPs (F2)"
    assert refers_to(record["alias"]["name"], "aws_lb", alb_name, "dns_name")
    assert refers_to(record["alias"]["zone_id"], "aws_lb", alb_name, "zone_id"), "zone id from the ALB"
    assert record["alias"]["evaluate_target_health"] is True
    assert record["provider"] == "aws.dns"


@pytest.mark.parametrize("name", REGIONAL)
def test_routing_members_carry_their_health_check(default_config, synthesized, name):
    """The default configuration replicates its databases, so every region is a latency member."""
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    check_name, _ = only(stack, "aws_route53_health_check")
    alb_name, _ = only(stack, "aws_lb")
    (member,) = alias_records(stack, env.origin_domain).values()
    assert refers_to(member["health_check_id"], "aws_route53_health_check", check_name, "id"), "F3"
    assert member["set_identifier"] == region_of(name)
    assert env.dns.routing_policy == "latency"
    assert member["latency_routing_policy"] == {"region": region_of(name)}
    assert "failover_routing_policy" not in member
    assert refers_to(member["alias"]["zone_id"], "aws_lb", alb_name, "zone_id")
    assert member["alias"]["evaluate_target_health"] is True
    assert stack["output"]["origin_record"] and stack["output"]["regional_origin_record"]


def test_every_health_check_is_attached_and_set_identifiers_are_unique(synthesized):
    for env in ("dev", "staging", "prod"):
        identifiers = []
        for name in [n for n in REGIONAL if n.startswith(f"{env}-")]:
            stack = synthesized.stacks[name]
            check_name, _ = only(stack, "aws_route53_health_check")
            attached = [
                r
                for r in alias_records(stack).values()
                if refers_to(r.get("health_check_id", ""), "aws_route53_health_check", check_name, "id")
            ]
            assert attached, f"{name}: health check not attached to any record"
            identifiers += [r["set_identifier"] for r in alias_records(stack).values() if "set_identifier" in r]
        assert len(identifiers) == len(set(identifiers)) == 2


def test_latency_routing_gives_every_region_a_member(default_data, tmp_path):
    stacks = env_variant(
        default_data, tmp_path, "staging", dns_routing_policy="latency", regions=["us-east-1", "us-west-2", "eu-west-1"]
    )
    for region in ("us-east-1", "us-west-2", "eu-west-1"):
        (member,) = alias_records(stacks[f"staging-{region}"], "origin.staging.example.com").values()
        assert member["latency_routing_policy"] == {"region": region}
        assert member["set_identifier"] == region and member["health_check_id"]


def test_weighted_routing_uses_configured_weights(default_data, tmp_path):
    stacks = env_variant(
        default_data, tmp_path, "dev", dns_routing_policy="weighted", dns_weights={"us-east-1": 200, "us-west-2": 55}
    )
    weights = {
        r: next(iter(alias_records(stacks[f"dev-{r}"], "origin.dev.example.com").values()))["weighted_routing_policy"][
            "weight"
        ]
        for r in ("us-east-1", "us-west-2")
    }
    assert weights == {"us-east-1": 200, "us-west-2": 55}


def test_failover_beyond_two_regions_chains_nested_failover_sets(default_data, tmp_path):
    """The third region is the SECONDARY of the second's level (tests/test_routing.py follows
    the whole chain for three and four regions)."""
    stacks = env_variant(
        default_data, tmp_path, "dev", dns_routing_policy="failover", regions=["us-east-1", "us-west-2", "eu-west-1"]
    )
    third = stacks["dev-eu-west-1"]
    assert alias_records(third, "origin.dev.example.com") == {}
    (member,) = alias_records(third, "failover-1.origin.dev.example.com").values()
    assert member["failover_routing_policy"] == {"type": "SECONDARY"} and member["health_check_id"]
    second = alias_records(stacks["dev-us-west-2"], "origin.dev.example.com")
    (chain,) = second.values()
    assert chain["failover_routing_policy"] == {"type": "SECONDARY"} and "health_check_id" not in chain
    assert third["output"]["origin_record"]


@pytest.mark.parametrize(("topology", "policy"), [("independent", None), ("replica", "failover")])
def test_failover_routing_makes_the_writer_the_primary(default_data, tmp_path, topology, policy):
    """Failover routing (the default with independent databases, or chosen) answers with the
    writer's region first; moving `writer_region` (what `failover` records) moves the PRIMARY."""
    keys = {"database_topology": topology, **({"dns_routing_policy": policy} if policy else {})}
    for writer, standby in (("us-east-1", "us-west-2"), ("us-west-2", "us-east-1")):
        stacks = env_variant(default_data, tmp_path / writer, "dev", writer_region=writer, **keys)
        roles = {
            region: next(iter(alias_records(stacks[f"dev-{region}"], "origin.dev.example.com").values()))[
                "failover_routing_policy"
            ]["type"]
            for region in (writer, standby)
        }
        assert roles == {writer: "PRIMARY", standby: "SECONDARY"}
        for region in (writer, standby):
            for record in alias_records(stacks[f"dev-{region}"]).values():
                if "failover_routing_policy" in record:
                    assert record["allow_overwrite"] is True, "takes over what `failover` wrote"


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
