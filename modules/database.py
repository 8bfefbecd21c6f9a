"""PostgreSQL on RDS in every region (R3), with credentials RDS itself manages (R11, F9).

- Storage gp3, encrypted with the region's key, autoscaling up to a limit; Multi-AZ, instance
  class, backups and deletion protection per environment (prod: Multi-AZ, >= 14 days, protected,
  final snapshot always); Performance Insights encrypted with the key; IAM database
  authentication; PostgreSQL and upgrade logs exported into log groups created here first, so
  they have the environment's retention and the key; minor versions upgraded automatically in
  the maintenance window; enhanced monitoring.
- A parameter group forcing TLS (`rds.force_ssl`) with useful logging; a subnet group on the
  isolated database subnets; never publicly accessible; a security group admitting 5432 from
  the application's security group only.
- `manage_master_user_password`: RDS creates the master secret in Secrets Manager, encrypted
  with the key, and rotates it. No password exists anywhere in this configuration, its state
  or its outputs; the application gets the secret's ARN and reads it at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformResourceLifecycle
from constructs import Construct

from config import groups
from config.facts import DATABASE_NAME, DATABASE_PORT
from config.naming import RDS_LOG_GROUP_PREFIX, Namer, rds_log_group
from modules import aws
from modules.kms import EncryptionKey, ImportedKey
from modules.policy import attach_managed, trust

PORT = DATABASE_PORT
LOGS = ("postgresql", "upgrade")
MASTER_USERNAME = "app_admin"  # not a secret; the password is RDS-managed


@dataclass(frozen=True)
class DatabaseProps:
    namer: Namer
    vpc_id: str
    subnet_ids: list[str]  # the isolated database tier
    kms_key: EncryptionKey | ImportedKey  # storage, logs, secret, insights; the database grants itself its use
    settings: groups.Database  # the environment's database settings, whole
    deletion_protection: bool
    log_retention_days: int


class Database(Construct):
    """Exposes `instance`, `security_group`, `secret_arn`, `endpoint`, `address`, `port`, `name`."""

    def __init__(self, scope: Construct, construct_id: str, props: DatabaseProps):
        super().__init__(scope, construct_id)
        p, n, db = props, props.namer, props.settings
        self.security_group = aws.security_group.SecurityGroup(
            self,
            "sg",
            name=n.name("db", "security_group"),
            vpc_id=p.vpc_id,
            description=f"PostgreSQL: {PORT} from the application only",
            tags=n.resource_tags("db", "security_group"),
        )
        subnets = aws.db_subnet_group.DbSubnetGroup(
            self,
            "subnets",
            name=n.name("db", "db_subnet_group"),
            subnet_ids=p.subnet_ids,
            description="Isolated database subnets (no route beyond the VPC)",
            tags=n.resource_tags("db-subnets"),
        )
        pg = aws.db_parameter_group
        family = f"postgres{db.engine_version}"
        parameters = pg.DbParameterGroup(
            self,
            "parameters",
            name=n.name(f"db-{family}", "db_parameter_group"),
            family=family,
            description="TLS only; log slow statements, connections and DDL",
            parameter=[
                pg.DbParameterGroupParameter(name=k, value=v, apply_method="pending-reboot")
                for k, v in (
                    ("rds.force_ssl", "1"),
                    ("log_min_duration_statement", "1000"),
                    ("log_connections", "1"),
                    ("log_disconnections", "1"),
                    ("log_lock_waits", "1"),
                    ("log_statement", "ddl"),
                )
            ],
            lifecycle=TerraformResourceLifecycle(create_before_destroy=True),  # a new family on major upgrades
            tags=n.resource_tags(f"db-{family}", "db_parameter_group"),
        )
        identifier = n.name("db", "rds")
        p.kms_key.grant_via_service("rds", "secretsmanager")
        # RDS names its exported log groups itself (/aws/rds/instance/<identifier>/<log>).
        p.kms_key.admit_log_group(f"{RDS_LOG_GROUP_PREFIX}{n.prefix}")
        log_groups = [
            aws.cloudwatch_log_group.CloudwatchLogGroup(
                self,
                f"log-{log}",
                name=rds_log_group(identifier, log),
                retention_in_days=p.log_retention_days,
                kms_key_id=p.kms_key.arn,
                tags=n.resource_tags(f"db-{log}-logs", "log_group"),
            )
            for log in LOGS
        ]
        monitoring = aws.iam_role.IamRole(
            self,
            "monitoring",
            name=n.name("db-monitoring", "iam_role"),
            max_session_duration=3600,
            assume_role_policy=trust(
                self, "monitoring-trust", "RdsMonitoringAssumes", "monitoring.rds.amazonaws.com"
            ).json,
            description="RDS enhanced monitoring",
            tags=n.resource_tags("db-monitoring", "iam_role"),
        )
        attachment = attach_managed(self, "monitoring", monitoring.name, "AmazonRDSEnhancedMonitoringRole")
        self.instance = aws.db_instance.DbInstance(
            self,
            "instance",
            identifier=identifier,
            engine="postgres",
            engine_version=db.engine_version,
            instance_class=db.instance_class,
            db_name=DATABASE_NAME,
            username=MASTER_USERNAME,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=p.kms_key.arn,
            port=PORT,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[self.security_group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            storage_type="gp3",
            allocated_storage=db.allocated_storage,
            max_allocated_storage=db.max_allocated_storage,
            storage_encrypted=True,
            kms_key_id=p.kms_key.arn,
            multi_az=db.multi_az,
            backup_retention_period=db.backup_retention_days,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            deletion_protection=p.deletion_protection,
            skip_final_snapshot=db.skip_final_snapshot,
            final_snapshot_identifier=None if db.skip_final_snapshot else n.name("db-final", "rds"),
            performance_insights_enabled=db.performance_insights,
            performance_insights_kms_key_id=p.kms_key.arn if db.performance_insights else None,
            performance_insights_retention_period=7 if db.performance_insights else None,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=list(LOGS),
            monitoring_interval=60,
            monitoring_role_arn=monitoring.arn,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            depends_on=[*log_groups, attachment],
            tags=n.resource_tags("db", "rds"),
        )
        self.secret_arn: str = self.instance.master_user_secret.get(0).secret_arn
        self.endpoint: str = self.instance.endpoint
        self.address: str = self.instance.address
        self.port = PORT
        self.name = DATABASE_NAME
        self._namer = n
        self._clients = 0

    def allow_from(self, security_group_id: str) -> None:
        """Admit 5432 from one client security group (the web instances')."""
        self._clients += 1
        aws.vpc_security_group_ingress_rule.VpcSecurityGroupIngressRule(
            self,
            f"postgres-from-{self._clients}",
            security_group_id=self.security_group.id,
            referenced_security_group_id=security_group_id,
            ip_protocol="tcp",
            from_port=PORT,
            to_port=PORT,
            description="PostgreSQL from the application",
            tags=self._namer.resource_tags(f"db-from-{self._clients}"),
        )


@dataclass(frozen=True)
class BackupReplicaProps:
    source_identifier: str  # the primary region's instance identifier (naming helper)
    source_provider: object  # a provider for the primary region, where the source instance lives
    kms_key: EncryptionKey | ImportedKey  # this region's key
    settings: groups.Database  # the environment's database settings: the copies keep its backup retention


class BackupReplica(Construct):
    """Automated backups of the primary region's database, replicated into this region: losing
    the primary region does not lose the data. Created by the second region's stack, which
    deploys after the primary, so the source instance already exists."""

    def __init__(self, scope: Construct, construct_id: str, props: BackupReplicaProps):
        super().__init__(scope, construct_id)
        props.kms_key.grant_via_service("rds")
        source = aws.data_aws_db_instance.DataAwsDbInstance(
            self, "source", db_instance_identifier=props.source_identifier, provider=props.source_provider
        )
        self.replication = aws.db_instance_automated_backups_replication.DbInstanceAutomatedBackupsReplication(
            self,
            "replication",
            source_db_instance_arn=source.db_instance_arn,
            kms_key_id=props.kms_key.arn,
            retention_period=props.settings.backup_retention_days,
        )
