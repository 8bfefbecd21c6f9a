"""Alarms on metrics CloudWatch keeps only in us-east-1 (R8): a region's Route 53 health check and
the CloudFront distribution's 5xx rate.

An alarm can only notify a topic of its own region, and CloudWatch publishes these two metrics in
us-east-1 only: Route 53's `HealthCheckStatus` moreover only in the account that owns the check
(the hosted zone's, the `dns` provider's), CloudFront's `5xxErrorRate` in the environment's
account (dimension `Region=Global`). So both alarms are made in us-east-1 and notify the edge
stack's error topic there (`edge_topic_name`), in the environment's account. The health-check
alarm belongs to the regional stack that owns the check (stacks share no tokens; there is no data
source that finds a health check), made through a `dns` provider in us-east-1 and named with the
region's names; when the DNS account is another account, that topic's policy and key admit the
CloudWatch alarms of that account with the environment's region prefixes (an alarm may notify a
topic of another account in its region once the topic's policy allows CloudWatch from it).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformProvider
from constructs import Construct

from config import facts
from config.naming import Namer
from modules.alarms import AlarmSpec, metric_alarm
from modules.dns_failover import FAILURE_THRESHOLD, HEALTH_CHECK_INTERVAL

CDN_5XX_RATE_PERCENT = 5  # of all viewer requests, over each of 5 consecutive minutes
CDN_5XX_PERIODS = 5
HEALTH_PERIODS = 2  # minutes unhealthy (after Route 53's own interval x failure threshold)


def edge_topic_name(edge_namer: Namer) -> str:
    """The edge stack's error topic in us-east-1; regional stacks derive its ARN from this name."""
    return edge_namer.name("errors", "sns_topic")


@dataclass(frozen=True)
class HealthCheckAlarmProps:
    namer: Namer  # the region's
    topic_arn: str  # the edge error topic (us-east-1)
    health_check_id: str
    region: str  # the region the health check probes (for the description)
    provider: TerraformProvider  # the DNS account, us-east-1: where HealthCheckStatus is published


class HealthCheckAlarm(Construct):
    """The region's origin is unhealthy as Route 53 sees it. Exposes `alarm`."""

    def __init__(self, scope: Construct, construct_id: str, props: HealthCheckAlarmProps):
        super().__init__(scope, construct_id)
        p = props
        detection = HEALTH_CHECK_INTERVAL * FAILURE_THRESHOLD
        self.alarm = metric_alarm(
            self,
            p.namer,
            p.topic_arn,
            # Breaching when missing: a health check that reports nothing was deleted or disabled.
            AlarmSpec(
                facts.ALARM_ORIGIN_UNHEALTHY,
                "AWS/Route53",
                "HealthCheckStatus",
                "Minimum",
                {"HealthCheckId": p.health_check_id},
                1,
                "LessThanThreshold",
                f"Route 53 finds the {p.region} origin unhealthy (after {detection} s of failed checks, "
                f"for {HEALTH_PERIODS} minutes): latency and failover records skip the region",
                "breaching",
                HEALTH_PERIODS,
            ),
            provider=p.provider,
        )


@dataclass(frozen=True)
class DistributionAlarmProps:
    namer: Namer  # the edge stack's
    topic_arn: str  # the edge error topic (us-east-1)
    distribution_id: str
    provider: TerraformProvider  # us-east-1, the environment's account


class DistributionAlarm(Construct):
    """Viewers get 5xx answers from CloudFront. Exposes `alarm`."""

    def __init__(self, scope: Construct, construct_id: str, props: DistributionAlarmProps):
        super().__init__(scope, construct_id)
        p = props
        self.alarm = metric_alarm(
            self,
            p.namer,
            p.topic_arn,
            # CloudFront publishes the rate only while there are requests: no traffic, no errors.
            AlarmSpec(
                facts.ALARM_CDN_5XX_RATE,
                "AWS/CloudFront",
                "5xxErrorRate",
                "Average",
                {"DistributionId": p.distribution_id, "Region": "Global"},
                CDN_5XX_RATE_PERCENT,
                "GreaterThanThreshold",
                f"More than {CDN_5XX_RATE_PERCENT}% of viewer requests answered 5xx for {CDN_5XX_PERIODS} "
                "minutes (every origin failing?)",
                "notBreaching",
                CDN_5XX_PERIODS,
            ),
            provider=p.provider,
        )
