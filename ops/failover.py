"""`failover`: move an environment's database writer to another region, and everything that follows
it (the DNS primary, the recorded `writer_region`), or refuse before changing anything.

Checks first, every one read-only, so a refusal leaves the world as it was:
- bad input (exit 2): an `independent` topology (no replica to promote), a region the environment
  does not use, the region that already holds the writer, a configuration file whose environment
  table cannot be edited safely;
- refusals (exit 3, `Refused`): the target's database is not a replica of the current writer
  (or the target cluster is not a secondary of the global cluster), or is not `available`; the
  target region's Route 53 health check is unhealthy (or missing); the replica lag (CloudWatch,
  the maximum over the last five minutes) exceeds `db_replica_max_lag_seconds`, or is unknown
  because there are no data points ("no data" is never read as zero). `--force` overrides only the
  health and lag refusals, for a real regional disaster: with the writer region down the lag
  metric may well be missing. The checks table says what was overridden.

Then the steps, in this order (`--dry-run` prints them and stops):
1. the database: topology `replica`: `PromoteReadReplica` on the target region's instance, then
   wait (bounded) until it is `available` and no longer names a source; `aurora_global`:
   `SwitchoverGlobalCluster` (planned, both regions healthy, no data loss) or with `--force`
   `FailoverGlobalCluster` with `AllowDataLoss` (the writer region is down), then wait until the
   target cluster is the writer and the global cluster reports no failover in progress;
2. DNS: with failover routing the failover records of `origin.<env domain>` (and of the chain
   `failover-<k>.origin.<env domain>` over three or more regions) are rewritten in one change
   batch, in the order the stacks would write them for the new writer (`Environment.failover_order`
   with the target first, see `failover_records`); with latency or weighted routing every region
   already serves, so nothing changes;
3. the configuration: `writer_region = "<target>"` in the environment's table of the TOML file
   (a text edit that keeps comments and layout, verified by re-loading the file), so the next
   plan agrees with the promotion instead of fighting it (docs/operations.md "Regional failover").

AWS is entered as the target region's stack's providers enter it (`ops.access`), through the
target region's STS endpoint: the writer's region may be the one that is down. Route 53 is global.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import os
import re
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from config import loader
from config.choices import DatabaseTopology, RoutingPolicy
from config.errors import OperationFailed, Refused, SelectionError, UsageError
from config.facts import (
    AURORA_REPLICA_LAG,
    DATABASE_KIND,
    DATABASE_SERVICE,
    HEALTH_CHECK_SERVICE,
    RDS_NAMESPACE,
    RDS_REPLICA_LAG,
)
from config.model import Config, Environment
from config.regions import GLOBAL

LAG_WINDOW = datetime.timedelta(minutes=5)  # the replica lag is the maximum over this window
LAG_PERIOD = 60  # seconds per data point (RDS publishes every minute)
HEALTHY_SHARE = 0.18  # Route 53: healthy when more than 18% of its checkers report success
PROMOTION_TIMEOUT = 1800.0  # seconds; a promotion takes minutes, a large instance longer
POLL_SECONDS = 15.0
ROUTE53_REGION = "us-east-1"  # Route 53 is a global API, served there
FORCE_HINT = "--force overrides this when the writer region is down (docs/operations.md 'Regional failover')"


@dataclass(frozen=True)
class Check:
    """One check made before anything changes: what was looked at and what was found."""

    name: str
    result: str


@dataclass(frozen=True)
class Step:
    """One change: `plan` says what it will do (the dry run prints it), `run` does it and says
    what happened."""

    name: str
    plan: str
    run: Callable[[], str]


@dataclass(frozen=True)
class Plan:
    environment: str
    old_writer: str
    new_writer: str
    checks: tuple[Check, ...]
    steps: tuple[Step, ...]
    overridden: tuple[str, ...]  # the refusals --force overrode, one line each

    def describe(self) -> list[tuple[str, str]]:
        """(step, what it would do) for `--dry-run`: nothing is called."""
        return [(s.name, f"would {s.plan}") for s in self.steps]

    def run(self) -> list[tuple[str, str]]:
        """Run the steps in order; (step, result) for each. A failing step raises OperationFailed
        naming the steps already done, so the operator knows where to continue by hand."""
        done: list[tuple[str, str]] = []
        for step in self.steps:
            try:
                done.append((step.name, step.run()))
            except (BotoCoreError, ClientError, OSError) as exc:  # OSError: writing the configuration
                raise OperationFailed(_after(done, step, f"{type(exc).__name__}: {exc}")) from None
            except OperationFailed as exc:
                raise OperationFailed(_after(done, step, str(exc))) from None
        return done


def _after(done: list[tuple[str, str]], step: Step, reason: str) -> str:
    finished = "; ".join(f"{name}: {result}" for name, result in done) or "nothing"
    return f"failover step '{step.name}' failed ({reason}); done before it: {finished}"


# --------------------------------------------------------------------------- DNS


def chain_name(origin_name: str, level: int) -> str:
    """Level k of the failover chain; the same rule as modules/dns_failover.py (which operations
    cannot import: it starts cdktf), kept in step by tests/test_failover.py."""
    return origin_name if level == 0 else f"failover-{level}.{origin_name}"


@dataclass(frozen=True)
class Target:
    """Where a region's records point: its load balancer (from `<region>.origin.<env domain>`)
    and its health check."""

    dns_name: str
    zone_id: str
    health_check_id: str


def failover_records(
    order: tuple[str, ...], origin_name: str, zone_id: str, targets: dict[str, Target]
) -> list[dict[str, Any]]:
    """The failover records the regional stacks write for `order` (the writer first), as Route 53
    resource record sets: region k is the health-checked PRIMARY of level k (the last region the
    SECONDARY of the last level), and a region in the middle is also the SECONDARY of the level
    above, an alias to its own level. The region is each record's set identifier."""
    records: list[dict[str, Any]] = []
    last = len(order) - 1
    for position, region in enumerate(order):
        target = targets[region]
        level, role = (position, "PRIMARY") if position < last else (position - 1, "SECONDARY")
        records.append(
            {
                "Name": _fqdn(chain_name(origin_name, level)),
                "Type": "A",
                "SetIdentifier": region,
                "Failover": role,
                "AliasTarget": {
                    "HostedZoneId": target.zone_id,
                    "DNSName": _fqdn(target.dns_name),
                    "EvaluateTargetHealth": True,
                },
                "HealthCheckId": target.health_check_id,
            }
        )
        if 0 < position < last:
            records.append(
                {
                    "Name": _fqdn(chain_name(origin_name, position - 1)),
                    "Type": "A",
                    "SetIdentifier": region,
                    "Failover": "SECONDARY",
                    "AliasTarget": {
                        "HostedZoneId": zone_id,
                        "DNSName": _fqdn(chain_name(origin_name, position)),
                        "EvaluateTargetHealth": True,
                    },
                }
            )
    return records


def _fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _key(record: dict[str, Any]) -> tuple[str, str, str]:
    return _fqdn(record["Name"]), record["Type"], record.get("SetIdentifier", "")


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def norm(r: dict[str, Any]) -> tuple:
        alias = r.get("AliasTarget", {})
        return (
            _key(r),
            r.get("Failover"),
            r.get("HealthCheckId"),
            alias.get("HostedZoneId"),
            _fqdn(alias.get("DNSName", "")),
            alias.get("EvaluateTargetHealth"),
        )

    return norm(a) == norm(b)


def record_changes(current: list[dict[str, Any]], desired: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One change batch (Route 53 applies it whole or not at all): delete the failover records the
    new order no longer has, then upsert the members pointing at load balancers before the chain
    aliases that point at them."""
    wanted = {_key(r): r for r in desired}
    have = {_key(r): r for r in current}
    deletes = [{"Action": "DELETE", "ResourceRecordSet": r} for k, r in have.items() if k not in wanted]
    upserts = [r for k, r in wanted.items() if k not in have or not _same(have[k], r)]
    upserts.sort(key=lambda r: "HealthCheckId" not in r)  # members first, chain aliases after
    return deletes + [{"Action": "UPSERT", "ResourceRecordSet": r} for r in upserts]


# --------------------------------------------------------------------------- the configuration file

_ENV_TABLE = re.compile(
    r"""^\s*\[\s*environments\s*\.\s*(?:"(?P<dq>[^"]+)"|'(?P<sq>[^']+)'|(?P<bare>[A-Za-z0-9_-]+))\s*\]\s*(?:\#.*)?$"""
)
_ANY_TABLE = re.compile(r"""^\s*\[\[?\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*(?:\.|\]|$)""")
_WRITER_KEY = re.compile(
    r"""^(?P<head>\s*(?:writer_region|"writer_region"|'writer_region')\s*=\s*)(?P<value>"[^"]*"|'[^']*')(?P<tail>.*)$"""
)


def recorded_writer(path: Path, environment: str, region: str) -> str:
    """The text of the configuration file at `path` with `writer_region = "<region>"` in the table
    `[environments.<environment>]`: the key's value replaced where it is, or the key inserted under
    the table's header; every other byte kept. Verified: the result parses to exactly the old data
    plus the new writer and loads as a valid configuration whose writer is `region`. Raises
    UsageError (nothing written) when the table cannot be found or the edit cannot be verified."""
    with path.open(encoding="utf-8", newline="") as source:  # keep \r\n line endings as they are
        raw = source.read()
    bom = "\ufeff" if raw.startswith("\ufeff") else ""
    text = raw[len(bom) :]
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    header = None
    for index, line in enumerate(lines):
        match = _ENV_TABLE.match(line.rstrip("\r\n"))
        if match and (match["dq"] or match["sq"] or match["bare"]) == environment:
            header = index
            break
    if header is None:
        raise UsageError(
            f"{path}: no [environments.{environment}] table to record the new writer in: "
            f'set writer_region = "{region}" there by hand'
        )
    end = next((i for i in range(header + 1, len(lines)) if _ANY_TABLE.match(lines[i])), len(lines))
    for index in range(header + 1, end):
        body = lines[index].rstrip("\r\n")
        match = _WRITER_KEY.match(body)
        if match:
            lines[index] = f'{match["head"]}"{region}"{match["tail"]}{lines[index][len(body) :]}'
            break
    else:
        ending = lines[header][len(lines[header].rstrip("\r\n")) :] or newline
        if not lines[header].endswith(("\n", "\r")):
            lines[header] += ending
        lines.insert(header + 1, f'writer_region = "{region}"  # recorded by `main.py failover`{ending}')
    new_text = bom + "".join(lines)
    _verify(path, raw, new_text, environment, region)
    return new_text


def _verify(path: Path, old_text: str, new_text: str, environment: str, region: str) -> None:
    hand = f'set writer_region = "{region}" in [environments.{environment}] by hand'
    expected = tomllib.loads(old_text.lstrip("\ufeff"))
    expected["environments"][environment]["writer_region"] = region
    try:
        data = tomllib.loads(new_text.lstrip("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: editing writer_region would break the file ({exc}): {hand}") from None
    if data != expected:
        raise UsageError(f"{path}: editing writer_region would change more than that key: {hand}")
    if loader.parse(copy.deepcopy(data), path).environments[environment].writer_region != region:
        raise UsageError(f"{path}: the edited file does not name {region} as the writer: {hand}")


def write_config(path: Path, text: str, environment: str, region: str) -> str:
    """Replace the file atomically (same folder, same mode), then load it back as `plan` and
    `deploy` will."""
    mode = path.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    writer = loader.load(path).environments[environment].writer_region
    if writer != region:
        raise OperationFailed(f"{path} was written but loads with writer_region = {writer!r}, not {region!r}")
    return f'{path}: writer_region = "{region}" (the next plan and deploy follow it)'


# --------------------------------------------------------------------------- the failover


def rds_identifier(config: Config, env: Environment, region: str) -> str:
    """The database instance of `region` (modules/database.py names it so)."""
    return config.namer(env, region).name(DATABASE_SERVICE, DATABASE_KIND)


def aurora_identifiers(config: Config, env: Environment, region: str) -> tuple[str, str]:
    """(global cluster, `region`'s cluster) of an aurora_global environment (modules/aurora.py)."""
    return (
        config.namer(env, GLOBAL).name(DATABASE_SERVICE, DATABASE_KIND),
        config.namer(env, region).name(DATABASE_SERVICE, DATABASE_KIND),
    )


def _arn_parts(value: str) -> tuple[str, str]:
    """(region, identifier) of an RDS ARN; ("", value) for a bare identifier."""
    parts = value.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "rds":
        return parts[3], parts[-1]
    return "", value


class Failover:
    """The checks and steps of one failover of `env` to `target`. `session` is in the environment's
    account, `dns` where the hosted zone lives (both boto3 sessions or stand-ins with `client`);
    `sleep`, `clock` and `now` are injectable for tests."""

    def __init__(
        self,
        config: Config,
        env: Environment,
        target: str,
        session: Any,
        dns: Any,
        *,
        force: bool = False,
        timeout: float | None = None,
        poll: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ):
        self.config, self.env, self.target = config, env, target
        self.session, self.dns = session, dns
        self.force = force
        self.timeout = PROMOTION_TIMEOUT if timeout is None else timeout
        self.poll = POLL_SECONDS if poll is None else poll
        self.sleep, self.clock, self.now = sleep, clock, now
        self.writer = env.writer_region
        self.order = (target, *(r for r in env.failover_order if r != target))
        self.checks: list[Check] = []
        self.overridden: list[str] = []

    # ---- input

    @staticmethod
    def validate(env: Environment, target: str) -> None:
        """The refusals that need no AWS call (UsageError, exit 2)."""
        if env.database.topology is DatabaseTopology.INDEPENDENT:
            raise UsageError(
                f"environment {env.name!r} has database_topology = 'independent': every region keeps its own "
                "database, there is no replica to promote and nothing to fail over (DNS already routes around "
                "an unhealthy region)"
            )
        if target not in env.regions:
            raise SelectionError(
                f"region {target!r} is not one of environment {env.name}'s regions; choose one of: "
                f"{', '.join(r for r in env.regions if r != env.writer_region)}"
            )
        if target == env.writer_region:
            others = ", ".join(r for r in env.regions if r != target) or "none"
            raise UsageError(
                f"{target} already holds environment {env.name}'s writer: nothing to fail over "
                f"(other regions: {others})"
            )

    def prepare(self) -> Plan:
        """Every check (read-only), then the plan; raises before anything changes."""
        self.validate(self.env, self.target)
        source = self.config.source
        new_text = recorded_writer(source, self.env.name, self.target)
        self._note("configuration", f"{source}: [environments.{self.env.name}] can record the new writer")
        topology = self.env.database.topology
        try:
            if topology is DatabaseTopology.AURORA_GLOBAL:
                database_steps = self._aurora_checks()
            else:
                database_steps = self._replica_checks()
            self._health()
            dns_step = self._dns_step()
        except (BotoCoreError, ClientError) as exc:
            raise OperationFailed(
                f"cannot check the failover of {self.env.name} to {self.target} ({type(exc).__name__}: {exc}); "
                "nothing was changed"
            ) from None
        record = Step(
            "record the writer",
            f'set writer_region = "{self.target}" in [environments.{self.env.name}] of {source}',
            lambda: write_config(source, new_text, self.env.name, self.target),
        )
        return Plan(
            self.env.name,
            self.writer,
            self.target,
            tuple(self.checks),
            # The writer is recorded before DNS: the database has moved by then, and a DNS step that
            # fails must not leave a configuration whose next deploy would fight the promotion (the
            # records are rewritten by that deploy anyway).
            (*database_steps, record, dns_step),
            tuple(self.overridden),
        )

    def _note(self, name: str, result: str) -> None:
        self.checks.append(Check(name, result))

    def _refuse_unless_forced(self, name: str, problem: str) -> None:
        """A health or lag refusal: raised, or with --force recorded as overridden."""
        if not self.force:
            raise Refused(f"refusing to fail over {self.env.name} to {self.target}: {problem}; {FORCE_HINT}")
        self.overridden.append(f"{name}: {problem}")
        self._note(name, f"OVERRIDDEN by --force: {problem}")

    # ---- checks

    def _lag(self, metric: str, dimension: str, identifier: str, unit: float, **extra: str) -> None:
        """The maximum of `metric` over LAG_WINDOW, in seconds (`unit` seconds per metric unit);
        `extra` dimensions complete the series (CloudWatch matches every dimension exactly)."""
        name = f"replica lag of {identifier}"
        end = self.now()
        points = (
            self.session.client("cloudwatch", region_name=self.target)
            .get_metric_statistics(
                Namespace=RDS_NAMESPACE,
                MetricName=metric,
                Dimensions=[
                    {"Name": dimension, "Value": identifier},
                    *({"Name": k, "Value": v} for k, v in extra.items()),
                ],
                StartTime=end - LAG_WINDOW,
                EndTime=end,
                Period=LAG_PERIOD,
                Statistics=["Maximum"],
            )
            .get("Datapoints", [])
        )
        limit = self.env.database.max_lag_seconds
        minutes = int(LAG_WINDOW.total_seconds() // 60)
        if not points:
            self._refuse_unless_forced(
                name,
                f"no {metric} data in the last {minutes} minutes, so the lag is unknown (not zero); when the "
                "writer region is down its replicas may publish no lag at all",
            )
            return
        if any(p["Maximum"] < 0 for p in points):  # RDS reports -1 while replication is not running
            self._refuse_unless_forced(
                name,
                f"{metric} was negative in the last {minutes} minutes: replication was not running, so the lag "
                "is unknown (not zero)",
            )
            return
        lag = max(p["Maximum"] for p in points) * unit
        if lag > limit:
            self._refuse_unless_forced(
                name,
                f"{metric} reached {lag:g} s in the last {minutes} minutes, over db_replica_max_lag_seconds = "
                f"{limit}: writes not yet replicated would be lost",
            )
            return
        self._note(name, f"ok: at most {lag:g} s in the last {minutes} minutes (limit {limit} s)")

    def _health(self) -> None:
        """The target region's Route 53 health check, found by the Name tag its stack gives it."""
        name = self.config.namer(self.env, self.target).name(HEALTH_CHECK_SERVICE)
        check = f"health of {self.target}"
        check_id = self._health_check_id(self.target)
        if check_id is None:
            self._refuse_unless_forced(check, f"no Route 53 health check tagged Name={name}: is the stack deployed?")
            return
        route53 = self.dns.client("route53", region_name=ROUTE53_REGION)
        observations = route53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
        reports = [o.get("StatusReport", {}).get("Status", "") for o in observations]
        healthy = [r for r in reports if r.startswith("Success")]
        if not reports or len(healthy) <= HEALTHY_SHARE * len(reports):
            failing = next((r for r in reports if not r.startswith("Success")), "no observations")
            self._refuse_unless_forced(
                check,
                f"Route 53 health check {name} is unhealthy ({len(reports) - len(healthy)} of {len(reports)} "
                f"checkers fail, e.g. {failing[:120]})",
            )
            return
        self._note(check, f"ok: {name} healthy for {len(healthy)} of {len(reports)} checkers")

    def _health_check_id(self, region: str) -> str | None:
        name = self.config.namer(self.env, region).name(HEALTH_CHECK_SERVICE)
        route53 = self.dns.client("route53", region_name=ROUTE53_REGION)
        ids = [h["Id"] for page in route53.get_paginator("list_health_checks").paginate() for h in page["HealthChecks"]]
        for start in range(0, len(ids), 10):  # ListTagsForResources takes at most 10 ids
            tagged = route53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=ids[start : start + 10])
            for item in tagged["ResourceTagSets"]:
                if {"Key": "Name", "Value": name} in item.get("Tags", []):
                    return item["ResourceId"]
        return None

    def _replica_checks(self) -> list[Step]:
        rds = self.session.client("rds", region_name=self.target)
        identifier = rds_identifier(self.config, self.env, self.target)
        writer_id = rds_identifier(self.config, self.env, self.writer)
        try:
            instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "DBInstanceNotFound":
                raise
            raise Refused(f"refusing: {self.target} has no database instance {identifier}") from None
        source = instance.get("ReadReplicaSourceDBInstanceIdentifier", "")
        region, source_id = _arn_parts(source)
        if not source or source_id != writer_id or region not in ("", self.writer):
            found = f"replicates {source}" if source else "is not a replica"
            raise Refused(
                f"refusing: {identifier} in {self.target} {found}, not the writer {writer_id} in {self.writer}; "
                "promoting it would not carry the environment's data"
            )
        status = instance.get("DBInstanceStatus", "")
        if status != "available":
            raise Refused(f"refusing: {identifier} in {self.target} is '{status}', not 'available'")
        self._note("database", f"ok: {identifier} is an available replica of {writer_id} ({self.writer})")
        self._lag(RDS_REPLICA_LAG.name, RDS_REPLICA_LAG.dimension, identifier, 1 / RDS_REPLICA_LAG.per_second)
        retention = self.env.database.backup_retention_days
        promote = {"DBInstanceIdentifier": identifier, **({"BackupRetentionPeriod": retention} if retention else {})}
        return [
            Step(
                "promote",
                f"promote the read replica {identifier} in {self.target} (PromoteReadReplica, backups kept "
                f"{retention} days)",
                lambda: (rds.promote_read_replica(**promote), f"PromoteReadReplica {identifier} accepted")[1],
            ),
            Step(
                "wait",
                f"wait until {identifier} is available and no longer a replica (at most {self.timeout:g} s)",
                lambda: self._wait(f"{identifier} promotion", lambda: self._promoted(rds, identifier)),
            ),
        ]

    @staticmethod
    def _promoted(rds: Any, identifier: str) -> tuple[bool, str]:
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
        status, source = instance.get("DBInstanceStatus", ""), instance.get("ReadReplicaSourceDBInstanceIdentifier")
        if source:
            return False, f"'{status}', still replicating {source}"
        return status == "available", f"'{status}', standalone"

    def _aurora_checks(self) -> list[Step]:
        rds = self.session.client("rds", region_name=self.target)
        global_id, cluster_id = aurora_identifiers(self.config, self.env, self.target)
        try:
            cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
            members = rds.describe_global_clusters(GlobalClusterIdentifier=global_id)["GlobalClusters"][0][
                "GlobalClusterMembers"
            ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in (
                "DBClusterNotFoundFault",
                "GlobalClusterNotFoundFault",
            ):
                raise
            raise Refused(f"refusing: no Aurora cluster {cluster_id} in global cluster {global_id}") from None
        arn = cluster["DBClusterArn"]
        member = next((m for m in members if m.get("DBClusterArn") == arn), None)
        writers = [_arn_parts(m["DBClusterArn"])[0] for m in members if m.get("IsWriter")]
        if member is None or member.get("IsWriter") or writers != [self.writer]:
            raise Refused(
                f"refusing: {cluster_id} in {self.target} is not a secondary of global cluster {global_id} "
                f"whose writer is in {self.writer} (writers found: {', '.join(writers) or 'none'})"
            )
        status = cluster.get("Status", "")
        if status != "available":
            raise Refused(f"refusing: {cluster_id} in {self.target} is '{status}', not 'available'")
        self._note("database", f"ok: {cluster_id} is an available secondary of {global_id} (writer in {self.writer})")
        # milliseconds, per secondary cluster and source (the writer's) region
        metric = AURORA_REPLICA_LAG
        self._lag(
            metric.name, metric.dimension, cluster_id, 1 / metric.per_second, **{metric.source_dimension: self.writer}
        )
        if self.force:
            action, call = (
                "FailoverGlobalCluster with AllowDataLoss (the writer region is down: writes not yet "
                "replicated are lost)",
                lambda: rds.failover_global_cluster(
                    GlobalClusterIdentifier=global_id, TargetDbClusterIdentifier=arn, AllowDataLoss=True
                ),
            )
        else:
            action, call = (
                "SwitchoverGlobalCluster (planned: both regions healthy, no data loss)",
                lambda: rds.switchover_global_cluster(GlobalClusterIdentifier=global_id, TargetDbClusterIdentifier=arn),
            )
        return [
            Step(
                "switch the writer",
                f"make {cluster_id} in {self.target} the writer of {global_id}: {action}",
                lambda: (call(), f"{action.split(' ')[0]} {global_id} -> {cluster_id} accepted")[1],
            ),
            Step(
                "wait",
                f"wait until {cluster_id} is the writer and no failover is in progress (at most {self.timeout:g} s)",
                lambda: self._wait(f"{global_id} switch", lambda: self._switched(rds, global_id, arn)),
            ),
        ]

    @staticmethod
    def _switched(rds: Any, global_id: str, arn: str) -> tuple[bool, str]:
        cluster = rds.describe_global_clusters(GlobalClusterIdentifier=global_id)["GlobalClusters"][0]
        state = (cluster.get("FailoverState") or {}).get("Status")
        writer = any(m.get("IsWriter") for m in cluster["GlobalClusterMembers"] if m.get("DBClusterArn") == arn)
        return writer and not state, f"writer here: {writer}, failover state: {state or 'none'}"

    def _wait(self, what: str, probe: Callable[[], tuple[bool, str]]) -> str:
        deadline = self.clock() + self.timeout
        while True:
            done, state = probe()
            if done:
                return state
            if self.clock() >= deadline:
                raise OperationFailed(f"{what}: still {state} after {self.timeout:g} s; watch it in the RDS console")
            self.sleep(self.poll)

    def _dns_step(self) -> Step:
        policy = self.env.dns.routing_policy
        if policy != RoutingPolicy.FAILOVER:
            self._note("DNS", f"ok: {policy} routing, every healthy region already serves origin.{self.env.domain}")
            return Step(
                "DNS",
                f"change no record ({policy} routing: every region already answers for {self.env.origin_domain})",
                lambda: f"no change: {policy} routing already sends viewers to every healthy region",
            )
        route53 = self.dns.client("route53", region_name=ROUTE53_REGION)
        zone = self._zone_id(route53)
        targets = {r: self._target(route53, zone, r) for r in self.order}
        desired = failover_records(self.order, self.env.origin_domain, zone, targets)
        names = {_fqdn(chain_name(self.env.origin_domain, k)) for k in range(max(1, len(self.order) - 1))}
        current = [
            r
            for r in self._records(route53, zone, sorted(names))
            if r.get("SetIdentifier") in self.env.regions and r.get("Failover")
        ]
        changes = record_changes(current, desired)
        self._note("DNS", f"ok: zone {zone}, {len(current)} failover records of {self.env.origin_domain} found")
        order = " > ".join(self.order)
        return Step(
            "DNS",
            f"rewrite {len(changes)} failover records of {self.env.origin_domain} in one change batch: {order}",
            lambda: self._change(route53, zone, changes, order),
        )

    def _change(self, route53: Any, zone: str, changes: list[dict[str, Any]], order: str) -> str:
        info = route53.change_resource_record_sets(
            HostedZoneId=zone,
            ChangeBatch={"Comment": f"failover of {self.env.name} to {self.target}", "Changes": changes},
        )["ChangeInfo"]
        self._wait(
            f"Route 53 change {info['Id']}",
            lambda: (
                (status := route53.get_change(Id=info["Id"])["ChangeInfo"]["Status"]) == "INSYNC",
                status,
            ),
        )
        return f"{len(changes)} changes INSYNC; {self.env.origin_domain} fails over {order}"

    def _zone_id(self, route53: Any) -> str:
        if self.config.project.hosted_zone_id:
            return self.config.project.hosted_zone_id
        domain = _fqdn(self.config.project.domain)
        zones = route53.list_hosted_zones_by_name(DNSName=domain)["HostedZones"]
        for zone in zones:
            if zone["Name"].lower() == domain and not zone.get("Config", {}).get("PrivateZone"):
                return zone["Id"].rsplit("/", 1)[-1]
        raise Refused(f"refusing: no public hosted zone {domain} (project.domain) in the DNS account")

    def _records(self, route53: Any, zone: str, names: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for name in names:
            pages = route53.get_paginator("list_resource_record_sets").paginate(
                HostedZoneId=zone, StartRecordName=name, StartRecordType="A"
            )
            for page in pages:
                batch = [r for r in page["ResourceRecordSets"] if _fqdn(r["Name"]) == name and r["Type"] == "A"]
                found.extend(batch)
                if len(batch) < len(page["ResourceRecordSets"]):
                    break  # past the name: the listing is sorted
        return found

    def _target(self, route53: Any, zone: str, region: str) -> Target:
        name = _fqdn(self.env.regional_origin_domain(region))
        record = next(iter(self._records(route53, zone, [name])), None)
        check_id = self._health_check_id(region)
        if record is None or "AliasTarget" not in record or check_id is None:
            raise Refused(f"refusing: {region} has no alias record {name} or no health check: is its stack deployed?")
        alias = record["AliasTarget"]
        return Target(alias["DNSName"], alias["HostedZoneId"], check_id)


def prepare(config: Config, environment: str, target: str, base: Any, *, force: bool = False, **options: Any) -> Plan:
    """The checked plan of failing `environment` over to `target`, entering AWS from the operator's
    `base` session as the target region's stack's providers do (never through the writer region's
    STS endpoint, which may be down). Bad input is refused before any AWS call."""
    from ops.smoke import sessions

    config.select(environment)  # an unknown environment: SelectionError listing the choices
    env = config.environments[environment]
    Failover.validate(env, target)
    session, dns = sessions(config, dataclasses.replace(env, writer_region=target), base)
    return Failover(config, env, target, session, dns, force=force, **options).prepare()


def next_steps(plan: Plan, config: Config) -> str:
    """What the operator does after a failover (printed after the table)."""
    env = config.environments[plan.environment]
    back = f"fail back later with `python main.py failover --env {plan.environment} --to {plan.old_writer}`"
    guide = "docs/operations.md 'Regional failover'"
    if env.database.topology is DatabaseTopology.AURORA_GLOBAL:
        return (
            f"{plan.new_writer} now holds {plan.environment}'s writer; every secondary follows it. Next: "
            f"`python main.py deploy --env {plan.environment}` moves the global cluster to the new writer's "
            f"stack and gives it its bootstrap secret ({guide}); {back}."
        )
    stale = [r for r in env.regions if r != plan.new_writer]
    names = ", ".join(rds_identifier(config, env, r) for r in stale)
    protection = (
        f"deletion protection is on: turn it off on {rds_identifier(config, env, plan.old_writer)} first "
        "(`aws rds modify-db-instance --no-deletion-protection --apply-immediately`), then "
        if env.deletion_protection
        else ""
    )
    return (
        f"{plan.new_writer} now holds {plan.environment}'s writer. The next deploy replaces {names} with "
        f"replicas of {plan.new_writer} (RDS cannot re-point a replica or demote a writer): {protection}"
        f"`python main.py deploy --env {plan.environment}`, read the plan's replacements, and apply it with "
        f"--allow-destroy ({guide}); then {back}."
    )
