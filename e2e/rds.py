"""RDS behaviour moto 5.2.5 gets wrong for one database per environment: a writer in one
region with cross-region read replicas (the `replica` topology) or an Aurora global database
(`aurora_global`). Each function replaces or wraps one of moto's model or response methods; the
emulator installs them at start (e2e/emulator.py `_install_patches`) and `RESPONDERS` lists them.

Instances:
- `instance_init`: every DB instance gets its own DbiResourceId (moto gives all the same one, so the
  `rds-db:connect` resource of IAM database authentication could not tell two databases apart), and
  keeps the Performance Insights settings it was created with (moto drops them: a perpetual diff).
- `create_db_instance_read_replica`: the replica is made in its own region before its parameters
  are applied (moto resolves the DB subnet group in the source's region: DBSubnetGroupNotFoundFault
  for region-specific names) and owns its lists and identity (moto's shallow copy shares them with
  the source); a source whose master password RDS manages is refused, as AWS refuses it.
- `promote_read_replica`: the replica becomes a standalone instance on both sides (moto only flips a
  private flag, so Terraform plans `replicate_source_db` back and a failover never sees it done).
- `remove_replica` / `delete_db_instance`: a cross-region replica can be deleted (moto's
  `list.remove` of the identifier where it stored the ARN: HTTP 500), and deleting a source
  promotes its replicas, as on AWS.

Aurora global databases (moto keeps them in the us-east-1 backend only):
- `remove_from_global_cluster`: works from any region (moto looks in the calling region's backend
  and swallows every error, so outside us-east-1 the member silently stays).
- `failover_global_cluster`, `switchover_global_cluster`: not in moto; the target member becomes the
  writer and the old writer a reader, at once.
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
from collections.abc import Callable
from typing import Any

# How long a promoted replica reports `modifying` before `available` (AWS: minutes): long enough for
# a caller to have to wait for it, short enough for Terraform's waiter and the tests.
PROMOTION_SECONDS = 1.0
PERFORMANCE_INSIGHTS = (
    "enable_performance_insights",
    "performance_insights_kms_key_id",
    "performance_insights_retention_period",
)
_DBI_ALPHABET = string.ascii_uppercase + string.digits


def new_dbi_resource_id() -> str:
    """Like AWS's: `db-` and 26 upper-case letters and digits, unique in practice."""
    return "db-" + "".join(secrets.choice(_DBI_ALPHABET) for _ in range(26))


def _error(code: str, message: str) -> Exception:
    from moto.rds.exceptions import RDSClientError

    return RDSClientError(code, message)


# --- DB instances --------------------------------------------------------------------------------


def instance_init(original: Callable[..., None]) -> Callable[..., None]:
    """`DBInstance.__init__`, then an own DbiResourceId and the Performance Insights settings."""

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.dbi_resource_id = new_dbi_resource_id()
        for name in PERFORMANCE_INSIGHTS:
            if kwargs.get(name) is not None:
                setattr(self, name, kwargs[name])

    return init


def performance_insights_enabled(self: Any) -> bool:
    """`PerformanceInsightsEnabled` (a property of moto's DBInstance): what Create/Modify asked for."""
    return bool(getattr(self, "enable_performance_insights", False))


def performance_insights_retention_period(self: Any) -> int | None:
    """AWS's default of 7 days when Performance Insights is on and no period was given."""
    period = self.__dict__.get("performance_insights_retention_period")
    if period is None and performance_insights_enabled(self):
        return 7
    return period


def _set_retention_period(self: Any, value: int | None) -> None:
    self.__dict__["performance_insights_retention_period"] = value


RETENTION_PERIOD = property(performance_insights_retention_period, _set_retention_period)


def remove_replica(self: Any, replica: Any) -> None:
    """`DBInstance.remove_replica`: moto stores a cross-region replica by ARN, a same-region one by
    identifier; remove whichever is there (and nothing if neither is)."""
    for reference in (replica.db_instance_arn, replica.db_instance_identifier):
        if reference in self.replicas:
            self.replicas.remove(reference)


def _source_of(backend: Any, database: Any) -> Any | None:
    """The instance a replica replicates, or None when it is gone."""
    from moto.rds.exceptions import DBInstanceNotFoundError

    if not database.source_db_instance_identifier:
        return None
    try:
        return backend.find_db_from_id(database.source_db_instance_identifier)
    except DBInstanceNotFoundError:
        return None


def _settle(database: Any, status: str) -> None:
    """`status` now, `available` after PROMOTION_SECONDS (unless something else changed it)."""
    database.status = status

    def done() -> None:
        if database.status == status:
            database.status = "available"

    timer = threading.Timer(PROMOTION_SECONDS, done)
    timer.daemon = True
    timer.start()


def _detach(backend: Any, database: Any) -> None:
    """Make a replica standalone: off its source's list, no source, not a replica."""
    source = _source_of(backend, database)
    if source is not None:
        source.remove_replica(database)
    database.is_replica = False
    database.source_db_instance_identifier = None


def create_db_instance_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
    """`RDSBackend.create_db_instance_read_replica` (the backend of the replica's region)."""
    from moto.rds.exceptions import DBInstanceAlreadyExists, InvalidParameterValue

    database_id = db_kwargs["db_instance_identifier"]
    if database_id in self.databases:
        raise DBInstanceAlreadyExists()
    primary = self.find_db_from_id(db_kwargs["source_db_instance_identifier"])
    if getattr(primary, "manage_master_user_password", False):
        raise InvalidParameterValue(
            f"Creating read replicas for source instance with engine {primary.engine} where "
            "ManageMasterUserPassword is enabled is not supported."
        )
    kwargs = {k: v for k, v in db_kwargs.items() if k != "backend"}
    replica = copy.copy(primary)
    replica.backend = self  # first: the subnet group, parameter group... are looked up in this region
    replica.replicas = []
    replica.tags = []
    replica.enabled_cloudwatch_logs_exports = list(primary.enabled_cloudwatch_logs_exports)
    replica.vpc_security_group_ids = list(getattr(primary, "vpc_security_group_ids", []))
    replica.db_security_groups = list(primary.db_security_groups)
    replica.domain_memberships = list(primary.domain_memberships)
    replica._associated_roles = []
    replica.availability_zone = f"{self.region_name}a"
    replica.dbi_resource_id = new_dbi_resource_id()
    replica.status = "available"
    replica.update(**kwargs)
    replica.is_replica = True
    self.databases[database_id] = replica
    primary.add_replica(replica)
    return replica


def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
    """`RDSBackend.promote_read_replica`: the replica leaves its source's list, loses its source and
    is `modifying` for a moment, as on AWS; promoting a standalone instance is an error, as on AWS."""
    kwargs = dict(db_kwargs)
    database = self.describe_db_instances(kwargs.pop("db_instance_identifier"))[0]
    if not database.is_replica:
        raise _error("InvalidDBInstanceState", "DB Instance is not a read replica.")
    _detach(self, database)
    database.update(**kwargs)
    _settle(database, "modifying")
    return database


def delete_db_instance(original: Callable[..., Any]) -> Callable[..., Any]:
    """`RDSBackend.delete_db_instance`: deleting a source promotes its replicas (in any region), as
    AWS does; a replica whose source is gone is deleted without looking for it."""

    def delete(self: Any, db_instance_identifier: str, *args: Any, **kwargs: Any) -> Any:
        from moto.rds.exceptions import DBInstanceNotFoundError

        database = self.databases.get(db_instance_identifier)
        if database is not None and database.is_replica and _source_of(self, database) is None:
            database.is_replica = False
        replicas = list(database.replicas) if database is not None else []
        deleted = original(self, db_instance_identifier, *args, **kwargs)
        for reference in replicas:
            try:
                replica = self.find_db_from_id(reference)
            except DBInstanceNotFoundError:  # deleted already: nothing to promote
                replica = None
            if replica is not None and replica.is_replica:
                replica.is_replica = False
                replica.source_db_instance_identifier = None
                _settle(replica, "modifying")
        return deleted

    return delete


# --- Aurora global databases ---------------------------------------------------------------------


def _global_cluster(backend: Any, identifier: str) -> Any:
    """moto keeps global clusters in the us-east-1 backend of the account, whatever the caller's region."""
    from moto.rds.models import rds_backends

    found = rds_backends[backend.account_id]["us-east-1"].global_clusters.get(identifier.lower())
    if found is None:
        raise _error("GlobalClusterNotFoundFault", f"Global cluster {identifier} not found")
    return found


def _member(backend: Any, global_cluster: Any, identifier: str) -> Any:
    """The member named by ARN (what AWS expects) or, in the caller's region, by identifier."""
    for member in global_cluster.members:
        if identifier == member.db_cluster_arn or (
            identifier.lower() == member.db_cluster_identifier and member.region == backend.region_name
        ):
            return member
    raise _error(
        "InvalidParameterValue",
        f"Database cluster {identifier} is not found in global cluster {global_cluster.global_cluster_identifier}",
    )


def remove_from_global_cluster(self: Any, global_cluster_identifier: str, db_cluster_identifier: str) -> Any:
    """`RDSBackend.remove_from_global_cluster`: the member becomes a standalone cluster."""
    global_cluster = _global_cluster(self, global_cluster_identifier)
    member = _member(self, global_cluster, db_cluster_identifier)
    global_cluster.members.remove(member)
    member.is_writer = False
    member.global_cluster_identifier = None
    return global_cluster


def _move_writer(response: Any) -> Any:
    """The target member writes, every other member reads; the global cluster as a result."""
    from moto.core.responses import ActionResult

    params = response.params
    global_cluster = _global_cluster(response.backend, params["GlobalClusterIdentifier"])
    target = _member(response.backend, global_cluster, params["TargetDbClusterIdentifier"])
    if target.is_writer:
        raise _error(
            "InvalidParameterValue",
            f"Cluster {target.db_cluster_arn} is already the writer of global cluster "
            f"{global_cluster.global_cluster_identifier}",
        )
    for member in global_cluster.members:
        member.is_writer = member is target
    return ActionResult({"GlobalCluster": global_cluster})


def failover_global_cluster(self: Any) -> Any:
    """`RDSResponse.failover_global_cluster` (AllowDataLoss or Switchover: the same, at once, here)."""
    return _move_writer(self)


def switchover_global_cluster(self: Any) -> Any:
    """`RDSResponse.switchover_global_cluster`."""
    return _move_writer(self)
