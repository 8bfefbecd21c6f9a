"""Readiness of the database: whether this region's database answers, whether it is the writer or
a replica, and on a replica how far it lags behind the writer.

The instance environment (rendered into user data) says where the database is: WEBAPP_DB_HOST,
WEBAPP_DB_PORT, WEBAPP_DB_NAME, WEBAPP_DB_USER (the application's own role) and WEBAPP_REGION
(the database's region). The service connects as that role with IAM database authentication:
the password is a token signed locally from the instance profile's credentials (webapp/aws.py),
so a replica region connects with no call to another region, and no password is stored anywhere.
A token is reused for TOKEN_TTL seconds (it lives 900) and signed again at once when refused.

The role itself lives in the PostgreSQL catalog, so it is created on the writer and reaches the
replicas by physical replication. Where WEBAPP_DB_BOOTSTRAP_SECRET_ARN is set (the writer's
region, or every region with independent databases), the service creates it, once per process:
with the master credentials from that secret (JSON: username, password) it runs BOOTSTRAP_SQL,
idempotent and a no-op on a replica. If that fails and the role cannot connect either, readiness
says "bootstrap failed: <why>" (503).

Each check runs STATUS_SQL with `psql` (Amazon Linux's postgresql15 package) over TLS, in a
read-only session. It never raises: every failure is a short, password-free reason.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

from webapp import aws

TOKEN_TTL = 600  # seconds an authentication token is reused (it is valid for aws.DB_TOKEN_EXPIRES)
QUERY_TIMEOUT = 10
# The database's role as /ready names it: the regional stack's db_role output uses the same words
# (config/facts.py DbRole; this package ships without config/, tests/test_smoke.py ties the two).
WRITER = "writer"
REPLICA = "replica"
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # a PostgreSQL role name needing no quotes

# Writer or replica, and a replica's lag in seconds: 0 while it has replayed all it received
# (an idle writer sends nothing, so the age of the last replayed transaction would grow without
# any lag), else the age of the last transaction it replayed; NULL before it replayed any.
# These functions are callable by any role: the application's role needs no monitoring grant.
STATUS_SQL = (
    "SELECT pg_is_in_recovery(), CASE WHEN NOT pg_is_in_recovery() THEN NULL"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 3) END"
)

# Run as the master user on the writer: the application's role, allowed to log in with IAM
# tokens (rds_iam exists on RDS only) and to connect to the database. Every step may run again,
# from any number of instances at once; on a replica (read-only) it does nothing.
BOOTSTRAP_SQL = """DO $$
BEGIN
  IF pg_is_in_recovery() THEN
    RETURN;
  END IF;
  BEGIN
    CREATE ROLE {user} LOGIN;
  EXCEPTION WHEN duplicate_object THEN
    ALTER ROLE {user} LOGIN;
  END;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
    GRANT rds_iam TO {user};
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO {user}', current_database());
END
$$;
SELECT pg_is_in_recovery();"""


class Status(NamedTuple):
    """A check's answer. `role` is WRITER or REPLICA once the database answered;
    `lag_seconds` is a replica's lag (None on the writer, or while a replica has replayed nothing)."""

    ok: bool
    detail: str
    role: str | None = None
    lag_seconds: float | None = None


class DatabaseCheck:
    """Answers (ok, detail). Implementations never raise: a failure is a detail string."""

    def check(self) -> tuple[bool, str]:
        raise NotImplementedError

    def status(self) -> Status:
        """The answer with the database's role and lag, where the check knows them."""
        ok, detail = self.check()
        return Status(ok, detail)


class NotConfigured(DatabaseCheck):
    def __init__(self, reason: str = "not configured"):
        self.reason = reason

    def check(self) -> tuple[bool, str]:
        return False, self.reason


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class PostgresCheck(DatabaseCheck):
    """The production check (from_environment). `now` signs the tokens and `clock` times their
    reuse; tests fix them, or replace the token with `token` (a standby, whose port differs from
    its primary's while the role's password is the primary's)."""

    def __init__(
        self,
        environ: Mapping[str, str],
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = _utcnow,
        token: Callable[[], str] | None = None,
    ):
        self.environ = dict(environ)
        self.host = environ["WEBAPP_DB_HOST"]
        self.port = environ.get("WEBAPP_DB_PORT", "5432")
        self.name = environ["WEBAPP_DB_NAME"]
        self.user = environ["WEBAPP_DB_USER"]
        self.region = environ["WEBAPP_REGION"]
        self.bootstrap_secret = environ.get("WEBAPP_DB_BOOTSTRAP_SECRET_ARN", "")
        self.clock, self.now, self.token = clock, now, token
        self._lock = threading.Lock()
        self._token: tuple[float, str] | None = None
        self._bootstrapped = not self.bootstrap_secret

    def check(self) -> tuple[bool, str]:
        status = self.status()
        return status.ok, status.detail

    def status(self) -> Status:
        failed = "" if self._bootstrapped else self._bootstrap()
        try:
            ok, output, rejected = self._query(self._password())
            if rejected:  # the token expired or was refused: sign a new one, once
                self._forget()
                ok, output, _ = self._query(self._password())
        except aws.AwsError as exc:
            ok, output = False, f"credentials unavailable: {exc}"
        if failed and not ok:
            return Status(False, f"bootstrap failed: {failed}")
        if not ok:
            return Status(False, output)
        self._bootstrapped = True  # the role connects: what the bootstrap is for is done
        return parse_status(output)

    def _bootstrap(self) -> str:
        """Create the application's role on the writer; '' when done, else why not."""
        try:
            region = _arn_region(self.bootstrap_secret) or self.region
            user, password = aws.parse_credentials(aws.get_secret_string(self.bootstrap_secret, region, self.environ))
        except aws.AwsError as exc:
            return f"master credentials unavailable: {exc}"
        ok, output, _ = self._psql(user, password, BOOTSTRAP_SQL.format(user=self.user), read_only=False)
        if not ok:
            return output
        self._bootstrapped = True  # on a replica too: the writer's role arrives by replication
        return ""

    def _password(self) -> str:
        with self._lock:
            if self._token and self.clock() - self._token[0] < TOKEN_TTL:
                return self._token[1]
            if self.token is not None:
                token = self.token()
            else:
                creds = aws.credentials(self.environ)
                token = aws.db_auth_token(self.host, self.port, self.user, self.region, creds, self.now())
            self._token = (self.clock(), token)
            return token

    def _forget(self) -> None:
        with self._lock:
            self._token = None

    def _query(self, password: str) -> tuple[bool, str, bool]:
        return self._psql(self.user, password, STATUS_SQL, read_only=True)

    def _psql(self, user: str, password: str, sql: str, read_only: bool) -> tuple[bool, str, bool]:
        e = self.environ
        return psql(
            self.host,
            self.port,
            self.name,
            user,
            password,
            sql,
            e.get("WEBAPP_DB_SSLMODE", "require"),
            e.get("PATH", os.defpath),
            read_only,
        )


def _arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" else ""


def parse_status(output: str) -> Status:
    """STATUS_SQL's row (`t|1.5`, `f|`) as a Status."""
    recovering, _, lag = output.strip().partition("|")
    if recovering not in ("t", "f"):
        return Status(False, "unexpected answer from the database")
    if recovering == "f":
        return Status(True, "ok", WRITER)
    # Clocks differ a little between hosts: a replayed commit can look a few ms in the future.
    return Status(True, "ok", REPLICA, max(0.0, float(lag)) if lag else None)


def psql(
    host: str,
    port: str,
    database: str,
    user: str,
    password: str,
    sql: str,
    sslmode: str = "require",
    path: str = os.defpath,
    read_only: bool = True,
) -> tuple[bool, str, bool]:
    """Run `sql` with psql over TLS: (ok, its unaligned output or why it failed, password
    rejected). The password goes in the child's environment only, never in its arguments."""
    binary = shutil.which("psql", path=path)
    if binary is None:
        return False, "psql is not installed", False
    env = {
        "PATH": path,
        "PGHOST": host,
        "PGPORT": str(port),
        "PGDATABASE": database,
        "PGUSER": user,
        "PGPASSWORD": password,
        "PGCONNECT_TIMEOUT": "3",
        "PGSSLMODE": sslmode,  # TLS; RDS forces it anyway
    }
    if read_only:
        env["PGOPTIONS"] = "-c default_transaction_read_only=on"
    try:
        done = subprocess.run(
            [binary, "-X", "-w", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env=env,
            capture_output=True,
            text=True,
            timeout=QUERY_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return False, "database did not answer in time", False
    except OSError as exc:
        return False, f"psql could not run ({type(exc).__name__})", False
    if done.returncode == 0:
        return True, done.stdout.strip(), False
    error = (done.stderr.strip().splitlines() or ["no error output"])[-1][:200]
    # "password authentication failed" (a password), "PAM authentication failed" (an IAM token)
    if "authentication failed" in error:
        return False, "authentication failed", True
    if error.startswith("ERROR:"):  # connected: the statement failed
        return False, f"query failed: {error}", False
    return False, f"unreachable: {error}", False


REQUIRED = ("WEBAPP_DB_HOST", "WEBAPP_DB_NAME", "WEBAPP_DB_USER", "WEBAPP_REGION")


def from_environment(environ: Mapping[str, str]) -> DatabaseCheck:
    """The check the environment asks for."""
    if not environ.get("WEBAPP_DB_HOST"):
        return NotConfigured()
    missing = [k for k in REQUIRED if not environ.get(k)]
    if missing:
        return NotConfigured(f"misconfigured: {', '.join(missing)} missing")
    if not ROLE_NAME.fullmatch(environ["WEBAPP_DB_USER"]):
        return NotConfigured("misconfigured: WEBAPP_DB_USER must be a lower-case PostgreSQL role name")
    if not environ.get("WEBAPP_DB_PORT", "5432").isdigit():
        return NotConfigured("misconfigured: WEBAPP_DB_PORT must be a port number")
    return PostgresCheck(environ)
