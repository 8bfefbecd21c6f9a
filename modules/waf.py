"""The environment's web ACL in front of CloudFront: AWS managed rule groups.

Scope CLOUDFRONT, so it must be created in us-east-1 (the aliased provider). Rule groups: the
Amazon IP reputation list, the core rule set (OWASP top 10 classes) and known bad inputs
(Log4j and friends). Requests are allowed unless a rule blocks them. On in prod by default,
configurable per environment (`waf`): each web ACL costs ~$5/month plus $1/month per rule group
and $0.60 per million requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformProvider
from constructs import Construct

from config.naming import Namer
from modules import aws
from modules.kms import EncryptionKey, ImportedKey

LOG_PREFIX = "aws-waf-logs-"
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)


@dataclass(frozen=True)
class WebAclProps:
    namer: Namer
    provider: TerraformProvider  # us-east-1
    log_retention_days: int
    kms_key: EncryptionKey | ImportedKey  # a key in us-east-1; the ACL admits its log group itself


class WebAcl(Construct):
    """Exposes `acl` (use `acl.arn` as the distribution's web_acl_id)."""

    def __init__(self, scope: Construct, construct_id: str, props: WebAclProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        w = aws.wafv2_web_acl

        def visibility(metric: str):
            return dict(cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True)

        self.acl = w.Wafv2WebAcl(
            self,
            "acl",
            name=n.name("waf"),
            scope="CLOUDFRONT",
            provider=p.provider,
            description="Managed rule groups in front of CloudFront",
            default_action=w.Wafv2WebAclDefaultAction(allow=w.Wafv2WebAclDefaultActionAllow()),
            visibility_config=w.Wafv2WebAclVisibilityConfig(**visibility(n.name("waf"))),
            rule=[
                w.Wafv2WebAclRule(
                    name=group,
                    priority=index,
                    override_action=w.Wafv2WebAclRuleOverrideAction(none=w.Wafv2WebAclRuleOverrideActionNone()),
                    statement={"managed_rule_group_statement": {"name": group, "vendor_name": "AWS"}},
                    visibility_config=w.Wafv2WebAclRuleVisibilityConfig(**visibility(group)),
                )
                for index, group in enumerate(MANAGED_RULE_GROUPS)
            ],
            tags=n.resource_tags("waf"),
        )
        # WAF only logs to destinations whose names start with aws-waf-logs-.
        p.kms_key.admit_log_group(LOG_PREFIX)
        self.log_group = aws.cloudwatch_log_group.CloudwatchLogGroup(
            self,
            "logs",
            name=n.prefixed(LOG_PREFIX, "waf", "log_group"),
            retention_in_days=p.log_retention_days,
            kms_key_id=p.kms_key.arn,
            provider=p.provider,
            tags=n.resource_tags("waf-logs", "log_group"),
        )
        aws.wafv2_web_acl_logging_configuration.Wafv2WebAclLoggingConfiguration(
            self,
            "logging",
            resource_arn=self.acl.arn,
            log_destination_configs=[self.log_group.arn],
            provider=p.provider,
        )
