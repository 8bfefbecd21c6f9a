"""AWS Config: the recorder, its delivery and the managed rules (R13, F5).

Order matters and is explicit: recorder, then the delivery channel (AWS refuses a channel
without a recorder), then the recorder status (recording starts only when delivery works), then
every rule. Exactly one recorder exists per (account, region) across the whole configuration
(`Config.owns_config_recorder`); with `manage_config_recorder = false` an existing recorder is
assumed and only the rules are created, depending on it.

Rule identifiers are AWS managed rules (https://docs.aws.amazon.com/config/latest/developerguide/
managed-rules-by-aws-config.html): required-tags, encrypted-volumes, rds-storage-encrypted,
s3-bucket-server-side-encryption-enabled, s3-bucket-ssl-requests-only,
cloudwatch-log-group-encrypted, sns-encrypted-kms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from constructs import Construct

from config.naming import Namer
from modules import aws
from modules.bucket import Lifecycle, SecureBucket, SecureBucketProps
from modules.kms import EncryptionKey, ImportedKey
from modules.policy import Condition, Statement, attach_managed, document, trust

REQUIRED_TAGS = ("Environment", "Project", "Owner", "CostCenter")
MANAGED_RULES = {
    "required-tags": ("REQUIRED_TAGS", {f"tag{i + 1}Key": tag for i, tag in enumerate(REQUIRED_TAGS)}),
    "encrypted-volumes": ("ENCRYPTED_VOLUMES", None),
    "rds-storage-encrypted": ("RDS_STORAGE_ENCRYPTED", None),
    "s3-sse": ("S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", None),
    "s3-tls-only": ("S3_BUCKET_SSL_REQUESTS_ONLY", None),
    "log-groups-encrypted": ("CLOUDWATCH_LOG_GROUP_ENCRYPTED", None),
    "sns-encrypted": ("SNS_ENCRYPTED_KMS", None),
}


@dataclass(frozen=True)
class ConfigRulesProps:
    namer: Namer
    region: str
    account_number: str  # configuration value (bucket name)
    account_token: str
    partition: str
    manage_recorder: bool  # this stack owns the (account, region) recorder
    record_global_resources: bool  # only in the environment's primary region
    kms_key: EncryptionKey | ImportedKey
    log_bucket: SecureBucket  # the region's access log bucket; it admits the Config bucket's logs
    lifecycle: Lifecycle
    force_destroy: bool
    notification_topic_arn: str | None


class ConfigRules(Construct):
    """Exposes `rules`, and `recorder`, `delivery_channel`, `status`, `bucket` when it manages them."""

    def __init__(self, scope: Construct, construct_id: str, props: ConfigRulesProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        self.recorder = self.delivery_channel = self.status = self.bucket = None
        if p.manage_recorder:
            self._recorder(p, n)
        self.rules = {}
        for short, (identifier, parameters) in MANAGED_RULES.items():
            cr = aws.config_config_rule
            self.rules[short] = cr.ConfigConfigRule(
                self,
                f"rule-{short}",
                name=n.name(short, "config_rule"),
                description=f"AWS managed rule {identifier}",
                source=cr.ConfigConfigRuleSource(owner="AWS", source_identifier=identifier),
                input_parameters=json.dumps(parameters, sort_keys=True) if parameters else None,
                depends_on=[self.status] if self.status else None,
                tags=n.resource_tags(short, "config_rule"),
            )

    def _recorder(self, p: ConfigRulesProps, n: Namer) -> None:
        from_config = {"Service": ("config.amazonaws.com",)}
        this_account = Condition("StringEquals", "aws:SourceAccount", (p.account_token,))
        self.bucket = SecureBucket(
            self,
            "bucket",
            SecureBucketProps(
                namer=n,
                service="config",
                account_number=p.account_number,
                lifecycle=p.lifecycle,
                kms_key=p.kms_key,
                access_log_bucket=p.log_bucket,
                force_destroy=p.force_destroy,
            ),
        )
        # The bucket admits Config's deliveries when asked (as the log bucket admits the load balancer's);
        # its ARN is written out from the bucket's own name, so the policies read as they always have.
        bucket_arn = f"arn:{p.partition}:s3:::{self.bucket.name}"
        self.bucket.add_to_resource_policy(
            Statement(
                "ConfigAclCheck", ("s3:GetBucketAcl", "s3:ListBucket"), (bucket_arn,), from_config, (this_account,)
            )
        )
        self.bucket.add_to_resource_policy(
            Statement(
                "ConfigDelivery",
                ("s3:PutObject",),
                (f"{bucket_arn}/AWSLogs/{p.account_token}/Config/*",),
                from_config,
                (this_account, Condition("StringEquals", "s3:x-amz-acl", ("bucket-owner-full-control",))),
            )
        )
        p.kms_key.grant_via_service("s3", "sns")  # the role's deliveries (EncryptDeliveries below)
        role = aws.iam_role.IamRole(
            self,
            "role",
            name=n.name("config", "iam_role"),
            max_session_duration=3600,
            assume_role_policy=trust(self, "trust", "ConfigAssumes", "config.amazonaws.com", (this_account,)).json,
            description="AWS Config recorder",
            tags=n.resource_tags("config", "iam_role"),
        )
        attach_managed(self, "managed", role.name, "AWS_ConfigRole")
        delivery = [
            Statement("DeliverSnapshots", ("s3:PutObject",), (f"{bucket_arn}/AWSLogs/{p.account_token}/Config/*",)),
            Statement("CheckBucket", ("s3:GetBucketAcl",), (bucket_arn,)),
            Statement(
                "EncryptDeliveries",
                ("kms:Decrypt", "kms:GenerateDataKey"),
                (p.kms_key.arn,),
                conditions=(
                    Condition(
                        "StringEquals", "kms:ViaService", tuple(f"{s}.{p.region}.amazonaws.com" for s in ("s3", "sns"))
                    ),
                ),
            ),
        ]
        if p.notification_topic_arn:
            delivery.append(Statement("Notify", ("sns:Publish",), (p.notification_topic_arn,)))
        aws.iam_role_policy.IamRolePolicy(
            self,
            "delivery",
            name=n.name("config-delivery", "iam_policy"),
            role=role.id,
            policy=document(self, "delivery-policy", delivery).json,
        )
        cfg = aws.config_configuration_recorder
        self.recorder = cfg.ConfigConfigurationRecorder(
            self,
            "recorder",
            name=n.name("config", "config_recorder"),
            role_arn=role.arn,
            recording_group=cfg.ConfigConfigurationRecorderRecordingGroup(
                all_supported=True, include_global_resource_types=p.record_global_resources
            ),
        )
        self.delivery_channel = aws.config_delivery_channel.ConfigDeliveryChannel(
            self,
            "delivery-channel",
            name=n.name("config", "config_recorder"),
            s3_bucket_name=self.bucket.id,
            s3_kms_key_arn=p.kms_key.arn,
            sns_topic_arn=p.notification_topic_arn,
            depends_on=[self.recorder, self.bucket.policy],
        )
        self.status = aws.config_configuration_recorder_status.ConfigConfigurationRecorderStatus(
            self, "status", name=self.recorder.name, is_enabled=True, depends_on=[self.delivery_channel]
        )
