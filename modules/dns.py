"""Route 53: the public hosted zone of the configured domain, reached through the `dns`
provider (the zone may live in a separate DNS account)."""

from __future__ import annotations

from cdktf import TerraformProvider
from constructs import Construct

from modules import aws


def hosted_zone_id(scope: Construct, domain: str, zone_id: str | None, provider: TerraformProvider) -> str:
    """The configured zone id, or the public zone looked up by domain name."""
    if zone_id:
        return zone_id
    zone = aws.data_aws_route53_zone.DataAwsRoute53Zone(
        scope, "zone", name=domain, private_zone=False, provider=provider
    )
    return zone.zone_id
