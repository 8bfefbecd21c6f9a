"""`<env>-<region>`: everything one environment runs in one region."""

from __future__ import annotations

from pathlib import Path

from cdktf import TerraformOutput, TerraformVariable, TerraformVariableValidationConfig
from constructs import Construct

from config.choices import DatabaseTopology
from config.facts import DATABASE_KIND, DATABASE_SERVICE, RegionalOutput
from config.model import Config, Environment, StackSpec
from config.regions import EDGE_REGION, GLOBAL
from modules import dns
from modules.alarms import (
    DatabaseAlarms,
    DatabaseAlarmsProps,
    IngestAlarms,
    IngestAlarmsProps,
    WebAlarms,
    WebAlarmsProps,
)
from modules.alb import LoadBalancer, LoadBalancerProps
from modules.aurora import AuroraGlobal, AuroraGlobalProps
from modules.bucket import Lifecycle, SecureBucket, SecureBucketProps
from modules.certificate import CertificateProps, DnsValidatedCertificate
from modules.compute import Compute, ComputeProps
from modules.config_recorder import ConfigRules, ConfigRulesProps
from modules.database import BackupReplica, BackupReplicaProps, Database, DatabaseProps, instance_arn
from modules.dns_failover import RegionalDns, RegionalDnsProps, standby_name
from modules.edge_alarms import HealthCheckAlarm, HealthCheckAlarmProps, edge_topic_name
from modules.ingest import Ingest, IngestProps
from modules.kms import EncryptionKey, EncryptionKeyProps
from modules.network import Network, NetworkProps
from modules.notifications import ErrorTopic, ErrorTopicProps
from modules.origin_verify import OriginVerify, OriginVerifyProps
from stacks.base import PlatformStack, origin_verify_secret_name


class RegionalStack(PlatformStack):
    """Composes the regional modules: key, log bucket, network, error topic, certificate, load
    balancer, database, instances with scaling, alarms, regional DNS, ingest."""

    def __init__(self, scope: Construct, spec: StackSpec, config: Config, env: Environment, out_dir: Path):
        super().__init__(scope, spec, config, env, provider_region=spec.region, out_dir=out_dir)
        self.instance_count = self._instance_count_variable()
        region = spec.region
        other_accounts = config.other_accounts(env)
        # Every construct given the key adds its own grant to the key policy.
        self.key = EncryptionKey(
            self,
            "kms",
            EncryptionKeyProps(
                namer=self.namer,
                region=region,
                account_token=self.account_token,
                partition=self.partition,
                deletion_window_days=env.key_deletion_window_days,
            ),
        )
        # Whatever logs into this bucket (the ALB, the ingest and Config buckets) adds its own grant.
        self.log_bucket = SecureBucket(
            self,
            "log-bucket",
            SecureBucketProps(
                namer=self.namer,
                service="logs",
                account_number=env.account_number,
                lifecycle=self.lifecycle(current_expire_days=env.log_retention_days),
                sse_s3_reason="S3 server access logs and ALB access logs can only be delivered to SSE-S3 buckets",
                no_access_log_reason="it is the access log bucket; logging it into itself would loop",
                force_destroy=env.force_destroy,
            ),
        )
        self.network = Network(
            self,
            "network",
            NetworkProps(
                namer=self.namer,
                region=region,
                cidr=env.cidrs[region],
                settings=env.network,
                log_retention_days=env.log_retention_days,
                kms_key=self.key,
                account_token=self.account_token,
                partition=self.partition,
            ),
        )
        self.error_topic = ErrorTopic(
            self,
            "errors",
            ErrorTopicProps(
                namer=self.namer,
                region=region,
                kms_key=self.key,
                account_token=self.account_token,
                partition=self.partition,
                publisher_accounts=other_accounts,
                emails=env.alert_emails,
            ),
        )
        self.config_rules = None
        owns_recorder = config.owns_config_recorder(env, region)
        # Where another environment of the same account owns the recorder, its rules cover this
        # account and region already; with manage_config_recorder = false the rules still come here.
        if owns_recorder or not env.manage_config_recorder:
            self.config_rules = ConfigRules(
                self,
                "config",
                ConfigRulesProps(
                    namer=self.namer,
                    region=region,
                    account_number=env.account_number,
                    account_token=self.account_token,
                    partition=self.partition,
                    manage_recorder=owns_recorder,
                    record_global_resources=env.is_primary(region),
                    kms_key=self.key,
                    log_bucket=self.log_bucket,
                    lifecycle=self.lifecycle(),
                    force_destroy=env.force_destroy,
                    notification_topic_arn=self.error_topic.arn if env.config_notifications else None,
                ),
            )
        # Before the web tier: the webapp bundle is an object in the ingest bucket.
        self.ingest = Ingest(
            self,
            "ingest",
            IngestProps(
                namer=self.namer,
                region=region,
                account_number=env.account_number,
                account_token=self.account_token,
                kms_key=self.key,
                log_bucket=self.log_bucket,
                lifecycle=self.lifecycle(),
                force_destroy=env.force_destroy,
                vpc_id=self.network.vpc_id,
                subnet_ids=self.network.subnet_ids["app"],
                error_topic_arn=self.error_topic.arn,
                settings=env.ingest,
                log_retention_days=env.log_retention_days,
            ),
        )
        self._web_tier()
        self._incident_alarms()
        self._outputs()

    def _incident_alarms(self) -> None:
        """The database's and the ingest pipeline's alarms on the region's error topic, and the
        health check's in us-east-1 (the only region with Route 53 metrics), made in the DNS
        account that owns the check and notifying the edge stack's error topic there (its ARN from
        the naming helper: stacks share no tokens; CloudWatch takes the action before the edge
        stack, which deploys last, has created the topic)."""
        env, region, n, db = self.env, self.spec.region, self.namer, self.database
        aurora = env.database.topology is DatabaseTopology.AURORA_GLOBAL
        DatabaseAlarms(
            self,
            "database-alarms",
            DatabaseAlarmsProps(
                namer=n,
                topic_arn=self.error_topic.arn,
                settings=env.database,
                identifier=db.cluster.cluster_identifier if aurora else db.instance.identifier,
                replica=env.database.topology.replicated and not env.is_writer(region),
                writer_region=env.writer_region,
                alarms=env.alarms,
            ),
        )
        IngestAlarms(
            self,
            "ingest-alarms",
            IngestAlarmsProps(
                namer=n,
                topic_arn=self.error_topic.arn,
                function_name=self.ingest.function.function_name,
                dead_letter_queue_name=self.ingest.dead_letter_queue.name,
            ),
        )
        edge_topic = edge_topic_name(self.config.namer(env, GLOBAL))
        self.health_alarm = HealthCheckAlarm(
            self,
            "health-alarm",
            HealthCheckAlarmProps(
                namer=n,
                topic_arn=f"arn:{self.partition}:sns:{EDGE_REGION}:{self.account_token}:{edge_topic}",
                health_check_id=self.dns.health_check.id,
                region=region,
                provider=self.aws_provider(
                    "dns_us_east_1",
                    EDGE_REGION,
                    alias="dns_us_east_1",
                    account_number=self.config.dns_account_id(env),
                    role_name=self.config.dns_role_name(env),
                ),
            ),
        )

    def _web_tier(self) -> None:
        env, region, n = self.env, self.spec.region, self.namer
        zone_id = dns.hosted_zone_id(
            self, self.config.project.domain, self.config.project.hosted_zone_id, self.dns_provider
        )
        shared, own = env.origin_domain, env.regional_origin_domain(region)
        primary = env.is_primary(region)
        # CloudFront's origin group also connects to the name failing over through every region
        # after the first (a failover chain of three or more): those regions must answer to it.
        # The primary's certificate names it too, so that, like the shared name, its validation
        # record belongs to the primary region's stack only (the others deploy after it).
        standby = standby_name(shared, len(env.regions), env.dns.routing_policy)
        shared_names = (shared, standby) if standby else (shared,)
        self.certificate = DnsValidatedCertificate(
            self,
            "origin-cert",
            CertificateProps(
                namer=n,
                service="origin-cert",
                domain_name=shared,
                alternative_names=(own, *shared_names[1:]),
                zone_id=zone_id,
                owned_names=(*shared_names, own) if primary else (own,),
                dns_provider=self.dns_provider,
            ),
        )
        self.origin_verify = OriginVerify(
            self,
            "origin-verify",
            OriginVerifyProps(
                secret_name=origin_verify_secret_name(self.config, env),
                owner=primary,
                primary_provider=None if primary else self.provider_in(env.primary_region),
                namer=n,
                kms_key=self.key,
                recovery_window_days=0 if env.force_destroy else 30,
            ),
        )
        self.load_balancer = LoadBalancer(
            self,
            "web-lb",
            LoadBalancerProps(
                namer=n,
                vpc_id=self.network.vpc_id,
                public_subnet_ids=self.network.subnet_ids["public"],
                certificate_arn=self.certificate.arn,
                log_bucket=self.log_bucket,
                account_token=self.account_token,
                deletion_protection=env.deletion_protection,
                region=region,
                origin_verify_values=self.origin_verify.accepted,
            ),
        )
        lb = self.load_balancer
        self.database = self._database()
        db = self.database
        self.compute = Compute(
            self,
            "web",
            ComputeProps(
                namer=n,
                environment=env.name,
                region=region,
                vpc_id=self.network.vpc_id,
                app_subnet_ids=self.network.subnet_ids["app"],
                target_group_arn=lb.target_group.arn,
                alb_arn_suffix=lb.alb.arn_suffix,
                target_group_arn_suffix=lb.target_group.arn_suffix,
                scaling=env.scaling,
                instance_count=self.instance_count.number_value,
                kms_key=self.key,
                db_connect_arns=(db.connect_arn,),
                secret_arns=(db.bootstrap_secret_arn,) if db.bootstrap_secret_arn else (),
                app_environment=self._database_environment(),
                # webapp/ in the ingest bucket: nothing expires it, its function sees incoming/ only
                bundle_bucket=self.ingest.bucket,
            ),
        )
        # The load balancer's only way out: to the instances' service port.
        self.compute.connections.allow_from(
            lb.connections,
            self.compute.port,
            label="service",
            ingress_description="Service port from the load balancer",
            egress_description="Load balancer to the instances' service port",
        )
        # The instances' only way to the database, and the database's only client.
        db.allow_from(self.compute.connections)
        self.dns = RegionalDns(
            self,
            "regional-dns",
            RegionalDnsProps(
                namer=n,
                zone_id=zone_id,
                region=region,
                regions=env.failover_order,  # the writer first: the failover PRIMARY
                settings=env.dns,
                origin_name=shared,
                regional_name=own,
                alb_dns_name=lb.alb.dns_name,
                alb_zone_id=lb.alb.zone_id,
                dns_provider=self.dns_provider,
            ),
        )
        self.alarms = WebAlarms(
            self,
            "alarms",
            WebAlarmsProps(
                namer=n,
                topic_arn=self.error_topic.arn,
                asg_name=self.compute.asg.name,
                alb_arn_suffix=lb.alb.arn_suffix,
                target_group_arn_suffix=lb.target_group.arn_suffix,
                alarms=env.alarms,
            ),
        )

    def _database(self) -> Database | AuroraGlobal:
        """This region's database: the writer in the writer region, a cross-region read replica of
        it elsewhere (`database_topology = "replica"`), or a writer of its own in every region
        (`independent`). A replica names the writer by ARN, built from the naming helper's
        identifier: the writer region's stack deploys first (stacks/app.py `deploys_after`)."""
        env, region = self.env, self.spec.region
        topology = env.database.topology
        if topology is DatabaseTopology.AURORA_GLOBAL:
            return AuroraGlobal(
                self,
                "database",
                AuroraGlobalProps(
                    namer=self.namer,
                    global_namer=self.config.namer(env, GLOBAL),  # the global cluster's name
                    region=region,
                    writer_region=env.writer_region,
                    vpc_id=self.network.vpc_id,
                    subnet_ids=self.network.subnet_ids["db"],
                    kms_key=self.key,
                    settings=env.database,
                    deletion_protection=env.deletion_protection,
                    log_retention_days=env.log_retention_days,
                    account_token=self.account_token,
                    partition=self.partition,
                    # A new environment's writer creates the global cluster; once `failover` has
                    # written writer_region, the writer's stack adopts it (modules/aurora.py).
                    global_cluster_exists=env.writer_recorded,
                ),
            )
        replicate_from = None
        if topology is DatabaseTopology.REPLICA and not env.is_writer(region):
            writer = self.config.namer(env, env.writer_region).name(DATABASE_SERVICE, DATABASE_KIND)
            replicate_from = instance_arn(self.partition, env.writer_region, self.account_token, writer)
        database = Database(
            self,
            "database",
            DatabaseProps(
                namer=self.namer,
                vpc_id=self.network.vpc_id,
                subnet_ids=self.network.subnet_ids["db"],
                kms_key=self.key,
                settings=env.database,
                deletion_protection=env.deletion_protection,
                log_retention_days=env.log_retention_days,
                region=region,
                account_token=self.account_token,
                partition=self.partition,
                replicate_from=replicate_from,
            ),
        )
        # A copy of the writer's automated backups in the next region: with independent databases
        # the only copy of the writer region's data elsewhere. A replica already holds the data
        # (and keeps backups of its own), so the copy would only add cost.
        if (
            topology is DatabaseTopology.INDEPENDENT
            and env.database.backup_replication
            and len(env.regions) > 1
            and region == env.failover_order[1]
        ):
            BackupReplica(
                self,
                "database-backups",
                BackupReplicaProps(
                    source_identifier=self.config.namer(env, env.primary_region).name(DATABASE_SERVICE, DATABASE_KIND),
                    source_provider=self.provider_in(env.primary_region),
                    kms_key=self.key,
                    settings=env.database,
                ),
            )
        return database

    def _database_environment(self) -> dict[str, str]:
        """Where the instances' database is and as whom they connect (IAM authentication); the
        bootstrap secret's ARN only where the secret is (a writer). Never a password."""
        db = self.database
        environment = {
            "WEBAPP_DB_HOST": db.address,
            "WEBAPP_DB_PORT": str(db.port),
            "WEBAPP_DB_NAME": db.name,
            "WEBAPP_DB_USER": db.app_user,
        }
        if db.bootstrap_secret_arn:
            environment["WEBAPP_DB_BOOTSTRAP_SECRET_ARN"] = db.bootstrap_secret_arn
        return environment

    def lifecycle(self, current_expire_days: int | None = None) -> Lifecycle:
        return Lifecycle.of(self.env.lifecycle, current_expire_days)

    def _outputs(self) -> None:
        TerraformOutput(self, "vpc_id", value=self.network.vpc.id, description="VPC of this region")
        for tier, ids in self.network.subnet_ids.items():
            TerraformOutput(
                self,
                f"{tier}_subnet_ids",
                value=ids,
                description=f"Subnets of the {tier} tier, one per availability zone",
            )
        TerraformOutput(
            self,
            "log_bucket_name",
            value=self.log_bucket.bucket.bucket,
            description="Bucket receiving S3 access logs and ALB access logs",
        )
        TerraformOutput(self, "kms_key_arn", value=self.key.arn, description="The region's customer-managed key")
        TerraformOutput(
            self,
            "alb_dns_name",
            value=self.load_balancer.alb.dns_name,
            description="The load balancer's DNS name (reach it through CloudFront, not directly)",
        )
        TerraformOutput(
            self, RegionalOutput.ASG_NAME, value=self.compute.asg.name, description="Auto Scaling group of the web tier"
        )
        TerraformOutput(
            self,
            "error_topic_arn",
            value=self.error_topic.arn,
            description="SNS topic for application errors and alarms of this region",
        )
        TerraformOutput(
            self,
            "regional_origin_record",
            value=self.dns.regional_record.fqdn,
            description="This region's origin name (alias to its load balancer)",
        )
        TerraformOutput(
            self,
            "origin_record",
            value=self.dns.origin_record.fqdn,
            description="The name whose health-checked member is this region: origin.<env domain>, "
            "or its level of the failover chain",
        )
        TerraformOutput(
            self,
            RegionalOutput.DB_ENDPOINT,
            value=self.database.endpoint,
            description="PostgreSQL endpoint (host:port) of this region's database; the application "
            "connects with IAM database authentication",
        )
        TerraformOutput(
            self,
            RegionalOutput.DB_ROLE,
            value=self.database.role,
            description="This region's database: writer, or a read replica of the writer region's",
        )
        if self.database.bootstrap_secret_arn:
            TerraformOutput(
                self,
                RegionalOutput.DB_BOOTSTRAP_SECRET_ARN,
                value=self.database.bootstrap_secret_arn,
                description="ARN of the secret holding the writer's master credentials (the ARN, never the value)",
            )
        TerraformOutput(
            self,
            RegionalOutput.INGEST_BUCKET_NAME,
            value=self.ingest.bucket.bucket.bucket,
            description="Upload under incoming/ to trigger the ingest function",
        )
        TerraformOutput(
            self, "ingest_function_arn", value=self.ingest.function.arn, description="The ingest Lambda function"
        )
        TerraformOutput(
            self,
            "ingest_dlq_url",
            value=self.ingest.dead_letter_queue.url,
            description="Dead-letter queue of failed ingest events",
        )
        TerraformOutput(
            self,
            "health_check_id",
            value=self.dns.health_check.id,
            description="Route 53 health check of this region's origin",
        )

    def _instance_count_variable(self) -> TerraformVariable:
        """R7: a real Terraform input, so `terraform plan -var instance_count=4` resizes a
        region without re-synthesizing. Bounded like the Auto Scaling group it feeds."""
        scaling = self.env.scaling
        low, high = scaling.min_capacity, scaling.max_capacity
        return TerraformVariable(
            self,
            "instance_count",
            type="number",
            default=scaling.instance_count,
            nullable=False,
            description=(
                f"Desired EC2 instances in {self.spec.region} for {self.env.name} (whole number, {low}..{high})."
            ),
            validation=[
                TerraformVariableValidationConfig(
                    condition=(
                        f"${{var.instance_count >= {low} && var.instance_count <= {high} "
                        "&& floor(var.instance_count) == var.instance_count}"
                    ),
                    error_message=(
                        f"The instance_count must be a whole number from {low} (min_capacity; never "
                        f"below two instances) to {high} (max_capacity)."
                    ),
                )
            ],
        )
