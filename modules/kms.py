"""One customer-managed KMS key per environment x region, shared by the services that use it.

The key policy names exactly those services. Account principals (through IAM) may
administer the key, but may only *use* it through the listed AWS services (kms:ViaService),
never call Encrypt/Decrypt directly; service principals (CloudWatch Logs, SNS, CloudWatch
alarms) get the minimum for their job, bound to this account; the Auto Scaling
service-linked role may encrypt the volumes of the instances it launches.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformProvider
from constructs import Construct

from modules import aws
from modules.naming import Namer
from modules.policy import Condition, Statement, as_json

# Key administration for the account (delegated to IAM). Enumerated, not "kms:*": usage
# (Encrypt, Decrypt, GenerateDataKey...) is deliberately absent and granted per service below.
ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey",
    "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies",
    "kms:ListKeyRotations", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:RevokeGrant",
    "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource",
    "kms:UpdateAlias", "kms:UpdateKeyDescription",
)
USE_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
               "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo")
# Services that use the key with the caller's own identity (S3 objects, RDS storage, Secrets
# Manager secrets, SNS publishers, EBS volumes, SQS dead letters, Lambda environment variables).
VIA_SERVICES = ("s3", "rds", "secretsmanager", "sns", "ec2", "sqs", "lambda")
# In a key policy, "*" as the resource means "this key": key policies cannot name anything else.
THIS_KEY = ("*",)


@dataclass(frozen=True)
class EncryptionKeyProps:
    namer: Namer
    region: str
    account_id: str  # a token from aws_caller_identity
    partition: str  # a token from aws_partition
    deletion_window_days: int = 30
    topic_publisher_accounts: tuple[str, ...] = ()  # other accounts publishing to encrypted topics
    provider: TerraformProvider | None = None  # the edge stack's key lives in us-east-1
    log_group_prefixes: tuple[str, ...] = ()  # extra log group name prefixes (RDS's, WAF's own forms)


class EncryptionKey(Construct):
    """The region's customer-managed key with rotation on, and its alias.

    Exposes `arn`, `key_id` and `alias_name` for the modules that encrypt with it."""

    def __init__(self, scope: Construct, construct_id: str, props: EncryptionKeyProps):
        super().__init__(scope, construct_id)
        p = props
        root = f"arn:{p.partition}:iam::{p.account_id}:root"
        source_account = Condition("StringEquals", "aws:SourceAccount", (p.account_id,))
        # Log groups of this environment and region only (their names all start with the prefix).
        log_groups = tuple(f"arn:{p.partition}:logs:{p.region}:{p.account_id}:log-group:{prefix}*"
                           for prefix in (p.namer.prefix, *p.log_group_prefixes))
        asg_role = (f"arn:{p.partition}:iam::{p.account_id}:role/aws-service-role/"
                    "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
        statements = [
            Statement("AccountAdministersKey", ADMIN_ACTIONS, THIS_KEY, {"AWS": (root,)}),
            Statement("AccountUsesKeyThroughServices", (*USE_ACTIONS, "kms:CreateGrant"), THIS_KEY,
                      {"AWS": (root,)}, (
                          Condition("StringEquals", "kms:CallerAccount", (p.account_id,)),
                          Condition("StringEquals", "kms:ViaService",
                                    tuple(f"{s}.{p.region}.amazonaws.com" for s in VIA_SERVICES)),
                      )),
            Statement("CloudWatchLogsEncryptLogGroups", USE_ACTIONS, THIS_KEY,
                      {"Service": (f"logs.{p.region}.amazonaws.com",)},
                      (Condition("ArnLike", "kms:EncryptionContext:aws:logs:arn", log_groups),)),
            Statement("SnsEncryptTopics", ("kms:Decrypt", "kms:GenerateDataKey"), THIS_KEY,
                      {"Service": ("sns.amazonaws.com",)}, (source_account,)),
            # AWS Budgets publishes cost alerts to the (encrypted) error topic.
            Statement("BudgetsPublishToEncryptedTopics", ("kms:Decrypt", "kms:GenerateDataKey"), THIS_KEY,
                      {"Service": ("budgets.amazonaws.com",)}, (source_account,)),
            # Only alarms of this environment and region (their names share the prefix).
            Statement("CloudWatchAlarmsPublishToEncryptedTopics", ("kms:Decrypt", "kms:GenerateDataKey"), THIS_KEY,
                      {"Service": ("cloudwatch.amazonaws.com",)},
                      (source_account, Condition("ArnLike", "aws:SourceArn", (
                          f"arn:{p.partition}:cloudwatch:{p.region}:{p.account_id}:alarm:{p.namer.prefix}*",)))),
            # The service-linked role exists once Auto Scaling has been used in the account; a
            # key policy may not name a missing principal, so it is matched by ARN instead.
            Statement("AutoScalingEncryptsInstanceVolumes", USE_ACTIONS, THIS_KEY, {"AWS": ("*",)},
                      (Condition("StringEquals", "aws:PrincipalArn", (asg_role,)),
                       Condition("StringEquals", "kms:CallerAccount", (p.account_id,)))),
            Statement("AutoScalingGrantsForVolumes", ("kms:CreateGrant",), THIS_KEY, {"AWS": ("*",)},
                      (Condition("StringEquals", "aws:PrincipalArn", (asg_role,)),
                       Condition("StringEquals", "kms:CallerAccount", (p.account_id,)),
                       Condition("Bool", "kms:GrantIsForAWSResource", ("true",)))),
        ]
        if p.topic_publisher_accounts:
            # SNS encrypts a cross-account publish with this key on behalf of the publisher.
            statements.append(Statement(
                "OtherEnvironmentsPublishToEncryptedTopics", ("kms:Decrypt", "kms:GenerateDataKey"), THIS_KEY,
                {"AWS": tuple(f"arn:{p.partition}:iam::{a}:root" for a in p.topic_publisher_accounts)},
                (Condition("StringEquals", "kms:ViaService", (f"sns.{p.region}.amazonaws.com",)),)))
        self.policy = as_json(statements)
        self.key = aws.kms_key.KmsKey(
            self, "key",
            description=f"Encrypts {p.namer.environment} data in {p.region}: logs, topics, buckets, "
                        "databases, secrets, volumes",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=p.deletion_window_days,
            policy=self.policy,
            tags=p.namer.resource_tags("kms"),
            provider=p.provider,
        )
        self.alias = aws.kms_alias.KmsAlias(self, "alias", name=p.namer.prefixed("alias/", "kms", "kms_alias"),
                                            target_key_id=self.key.key_id, provider=p.provider)
        self.arn: str = self.key.arn
        self.key_id: str = self.key.key_id
        self.alias_name: str = self.alias.name
