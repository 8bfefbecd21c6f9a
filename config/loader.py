"""Read and validate the TOML configuration (R16) into the model (config/model.py).

The TOML contract (`[project]`, `[environments.<name>]`, `[state]`) is the tool's public
interface; its keys, checks and defaults are the tables of config/settings.py. Loading either
returns a fully-resolved, typed `Config` (every default applied, every VPC CIDR allocated) or
raises `ConfigError` carrying one line per problem: `<file>: <key>: <what is wrong>; <what is
allowed>`. Nothing downstream re-validates, and nothing here raises anything else, whatever the
input (a property-based test holds us to it). This module checks what a single key cannot: the
rules between keys, between environments, and the names and CIDRs they lead to.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from config import naming, network, settings
from config.checks import Check, describe, one_of, parse_cidr
from config.choices import Backend, DatabaseTopology, Profile, RoutingPolicy
from config.facts import AURORA_POSTGRES_VERSIONS
from config.model import GROUP_TYPES, Config, ConfigError, Environment, Project, StateBackend
from config.regions import GLOBAL

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")

RESERVED_ENVIRONMENT_NAMES = ("all", GLOBAL)
_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{1,9}$")
# Names that say "production" (prod2, prodeu, prd, live, production...): such an environment must
# choose its profile explicitly rather than silently get the dev profile's cheap defaults.
# Anchored at either end, so ordinary words that merely contain the letters (delivery, olive,
# reproduce) are not caught.
_PRODUCTION_LIKE = re.compile(r"^(prod|prd|live)|(prod|prd)\d*$")
# The instance classes Aurora global databases run on (memory-optimized; no burstable db.t*).
AURORA_CLASS = re.compile(r"^db\.(r5|r6g|r6i|r7g|r7i|r8g|x2g)\.")

PROJECT_KEYS = settings.PROJECT_KEYS
STATE_KEYS = settings.STATE_KEYS
ENV_KEYS = settings.ENVIRONMENT_KEYS
TOP_KEYS = ("project", "environments", "state")


# --------------------------------------------------------------------------- reading

_MISSING = object()


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

    def setting(self, table: dict, setting: settings.Setting, path: str, profile: Profile | None = None) -> Any:
        """The value of a key of the settings table: `value` with its kind, default and check."""
        default = setting.default(profile)
        return self.value(
            table, setting.key, path, setting.kind, _MISSING if default is settings.REQUIRED else default, setting.check
        )

    def value(
        self, table: dict, key: str, path: str, kind: type | tuple, default: Any = _MISSING, check: Check | None = None
    ) -> Any:
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


_describe = describe


# --------------------------------------------------------------------------- loading


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
    values = _read_table(r, table, settings.PROJECT, "project")
    return None if values is None else Project(**values)


def _read_state(r: _Reader, data: dict) -> StateBackend | None:
    """The optional `[state]` table (absent: every default, local state files)."""
    table = r.table(data, "state", "state", required=False)
    if table is None:
        if "state" in data:
            return None
        table = {}
    r.unknown_keys(table, STATE_KEYS, "state")
    values = _read_table(r, table, settings.STATE, "state")
    backend = table.get("backend", Backend.LOCAL)
    if backend == Backend.S3:
        for key in ("bucket", "region"):
            if key not in table:
                r.problem(f"state.{key}", f'missing; required when backend = "{Backend.S3}"')
    elif backend == Backend.LOCAL:
        for key in ("bucket", "region", "key_prefix"):
            if key in table:
                r.problem(f"state.{key}", f'only applies to backend = "{Backend.S3}"; remove it or set backend = "s3"')
    return None if values is None else StateBackend(**values)


def _read_table(r: _Reader, table: dict, keys: tuple[settings.Setting, ...], path: str) -> dict[str, Any] | None:
    """The values of a one-default table (`[project]`, `[state]`), each read with its Setting's
    kind, default, check and conversion. None when a key that must have a value (required, or with
    a default) is missing or invalid; an invalid optional key is reported and read as None, so the
    checks that follow still report what else is wrong."""
    values = {s.key: r.setting(table, s, path) for s in keys}
    if any(values[s.key] is None and s.default() is not None for s in keys):
        return None
    return {s.key: _converted(s, values[s.key]) for s in keys}


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
            r.problem(
                path,
                f"environment name {name!r} is invalid; allowed: 2-10 lower-case letters and "
                f"digits starting with a letter, not {' or '.join(RESERVED_ENVIRONMENT_NAMES)}",
            )
            name_ok = False
        if not isinstance(env_table, dict):
            r.problem(path, f"must be a table, got {_describe(env_table)}")
            continue
        env = _read_environment(r, name, env_table, path)
        if env is not None and name_ok:
            environments[name] = env
    if len(environments) == len(table):
        environments = _allocate_cidrs(r, environments, project)
    if project is not None:
        environments = {name: _resolve_domain(r, env, project) for name, env in environments.items()}
        for env in environments.values():
            if project.ci_account_id == env.account_number:
                r.problem(
                    "project.ci_account_id",
                    f"is environment {env.name!r}'s own account; cross-account "
                    "trust must name another account (a dedicated CI account)",
                )
            deployers = set(env.deployer_account_ids) | ({project.ci_account_id} if project.ci_account_id else set())
            if env.profile == Profile.PROD and not deployers:
                r.problem(
                    f"environments.{env.name}.deployer_account_ids",
                    "a prod-profile environment needs a deployer its deploy role trusts; set "
                    "project.ci_account_id (the account CI deploys from) or list the accounts allowed to "
                    f'deploy here, e.g. deployer_account_ids = ["{env.account_number}"] for this account only',
                )
            trusted = ({e.account_number for e in environments.values()} | set(env.trusted_accounts) | deployers) - {
                env.account_number
            }
            if not trusted:  # IAM refuses a trust policy without principals
                r.problem(
                    f"environments.{env.name}",
                    f"its read-only role would trust no account (no other "
                    f"environment's account, no trusted_accounts, "
                    f"deployer_account_ids or project.ci_account_id besides "
                    f"{env.account_number}); set project.ci_account_id, "
                    "deployer_account_ids or trusted_accounts",
                )
        _check_name_lengths(r, environments, project)
        _check_dns_names(r, environments, project)
    return environments


def _resolve_domain(r: _Reader, env: Environment, project: Project) -> Environment:
    """`<env>.<domain>`, except the prod profile, which serves the apex `<domain>`; an explicit
    `domain` must lie inside the project's hosted zone."""
    for alias in env.viewer_aliases:
        if alias != project.domain and not alias.endswith(f".{project.domain}"):
            r.problem(
                f"environments.{env.name}.viewer_aliases",
                f"{alias!r} is outside the hosted zone "
                f"{project.domain!r}; the certificate validation and "
                "records are created there",
            )
    if not env.domain:
        return replace(env, domain=project.domain if env.profile == Profile.PROD else f"{env.name}.{project.domain}")
    if env.domain != project.domain and not env.domain.endswith(f".{project.domain}"):
        r.problem(
            f"environments.{env.name}.domain",
            f"{env.domain!r} is outside the hosted zone "
            f"{project.domain!r}; allowed: {project.domain} or a name under it",
        )
    return env


def _read_environment(r: _Reader, name: str, table: dict, path: str) -> Environment | None:
    r.unknown_keys(table, ENV_KEYS, path)
    profiles = settings.PROFILE_NAMES
    if name not in profiles and "profile" not in table and _PRODUCTION_LIKE.search(name):
        r.problem(
            f"{path}.profile",
            f"missing; {name!r} looks like a production environment, and without a profile "
            "it would get the dev profile's defaults (force_destroy, one NAT gateway, "
            'no deletion protection): set profile = "prod" (or "staging" or "dev" '
            "if it is not production)",
        )
        return None
    profile = r.value(table, "profile", path, str, name if name in profiles else Profile.DEV, one_of(profiles))
    read = {
        s.key: r.setting(table, s, path, Profile(profile or Profile.DEV))
        for s in settings.ENVIRONMENT
        if s.key != "profile"
    }
    cidrs_ok = _check_cidr_overrides(r, read, path)
    # None is a problem already reported, except for a key whose default is None (deploy_role_name,
    # then the naming helper's name) and that was not set.
    invalid = [
        s.key
        for s in settings.ENVIRONMENT
        if s.key != "profile" and read[s.key] is None and (s.default() is not None or s.key in table)
    ]
    if profile is None or invalid or not cidrs_ok or not _cross_checks(r, read, Profile(profile), path):
        return None
    _resolve_derived_defaults(read)
    values = {s.field: _converted(s, read[s.key]) for s in settings.ENVIRONMENT if s.key != "profile"}
    groups = {
        group: kind(**{s.field: values.pop(s.field) for s in settings.ENVIRONMENT if s.group == group})
        for group, kind in GROUP_TYPES.items()
    }
    values["cidrs"] = MappingProxyType({k: str(c) for k, c in values["cidrs"].items()})
    recorded = table.get("writer_region") is not None
    return Environment(name=name, profile=Profile(profile), writer_recorded=recorded, **groups, **values)


def _resolve_derived_defaults(v: dict[str, Any]) -> None:
    """The defaults that follow other keys (the settings table shows them in words): the writer is
    the first region; viewers go to the closest healthy region when every region holds the data,
    else (independent databases) to the writer's region first."""
    if v["writer_region"] is None:
        v["writer_region"] = v["regions"][0]
    if v["dns_routing_policy"] is None:
        replicated = DatabaseTopology(v["database_topology"]).replicated
        v["dns_routing_policy"] = RoutingPolicy.LATENCY if replicated else RoutingPolicy.FAILOVER


def _converted(setting: settings.Setting, value: Any) -> Any:
    """A checked TOML value as the model holds it: lists become tuples, closed sets enums."""
    if setting.convert is not None and value is not None:
        return setting.convert(value)
    return tuple(value) if isinstance(value, list) else value


def _check_cidr_overrides(r: _Reader, v: dict[str, Any], path: str) -> bool:
    ok = v["cidrs"] is not None
    for region, cidr in (v["cidrs"] or {}).items():
        message = _cidr_override_problem(region, cidr, v["regions"] or [])
        if message:
            r.problem(f"{path}.cidrs.{region}", message)
            ok = False
    return ok


def _cross_checks(r: _Reader, v: dict[str, Any], profile: Profile, path: str) -> bool:
    """The rules between keys of one environment: the first broken one is reported."""
    if not v["min_capacity"] <= v["instance_count"] <= v["max_capacity"]:
        r.problem(
            f"{path}.instance_count",
            f"{v['instance_count']} must lie between min_capacity "
            f"({v['min_capacity']}) and max_capacity ({v['max_capacity']})",
        )
        return False
    if profile == Profile.PROD and (v["db_skip_final_snapshot"] or v["db_backup_retention_days"] < 14):
        r.problem(
            f"{path}.db_backup_retention_days"
            if v["db_backup_retention_days"] < 14
            else f"{path}.db_skip_final_snapshot",
            "a prod-profile database keeps backups for at least 14 days and always takes a final snapshot",
        )
        return False
    if v["db_max_allocated_storage"] < v["db_allocated_storage"]:
        r.problem(
            f"{path}.db_max_allocated_storage",
            f"{v['db_max_allocated_storage']} is below db_allocated_storage ({v['db_allocated_storage']})",
        )
        return False
    if v["force_destroy"] and profile == Profile.PROD:
        r.problem(
            f"{path}.force_destroy",
            "true is not allowed for a prod-profile environment; "
            "buckets holding production data must never be force-destroyed",
        )
        return False
    if not v["noncurrent_ia_days"] + 30 <= v["noncurrent_glacier_ir_days"] < v["noncurrent_expire_days"]:
        r.problem(
            f"{path}.noncurrent_glacier_ir_days",
            f"lifecycle days must grow: noncurrent_ia_days ({v['noncurrent_ia_days']}) + 30 <= "
            f"noncurrent_glacier_ir_days ({v['noncurrent_glacier_ir_days']}) < noncurrent_expire_days "
            f"({v['noncurrent_expire_days']}), since S3 keeps objects 30 days in Standard-IA",
        )
        return False
    if v["account_id"] in v["trusted_accounts"]:
        r.problem(
            f"{path}.trusted_accounts",
            f"names the environment's own account {v['account_id']}; cross-account trust must name other accounts only",
        )
        return False
    if v["writer_region"] is not None and v["writer_region"] not in v["regions"]:
        r.problem(
            f"{path}.writer_region",
            f"{v['writer_region']!r} is not one of this environment's regions ({', '.join(v['regions'])})",
        )
        return False
    if v["database_topology"] == DatabaseTopology.AURORA_GLOBAL and not AURORA_CLASS.match(v["db_instance_class"]):
        r.problem(
            f"{path}.db_instance_class",
            f"{v['db_instance_class']!r} cannot run an Aurora global database, which needs a memory-optimized "
            'class (db.r5, db.r6g, db.r6i, db.r7g, db.r7i, db.r8g or db.x2g): set db_instance_class = "db.r6g.large"',
        )
        return False
    if (
        v["database_topology"] == DatabaseTopology.AURORA_GLOBAL
        and v["db_engine_version"] not in AURORA_POSTGRES_VERSIONS
    ):
        known = ", ".join(AURORA_POSTGRES_VERSIONS)
        r.problem(
            f"{path}.db_engine_version",
            f"{v['db_engine_version']!r}: Aurora PostgreSQL has no version {v['db_engine_version']} this tool "
            f'knows; database_topology = "aurora_global" supports {known}: '
            f'set db_engine_version = "{list(AURORA_POSTGRES_VERSIONS)[-1]}"',
        )
        return False
    if v["dns_routing_policy"] == RoutingPolicy.WEIGHTED and set(v["dns_weights"]) != set(v["regions"]):
        r.problem(
            f"{path}.dns_weights",
            "weighted routing needs a weight for every region "
            f"({', '.join(v['regions'])}), "
            f"got {', '.join(v['dns_weights']) or 'none'}",
        )
        return False
    if v["dns_weights"] and v["dns_routing_policy"] != RoutingPolicy.WEIGHTED:
        r.problem(f"{path}.dns_weights", 'only applies to dns_routing_policy = "weighted"')
        return False
    return True


def _cidr_override_problem(region: str, cidr: Any, regions: list[str]) -> str | None:
    if region not in regions:
        return f"is not one of this environment's regions ({', '.join(regions)})"
    if not isinstance(cidr, str):
        return f'must be a string such as "10.20.0.0/16", got {_describe(cidr)}'
    net, message = parse_cidr(cidr)
    if message is None and not network.MIN_PREFIX <= net.prefixlen <= network.MAX_PREFIX:
        message = f"{cidr} has prefix /{net.prefixlen}; allowed: /{network.MIN_PREFIX} to /{network.MAX_PREFIX}"
    return message


def _allocate_cidrs(
    r: _Reader, environments: dict[str, Environment], project: Project | None
) -> dict[str, Environment]:
    """The environments with every region's CIDR filled in; overlaps anywhere rejected (R1)."""
    supernet = ipaddress.IPv4Network(
        project.cidr_supernet if project else settings.PROJECT_SETTINGS["cidr_supernet"].default()
    )
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
                r.problem(
                    label,
                    f"no automatic CIDR for the environment #{index + 1}; only the first "
                    f"{network.MAX_ENVIRONMENTS} get one: set cidrs.{region} explicitly",
                )
    for a, b in network.overlaps(blocks):
        culprit, other = (a, b) if a in overridden else (b, a)
        how = "set" if other in overridden else "allocated automatically"
        r.problem(
            culprit,
            f"{blocks[culprit]} overlaps {other} ({blocks[other]}, {how}); "
            "every VPC needs its own block: choose a free one",
        )
    if r.problems:
        return environments
    return {
        name: replace(
            env,
            cidrs=MappingProxyType(
                {region: str(blocks[f"environments.{env.name}.cidrs.{region}"]) for region in env.regions}
            ),
        )
        for name, env in environments.items()
    }


def _check_name_lengths(r: _Reader, environments: dict[str, Environment], project: Project) -> None:
    """Prove the tightest AWS name limit holds for every environment x region."""
    for env in environments.values():
        for region in env.regions:
            namer = naming.Namer(env.name, region, project.suffix)
            try:
                namer.name(naming.TIGHTEST_SERVICE, naming.TIGHTEST_KIND)
                namer.bucket(naming.LONGEST_BUCKET_SERVICE, env.account_number)
            except naming.NamingError as exc:
                r.problem(f"environments.{env.name}", f"too long for {region}: {exc}")


def _check_dns_names(r: _Reader, environments: dict[str, Environment], project: Project) -> None:
    """ACM rejects a certificate whose first name exceeds 64 characters."""
    for env in environments.values():
        longest = f"origin.{env.domain}"
        if len(longest) > 64:
            r.problem(
                f"environments.{env.name}",
                f"{longest!r} is {len(longest)} characters; ACM allows 64 for a "
                "certificate's first name: use a shorter domain",
            )
