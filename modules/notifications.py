"""The error topic of one environment in one region (R12): encrypted, usable across environments.

Publishers: CloudWatch alarms of this environment and region, principals of this account, and
the other environments' accounts (so, for example, staging can tell prod's on-call about a
failed promotion). The edge stack's topic in us-east-1 also admits the alarms of more name prefixes
and of the DNS account (`alarm_sources`: the regions' health-check alarms, modules/edge_alarms.py):
an alarm may notify a topic of another account in its own region when the topic's policy lets
CloudWatch publish on that account's behalf. E-mail subscriptions come from configuration; AWS sends each address a
confirmation mail that must be accepted before anything is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformProvider
from constructs import Construct

from config.naming import Namer
from modules import aws
from modules.kms import THIS_KEY, EncryptionKey, ImportedKey
from modules.policy import Condition, Statement, document

OWNER_ACTIONS = (
    "sns:GetTopicAttributes",
    "sns:SetTopicAttributes",
    "sns:AddPermission",
    "sns:RemovePermission",
    "sns:DeleteTopic",
    "sns:Subscribe",
    "sns:ListSubscriptionsByTopic",
    "sns:Publish",
)


@dataclass(frozen=True)
class AlarmSource:
    """CloudWatch alarms of another account that may publish: those of `account_number` in the
    topic's region whose names start with `name_prefix`."""

    account_number: str  # a 12-digit id from the configuration (the DNS account)
    name_prefix: str


@dataclass(frozen=True)
class ErrorTopicProps:
    namer: Namer
    region: str
    kms_key: EncryptionKey | ImportedKey  # the topic grants itself its use
    account_token: str  # the account id as Terraform reads it
    partition: str  # token
    publisher_accounts: tuple[str, ...]  # the other environments' accounts (configuration)
    emails: tuple[str, ...]
    alarm_sources: tuple[AlarmSource, ...] = ()  # besides this account's alarms with this namer's prefix
    provider: TerraformProvider | None = None  # default: the stack's


def alarm_publishers(
    partition: str, region: str, account_token: str, prefix: str, sources: tuple[AlarmSource, ...]
) -> tuple[Condition, Condition]:
    """The conditions admitting CloudWatch alarms: of this account named with `prefix`, and of
    `sources`, all in `region`."""
    everyone = ((account_token, prefix), *((s.account_number, s.name_prefix) for s in sources))
    accounts = tuple(dict.fromkeys(account for account, _ in everyone))
    arns = tuple(
        f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name_prefix}*" for account, name_prefix in everyone
    )
    return Condition("StringEquals", "aws:SourceAccount", accounts), Condition("ArnLike", "aws:SourceArn", arns)


def grant_topic_encryption(
    key: EncryptionKey | ImportedKey,
    publisher_accounts: tuple[str, ...] = (),
    alarm_sources: tuple[AlarmSource, ...] = (),
) -> None:
    """What an SNS topic encrypted with `key` needs in the key policy: SNS itself, and the
    publishers of this account (AWS Budgets, the CloudWatch alarms of the key's environment and
    region, and of `alarm_sources`) and of `publisher_accounts` (SNS encrypts a cross-account
    publish with this key on behalf of the publisher)."""
    key.grant_via_service("sns")
    if isinstance(key, ImportedKey):
        return
    k = key.props
    source_account = Condition("StringEquals", "aws:SourceAccount", (k.account_token,))
    publish = ("kms:Decrypt", "kms:GenerateDataKey")
    key.add_to_resource_policy(
        Statement("SnsEncryptTopics", publish, THIS_KEY, {"Service": ("sns.amazonaws.com",)}, (source_account,))
    )
    # AWS Budgets publishes cost alerts to the (encrypted) error topic.
    key.add_to_resource_policy(
        Statement(
            "BudgetsPublishToEncryptedTopics",
            publish,
            THIS_KEY,
            {"Service": ("budgets.amazonaws.com",)},
            (source_account,),
        )
    )
    # Only alarms of this environment and region (their names share the prefix), and the sources.
    key.add_to_resource_policy(
        Statement(
            "CloudWatchAlarmsPublishToEncryptedTopics",
            publish,
            THIS_KEY,
            {"Service": ("cloudwatch.amazonaws.com",)},
            alarm_publishers(k.partition, k.region, k.account_token, k.namer.prefix, alarm_sources),
        )
    )
    if publisher_accounts:
        key.add_to_resource_policy(
            Statement(
                "OtherEnvironmentsPublishToEncryptedTopics",
                publish,
                THIS_KEY,
                {"AWS": tuple(f"arn:{k.partition}:iam::{a}:root" for a in publisher_accounts)},
                (Condition("StringEquals", "kms:ViaService", (f"sns.{k.region}.amazonaws.com",)),),
            )
        )


class ErrorTopic(Construct):
    """Exposes `topic` and `arn`."""

    def __init__(self, scope: Construct, construct_id: str, props: ErrorTopicProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        self.topic = aws.sns_topic.SnsTopic(
            self,
            "topic",
            name=n.name("errors", "sns_topic"),
            kms_master_key_id=p.kms_key.arn,
            tags=n.resource_tags("errors", "sns_topic"),
            provider=p.provider,
        )
        self.arn: str = self.topic.arn
        grant_topic_encryption(p.kms_key, p.publisher_accounts, p.alarm_sources)
        this_account = Condition("StringEquals", "aws:SourceAccount", (p.account_token,))
        statements = [
            Statement(
                "OwnerManagesTopic",
                OWNER_ACTIONS,
                (self.arn,),
                {"AWS": (f"arn:{p.partition}:iam::{p.account_token}:root",)},
            ),
            Statement(
                "CloudWatchAlarmsPublish",
                ("sns:Publish",),
                (self.arn,),
                {"Service": ("cloudwatch.amazonaws.com",)},
                alarm_publishers(p.partition, p.region, p.account_token, n.prefix, p.alarm_sources),
            ),
            Statement(
                "BudgetsPublish",
                ("sns:Publish",),
                (self.arn,),
                {"Service": ("budgets.amazonaws.com",)},
                (this_account,),
            ),
            Statement(
                "DenyInsecureTransport",
                ("sns:Publish",),
                (self.arn,),
                {"AWS": ("*",)},
                (Condition("Bool", "aws:SecureTransport", ("false",)),),
                effect="Deny",
            ),
        ]
        if p.publisher_accounts:
            statements.append(
                Statement(
                    "OtherEnvironmentsPublish",
                    ("sns:Publish",),
                    (self.arn,),
                    {"AWS": tuple(f"arn:{p.partition}:iam::{a}:root" for a in p.publisher_accounts)},
                )
            )
        aws.sns_topic_policy.SnsTopicPolicy(
            self,
            "policy",
            arn=self.arn,
            policy=document(self, "policy-document", statements).json,
            provider=p.provider,
        )
        for index, email in enumerate(p.emails):
            aws.sns_topic_subscription.SnsTopicSubscription(
                self, f"email-{index}", topic_arn=self.arn, protocol="email", endpoint=email, provider=p.provider
            )
