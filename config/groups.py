"""The typed groups of related per-environment settings, handed whole to the module props.

A stack passes `env.database`, `env.scaling`, `env.network`, `env.alarms`, `env.ingest`,
`env.lifecycle` and `env.dns` straight to the construct that uses them, so a new setting of a group is its entry in
config/settings.py, its field here and its use in the module: no stack copies fields one by one.
This module holds values only (no loading, no checks, nothing of the configuration model), so
modules may import it; config/loader.py builds these objects and config/model.py re-exports them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from config.choices import DatabaseTopology, NatPolicy, RoutingPolicy


def instance_architecture(instance_type: str) -> str:
    """arm64 for Graviton instance types (a 'g' among the attribute letters: t4g, m7gd, c7gn),
    x86_64 otherwise (g5, m7i)."""
    match = re.match(r"^[a-z]+\d+([a-z-]*)\.", instance_type)
    return "arm64" if match and "g" in match.group(1) else "x86_64"


@dataclass(frozen=True)
class Scaling:
    """The Auto Scaling group of a region: size, instance type and target tracking."""

    instance_type: str
    instance_count: int  # also the Terraform variable's default
    min_capacity: int
    max_capacity: int
    requests_per_target: int
    cpu_target: int

    @property
    def architecture(self) -> str:
        """The architecture of `instance_type`: the AMI and the user data must match it."""
        return instance_architecture(self.instance_type)


@dataclass(frozen=True)
class Network:
    """The shape of a region's VPC: its zones, its way out and its private AWS endpoints."""

    az_count: int
    nat_policy: NatPolicy
    interface_endpoints: bool


@dataclass(frozen=True)
class Alarms:
    """The thresholds every region's web tier and database alarm at."""

    cpu_threshold: int  # % average CPU (web instances and database alike)
    cpu_periods: int  # ...for this many consecutive minutes
    http_5xx_threshold: int  # 5xx per minute, from the load balancer or from the application


@dataclass(frozen=True)
class Database:
    """The environment's PostgreSQL: the writer, its replicas or Aurora global cluster (`topology`), backups."""

    engine_version: str
    instance_class: str
    allocated_storage: int
    max_allocated_storage: int
    multi_az: bool
    backup_retention_days: int
    skip_final_snapshot: bool
    backup_replication: bool
    performance_insights: bool
    topology: DatabaseTopology
    max_lag_seconds: int  # replica lag that alarms and that failover refuses beyond
    connections_alarm_threshold: int  # database connections that alarm (below the class's max_connections)


@dataclass(frozen=True)
class Ingest:
    """The ingest function and what it accepts."""

    memory_mb: int
    timeout_s: int
    reserved_concurrency: int
    max_bytes: int
    content_types: tuple[str, ...]


@dataclass(frozen=True)
class Lifecycle:
    """The lifecycle of every versioned bucket (F15)."""

    abort_multipart_days: int
    noncurrent_ia_days: int
    noncurrent_glacier_ir_days: int
    noncurrent_expire_days: int


@dataclass(frozen=True)
class Dns:
    """How Route 53 answers for the environment's origin name."""

    routing_policy: RoutingPolicy
    weights: Mapping[str, int]  # region -> weight, with the weighted policy only (read-only)

    def weight(self, region: str) -> int | None:
        """`region`'s weight with the weighted policy; None otherwise."""
        return self.weights.get(region)
