"""The closed sets of the configuration, as enums.

`StrEnum` members are strings: they compare equal to their value, format as it and serialize
to it in JSON, so the synthesized Terraform and every message read exactly as with plain
strings, while a typo in code is an AttributeError instead of a silently unequal string. This
module imports nothing of the configuration model, so modules may use it.
"""

from __future__ import annotations

from enum import StrEnum


class NatPolicy(StrEnum):
    """How many NAT gateways a VPC gets."""

    SINGLE = "single"  # one, in the first zone: cheap
    PER_AZ = "per_az"  # one per zone: survives the loss of a zone


class RoutingPolicy(StrEnum):
    """How Route 53 answers for `origin.<env domain>`."""

    FAILOVER = "failover"
    LATENCY = "latency"
    WEIGHTED = "weighted"


class DatabaseTopology(StrEnum):
    """How an environment's regions hold its data (config/settings.py `database_topology`)."""

    REPLICA = "replica"  # one RDS writer in the writer region, a cross-region read replica in every other
    AURORA_GLOBAL = "aurora_global"  # an Aurora PostgreSQL global database: a writer cluster and secondaries
    INDEPENDENT = "independent"  # one unrelated database per region (explicit choice only)

    @property
    def replicated(self) -> bool:
        """Every region serves the same data, so viewers may go to any healthy region."""
        return self is not DatabaseTopology.INDEPENDENT


class PriceClass(StrEnum):
    """The CloudFront edge locations used."""

    PRICE_CLASS_100 = "PriceClass_100"
    PRICE_CLASS_200 = "PriceClass_200"
    PRICE_CLASS_ALL = "PriceClass_All"


class Backend(StrEnum):
    """Where Terraform keeps state (the `[state]` table's `backend`)."""

    LOCAL = "local"  # one <stack>.tfstate per stack in a local directory
    S3 = "s3"  # one <key_prefix>/<stack>.tfstate per stack in a bucket, S3-native locking


class Profile(StrEnum):
    """The sets of per-environment defaults (config/settings.py)."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"
