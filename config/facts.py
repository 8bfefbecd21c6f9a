"""Facts the stacks write and the operations read back, each stated once.

A stack creates the database, the alarms and the health checks; `smoke`, `outputs` and the
end-to-end run later look for exactly those. Both sides import the fact from here instead of
each spelling it, so renaming an alarm or moving the database port cannot leave the checks
looking for the old one. No cdktf import (operations and the CLI load this without starting
jsii) and nothing of the configuration model (modules may import it). Names themselves are
still made by the naming helper from these service words; the stack name and the provider
role's ARN are the naming helper's `stack_name` and `config.model.role_arn`.
"""

from __future__ import annotations

from enum import StrEnum

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
