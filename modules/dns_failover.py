"""One region's part of the environment's DNS (R5, F2, F3), created by that region's stack.

- A Route 53 health check probing `<region>.origin.<env domain>` over HTTPS on the webapp's
  health path (the load balancer exempts that path from the origin-verify header).
- `<region>.origin.<env domain>`: an alias record to this region's load balancer (zone id from
  the load balancer, never typed in), used by CloudFront's origin group.
- This region's member of `origin.<env domain>`, the name CloudFront's default behavior uses:
  an alias to the load balancer with the health check attached and evaluate_target_health on,
  under the environment's routing policy:
  - failover: the first region PRIMARY, the second SECONDARY; further regions keep only their
    regional record (a failover set has exactly one primary and one secondary);
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
from modules import aws
from modules.naming import Namer

HEALTH_CHECK_INTERVAL = 10
FAILURE_THRESHOLD = 3


@dataclass(frozen=True)
class RegionalDnsProps:
    namer: Namer
    zone_id: str
    region: str
    regions: tuple[str, ...]  # the environment's regions, primary first
    routing_policy: str  # failover, latency or weighted
    weight: int | None  # weighted routing only
    origin_name: str  # origin.<env domain>
    regional_name: str  # <region>.origin.<env domain>
    alb_dns_name: str
    alb_zone_id: str
    dns_provider: TerraformProvider


class RegionalDns(Construct):
    """Exposes `health_check`, `regional_record` and `origin_record` (None when the routing
    policy gives this region no member: failover beyond the second region)."""

    def __init__(self, scope: Construct, construct_id: str, props: RegionalDnsProps):
        super().__init__(scope, construct_id)
        p = props
        r53 = aws.route53_record
        self.health_check = aws.route53_health_check.Route53HealthCheck(
            self, "health", type="HTTPS", fqdn=p.regional_name, port=443, resource_path=webapp.HEALTH_PATH,
            request_interval=HEALTH_CHECK_INTERVAL, failure_threshold=FAILURE_THRESHOLD, enable_sni=True,
            measure_latency=True, provider=p.dns_provider, tags=p.namer.resource_tags("origin-health"))
        alias = r53.Route53RecordAlias(name=p.alb_dns_name, zone_id=p.alb_zone_id, evaluate_target_health=True)
        self.regional_record = r53.Route53Record(
            self, "regional", zone_id=p.zone_id, name=p.regional_name, type="A", alias=alias,
            provider=p.dns_provider)
        self.origin_record = None
        member = self._routing(p)
        if member is None:
            return
        self.origin_record = r53.Route53Record(
            self, "origin", zone_id=p.zone_id, name=p.origin_name, type="A", alias=alias,
            set_identifier=p.region, health_check_id=self.health_check.id, provider=p.dns_provider, **member)

    @staticmethod
    def _routing(p: RegionalDnsProps) -> dict | None:
        r53 = aws.route53_record
        position = p.regions.index(p.region)
        if p.routing_policy == "failover":
            if position > 1:
                return None
            role = "PRIMARY" if position == 0 else "SECONDARY"
            return {"failover_routing_policy": r53.Route53RecordFailoverRoutingPolicy(type=role)}
        if p.routing_policy == "latency":
            return {"latency_routing_policy": r53.Route53RecordLatencyRoutingPolicy(region=p.region)}
        if p.routing_policy == "weighted":
            return {"weighted_routing_policy": r53.Route53RecordWeightedRoutingPolicy(weight=p.weight or 0)}
        raise ValueError(f"unknown routing policy {p.routing_policy!r}")
