"""R1/F12: VPC, subnet tiers, NAT policy, routing, endpoints, default SG and flow logs, on the
synthesized JSON of every regional stack of the default configuration."""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from support.stack_names import REGIONAL, env_of, region_of
from support.tfjson import only, policy_document, referenced, refers_to, resources, tagged

from modules.network import INTERFACE_ENDPOINTS


def by_tier(stack):
    tiers = {}
    for name, body in resources(stack, "aws_subnet").items():
        tiers.setdefault(body["tags"]["Service"].rsplit("-", 1)[0], []).append((name, body))
    return tiers


@pytest.mark.parametrize("name", REGIONAL)
def test_vpc_uses_the_configured_cidr_with_dns(default_config, synthesized, name):
    stack = synthesized.stacks[name]
    _, vpc = only(stack, "aws_vpc")
    assert vpc["cidr_block"] == env_of(default_config, name).cidrs[region_of(name)]
    assert vpc["enable_dns_support"] is True and vpc["enable_dns_hostnames"] is True


def test_synthesized_vpcs_never_overlap_across_environments_and_regions(synthesized):
    blocks = {
        name: ipaddress.IPv4Network(only(synthesized.stacks[name], "aws_vpc")[1]["cidr_block"]) for name in REGIONAL
    }
    for (a, net_a), (b, net_b) in itertools.combinations(blocks.items(), 2):
        assert not net_a.overlaps(net_b), f"{a} {net_a} overlaps {b} {net_b}"


@pytest.mark.parametrize("name", REGIONAL)
def test_three_tiers_across_the_configured_zones(default_config, synthesized, name):
    stack = synthesized.stacks[name]
    az_count = env_of(default_config, name).network.az_count
    assert az_count == (3 if name.startswith("prod") else 2)
    vpc_name, vpc = only(stack, "aws_vpc")
    vpc_net = ipaddress.IPv4Network(vpc["cidr_block"])
    tiers = by_tier(stack)
    assert sorted(tiers) == ["app", "db", "public"]
    nets = []
    for subnets in tiers.values():
        assert len(subnets) == az_count
        zones = [body["availability_zone"] for _, body in subnets]
        assert len(set(zones)) == az_count, "one subnet per zone per tier"
        for _, body in subnets:
            assert refers_to(body["vpc_id"], "aws_vpc", vpc_name, "id")
            assert body["map_public_ip_on_launch"] is False
            net = ipaddress.IPv4Network(body["cidr_block"])
            assert net.subnet_of(vpc_net)
            nets.append(net)
    for a, b in itertools.combinations(nets, 2):
        assert not a.overlaps(b)


@pytest.mark.parametrize("name", REGIONAL)
def test_subnets_span_zones_from_the_data_source(default_config, synthesized, name):
    stack = synthesized.stacks[name]
    zones_name, zones = only(stack, "aws_availability_zones", data=True)
    assert zones["state"] == "available"
    for body in resources(stack, "aws_subnet").values():
        assert refers_to(body["availability_zone"], "aws_availability_zones", zones_name, "names", data=True)
    (precondition,) = only(stack, "aws_vpc")[1]["lifecycle"]["precondition"]
    assert f">= {env_of(default_config, name).network.az_count}" in precondition["condition"]
    assert zones_name in precondition["condition"]


@pytest.mark.parametrize("name", REGIONAL)
def test_nat_gateways_follow_the_policy(default_config, synthesized, name):
    stack = synthesized.stacks[name]
    env = env_of(default_config, name)
    nats = resources(stack, "aws_nat_gateway")
    assert len(nats) == (env.network.az_count if env.network.nat_policy == "per_az" else 1)
    assert len(nats) == (3 if name.startswith("prod") else 1), "prod: one per AZ; dev and staging: one"
    public_ids = {n for n, _ in by_tier(stack)["public"]}
    for body in nats.values():
        assert any(refers_to(body["subnet_id"], "aws_subnet", s, "id") for s in public_ids)
        _, _, eip = referenced(stack, body["allocation_id"])
        assert eip["domain"] == "vpc"


def routes_of(stack, table_name):
    return [
        r
        for r in resources(stack, "aws_route").values()
        if refers_to(r["route_table_id"], "aws_route_table", table_name, "id")
    ]


def table_of(stack, subnet_name):
    """The logical name of the route table a subnet is associated with (exactly one)."""
    (assoc,) = [
        a
        for a in resources(stack, "aws_route_table_association").values()
        if refers_to(a["subnet_id"], "aws_subnet", subnet_name, "id")
    ]
    return referenced(stack, assoc["route_table_id"])[1]


@pytest.mark.parametrize("name", REGIONAL)
def test_routing_per_tier_and_an_isolated_database_tier(default_config, synthesized, name):
    stack = synthesized.stacks[name]
    igw_name, _ = only(stack, "aws_internet_gateway")
    route_tables = resources(stack, "aws_route_table")
    names_by_tier = {tier: {table_of(stack, s) for s, _ in subnets} for tier, subnets in by_tier(stack).items()}
    for public_table in names_by_tier["public"]:
        (route,) = routes_of(stack, public_table)
        assert route["destination_cidr_block"] == "0.0.0.0/0"
        assert refers_to(route["gateway_id"], "aws_internet_gateway", igw_name, "id")
    nat_targets = set()
    for app_table in names_by_tier["app"]:
        (route,) = routes_of(stack, app_table)
        assert route["destination_cidr_block"] == "0.0.0.0/0" and "gateway_id" not in route
        nat_targets.add(referenced(stack, route["nat_gateway_id"])[1])
    env = env_of(default_config, name)
    assert len(nat_targets) == (env.network.az_count if env.network.nat_policy == "per_az" else 1)
    for db_table in names_by_tier["db"]:
        assert routes_of(stack, db_table) == [], "the database tier has no route beyond the VPC"
        assert "route" not in route_tables[db_table]
    assert not names_by_tier["db"] & (names_by_tier["app"] | names_by_tier["public"])
    assert len(names_by_tier["app"]) == env.network.az_count, "one app route table per zone"


@pytest.mark.parametrize("name", REGIONAL)
def test_gateway_endpoints_on_the_private_route_tables(synthesized, name):
    stack = synthesized.stacks[name]
    endpoints = {
        b["service_name"].rsplit(".", 1)[1]: b
        for b in resources(stack, "aws_vpc_endpoint").values()
        if b["vpc_endpoint_type"] == "Gateway"
    }
    assert sorted(endpoints) == ["dynamodb", "s3"]
    app_tables = {n for n, b in resources(stack, "aws_route_table").items() if b["tags"]["Service"].startswith("app")}
    for body in endpoints.values():
        assert body["service_name"].startswith(f"com.amazonaws.{region_of(name)}.")
        assert {n for n in app_tables if refers_to(body["route_table_ids"], "aws_route_table", n, "id")} == app_tables


@pytest.mark.parametrize("name", REGIONAL)
def test_interface_endpoints_are_switchable_and_locked_to_https_from_the_vpc(default_config, synthesized, name):
    stack = synthesized.stacks[name]
    env = env_of(default_config, name)
    interface = {
        b["service_name"].rsplit(".", 1)[1]: b
        for b in resources(stack, "aws_vpc_endpoint").values()
        if b["vpc_endpoint_type"] == "Interface"
    }
    endpoint_groups = [
        b for b in resources(stack, "aws_security_group").values() if b["tags"]["Service"] == "endpoints"
    ]
    if not env.network.interface_endpoints:
        assert interface == {} and endpoint_groups == []
        return
    assert name.startswith("prod")
    assert sorted(interface) == sorted(INTERFACE_ENDPOINTS)
    for service in ("ssm", "secretsmanager", "logs", "kms", "sns", "sts"):
        assert service in interface
    sg_name, sg = tagged(stack, "aws_security_group", "endpoints")
    assert "ingress" not in sg and "egress" not in sg
    (rule,) = [
        r
        for r in resources(stack, "aws_vpc_security_group_ingress_rule").values()
        if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")
    ]
    assert (rule["from_port"], rule["to_port"], rule["ip_protocol"]) == (443, 443, "tcp")
    assert rule["cidr_ipv4"] == env.cidrs[region_of(name)]
    assert not [
        r
        for r in resources(stack, "aws_vpc_security_group_egress_rule").values()
        if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")
    ], "no egress"
    for body in interface.values():
        assert body["private_dns_enabled"] is True
        assert refers_to(body["security_group_ids"], "aws_security_group", sg_name, "id")
        assert len(body["subnet_ids"]) == env.network.az_count


@pytest.mark.parametrize("name", REGIONAL)
def test_default_security_group_has_no_rules(synthesized, name):
    _, default = only(synthesized.stacks[name], "aws_default_security_group")
    assert "ingress" not in default and "egress" not in default
    assert refers_to(default["vpc_id"], "aws_vpc", only(synthesized.stacks[name], "aws_vpc")[0], "id")


@pytest.mark.parametrize("name", REGIONAL)
def test_flow_logs_have_their_own_group_role_retention_and_key(default_config, synthesized, name):
    stack = synthesized.stacks[name]
    env = env_of(default_config, name)
    _, flow = only(stack, "aws_flow_log")
    assert flow["traffic_type"] == "ALL" and flow["max_aggregation_interval"] == 60
    assert flow["log_destination_type"] == "cloud-watch-logs"
    assert refers_to(flow["vpc_id"], "aws_vpc", only(stack, "aws_vpc")[0], "id")
    group_name, group = tagged(stack, "aws_cloudwatch_log_group", "flow-logs")
    assert refers_to(flow["log_destination"], "aws_cloudwatch_log_group", group_name, "arn")
    assert group["name"] == f"{name}-flow-logs-{default_config.project.suffix}"
    assert group["retention_in_days"] == env.log_retention_days
    assert refers_to(group["kms_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    role_name, role = tagged(stack, "aws_iam_role", "flow-logs")
    assert refers_to(flow["iam_role_arn"], "aws_iam_role", role_name, "arn")
    (trust,) = policy_document(stack, role["assume_role_policy"])
    assert trust["actions"] == ["sts:AssumeRole"]
    assert trust["principals"] == [{"type": "Service", "identifiers": ["vpc-flow-logs.amazonaws.com"]}]
    conditions = {c["variable"]: c for c in trust["condition"]}
    assert conditions["aws:SourceAccount"]["test"] == "StringEquals"
    assert refers_to(
        conditions["aws:SourceAccount"]["values"], "aws_caller_identity", "caller", "account_id", data=True
    )
    (policy,) = [
        p
        for p in resources(stack, "aws_iam_role_policy").values()
        if refers_to(p["role"], "aws_iam_role", role_name, "id")
    ]
    (grant,) = policy_document(stack, policy["policy"])
    assert sorted(grant["actions"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert grant["resources"] and all(
        refers_to(r, "aws_cloudwatch_log_group", group_name, "arn") for r in grant["resources"]
    ), "permissions on that log group only"


def test_flow_log_retention_follows_the_environment(synthesized):
    retention = {
        name.split("-")[0]: tagged(synthesized.stacks[name], "aws_cloudwatch_log_group", "flow-logs")[1][
            "retention_in_days"
        ]
        for name in REGIONAL
    }
    assert retention == {"dev": 14, "staging": 30, "prod": 365}


@pytest.mark.parametrize("name", REGIONAL)
def test_network_outputs(synthesized, name):
    outputs = synthesized.stacks[name]["output"]
    for key in ("vpc_id", "public_subnet_ids", "app_subnet_ids", "db_subnet_ids", "log_bucket_name"):
        assert outputs[key]["description"], key
    assert refers_to(outputs["vpc_id"]["value"], "aws_vpc", only(synthesized.stacks[name], "aws_vpc")[0], "id")


def test_nat_policy_and_endpoints_are_configurable(default_data, tmp_path):
    from support.configs import variant
    from support.synth import synthesize

    from config import model

    data = variant(
        default_data, environments={"dev": {"nat_policy": "per_az", "interface_endpoints": True, "az_count": 3}}
    )
    result = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev")
    stack = result.stacks["dev-us-east-1"]
    assert len(resources(stack, "aws_nat_gateway")) == 3
    assert len(
        [b for b in resources(stack, "aws_vpc_endpoint").values() if b["vpc_endpoint_type"] == "Interface"]
    ) == len(INTERFACE_ENDPOINTS)
