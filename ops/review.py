"""Plan review: what a `terraform show -json` plan does, and what in it deserves a second look.

Counts creates, updates, replacements and deletes, and lists the changes that matter: deleting or
replacing stateful resources (databases, buckets, keys, zones, log groups, secrets, queues), IAM
and security-group changes, listener and DNS changes. Destructive means a stateful resource is
deleted or replaced: `review` exits 3 then, and `deploy` refuses unless --allow-destroy.
Reads Terraform's JSON plan format (https://developer.hashicorp.com/terraform/internals/json-format).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from config.errors import UsageError

STATEFUL = frozenset(
    {
        "aws_db_instance",
        "aws_rds_cluster",
        "aws_s3_bucket",
        "aws_kms_key",
        "aws_route53_zone",
        "aws_cloudwatch_log_group",
        "aws_secretsmanager_secret",
        "aws_sqs_queue",
        "aws_dynamodb_table",
        "aws_efs_file_system",
        "aws_ebs_volume",
        "aws_db_snapshot",
    }
)
SENSITIVE_PREFIXES = (
    "aws_iam_",
    "aws_security_group",
    "aws_vpc_security_group_",
    "aws_default_security_group",
    "aws_lb_listener",
    "aws_route53_record",
    "aws_kms_",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_public_access_block",
    "aws_wafv2_",
    "aws_cloudfront_distribution",
)


class PlanError(UsageError):
    """Not a readable Terraform JSON plan; the message says what is wrong."""


@dataclass
class Change:
    address: str
    type: str
    action: str  # create, update, replace, delete
    why: str


@dataclass
class Review:
    stack: str
    counts: dict[str, int] = field(default_factory=lambda: {"create": 0, "update": 0, "replace": 0, "delete": 0})
    notable: list[Change] = field(default_factory=list)

    @property
    def destructive(self) -> bool:
        return any(c.type in STATEFUL and c.action in ("delete", "replace") for c in self.notable)

    def as_dict(self) -> dict:
        return {
            "stack": self.stack,
            "counts": self.counts,
            "destructive": self.destructive,
            "notable": [c.__dict__ for c in self.notable],
        }


def load(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot be read ({exc})") from None
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise PlanError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); truncated? "
            "Produce it with `terraform show -json PLANFILE`"
        ) from None
    if (
        not isinstance(plan, dict)
        or "format_version" not in plan
        or not isinstance(plan.get("resource_changes", []), list)
    ):
        raise PlanError(
            f"{path}: not a Terraform JSON plan (no format_version/resource_changes); produce it "
            "with `terraform show -json PLANFILE`"
        )
    return plan


def _action(actions: list) -> str | None:
    if actions in (["delete", "create"], ["create", "delete"]):
        return "replace"
    if actions in (["create"], ["update"], ["delete"]):
        return actions[0]
    return None  # no-op, read


def review(plan: dict, stack: str = "") -> Review:
    result = Review(stack or plan.get("stack", ""))
    for change in plan.get("resource_changes", []):
        try:
            address, type_, actions = change["address"], change["type"], change["change"]["actions"]
        except (KeyError, TypeError):
            raise PlanError(f"malformed resource change: {str(change)[:120]}") from None
        action = _action(actions)
        if action is None:
            continue
        result.counts[action] += 1
        if type_ in STATEFUL and action in ("delete", "replace"):
            result.notable.append(Change(address, type_, action, "stateful resource: data may be lost"))
        elif type_.startswith(SENSITIVE_PREFIXES):
            result.notable.append(Change(address, type_, action, "access, exposure or routing"))
    return result
