"""An Aurora PostgreSQL global database (`database_topology = "aurora_global"`): one writer
cluster in the writer region, a secondary cluster in every other region, replicated by Aurora's
storage layer (typically under a second behind) instead of PostgreSQL's WAL stream.

- The global cluster (`<env>-global-db[suffix]`, the naming helper's environment-wide name) is
  created by the writer region's stack, which deploys first; every other region's stack joins
  its secondary cluster to it by that identifier, so no stack reads another's state.
- Every cluster: encrypted with its own region's key (a secondary must name a key of its region),
  on the isolated database subnets, never public, a security group admitting 5432 from the
  application only, a cluster parameter group forcing TLS (`rds.force_ssl`) with the same logging
  as the RDS instances, IAM database authentication, backups per environment, tags copied to
  snapshots, PostgreSQL logs exported into a log group created here first (retention, key).
  The network placement, the parameters, the log groups and the monitoring role are
  modules/db_support.py's, shared with modules/database.py.
- Instances: the environment's instance class, which must be memory-optimized (Aurora global
  databases run on db.r*/db.x2g; the loader refuses others); two per cluster with `db_multi_az`
  (a reader in another zone that Aurora promotes on a zonal failure), one otherwise; Performance
  Insights with the key and enhanced monitoring per the settings.
- Credentials: AWS does not let RDS manage the master password of a global database's cluster,
  so the scheme of modules/credentials.py (`MasterCredentials`, shared with modules/database.py)
  applies: the application connects as
  `DATABASE_APP_USER` with IAM database authentication everywhere (a token signed locally, no
  call to another region); the writer's master password comes from an ephemeral random password,
  given to RDS write-only (`master_password_wo`) and written write-only into a bootstrap secret
  in the writer region only. A secondary has no username, database name or password: Aurora
  replicates them. Nothing secret reaches state, plans or outputs.
- After a switchover or failover the roles swap outside Terraform. Everything that differs
  between a writer's configuration and a secondary's and that AWS fixes at creation (the global
  cluster membership, source region, master username, database name, engine version) is ignored
  after creation, so the next synth, with `writer_region` moved, never replaces a cluster; the
  new writer gets a fresh master password and its own bootstrap secret, as with RDS promotion.
- Who owns the global cluster across a failover. Terraform state is per stack, and the global
  cluster resource lives in the writer region's stack; `failover` moves `writer_region`, so the
  next synth declares it in the new writer's stack (where AWS already has it) and no longer in
  the old one's (whose state still holds it, so a plain apply would destroy it). Declaratively:
  every regional stack that is not the writer's declares `removed { from = <the global cluster's
  address>, lifecycle { destroy = false } }`, which forgets it without destroying it (a no-op
  where the state never held it), and the writer's stack, when the global cluster already exists
  (`global_cluster_exists`: `writer_region` is written in the configuration, which `failover`
  does on every move, back to the first region too), declares `import { to = <address>, id =
  <identifier> }` and adopts it (a no-op once its state holds it). The address is the same in
  every stack: the resource always sits at this construct's GLOBAL_CLUSTER_ID
  (`database/global`). A new environment leaves `writer_region` unset, so its writer (the first
  region) creates the cluster; setting it by hand before the cluster exists makes the import
  fail with "cannot import non-existent remote object" (remove the key).
- The engine version: `db_engine_version` is a PostgreSQL major version; Aurora takes a full
  version, so config/facts.py's AURORA_POSTGRES_VERSIONS maps each major to the version a new
  global database starts at (the loader refuses a major it lacks with this topology). Minor
  upgrades are then Aurora's (automatic, in the maintenance window) and a major upgrade is an
  operation on the global cluster, so Terraform ignores the version afterwards instead of
  fighting either.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle, TerraformStack
from constructs import Construct

from config import groups
from config.errors import ConfigError
from config.facts import (
    AURORA_POSTGRES_VERSIONS,
    DATABASE_APP_USER,
    DATABASE_KIND,
    DATABASE_NAME,
    DATABASE_PORT,
    DATABASE_SERVICE,
    DbRole,
)
from config.naming import RDS_CLUSTER_LOG_GROUP_PREFIX, Namer, rds_cluster_log_group
from modules import aws
from modules.connections import Connections
from modules.credentials import CONSTRUCT_ID, MasterCredentials, MasterCredentialsProps
from modules.db_support import (
    DatabaseNetwork,
    final_snapshot_name,
    log_groups,
    monitoring_role,
    parameter_group,
)
from modules.kms import EncryptionKey, ImportedKey

ENGINE = "aurora-postgresql"
PORT = DATABASE_PORT
LOGS = ("postgresql",)  # what Aurora PostgreSQL exports (it has no separate upgrade log)
# The global cluster's construct id, in the writer's AuroraGlobal and as the removed block's
# marker elsewhere: one construct path, hence one Terraform address, in every regional stack.
GLOBAL_CLUSTER_ID = "global"
# What a cluster's writer and secondary configurations differ in, fixed by AWS at creation:
# ignored afterwards, so moving the writer never replaces a cluster (see the docstring).
ROLE_ATTRIBUTES = (
    "engine_version",
    "global_cluster_identifier",
    "replication_source_identifier",
    "source_region",
    "master_username",
    "database_name",
)


def aurora_version(major: str) -> str:
    """The Aurora PostgreSQL version for a PostgreSQL major version, or a clear error (the loader
    refuses such a configuration first; this guards props built without it)."""
    try:
        return AURORA_POSTGRES_VERSIONS[major]
    except KeyError:
        known = ", ".join(AURORA_POSTGRES_VERSIONS)
        raise ConfigError(
            [
                f"db_engine_version = {major!r}: Aurora PostgreSQL has no version {major} this tool knows "
                f"(database_topology = aurora_global supports {known})"
            ]
        ) from None


@dataclass(frozen=True)
class AuroraGlobalProps:
    namer: Namer
    global_namer: Namer  # the environment-wide namer (`<env>-global-...`): the global cluster's name
    region: str  # this stack's region
    writer_region: str  # the writer's region: secondaries replicate from it
    vpc_id: str
    subnet_ids: list[str]  # the isolated database tier
    kms_key: EncryptionKey | ImportedKey  # this region's key: storage, logs, secret, insights
    settings: groups.Database  # the environment's database settings, whole
    deletion_protection: bool
    log_retention_days: int
    account_token: str  # the account as Terraform reads it (the IAM authentication ARN)
    partition: str
    # The global cluster exists already (a failover moved the writer here): the writer's stack
    # imports it instead of creating it. Meaningless outside the writer region.
    global_cluster_exists: bool = False

    @property
    def writer(self) -> bool:
        return self.region == self.writer_region


class AuroraGlobal(Construct):
    """This region's member of the environment's Aurora global database.

    Exposes what modules/database.py's `Database` exposes, so the stack, the instances and the
    alarms need not know which topology they run on: `role` (a DbRole),
    `security_group`, `bootstrap_secret_arn` (None on a secondary), `endpoint` (host:port),
    `address` (the writer endpoint in the writer region, the reader endpoint elsewhere), `port`,
    `name`, `app_user`, `connect_arn`, `allow_from`; and `cluster`, `instances`,
    `cluster_identifier`, `global_cluster_identifier`, `global_cluster` (the writer's only) and
    `global_cluster_address` (its Terraform address, the same in every regional stack)."""

    def __init__(self, scope: Construct, construct_id: str, props: AuroraGlobalProps):
        super().__init__(scope, construct_id)
        p, n, db = props, props.namer, props.settings
        self.props = props
        self.role = DbRole.WRITER if p.writer else DbRole.REPLICA
        version = aurora_version(db.engine_version)
        self.network = DatabaseNetwork(self, n, p.vpc_id, p.subnet_ids)
        self.security_group = self.network.security_group
        subnets = self.network.subnet_group
        family = f"{ENGINE}{db.engine_version}"
        pg = aws.rds_cluster_parameter_group
        parameters = parameter_group(self, n, family, pg.RdsClusterParameterGroup, pg.RdsClusterParameterGroupParameter)
        self.cluster_identifier = n.name(DATABASE_SERVICE, DATABASE_KIND)
        self.global_cluster_identifier = p.global_namer.name(DATABASE_SERVICE, DATABASE_KIND)
        p.kms_key.grant_via_service("rds")
        # Aurora names its exported log groups itself (/aws/rds/cluster/<identifier>/<log>).
        exported = log_groups(
            self,
            n,
            p.kms_key,
            f"{RDS_CLUSTER_LOG_GROUP_PREFIX}{n.prefix}",
            [(log, rds_cluster_log_group(self.cluster_identifier, log)) for log in LOGS],
            p.log_retention_days,
        )
        monitoring, attachment = monitoring_role(self, n)
        self.global_cluster = None
        if p.writer:
            self.global_cluster = aws.rds_global_cluster.RdsGlobalCluster(
                self,
                GLOBAL_CLUSTER_ID,
                global_cluster_identifier=self.global_cluster_identifier,
                engine=ENGINE,
                engine_version=version,
                storage_encrypted=True,
                deletion_protection=p.deletion_protection,
                lifecycle=TerraformResourceLifecycle(ignore_changes=["engine_version"]),
                tags=p.global_namer.resource_tags(DATABASE_SERVICE, DATABASE_KIND),
            )
        self.global_cluster_address = self._own_global_cluster()
        common = dict(
            cluster_identifier=self.cluster_identifier,
            engine=ENGINE,
            engine_version=version,
            global_cluster_identifier=self.global_cluster_identifier,
            port=PORT,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[self.security_group.id],
            db_cluster_parameter_group_name=parameters.name,
            storage_encrypted=True,
            kms_key_id=p.kms_key.arn,  # a secondary must name its own region's key
            backup_retention_period=db.backup_retention_days,
            preferred_backup_window="03:00-04:00",
            preferred_maintenance_window="sun:04:30-sun:05:30",
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            deletion_protection=p.deletion_protection,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=list(LOGS),
            allow_major_version_upgrade=False,
            lifecycle=TerraformResourceLifecycle(ignore_changes=list(ROLE_ATTRIBUTES)),
            tags=n.resource_tags(DATABASE_SERVICE, DATABASE_KIND),
        )
        self.bootstrap_secret_arn: str | None = None
        if p.writer:
            credentials = MasterCredentials(
                self,
                CONSTRUCT_ID,
                MasterCredentialsProps(namer=n, kms_key=p.kms_key),
            )
            self.cluster = aws.rds_cluster.RdsCluster(
                self,
                "cluster",
                database_name=DATABASE_NAME,
                master_username=credentials.username,
                master_password_wo=credentials.password_ref,
                master_password_wo_version=credentials.version,
                skip_final_snapshot=db.skip_final_snapshot,
                final_snapshot_identifier=None if db.skip_final_snapshot else final_snapshot_name(self, n),
                depends_on=[self.global_cluster, *exported],
                **common,
            )
            self.bootstrap_secret_arn = credentials.secret_arn
        else:
            # Joins the writer's global cluster (created by the writer region's stack, which
            # deploys first). No credentials or database name: Aurora replicates them. No final
            # snapshot: the writer's holds the same data.
            self.cluster = aws.rds_cluster.RdsCluster(
                self,
                "cluster",
                source_region=p.writer_region,
                skip_final_snapshot=True,
                depends_on=exported,
                **common,
            )
        self.instances = [
            aws.rds_cluster_instance.RdsClusterInstance(
                self,
                f"instance-{index}",
                identifier=n.name(f"db-{index}", "rds"),
                cluster_identifier=self.cluster.id,
                engine=ENGINE,
                instance_class=db.instance_class,
                db_subnet_group_name=subnets.name,
                publicly_accessible=False,
                auto_minor_version_upgrade=True,
                preferred_maintenance_window="sun:04:30-sun:05:30",
                promotion_tier=index,
                copy_tags_to_snapshot=True,
                ca_cert_identifier="rds-ca-rsa2048-g1",
                performance_insights_enabled=db.performance_insights,
                performance_insights_kms_key_id=p.kms_key.arn if db.performance_insights else None,
                performance_insights_retention_period=7 if db.performance_insights else None,
                monitoring_interval=60,
                monitoring_role_arn=monitoring.arn,
                depends_on=[attachment],
                tags=n.resource_tags(f"db-{index}", "rds"),
            )
            for index in range(1, (2 if db.multi_az else 1) + 1)
        ]
        # The writer region's application writes; elsewhere it reads from the local secondary
        # (Aurora's reader endpoint spreads over the secondary's instances).
        self.address: str = self.cluster.endpoint if p.writer else self.cluster.reader_endpoint
        self.port = PORT
        self.endpoint = f"{self.address}:{PORT}"
        self.name = DATABASE_NAME
        self.app_user = DATABASE_APP_USER
        # IAM database authentication on Aurora names the cluster's resource id, in this region.
        self.connect_arn: str = (
            f"arn:{p.partition}:rds-db:{p.region}:{p.account_token}:dbuser:"
            f"{self.cluster.cluster_resource_id}/{DATABASE_APP_USER}"
        )

    def _own_global_cluster(self) -> str:
        """The import or removed block that keeps the global cluster in exactly one state across
        a failover (see the docstring); returns its Terraform address. cdktf has no class for a
        removed block, and its resource `import_from` makes synth look for a Terraform binary,
        so both are written into the stack's JSON directly."""
        stack = TerraformStack.of(self)
        if self.global_cluster is not None:
            address = f"{self.global_cluster.terraform_resource_type}.{self.global_cluster.friendly_unique_id}"
            if self.props.global_cluster_exists:
                stack.add_override("import", [{"to": address, "id": self.global_cluster_identifier}])
            return address
        # A construct at the path the writer's resource has: the same logical id as there.
        marker = Construct(self, GLOBAL_CLUSTER_ID)
        address = f"aws_rds_global_cluster.{stack.get_logical_id(marker.node)}"
        stack.add_override("removed", [{"from": address, "lifecycle": {"destroy": False}}])
        return address

    @property
    def connections(self) -> Connections:
        """The database's security group as a party to connections."""
        return self.network.connections

    def allow_from(self, client: Connections) -> None:
        """Admit 5432 from one client's group (the web instances') and let the client reach it."""
        self.network.allow_from(client)
