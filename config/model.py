"""The configuration model: the frozen, fully-resolved objects the stacks and operations read.

`Config` holds the project, the state backend and every `Environment`; an environment holds its
ungrouped settings as fields and related settings as typed frozen objects (`scaling`,
`network`, `alarms`, `database`, `ingest`, `lifecycle`, `dns`, defined in config/groups.py) that a stack hands whole
to the module props. The keys, their checks
and defaults are declared in config/settings.py; config/loader.py reads and validates the TOML
into these objects (`load`, `parse` and `ConfigError` are also reachable here, so callers keep
writing `model.load`). Nothing changes an object after loading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config import naming
from config.choices import Backend, PriceClass, Profile
from config.errors import ConfigError, SelectionError
from config.facts import StackRole, role_arn
from config.groups import Alarms, Database, Dns, Ingest, Lifecycle, Network, Scaling, instance_architecture
from config.regions import EDGE_REGION, GLOBAL


@dataclass(frozen=True)
class Project:
    """The `[project]` table; its keys' defaults and checks are config/settings.py's `PROJECT`."""

    name: str
    suffix: str
    domain: str
    owner: str
    cost_center: str
    dns_account_id: str | None  # None: each environment's own account
    dns_role_name: str | None  # None: the environment's provider role
    hosted_zone_id: str | None  # None: look the zone up by `domain`
    cidr_supernet: str
    external_id: str  # required by the cross-account roles' trust policies
    ci_account_id: str | None  # the account CI deploys from (trusted by every environment)
    bootstrap_role_name: str | None  # assumed instead of deploy roles until those exist


@dataclass(frozen=True)
class StateBackend:
    """Where Terraform keeps state, one state file per stack either way: the `[state]` table,
    whose keys' defaults and checks are config/settings.py's `STATE`."""

    backend: Backend
    local_dir: str  # outside cdktf.out, which synth replaces
    bucket: str | None
    region: str | None
    key_prefix: str


# The typed object (config/groups.py) behind each `group` named in config/settings.py.
GROUP_TYPES: dict[str, type] = {
    "scaling": Scaling,
    "network": Network,
    "alarms": Alarms,
    "database": Database,
    "ingest": Ingest,
    "lifecycle": Lifecycle,
    "dns": Dns,
}


@dataclass(frozen=True)
class Environment:
    """One environment, every default applied and every name resolved. A grouped setting is read
    through its group only (`env.database.multi_az`, TOML key `db_multi_az`): one name per fact;
    config/settings.py maps each key to where it lives (`Setting.read`)."""

    name: str
    account_number: str  # TOML key `account_id`: the 12-digit id (`account_token` is Terraform's reading)
    regions: tuple[str, ...]
    writer_region: str  # resolved: the first of `regions` unless set (`failover` sets it)
    profile: Profile
    scaling: Scaling
    network: Network
    alarms: Alarms
    database: Database
    ingest: Ingest
    lifecycle: Lifecycle
    dns: Dns
    log_retention_days: int
    alert_emails: tuple[str, ...]
    trusted_accounts: tuple[str, ...]
    deployer_account_ids: tuple[str, ...]  # besides project.ci_account_id, who may assume the deploy role
    deploy_role_name: str | None  # None: the naming helper's <env>-global-deploy[suffix]
    force_destroy: bool
    key_deletion_window_days: int
    deletion_protection: bool
    waf: bool
    price_class: PriceClass
    viewer_aliases: tuple[str, ...]
    static_paths: tuple[str, ...]
    budget_limit_usd: int
    require_mfa: bool
    manage_config_recorder: bool
    config_notifications: bool
    domain: str = ""  # the environment's DNS domain, resolved: <env>.<domain>, prod: <domain>
    cidrs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # region -> CIDR, resolved
    # `writer_region` is written in the file (what `failover` does), not defaulted: the environment's
    # shared database already exists, and the writer's stack adopts it (modules/aurora.py).
    writer_recorded: bool = False

    @property
    def origin_domain(self) -> str:
        """The failover name CloudFront uses as its origin: origin.<env domain>."""
        return f"origin.{self.domain}"

    @property
    def app_domain(self) -> str:
        """The viewer name CloudFront serves: app.<env domain>."""
        return f"app.{self.domain}"

    def regional_origin_domain(self, region: str) -> str:
        """One region's own origin name: <region>.origin.<env domain>."""
        return f"{region}.origin.{self.domain}"

    @property
    def primary_region(self) -> str:
        """The environment's home region, the first of `regions`: its stack deploys first and holds
        what the environment has once (the origin-verify secret, global Config recording, the
        shared names' certificate validation). It never moves: a failover moves the writer only."""
        return self.regions[0]

    def is_writer(self, region: str) -> bool:
        """`region` holds the database writer (and is the DNS failover PRIMARY)."""
        return region == self.writer_region

    @property
    def failover_order(self) -> tuple[str, ...]:
        """The regions in the order traffic falls back through them: the writer first, then the
        others in the order `regions` lists them."""
        return (self.writer_region, *(r for r in self.regions if r != self.writer_region))

    def is_primary(self, region: str) -> bool:
        return region == self.primary_region


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
    role: StackRole
    account_number: str

    def as_dict(self) -> dict[str, str]:
        """What `list --json` prints for scripts; the account under the TOML's name, `account_id`."""
        return {
            "name": self.name,
            "environment": self.environment,
            "region": self.region,
            "role": self.role,
            "account_id": self.account_number,
        }


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
                role = StackRole.PRIMARY if env.is_primary(region) else StackRole.SECONDARY
                specs.append(StackSpec(naming.stack_name(env.name, region), env.name, region, role, env.account_number))
            specs.append(
                StackSpec(naming.stack_name(env.name, GLOBAL), env.name, GLOBAL, StackRole.EDGE, env.account_number)
            )
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
            raise SelectionError(
                f"unknown environment {environment!r}; choose one of: {', '.join([*self.environments, 'all'])}"
            )
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
        accounts = {e.account_number for e in self.environments.values()} | set(env.trusted_accounts)
        return tuple(sorted(accounts - {env.account_number}))

    def trusted_by(self, env: Environment) -> tuple[str, ...]:
        """Accounts the environment's read-only role trusts: the other environments', the
        configured trusted accounts, the CI account and the deployers; never the environment's
        own (F6). Looking is harmless; deploying is not, see `deployers_of`."""
        accounts = set(self.other_accounts(env)) | set(self.deployers_of(env))
        return tuple(sorted(accounts - {env.account_number}))

    def deployers_of(self, env: Environment) -> tuple[str, ...]:
        """Accounts the environment's deploy role trusts: the CI account and the accounts listed
        in `deployer_account_ids`, nothing else, so an administrator of another environment cannot
        deploy this one (the external id is in the repository and protects nothing). With neither
        configured, only the environment's own account (configuration refuses that for the prod
        profile)."""
        accounts = set(env.deployer_account_ids)
        if self.project.ci_account_id:
            accounts.add(self.project.ci_account_id)
        return tuple(sorted(accounts)) or (env.account_number,)

    def owns_config_recorder(self, env: Environment, region: str) -> bool:
        """One AWS Config recorder per (account, region): the first environment in file order that
        manages recorders and runs in that account and region creates it."""
        if not env.manage_config_recorder:
            return False
        for candidate in self.environments.values():
            if (
                candidate.manage_config_recorder
                and candidate.account_number == env.account_number
                and region in candidate.regions
            ):
                return candidate.name == env.name
        return False

    def provider_role_name(self, env: Environment) -> str:
        """The role the providers assume: the bootstrap role until the deploy roles exist."""
        return self.project.bootstrap_role_name or self.deploy_role_name(env)

    def provider_role_arn(self, env: Environment) -> str:
        """The ARN of the role the providers assume in `env`'s account; operations (smoke,
        doctor) act through the same role, so they see exactly what Terraform created."""
        return role_arn(env.account_number, self.provider_role_name(env))

    def assume_role(
        self, env: Environment, stack_name: str, *, account_number: str | None = None, role_name: str | None = None
    ) -> AssumeRole:
        """How the providers of stack `stack_name` enter an account (`env`'s own unless
        `account_number`, with `role_name` or the provider role), and how `doctor` and `smoke` do,
        so that they succeed or fail exactly as Terraform would: the role ARN, the external id
        its trust policy requires, and the session name rule."""
        return AssumeRole(
            role_arn=role_arn(account_number or env.account_number, role_name or self.provider_role_name(env)),
            external_id=self.project.external_id,
            session_name=f"{self.project.name}-{stack_name}"[:64],
        )

    def dns_account_id(self, env: Environment) -> str:
        return self.project.dns_account_id or env.account_number

    def dns_role_name(self, env: Environment) -> str:
        return self.project.dns_role_name or self.provider_role_name(env)

    def deploy_role_name(self, env: Environment) -> str:
        """The environment's deploy role: configured, or named by the naming helper."""
        return env.deploy_role_name or self.namer(env, GLOBAL).name("deploy", "iam_role")

    def namer(self, env: Environment, region: str) -> naming.Namer:
        return naming.Namer(
            environment=env.name,
            region=region,
            suffix=self.project.suffix,
            project=self.project.name,
            owner=self.project.owner,
            cost_center=self.project.cost_center,
        )


# Reading and validation live in config/loader.py, which builds these objects; its entry points
# stay reachable here (`model.load`, `model.parse`, `model.DEFAULT_CONFIG`...) for the callers.
# Resolved on first use, so that loader.py can import this module without a cycle.
_LOADER_NAMES = ("DEFAULT_CONFIG", "ENV_KEYS", "PROJECT_KEYS", "STATE_KEYS", "TOP_KEYS", "load", "parse")


def __getattr__(name: str) -> Any:
    if name in _LOADER_NAMES:
        from config import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EDGE_REGION",
    "GROUP_TYPES",
    "Alarms",
    "AssumeRole",
    "Config",
    "ConfigError",
    "Database",
    "Dns",
    "Environment",
    "Ingest",
    "Lifecycle",
    "Network",
    "Project",
    "Scaling",
    "SelectionError",
    "StackSpec",
    "StateBackend",
    "instance_architecture",
    *_LOADER_NAMES,
]
