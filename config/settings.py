"""Every configuration key, declared once: its type, its check, a one-line doc and its default.

Per-environment keys (`ENVIRONMENT`) have one default per profile (dev, staging, prod): an
environment named like a profile uses it, any other defaults to dev, except a name that looks
like production, which must set its profile. Project keys (`PROJECT`) and state keys (`STATE`)
have one default or are required. The loader (config/loader.py) reads and checks exactly these
keys, unknown keys are rejected with the closest one named, and the README shows them as rendered
here: the settings table is `readme_table()`, the `[project]` and `[state]` blocks of its
configuration contract `toml_block(...)` (tests/test_settings.py compares them; `python -m
config.settings README.md` rewrites them), so adding a setting is one entry here, a field on the
typed object that holds it (config/groups.py or config/model.py) and its use.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config import checks, network
from config.checks import Check, between, one_of, regex
from config.choices import Backend, DatabaseTopology, NatPolicy, PriceClass, Profile, RoutingPolicy

PROFILE_NAMES: tuple[Profile, ...] = tuple(Profile)
STRINGS = (list, str)  # the kind "a list of strings"
REQUIRED = object()  # the default of a key that must be set


@dataclass(frozen=True)
class Setting:
    """One key of the TOML file."""

    key: str
    kind: type | tuple
    doc: str  # one line: what it does (the README's last column)
    defaults: tuple[Any, ...]  # per profile (dev, staging, prod), or a single value for every profile
    check: Check | None = None
    group: str | None = None  # the Environment attribute holding it: scaling, network, alarms, database...
    attr: str | None = None  # its name there (default: the key)
    shown: tuple[str, ...] | None = None  # the README's words for a default derived at load time
    convert: Callable[[Any], Any] | None = None  # to the model's type (lists become tuples anyway)
    view: str | None = None  # its column heading in `validate-config`, if it has one
    view_value: Callable[[Any], str] | None = None  # that column's text for an Environment (default: the value)
    example: Any = None  # the README's value for a key without a default worth showing (`[project]`, `[state]`)

    def default(self, profile: Profile | None = None) -> Any:
        """The default for `profile` (REQUIRED if the key must be set)."""
        if len(self.defaults) == 1 or profile is None:
            return self.defaults[0]
        return self.defaults[PROFILE_NAMES.index(profile)]

    @property
    def field(self) -> str:
        return self.attr or self.key

    def read(self, environment: Any) -> Any:
        """This setting's value on a loaded Environment: `env.<group>.<field>` or `env.<key>`."""
        holder = getattr(environment, self.group) if self.group else environment
        return getattr(holder, self.field)

    @property
    def allowed(self) -> str:
        if self.check is not None:
            return self.check.allowed
        return {bool: "true or false", int: "an integer", str: "a string", dict: "a table"}.get(self.kind, "")


def per_profile(dev: Any, staging: Any, prod: Any) -> tuple[Any, Any, Any]:
    return (dev, staging, prod)


def same(value: Any) -> tuple[Any]:
    return (value,)


INGEST_CONTENT_TYPES = ["application/json", "text/csv", "text/plain", "application/pdf", "image/png", "image/jpeg"]

ENVIRONMENT: tuple[Setting, ...] = (
    Setting(
        "profile",
        str,
        "the column of this table that gives the defaults; default: the environment's name "
        "if it names a profile, else dev (a name that looks like production must set it)",
        same(REQUIRED),
        one_of(PROFILE_NAMES),
        shown=PROFILE_NAMES,
        view="Profile",
    ),
    Setting(
        "account_id",
        str,
        "the environment's AWS account",
        same(REQUIRED),
        checks.account,
        attr="account_number",
        shown=("required",) * 3,
        view="Account",
    ),
    Setting(
        "regions",
        STRINGS,
        "where it is deployed; the first is the home region (it deploys first), and the writer unless "
        "`writer_region` says otherwise",
        same(REQUIRED),
        checks.regions,
        shown=("required",) * 3,
        view="Regions",
    ),
    Setting(
        "writer_region",
        str,
        "the region holding the database writer and the DNS primary; `failover` records it here",
        same(None),
        checks.region,
        shown=("first of `regions`",) * 3,
        view="Writer",
    ),
    Setting(
        "cidrs",
        dict,
        'pin a region\'s VPC block: `{ "us-east-1" = "10.200.0.0/16" }`',
        same({}),
        Check(lambda v: None, f"private /{network.MIN_PREFIX}../{network.MAX_PREFIX} blocks by region"),
        shown=("automatic",) * 3,  # checked by the loader against the environment's regions
        view="VPC CIDRs",
        view_value=lambda env: ", ".join(env.cidrs[r] for r in env.regions),
    ),
    # compute and scaling
    Setting(
        "instance_type",
        str,
        "the EC2 instance type; Graviton (arm64) by default, the AMI follows",
        per_profile("t4g.micro", "t4g.small", "t4g.medium"),
        regex(checks.INSTANCE_TYPE, "an EC2 instance type such as t3.micro", "an EC2 instance type"),
        group="scaling",
    ),
    Setting(
        "instance_count",
        int,
        "instances per region, min_capacity..max_capacity; also the Terraform variable's default",
        same(3),
        between(2, 100),
        group="scaling",
        view="Instances",
        view_value=lambda e: (
            f"{e.scaling.instance_count} ({e.scaling.min_capacity}..{e.scaling.max_capacity}) {e.scaling.instance_type}"
        ),
    ),
    Setting(
        "min_capacity",
        int,
        "the lowest `instance_count` allowed; every environment keeps two instances",
        same(2),
        between(2, 100),
        group="scaling",
    ),
    Setting(
        "max_capacity",
        int,
        "the highest `instance_count` allowed",
        per_profile(4, 6, 12),
        between(2, 100),
        group="scaling",
    ),
    Setting(
        "requests_per_target",
        int,
        "target tracking on ALB requests per instance per minute",
        per_profile(200, 500, 1000),
        between(10, 100000),
        group="scaling",
    ),
    Setting(
        "cpu_target",
        int,
        "CPU target tracking (the guard for expensive requests)",
        per_profile(70, 70, 60),
        between(10, 90),
        group="scaling",
    ),
    # network
    Setting("az_count", int, "availability zones per VPC", per_profile(2, 2, 3), between(2, 4), group="network"),
    Setting(
        "nat_policy",
        str,
        "`single` (cheap) or `per_az` (survives the loss of a zone)",
        per_profile(NatPolicy.SINGLE, NatPolicy.SINGLE, NatPolicy.PER_AZ),
        one_of(NatPolicy),
        group="network",
        convert=NatPolicy,
        view="NAT",
    ),
    Setting(
        "interface_endpoints",
        bool,
        "VPC interface endpoints for AWS APIs",
        per_profile(False, False, True),
        group="network",
    ),
    Setting(
        "log_retention_days",
        int,
        "how long CloudWatch Logs keeps every log group",
        per_profile(14, 30, 365),
        one_of(checks.LOG_RETENTION_DAYS, "a CloudWatch Logs retention value"),
    ),
    # alarms and access
    Setting("alert_emails", STRINGS, "e-mail addresses for alarm and error topics", same([]), checks.emails),
    Setting(
        "trusted_accounts",
        STRINGS,
        "other accounts allowed to assume the read-only role (never the environment's own)",
        same([]),
        checks.accounts,
    ),
    Setting(
        "deployer_account_ids",
        STRINGS,
        "accounts allowed to assume the deploy role besides "
        "`ci_account_id` (with neither, only the environment's own); a prod-profile environment needs one "
        "or the other",
        same([]),
        checks.accounts,
    ),
    Setting(
        "deploy_role_name",
        str,
        "the IAM role every provider assumes (created by the edge stack)",
        same(None),
        regex(checks.ROLE_NAME, checks.ROLE_NAME_ALLOWED, "an IAM role name"),
        shown=("`<env>-global-deploy-<suffix>`",) * 3,
    ),
    Setting(
        "force_destroy",
        bool,
        "buckets may be destroyed with their objects; never true with the prod profile",
        per_profile(True, False, False),
    ),
    Setting(
        "key_deletion_window_days",
        int,
        "how long a deleted KMS key can still be recovered",
        per_profile(7, 14, 30),
        between(7, 30),
    ),
    # bucket lifecycle
    Setting(
        "abort_multipart_days",
        int,
        "incomplete multipart uploads are removed after this",
        same(7),
        between(1, 365),
        group="lifecycle",
    ),
    Setting(
        "noncurrent_ia_days",
        int,
        "old object versions move to Standard-IA (S3 refuses fewer than 30)",
        same(30),
        between(30, 3650),
        group="lifecycle",
    ),
    Setting(
        "noncurrent_glacier_ir_days",
        int,
        "...then to Glacier Instant Retrieval (at least IA + 30)",
        same(90),
        between(60, 3650),
        group="lifecycle",
    ),
    Setting(
        "noncurrent_expire_days",
        int,
        "...and are deleted (after the Glacier IR days)",
        same(365),
        between(1, 3650),
        group="lifecycle",
    ),
    # alarms
    Setting(
        "cpu_alarm_threshold",
        int,
        "% average CPU per Auto Scaling group that alarms",
        per_profile(90, 85, 75),
        between(10, 100),
        group="alarms",
        attr="cpu_threshold",
    ),
    Setting(
        "cpu_alarm_periods",
        int,
        "...for this many consecutive minutes",
        per_profile(10, 5, 3),
        between(1, 60),
        group="alarms",
        attr="cpu_periods",
    ),
    Setting(
        "alb_5xx_threshold",
        int,
        "5xx per minute (load balancer or application) that alarm",
        per_profile(50, 20, 5),
        between(1, 100000),
        group="alarms",
        attr="http_5xx_threshold",
    ),
    Setting(
        "deletion_protection",
        bool,
        "deletion protection of the load balancer and the writer database (replicas never)",
        per_profile(False, False, True),
    ),
    # DNS and edge
    Setting(
        "domain",
        str,
        "the environment's DNS domain, inside the hosted zone",
        same(""),
        checks.domain,
        shown=("dev.`<domain>`", "staging.`<domain>`", "`<domain>`"),
    ),
    Setting(
        "dns_routing_policy",
        str,
        "how Route 53 answers for `origin.<env domain>`: latency sends viewers to the closest healthy region",
        same(None),
        one_of(RoutingPolicy),
        shown=("latency; failover with independent databases",) * 3,
        group="dns",
        attr="routing_policy",
        convert=RoutingPolicy,
    ),
    Setting(
        "dns_weights",
        dict,
        'with `weighted` only, every region: `{ "us-east-1" = 200, "us-west-2" = 55 }`',
        same({}),
        checks.weights,
        group="dns",
        attr="weights",
        convert=lambda weights: MappingProxyType(dict(weights)),
    ),
    Setting(
        "viewer_aliases",
        STRINGS,
        "extra viewer names (inside the zone) next to `app.<env domain>`",
        same([]),
        checks.domains,
    ),
    Setting(
        "static_paths",
        STRINGS,
        "read-only paths served through the CloudFront origin group",
        same(["/static/*"]),
        checks.paths,
    ),
    Setting("waf", bool, "a CloudFront web ACL with AWS managed rule groups", per_profile(False, False, True)),
    Setting(
        "price_class",
        str,
        "the CloudFront edge locations used",
        per_profile(PriceClass.PRICE_CLASS_100, PriceClass.PRICE_CLASS_100, PriceClass.PRICE_CLASS_ALL),
        one_of(PriceClass),
        convert=PriceClass,
    ),
    # database
    Setting(
        "db_engine_version",
        str,
        "PostgreSQL major version (the parameter group family follows)",
        same("17"),
        regex(checks.PG_VERSION, "a PostgreSQL major version RDS offers, such as 16 or 17", "13..19"),
        group="database",
        attr="engine_version",
    ),
    Setting(
        "db_instance_class",
        str,
        "the RDS instance class",
        per_profile("db.t4g.micro", "db.t4g.medium", "db.m7g.large"),
        regex(checks.DB_CLASS, "an RDS instance class such as db.t4g.micro", "an RDS instance class"),
        group="database",
        attr="instance_class",
    ),
    Setting(
        "db_allocated_storage",
        int,
        "GiB allocated at creation",
        per_profile(20, 20, 100),
        between(20, 65536),
        group="database",
        attr="allocated_storage",
    ),
    Setting(
        "db_max_allocated_storage",
        int,
        "GiB storage autoscaling may grow to (at least the allocated)",
        per_profile(100, 200, 1000),
        between(20, 65536),
        group="database",
        attr="max_allocated_storage",
    ),
    Setting(
        "db_multi_az",
        bool,
        "a standby in another zone",
        per_profile(False, False, True),
        group="database",
        attr="multi_az",
    ),
    Setting(
        "db_backup_retention_days",
        int,
        "days of automated backups; the prod profile keeps at least 14",
        per_profile(1, 7, 14),
        between(1, 35),
        group="database",
        attr="backup_retention_days",
    ),
    Setting(
        "db_skip_final_snapshot",
        bool,
        "no snapshot when the database is deleted; never true with the prod profile",
        per_profile(True, False, False),
        group="database",
        attr="skip_final_snapshot",
    ),
    Setting(
        "db_backup_replication",
        bool,
        "copy the home region's automated backups into the second region",
        per_profile(False, False, True),
        group="database",
        attr="backup_replication",
    ),
    Setting(
        "db_performance_insights",
        bool,
        "Performance Insights (encrypted with the key, 7 days free tier)",
        per_profile(False, True, True),
        group="database",
        attr="performance_insights",
    ),
    Setting(
        "database_topology",
        str,
        "replica: a cross-region read replica per region; aurora_global: Aurora global database; "
        "independent: unrelated databases (docs/operations.md 'Database topology')",
        same(DatabaseTopology.REPLICA),
        one_of(DatabaseTopology),
        group="database",
        attr="topology",
        convert=DatabaseTopology,
        view="Database",
    ),
    Setting(
        "db_replica_max_lag_seconds",
        int,
        "replica lag that alarms, and beyond which `failover` refuses to promote",
        per_profile(300, 60, 30),
        between(1, 3600),
        group="database",
        attr="max_lag_seconds",
    ),
    Setting(
        "db_connections_alarm_threshold",
        int,
        "connections to a region's database that alarm; keep it below max_connections, which RDS "
        "derives from the class's memory (LEAST(memory/9531392, 5000): under 110 on db.t4g.micro, "
        "about 410 on db.t4g.medium, 850 on db.m7g.large)",
        per_profile(60, 300, 600),
        between(1, 5000),
        group="database",
        attr="connections_alarm_threshold",
    ),
    # ingest
    Setting(
        "lambda_memory_mb",
        int,
        "the ingest function's memory",
        per_profile(256, 256, 512),
        between(128, 10240),
        group="ingest",
        attr="memory_mb",
    ),
    Setting(
        "lambda_timeout_s",
        int,
        "the ingest function's time limit in seconds",
        per_profile(60, 60, 120),
        between(1, 900),
        group="ingest",
        attr="timeout_s",
    ),
    Setting(
        "lambda_reserved_concurrency",
        int,
        "reserved (and maximum) concurrent ingest executions",
        per_profile(2, 5, 20),
        between(1, 1000),
        group="ingest",
        attr="reserved_concurrency",
    ),
    Setting(
        "ingest_max_bytes",
        int,
        "larger objects are quarantined (10 MiB = 10485760)",
        per_profile(10485760, 104857600, 104857600),
        between(1, 5 * 1024**4),
        group="ingest",
        attr="max_bytes",
    ),
    Setting(
        "ingest_content_types",
        STRINGS,
        "MIME types accepted; others are quarantined",
        same(INGEST_CONTENT_TYPES),
        checks.content_types,
        group="ingest",
        attr="content_types",
    ),
    # governance
    Setting(
        "budget_limit_usd",
        int,
        "monthly cost budget (alerts at 80% forecast, 100% actual)",
        per_profile(300, 800, 5000),
        between(1, 10_000_000),
    ),
    Setting("require_mfa", bool, "the cross-account roles also require MFA (not for CI identities)", same(False)),
    Setting(
        "manage_config_recorder",
        bool,
        "false where an AWS Config recorder already exists (rules are still created)",
        same(True),
    ),
    Setting(
        "config_notifications",
        bool,
        "AWS Config sends configuration changes to the error topic",
        per_profile(False, False, True),
    ),
)

PROJECT: tuple[Setting, ...] = (
    Setting(
        "name",
        str,
        "tag Project",
        same(REQUIRED),
        regex(checks.PROJECT_NAME, "2-32 lower-case letters, digits and hyphens, starting with a letter"),
        example="webapp",
    ),
    Setting(
        "suffix",
        str,
        "the [suffix] of every name",
        same(REQUIRED),
        regex(checks.SUFFIX, "0-8 lower-case letters and digits (empty for no suffix)"),
        example="a1",
    ),
    Setting(
        "domain",
        str,
        "public hosted zone that exists in the DNS account",
        same(REQUIRED),
        checks.domain,
        example="example.com",
    ),
    Setting(
        "owner",
        str,
        "tag Owner",
        same(REQUIRED),
        regex(checks.TAG_VALUE, checks.TAG_VALUE_ALLOWED),
        example="platform",
    ),
    Setting(
        "cost_center",
        str,
        "tag CostCenter",
        same(REQUIRED),
        regex(checks.TAG_VALUE, checks.TAG_VALUE_ALLOWED),
        example="cc-000",
    ),
    Setting(
        "dns_account_id",
        str,
        "account holding the hosted zone (default: each environment's own)",
        same(None),
        checks.account,
        example="444444444444",
    ),
    Setting(
        "dns_role_name",
        str,
        "role assumed there (default: the environment's provider role: its deploy role, or the bootstrap role)",
        same(None),
        regex(checks.ROLE_NAME, checks.ROLE_NAME_ALLOWED),
        example="platform-dns",
    ),
    Setting(
        "hosted_zone_id",
        str,
        "the hosted zone (default: looked up by domain)",
        same(None),
        regex(checks.ZONE_ID, "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ"),
        example="Z0123456789ABCDEFGHIJ",
    ),
    Setting("cidr_supernet", str, "where VPC CIDRs are allocated from", same("10.0.0.0/8"), checks.supernet),
    Setting(
        "external_id",
        str,
        "sts:ExternalId the cross-account roles require",
        same(REQUIRED),
        regex(checks.EXTERNAL_ID, "2-1224 letters, digits and + = , . @ : / _ - (the roles' sts:ExternalId)"),
        example="...",
    ),
    Setting(
        "ci_account_id",
        str,
        "the account CI deploys from; every deploy role trusts it",
        same(None),
        checks.account,
        example="555555555555",
    ),
    Setting(
        "bootstrap_role_name",
        str,
        "assumed instead of the deploy roles until those exist",
        same(None),
        regex(checks.ROLE_NAME, checks.ROLE_NAME_ALLOWED),
        example="OrganizationAccountAccessRole",
    ),
)

# The optional `[state]` table: without it, local state files in terraform-state/.
STATE: tuple[Setting, ...] = (
    Setting(
        "backend",
        str,
        "where Terraform keeps state, one file per stack",
        same(Backend.LOCAL),
        one_of(Backend),
        convert=Backend,
    ),
    Setting(
        "local_dir",
        str,
        "local: the directory of the <stack>.tfstate files (outside cdktf.out, which synth replaces)",
        same("terraform-state"),
        checks.directory,
    ),
    Setting(
        "bucket",
        str,
        "s3 (required): the versioned, encrypted bucket, created before the first init",
        same(None),
        regex(checks.BUCKET, "an S3 bucket name (3-63 lower-case)"),
        example="webapp-tfstate",
    ),
    Setting("region", str, "s3 (required): the bucket's region", same(None), checks.region, example="us-east-1"),
    Setting(
        "key_prefix",
        str,
        "s3: each stack keeps <key_prefix>/<stack>.tfstate",
        same(""),
        checks.key_prefix,
        example="webapp",
    ),
)

ENVIRONMENT_KEYS: tuple[str, ...] = tuple(s.key for s in ENVIRONMENT)
ENVIRONMENT_SETTINGS: dict[str, Setting] = {s.key: s for s in ENVIRONMENT}
PROJECT_KEYS: tuple[str, ...] = tuple(s.key for s in PROJECT)
PROJECT_SETTINGS: dict[str, Setting] = {s.key: s for s in PROJECT}
STATE_KEYS: tuple[str, ...] = tuple(s.key for s in STATE)
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(s.group for s in ENVIRONMENT if s.group))


def view(environment: Any) -> list[str]:
    """One row of `validate-config`: the environment's name, then each setting with a `view`
    column, as the configuration resolved it (see `VIEW_HEADINGS`)."""
    row = [environment.name]
    for s in ENVIRONMENT:
        if s.view:
            value = s.view_value(environment) if s.view_value else s.read(environment)
            row.append(", ".join(value) if isinstance(value, tuple) else str(value))
    return row


VIEW_HEADINGS: tuple[str, ...] = ("Environment", *(s.view for s in ENVIRONMENT if s.view))


# --------------------------------------------------------------------------- the README table


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else "{ " + ", ".join(f'"{k}" = {_shown(v)}' for k, v in value.items()) + " }"
    return str(value)


def readme_table() -> str:
    """The README's per-environment settings table, rendered from `ENVIRONMENT` (print it with
    `python -m config.settings`). A long value the next profile repeats reads "same"."""
    lines = ["| key | dev | staging | prod | allowed | what it does |", "|---|---|---|---|---|---|"]
    for s in ENVIRONMENT:
        values = list(s.shown or (_shown(s.default(p)) for p in PROFILE_NAMES))
        values += values[-1:] * (len(PROFILE_NAMES) - len(values))
        for i in range(len(values) - 1, 0, -1):
            if values[i] == values[0] and len(values[0]) > 12:
                values[i] = "same"
        lines.append(f"| `{s.key}` | {' | '.join(values)} | {s.allowed} | {s.doc} |")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    return "true" if value is True else "false" if value is False else f'"{value}"'


COMMENT_COLUMN = 34  # where the comments of a rendered TOML block start


def toml_block(table: str, keys: tuple[Setting, ...], note: str | None = None) -> str:
    """The README's `[<table>]` block, rendered from its settings: the required keys with their
    example values, then the optional ones commented out with their default (or, where the default
    is worked out, an example), each with its doc and what is allowed."""

    def line(s: Setting, prefix: str = "") -> str:
        value = s.example if s.example is not None else s.default()
        allowed = s.allowed.replace("`", "")
        return f"{prefix}{s.key} = {_toml(value)}".ljust(COMMENT_COLUMN - 1) + f" # {s.doc}; {allowed}"

    required = [s for s in keys if s.default() is REQUIRED]
    optional = [s for s in keys if s.default() is not REQUIRED]
    header = f"[{table}]".ljust(COMMENT_COLUMN - 1) + f" # {note}" if note else f"[{table}]"
    lines = [header, *(line(s) for s in required)]
    if required and optional:
        lines.append("# optional:")
    lines += [line(s, "# ") for s in optional]
    return "\n".join(lines) + "\n"


STATE_NOTE = "optional; without it, local state files in terraform-state/"


def project_block() -> str:
    return toml_block("project", PROJECT)


def state_block() -> str:
    return toml_block("state", STATE, STATE_NOTE)


TABLE_HEADER = "| key | dev | staging | prod |"


def table_span(text: str) -> tuple[int, int]:
    """Where the settings table sits in a Markdown text (the README): from its header row to the
    first line that is not a table row. ValueError when the text has no such table."""
    start = text.index(TABLE_HEADER)
    end = start
    for line in text[start:].splitlines(keepends=True):
        if not line.startswith("|"):
            break
        end += len(line)
    return start, end


def block_span(text: str, table: str) -> tuple[int, int]:
    """Where the `[<table>]` block of the README's configuration contract sits: from its header
    line to the first blank line or code fence. ValueError when the text has no such block."""
    match = re.search(rf"^\[{table}\]", text, re.MULTILINE)
    if match is None:
        raise ValueError(f"no [{table}] block")
    start = end = match.start()
    for line in text[start:].splitlines(keepends=True):
        if not line.strip() or line.startswith("```"):
            break
        end += len(line)
    return start, end


# What the README shows rendered from the tables: where each part sits, and its text.
README_PARTS: tuple[tuple[Callable[[str], tuple[int, int]], Callable[[], str]], ...] = (
    (table_span, readme_table),
    (lambda text: block_span(text, "project"), project_block),
    (lambda text: block_span(text, "state"), state_block),
)


def write_readme(path: Path) -> bool:
    """Replace the settings table and the `[project]` and `[state]` blocks in the Markdown file at
    `path` by their rendering; True when it changed. Nothing else in the file moves."""
    text = updated = path.read_text()
    for span, render in README_PARTS:
        start, end = span(updated)
        updated = updated[:start] + render() + updated[end:]
    if updated != text:
        path.write_text(updated)
    return updated != text


if __name__ == "__main__":
    # `python -m config.settings` prints what the README shows; `python -m config.settings README.md`
    # rewrites it there.
    if len(sys.argv) > 1:
        changed = write_readme(Path(sys.argv[1]))
        print(f"{sys.argv[1]}: settings table and blocks {'updated' if changed else 'already current'}")
    else:
        print(readme_table(), project_block(), state_block(), sep="\n", end="")
