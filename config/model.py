"""Load, validate and explain the TOML configuration (R16).

The TOML contract (`[project]`, `[environments.<name>]`, `[state]`) is the tool's public
interface. Loading either returns a fully-resolved, typed `Config` (every default applied,
every VPC CIDR allocated) or raises `ConfigError` carrying one line per problem:
`<file>: <key>: <what is wrong>; <what is allowed>`. Nothing downstream re-validates, and
nothing here raises anything else, whatever the input (a property-based test holds us to it).

Per-environment defaults come from a *profile* (dev, staging or prod; an environment named
like a profile uses it, any other defaults to dev, except a name that looks like production,
which must set its profile). The table `PROFILES` is the documented
source of those defaults; the README reproduces it.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from config import network
from config.regions import EDGE_REGION, GLOBAL, REGIONS
from modules import naming

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")

PROFILES: dict[str, dict[str, Any]] = {
    "dev": {
        "instance_type": "t4g.micro",
        "instance_count": 3,
        "min_capacity": 2,
        "max_capacity": 4,
        "az_count": 2,
        "nat_policy": "single",
        "interface_endpoints": False,
        "log_retention_days": 14,
        "alert_emails": [],
        "dns_routing_policy": "failover",
        "trusted_accounts": [],
        "deployer_account_ids": [],
        "deploy_role_name": None,  # default: <env>-global-deploy[suffix] from the naming helper
        "force_destroy": True,
        "key_deletion_window_days": 7,
        "budget_limit_usd": 300,
        "require_mfa": False,
        "manage_config_recorder": True,
        "config_notifications": False,
        "lambda_memory_mb": 256,
        "lambda_timeout_s": 60,
        "lambda_reserved_concurrency": 2,
        "ingest_max_bytes": 10485760,
        "db_engine_version": '17',
        "db_instance_class": 'db.t4g.micro',
        "db_allocated_storage": 20,
        "db_max_allocated_storage": 100,
        "db_multi_az": False,
        "db_backup_retention_days": 1,
        "db_skip_final_snapshot": True,
        "db_backup_replication": False,
        "db_performance_insights": False,
        "requests_per_target": 200,
        "cpu_target": 70,
        "cpu_alarm_threshold": 90,
        "cpu_alarm_periods": 10,
        "alb_5xx_threshold": 50,
        "deletion_protection": False,
        "waf": False,
        "price_class": "PriceClass_100",
    },
    "staging": {
        "instance_type": "t4g.small",
        "instance_count": 3,
        "min_capacity": 2,
        "max_capacity": 6,
        "az_count": 2,
        "nat_policy": "single",
        "interface_endpoints": False,
        "log_retention_days": 30,
        "alert_emails": [],
        "dns_routing_policy": "failover",
        "trusted_accounts": [],
        "deployer_account_ids": [],
        "deploy_role_name": None,  # default: <env>-global-deploy[suffix] from the naming helper
        "force_destroy": False,
        "key_deletion_window_days": 14,
        "budget_limit_usd": 800,
        "require_mfa": False,
        "manage_config_recorder": True,
        "config_notifications": False,
        "lambda_memory_mb": 256,
        "lambda_timeout_s": 60,
        "lambda_reserved_concurrency": 5,
        "ingest_max_bytes": 104857600,
        "db_engine_version": '17',
        "db_instance_class": 'db.t4g.medium',
        "db_allocated_storage": 20,
        "db_max_allocated_storage": 200,
        "db_multi_az": False,
        "db_backup_retention_days": 7,
        "db_skip_final_snapshot": False,
        "db_backup_replication": False,
        "db_performance_insights": True,
        "requests_per_target": 500,
        "cpu_target": 70,
        "cpu_alarm_threshold": 85,
        "cpu_alarm_periods": 5,
        "alb_5xx_threshold": 20,
        "deletion_protection": False,
        "waf": False,
        "price_class": "PriceClass_100",
    },
    "prod": {
        "instance_type": "t4g.medium",
        "instance_count": 3,
        "min_capacity": 2,
        "max_capacity": 12,
        "az_count": 3,
        "nat_policy": "per_az",
        "interface_endpoints": True,
        "log_retention_days": 365,
        "alert_emails": [],
        "dns_routing_policy": "failover",
        "trusted_accounts": [],
        "deployer_account_ids": [],
        "deploy_role_name": None,  # default: <env>-global-deploy[suffix] from the naming helper
        "force_destroy": False,
        "key_deletion_window_days": 30,
        "budget_limit_usd": 5000,
        "require_mfa": False,
        "manage_config_recorder": True,
        "config_notifications": True,
        "lambda_memory_mb": 512,
        "lambda_timeout_s": 120,
        "lambda_reserved_concurrency": 20,
        "ingest_max_bytes": 104857600,
        "db_engine_version": '17',
        "db_instance_class": 'db.m7g.large',
        "db_allocated_storage": 100,
        "db_max_allocated_storage": 1000,
        "db_multi_az": True,
        "db_backup_retention_days": 14,
        "db_skip_final_snapshot": False,
        "db_backup_replication": True,
        "db_performance_insights": True,
        "requests_per_target": 1000,
        "cpu_target": 60,
        "cpu_alarm_threshold": 75,
        "cpu_alarm_periods": 3,
        "alb_5xx_threshold": 5,
        "deletion_protection": True,
        "waf": True,
        "price_class": "PriceClass_All",
    },
}
# Edge defaults shared by every profile.
EDGE_DEFAULTS: dict[str, Any] = {"viewer_aliases": [], "static_paths": ["/static/*"], "dns_weights": {},
                                  "ingest_content_types": ["application/json", "text/csv", "text/plain",
                                                           "application/pdf", "image/png", "image/jpeg"]}
# Bucket lifecycle (F15): the same for every profile, overridable per environment.
LIFECYCLE_DEFAULTS: dict[str, int] = {
    "abort_multipart_days": 7,
    "noncurrent_ia_days": 30,
    "noncurrent_glacier_ir_days": 90,
    "noncurrent_expire_days": 365,
}
for _profile in PROFILES.values():
    _profile.update(LIFECYCLE_DEFAULTS)
    _profile.update(EDGE_DEFAULTS)

# The retention periods CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                      2192, 2557, 2922, 3288, 3653)
NAT_POLICIES = ("single", "per_az")
ROUTING_POLICIES = ("failover", "latency", "weighted")
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
RESERVED_ENVIRONMENT_NAMES = ("all", GLOBAL)

_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{1,9}$")
# Names that say "production" (prod2, prodeu, euprod, prd, live, production...): such an environment must
# choose its profile explicitly rather than silently get the dev profile's cheap defaults.
# Anchored at either end, so ordinary words that merely contain the letters (delivery, olive,
# reproduce) are not caught.
_PRODUCTION_LIKE = re.compile(r"^(prod|prd|live)|(prod|prd)\d*$")
_SUFFIX = re.compile(r"^[a-z0-9]{0,8}$")
_PROJECT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}$")
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_PG_VERSION = re.compile(r"^1[3-9]$")
_DB_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,200}$")

_PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


class ConfigError(Exception):
    """Invalid configuration: `problems` holds one human-readable line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def instance_architecture(instance_type: str) -> str:
    match = re.match(r"^[a-z]+\d+([a-z-]*)\.", instance_type)
    return "arm64" if match and "g" in match.group(1) else "x86_64"


class SelectionError(ValueError):
    """An --env or --region that the configuration does not define."""


@dataclass(frozen=True)
class Project:
    name: str
    suffix: str
    domain: str
    owner: str
    cost_center: str
    dns_account_id: str | None = None  # None: each environment's own account
    dns_role_name: str | None = None  # None: the environment's deploy role name
    hosted_zone_id: str | None = None  # None: look the zone up by `domain`
    cidr_supernet: str = "10.0.0.0/8"
    external_id: str = ""  # required by the cross-account roles' trust policies
    ci_account_id: str | None = None  # the account CI deploys from (trusted by every environment)
    bootstrap_role_name: str | None = None  # assumed instead of deploy roles until those exist


@dataclass(frozen=True)
class StateBackend:
    """Where Terraform keeps state: one state file per stack either way."""

    backend: str = "local"  # "local" or "s3"
    local_dir: str = "terraform-state"  # outside cdktf.out, which synth replaces
    bucket: str | None = None
    region: str | None = None
    key_prefix: str = ""


@dataclass(frozen=True)
class Environment:
    name: str
    account_id: str
    regions: tuple[str, ...]
    profile: str
    instance_type: str
    instance_count: int
    min_capacity: int
    max_capacity: int
    az_count: int
    nat_policy: str
    interface_endpoints: bool
    log_retention_days: int
    alert_emails: tuple[str, ...]
    dns_routing_policy: str
    trusted_accounts: tuple[str, ...]
    deployer_account_ids: tuple[str, ...]  # besides project.ci_account_id, who may assume the deploy role
    deploy_role_name: str | None  # None: the naming helper's <env>-global-deploy[suffix]
    force_destroy: bool
    key_deletion_window_days: int
    abort_multipart_days: int
    noncurrent_ia_days: int
    noncurrent_glacier_ir_days: int
    noncurrent_expire_days: int
    requests_per_target: int
    cpu_target: int
    cpu_alarm_threshold: int
    cpu_alarm_periods: int
    alb_5xx_threshold: int
    deletion_protection: bool
    waf: bool
    price_class: str
    db_engine_version: str
    db_instance_class: str
    db_allocated_storage: int
    db_max_allocated_storage: int
    db_multi_az: bool
    db_backup_retention_days: int
    db_skip_final_snapshot: bool
    db_backup_replication: bool
    db_performance_insights: bool
    lambda_memory_mb: int
    lambda_timeout_s: int
    lambda_reserved_concurrency: int
    ingest_max_bytes: int
    ingest_content_types: tuple[str, ...]
    budget_limit_usd: int
    require_mfa: bool
    manage_config_recorder: bool
    config_notifications: bool
    viewer_aliases: tuple[str, ...]
    static_paths: tuple[str, ...]
    dns_weights: dict[str, int]
    domain: str = ""  # the environment's DNS domain, resolved: <env>.<domain>, prod: <domain>
    cidrs: dict[str, str] = field(default_factory=dict)  # region -> CIDR, resolved

    @property
    def origin_domain(self) -> str:
        """The failover name CloudFront uses as its origin (DNS issue): origin.<env domain>."""
        return f"origin.{self.domain}"

    @property
    def app_domain(self) -> str:
        """The viewer name CloudFront serves: app.<env domain>."""
        return f"app.{self.domain}"

    def regional_origin_domain(self, region: str) -> str:
        """One region's own origin name: <region>.origin.<env domain>."""
        return f"{region}.origin.{self.domain}"

    @property
    def architecture(self) -> str:
        """arm64 for Graviton instance types (a 'g' among the attribute letters: t4g, m7gd,
        c7gn), x86_64 otherwise (g5, m7i)."""
        return instance_architecture(self.instance_type)

    @property
    def primary_region(self) -> str:
        return self.regions[0]

    def is_primary(self, region: str) -> bool:
        return region == self.primary_region


def role_arn(account_id: str, role_name: str) -> str:
    """The ARN of a role assumed from outside. Provider blocks are configured before any data
    source can be read, so this is the one ARN built from configuration (account id and role
    name both validated); the `aws` partition is the only one the tool supports."""
    return f"arn:aws:iam::{account_id}:role/{role_name}"


@dataclass(frozen=True)
class AssumeRole:
    """The parameters of one sts:AssumeRole, as a provider block and boto3 both pass them."""

    role_arn: str
    external_id: str
    session_name: str


@dataclass(frozen=True)
class StackSpec:
    """One stack of the app: what `list` prints and `synth` builds."""

    name: str
    environment: str
    region: str  # an AWS region, or "global" for the edge stack
    role: str  # "primary", "secondary" or "edge"
    account_id: str


@dataclass(frozen=True)
class Config:
    source: Path
    project: Project
    state: StateBackend
    environments: dict[str, Environment]

    def stacks(self) -> list[StackSpec]:
        """Every stack, regional stacks of an environment before its edge stack."""
        specs: list[StackSpec] = []
        for env in self.environments.values():
            for region in env.regions:
                role = "primary" if env.is_primary(region) else "secondary"
                specs.append(StackSpec(naming.stack_name(env.name, region), env.name, region, role,
                                       env.account_id))
            specs.append(StackSpec(naming.stack_name(env.name, GLOBAL), env.name, GLOBAL, "edge",
                                   env.account_id))
        return specs

    def select(self, environment: str | None = None, region: str | None = None) -> list[StackSpec]:
        """The stacks of `environment` (None or "all": every one), optionally only those in
        `region` ("global" picks the edge stacks). Unknown names raise SelectionError listing
        the valid choices."""
        if environment in (None, "all"):
            specs = self.stacks()
        elif environment in self.environments:
            specs = [s for s in self.stacks() if s.environment == environment]
        else:
            raise SelectionError(f"unknown environment {environment!r}; choose one of: "
                                 f"{', '.join([*self.environments, 'all'])}")
        if region is None:
            return specs
        valid = list(dict.fromkeys(s.region for s in specs))
        if region not in valid:
            scope = "any environment" if environment in (None, "all") else f"environment {environment!r}"
            raise SelectionError(f"region {region!r} is not used by {scope}; choose one of: {', '.join(valid)}")
        return [s for s in specs if s.region == region]

    def other_accounts(self, env: Environment) -> tuple[str, ...]:
        """The accounts of the other environments and the configured trusted accounts, never the
        environment's own: who may publish to its error topics."""
        accounts = {e.account_id for e in self.environments.values()} | set(env.trusted_accounts)
        return tuple(sorted(accounts - {env.account_id}))

    def trusted_by(self, env: Environment) -> tuple[str, ...]:
        """Accounts the environment's read-only role trusts: the other environments', the
        configured trusted accounts, the CI account and the deployers; never the environment's
        own (F6). Looking is harmless; deploying is not, see `deployers_of`."""
        accounts = set(self.other_accounts(env)) | set(self.deployers_of(env))
        return tuple(sorted(accounts - {env.account_id}))

    def deployers_of(self, env: Environment) -> tuple[str, ...]:
        """Accounts the environment's deploy role trusts: the CI account and the accounts listed
        in `deployer_account_ids`, nothing else, so an administrator of another environment cannot
        deploy this one (the external id is in the repository and protects nothing). With neither
        configured, only the environment's own account (configuration refuses that for the prod
        profile)."""
        accounts = set(env.deployer_account_ids)
        if self.project.ci_account_id:
            accounts.add(self.project.ci_account_id)
        return tuple(sorted(accounts)) or (env.account_id,)

    def owns_config_recorder(self, env: Environment, region: str) -> bool:
        """One AWS Config recorder per (account, region): the first environment in file order that
        manages recorders and runs in that account and region creates it."""
        if not env.manage_config_recorder:
            return False
        for candidate in self.environments.values():
            if (candidate.manage_config_recorder and candidate.account_id == env.account_id
                    and region in candidate.regions):
                return candidate.name == env.name
        return False

    def provider_role_name(self, env: Environment) -> str:
        """The role the providers assume: the bootstrap role until the deploy roles exist."""
        return self.project.bootstrap_role_name or self.deploy_role_name(env)

    def provider_role_arn(self, env: Environment) -> str:
        """The ARN of the role the providers assume in `env`'s account; operations (smoke,
        doctor) act through the same role, so they see exactly what Terraform created."""
        return role_arn(env.account_id, self.provider_role_name(env))

    def assume_role(self, env: Environment, stack_name: str, *, account_id: str | None = None,
                    role_name: str | None = None) -> AssumeRole:
        """How the providers of stack `stack_name` enter an account (`env`'s own unless
        `account_id`, with `role_name` or the provider role), and how `doctor` and `smoke` do,
        so that they succeed or fail exactly as Terraform would: the role ARN, the external id
        its trust policy requires, and the session name rule."""
        return AssumeRole(role_arn=role_arn(account_id or env.account_id, role_name or self.provider_role_name(env)),
                          external_id=self.project.external_id,
                          session_name=f"{self.project.name}-{stack_name}"[:64])

    def dns_account_id(self, env: Environment) -> str:
        return self.project.dns_account_id or env.account_id

    def dns_role_name(self, env: Environment) -> str:
        return self.project.dns_role_name or self.provider_role_name(env)

    def deploy_role_name(self, env: Environment) -> str:
        """The environment's deploy role: configured, or named by the naming helper."""
        return env.deploy_role_name or self.namer(env, GLOBAL).name("deploy", "iam_role")

    def namer(self, env: Environment, region: str) -> naming.Namer:
        return naming.Namer(environment=env.name, region=region, suffix=self.project.suffix,
                            project=self.project.name, owner=self.project.owner,
                            cost_center=self.project.cost_center)


# --------------------------------------------------------------------------- reading

_MISSING = object()
Check = Callable[[Any], "str | None"]


class _Reader:
    """Collects problems instead of stopping at the first one."""

    def __init__(self, source: Path):
        self.source = source
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: {key}: {message}")

    def unknown_keys(self, table: dict, allowed: tuple[str, ...], path: str) -> None:
        for key in table:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            where = f"{path}.{key}" if path else str(key)
            self.problem(where, f"unknown key; {hint}allowed keys: {', '.join(allowed)}")

    def table(self, parent: dict, key: str, path: str, required: bool = True) -> dict | None:
        value = parent.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.problem(path, "missing table; add it (see config/default.toml)")
            return None
        if not isinstance(value, dict):
            self.problem(path, f"must be a table, got {_describe(value)}")
            return None
        return value

    def value(self, table: dict, key: str, path: str, kind: type | tuple, default: Any = _MISSING,
              check: Check | None = None) -> Any:
        """The value of `key`, or `default`; None (and a problem) when it is invalid."""
        where = f"{path}.{key}"
        value = table.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.problem(where, f"missing; required ({_kind_name(kind)})")
                return None
            return default
        if not _is_kind(value, kind):
            self.problem(where, f"must be {_kind_name(kind)}, got {_describe(value)}")
            return None
        if check is not None:
            message = check(value)
            if message:
                self.problem(where, message)
                return None
        return value


def _is_kind(value: Any, kind: type | tuple) -> bool:
    if kind is int:  # bool is an int subclass; `true` is not a count
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == (list, str):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, kind)


def _kind_name(kind: type | tuple) -> str:
    if isinstance(kind, tuple):
        return "a list of strings"
    return {str: "a string", int: "an integer", bool: "true or false", dict: "a table"}[kind]


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


# --------------------------------------------------------------------------- checks

def _regex(pattern: re.Pattern, allowed: str) -> Check:
    return lambda v: None if pattern.match(v) else f"{v!r} is invalid; allowed: {allowed}"


def _one_of(choices: tuple) -> Check:
    return lambda v: None if v in choices else f"{v!r} is not allowed; choose one of: {', '.join(map(str, choices))}"


def _between(low: int, high: int) -> Check:
    return lambda v: None if low <= v <= high else f"{v} is out of range; allowed: {low}..{high}"


def _check_domain(value: str) -> str | None:
    labels = value.split(".")
    if (len(value) > 200 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels)
            or labels[-1].isdigit()):
        return (f"{value!r} is not a domain name; allowed: lower-case labels of letters, digits "
                "and inner hyphens joined by dots, such as example.com (at most 200 characters)")
    return None


def _check_region(value: str) -> str | None:
    if value in REGIONS:
        return None
    close = difflib.get_close_matches(value, REGIONS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (f"{value!r} is not an AWS commercial region; {hint}allowed: {', '.join(REGIONS)} "
            "(GovCloud and China are not supported)")


def _check_account(value: str) -> str | None:
    return None if _ACCOUNT.match(value) else f"{value!r} is not an AWS account id; allowed: exactly 12 digits, quoted"


def _check_accounts(values: list[str]) -> str | None:
    bad = [v for v in values if not _ACCOUNT.match(v)]
    return f"{bad!r} are not AWS account ids; allowed: strings of exactly 12 digits" if bad else None


def _check_emails(values: list[str]) -> str | None:
    bad = [v for v in values if not _EMAIL.match(v)]
    return f"{bad!r} are not e-mail addresses; allowed: name@domain.tld" if bad else None


def _check_domains(values: list[str]) -> str | None:
    problems = [m for m in (_check_domain(v) for v in values) if m]
    return problems[0] if problems else None


def _check_paths(values: list[str]) -> str | None:
    bad = [v for v in values if not re.match(r"^/[A-Za-z0-9_./*-]{1,200}$", v) or v == "/*"]
    return (f"{bad!r} are not CloudFront path patterns; allowed: paths such as /static/* "
            "(not /*, which is the default behavior)") if bad else None


def _check_content_types(values: list[str]) -> str | None:
    if not values:
        return "is empty; list the MIME types the ingest function accepts"
    bad = [v for v in values if not re.match(r"^[a-z]+/[a-z0-9.+-]+$", v)]
    return f"{bad!r} are not MIME types; allowed: type/subtype such as text/csv" if bad else None


def _check_weights(values: dict) -> str | None:
    bad = {k: w for k, w in values.items() if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 255}
    if bad:
        return f"{bad!r}: weights are integers 0..255 by region"
    if values and not any(values.values()):
        return "every weight is 0; at least one region must receive traffic"
    return None


def _check_regions(values: list[str]) -> str | None:
    if not values:
        return "is empty; list at least one region, the primary first"
    problems = [m for m in (_check_region(v) for v in values) if m]
    if problems:
        return problems[0]
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        return f"lists {', '.join(duplicates)} more than once; each region may appear once"
    return None


def _parse_cidr(value: str) -> tuple[ipaddress.IPv4Network | None, str | None]:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        return None, f"{value!r} is not an IPv4 network ({exc}); allowed: a block such as 10.20.0.0/16"
    if not any(net.subnet_of(r) for r in _PRIVATE_RANGES):
        return None, f"{value} is not private; allowed: inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
    return net, None


# --------------------------------------------------------------------------- loading

PROJECT_KEYS = ("name", "suffix", "domain", "owner", "cost_center", "dns_account_id", "dns_role_name",
                "hosted_zone_id", "cidr_supernet", "external_id", "ci_account_id", "bootstrap_role_name")
STATE_KEYS = ("backend", "local_dir", "bucket", "region", "key_prefix")
ENV_KEYS = ("account_id", "regions", "profile", *PROFILES["dev"].keys(), "domain", "cidrs")
TOP_KEYS = ("project", "environments", "state")


def load(path: Path | str | None = None) -> Config:
    """Read and validate a TOML file (the embedded default when `path` is None)."""
    source = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        text = source.read_text(encoding="utf-8-sig")  # editors on Windows may write a BOM
    except FileNotFoundError:
        raise ConfigError([f"{source}: file not found; pass an existing TOML file with --config"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot be read ({exc}); pass a readable UTF-8 TOML file"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: invalid TOML: {exc}"]) from None
    return parse(data, source)


def parse(data: dict, source: Path | str = "<config>") -> Config:
    """Validate already-parsed TOML data; raise ConfigError listing every problem."""
    reader = _Reader(Path(source))
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the document must be a TOML table"])
    reader.unknown_keys(data, TOP_KEYS, "")
    project = _read_project(reader, data)
    state = _read_state(reader, data)
    environments = _read_environments(reader, data, project)
    if reader.problems:
        raise ConfigError(reader.problems)
    assert project is not None and state is not None
    return Config(source=Path(source), project=project, state=state, environments=environments)


def _read_project(r: _Reader, data: dict) -> Project | None:
    table = r.table(data, "project", "project")
    if table is None:
        return None
    r.unknown_keys(table, PROJECT_KEYS, "project")
    p = "project"
    values = {
        "name": r.value(table, "name", p, str, check=_regex(
            _PROJECT_NAME, "2-32 lower-case letters, digits and hyphens, starting with a letter")),
        "suffix": r.value(table, "suffix", p, str, check=_regex(
            _SUFFIX, "0-8 lower-case letters and digits (empty for no suffix)")),
        "domain": r.value(table, "domain", p, str, check=_check_domain),
        "owner": r.value(table, "owner", p, str, check=_regex(
            _TAG_VALUE, "1-256 letters, digits, spaces and _ . : / = + - @ (an AWS tag value)")),
        "cost_center": r.value(table, "cost_center", p, str, check=_regex(
            _TAG_VALUE, "1-256 letters, digits, spaces and _ . : / = + - @ (an AWS tag value)")),
        "dns_account_id": r.value(table, "dns_account_id", p, str, None, _check_account),
        "dns_role_name": r.value(table, "dns_role_name", p, str, None, _regex(
            _ROLE_NAME, "an IAM role name: 1-64 letters, digits and + = , . @ _ -")),
        "hosted_zone_id": r.value(table, "hosted_zone_id", p, str, None, _regex(
            _ZONE_ID, "a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")),
        "cidr_supernet": r.value(table, "cidr_supernet", p, str, "10.0.0.0/8"),
        "external_id": r.value(table, "external_id", p, str, check=_regex(
            _EXTERNAL_ID, "2-1224 letters, digits and + = , . @ : / _ - (the roles' sts:ExternalId)")),
        "ci_account_id": r.value(table, "ci_account_id", p, str, None, _check_account),
        "bootstrap_role_name": r.value(table, "bootstrap_role_name", p, str, None, _regex(
            _ROLE_NAME, "an IAM role name: 1-64 letters, digits and + = , . @ _ -")),
    }
    supernet, message = _parse_cidr(values["cidr_supernet"] or "10.0.0.0/8")
    if message is None and supernet.prefixlen > network.MAX_SUPERNET_PREFIX:
        message = (f"{supernet} is too small to allocate every VPC; allowed: a private block of "
                   f"/{network.MAX_SUPERNET_PREFIX} or larger")
    if message and values["cidr_supernet"] is not None:
        r.problem("project.cidr_supernet", message)
        return None
    if any(values[k] is None for k in ("name", "suffix", "domain", "owner", "cost_center", "external_id")):
        return None
    return Project(**values)


def _read_state(r: _Reader, data: dict) -> StateBackend | None:
    table = r.table(data, "state", "state", required=False)
    if table is None:
        return StateBackend() if "state" not in data else None
    r.unknown_keys(table, STATE_KEYS, "state")
    p = "state"
    backend = r.value(table, "backend", p, str, "local", _one_of(("local", "s3")))
    local_dir = r.value(table, "local_dir", p, str, "terraform-state",
                        lambda v: None if v.strip() else "is empty; allowed: a directory path")
    bucket = r.value(table, "bucket", p, str, None, _regex(_BUCKET, "an S3 bucket name (3-63 lower-case)"))
    region = r.value(table, "region", p, str, None, _check_region)
    key_prefix = r.value(table, "key_prefix", p, str, "", lambda v: None if not v or (
        _KEY_PREFIX.match(v) and not v.startswith("/") and not v.endswith("/")) else (
        f"{v!r} is invalid; allowed: S3 key characters, no leading or trailing '/'"))
    if backend == "s3":
        for key, value in (("bucket", bucket), ("region", region)):
            if value is None and key not in table:
                r.problem(f"state.{key}", 'missing; required when backend = "s3"')
    elif backend == "local":
        for key in ("bucket", "region", "key_prefix"):
            if key in table:
                r.problem(f"state.{key}", 'only applies to backend = "s3"; remove it or set backend = "s3"')
    if None in (backend, local_dir, key_prefix):
        return None
    return StateBackend(backend=backend, local_dir=local_dir, bucket=bucket, region=region,
                        key_prefix=key_prefix)


def _read_environments(r: _Reader, data: dict, project: Project | None) -> dict[str, Environment]:
    table = r.table(data, "environments", "environments")
    if table is None:
        return {}
    if not table:
        r.problem("environments", "is empty; define at least one [environments.<name>] table")
        return {}
    environments: dict[str, Environment] = {}
    for name, env_table in table.items():
        path = f"environments.{name}"
        name_ok = True
        if not _ENV_NAME.match(str(name)) or name in RESERVED_ENVIRONMENT_NAMES:
            r.problem(path, f"environment name {name!r} is invalid; allowed: 2-10 lower-case letters and "
                            f"digits starting with a letter, not {' or '.join(RESERVED_ENVIRONMENT_NAMES)}")
            name_ok = False
        if not isinstance(env_table, dict):
            r.problem(path, f"must be a table, got {_describe(env_table)}")
            continue
        env = _read_environment(r, name, env_table, path)
        if env is not None and name_ok:
            environments[name] = env
    if len(environments) == len(table):
        _allocate_cidrs(r, table, environments, project)
    if project is not None:
        environments = {name: _resolve_domain(r, env, project) for name, env in environments.items()}
        for env in environments.values():
            if project.ci_account_id == env.account_id:
                r.problem("project.ci_account_id", f"is environment {env.name!r}'s own account; cross-account "
                                                   "trust must name another account (a dedicated CI account)")
            deployers = set(env.deployer_account_ids) | ({project.ci_account_id} if project.ci_account_id else set())
            if env.profile == "prod" and not deployers:
                r.problem(f"environments.{env.name}.deployer_account_ids",
                          "a prod-profile environment needs a deployer its deploy role trusts; set "
                          "project.ci_account_id (the account CI deploys from) or list the accounts allowed to "
                          f"deploy here, e.g. deployer_account_ids = [\"{env.account_id}\"] for this account only")
            trusted = ({e.account_id for e in environments.values()} | set(env.trusted_accounts)
                       | deployers) - {env.account_id}
            if not trusted:  # IAM refuses a trust policy without principals
                r.problem(f"environments.{env.name}", f"its read-only role would trust no account (no other "
                                                       f"environment's account, no trusted_accounts, "
                                                       f"deployer_account_ids or project.ci_account_id besides "
                                                       f"{env.account_id}); set project.ci_account_id, "
                                                       "deployer_account_ids or trusted_accounts")
        _check_name_lengths(r, environments, project)
        _check_dns_names(r, environments, project)
    return environments


def _resolve_domain(r: _Reader, env: Environment, project: Project) -> Environment:
    """`<env>.<domain>`, except the prod profile, which serves the apex `<domain>`; an explicit
    `domain` must lie inside the project's hosted zone."""
    for alias in env.viewer_aliases:
        if alias != project.domain and not alias.endswith(f".{project.domain}"):
            r.problem(f"environments.{env.name}.viewer_aliases", f"{alias!r} is outside the hosted zone "
                                                                f"{project.domain!r}; the certificate validation and "
                                                                "records are created there")
    if not env.domain:
        return replace(env, domain=project.domain if env.profile == "prod" else f"{env.name}.{project.domain}")
    if env.domain != project.domain and not env.domain.endswith(f".{project.domain}"):
        r.problem(f"environments.{env.name}.domain", f"{env.domain!r} is outside the hosted zone "
                  f"{project.domain!r}; allowed: {project.domain} or a name under it")
    return env


def _read_environment(r: _Reader, name: str, table: dict, path: str) -> Environment | None:
    r.unknown_keys(table, ENV_KEYS, path)
    if name not in PROFILES and "profile" not in table and _PRODUCTION_LIKE.search(name):
        r.problem(f"{path}.profile", f"missing; {name!r} looks like a production environment, and without a profile "
                                     "it would get the dev profile's defaults (force_destroy, one NAT gateway, "
                                     'no deletion protection): set profile = "prod" (or "staging" or "dev" '
                                     "if it is not production)")
        return None
    profile = r.value(table, "profile", path, str, name if name in PROFILES else "dev",
                      _one_of(tuple(PROFILES)))
    defaults = PROFILES.get(profile, PROFILES["dev"])
    v: dict[str, Any] = {
        "account_id": r.value(table, "account_id", path, str, check=_check_account),
        "regions": r.value(table, "regions", path, (list, str), check=_check_regions),
        "instance_type": r.value(table, "instance_type", path, str, defaults["instance_type"],
                                 _regex(_INSTANCE_TYPE, "an EC2 instance type such as t3.micro")),
        "instance_count": r.value(table, "instance_count", path, int, defaults["instance_count"],
                                  _between(2, 100)),
        "min_capacity": r.value(table, "min_capacity", path, int, defaults["min_capacity"], _between(2, 100)),
        "max_capacity": r.value(table, "max_capacity", path, int, defaults["max_capacity"], _between(2, 100)),
        "az_count": r.value(table, "az_count", path, int, defaults["az_count"], _between(2, 4)),
        "nat_policy": r.value(table, "nat_policy", path, str, defaults["nat_policy"], _one_of(NAT_POLICIES)),
        "interface_endpoints": r.value(table, "interface_endpoints", path, bool, defaults["interface_endpoints"]),
        "log_retention_days": r.value(table, "log_retention_days", path, int, defaults["log_retention_days"],
                                      _one_of(LOG_RETENTION_DAYS)),
        "alert_emails": r.value(table, "alert_emails", path, (list, str), defaults["alert_emails"],
                                _check_emails),
        "dns_routing_policy": r.value(table, "dns_routing_policy", path, str, defaults["dns_routing_policy"],
                                      _one_of(ROUTING_POLICIES)),
        "trusted_accounts": r.value(table, "trusted_accounts", path, (list, str), defaults["trusted_accounts"],
                                    _check_accounts),
        "deployer_account_ids": r.value(table, "deployer_account_ids", path, (list, str),
                                        defaults["deployer_account_ids"], _check_accounts),
        "deploy_role_name": r.value(table, "deploy_role_name", path, str, defaults["deploy_role_name"],
                                    _regex(_ROLE_NAME, "an IAM role name: 1-64 letters, digits and + = , . @ _ -")),
        "force_destroy": r.value(table, "force_destroy", path, bool, defaults["force_destroy"]),
        "key_deletion_window_days": r.value(table, "key_deletion_window_days", path, int,
                                            defaults["key_deletion_window_days"], _between(7, 30)),
        "abort_multipart_days": r.value(table, "abort_multipart_days", path, int, defaults["abort_multipart_days"],
                                        _between(1, 365)),
        # S3 refuses Standard-IA transitions before 30 days.
        "noncurrent_ia_days": r.value(table, "noncurrent_ia_days", path, int, defaults["noncurrent_ia_days"],
                                      _between(30, 3650)),
        "noncurrent_glacier_ir_days": r.value(table, "noncurrent_glacier_ir_days", path, int,
                                              defaults["noncurrent_glacier_ir_days"], _between(60, 3650)),
        "noncurrent_expire_days": r.value(table, "noncurrent_expire_days", path, int,
                                          defaults["noncurrent_expire_days"], _between(1, 3650)),
        "requests_per_target": r.value(table, "requests_per_target", path, int, defaults["requests_per_target"],
                                       _between(10, 100000)),
        "cpu_target": r.value(table, "cpu_target", path, int, defaults["cpu_target"], _between(10, 90)),
        "cpu_alarm_threshold": r.value(table, "cpu_alarm_threshold", path, int, defaults["cpu_alarm_threshold"],
                                       _between(10, 100)),
        "cpu_alarm_periods": r.value(table, "cpu_alarm_periods", path, int, defaults["cpu_alarm_periods"],
                                     _between(1, 60)),
        "alb_5xx_threshold": r.value(table, "alb_5xx_threshold", path, int, defaults["alb_5xx_threshold"],
                                     _between(1, 100000)),
        "deletion_protection": r.value(table, "deletion_protection", path, bool, defaults["deletion_protection"]),
        "waf": r.value(table, "waf", path, bool, defaults["waf"]),
        "price_class": r.value(table, "price_class", path, str, defaults["price_class"], _one_of(PRICE_CLASSES)),
        "viewer_aliases": r.value(table, "viewer_aliases", path, (list, str), defaults["viewer_aliases"],
                                  _check_domains),
        "static_paths": r.value(table, "static_paths", path, (list, str), defaults["static_paths"], _check_paths),
        "dns_weights": r.value(table, "dns_weights", path, dict, defaults["dns_weights"], _check_weights),
        "db_engine_version": r.value(table, "db_engine_version", path, str, defaults["db_engine_version"],
                                     _regex(_PG_VERSION, "a PostgreSQL major version RDS offers, such as 16 or 17")),
        "db_instance_class": r.value(table, "db_instance_class", path, str, defaults["db_instance_class"],
                                     _regex(_DB_CLASS, "an RDS instance class such as db.t4g.micro")),
        "db_allocated_storage": r.value(table, "db_allocated_storage", path, int, defaults["db_allocated_storage"],
                                        _between(20, 65536)),
        "db_max_allocated_storage": r.value(table, "db_max_allocated_storage", path, int,
                                            defaults["db_max_allocated_storage"], _between(20, 65536)),
        "db_multi_az": r.value(table, "db_multi_az", path, bool, defaults["db_multi_az"]),
        "db_backup_retention_days": r.value(table, "db_backup_retention_days", path, int,
                                            defaults["db_backup_retention_days"], _between(1, 35)),
        "db_skip_final_snapshot": r.value(table, "db_skip_final_snapshot", path, bool,
                                          defaults["db_skip_final_snapshot"]),
        "db_backup_replication": r.value(table, "db_backup_replication", path, bool, defaults["db_backup_replication"]),
        "db_performance_insights": r.value(table, "db_performance_insights", path, bool,
                                           defaults["db_performance_insights"]),
        "lambda_memory_mb": r.value(table, "lambda_memory_mb", path, int, defaults["lambda_memory_mb"],
                                    _between(128, 10240)),
        "lambda_timeout_s": r.value(table, "lambda_timeout_s", path, int, defaults["lambda_timeout_s"],
                                    _between(1, 900)),
        "lambda_reserved_concurrency": r.value(table, "lambda_reserved_concurrency", path, int,
                                               defaults["lambda_reserved_concurrency"], _between(1, 1000)),
        "ingest_max_bytes": r.value(table, "ingest_max_bytes", path, int, defaults["ingest_max_bytes"],
                                    _between(1, 5 * 1024**4)),
        "ingest_content_types": r.value(table, "ingest_content_types", path, (list, str),
                                        defaults["ingest_content_types"], _check_content_types),
        "budget_limit_usd": r.value(table, "budget_limit_usd", path, int, defaults["budget_limit_usd"],
                                    _between(1, 10_000_000)),
        "require_mfa": r.value(table, "require_mfa", path, bool, defaults["require_mfa"]),
        "manage_config_recorder": r.value(table, "manage_config_recorder", path, bool,
                                          defaults["manage_config_recorder"]),
        "config_notifications": r.value(table, "config_notifications", path, bool, defaults["config_notifications"]),
    }
    domain = r.value(table, "domain", path, str, "", _check_domain)
    cidrs = r.value(table, "cidrs", path, dict, {})
    cidrs_ok = cidrs is not None
    for region, cidr in (cidrs or {}).items():
        message = _cidr_override_problem(region, cidr, v["regions"] or [])
        if message:
            r.problem(f"{path}.cidrs.{region}", message)
            cidrs_ok = False
    deploy_role_name = v.pop("deploy_role_name")  # optional: None means the naming helper's name
    if "deploy_role_name" in table and deploy_role_name is None:
        return None
    if None in v.values() or profile is None or not cidrs_ok or domain is None:
        return None
    if not v["min_capacity"] <= v["instance_count"] <= v["max_capacity"]:
        r.problem(f"{path}.instance_count", f"{v['instance_count']} must lie between min_capacity "
                                            f"({v['min_capacity']}) and max_capacity ({v['max_capacity']})")
        return None
    if profile == "prod" and (v["db_skip_final_snapshot"] or v["db_backup_retention_days"] < 14):
        r.problem(f"{path}.db_backup_retention_days" if v["db_backup_retention_days"] < 14 else
                  f"{path}.db_skip_final_snapshot",
                  "a prod-profile database keeps backups for at least 14 days and always takes a final snapshot")
        return None
    if v["db_max_allocated_storage"] < v["db_allocated_storage"]:
        r.problem(f"{path}.db_max_allocated_storage", f"{v['db_max_allocated_storage']} is below "
                                                      f"db_allocated_storage ({v['db_allocated_storage']})")
        return None
    if v["force_destroy"] and profile == "prod":
        r.problem(f"{path}.force_destroy", "true is not allowed for a prod-profile environment; "
                                           "buckets holding production data must never be force-destroyed")
        return None
    if not v["noncurrent_ia_days"] + 30 <= v["noncurrent_glacier_ir_days"] < v["noncurrent_expire_days"]:
        r.problem(f"{path}.noncurrent_glacier_ir_days",
                  f"lifecycle days must grow: noncurrent_ia_days ({v['noncurrent_ia_days']}) + 30 <= "
                  f"noncurrent_glacier_ir_days ({v['noncurrent_glacier_ir_days']}) < noncurrent_expire_days "
                  f"({v['noncurrent_expire_days']}), since S3 keeps objects 30 days in Standard-IA")
        return None
    if v["account_id"] in v["trusted_accounts"]:
        r.problem(f"{path}.trusted_accounts", f"names the environment's own account {v['account_id']}; "
                                              "cross-account trust must name other accounts only")
        return None
    if v["dns_routing_policy"] == "weighted" and set(v["dns_weights"]) != set(v["regions"]):
        r.problem(f"{path}.dns_weights", "weighted routing needs a weight for every region "
                                         f"({', '.join(v['regions'])}), "
                                         f"got {', '.join(v['dns_weights']) or 'none'}")
        return None
    if v["dns_weights"] and v["dns_routing_policy"] != "weighted":
        r.problem(f"{path}.dns_weights", 'only applies to dns_routing_policy = "weighted"')
        return None
    return Environment(name=name, profile=profile, regions=tuple(v.pop("regions")),
                       ingest_content_types=tuple(v.pop("ingest_content_types")),
                       viewer_aliases=tuple(v.pop("viewer_aliases")), static_paths=tuple(v.pop("static_paths")),
                       alert_emails=tuple(v.pop("alert_emails")),
                       trusted_accounts=tuple(v.pop("trusted_accounts")),
                       deployer_account_ids=tuple(v.pop("deployer_account_ids")),
                       cidrs={k: str(c) for k, c in cidrs.items()}, domain=domain,
                       deploy_role_name=deploy_role_name, **v)


def _cidr_override_problem(region: str, cidr: Any, regions: list[str]) -> str | None:
    if region not in regions:
        return f"is not one of this environment's regions ({', '.join(regions)})"
    if not isinstance(cidr, str):
        return f'must be a string such as "10.20.0.0/16", got {_describe(cidr)}'
    net, message = _parse_cidr(cidr)
    if message is None and not network.MIN_PREFIX <= net.prefixlen <= network.MAX_PREFIX:
        message = f"{cidr} has prefix /{net.prefixlen}; allowed: /{network.MIN_PREFIX} to /{network.MAX_PREFIX}"
    return message


def _allocate_cidrs(r: _Reader, table: dict, environments: dict[str, Environment],
                    project: Project | None) -> None:
    """Fill every environment's `cidrs` and reject overlaps anywhere (R1)."""
    supernet = ipaddress.IPv4Network(project.cidr_supernet if project else "10.0.0.0/8")
    blocks: dict[str, ipaddress.IPv4Network] = {}
    overridden: set[str] = set()
    for index, env in enumerate(environments.values()):
        for region in env.regions:
            label = f"environments.{env.name}.cidrs.{region}"
            if region in env.cidrs:
                blocks[label] = ipaddress.IPv4Network(env.cidrs[region])
                overridden.add(label)
            elif index < network.MAX_ENVIRONMENTS:
                blocks[label] = network.auto_cidr(supernet, index, region)
            else:
                r.problem(label, f"no automatic CIDR for the environment #{index + 1}; only the first "
                                 f"{network.MAX_ENVIRONMENTS} get one: set cidrs.{region} explicitly")
    for a, b in network.overlaps(blocks):
        culprit, other = (a, b) if a in overridden else (b, a)
        how = "set" if other in overridden else "allocated automatically"
        r.problem(culprit, f"{blocks[culprit]} overlaps {other} ({blocks[other]}, {how}); "
                           "every VPC needs its own block: choose a free one")
    if r.problems:
        return
    for env in environments.values():
        env.cidrs.clear()
        env.cidrs.update({region: str(blocks[f"environments.{env.name}.cidrs.{region}"])
                          for region in env.regions})


def _check_name_lengths(r: _Reader, environments: dict[str, Environment], project: Project) -> None:
    """Prove the tightest AWS name limit holds for every environment x region."""
    for env in environments.values():
        for region in env.regions:
            namer = naming.Namer(env.name, region, project.suffix)
            try:
                namer.name(naming.TIGHTEST_SERVICE, naming.TIGHTEST_KIND)
                namer.bucket(naming.LONGEST_BUCKET_SERVICE, env.account_id)
            except naming.NamingError as exc:
                r.problem(f"environments.{env.name}", f"too long for {region}: {exc}")


def _check_dns_names(r: _Reader, environments: dict[str, Environment], project: Project) -> None:
    """ACM rejects a certificate whose first name exceeds 64 characters."""
    for env in environments.values():
        longest = f"origin.{env.domain}"
        if len(longest) > 64:
            r.problem(f"environments.{env.name}", f"{longest!r} is {len(longest)} characters; ACM allows 64 for a "
                                                  "certificate's first name: use a shorter domain")


__all__ = [
    "DEFAULT_CONFIG",
    "EDGE_REGION",
    "PROFILES",
    "Config",
    "ConfigError",
    "Environment",
    "Project",
    "StackSpec",
    "StateBackend",
    "load",
    "parse",
]
