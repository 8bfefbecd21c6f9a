"""The region's internet-facing Application Load Balancer (R4, F8): HTTPS on 443 only.

TLS 1.3 policy with the validated certificate, invalid header fields dropped, access logs to
the region's log bucket, deletion protection where configured (prod), no listener on port 80
at all (nothing to redirect: viewers reach the platform through CloudFront over HTTPS).

Reachable around CloudFront by nobody:
- its security groups admit 443 only from AWS-managed prefix lists, read by data source:
  CloudFront's origin-facing servers, and (in a second group, because each prefix-list entry
  counts against a group's 60-rule quota) the Route 53 health checkers;
- the listener forwards only requests carrying the environment's origin-verify header, or
  asking for the health or readiness path (Route 53 health checks, which probe readiness, cannot
  send custom headers; both paths are public through CloudFront anyway); everything else gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

import webapp
from config.naming import Namer
from config.regions import ELB_LOG_DELIVERY_SERVICE_REGIONS
from modules import aws
from modules.bucket import SecureBucket
from modules.connections import Connections
from modules.origin_verify import HEADER as ORIGIN_VERIFY_HEADER
from modules.policy import Statement

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3, and 1.2 for older clients
CLOUDFRONT_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"
ROUTE53_HEALTH_PREFIX_LIST = "com.amazonaws.{region}.route53-healthchecks"
ACCESS_LOG_PREFIX = "alb"


def access_log_delivery_statement(scope: Construct, region: str, bucket_arn: str, account_token: str) -> Statement:
    """The log bucket policy statement letting Elastic Load Balancing deliver this account's ALB
    access logs under the load balancer's prefix: the region's ELB account (from the
    aws_elb_service_account data source), or the log-delivery service principal in regions
    launched after August 2022."""
    objects = f"{bucket_arn}/{ACCESS_LOG_PREFIX}/AWSLogs/{account_token}/*"
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
    log_bucket: SecureBucket  # receives the access logs; the load balancer adds its delivery grant
    account_token: str  # token: the account whose logs ELB delivers (part of the object key)
    deletion_protection: bool
    region: str
    origin_verify_values: list[str]  # header values accepted (current and previous)


class LoadBalancer(Construct):
    """Exposes `alb`, `security_group` (the group instances admit) and its `connections`, `security_groups`,
    `target_group`, `listener`."""

    def __init__(self, scope: Construct, construct_id: str, props: LoadBalancerProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        prefix_list = aws.data_aws_ec2_managed_prefix_list.DataAwsEc2ManagedPrefixList
        sources = {
            "alb": ("CloudFront origin-facing servers", prefix_list(self, "cloudfront", name=CLOUDFRONT_PREFIX_LIST)),
            "alb-health": (
                "Route 53 health checkers",
                prefix_list(self, "route53-health", name=ROUTE53_HEALTH_PREFIX_LIST.format(region=p.region)),
            ),
        }
        self.security_groups = {}
        for service, (who, source) in sources.items():
            group = aws.security_group.SecurityGroup(
                self,
                f"{service}-sg",
                name=n.name(service, "security_group"),
                vpc_id=p.vpc_id,
                description=f"Load balancer: HTTPS from {who} only",
                tags=n.resource_tags(service, "security_group"),
            )
            aws.vpc_security_group_ingress_rule.VpcSecurityGroupIngressRule(
                self,
                f"{service}-https-in",
                security_group_id=group.id,
                prefix_list_id=source.id,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                description=f"HTTPS from {who}",
                tags=n.resource_tags(f"{service}-https-in"),
            )
            self.security_groups[service] = group
        self.security_group = self.security_groups["alb"]  # the one the instances admit traffic from
        self.connections = Connections(self, n, "alb", self.security_group.id)
        # The log bucket admits the delivery when asked: its policy names exactly the deliveries that exist.
        p.log_bucket.add_to_resource_policy(
            access_log_delivery_statement(self, p.region, p.log_bucket.arn, p.account_token)
        )
        self.alb = aws.lb.Lb(
            self,
            "alb",
            name=n.name("alb", "alb"),
            internal=False,
            load_balancer_type="application",
            security_groups=[g.id for g in self.security_groups.values()],
            subnets=p.public_subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=p.deletion_protection,
            desync_mitigation_mode="strictest",
            idle_timeout=60,
            access_logs=aws.lb.LbAccessLogs(bucket=p.log_bucket.id, prefix=ACCESS_LOG_PREFIX, enabled=True),
            # ELB checks write access to the bucket when logging is enabled.
            tags=n.resource_tags("alb", "alb"),
            depends_on=[p.log_bucket.policy],
        )
        self.target_group = aws.lb_target_group.LbTargetGroup(
            self,
            "tg",
            name=n.name("web", "target_group"),
            port=webapp.PORT,
            protocol="HTTP",
            vpc_id=p.vpc_id,
            target_type="instance",
            deregistration_delay="30",
            health_check=aws.lb_target_group.LbTargetGroupHealthCheck(
                enabled=True,
                path=webapp.HEALTH_PATH,
                port="traffic-port",
                protocol="HTTP",
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=n.resource_tags("web", "target_group"),
        )
        listener = aws.lb_listener
        self.listener = listener.LbListener(
            self,
            "https",
            load_balancer_arn=self.alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=p.certificate_arn,
            default_action=[
                listener.LbListenerDefaultAction(
                    type="fixed-response",
                    fixed_response=listener.LbListenerDefaultActionFixedResponse(
                        status_code="403", content_type="application/json", message_body='{"error": "forbidden"}'
                    ),
                )
            ],
            tags=n.resource_tags("https-listener"),
        )
        rule = aws.lb_listener_rule
        forward = [rule.LbListenerRuleAction(type="forward", target_group_arn=self.target_group.arn)]
        self.health_rule = rule.LbListenerRule(
            self,
            "health-path",
            listener_arn=self.listener.arn,
            priority=10,
            action=forward,
            condition=[
                rule.LbListenerRuleCondition(
                    path_pattern=rule.LbListenerRuleConditionPathPattern(values=[webapp.HEALTH_PATH, webapp.READY_PATH])
                )
            ],
            tags=n.resource_tags("health-path-rule"),
        )
        self.origin_rule = rule.LbListenerRule(
            self,
            "from-cloudfront",
            listener_arn=self.listener.arn,
            priority=20,
            action=forward,
            condition=[
                rule.LbListenerRuleCondition(
                    http_header=rule.LbListenerRuleConditionHttpHeader(
                        http_header_name=ORIGIN_VERIFY_HEADER, values=p.origin_verify_values
                    )
                )
            ],
            tags=n.resource_tags("from-cloudfront-rule"),
        )
