"""One customer-managed KMS key per environment x region, shared by the services that use it.

The key policy names exactly those services, and each consumer adds its own grant when it is
constructed with the key (`grant_via_service`, `admit_log_group`, `add_to_resource_policy`), the
way the AWS CDK's constructs do: this module knows none of them. Account principals (through
IAM) may administer the key, but may only *use* it through the AWS services consumers asked for
(kms:ViaService), never call Encrypt/Decrypt directly; service principals (CloudWatch Logs, SNS,
CloudWatch alarms, the Auto Scaling service-linked role...) get what their consumer grants, bound
to this account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jsii
from cdktf import IStringProducer, Lazy, TerraformProvider
from constructs import Construct

from config.naming import Namer
from modules import aws
from modules.policy import Condition, Statement, as_json

# Key administration for the account (delegated to IAM). Enumerated, not "kms:*": usage
# (Encrypt, Decrypt, GenerateDataKey...) is deliberately absent and granted per service below.
ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
USE_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
# In a key policy, "*" as the resource means "this key": key policies cannot name anything else.
THIS_KEY = ("*",)
# Policies list their statements, and the ViaService condition its services, in this order: the
# order the policy had when this module listed every consumer itself, kept so that deployed
# policies show no change in a plan. It grants nothing: a grant not listed here follows the
# listed ones in the order it was asked for, so a new consumer never edits this module.
STATEMENT_ORDER = (
    "AccountAdministersKey",
    "AccountUsesKeyThroughServices",
    "CloudWatchLogsEncryptLogGroups",
    "SnsEncryptTopics",
    "BudgetsPublishToEncryptedTopics",
    "CloudWatchAlarmsPublishToEncryptedTopics",
    "AutoScalingEncryptsInstanceVolumes",
    "AutoScalingGrantsForVolumes",
    "OtherEnvironmentsPublishToEncryptedTopics",
)
VIA_SERVICE_ORDER = ("s3", "rds", "secretsmanager", "sns", "ec2", "sqs", "lambda")


def _in_order(items: list, order: tuple[str, ...], key=lambda item: item) -> list:
    """`items` with those named in `order` first, in that order; the others after, as they came."""
    rank = {name: index for index, name in enumerate(order)}
    return sorted(items, key=lambda item: rank.get(key(item), len(order)))  # sorted() is stable


@dataclass(frozen=True)
class EncryptionKeyProps:
    namer: Namer
    region: str
    account_token: str  # the account id as Terraform reads it (aws_caller_identity)
    partition: str  # a token from aws_partition
    deletion_window_days: int  # the environment's key_deletion_window_days (the settings table's, per profile)
    provider: TerraformProvider | None = None  # the edge stack's key lives in us-east-1


class ImportedKey:
    """A key known only by its ARN, whose policy is managed elsewhere (another stack, a test): it
    encrypts like an EncryptionKey, but grants change nothing, as with the AWS CDK's
    `Key.fromKeyArn`. Whoever owns that key grants its consumers there."""

    def __init__(self, arn: str):
        self.arn = arn

    def grant_via_service(self, *services: str) -> None:
        """Nothing to add: the policy is not this program's."""

    def admit_log_group(self, prefix: str) -> None:
        """Nothing to add: the policy is not this program's."""

    def add_to_resource_policy(self, statement: Statement) -> None:
        """Nothing to add: the policy is not this program's."""


class EncryptionKey(Construct):
    """The region's customer-managed key with rotation on, and its alias.

    Exposes `arn`, `key_id` and `alias_name` for the modules that encrypt with it, and the grants
    those modules ask for (the AWS CDK `grant*` / `addToResourcePolicy` pattern), so that the
    policy names exactly the consumers that exist and this module knows none of them:
    `grant_via_service` (account principals use the key through an AWS service),
    `admit_log_group` (CloudWatch Logs encrypts log groups under a name prefix) and
    `add_to_resource_policy` (any other statement, e.g. a service principal's)."""

    def __init__(self, scope: Construct, construct_id: str, props: EncryptionKeyProps):
        super().__init__(scope, construct_id)
        self.props = p = props
        self._via_services: list[str] = []
        self._log_group_prefixes: list[str] = []
        self._statements: list[Statement] = []
        self.key = aws.kms_key.KmsKey(
            self,
            "key",
            description=f"Encrypts {p.namer.environment} data in {p.region}: logs, topics, buckets, "
            "databases, secrets, volumes",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=p.deletion_window_days,
            policy=Lazy.string_value(_FinalPolicy(self)),
            tags=p.namer.resource_tags("kms"),
            provider=p.provider,
        )
        self.alias = aws.kms_alias.KmsAlias(
            self,
            "alias",
            name=p.namer.prefixed("alias/", "kms", "kms_alias"),
            target_key_id=self.key.key_id,
            provider=p.provider,
        )
        self.arn: str = self.key.arn
        self.key_id: str = self.key.key_id
        self.alias_name: str = self.alias.name

    @property
    def root(self) -> str:
        """The ARN of this key's account (the principal key policies delegate to IAM with)."""
        return f"arn:{self.props.partition}:iam::{self.props.account_token}:root"

    def grant_via_service(self, *services: str) -> None:
        """Let principals of this account use the key, through `services` only (kms:ViaService in
        this region): what an S3 bucket, RDS instance, secret, topic, volume, queue or function
        encrypted with the key needs. Asking twice is harmless."""
        for service in services:
            if not re.fullmatch(r"[a-z0-9-]+", service):
                raise ValueError(
                    f"kms:ViaService takes a service's endpoint prefix such as 's3' or 'sqs', "
                    f"not {service!r}: the key adds the region and amazonaws.com itself"
                )
            if service not in self._via_services:
                self._via_services.append(service)

    def admit_log_group(self, prefix: str) -> None:
        """Let CloudWatch Logs encrypt the log groups of this account and region whose names
        start with `prefix` (the key policy's encryption-context condition, checked on creation)."""
        if not prefix:
            raise ValueError("a log group prefix must not be empty: it would admit every log group")
        if prefix not in self._log_group_prefixes:
            self._log_group_prefixes.append(prefix)

    def add_to_resource_policy(self, statement: Statement) -> None:
        """Add a statement to the key policy, for a consumer that needs more than the two grants
        above (service principals, other accounts). Its resource must be THIS_KEY."""
        if tuple(statement.resources) != THIS_KEY:
            raise ValueError(
                f"key statement {statement.sid}: a key policy's resource is {THIS_KEY}, not {statement.resources}"
            )
        if statement.sid in {s.sid for s in self._base_statements() + self._statements}:
            raise ValueError(f"the key policy already has a statement {statement.sid}")
        self._statements.append(statement)

    def _base_statements(self) -> list[Statement]:
        """Administration by the account (always), and the two grants built from what was asked."""
        p = self.props
        statements = [Statement("AccountAdministersKey", ADMIN_ACTIONS, THIS_KEY, {"AWS": (self.root,)})]
        if self._via_services:
            services = _in_order(self._via_services, VIA_SERVICE_ORDER)
            statements.append(
                Statement(
                    "AccountUsesKeyThroughServices",
                    (*USE_ACTIONS, "kms:CreateGrant"),
                    THIS_KEY,
                    {"AWS": (self.root,)},
                    (
                        Condition("StringEquals", "kms:CallerAccount", (p.account_token,)),
                        Condition(
                            "StringEquals", "kms:ViaService", tuple(f"{s}.{p.region}.amazonaws.com" for s in services)
                        ),
                    ),
                )
            )
        if self._log_group_prefixes:
            # Log groups of this account and region only (their names start with an admitted prefix).
            log_groups = tuple(
                f"arn:{p.partition}:logs:{p.region}:{p.account_token}:log-group:{prefix}*"
                for prefix in self._log_group_prefixes
            )
            statements.append(
                Statement(
                    "CloudWatchLogsEncryptLogGroups",
                    USE_ACTIONS,
                    THIS_KEY,
                    {"Service": (f"logs.{p.region}.amazonaws.com",)},
                    (Condition("ArnLike", "kms:EncryptionContext:aws:logs:arn", log_groups),),
                )
            )
        return statements

    def _render_policy(self) -> str:
        """The policy from every grant, in STATEMENT_ORDER (rendered when the stack is synthesized:
        `_FinalPolicy`)."""
        statements = _in_order(self._base_statements() + self._statements, STATEMENT_ORDER, key=lambda s: s.sid)
        return as_json(statements)


@jsii.implements(IStringProducer)
class _FinalPolicy:
    """The key's `policy`, produced when cdktf resolves the stack, after every module has added
    its grants: rendered once per key instead of once per grant (each render is a jsonencode of
    the whole document plus a property write through jsii), same document."""

    def __init__(self, key: EncryptionKey):
        self._key = key

    def produce(self, context) -> str:
        return self._key._render_policy()
