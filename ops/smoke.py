"""Post-deployment smoke test (D4): does the deployed environment actually work?

It probes from where an operator really stands, outside the VPC and without network access to it:
the load balancers admit only CloudFront and the Route 53 health checkers, and the database sits in
isolated subnets, so nothing here ever connects to a load balancer or a database address.

Per region: upload a probe under `incoming/` and wait (bounded) for the ingest function's manifest;
the region's Route 53 health check (found by its Name tag from the naming helper) as the health
checkers see it; the database through the instances: SSM Run Command on one running web instance
asks its own `http://127.0.0.1:<port>/ready` (which answers 200 only when the database does, with
its role, writer or replica, and a replica's lag) and the command's output is read back; the role
must be the one the stack's `db_role` output says (else a failover happened that the stacks do
not know of, or the reverse); the environment's alarms exist, the region's health-check alarm
in us-east-1 of the hosted zone's account included. Regions whose stack holds the writer go
first: the writer's instances create the application's database role, which reaches the
replicas by replication. Once: HTTPS GET of the health
path on the viewer name, which is CloudFront. Probe objects (every version) are removed afterwards.
AWS calls go through boto3, so the standard `AWS_ENDPOINT_URL` and credential settings apply
(tests point them at moto).
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

import webapp
from config import naming
from config.errors import EnvironmentProblem, UsageError
from config.facts import ALARM_ORIGIN_UNHEALTHY, ALARMS, HEALTH_CHECK_SERVICE, DbRole, RegionalOutput
from config.model import Config, Environment
from ops import access

# Route 53 considers an endpoint healthy when more than 18% of its health checkers report it healthy.
HEALTHY_SHARE = 0.18
# SSM command states that are not final (GetCommandInvocation); anything else is the outcome.
SSM_PENDING = ("Pending", "InProgress", "Delayed", "Cancelling")
COMMAND_SECONDS = 30  # executionTimeout of the probe on the instance: the agent ends it after this


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def parse_resolve(values: list[str]) -> dict[str, tuple[str, int]]:
    """`NAME=ADDRESS:PORT` entries (like curl's --connect-to): connect to ADDRESS:PORT whenever a
    probe would connect to NAME, still presenting NAME for TLS. Raises UsageError (a ValueError,
    exit 2) on bad entries."""
    mapping = {}
    for value in values:
        name, _, target = value.partition("=")
        address, _, port = target.rpartition(":")
        if not name or not address or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageError(f"--resolve {value!r}: expected NAME=ADDRESS:PORT, e.g. app.example.com=127.0.0.1:8443")
        mapping[name] = (address, int(port))
    return mapping


def https_status(
    host: str,
    path: str,
    address: tuple[str, int] | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 10,
) -> int:
    """Status code of GET https://host/path (certificate verified against `host`)."""
    context = context or ssl.create_default_context()
    with (
        socket.create_connection(address or (host, 443), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: platform-smoke\r\nConnection: close\r\n\r\n".encode()
        )
        first = tls.makefile("rb").readline().decode("latin-1")
    parts = first.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"not an HTTP response: {first[:60]!r}")
    return int(parts[1])


CURL_SECONDS = 10  # one readiness request on the instance
READY_TRIES = 10  # /ready says "checking" while a check in progress outlasts its bounded wait


def ready_script(port: int = webapp.PORT, tries: int = READY_TRIES) -> str:
    """The shell the instance runs: its own readiness endpoint on loopback (curl is in Amazon Linux
    2023's base image). The last output line is `HTTP <status>`; curl fails (exit != 0) only when
    nothing answers, so a 503 still comes back with the webapp's explanation in the body. A caller
    arriving during a check waits for it only a moment (webapp.server.READY_WAIT, so callers never
    queue on a slow database) and is then told "checking": the script asks again, a second apart,
    up to `tries` times."""
    curl = (
        f"curl --silent --show-error --max-time {CURL_SECONDS} --write-out '\\nHTTP %{{http_code}}\\n' "
        f"http://127.0.0.1:{port}{webapp.READY_PATH}"
    )
    return (
        f"for try in $(seq {tries}); do out=$({curl}); status=$?; "
        'case "$out" in *\'"checking"\'*) sleep 1;; *) break;; esac; done; '
        "printf '%s\\n' \"$out\"; exit $status"
    )


def _output(outputs: dict, name: RegionalOutput) -> str:
    if name not in outputs:
        raise SmokeFailure(
            f"the stack has no output {str(name)!r}: is it deployed? (main.py outputs shows its outputs)"
        )
    return outputs[name]


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


class Smoke:
    """`session` acts in the environment's account, `dns_session` in the hosted zone's account
    (where the Route 53 health checks live; the same session when that is the environment's)."""

    def __init__(
        self,
        config: Config,
        env: Environment,
        regions: list[str],
        outputs: dict[str, dict],
        session: Any,
        resolve: dict[str, tuple[str, int]] | None = None,
        context: ssl.SSLContext | None = None,
        timeout: float = 120,
        poll: float = 2,
        sleep: Callable[[float], None] = time.sleep,
        dns_session: Any = None,
    ):
        self.config, self.env, self.regions, self.outputs = config, env, regions, outputs
        self.session, self.resolve, self.context = session, resolve or {}, context
        self.dns_session = dns_session or session
        self.timeout, self.poll, self.sleep = timeout, poll, sleep

    def run(self) -> list[Check]:
        checks = []
        for region in sorted(self.regions, key=lambda r: self._outputs(r).get(RegionalOutput.DB_ROLE) != DbRole.WRITER):
            outputs = self._outputs(region)
            checks.append(self._guard(f"{region}: ingest", self.ingest, region, outputs))
            checks.append(self._guard(f"{region}: Route 53 health check", self.health_check, region))
            checks.append(self._guard(f"{region}: database (/ready on an instance, SSM)", self.ready, region, outputs))
            checks.append(self._guard(f"{region}: alarms", self.alarms, region))
        viewer = self.env.app_domain
        checks.append(self._guard(f"https://{viewer}{webapp.HEALTH_PATH} (CloudFront)", self.viewer, viewer))
        return checks

    def _outputs(self, region: str) -> dict:
        return self.outputs.get(naming.stack_name(self.env.name, region), {})

    @staticmethod
    def _guard(name: str, check: Callable[..., str], *args: Any) -> Check:
        try:
            return Check(name, True, check(*args))
        except SmokeFailure as exc:
            return Check(name, False, str(exc))
        except (ClientError, BotoCoreError, OSError, ValueError, KeyError) as exc:
            return Check(name, False, _one_line(f"{type(exc).__name__}: {exc}", 300))

    def ingest(self, region: str, outputs: dict) -> str:
        bucket = _output(outputs, RegionalOutput.INGEST_BUCKET_NAME)
        s3 = self.session.client("s3", region_name=region)
        name = f"smoke-{uuid.uuid4().hex}.json"
        body = json.dumps({"smoke": True, "at": time.time()}).encode()
        keys = [f"incoming/{name}", f"processed/{name}.json"]
        s3.put_object(Bucket=bucket, Key=keys[0], Body=body, ContentType="application/json")
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                try:
                    manifest = json.loads(s3.get_object(Bucket=bucket, Key=keys[1])["Body"].read())
                    break
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                        raise
                if time.monotonic() > deadline:
                    raise SmokeFailure(
                        f"no manifest for {keys[0]} after {self.timeout:.0f} s: is the function "
                        "subscribed and healthy? (see its log group and the DLQ)"
                    )
                self.sleep(self.poll)
            if manifest.get("sha256") != hashlib.sha256(body).hexdigest():
                raise SmokeFailure("the manifest's sha256 does not match the uploaded probe")
            return f"manifest for {keys[0]} matches"
        finally:
            for key in keys:
                versions = s3.list_object_versions(Bucket=bucket, Prefix=key)
                for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                    if item["Key"] == key:
                        s3.delete_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])

    def health_check(self, region: str) -> str:
        """The region's Route 53 health check as the health checkers see it (they, unlike the
        operator, may reach the load balancer)."""
        name = self.config.namer(self.env, region).name(HEALTH_CHECK_SERVICE)
        route53 = self.dns_session.client("route53", region_name="us-east-1")  # a global API, served there
        check_id = self._health_check_id(route53, name)
        observations = route53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
        reports = [o.get("StatusReport", {}).get("Status", "") for o in observations]
        healthy = [r for r in reports if r.startswith("Success")]
        if not reports:
            raise SmokeFailure(f"health check {name} ({check_id}) has no observations yet: try again in a minute")
        if len(healthy) <= HEALTHY_SHARE * len(reports):
            failing = next(r for r in reports if not r.startswith("Success"))
            raise SmokeFailure(
                f"health check {name} ({check_id}) is unhealthy: {len(reports) - len(healthy)} of "
                f"{len(reports)} checkers fail, e.g. {_one_line(failing)}"
            )
        return f"{name} healthy for {len(healthy)} of {len(reports)} checkers"

    @staticmethod
    def _health_check_id(route53: Any, name: str) -> str:
        ids: list[str] = []
        for page in route53.get_paginator("list_health_checks").paginate():
            ids.extend(h["Id"] for h in page["HealthChecks"])
        for start in range(0, len(ids), 10):  # ListTagsForResources takes at most 10 ids
            tagged = route53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=ids[start : start + 10])
            for item in tagged["ResourceTagSets"]:
                if {"Key": "Name", "Value": name} in item.get("Tags", []):
                    return item["ResourceId"]
        raise SmokeFailure(
            f"no Route 53 health check tagged Name={name} in the hosted zone's account: is the region's stack deployed?"
        )

    def ready(self, region: str, outputs: dict) -> str:
        """The database as the application sees it: one running instance of the region's Auto
        Scaling group asks its own readiness endpoint through SSM Run Command. Reports the role
        (and a replica's lag) and fails when it is not the stack's `db_role`."""
        expected = _output(outputs, RegionalOutput.DB_ROLE)
        instance = self._running_instance(region, _output(outputs, RegionalOutput.ASG_NAME))
        ssm = self.session.client("ssm", region_name=region)
        command = ssm.send_command(
            InstanceIds=[instance],
            DocumentName="AWS-RunShellScript",
            Comment="platform smoke: /ready",
            Parameters={"commands": [ready_script()], "executionTimeout": [str(COMMAND_SECONDS)]},
        )["Command"]["CommandId"]
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                result = ssm.get_command_invocation(CommandId=command, InstanceId=instance)
            except ClientError as exc:  # the invocation appears a moment after SendCommand
                if exc.response.get("Error", {}).get("Code") != "InvocationDoesNotExist":
                    raise
                result = {"Status": "Pending"}
            if result["Status"] not in SSM_PENDING:
                break
            if time.monotonic() > deadline:
                raise SmokeFailure(
                    f"SSM command {command} on {instance} still {result['Status']} after "
                    f"{self.timeout:.0f} s: is the SSM agent online? (Fleet Manager)"
                )
            self.sleep(self.poll)
        output = result.get("StandardOutputContent", "")
        lines = output.strip().splitlines()
        if result["Status"] != "Success" or not lines or not lines[-1].startswith("HTTP "):
            error = _one_line(result.get("StandardErrorContent", "") or output) or "no output"
            raise SmokeFailure(
                f"SSM command {command} on {instance} {result['Status']} "
                f"(exit {result.get('ResponseCode', '?')}): {error}"
            )
        status, body = lines[-1].removeprefix("HTTP "), _one_line("\n".join(lines[:-1]))
        if status != "200":
            raise SmokeFailure(f"{instance}: {webapp.READY_PATH} answered {status}: {body}")
        return f"{database_role(instance, body, expected)}; {instance}: {webapp.READY_PATH} 200 {body}"

    def _running_instance(self, region: str, group: str) -> str:
        autoscaling = self.session.client("autoscaling", region_name=region)
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
        members = sorted(
            i["InstanceId"] for g in groups for i in g.get("Instances", []) if i.get("LifecycleState") == "InService"
        )
        if members:
            ec2 = self.session.client("ec2", region_name=region)
            running = ec2.describe_instances(
                InstanceIds=members, Filters=[{"Name": "instance-state-name", "Values": ["running"]}]
            )["Reservations"]
            found = sorted(i["InstanceId"] for r in running for i in r["Instances"])
            if found:
                return found[0]
        raise SmokeFailure(f"no running in-service instance in Auto Scaling group {group}: see its activity history")

    def viewer(self, host: str) -> str:
        """The viewer name is CloudFront's: the only HTTPS way in for an operator."""
        status = https_status(host, webapp.HEALTH_PATH, self.resolve.get(host), self.context)
        if status != 200:
            raise SmokeFailure(
                f"CloudFront answered HTTP {status}, expected 200" + (": no healthy origin?" if status >= 500 else "")
            )
        return "200"

    def alarms(self, region: str) -> str:
        """config.facts.ALARMS in the region, and the region's health-check alarm where Route 53
        publishes HealthCheckStatus: us-east-1 of the hosted zone's account."""
        namer = self.config.namer(self.env, region)
        expected = {namer.name(a, "alarm") for a in ALARMS}
        cloudwatch = self.session.client("cloudwatch", region_name=region)
        found = {a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix=namer.prefix)["MetricAlarms"]}
        missing = sorted(expected - found)
        health = namer.name(ALARM_ORIGIN_UNHEALTHY, "alarm")
        dns_cloudwatch = self.dns_session.client("cloudwatch", region_name="us-east-1")
        if not dns_cloudwatch.describe_alarms(AlarmNames=[health])["MetricAlarms"]:
            missing.append(f"{health} (us-east-1, the hosted zone's account)")
        if missing:
            raise SmokeFailure(f"missing alarms: {', '.join(missing)}")
        return f"{len(expected)} alarms present, and {health} in us-east-1 of the hosted zone's account"


def database_role(instance: str, body: str, expected: str) -> str:
    """`writer` or `replica, lag N s` from a 200 /ready body; SmokeFailure when the body names no
    role or another one than the stack's db_role output (`expected`)."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    role = answer.get("role") if isinstance(answer, dict) else None
    if role not in tuple(DbRole):
        raise SmokeFailure(f"{instance}: {webapp.READY_PATH} names no database role (writer or replica): {body}")
    if role != expected:
        raise SmokeFailure(
            f"{instance}: the database is a {role} but the stack's db_role is {expected}: a failover the "
            f"stacks do not know of yet, or one not finished? ({webapp.READY_PATH}: {body})"
        )
    if role == DbRole.WRITER:
        return "writer, as the stack says"
    lag = answer.get("lag_seconds")
    if lag is None:
        return "replica, as the stack says; lag unknown (nothing replayed yet)"
    if not isinstance(lag, int | float):
        raise SmokeFailure(f"{instance}: {webapp.READY_PATH} lag_seconds is not a number: {body}")
    return f"replica, as the stack says; lag {lag:g} s"


def sessions(config: Config, env: Environment, base: Any) -> tuple[Any, Any]:
    """The sessions a smoke test needs, from the operator's `base` session: one in `env`'s account
    (`access.environment_session`) and one where its hosted zone lives (`access.dns_session`). A role
    that cannot be assumed is an EnvironmentProblem (exit 2: the credentials, not the stacks)."""
    try:
        session = access.environment_session(config, env, base)
    except (BotoCoreError, ClientError) as exc:
        raise EnvironmentProblem(
            f"cannot assume {config.provider_role_arn(env)} ({type(exc).__name__}): configure "
            "credentials that may assume it (README 'Credentials')"
        ) from None
    try:
        return session, access.dns_session(config, env, base, session)
    except (BotoCoreError, ClientError) as exc:
        raise EnvironmentProblem(
            f"cannot assume the DNS role in account {config.dns_account_id(env)} "
            f"({type(exc).__name__}): configure credentials that may assume it (README "
            "'Credentials')"
        ) from None


class SmokeFailure(RuntimeError):
    """A check that ran and found the environment wrong."""


def smoke_test(
    config: Config,
    env: str,
    region: str | None,
    out_dir: Path,
    base: Any,
    *,
    resolve: dict[str, tuple[str, int]],
    timeout: float,
) -> list[Check]:
    """`smoke`: the checks of `env`'s regional stacks (only `region`'s when given), from their
    outputs in Terraform state (read beside `out_dir`, which is left as it is), acting through the
    environment's and the hosted zone's sessions assumed from the operator's `base` session."""
    from ops import outputs as stack_outputs  # reading state starts cdktf: only when a smoke test runs

    environment = config.environments[env]
    specs = [s for s in config.select(env, region) if s.role.regional]
    values = stack_outputs.read(config, specs, out_dir)
    session, zone_session = sessions(config, environment, base)
    regions = [s.region for s in specs]
    return Smoke(
        config, environment, regions, values, session, resolve=resolve, timeout=timeout, dns_session=zone_session
    ).run()
