"""The only place names and `Name` tags are made (R17, F11).

Every name is `[environment]-[region]-[service][suffix]`, where `[suffix]` renders as
`-<project suffix>` (or nothing when the suffix is empty) and region-less resources use
`global` as their region. The suffix is read from `[project] suffix` and nowhere else,
so changing it in the configuration renames everything consistently.

AWS enforces different length and character rules per resource type, and a name that
breaks them fails at `terraform apply`, half-way through a deployment. The limits below
make that a synth-time error with a message that says what to shorten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.errors import NamingError

SEPARATOR = "-"
MANAGED_BY = "cdktf"
_SERVICE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Limit:
    """AWS's rule for one kind of name."""

    max_length: int
    what: str


# Sources: the "quotas"/"naming" pages of each service. Lower-case is guaranteed for every
# kind because environments, regions, services and the suffix are all lower-case.
LIMITS: dict[str, Limit] = {
    "alb": Limit(32, "load balancer"),
    "target_group": Limit(32, "target group"),
    "s3_bucket": Limit(63, "S3 bucket"),
    "iam_role": Limit(64, "IAM role"),
    "iam_policy": Limit(128, "IAM policy"),
    "instance_profile": Limit(128, "IAM instance profile"),
    "rds": Limit(63, "RDS identifier"),
    # A DB snapshot identifier allows 255; final_snapshot_name adds "-" and 8 characters.
    "db_snapshot": Limit(255 - 9, "DB snapshot"),
    "db_subnet_group": Limit(255, "DB subnet group"),
    "db_parameter_group": Limit(255, "DB parameter group"),
    "lambda": Limit(64, "Lambda function"),
    "security_group": Limit(255, "security group"),
    "log_group": Limit(512, "CloudWatch log group"),
    "kms_alias": Limit(250, "KMS alias"),  # 256 including the "alias/" prefix
    "sns_topic": Limit(256, "SNS topic"),
    "sqs_queue": Limit(80, "SQS queue"),
    "asg": Limit(255, "Auto Scaling group"),
    "launch_template": Limit(128, "launch template"),
    "secret": Limit(512, "Secrets Manager secret"),
    "config_rule": Limit(128, "Config rule"),
    "config_recorder": Limit(256, "Config recorder or delivery channel"),
    "budget": Limit(100, "budget"),
    "cloudfront_function": Limit(64, "CloudFront function"),
    "event_rule": Limit(64, "EventBridge rule"),
    "alarm": Limit(255, "CloudWatch alarm"),
    "log_delivery": Limit(60, "CloudWatch Logs delivery source or destination"),
    "generic": Limit(256, "Name tag"),  # tag values are at most 256 characters
}

# The tightest limit any regional stack uses, and the service token it is used with:
# configuration validation proves every environment x region fits it (see config.model).
TIGHTEST_KIND = "alb"
TIGHTEST_SERVICE = "alb"
# Regional buckets: logs, ingest, config; the longest is checked. The edge's cdn-logs bucket is
# shorter overall ("global" is shorter than any region).
LONGEST_BUCKET_SERVICE = "ingest"


# Prefixes AWS requires in front of some names (KMS aliases; WAF log destinations). The name after
# the prefix still follows the pattern; the naming audit strips exactly these.
AWS_REQUIRED_PREFIXES = ("alias/", "aws-waf-logs-")


# RDS writes exported logs to log groups it names itself; creating them first (with retention
# and encryption) means using exactly that form around the instance identifier.
# An Aurora cluster's logs go to /aws/rds/cluster/<cluster identifier>/<log> instead.
RDS_LOG_GROUP_PREFIX = "/aws/rds/instance/"
RDS_CLUSTER_LOG_GROUP_PREFIX = "/aws/rds/cluster/"
RDS_LOG_GROUP = re.compile(r"^/aws/rds/(?:instance|cluster)/(?P<name>[^/]+)/(?P<log>[a-z]+)$")


def rds_log_group(identifier: str, log: str) -> str:
    return f"{RDS_LOG_GROUP_PREFIX}{identifier}/{log}"


def rds_cluster_log_group(identifier: str, log: str) -> str:
    return f"{RDS_CLUSTER_LOG_GROUP_PREFIX}{identifier}/{log}"


def unwrap(value: str) -> str:
    """The name inside an AWS-required prefix or form (for audits); other values unchanged."""
    match = RDS_LOG_GROUP.match(value)
    if match:
        return match.group("name")
    for prefix in AWS_REQUIRED_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def stack_name(environment: str, region: str) -> str:
    """`<env>-<region>` for a RegionalStack, `<env>-global` for the EdgeStack."""
    return f"{environment}{SEPARATOR}{region}"


@dataclass(frozen=True)
class Namer:
    """Names and tags for one environment in one region (or `global`).

    `project`, `owner` and `cost_center` feed the standard tags; `suffix` is the single
    configured suffix.
    """

    environment: str
    region: str
    suffix: str
    project: str = ""
    owner: str = ""
    cost_center: str = ""

    @property
    def prefix(self) -> str:
        return f"{self.environment}{SEPARATOR}{self.region}{SEPARATOR}"

    @property
    def rendered_suffix(self) -> str:
        return f"{SEPARATOR}{self.suffix}" if self.suffix else ""

    def name(self, service: str, kind: str = "generic") -> str:
        """The name of `service` as a resource of `kind` (a key of LIMITS)."""
        if kind not in LIMITS:
            raise NamingError(f"unknown name kind {kind!r}; known kinds: {', '.join(sorted(LIMITS))}")
        if not _SERVICE.match(service):
            raise NamingError(
                f"service {service!r} must be lower-case letters, digits and single hyphens, starting with a letter"
            )
        value = f"{self.prefix}{service}{self.rendered_suffix}"
        limit = LIMITS[kind]
        if len(value) > limit.max_length:
            raise NamingError(
                f"{limit.what} name {value!r} is {len(value)} characters; AWS allows "
                f"{limit.max_length}. Shorten the environment name ({self.environment!r}), "
                f"the service ({service!r}) or [project] suffix ({self.suffix!r})"
            )
        return value

    def prefixed(self, prefix: str, service: str, kind: str = "generic") -> str:
        """A name AWS wants behind a fixed prefix (see AWS_REQUIRED_PREFIXES)."""
        if prefix not in AWS_REQUIRED_PREFIXES:
            raise NamingError(f"{prefix!r} is not a prefix AWS requires; known: {', '.join(AWS_REQUIRED_PREFIXES)}")
        return f"{prefix}{self.name(service, kind)}"

    def bucket(self, service: str, account_number: str) -> str:
        """An S3 bucket name. Bucket names are global across every AWS account, so the account
        id goes into the service token: `<env>-<region>-<service>-<account>[suffix]` stays in
        the pattern and cannot collide with another account's deployment of this tool."""
        return self.name(f"{service}-{account_number}", "s3_bucket")

    def matches(self, value: str) -> bool:
        """True when `value` is a name this namer could have produced (for audits)."""
        if not (value.startswith(self.prefix) and value.endswith(self.rendered_suffix)):
            return False
        service = value[len(self.prefix) : len(value) - len(self.rendered_suffix)]
        return bool(_SERVICE.match(service))

    def default_tags(self) -> dict[str, str]:
        """Tags every resource of the stack carries, through the provider's default_tags."""
        return {
            "Environment": self.environment,
            "Region": self.region,
            "Project": self.project,
            "Owner": self.owner,
            "CostCenter": self.cost_center,
            "ManagedBy": MANAGED_BY,
        }

    def resource_tags(self, service: str, kind: str = "generic") -> dict[str, str]:
        """`Name` and `Service`: what a resource adds on top of the provider default tags."""
        return {"Name": self.name(service, kind), "Service": service}

    def tags(self, service: str, kind: str = "generic") -> dict[str, str]:
        """The full tag set, for places default_tags do not reach (ASG-launched instances,
        launch template tag specifications)."""
        return {**self.default_tags(), **self.resource_tags(service, kind)}
