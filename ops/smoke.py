"""Post-deployment smoke test (D4): does the deployed environment actually work?

Per region: upload a probe under `incoming/` and wait (bounded) for the ingest function's manifest;
read the database with the RDS-managed Secrets Manager credentials in a read-only transaction;
HTTPS GET of the health path on the regional origin name; the environment's alarms exist. Once:
HTTPS GET of the health path on the viewer name. Probe objects (every version) are removed
afterwards. AWS calls go through boto3, so the standard `AWS_ENDPOINT_URL` and credential settings
apply (tests point them at moto). The database is private: run the smoke test from inside the VPC
(or through an SSM port forward) for that check to pass.
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
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

import webapp
from config.model import Config, Environment
from webapp.database import query

ALARMS = ("cpu-high", "alb-5xx", "target-5xx", "unhealthy-hosts")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def parse_resolve(values: list[str]) -> dict[str, tuple[str, int]]:
    """`NAME=ADDRESS:PORT` entries (like curl's --connect-to): connect to ADDRESS:PORT whenever a
    probe would connect to NAME, still presenting NAME for TLS. Raises ValueError on bad entries."""
    mapping = {}
    for value in values:
        name, _, target = value.partition("=")
        address, _, port = target.rpartition(":")
        if not name or not address or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--resolve {value!r}: expected NAME=ADDRESS:PORT, e.g. app.example.com=127.0.0.1:8443")
        mapping[name] = (address, int(port))
    return mapping


def https_status(host: str, path: str, address: tuple[str, int] | None = None, context: ssl.SSLContext | None = None,
                 timeout: float = 10) -> int:
    """Status code of GET https://host/path (certificate verified against `host`)."""
    context = context or ssl.create_default_context()
    with socket.create_connection(address or (host, 443), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: platform-smoke\r\nConnection: close\r\n\r\n"
                    .encode())
        first = tls.makefile("rb").readline().decode("latin-1")
    parts = first.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"not an HTTP response: {first[:60]!r}")
    return int(parts[1])


class Smoke:
    def __init__(self, config: Config, env: Environment, regions: list[str], outputs: dict[str, dict],
                 session: Any, resolve: dict[str, tuple[str, int]] | None = None,
                 context: ssl.SSLContext | None = None, timeout: float = 120, poll: float = 2,
                 sleep: Callable[[float], None] = time.sleep):
        self.config, self.env, self.regions, self.outputs = config, env, regions, outputs
        self.session, self.resolve, self.context = session, resolve or {}, context
        self.timeout, self.poll, self.sleep = timeout, poll, sleep

    def run(self) -> list[Check]:
        checks = []
        for region in self.regions:
            outputs = self.outputs.get(f"{self.env.name}-{region}", {})
            name = self.env.regional_origin_domain(region)
            checks.append(self._guard(f"{region}: ingest", self.ingest, region, outputs))
            checks.append(self._guard(f"{region}: database", self.database, region, outputs))
            checks.append(self._guard(f"{region}: https://{name}{webapp.HEALTH_PATH}", self.https, name))
            checks.append(self._guard(f"{region}: alarms", self.alarms, region))
        viewer = self.env.app_domain
        checks.append(self._guard(f"https://{viewer}{webapp.HEALTH_PATH}", self.https, viewer))
        return checks

    @staticmethod
    def _guard(name: str, check: Callable[..., str], *args: Any) -> Check:
        try:
            return Check(name, True, check(*args))
        except SmokeFailure as exc:
            return Check(name, False, str(exc))
        except (ClientError, BotoCoreError, OSError, ValueError, KeyError) as exc:
            return Check(name, False, f"{type(exc).__name__}: {exc}"[:300])

    def ingest(self, region: str, outputs: dict) -> str:
        bucket = outputs["ingest_bucket_name"]
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
                    raise SmokeFailure(f"no manifest for {keys[0]} after {self.timeout:.0f} s: is the function "
                                       "subscribed and healthy? (see its log group and the DLQ)")
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

    def database(self, region: str, outputs: dict) -> str:
        secrets = self.session.client("secretsmanager", region_name=region)
        secret = json.loads(secrets.get_secret_value(SecretId=outputs["db_secret_arn"])["SecretString"])
        host, _, port = outputs["db_endpoint"].rpartition(":")
        host, port = self.resolve.get(host, (host, port or "5432"))
        ok, detail, _ = query(host, str(port), "app", secret["username"], secret["password"])
        if not ok:
            raise SmokeFailure(f"read-only query failed: {detail} (run from inside the VPC or an SSM port forward)")
        return "read-only SELECT over TLS with the RDS-managed credentials"

    def https(self, host: str) -> str:
        status = https_status(host, webapp.HEALTH_PATH, self.resolve.get(host), self.context)
        if status != 200:
            raise SmokeFailure(f"HTTP {status}, expected 200")
        return "200"

    def alarms(self, region: str) -> str:
        namer = self.config.namer(self.env, region)
        expected = {namer.name(a, "alarm") for a in ALARMS}
        cloudwatch = self.session.client("cloudwatch", region_name=region)
        found = {a["AlarmName"] for a in cloudwatch.describe_alarms(AlarmNamePrefix=namer.prefix)["MetricAlarms"]}
        missing = sorted(expected - found)
        if missing:
            raise SmokeFailure(f"missing alarms: {', '.join(missing)}")
        return f"{len(expected)} alarms present"


def environment_session(config: Config, env: Environment, base: Any) -> Any:
    """A boto3 session in `env`'s account, through the role the providers assume (with the
    project's external id): operator credentials may assume it, but themselves live elsewhere."""
    import boto3

    sts = base.client("sts", region_name=env.primary_region)  # regional STS; no default region needed
    keys = sts.assume_role(RoleArn=config.provider_role_arn(env), RoleSessionName="platform-smoke",
                           ExternalId=config.project.external_id, DurationSeconds=3600)["Credentials"]
    return boto3.Session(aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"],
                         aws_session_token=keys["SessionToken"])


class SmokeFailure(RuntimeError):
    """A check that ran and found the environment wrong."""
