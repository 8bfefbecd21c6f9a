"""config/regions.py, the region catalogue: append-only (a region's position is its CIDR slot),
each region once, and the regions the other sets name all in it."""

from __future__ import annotations

import pytest

from config import regions

# The catalogue as first shipped: every VPC's CIDR depends on these positions, so they never move
# (new regions go after them).
SHIPPED = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "sa-east-1",
    "mx-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "af-south-1",
    "me-south-1",
    "me-central-1",
    "il-central-1",
    "ap-south-1",
    "ap-south-2",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
)


def test_the_catalogue_only_grows_at_the_end():
    assert regions.REGIONS[: len(SHIPPED)] == SHIPPED
    assert len(set(regions.REGIONS)) == len(regions.REGIONS), "each region once"


def test_a_regions_slot_is_its_position():
    assert regions.region_slot("us-east-1") == 0
    assert regions.region_slot("eu-west-1") == 8
    assert [regions.region_slot(r) for r in regions.REGIONS] == list(range(len(regions.REGIONS)))
    with pytest.raises(ValueError):
        regions.region_slot("us-gov-west-1")


def test_the_named_regions_are_in_the_catalogue():
    assert regions.EDGE_REGION == "us-east-1" and regions.EDGE_REGION in regions.REGIONS
    assert regions.ELB_LOG_DELIVERY_SERVICE_REGIONS < set(regions.REGIONS)
    assert regions.GLOBAL not in regions.REGIONS
    assert regions.LONGEST_REGION == max(len(r) for r in regions.REGIONS) == len("ap-southeast-1")
