"""The error topic of one environment in one region (R12): encrypted, usable across environments.

Publishers: CloudWatch alarms of this environment and region, principals of this account, and
the other environments' accounts (so, for example, staging can tell prod's on-call about a
failed promotion). E-mail subscriptions come from configuration; AWS sends each address a
confirmation mail that must be accepted before anything is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass

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
class ErrorTopicProps:
    namer: Namer
    region: str
    kms_key: EncryptionKey | ImportedKey  # the topic grants itself its use
    account_token: str  # the account id as Terraform reads it
    partition: str  # token
    publisher_accounts: tuple[str, ...]  # the other environments' accounts (configuration)
    emails: tuple[str, ...]


def grant_topic_encryption(key: EncryptionKey | ImportedKey, publisher_accounts: tuple[str, ...] = ()) -> None:
    """What an SNS topic encrypted with `key` needs in the key policy: SNS itself, and the
    publishers of this account (AWS Budgets, the CloudWatch alarms of the key's environment and
    region) and of `publisher_accounts` (SNS encrypts a cross-account publish with this key on
    behalf of the publisher)."""
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
    # Only alarms of this environment and region (their names share the prefix).
    key.add_to_resource_policy(
        Statement(
            "CloudWatchAlarmsPublishToEncryptedTopics",
            publish,
            THIS_KEY,
            {"Service": ("cloudwatch.amazonaws.com",)},
            (
                source_account,
                Condition(
                    "ArnLike",
                    "aws:SourceArn",
                    (f"arn:{k.partition}:cloudwatch:{k.region}:{k.account_token}:alarm:{k.namer.prefix}*",),
                ),
            ),
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
        )
        self.arn: str = self.topic.arn
        grant_topic_encryption(p.kms_key, p.publisher_accounts)
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
                (
                    this_account,
                    Condition(
                        "ArnLike",
                        "aws:SourceArn",
                        (f"arn:{p.partition}:cloudwatch:{p.region}:{p.account_token}:alarm:{n.prefix}*",),
                    ),
                ),
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
            self, "policy", arn=self.arn, policy=document(self, "policy-document", statements).json
        )
        for index, email in enumerate(p.emails):
            aws.sns_topic_subscription.SnsTopicSubscription(
                self, f"email-{index}", topic_arn=self.arn, protocol="email", endpoint=email
            )
