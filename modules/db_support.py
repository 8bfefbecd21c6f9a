"""What both PostgreSQL topologies build around their database: modules/database.py (RDS writer and
read replicas) and modules/aurora.py (an Aurora global database) need the same network placement,
the same TLS and logging parameters, the same exported log groups and the same enhanced-monitoring
role, and a fix to one (a tighter ingress, another logging parameter) must reach both.

These are helpers that create their resources directly in the owner's scope, with the construct ids
the owners always used, not constructs of their own: an intermediate construct would move every
resource to a new path, hence a new Terraform address, and the next plan would replace the
database's security group, subnet group and parameter group.

- The security group admits PostgreSQL from named client security groups only (`allow_from`, which
  writes the client's matching egress too), and
  the subnet group places the database on the isolated subnets, with no route beyond the VPC. A
  cross-region replica or secondary needs both of its own: without them AWS puts it in the
  default VPC.
- The parameters force TLS (`rds.force_ssl`) and log slow statements, connections, lock waits and
  DDL; a parameter group is created before the old one is destroyed, because a major upgrade
  brings a new family.
- RDS names its exported log groups itself; they are created here first, so they get the
  environment's retention and the region's key instead of RDS's defaults (kept forever, no key).
- Enhanced monitoring needs a role RDS's monitoring service assumes, with AWS's managed policy.
"""

from __future__ import annotations

from collections.abc import Iterable

from cdktf import Fn, TerraformResource, TerraformResourceLifecycle
from constructs import Construct

from config.facts import DATABASE_PORT, DbRole
from config.naming import Namer
from modules import aws
from modules.connections import Connections
from modules.kms import EncryptionKey, ImportedKey
from modules.policy import attach_managed, trust

PORT = DATABASE_PORT
# (name, value) of every parameter the database's (or cluster's) parameter group sets.
TLS_AND_LOGGING_PARAMETERS = (
    ("rds.force_ssl", "1"),
    ("log_min_duration_statement", "1000"),
    ("log_connections", "1"),
    ("log_disconnections", "1"),
    ("log_lock_waits", "1"),
    ("log_statement", "ddl"),
)
MONITORING_POLICY = "AmazonRDSEnhancedMonitoringRole"


class DatabaseNetwork:
    """The database's security group (`security_group`, construct id "sg") and DB subnet group
    (`subnet_group`, "subnets"), created in `scope`; `connections` is its group as a party to
    connections, and `allow_from` admits a client. A plain object, not a construct, so the resources
    keep the paths (and Terraform addresses) they had in the owner."""

    def __init__(self, scope: Construct, namer: Namer, vpc_id: str, subnet_ids: list[str]):
        self._scope = scope
        self._clients = 0
        self.security_group = aws.security_group.SecurityGroup(
            scope,
            "sg",
            name=namer.name("db", "security_group"),
            vpc_id=vpc_id,
            description=f"PostgreSQL: {PORT} from the application only",
            tags=namer.resource_tags("db", "security_group"),
        )
        self.connections = Connections(scope, namer, "db", self.security_group.id)
        self.subnet_group = aws.db_subnet_group.DbSubnetGroup(
            scope,
            "subnets",
            name=namer.name("db", "db_subnet_group"),
            subnet_ids=subnet_ids,
            description="Isolated database subnets (no route beyond the VPC)",
            tags=namer.resource_tags("db-subnets"),
        )

    def allow_from(self, client: Connections) -> None:
        """Admit PostgreSQL from `client`'s group and let the client reach it: the ingress on the
        database's group and the client's egress to it, written together (`Connections.allow_from`),
        so the client needs no egress of its own to a whole address range. The ingress keeps the
        id it was deployed under, numbered in call order ("postgres-from-<n>"): its address never
        moves, and an added client never renames an existing rule."""
        self._clients += 1
        self.connections.allow_from(
            client,
            PORT,
            label="postgres",
            ingress_description="PostgreSQL from the application",
            egress_description="PostgreSQL to the database",
            ingress_id=f"postgres-from-{self._clients}",
        )


def parameter_group(scope: Construct, namer: Namer, family: str, group_class, parameter_class):
    """The parameter group ("parameters") setting TLS_AND_LOGGING_PARAMETERS: `group_class` and
    `parameter_class` are the instance's (`DbParameterGroup`, ...) or the cluster's
    (`RdsClusterParameterGroup`, ...) provider classes, which take the same arguments."""
    return group_class(
        scope,
        "parameters",
        name=namer.name(f"db-{family}", "db_parameter_group"),
        family=family,
        description="TLS only; log slow statements, connections and DDL",
        parameter=[
            parameter_class(name=k, value=v, apply_method="pending-reboot") for k, v in TLS_AND_LOGGING_PARAMETERS
        ],
        lifecycle=TerraformResourceLifecycle(create_before_destroy=True),  # a new family on major upgrades
        tags=namer.resource_tags(f"db-{family}", "db_parameter_group"),
    )


def log_groups(
    scope: Construct,
    namer: Namer,
    kms_key: EncryptionKey | ImportedKey,
    prefix: str,
    names: Iterable[tuple[str, str]],
    retention_days: int,
) -> list:
    """The log groups RDS exports into, created first ("log-<log>" for each (log, group name) of
    `names`) with the retention and the key; `prefix` is where RDS names them, which the key must
    admit. The database depends on them, so RDS never creates them itself."""
    kms_key.admit_log_group(prefix)
    return [
        aws.cloudwatch_log_group.CloudwatchLogGroup(
            scope,
            f"log-{log}",
            name=name,
            retention_in_days=retention_days,
            kms_key_id=kms_key.arn,
            tags=namer.resource_tags(f"db-{log}-logs", "log_group"),
        )
        for log, name in names
    ]


def monitoring_role(scope: Construct, namer: Namer):
    """The enhanced-monitoring role ("monitoring") RDS's monitoring service assumes, with AWS's
    managed policy attached; returns (role, attachment): an instance names the role and depends
    on the attachment, so it never starts monitoring without the permission."""
    role = aws.iam_role.IamRole(
        scope,
        "monitoring",
        name=namer.name("db-monitoring", "iam_role"),
        max_session_duration=3600,
        assume_role_policy=trust(
            scope, "monitoring-trust", "RdsMonitoringAssumes", "monitoring.rds.amazonaws.com"
        ).json,
        description="RDS enhanced monitoring",
        tags=namer.resource_tags("db-monitoring", "iam_role"),
    )
    return role, attach_managed(scope, "monitoring", role.name, MONITORING_POLICY)


def final_snapshot_name(scope: Construct, namer: Namer) -> str:
    """The writer's final snapshot identifier, unique to one life of the writer. A fixed name works
    once: the deploy after a failover deletes the old writer (taking its final snapshot), and after
    failback the next drill, or destroying and recreating the environment, asks RDS for a snapshot
    whose name already exists (DBSnapshotAlreadyExists), failing the delete half way through a
    rebuild. Call it only where the writer is built: its `terraform_data` marker is created with
    the writer and removed when the region stops being the writer, so its random id (a UUID) is
    new exactly when a new writer begins; its first 8 characters keep the name legal (letters,
    digits, single hyphens) and short. Terraform's built-in resource, written as a plain one:
    cdktf's DataResource class runs `terraform version` during synth, which synth must never need."""
    marker = TerraformResource(scope, "final-snapshot-name", terraform_resource_type="terraform_data")
    marker.add_override("input", DbRole.WRITER)
    suffix = Fn.substr(marker.get_string_attribute("id"), 0, 8)
    return f"{namer.name('db-final', 'db_snapshot')}-{suffix}"
