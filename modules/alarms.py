"""Environment-specific CloudWatch alarms of a region (R8), acting on the error topic.

- Web tier: EC2 CPU per Auto Scaling group, load balancer and target 5xx counts, unhealthy
  targets; thresholds and evaluation periods come from the environment (prod strictest).
- Database: CPU (the environment's CPU threshold and minutes), connections (a setting below the
  class's max_connections), free storage (RDS instances: under 10% of the allocated storage; an
  Aurora cluster volume grows by itself) and, where this region's database replicates the
  writer's, its lag beyond `db_replica_max_lag_seconds` (RDS `ReplicaLag` in seconds on the
  replica instance; Aurora `AuroraGlobalDBReplicationLag` in milliseconds on the secondary cluster).
- Ingest: any function error, and any message in its dead-letter queue.

Alarm and OK actions both go to the error topic, so on-call hears when a problem starts and when
it ends. How each alarm treats missing data is chosen per alarm and said next to it. `metric_alarm`
is the one way alarms are made here and in modules/edge_alarms.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cdktf import TerraformProvider
from constructs import Construct

from config import facts, groups
from config.choices import DatabaseTopology
from config.naming import Namer
from modules import aws

GIB = 1024**3
FREE_STORAGE_SHARE = 0.10  # RDS storage autoscaling also acts below 10% free; still there after 15 minutes = stuck


@dataclass(frozen=True)
class AlarmSpec:
    """One metric alarm: what it watches, when it fires, what missing data means."""

    service: str  # the name's service word (config.facts)
    namespace: str
    metric: str
    statistic: str
    dimensions: Mapping[str, str]
    threshold: float
    comparison: str
    description: str
    missing: str  # treat_missing_data: missing | notBreaching | breaching | ignore
    periods: int = 1
    period: int = 60


def metric_alarm(
    scope: Construct, namer: Namer, topic_arn: str, spec: AlarmSpec, provider: TerraformProvider | None = None
):
    """A CloudWatch alarm named by `namer`, notifying `topic_arn` (which must be in the alarm's
    region: the provider's) when it fires and when it recovers."""
    s = spec
    return aws.cloudwatch_metric_alarm.CloudwatchMetricAlarm(
        scope,
        s.service,
        alarm_name=namer.name(s.service, "alarm"),
        alarm_description=s.description,
        namespace=s.namespace,
        metric_name=s.metric,
        statistic=s.statistic,
        dimensions=dict(s.dimensions),
        period=s.period,
        evaluation_periods=s.periods,
        datapoints_to_alarm=s.periods,
        threshold=s.threshold,
        comparison_operator=s.comparison,
        treat_missing_data=s.missing,
        alarm_actions=[topic_arn],
        ok_actions=[topic_arn],
        tags=namer.resource_tags(s.service, "alarm"),
        provider=provider,
    )


@dataclass(frozen=True)
class WebAlarmsProps:
    namer: Namer
    topic_arn: str
    asg_name: str
    alb_arn_suffix: str
    target_group_arn_suffix: str
    alarms: groups.Alarms  # the thresholds


class WebAlarms(Construct):
    """Exposes `alarms` by short name."""

    def __init__(self, scope: Construct, construct_id: str, props: WebAlarmsProps):
        super().__init__(scope, construct_id)
        p = props
        lb = {"LoadBalancer": p.alb_arn_suffix}
        specs = (
            # No data: the group has no instance reporting; the unhealthy-host alarm covers that.
            AlarmSpec(
                facts.ALARM_CPU_HIGH,
                "AWS/EC2",
                "CPUUtilization",
                "Average",
                {"AutoScalingGroupName": p.asg_name},
                p.alarms.cpu_threshold,
                "GreaterThanThreshold",
                f"Average CPU of the web instances above {p.alarms.cpu_threshold}% for {p.alarms.cpu_periods} minutes",
                "missing",
                p.alarms.cpu_periods,
            ),
            # 5xx counts are only published when there are some: no data is no error.
            AlarmSpec(
                facts.ALARM_ALB_5XX,
                "AWS/ApplicationELB",
                "HTTPCode_ELB_5XX_Count",
                "Sum",
                lb,
                p.alarms.http_5xx_threshold,
                "GreaterThanOrEqualToThreshold",
                f"The load balancer answered {p.alarms.http_5xx_threshold}+ 5xx per minute (no healthy target?)",
                "notBreaching",
                2,
            ),
            AlarmSpec(
                facts.ALARM_TARGET_5XX,
                "AWS/ApplicationELB",
                "HTTPCode_Target_5XX_Count",
                "Sum",
                lb,
                p.alarms.http_5xx_threshold,
                "GreaterThanOrEqualToThreshold",
                f"The application answered {p.alarms.http_5xx_threshold}+ 5xx per minute",
                "notBreaching",
                2,
            ),
            AlarmSpec(
                facts.ALARM_UNHEALTHY_HOSTS,
                "AWS/ApplicationELB",
                "UnHealthyHostCount",
                "Maximum",
                {**lb, "TargetGroup": p.target_group_arn_suffix},
                1,
                "GreaterThanOrEqualToThreshold",
                "At least one target failed its health check for 3 minutes",
                "notBreaching",
                3,
            ),
        )
        self.alarms = {s.service: metric_alarm(self, p.namer, p.topic_arn, s) for s in specs}


@dataclass(frozen=True)
class DatabaseAlarmsProps:
    namer: Namer
    topic_arn: str
    settings: groups.Database  # topology, allocated storage, lag limit, connections threshold
    identifier: str  # the instance identifier (RDS) or the cluster identifier (aurora_global)
    replica: bool  # this region's database replicates the writer's (never true in the writer's region)
    alarms: groups.Alarms  # the CPU threshold and periods, as for the web tier
    # The writer's region: Aurora publishes AuroraGlobalDBReplicationLag per secondary cluster
    # *and* source region, and an alarm must name every dimension of the series it watches.
    writer_region: str | None = None


class DatabaseAlarms(Construct):
    """The alarms of a region's database. Exposes `alarms` by short name."""

    def __init__(self, scope: Construct, construct_id: str, props: DatabaseAlarmsProps):
        super().__init__(scope, construct_id)
        p, db = props, props.settings
        if p.replica and not db.topology.replicated:
            raise ValueError(f"database_topology {db.topology} has no replicas: no region's database can lag")
        aurora = db.topology is DatabaseTopology.AURORA_GLOBAL
        target = {"DBClusterIdentifier" if aurora else "DBInstanceIdentifier": p.identifier}
        # "missing" for the database's own metrics: an instance that stops reporting keeps its
        # state; a region without a database is what the origin health check reports.
        specs = [
            AlarmSpec(
                facts.ALARM_DB_CPU_HIGH,
                "AWS/RDS",
                "CPUUtilization",
                "Average",
                target,
                p.alarms.cpu_threshold,
                "GreaterThanThreshold",
                f"Average CPU of the database above {p.alarms.cpu_threshold}% for {p.alarms.cpu_periods} minutes",
                "missing",
                p.alarms.cpu_periods,
            ),
            AlarmSpec(
                facts.ALARM_DB_CONNECTIONS_HIGH,
                "AWS/RDS",
                "DatabaseConnections",
                "Maximum",
                target,
                db.connections_alarm_threshold,
                "GreaterThanOrEqualToThreshold",
                f"{db.connections_alarm_threshold}+ connections to the database for 5 minutes "
                "(max_connections comes next)",
                "missing",
                5,
            ),
        ]
        if not aurora:
            free = int(db.allocated_storage * GIB * FREE_STORAGE_SHARE)
            specs.append(
                AlarmSpec(
                    facts.ALARM_DB_FREE_STORAGE_LOW,
                    "AWS/RDS",
                    "FreeStorageSpace",
                    "Minimum",
                    target,
                    free,
                    "LessThanThreshold",
                    f"Less than {FREE_STORAGE_SHARE:.0%} of the {db.allocated_storage} GiB allocated is free "
                    f"for 15 minutes (storage autoscaling at its {db.max_allocated_storage} GiB limit, or waiting)",
                    "missing",
                    3,
                    300,
                )
            )
        if p.replica:
            # Breaching when missing: a replica that reports no lag is not replicating (or gone).
            # After a promotion it alarms until the next deploy drops it from the new writer.
            lag = db.max_lag_seconds
            if aurora and not p.writer_region:
                raise ValueError("an Aurora secondary's lag alarm needs the writer's region (SourceRegion)")
            metric = facts.AURORA_REPLICA_LAG if aurora else facts.RDS_REPLICA_LAG
            specs.append(
                AlarmSpec(
                    facts.ALARM_DB_REPLICA_LAG,
                    metric.namespace,
                    metric.name,
                    "Maximum",
                    metric.dimensions(p.identifier, p.writer_region),
                    lag * metric.per_second,  # milliseconds for Aurora, seconds for RDS
                    "GreaterThanThreshold",
                    f"The replica is more than {lag} s behind the writer for 3 minutes "
                    "(failover refuses to promote it beyond that)",
                    "breaching",
                    3,
                )
            )
        self.alarms = {s.service: metric_alarm(self, p.namer, p.topic_arn, s) for s in specs}


@dataclass(frozen=True)
class IngestAlarmsProps:
    namer: Namer
    topic_arn: str
    function_name: str
    dead_letter_queue_name: str


class IngestAlarms(Construct):
    """Any ingest function error, and any message in its dead-letter queue. Exposes `alarms`."""

    def __init__(self, scope: Construct, construct_id: str, props: IngestAlarmsProps):
        super().__init__(scope, construct_id)
        p = props
        specs = (
            # Lambda publishes Errors only for invocations: no upload, no data, no error.
            AlarmSpec(
                facts.ALARM_INGEST_ERRORS,
                "AWS/Lambda",
                "Errors",
                "Sum",
                {"FunctionName": p.function_name},
                1,
                "GreaterThanOrEqualToThreshold",
                "The ingest function failed in the last 5 minutes (Lambda retries twice, then the DLQ)",
                "notBreaching",
                1,
                300,
            ),
            # SQS reports every 5 minutes; an idle queue may stop reporting: nothing in it.
            AlarmSpec(
                facts.ALARM_INGEST_DLQ,
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "Maximum",
                {"QueueName": p.dead_letter_queue_name},
                0,
                "GreaterThanThreshold",
                "Failed ingest events wait in the dead-letter queue: inspect, fix, redrive",
                "notBreaching",
                1,
                300,
            ),
        )
        self.alarms = {s.service: metric_alarm(self, p.namer, p.topic_arn, s) for s in specs}
