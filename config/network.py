"""Automatic, stable, non-overlapping VPC CIDR allocation (R1).

The supernet (default 10.0.0.0/8) is cut into 8 environment blocks; each environment
block into 64 region slots. An environment's block is its position in the configuration
file (environments are appended, never reordered), a region's slot is its position in the
fixed region catalog, so reordering an environment's `regions` list (to promote a new
primary, say) never renumbers a VPC. With the default supernet every VPC is a /17
(32,768 addresses): room for three subnet tiers across up to four availability zones.

Blocks can be pinned with `cidrs` overrides; `config.model` rejects any override that
overlaps another VPC of any environment or region, so peering or a transit gateway stays
possible later.
"""

from __future__ import annotations

import ipaddress

from config.regions import REGIONS, region_slot

ENVIRONMENT_BITS = 3  # 8 environment blocks
REGION_BITS = 6  # 64 region slots; the catalog must never outgrow them
MAX_ENVIRONMENTS = 2**ENVIRONMENT_BITS
assert len(REGIONS) <= 2**REGION_BITS, "region catalog outgrew its CIDR slots"

# The largest and smallest VPC an override may ask for. AWS allows /16../28; below /22
# three tiers across three zones no longer fit sensibly.
MIN_PREFIX = 16
MAX_PREFIX = 22
# A supernet no smaller than /10 keeps auto-allocated VPCs at /19 (8,192 addresses) or larger.
MAX_SUPERNET_PREFIX = 10


def vpc_prefix(supernet: ipaddress.IPv4Network) -> int:
    return supernet.prefixlen + ENVIRONMENT_BITS + REGION_BITS


def auto_cidr(supernet: ipaddress.IPv4Network, environment_index: int, region: str) -> ipaddress.IPv4Network:
    """The VPC block of the `environment_index`-th environment in `region`."""
    if not 0 <= environment_index < MAX_ENVIRONMENTS:
        raise ValueError(f"environment index {environment_index} outside 0..{MAX_ENVIRONMENTS - 1}")
    slot = environment_index * 2**REGION_BITS + region_slot(region)
    size = 2 ** (32 - vpc_prefix(supernet))
    return ipaddress.IPv4Network((int(supernet.network_address) + slot * size, vpc_prefix(supernet)))


def overlaps(blocks: dict[str, ipaddress.IPv4Network]) -> list[tuple[str, str]]:
    """Every pair of labels whose blocks overlap, in a stable order."""
    items = sorted(blocks.items(), key=lambda kv: (int(kv[1].network_address), kv[0]))
    found: list[tuple[str, str]] = []
    for i, (label_a, a) in enumerate(items):
        for label_b, b in items[i + 1 :]:
            if int(b.network_address) > int(a.broadcast_address):
                break
            found.append((label_a, label_b))
    return found
