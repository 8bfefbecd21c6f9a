"""D1/F15: ops/cost.py and `cost`: the monthly estimate from the synthesized Terraform JSON and
the cited price table, the plan's monthly delta, and the CLI (JSON output, bad input).

Expected figures are computed from the table's own entries (never typed in here), so a test fails
when the estimate stops following the JSON or the table, not when a price is updated."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date

import pytest
from support.plans import plan
from support.synth import env_variant
from support.terraform import invoke
from support.tfjson import resources

from config import model
from ops import cost

TABLE = cost.load_prices()
HOURS = TABLE.hours_per_month


def estimate_of(synth, env: str | None = None) -> cost.Estimate:
    specs = synth.config.select(env)
    return cost.estimate_stacks(specs, synth.stacks, TABLE)


def stack_of(estimate: cost.Estimate, name: str) -> cost.StackCost:
    (found,) = [s for s in estimate.stacks if s.stack == name]
    return found


def lines(stack: cost.StackCost, resource_type: str, kind: str | None = None) -> list[cost.Line]:
    return [x for x in stack.lines if x.resource_type == resource_type and (kind is None or x.kind == kind)]


def price(item: str, region: str, variant: str = "") -> float:
    found = TABLE.find(item, region, variant)
    assert found is not None, f"the table lost {item} {variant} {region}"
    return found.usd


@pytest.fixture(scope="module")
def default_estimate(synthesized) -> cost.Estimate:
    return estimate_of(synthesized)


# --- the price table -------------------------------------------------------------------------


def test_every_price_has_its_source_url_and_the_date_it_was_read():
    raw = json.loads(cost.PRICES.read_text())
    entries = [*raw["prices"], raw["hours_per_month"]]
    assert len(raw["prices"]) == len(TABLE.prices) > 10
    for entry in entries:
        assert re.match(r"^https://[a-z0-9.-]+\.[a-z]{2,}/", entry["source"]), entry
        assert date.fromisoformat(entry["read"]) <= date.today(), entry
    for entry in raw["prices"]:
        assert entry["usd"] >= 0 and entry["per"] and entry["region"], entry
    keys = [(p.item, p.variant, p.region) for p in TABLE.prices]
    assert len(keys) == len(set(keys)), "one price per item, variant and region"


def test_a_price_without_its_source_is_refused(tmp_path):
    raw = json.loads(cost.PRICES.read_text())
    del raw["prices"][0]["source"]
    broken = tmp_path / "aws.json"
    broken.write_text(json.dumps(raw))
    with pytest.raises(cost.PriceTableError, match=r"prices\[0\] lacks source") as error:
        cost.load_prices(broken)
    assert error.value.exit_code == 2
    broken.write_text("{")
    with pytest.raises(cost.PriceTableError, match="not a price table"):
        cost.load_prices(broken)


# --- the estimate from the synthesized JSON --------------------------------------------------


COUNTED = {  # resource type -> the line that counts one of each
    "aws_nat_gateway": "NAT gateways",
    "aws_eip": "Public IPv4 addresses (Elastic IPs)",
    "aws_lb": "Application load balancers",
    "aws_kms_key": "KMS keys",
    "aws_cloudwatch_metric_alarm": "CloudWatch alarms",
    "aws_secretsmanager_secret": "Secrets Manager secrets",
    "aws_route53_health_check": "Route 53 health checks (AWS endpoint)",
    "aws_wafv2_web_acl": "WAF web ACLs",
    "aws_config_config_rule": "AWS Config rule evaluations",
}


def test_every_resource_of_the_json_is_counted_once(synthesized, default_estimate):
    for stack in default_estimate.stacks:
        tf = synthesized.stacks[stack.stack]
        for type_, what in COUNTED.items():
            counted = sum(x.count for x in stack.lines if x.what == what)
            assert counted == len(resources(tf, type_)), (stack.stack, type_)
        databases = lines(stack, "aws_db_instance")
        assert sum(x.count for x in databases if x.what.startswith("RDS db.")) == len(resources(tf, "aws_db_instance"))
        endpoints = resources(tf, "aws_vpc_endpoint").values()
        interface = [e for e in endpoints if e["vpc_endpoint_type"] == "Interface"]
        assert sum(x.count for x in lines(stack, "aws_vpc_endpoint") if "interface endpoints" in x.what) == len(
            interface
        )


def test_instances_are_counted_at_the_configured_count(synthesized, default_estimate):
    for spec in synthesized.config.select():
        if not spec.role.regional:
            continue
        tf = synthesized.stacks[spec.name]
        configured = tf["variable"]["instance_count"]["default"]
        ((_, template),) = resources(tf, "aws_launch_template").items()
        (instances,) = lines(stack_of(default_estimate, spec.name), "aws_autoscaling_group")
        assert instances.count == configured == synthesized.config.environments[spec.environment].scaling.instance_count
        assert instances.what == f"EC2 instances {template['instance_type']}"


def test_an_instance_type_the_table_lacks_is_counted_as_no_price(synthesized):
    """The dev JSON priced with a table that has no t4g.micro: the instances are counted, not estimated."""
    lacking = replace(TABLE, prices=tuple(p for p in TABLE.prices if p.variant != "t4g.micro"))
    estimate = cost.estimate_stacks(synthesized.config.select("dev"), synthesized.stacks, lacking)
    stack = stack_of(estimate, "dev-us-east-1")
    (instances,) = lines(stack, "aws_autoscaling_group")
    assert (instances.kind, instances.count, instances.monthly) == (cost.NO_PRICE, 3, 0.0)
    assert "t4g.micro" in instances.why
    assert stack.unpriced >= 3
    assert ["EC2 instances t4g.micro", "3", instances.why, "no price"] in cost.rows(stack)
    priced = stack_of(estimate_of(synthesized, "dev"), "dev-us-east-1")
    assert priced.monthly - stack.monthly == pytest.approx(3 * HOURS * price("ec2.instance", "us-east-1", "t4g.micro"))


def test_a_region_without_prices_says_so(default_estimate):
    """Every region of the default configuration has prices of its own; one the table lacks is named."""
    assert default_estimate.regions_without_prices() == []
    assert "eu-central-1" not in TABLE.regions

    def nat_in(region: str) -> cost.StackCost:
        res = cost.Resources({"aws_nat_gateway": {"a": {}}}, {}, {"": region})
        return cost.stack_cost(f"x-{region}", "x", region, res, TABLE)

    stacks = [nat_in("us-east-1"), nat_in("eu-central-1")]
    estimate = cost.Estimate(TABLE, stacks)
    assert estimate.regions_without_prices() == ["eu-central-1"]
    (nat_east,), (nat_central,) = ([x for x in s.lines if x.what == "NAT gateways"] for s in stacks)
    assert nat_central.kind == cost.NO_PRICE and "eu-central-1" in nat_central.why
    assert nat_east.monthly == pytest.approx(HOURS * price("nat_gateway.hour", "us-east-1"))
    notes = "\n".join(cost.footnotes(estimate))
    assert "no prices of its own for eu-central-1" in notes
    assert "ops/prices/aws.json" in notes and all(url in notes for url, _ in TABLE.sources)


def test_usage_priced_charges_show_their_rate_and_stay_out_of_the_totals(synthesized, default_estimate):
    stack = stack_of(default_estimate, "prod-us-east-1")
    usage = [x for x in stack.lines if x.kind == cost.USAGE]
    assert {"CloudWatch Logs ingestion", "NAT gateway data processed", "Load balancer capacity units"} <= {
        x.what for x in usage
    }
    assert all(x.monthly == 0 for x in usage)
    retention = synthesized.config.environments["prod"].log_retention_days
    (storage,) = [x for x in usage if x.what.startswith("CloudWatch Logs storage")]
    assert f"kept {retention} days" in storage.what
    assert storage.price.usd == price("logs.storage", "us-east-1")
    assert stack.monthly == pytest.approx(sum(x.quantity * x.price.usd for x in stack.lines if x.kind == cost.FIXED))
    rows = {row[0]: row for row in cost.rows(stack)}
    assert rows["CloudWatch Logs ingestion"][2:] == [
        f"${price('logs.ingestion', 'us-east-1'):g} per GB ingested",
        "usage",
    ]


def test_waf_is_priced_per_web_acl_and_rule(synthesized, default_estimate):
    tf = synthesized.stacks["prod-global"]
    ((_, acl),) = resources(tf, "aws_wafv2_web_acl").items()
    stack = stack_of(default_estimate, "prod-global")
    expected = price("waf.web_acl", "us-east-1") + len(acl["rule"]) * price("waf.rule", "us-east-1")
    assert sum(x.monthly for x in lines(stack, "aws_wafv2_web_acl")) == pytest.approx(expected)
    assert not lines(stack_of(default_estimate, "dev-global"), "aws_wafv2_web_acl"), "dev has no WAF"


def test_a_replica_is_priced_with_its_writers_storage(synthesized, default_estimate):
    writer = next(iter(resources(synthesized.stacks["staging-us-east-1"], "aws_db_instance").values()))
    replica = next(iter(resources(synthesized.stacks["staging-us-west-2"], "aws_db_instance").values()))
    assert "allocated_storage" not in replica and replica["replicate_source_db"].endswith(writer["identifier"])
    west = stack_of(default_estimate, "staging-us-west-2")
    assert any(x.what == f"RDS storage gp3 {writer['allocated_storage']} GB Single-AZ" for x in west.lines)
    assert any("(read replica)" in x.what for x in west.lines)


def test_totals_per_environment_and_overall(default_estimate):
    rows = {row[0]: row for row in cost.totals(default_estimate)}
    for env, stacks in default_estimate.environments().items():
        assert rows[env][1] == cost.money(sum(s.monthly for s in stacks))
        assert rows[env][2] == str(sum(s.unpriced for s in stacks))
    assert rows["all"][1] == cost.money(default_estimate.monthly) and default_estimate.monthly > 0


def test_resources_the_default_configuration_does_not_create_are_counted_too():
    """Aurora (database_topology = "aurora_global"), a created hosted zone, an instance type no page
    was read for and a network load balancer: counted as "no price", never estimated."""
    res = cost.Resources(
        {
            "aws_rds_cluster": {"global": {"engine": "aurora-postgresql"}},
            "aws_rds_cluster_instance": {"writer": {"instance_class": "db.r6g.large"}},
            "aws_route53_zone": {"zone": {"name": "example.com"}},
            "aws_instance": {"odd": {"instance_type": "x9.huge"}, "known": {"instance_type": "m7g.large"}},
            "aws_lb": {"nlb": {"load_balancer_type": "network"}},
        },
        {},
        {"": "us-east-1"},
    )
    stack = cost.stack_cost("x-us-east-1", "x", "us-east-1", res, TABLE)
    unpriced = {x.what: x for x in stack.lines if x.kind == cost.NO_PRICE}
    assert set(unpriced) == {
        "Aurora instances db.r6g.large",
        "Route 53 hosted zones",
        "EC2 instances x9.huge",
        "network load balancers",
    }
    assert "x9.huge" in unpriced["EC2 instances x9.huge"].why and stack.unpriced == 4
    assert [x.kind for x in stack.lines if x.resource_type == "aws_rds_cluster"] == [cost.USAGE]
    assert stack.monthly == pytest.approx(HOURS * price("ec2.instance", "us-east-1", "m7g.large"))


@pytest.fixture(scope="module")
def varied(default_data, tmp_path_factory):
    """dev synthesized twice more: an instance type the table prices, and a bigger Multi-AZ database."""
    return {
        "instance_type": env_variant(default_data, tmp_path_factory.mktemp("type"), "dev", instance_type="m7g.large"),
        "database": env_variant(
            default_data,
            tmp_path_factory.mktemp("db"),
            "dev",
            db_instance_class="db.t4g.small",
            db_multi_az=True,
        ),
    }


def dev_estimate(stacks: dict) -> cost.Estimate:
    return cost.estimate_stacks(model.load().select("dev"), stacks, TABLE)


def test_changing_the_instance_type_changes_the_figure_by_exactly_its_price(synthesized, varied):
    before = stack_of(estimate_of(synthesized, "dev"), "dev-us-east-1")
    after = stack_of(dev_estimate(varied["instance_type"]), "dev-us-east-1")
    count = model.load().environments["dev"].scaling.instance_count
    per_instance = price("ec2.instance", "us-east-1", "m7g.large") - price("ec2.instance", "us-east-1", "t4g.micro")
    assert after.monthly - before.monthly == pytest.approx(count * HOURS * per_instance)
    assert before.unpriced == after.unpriced


def test_changing_the_database_class_and_multi_az_changes_the_figure_by_exactly_the_prices(synthesized, varied):
    before = stack_of(estimate_of(synthesized, "dev"), "dev-us-east-1")
    after = stack_of(dev_estimate(varied["database"]), "dev-us-east-1")
    storage = model.load().environments["dev"].database.allocated_storage
    expected = HOURS * (
        price("rds.instance", "us-east-1", "db.t4g.small/multi-az")
        - price("rds.instance", "us-east-1", "db.t4g.micro/single-az")
    ) + storage * (
        price("rds.storage", "us-east-1", "gp3/multi-az") - price("rds.storage", "us-east-1", "gp3/single-az")
    )
    assert after.monthly - before.monthly == pytest.approx(expected)
    assert any(x.what == "RDS db.t4g.small Multi-AZ (writer)" for x in after.lines)


def test_an_example_configuration_in_a_region_the_table_lacks(tmp_path):
    """config/examples/single-region.toml through the CLI: eu-central-1 has no prices of its own, so
    its regional charges are counted without a price and the region is named; the counts follow
    the example's own synthesized JSON."""
    example = model.DEFAULT_CONFIG.parent / "examples" / "single-region.toml"
    result = invoke(tmp_path, "cost", "--config", str(example), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["regions_without_prices"] == ["eu-central-1"]
    (regional,) = [s for s in data["stacks"] if s["region"] == "eu-central-1"]
    tf = json.loads((tmp_path / "out" / "stacks" / regional["stack"] / "cdk.tf.json").read_text())
    by_what = {line["what"]: line for line in regional["lines"]}
    nat = by_what["NAT gateways"]
    assert (nat["kind"], nat["count"]) == (cost.NO_PRICE, len(resources(tf, "aws_nat_gateway")))
    assert "eu-central-1" in nat["why"]
    for type_, what in COUNTED.items():
        assert sum(line["count"] for line in regional["lines"] if line["what"] == what) == len(resources(tf, type_))
    keys = by_what["KMS keys"]
    assert keys["unit_price"]["region"] == cost.ANY_REGION and keys["monthly_usd"] == price("kms.key", "eu-central-1")


# --- the plan's monthly delta ----------------------------------------------------------------


def test_a_plan_that_creates_a_stack_adds_its_estimate(synthesized, default_estimate):
    stack = synthesized.stacks["prod-us-east-1"]
    delta = cost.plan_delta(plan(None, stack), "prod-us-east-1", TABLE)
    estimated = stack_of(default_estimate, "prod-us-east-1")
    assert (delta.before, delta.unpriced_before) == (0, 0)
    assert delta.monthly == pytest.approx(estimated.monthly) and delta.unpriced_after == estimated.unpriced
    destroy = cost.plan_delta(plan(stack, None), "prod-us-east-1", TABLE)
    assert destroy.monthly == pytest.approx(-estimated.monthly)


def test_a_plan_that_adds_an_instance_adds_its_price(varied):
    before = varied["instance_type"]["dev-us-east-1"]
    after = json.loads(json.dumps(before))
    after["variable"]["instance_count"]["default"] += 1  # what --instance-count us-east-1=4 plans
    delta = cost.plan_delta(plan(before, after), "dev-us-east-1", TABLE)
    ((_, template),) = resources(before, "aws_launch_template").items()
    (volume,) = template["block_device_mappings"]
    expected = HOURS * price("ec2.instance", "us-east-1", "m7g.large") + volume["ebs"]["volume_size"] * price(
        "ebs.gp3", "us-east-1"
    )
    assert delta.monthly == pytest.approx(expected)
    assert cost.plan_delta(plan(before, before), "dev-us-east-1", TABLE).monthly == 0


def test_a_deployed_groups_desired_capacity_does_not_hide_a_higher_count(varied):
    """A deployed group's state holds desired_capacity (AWS sets it to the minimum); the stacks never
    set it, so a plan raising min_size keeps the old desired value on its after side. The group runs
    at least min_size, so the delta is the added instance, not zero."""
    before = varied["instance_type"]["dev-us-east-1"]
    after = json.loads(json.dumps(before))
    after["variable"]["instance_count"]["default"] += 1
    planned = plan(before, after)
    deployed = before["variable"]["instance_count"]["default"]
    (group,) = [c for c in planned["resource_changes"] if c["type"] == "aws_autoscaling_group"]
    for side in ("before", "after"):
        group["change"][side]["desired_capacity"] = deployed  # what state (and so the plan) holds
    ((_, template),) = resources(before, "aws_launch_template").items()
    (volume,) = template["block_device_mappings"]
    expected = HOURS * price("ec2.instance", "us-east-1", "m7g.large") + volume["ebs"]["volume_size"] * price(
        "ebs.gp3", "us-east-1"
    )
    assert cost.plan_delta(planned, "dev-us-east-1", TABLE).monthly == pytest.approx(expected)


def real_plan(tmp_path, endpoint: str, count: int) -> dict:
    """`terraform show -json` of a real `terraform plan`: a small configuration that creates what the
    stacks create (NAT gateways with their addresses, one through an aliased provider in eu-central-1,
    an Auto Scaling group of a launch template, a key), every AWS endpoint on the moto server."""
    from ops import terraform, toolchain

    folder = tmp_path / "out" / "stacks" / "mini"
    folder.mkdir(parents=True)
    endpoints = {name: endpoint for name in ("sts", "ec2", "kms", "autoscaling", "iam")}
    provider = {
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": "true",
        "endpoints": [endpoints],
    }
    config = {
        "terraform": {
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": toolchain.PROVIDER_VERSION}}
        },
        "provider": {
            "aws": [{**provider, "region": "us-east-1"}, {**provider, "region": "eu-central-1", "alias": "west"}]
        },
        "variable": {"instance_count": {"type": "number", "default": count}},
        "resource": {
            "aws_vpc": {
                "net": {"cidr_block": "10.0.0.0/16"},
                "west": {"provider": "aws.west", "cidr_block": "10.1.0.0/16"},
            },
            "aws_subnet": {
                "a": {"vpc_id": "${aws_vpc.net.id}", "cidr_block": "10.0.0.0/24"},
                "west": {"provider": "aws.west", "vpc_id": "${aws_vpc.west.id}", "cidr_block": "10.1.0.0/24"},
            },
            "aws_eip": {"nat": {"domain": "vpc"}, "west": {"provider": "aws.west", "domain": "vpc"}},
            "aws_nat_gateway": {
                "nat": {"allocation_id": "${aws_eip.nat.id}", "subnet_id": "${aws_subnet.a.id}"},
                "west": {
                    "provider": "aws.west",
                    "allocation_id": "${aws_eip.west.id}",
                    "subnet_id": "${aws_subnet.west.id}",
                },
            },
            "aws_launch_template": {
                "web": {
                    "instance_type": "m7g.large",
                    "block_device_mappings": [
                        {"device_name": "/dev/xvda", "ebs": {"volume_size": 20, "volume_type": "gp3"}}
                    ],
                }
            },
            "aws_autoscaling_group": {
                "web": {
                    "min_size": "${var.instance_count}",
                    "max_size": 6,
                    "vpc_zone_identifier": ["${aws_subnet.a.id}"],
                    "launch_template": {"id": "${aws_launch_template.web.id}"},
                }
            },
            "aws_kms_key": {"key": {"deletion_window_in_days": 7}},
        },
    }
    (folder / "main.tf.json").write_text(json.dumps(config))
    runner = terraform.Terraform(tmp_path / "out")
    runner.init("mini", backend=False)
    runner.plan("mini")
    return json.loads(runner.show_json("mini").read_text())


def test_the_delta_of_a_plan_made_by_terraform(tmp_path, moto_endpoint, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    made = real_plan(tmp_path, moto_endpoint, count=2)
    delta = cost.plan_delta(made, "mini", TABLE)
    instance = HOURS * price("ec2.instance", "us-east-1", "m7g.large") + 20 * price("ebs.gp3", "us-east-1")
    expected = (
        2 * instance
        + HOURS * price("nat_gateway.hour", "us-east-1")
        + HOURS * price("public_ipv4.hour", "us-east-1")
        + price("kms.key", "us-east-1")
    )
    assert TABLE.find("nat_gateway.hour", "eu-central-1") is None
    assert TABLE.find("public_ipv4.hour", "eu-central-1") is None
    unpriced = (delta.before, delta.unpriced_before, delta.unpriced_after)
    assert unpriced == (0, 0, 2), "eu-central-1's NAT gateway and its address, through the aliased provider"
    assert delta.monthly == pytest.approx(expected)


def test_the_plan_summary_shows_the_monthly_delta(fake, tmp_path, synthesized, default_estimate):
    fake.behavior["plans"] = {"dev-us-east-1": plan(None, synthesized.stacks["dev-us-east-1"])}
    fake.save()
    result = invoke(tmp_path, "plan", "--env", "dev", "--region", "us-east-1")
    assert result.exit_code == 0, result.output
    expected = cost.money(stack_of(default_estimate, "dev-us-east-1").monthly)
    assert f"Monthly cost change: +{expected}" in result.stdout


# --- the command -----------------------------------------------------------------------------


def test_cost_prints_each_stack_the_totals_and_the_sources(tmp_path):
    result = invoke(tmp_path, "cost", "--env", "dev")
    assert result.exit_code == 0, result.output
    for stack in ("dev-us-east-1", "dev-us-west-2", "dev-global"):
        assert f"{stack}: $" in result.stdout
    assert "usage" in result.stdout  # no-price rows: see the tests of rows() above
    assert re.search(r"│ dev\s+│ \$[\d,]+\.\d\d", result.stdout) and re.search(r"│ all\s+│", result.stdout)
    assert all(url in result.stdout for url, _ in TABLE.sources)
    assert TABLE.sources[0][1] in result.stdout  # the date the prices were read


def test_cost_json_is_the_same_estimate(tmp_path):
    result = invoke(tmp_path, "cost", "--env", "staging", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [s["stack"] for s in data["stacks"]] == ["staging-us-east-1", "staging-us-west-2", "staging-global"]
    assert data["monthly_usd"] == pytest.approx(sum(s["monthly_usd"] for s in data["stacks"]), abs=0.02)
    assert data["environments"]["staging"]["monthly_usd"] == data["monthly_usd"]
    assert data["regions_without_prices"] == []
    assert {s["url"] for s in data["sources"]} == {url for url, _ in TABLE.sources}
    fixed = [line for s in data["stacks"] for line in s["lines"] if line["kind"] == cost.FIXED]
    assert all(line["unit_price"]["source"].startswith("https://") for line in fixed)


def test_cost_rejects_an_unknown_environment_with_exit_2(tmp_path):
    result = invoke(tmp_path, "cost", "--env", "qa")
    assert result.exit_code == 2
    assert result.output.startswith("error:") and "qa" in result.output


def test_the_readme_shows_the_current_totals(default_estimate):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    shown = dict(re.findall(r"│ (dev|staging|prod|all)\s+│ (\$[\d,]+\.\d\d)\s+│", readme))
    assert shown == {row[0]: row[1] for row in cost.totals(default_estimate)}, "paste `python main.py cost` again"


def test_the_readme_shows_what_a_replica_region_adds_per_profile(default_estimate):
    """README "What the database topology costs": each profile's row is the estimate's database
    lines of that environment's replica region (instance + storage), so a price or class change
    that is not pasted there fails here."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = re.findall(
        r"^\| (dev|staging|prod) \| [^|]+ \| \$([\d,.]+) \(\$([\d,.]+) instance \+ \$([\d,.]+) storage\) \|$",
        readme,
        re.MULTILINE,
    )
    assert {env for env, *_ in rows} == {"dev", "staging", "prod"}
    stacks = {s.stack: s for s in default_estimate.stacks}
    for env, total, instance, storage in rows:
        lines = [line for line in stacks[f"{env}-us-west-2"].lines if line.resource_type == "aws_db_instance"]
        (replica,) = [line for line in lines if "(read replica)" in line.what]
        (volume,) = [line for line in lines if line.what.startswith("RDS storage")]
        assert (float(instance), float(storage)) == (round(replica.monthly, 2), round(volume.monthly, 2)), env
        assert float(total) == round(replica.monthly + volume.monthly, 2), env
