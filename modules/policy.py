"""IAM policy documents as reviewable data, rendered through `aws_iam_policy_document`.

Why a data source rather than a JSON string: Terraform renders it at plan time with every
reference resolved, so `terraform plan` shows reviewers the real policy; and the typed
struct classes keep multi-word keys (`not_actions`...) that plain dicts would lose.
Every module builds its policies from `Statement`s, so least privilege is reviewable in
one shape: explicit actions, explicit resources, conditions spelled out.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from cdktf import Fn, TerraformStack
from constructs import Construct

from modules import aws


@dataclass(frozen=True)
class Condition:
    test: str  # StringEquals, ArnLike, Bool, NumericLessThan...
    variable: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # () only in trust policies, which IAM rejects with a Resource
    principals: dict[str, tuple[str, ...]] = field(default_factory=dict)  # type -> identifiers
    conditions: tuple[Condition, ...] = ()
    effect: str = "Allow"

    def __post_init__(self) -> None:
        if self.effect == "Allow" and any(a == "*" or a.endswith(":*") for a in self.actions):
            raise ValueError(f"statement {self.sid}: Allow statements name specific actions, not {self.actions}")


def as_json(statements: list[Statement]) -> str:
    """A policy rendered with Terraform's jsonencode, for *resource* policies whose resource must
    be "*" (a KMS key policy's "*" means "this key"): IAM identity-policy scanners read an
    aws_iam_policy_document as an identity policy and flag that "*" as over-broad."""

    def render(s: Statement) -> dict:
        out: dict = {"Sid": s.sid, "Effect": s.effect}
        if s.principals:
            out["Principal"] = {t: list(ids) if len(ids) > 1 else ids[0] for t, ids in s.principals.items()}
        out["Action"] = list(s.actions)
        if s.resources:
            out["Resource"] = list(s.resources) if len(s.resources) > 1 else s.resources[0]
        if s.conditions:
            grouped: dict[str, dict[str, list[str]]] = {}
            for c in s.conditions:
                grouped.setdefault(c.test, {})[c.variable] = list(c.values)
            out["Condition"] = grouped
        return out

    return Fn.jsonencode({"Version": "2012-10-17", "Statement": [render(s) for s in statements]})


def trust(scope: Construct, construct_id: str, sid: str, service: str, conditions: tuple[Condition, ...] = ()):
    """A role trust policy for one AWS service principal (no Resource: IAM rejects it there)."""
    return document(scope, construct_id, [Statement(sid, ("sts:AssumeRole",), (), {"Service": (service,)}, conditions)])


# The AWS-managed policies the modules attach, by name, with their IAM path. AWS publishes both
# (AWS Managed Policy Reference Guide, https://docs.aws.amazon.com/aws-managed-policy/latest/reference/
# <name>.html, "Policy ARN"), and they are the same in every account: the ARN is built from the
# partition, not looked up. A lookup (`data.aws_iam_policy`) calls iam:ListPolicies, GetPolicy and
# GetPolicyVersion, which the deploy role (PowerUserAccess, no iam:*) may not, so refresh would fail.
AWS_MANAGED_POLICY_PATHS: dict[str, str] = {
    "AmazonSSMManagedInstanceCore": "/",
    "AWSLambdaVPCAccessExecutionRole": "/service-role/",
    "AWSXRayDaemonWriteAccess": "/",
    "AmazonRDSEnhancedMonitoringRole": "/service-role/",
    "AWS_ConfigRole": "/service-role/",
    "ViewOnlyAccess": "/job-function/",
    "CloudWatchReadOnlyAccess": "/",
    "PowerUserAccess": "/",
}


# Stack -> its `partition` data source's token; weak, so a stack (and its App) is not kept alive.
_partitions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def managed_policy_arn(scope: Construct, policy_name: str) -> str:
    """The ARN of an AWS-managed policy, in the partition Terraform reads for the stack (its
    `partition` data source, created here for a bare stack)."""
    if policy_name not in AWS_MANAGED_POLICY_PATHS:
        raise ValueError(
            f"{policy_name!r} is not in AWS_MANAGED_POLICY_PATHS; add it with its path from the "
            "AWS Managed Policy Reference Guide"
        )
    stack = TerraformStack.of(scope)
    partition = _partitions.get(stack)  # each lookup and read is a jsii round trip: once per stack
    if partition is None:
        found = stack.node.try_find_child("partition")
        partition = (found or aws.data_aws_partition.DataAwsPartition(stack, "partition")).partition
        _partitions[stack] = partition
    return f"arn:{partition}:iam::aws:policy{AWS_MANAGED_POLICY_PATHS[policy_name]}{policy_name}"


def attach_managed(scope: Construct, construct_id: str, role_name: str, policy_name: str):
    """Attach an AWS-managed policy by its ARN (no lookup, see AWS_MANAGED_POLICY_PATHS). Used
    where AWS offers no resource-level permissions (ENIs, X-Ray, SSM, Config, monitoring)."""
    return aws.iam_role_policy_attachment.IamRolePolicyAttachment(
        scope, f"{construct_id}-attachment", role=role_name, policy_arn=managed_policy_arn(scope, policy_name)
    )


def document(scope: Construct, construct_id: str, statements: list[Statement]):
    """An `aws_iam_policy_document` data source; use its `.json`."""
    d = aws.data_aws_iam_policy_document
    return d.DataAwsIamPolicyDocument(
        scope,
        construct_id,
        statement=[
            d.DataAwsIamPolicyDocumentStatement(
                sid=s.sid,
                effect=s.effect,
                actions=list(s.actions),
                resources=list(s.resources) or None,
                principals=[
                    d.DataAwsIamPolicyDocumentStatementPrincipals(type=t, identifiers=list(ids))
                    for t, ids in s.principals.items()
                ]
                or None,
                condition=[
                    d.DataAwsIamPolicyDocumentStatementCondition(
                        test=c.test, variable=c.variable, values=list(c.values)
                    )
                    for c in s.conditions
                ]
                or None,
            )
            for s in statements
        ],
    )
