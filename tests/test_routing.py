"""Every configured region receives traffic under every routing policy, with three and four
regions: followed on the synthesized Terraform JSON from the viewer name through CloudFront's
origins and Route 53's record sets (nested failover sets included) to each region's load
balancer, with a small model of how Route 53 answers when regions are unhealthy."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

import pytest
from support.synth import synthesize
from support.tfjson import only, referenced, resources

from config import model
from stacks.base import PROJECT_ROOT

EXAMPLE = PROJECT_ROOT / "config" / "examples" / "three-regions-latency.toml"
FOURTH_REGION = "eu-central-1"


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    """The three-region example switched to failover (staging), a four-region failover prod,
    and two dev-profile environments for latency (four regions) and weighted (three)."""
    data = tomllib.loads(EXAMPLE.read_text())
    envs = data["environments"]
    three = list(envs["staging"]["regions"])
    envs["staging"]["dns_routing_policy"] = "failover"
    envs["prod"].update(dns_routing_policy="failover", regions=[*three, FOURTH_REGION])
    envs["latency"] = {
        "profile": "dev",
        "account_id": "121212121212",
        "regions": [*three, FOURTH_REGION],
        "dns_routing_policy": "latency",
    }
    envs["weighted"] = {
        "profile": "dev",
        "account_id": "131313131313",
        "regions": three,
        "dns_routing_policy": "weighted",
        "dns_weights": {three[0]: 100, three[1]: 50, three[2]: 1},
    }
    config = model.parse(data, "routing.toml")
    return synthesize(config, tmp_path_factory.mktemp("routing") / "out")


CASES = [("staging", 3, "failover"), ("prod", 4, "failover"), ("latency", 4, "latency"), ("weighted", 3, "weighted")]


def test_the_variants_are_what_they_claim(routed):
    for name, count, policy in CASES:
        env = routed.config.environments[name]
        assert (len(env.regions), env.dns.routing_policy) == (count, policy)


@dataclass(frozen=True)
class Record:
    stack: str
    region: str
    body: dict


class Zone:
    """The environment's alias records across its regional stacks, by name, with what each one
    points at: a region's load balancer, or another name of the zone."""

    def __init__(self, routed, env_name: str):
        env = routed.config.environments[env_name]
        self.env = env
        self.stacks = {f"{env_name}-{r}": routed.stacks[f"{env_name}-{r}"] for r in env.regions}
        self.by_name: dict[str, list[Record]] = {}
        for stack_name, stack in self.stacks.items():
            region = stack_name.removeprefix(f"{env_name}-")
            for body in resources(stack, "aws_route53_record").values():
                if "alias" in body:
                    self.by_name.setdefault(body["name"], []).append(Record(stack_name, region, body))

    def target(self, record: Record) -> tuple[str, str]:
        """("region", region) for an alias to the stack's load balancer, ("name", name) for an
        alias to another record of the zone."""
        type_, _, body = referenced(self.stacks[record.stack], record.body["alias"]["name"])
        if type_ == "aws_lb":
            return "region", record.region
        assert type_ == "aws_route53_record", record.body["alias"]
        return "name", body["name"]

    def regions_behind(self, name: str, seen: tuple[str, ...] = ()) -> set[str]:
        """Every region some answer for `name` can lead to."""
        assert name not in seen, f"alias loop through {name}"
        assert name in self.by_name, f"{name} has no record"
        found = set()
        for record in self.by_name[name]:
            kind, value = self.target(record)
            found |= {value} if kind == "region" else self.regions_behind(value, (*seen, name))
        return found

    def names_behind(self, name: str) -> set[str]:
        names = {name}
        for record in self.by_name[name]:
            kind, value = self.target(record)
            if kind == "name":
                names |= self.names_behind(value)
        return names

    def health_check_region(self, record: Record) -> str | None:
        if "health_check_id" not in record.body:
            return None
        type_, _, body = referenced(self.stacks[record.stack], record.body["health_check_id"])
        assert type_ == "aws_route53_health_check"
        assert body["fqdn"] == self.env.regional_origin_domain(record.region), "a region's check probes its own name"
        return record.region

    def healthy(self, record: Record, up: set[str]) -> bool:
        """Route 53's view of one record: its health check, and with evaluate_target_health the
        health of what it points at (a load balancer's region, or the record set it aliases)."""
        checked = self.health_check_region(record)
        if checked is not None and checked not in up:
            return False
        kind, value = self.target(record)
        if not record.body["alias"]["evaluate_target_health"]:
            return True
        return value in up if kind == "region" else self.answer(value, up) is not None

    def answer(self, name: str, up: set[str]) -> str | None:
        """The region Route 53 sends a query for `name` to, None when nothing healthy is left."""
        members = self.by_name[name]
        if all("failover_routing_policy" in r.body for r in members):
            order = sorted(members, key=lambda r: r.body["failover_routing_policy"]["type"] != "PRIMARY")
        else:  # latency or weighted: any healthy member may answer; the first one stands for it
            order = members
        for record in order:
            if self.healthy(record, up):
                kind, value = self.target(record)
                return value if kind == "region" else self.answer(value, up)
        return None


def distribution(routed, env_name: str) -> dict:
    return only(routed.stacks[f"{env_name}-global"], "aws_cloudfront_distribution")[1]


@pytest.mark.parametrize(("env_name", "count", "policy"), CASES)
def test_every_region_is_behind_the_viewer_name(routed, env_name, count, policy):
    zone, edge = Zone(routed, env_name), routed.stacks[f"{env_name}-global"]
    env = zone.env
    viewer = [r for r in resources(edge, "aws_route53_record").values() if r["name"] == env.app_domain]
    assert viewer and all(referenced(edge, r["alias"]["name"])[0] == "aws_cloudfront_distribution" for r in viewer)
    d = distribution(routed, env_name)
    origins = {o["origin_id"]: o["domain_name"] for o in d["origin"]}
    default = origins[d["default_cache_behavior"]["target_origin_id"]]
    assert default == env.origin_domain
    assert zone.regions_behind(default) == set(env.regions), f"{policy}: every region reachable from the viewer"


@pytest.mark.parametrize(("env_name", "count", "policy"), CASES)
def test_every_health_check_is_attached_to_a_record_the_viewer_name_reaches(routed, env_name, count, policy):
    zone = Zone(routed, env_name)
    reachable = zone.names_behind(zone.env.origin_domain)
    for region in zone.env.regions:
        stack = zone.stacks[f"{env_name}-{region}"]
        check_name, _ = only(stack, "aws_route53_health_check")
        attached = [
            r
            for records in zone.by_name.values()
            for r in records
            if r.stack == f"{env_name}-{region}"
            and "health_check_id" in r.body
            and referenced(stack, r.body["health_check_id"])[1] == check_name
        ]
        assert attached, f"{region}: health check attached to nothing"
        assert all(r.body["name"] in reachable for r in attached), f"{region}: attached to a record nothing reaches"
        assert all(zone.target(r) == ("region", region) for r in attached), "a check guards its own region's ALB"


@pytest.mark.parametrize(("env_name", "count", "policy"), CASES)
def test_each_region_answers_when_every_region_before_it_is_down(routed, env_name, count, policy):
    zone = Zone(routed, env_name)
    regions = zone.env.regions
    assert zone.answer(zone.env.origin_domain, set(regions)) is not None
    for index, region in enumerate(regions):
        up = set(regions[index:])
        answer = zone.answer(zone.env.origin_domain, up)
        if policy == "failover":
            assert answer == region, f"{regions[:index]} down: failover goes to {region}, got {answer}"
        else:
            assert answer in up
        # Alone healthy, every region serves, whatever the policy.
        assert zone.answer(zone.env.origin_domain, {region}) == region
    assert zone.answer(zone.env.origin_domain, set()) is None


@pytest.mark.parametrize(("env_name", "count", "policy"), CASES)
def test_record_sets_are_well_formed(routed, env_name, count, policy):
    """One routing policy per name; a failover set has exactly one PRIMARY and one SECONDARY;
    set identifiers are unique within a name; only records that alias a load balancer carry a
    health check (an alias to a record set is judged by evaluate_target_health, as Route 53
    recommends for nested sets)."""
    zone = Zone(routed, env_name)
    for name, records in zone.by_name.items():
        if name.startswith(tuple(f"{r}." for r in zone.env.regions)):
            continue  # <region>.origin.<env domain>: a simple alias
        assert len({r.body.get("set_identifier") for r in records}) == len(records), name
        if policy == "failover":
            assert sorted(r.body["failover_routing_policy"]["type"] for r in records) == ["PRIMARY", "SECONDARY"], name
        else:
            assert name == zone.env.origin_domain
            assert all(f"{policy}_routing_policy" in r.body for r in records)
        for record in records:
            assert record.body["alias"]["evaluate_target_health"] is True
            if zone.target(record)[0] == "name":
                assert "health_check_id" not in record.body, name
                assert record.body["alias"]["zone_id"] == record.body["zone_id"], "an alias within the zone"
            else:
                assert "health_check_id" in record.body, name
    failover_names = [
        n
        for n in zone.by_name
        if n.endswith(zone.env.origin_domain) and not n.startswith(tuple(f"{r}." for r in zone.env.regions))
    ]
    assert len(failover_names) == (count - 1 if policy == "failover" else 1), failover_names


@pytest.mark.parametrize(("env_name", "count", "policy"), CASES)
def test_origin_group_fails_over_to_a_name_behind_which_the_other_regions_are(routed, env_name, count, policy):
    zone, d = Zone(routed, env_name), distribution(routed, env_name)
    regions = zone.env.regions
    origins = {o["origin_id"]: o["domain_name"] for o in d["origin"]}
    (group,) = d["origin_group"]
    first, second = (origins[m["origin_id"]] for m in group["member"])
    assert zone.regions_behind(first) == {regions[0]}
    expected = set(regions[1:]) if policy == "failover" else {regions[1]}
    assert zone.regions_behind(second) == expected
    if policy == "failover":  # the standby name itself fails over, in order
        for index in range(1, count):
            assert zone.answer(second, set(regions[index:])) == regions[index]


@pytest.mark.parametrize(("env_name", "count", "policy"), CASES)
def test_every_name_cloudfront_connects_to_is_on_the_certificate_of_every_region_behind_it(
    routed, env_name, count, policy
):
    zone, d = Zone(routed, env_name), distribution(routed, env_name)
    for origin in d["origin"]:
        for region in zone.regions_behind(origin["domain_name"]):
            _, cert = only(zone.stacks[f"{env_name}-{region}"], "aws_acm_certificate")
            names = {cert["domain_name"], *cert.get("subject_alternative_names", [])}
            assert origin["domain_name"] in names, f"{region}'s load balancer cannot answer {origin['domain_name']}"


def test_every_region_outputs_its_health_checked_member(routed):
    env = routed.config.environments["prod"]
    for region in env.regions:
        stack = routed.stacks[f"prod-{region}"]
        check_name, _ = only(stack, "aws_route53_health_check")
        type_, _, record = referenced(stack, stack["output"]["origin_record"]["value"])
        assert type_ == "aws_route53_record" and check_name in record["health_check_id"], region
