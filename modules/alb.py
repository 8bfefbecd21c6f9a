"""The region's internet-facing Application Load Balancer (R4): HTTPS on 443 only.

TLS 1.3 policy with the validated certificate, invalid header fields dropped, access logs to
the region's log bucket, deletion protection where configured (prod), no listener on port 80
at all (nothing to redirect: viewers reach the platform through CloudFront over HTTPS). Its
security group admits 443 only; the edge issue narrows the sources to CloudFront and Route 53
health checkers.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

import webapp
from config.regions import ELB_LOG_DELIVERY_SERVICE_REGIONS
from modules import aws
from modules.naming import Namer
from modules.policy import Statement

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3, and 1.2 for older clients
ACCESS_LOG_PREFIX = "alb"


def access_log_delivery_statement(scope: Construct, region: str, bucket_name: str, account_id: str,
                                  partition: str) -> Statement:
    """The log bucket policy statement letting Elastic Load Balancing deliver this account's ALB
    access logs: the region's ELB account (from the aws_elb_service_account data source), or
    the log-delivery service principal in regions launched after August 2022."""
    objects = f"arn:{partition}:s3:::{bucket_name}/{ACCESS_LOG_PREFIX}/AWSLogs/{account_id}/*"
    if region in ELB_LOG_DELIVERY_SERVICE_REGIONS:
        principal = {"Service": ("logdelivery.elasticloadbalancing.amazonaws.com",)}
    else:
        elb = aws.data_aws_elb_service_account.DataAwsElbServiceAccount(scope, "elb-service-account")
        principal = {"AWS": (elb.arn,)}
    return Statement("AlbAccessLogDelivery", ("s3:PutObject",), (objects,), principal)


@dataclass(frozen=True)
class LoadBalancerProps:
    namer: Namer
    vpc_id: str
    public_subnet_ids: list[str]
    certificate_arn: str  # the validation's ARN: the listener waits for issuance
    log_bucket_id: str
    log_bucket_policy: object  # the bucket policy resource: ELB checks write access at creation
    deletion_protection: bool


class LoadBalancer(Construct):
    """Exposes `alb`, `security_group`, `target_group`, `listener`."""

    def __init__(self, scope: Construct, construct_id: str, props: LoadBalancerProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        self.security_group = aws.security_group.SecurityGroup(
            self, "sg", name=n.name("alb", "security_group"), vpc_id=p.vpc_id,
            description="Load balancer: HTTPS in on 443 only; out to the instances' service port",
            tags=n.resource_tags("alb", "security_group"))
        aws.vpc_security_group_ingress_rule.VpcSecurityGroupIngressRule(
            self, "https-in", security_group_id=self.security_group.id, cidr_ipv4="0.0.0.0/0", ip_protocol="tcp",
            from_port=443, to_port=443, description="HTTPS from viewers (narrowed to CloudFront by the edge)",
            tags=n.resource_tags("alb-https-in"))
        self.alb = aws.lb.Lb(
            self, "alb", name=n.name("alb", "alb"), internal=False, load_balancer_type="application",
            security_groups=[self.security_group.id], subnets=p.public_subnet_ids,
            drop_invalid_header_fields=True, enable_deletion_protection=p.deletion_protection,
            desync_mitigation_mode="strictest", idle_timeout=60,
            access_logs=aws.lb.LbAccessLogs(bucket=p.log_bucket_id, prefix=ACCESS_LOG_PREFIX, enabled=True),
            tags=n.resource_tags("alb", "alb"), depends_on=[p.log_bucket_policy])
        self.target_group = aws.lb_target_group.LbTargetGroup(
            self, "tg", name=n.name("web", "target_group"), port=webapp.PORT, protocol="HTTP",
            vpc_id=p.vpc_id, target_type="instance", deregistration_delay="30",
            health_check=aws.lb_target_group.LbTargetGroupHealthCheck(
                enabled=True, path=webapp.HEALTH_PATH, port="traffic-port", protocol="HTTP", matcher="200",
                interval=15, timeout=5, healthy_threshold=2, unhealthy_threshold=3),
            tags=n.resource_tags("web", "target_group"))
        self.listener = aws.lb_listener.LbListener(
            self, "https", load_balancer_arn=self.alb.arn, port=443, protocol="HTTPS", ssl_policy=TLS_POLICY,
            certificate_arn=p.certificate_arn,
            default_action=[aws.lb_listener.LbListenerDefaultAction(type="forward",
                                                                      target_group_arn=self.target_group.arn)],
            tags=n.resource_tags("https-listener"))
