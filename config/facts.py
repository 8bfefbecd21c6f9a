"""Facts the stacks write and the operations read back, each stated once.

A stack creates the database, the alarms and the health checks; `smoke`, `outputs`, `failover`
and the end-to-end run later look for exactly those. Both sides import the fact from here instead
of each spelling it, so renaming an alarm, an output or the database's name cannot leave the checks
looking for the old one. The stack name and the ARN of a role assumed from outside are here too:
`role_arn` is defined here, `stack_name` (a name like any other, made by config/naming.py) is
re-exported. No cdktf import (operations and the CLI load this without starting jsii) and nothing
of the configuration model (modules may import it; the model imports this). Names themselves are
still made by the naming helper from the service words below.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from config.naming import stack_name as stack_name  # re-exported: the one stack name, `<env>-<region>`

DATABASE_PORT = 5432  # PostgreSQL's port: the RDS instance, its security group, the web tier's egress
DATABASE_NAME = "app"  # the database RDS creates, which the web tier connects to
# The database role the application connects as, with IAM database authentication (granted rds_iam):
# the webapp creates it on the writer; the instance role may `rds-db:connect` as exactly this user.
DATABASE_APP_USER = "webapp"
# PostgreSQL major version (`db_engine_version`) -> the Aurora PostgreSQL version a new global
# database is created with (`database_topology = "aurora_global"`, modules/aurora.py): versions AWS
# released for Aurora PostgreSQL and lists as upgrade targets; global databases support every
# current Aurora PostgreSQL major. Only the major matters afterwards. The loader refuses a major
# missing here with that topology.
AURORA_POSTGRES_VERSIONS = {"13": "13.18", "14": "14.15", "15": "15.10", "16": "16.6", "17": "17.4"}

# The CloudWatch alarms of each region (modules/alarms.py), by service word: `smoke` checks each exists.
ALARM_CPU_HIGH = "cpu-high"
ALARM_ALB_5XX = "alb-5xx"
ALARM_TARGET_5XX = "target-5xx"
ALARM_UNHEALTHY_HOSTS = "unhealthy-hosts"
# The database and ingest alarms of every region (modules/alarms.py).
ALARM_DB_CPU_HIGH = "db-cpu-high"
ALARM_DB_CONNECTIONS_HIGH = "db-connections-high"
ALARM_INGEST_ERRORS = "ingest-errors"
ALARM_INGEST_DLQ = "ingest-dlq-messages"
# Not in every region, so `smoke` does not expect them: free storage (RDS instances only; an Aurora
# cluster volume grows by itself) and replica lag (regions whose database replicates the writer's).
ALARM_DB_FREE_STORAGE_LOW = "db-free-storage-low"
ALARM_DB_REPLICA_LAG = "db-replica-lag"
ALARMS = (
    ALARM_CPU_HIGH,
    ALARM_ALB_5XX,
    ALARM_TARGET_5XX,
    ALARM_UNHEALTHY_HOSTS,
    ALARM_DB_CPU_HIGH,
    ALARM_DB_CONNECTIONS_HIGH,
    ALARM_INGEST_ERRORS,
    ALARM_INGEST_DLQ,
)
# Alarms on metrics that exist only in us-east-1 (modules/edge_alarms.py): the region's Route 53
# health check (in the DNS account, made by the regional stack that owns the check, under its
# names) and the distribution's 5xx rate (the edge stack).
ALARM_ORIGIN_UNHEALTHY = "origin-unhealthy"
ALARM_CDN_5XX_RATE = "cdn-5xx-rate"

# The service word and name kind of each region's database: the RDS instance (modules/database.py)
# or the Aurora cluster and the global cluster (modules/aurora.py). The regional stack names the
# writer a replica replicates by them, `failover` the instance or clusters it promotes.
DATABASE_SERVICE = "db"
DATABASE_KIND = "rds"
# The service word and name kind of the web tier's instance role (modules/compute.py names it; the
# end-to-end run assumes it to act as an instance).
WEB_SERVICE = "web"
WEB_ROLE_KIND = "iam_role"

# CloudWatch's namespace of RDS and Aurora metrics.
RDS_NAMESPACE = "AWS/RDS"


@dataclass(frozen=True)
class ReplicaLagMetric:
    """How CloudWatch publishes how far a region's database is behind the writer: the replica lag
    alarm (modules/alarms.py) watches it, `failover` reads it before promoting."""

    name: str
    dimension: str  # the dimension naming the replica (its instance or cluster identifier)
    per_second: int  # metric units per second: 1 for seconds, 1000 for milliseconds
    source_dimension: str | None = None  # the dimension naming the writer's region, when keyed by it
    namespace: str = RDS_NAMESPACE

    def dimensions(self, identifier: str, source_region: str | None = None) -> dict[str, str]:
        """The dimensions of one replica's series (CloudWatch matches every dimension exactly)."""
        if self.source_dimension is None:
            return {self.dimension: identifier}
        if not source_region:
            raise ValueError(f"{self.name} is keyed by the writer's region ({self.source_dimension})")
        return {self.dimension: identifier, self.source_dimension: source_region}


# An RDS read replica's lag, in seconds.
RDS_REPLICA_LAG = ReplicaLagMetric("ReplicaLag", "DBInstanceIdentifier", 1)
# An Aurora global database secondary's lag, in milliseconds, per secondary cluster and writer region.
AURORA_REPLICA_LAG = ReplicaLagMetric("AuroraGlobalDBReplicationLag", "DBClusterIdentifier", 1000, "SourceRegion")


class DbRole(StrEnum):
    """What a region's database is: the writer, or a copy replicating it (an RDS read replica or
    an Aurora secondary). The regional stack's `db_role` output says it, the webapp's /ready
    answers it (webapp/database.py keeps its own copy of the words: it ships without config/)."""

    WRITER = "writer"
    REPLICA = "replica"


class RegionalOutput(StrEnum):
    """The regional stack's outputs that the operations read back (`smoke`, the end-to-end run)."""

    ASG_NAME = "asg_name"
    DB_ENDPOINT = "db_endpoint"
    DB_ROLE = "db_role"
    DB_BOOTSTRAP_SECRET_ARN = "db_bootstrap_secret_arn"  # noqa: S105 (an output's name, not a secret)
    INGEST_BUCKET_NAME = "ingest_bucket_name"


def role_arn(account_number: str, role_name: str) -> str:
    """The ARN of a role assumed from outside. Provider blocks are configured before any data
    source can be read, so this is the one ARN built from configuration (account id and role
    name both validated); the `aws` partition is the only one the tool supports."""
    return f"arn:aws:iam::{account_number}:role/{role_name}"


# The service word of each region's Route 53 health check (modules/dns_failover.py tags it with the
# name made from it; `smoke` finds the check by that tag).
HEALTH_CHECK_SERVICE = "origin-health"


class StackRole(StrEnum):
    """What a stack is: an environment's primary region, another region, or its global edge.
    A `StrEnum`, so `list --json` and every table print the same words as before."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    EDGE = "edge"

    @property
    def regional(self) -> bool:
        return self is not StackRole.EDGE
