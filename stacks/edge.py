"""`<env>-global`: what one environment has once, whatever its regions: CloudFront with its
certificate, web ACL and logs, viewer DNS, the cross-account roles and the budget, and the
us-east-1 error topic with the distribution's 5xx alarm (the regions' health-check alarms notify
it too: modules/edge_alarms.py)."""

from __future__ import annotations

from pathlib import Path

from cdktf import TerraformOutput
from constructs import Construct

from config.model import Config, Environment, StackSpec
from config.regions import EDGE_REGION
from modules import aws, dns
from modules.bucket import Lifecycle
from modules.budget import Budget, BudgetProps
from modules.cdn import Distribution, DistributionProps
from modules.cdn_logs import CdnLogs, CdnLogsProps
from modules.certificate import CertificateProps, DnsValidatedCertificate
from modules.cross_account import CrossAccountProps, CrossAccountRoles
from modules.dns_failover import origin_group_names
from modules.edge_alarms import DistributionAlarm, DistributionAlarmProps
from modules.kms import EncryptionKey, EncryptionKeyProps
from modules.notifications import AlarmSource, ErrorTopic, ErrorTopicProps
from modules.origin_verify import OriginVerify, OriginVerifyProps
from modules.waf import WebAcl, WebAclProps
from stacks.base import PlatformStack, origin_verify_secret_name


class EdgeStack(PlatformStack):
    """Its default provider works in the environment's primary region; `us_east_1` is the
    aliased provider CloudFront's certificate, web ACL and their logs must be created with."""

    def __init__(self, scope: Construct, spec: StackSpec, config: Config, env: Environment, out_dir: Path):
        super().__init__(scope, spec, config, env, provider_region=env.primary_region, out_dir=out_dir)
        # Always its own alias, also when the primary region is us-east-1: CloudFront's
        # resources say explicitly which provider they need.
        self.us_east_1 = self.aws_provider("us_east_1", EDGE_REGION, alias="us_east_1")
        n = self.namer
        zone_id = dns.hosted_zone_id(self, config.project.domain, config.project.hosted_zone_id, self.dns_provider)
        viewer_names = (env.app_domain, *env.viewer_aliases)
        self.certificate = DnsValidatedCertificate(
            self,
            "viewer-cert",
            CertificateProps(
                namer=n,
                service="viewer-cert",
                domain_name=viewer_names[0],
                alternative_names=viewer_names[1:],
                zone_id=zone_id,
                owned_names=viewer_names,
                provider=self.us_east_1,
                dns_provider=self.dns_provider,
            ),
        )
        self.web_acl = None
        # The us-east-1 error topic's key, and WAF's logs': each grants itself its use, so the
        # policy names only them (no regional consumer lives in this stack).
        self.key = EncryptionKey(
            self,
            "kms",
            EncryptionKeyProps(
                namer=n,
                region=EDGE_REGION,
                account_token=self.account_token,
                partition=self.partition,
                deletion_window_days=env.key_deletion_window_days,
                provider=self.us_east_1,
            ),
        )
        # Alarms on us-east-1-only metrics notify this topic: the distribution's below, and each
        # region's health-check alarm, which lives with the check in the DNS account.
        self.error_topic = ErrorTopic(
            self,
            "errors",
            ErrorTopicProps(
                namer=n,
                region=EDGE_REGION,
                kms_key=self.key,
                account_token=self.account_token,
                partition=self.partition,
                publisher_accounts=config.other_accounts(env),
                emails=env.alert_emails,
                alarm_sources=tuple(
                    AlarmSource(config.dns_account_id(env), config.namer(env, region).prefix) for region in env.regions
                ),
                provider=self.us_east_1,
            ),
        )
        if env.waf:
            self.web_acl = WebAcl(
                self,
                "waf",
                WebAclProps(
                    namer=n, provider=self.us_east_1, log_retention_days=env.log_retention_days, kms_key=self.key
                ),
            )
        origin_verify = OriginVerify(
            self,
            "origin-verify",
            OriginVerifyProps(
                secret_name=origin_verify_secret_name(config, env),
                owner=False,
                primary_provider=self.provider_in(env.primary_region),
            ),
        )
        self.cdn = Distribution(
            self,
            "cdn",
            DistributionProps(
                namer=n,
                viewer_names=viewer_names,
                origin_name=env.origin_domain,
                group_origin_names=origin_group_names(
                    env.origin_domain,
                    tuple(env.regional_origin_domain(r) for r in env.failover_order),
                    env.dns.routing_policy,
                ),
                static_paths=env.static_paths,
                certificate_arn=self.certificate.arn,
                origin_verify_value=origin_verify.current,
                price_class=env.price_class,
                web_acl_arn=self.web_acl.acl.arn if self.web_acl else None,
            ),
        )
        distribution = self.cdn.distribution
        self.alarm = DistributionAlarm(
            self,
            "cdn-alarm",
            DistributionAlarmProps(
                namer=n, topic_arn=self.error_topic.arn, distribution_id=distribution.id, provider=self.us_east_1
            ),
        )
        self.logs = CdnLogs(
            self,
            "cdn-logs",
            CdnLogsProps(
                namer=n,
                account_number=env.account_number,
                account_token=self.account_token,
                partition=self.partition,
                distribution_arn=distribution.arn,
                force_destroy=env.force_destroy,
                provider=self.us_east_1,
                lifecycle=Lifecycle.of(env.lifecycle, current_expire_days=env.log_retention_days),
            ),
        )
        self.viewer_records = []
        for index, name in enumerate(viewer_names):
            for record_type in ("A", "AAAA"):
                self.viewer_records.append(
                    aws.route53_record.Route53Record(
                        self,
                        f"viewer-{index}-{record_type.lower()}",
                        zone_id=zone_id,
                        name=name,
                        type=record_type,
                        alias=aws.route53_record.Route53RecordAlias(
                            name=distribution.domain_name,
                            zone_id=distribution.hosted_zone_id,
                            # CloudFront has no target health to evaluate; its own edge handles failures.
                            evaluate_target_health=False,
                        ),
                        provider=self.dns_provider,
                    )
                )
        self.roles = CrossAccountRoles(
            self,
            "cross-account",
            CrossAccountProps(
                namer=n,
                environment=env.name,
                account_number=env.account_number,
                trusted_accounts=config.trusted_by(env),
                deployer_accounts=config.deployers_of(env),
                external_id=config.project.external_id,
                require_mfa=env.require_mfa,
                ci_account=config.project.ci_account_id,
                deploy_role_name=config.deploy_role_name(env),
                partition=self.partition,
                account_token=self.account_token,
            ),
        )
        primary_topic = aws.data_aws_sns_topic.DataAwsSnsTopic(
            self,
            "primary-error-topic",
            name=config.namer(env, env.primary_region).name("errors", "sns_topic"),
            provider=self.provider_in(env.primary_region),
        )
        self.budget = Budget(
            self,
            "budget",
            BudgetProps(
                namer=n,
                environment=env.name,
                limit_usd=env.budget_limit_usd,
                topic_arn=primary_topic.arn,
                emails=env.alert_emails,
            ),
        )
        self._outputs(distribution, viewer_names)

    def _outputs(self, distribution, viewer_names) -> None:
        TerraformOutput(
            self,
            "ops_readonly_role_arn",
            value=self.roles.readonly.arn,
            description="Read-only operations role other environments may assume",
        )
        TerraformOutput(
            self,
            "deploy_role_arn",
            value=self.roles.deploy.arn,
            description="Deploy role every provider of this environment assumes",
        )
        TerraformOutput(self, "budget_name", value=self.budget.budget.name, description="Monthly cost budget")
        TerraformOutput(
            self,
            "error_topic_arn",
            value=self.error_topic.arn,
            description="SNS topic (us-east-1) of the CloudFront and Route 53 health-check alarms",
        )
        TerraformOutput(
            self,
            "cloudfront_domain_name",
            value=distribution.domain_name,
            description="The distribution's own name (viewer names alias to it)",
        )
        TerraformOutput(
            self, "cloudfront_distribution_id", value=distribution.id, description="For cache invalidations"
        )
        TerraformOutput(
            self,
            "viewer_records",
            value=list(viewer_names),
            description="Route 53 names viewers use (A and AAAA aliases to CloudFront)",
        )
