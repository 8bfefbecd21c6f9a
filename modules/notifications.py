"""The error topic of one environment in one region (R12): encrypted, usable across environments.

Publishers: CloudWatch alarms of this environment and region, principals of this account, and
the other environments' accounts (so, for example, staging can tell prod's on-call about a
failed promotion). E-mail subscriptions come from configuration; AWS sends each address a
confirmation mail that must be accepted before anything is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from modules import aws
from modules.naming import Namer
from modules.policy import Condition, Statement, document

OWNER_ACTIONS = ("sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:AddPermission", "sns:RemovePermission",
                 "sns:DeleteTopic", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish")


@dataclass(frozen=True)
class ErrorTopicProps:
    namer: Namer
    region: str
    kms_key_arn: str
    account_id: str  # token
    partition: str  # token
    publisher_accounts: tuple[str, ...]  # the other environments' accounts (configuration)
    emails: tuple[str, ...]


class ErrorTopic(Construct):
    """Exposes `topic` and `arn`."""

    def __init__(self, scope: Construct, construct_id: str, props: ErrorTopicProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        self.topic = aws.sns_topic.SnsTopic(self, "topic", name=n.name("errors", "sns_topic"),
                                            kms_master_key_id=p.kms_key_arn,
                                            tags=n.resource_tags("errors", "sns_topic"))
        self.arn: str = self.topic.arn
        this_account = Condition("StringEquals", "aws:SourceAccount", (p.account_id,))
        statements = [
            Statement("OwnerManagesTopic", OWNER_ACTIONS, (self.arn,),
                      {"AWS": (f"arn:{p.partition}:iam::{p.account_id}:root",)}),
            Statement("CloudWatchAlarmsPublish", ("sns:Publish",), (self.arn,),
                      {"Service": ("cloudwatch.amazonaws.com",)},
                      (this_account, Condition("ArnLike", "aws:SourceArn", (
                          f"arn:{p.partition}:cloudwatch:{p.region}:{p.account_id}:alarm:{n.prefix}*",)))),
            Statement("BudgetsPublish", ("sns:Publish",), (self.arn,), {"Service": ("budgets.amazonaws.com",)},
                      (this_account,)),
            Statement("DenyInsecureTransport", ("sns:Publish",), (self.arn,), {"AWS": ("*",)},
                      (Condition("Bool", "aws:SecureTransport", ("false",)),), effect="Deny"),
        ]
        if p.publisher_accounts:
            statements.append(Statement(
                "OtherEnvironmentsPublish", ("sns:Publish",), (self.arn,),
                {"AWS": tuple(f"arn:{p.partition}:iam::{a}:root" for a in p.publisher_accounts)}))
        aws.sns_topic_policy.SnsTopicPolicy(self, "policy", arn=self.arn,
                                            policy=document(self, "policy-document", statements).json)
        for index, email in enumerate(p.emails):
            aws.sns_topic_subscription.SnsTopicSubscription(self, f"email-{index}", topic_arn=self.arn,
                                                            protocol="email", endpoint=email)
