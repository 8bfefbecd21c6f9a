"""One region's part of the environment's DNS (R5, F2, F3), created by that region's stack.

- A Route 53 health check probing `<region>.origin.<env domain>` over HTTPS on the webapp's
  readiness path, which answers 200 only while this region's database answers (a healthy replica
  included): a region whose database is down leaves DNS rotation, and `failover` refuses to move
  the writer there. Liveness (`HEALTH_PATH`) stays the load balancer's target check, so a
  database outage never has instances replaced. The load balancer exempts both paths from the
  origin-verify header (Route 53's checkers cannot send it).
- `<region>.origin.<env domain>`: an alias record to this region's load balancer (zone id from
  the load balancer, never typed in), used by CloudFront's origin group.
- This region's member of `origin.<env domain>`, the name CloudFront's default behavior uses:
  an alias to the load balancer with the health check attached and evaluate_target_health on,
  under the environment's routing policy:
  - failover: a failover set has exactly one PRIMARY and one SECONDARY, so more than two
    regions form a chain of nested failover sets (Route 53's "complex failover"): level 0 is
    `origin.<env domain>`, level k is `failover-<k>.origin.<env domain>`. Region k is the
    PRIMARY of level k; the SECONDARY of level k is the next level's name (an alias to another
    record of the zone, evaluate_target_health on and no health check of its own, so it is
    healthy while any region below it is), and the last region is the SECONDARY of the last
    level. With two regions this is the plain PRIMARY/SECONDARY pair; with n regions every one
    of them answers once all those before it are unhealthy;
  - latency: every region, answered by the closest healthy one;
  - weighted: every region, with its configured weight.

Every record and health check goes through the `dns` provider: the zone's account, which may
not be the environment's. The health check must live there too (Route 53 only attaches health
checks of the zone's own account).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformProvider
from constructs import Construct

import webapp
from config import groups
from config.choices import RoutingPolicy
from config.facts import HEALTH_CHECK_SERVICE
from config.naming import Namer
from modules import aws

HEALTH_CHECK_INTERVAL = 10
FAILURE_THRESHOLD = 3


def chain_name(origin_name: str, level: int) -> str:
    """The name of one level of the nested failover chain: level 0 is `origin.<env domain>`
    itself, level k `failover-<k>.origin.<env domain>` (every region from the k-th on)."""
    return origin_name if level == 0 else f"failover-{level}.{origin_name}"


def standby_name(origin_name: str, region_count: int, routing_policy: RoutingPolicy) -> str | None:
    """The name that fails over through every region after the first, when the regions form a
    chain (failover routing over three or more): CloudFront's origin group takes only two
    origins, the first region and this name. None otherwise (the second region's own name
    then is the group's other member)."""
    if routing_policy == RoutingPolicy.FAILOVER and region_count > 2:
        return chain_name(origin_name, 1)
    return None


def origin_group_names(
    origin_name: str, regional_names: tuple[str, ...], routing_policy: RoutingPolicy
) -> tuple[str, ...]:
    """CloudFront's origin group in failover order (at most two, CloudFront's limit): the first
    region's own name, then the standby name of a chain or else the second region's own name."""
    standby = standby_name(origin_name, len(regional_names), routing_policy)
    return (regional_names[0], standby) if standby else regional_names[:2]


@dataclass(frozen=True)
class FailoverMember:
    name: str  # the failover set's name: origin.<env domain> or a chain level
    role: str  # PRIMARY or SECONDARY


def failover_members(
    regions: tuple[str, ...], region: str, origin_name: str
) -> tuple[FailoverMember, FailoverMember | None]:
    """Where `region` sits in the failover chain: (its health-checked member, an alias to its
    load balancer; the member pointing the level above at this region's level, or None for the
    first and the last region)."""
    position, last = regions.index(region), len(regions) - 1
    if position == 0:
        return FailoverMember(chain_name(origin_name, 0), "PRIMARY"), None
    if position == last:
        return FailoverMember(chain_name(origin_name, position - 1), "SECONDARY"), None
    return (
        FailoverMember(chain_name(origin_name, position), "PRIMARY"),
        FailoverMember(chain_name(origin_name, position - 1), "SECONDARY"),
    )


@dataclass(frozen=True)
class RegionalDnsProps:
    namer: Namer
    zone_id: str
    region: str
    regions: tuple[str, ...]  # the environment's regions, primary first
    settings: groups.Dns  # the environment's DNS settings, whole: routing policy and weights
    origin_name: str  # origin.<env domain>
    regional_name: str  # <region>.origin.<env domain>
    alb_dns_name: str
    alb_zone_id: str
    dns_provider: TerraformProvider


class RegionalDns(Construct):
    """Exposes `health_check`, `regional_record`, `origin_record` (this region's health-checked
    member: of `origin.<env domain>`, or with failover routing of its level of the chain) and
    `chain_record` (failover over three or more regions, the regions in the middle: the level
    above's SECONDARY, an alias to this region's level; None otherwise)."""

    def __init__(self, scope: Construct, construct_id: str, props: RegionalDnsProps):
        super().__init__(scope, construct_id)
        p, policy = props, props.settings.routing_policy
        r53 = aws.route53_record
        self.health_check = aws.route53_health_check.Route53HealthCheck(
            self,
            "health",
            type="HTTPS",
            fqdn=p.regional_name,
            port=443,
            resource_path=webapp.READY_PATH,
            request_interval=HEALTH_CHECK_INTERVAL,
            failure_threshold=FAILURE_THRESHOLD,
            enable_sni=True,
            measure_latency=True,
            provider=p.dns_provider,
            tags=p.namer.resource_tags(HEALTH_CHECK_SERVICE),
        )
        alias = r53.Route53RecordAlias(name=p.alb_dns_name, zone_id=p.alb_zone_id, evaluate_target_health=True)
        self.regional_record = r53.Route53Record(
            self, "regional", zone_id=p.zone_id, name=p.regional_name, type="A", alias=alias, provider=p.dns_provider
        )
        self.chain_record = None
        if policy == RoutingPolicy.FAILOVER:
            member, chain = failover_members(p.regions, p.region, p.origin_name)
            # `main.py failover` rewrites the failover records for the new writer order before the
            # next deploy: a record Terraform then creates at a name the command already wrote must
            # take it over (allow_overwrite), not fail on "already exists".
            self.origin_record = self._member(
                p,
                member.name,
                alias,
                health_check_id=self.health_check.id,
                failover_routing_policy=r53.Route53RecordFailoverRoutingPolicy(type=member.role),
                allow_overwrite=True,
            )
            if chain is not None:
                # Its target is this region's own level, created above: referencing that record's
                # name makes Terraform create it first (Route 53 refuses an alias to a missing name).
                self.chain_record = self._member(
                    p,
                    chain.name,
                    r53.Route53RecordAlias(
                        name=self.origin_record.fqdn, zone_id=p.zone_id, evaluate_target_health=True
                    ),
                    construct_id="chain",
                    failover_routing_policy=r53.Route53RecordFailoverRoutingPolicy(type=chain.role),
                    allow_overwrite=True,
                )
        elif policy == RoutingPolicy.LATENCY:
            self.origin_record = self._member(
                p,
                p.origin_name,
                alias,
                health_check_id=self.health_check.id,
                latency_routing_policy=r53.Route53RecordLatencyRoutingPolicy(region=p.region),
            )
        elif policy == RoutingPolicy.WEIGHTED:
            self.origin_record = self._member(
                p,
                p.origin_name,
                alias,
                health_check_id=self.health_check.id,
                weighted_routing_policy=r53.Route53RecordWeightedRoutingPolicy(weight=p.settings.weight(p.region) or 0),
            )
        else:
            raise ValueError(f"unknown routing policy {policy!r}")

    def _member(self, p: RegionalDnsProps, name: str, alias, construct_id: str = "origin", **routing):
        """A record of a routing set: the region is its set identifier (unique within each name)."""
        return aws.route53_record.Route53Record(
            self,
            construct_id,
            zone_id=p.zone_id,
            name=name,
            type="A",
            alias=alias,
            set_identifier=p.region,
            provider=p.dns_provider,
            **routing,
        )
