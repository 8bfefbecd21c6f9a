"""R1: config/network.py, the CIDR allocation: automatic blocks never overlap, across environments,
regions and any layout, and an overriding block is used or rejected when it overlaps."""

from __future__ import annotations

import ipaddress
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from support.configs import changed, parse, problems

from config import model, network
from config.regions import REGIONS


def all_blocks(config: model.Config) -> dict[str, ipaddress.IPv4Network]:
    return {f"{e.name}/{r}": ipaddress.IPv4Network(e.cidrs[r]) for e in config.environments.values() for r in e.regions}


def assert_disjoint(blocks: dict[str, ipaddress.IPv4Network]) -> None:
    for (a, net_a), (b, net_b) in itertools.combinations(blocks.items(), 2):
        assert not net_a.overlaps(net_b), f"{a} {net_a} overlaps {b} {net_b}"


def test_default_cidrs_never_overlap_across_environments_and_regions(default_config):
    blocks = all_blocks(default_config)
    assert len(blocks) == 6
    assert_disjoint(blocks)
    assert all(net.is_private and net.prefixlen == 17 for net in blocks.values())


def test_cidr_of_a_region_does_not_depend_on_region_order(default_data):
    before = parse(default_data).environments["prod"].cidrs
    swapped = changed(default_data, "environments.prod.regions", ["us-west-2", "us-east-1"])
    after = parse(swapped).environments["prod"].cidrs
    assert before == after


def test_override_is_used_and_overlapping_override_is_rejected(default_data):
    ok = changed(default_data, "environments.dev.cidrs", {"us-west-2": "10.200.0.0/16"})
    assert parse(ok).environments["dev"].cidrs["us-west-2"] == "10.200.0.0/16"
    prod_block = parse(default_data).environments["prod"].cidrs["us-east-1"]
    clash = changed(default_data, "environments.dev.cidrs", {"us-west-2": prod_block})
    text = "\n".join(problems(clash))
    assert "environments.dev.cidrs.us-west-2" in text and "environments.prod.cidrs.us-east-1" in text
    two = changed(default_data, "environments.dev.cidrs", {"us-west-2": "10.200.0.0/16"})
    two = changed(two, "environments.staging.cidrs", {"us-west-2": "10.200.128.0/17"})
    assert "overlaps" in "\n".join(problems(two))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(REGIONS), min_size=1, max_size=5, unique=True),
        min_size=1,
        max_size=network.MAX_ENVIRONMENTS,
    )
)
def test_automatic_cidrs_never_overlap_for_any_layout(region_lists):
    envs = {f"e{i}": {"account_id": f"{i + 1:012d}", "regions": regions} for i, regions in enumerate(region_lists)}
    data = {
        "project": {
            "name": "pp",
            "suffix": "",
            "domain": "example.com",
            "owner": "o",
            "cost_center": "c",
            "external_id": "ext-id",
            "ci_account_id": "999999999999",
        },
        "environments": envs,
    }
    assert_disjoint(all_blocks(parse(data)))


def test_more_environments_than_slots_need_explicit_cidrs():
    envs = {f"e{i}": {"account_id": f"{i + 1:012d}", "regions": ["us-east-1"]} for i in range(9)}
    data = {
        "project": {
            "name": "pp",
            "suffix": "",
            "domain": "example.com",
            "owner": "o",
            "cost_center": "c",
            "external_id": "ext-id",
            "ci_account_id": "999999999999",
        },
        "environments": envs,
    }
    assert "set cidrs.us-east-1 explicitly" in "\n".join(problems(data))
