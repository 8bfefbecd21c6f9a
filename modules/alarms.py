"""Environment-specific CloudWatch alarms on the web tier (R8), acting on the error topic.

Thresholds and evaluation periods come from the environment (prod strictest): EC2 CPU per Auto
Scaling group, load balancer and target 5xx counts, unhealthy targets. Alarm and OK actions
both go to the error topic, so on-call hears when a problem starts and when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from config import facts
from config.naming import Namer
from modules import aws


@dataclass(frozen=True)
class WebAlarmsProps:
    namer: Namer
    topic_arn: str
    asg_name: str
    alb_arn_suffix: str
    target_group_arn_suffix: str
    cpu_threshold: int
    cpu_periods: int
    error_threshold: int


class WebAlarms(Construct):
    """Exposes `alarms` by short name."""

    def __init__(self, scope: Construct, construct_id: str, props: WebAlarmsProps):
        super().__init__(scope, construct_id)
        p = props
        self._namer, self._topic = p.namer, p.topic_arn
        lb = {"LoadBalancer": p.alb_arn_suffix}
        self.alarms = {
            facts.ALARM_CPU_HIGH: self._alarm(
                facts.ALARM_CPU_HIGH,
                "AWS/EC2",
                "CPUUtilization",
                "Average",
                {"AutoScalingGroupName": p.asg_name},
                p.cpu_threshold,
                p.cpu_periods,
                "GreaterThanThreshold",
                f"Average CPU of the web instances above {p.cpu_threshold}% for {p.cpu_periods} minutes",
                "missing",
            ),
            facts.ALARM_ALB_5XX: self._alarm(
                facts.ALARM_ALB_5XX,
                "AWS/ApplicationELB",
                "HTTPCode_ELB_5XX_Count",
                "Sum",
                lb,
                p.error_threshold,
                2,
                "GreaterThanOrEqualToThreshold",
                f"The load balancer answered {p.error_threshold}+ 5xx per minute (no healthy target?)",
                "notBreaching",
            ),
            facts.ALARM_TARGET_5XX: self._alarm(
                facts.ALARM_TARGET_5XX,
                "AWS/ApplicationELB",
                "HTTPCode_Target_5XX_Count",
                "Sum",
                lb,
                p.error_threshold,
                2,
                "GreaterThanOrEqualToThreshold",
                f"The application answered {p.error_threshold}+ 5xx per minute",
                "notBreaching",
            ),
            facts.ALARM_UNHEALTHY_HOSTS: self._alarm(
                facts.ALARM_UNHEALTHY_HOSTS,
                "AWS/ApplicationELB",
                "UnHealthyHostCount",
                "Maximum",
                {**lb, "TargetGroup": p.target_group_arn_suffix},
                1,
                3,
                "GreaterThanOrEqualToThreshold",
                "At least one target failed its health check for 3 minutes",
                "notBreaching",
            ),
        }

    def _alarm(
        self,
        service: str,
        namespace: str,
        metric: str,
        statistic: str,
        dimensions: dict[str, str],
        threshold: int,
        periods: int,
        comparison: str,
        description: str,
        missing: str,
    ):
        n = self._namer
        return aws.cloudwatch_metric_alarm.CloudwatchMetricAlarm(
            self,
            service,
            alarm_name=n.name(service, "alarm"),
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            statistic=statistic,
            dimensions=dimensions,
            period=60,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            threshold=threshold,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_actions=[self._topic],
            ok_actions=[self._topic],
            tags=n.resource_tags(service, "alarm"),
        )
