"""The AWS commercial regions this tool accepts, in a fixed, append-only order.

Why a catalog instead of "any string that looks like a region": a typo such as
`us-east1` otherwise surfaces only at `terraform plan`, long after synth. And why
append-only: each region's position is its CIDR slot (see `config.network`), so
inserting a region in the middle would renumber every VPC after it. New regions go
at the end, never anywhere else.

Only the `aws` partition is supported (GovCloud and China use other ARN partitions,
endpoints and accounts); the validation error says so.
"""

from __future__ import annotations

REGIONS: tuple[str, ...] = (
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

# CloudFront certificates, WAF for CloudFront and Route 53 health-check metrics live here.
EDGE_REGION = "us-east-1"

# The pseudo-region used in names, tags and stack names of region-less resources.
GLOBAL = "global"

LONGEST_REGION = max(len(r) for r in REGIONS)


def region_slot(region: str) -> int:
    """Position of `region` in the catalog: its stable CIDR slot."""
    return REGIONS.index(region)


# Regions launched after August 2022 have no Elastic Load Balancing account to name in a log
# bucket policy; ALB access logs there are delivered by this service principal instead.
ELB_LOG_DELIVERY_SERVICE_REGIONS = frozenset(
    {
        "ap-south-2",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ap-east-2",
        "ca-west-1",
        "eu-central-2",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
        "mx-central-1",
    }
)
