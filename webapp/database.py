"""Readiness of the database, checked with credentials read from Secrets Manager at run time.

The instance environment (rendered into user data) says where the database is and which
secret holds its credentials: WEBAPP_DB_SECRET_ARN, WEBAPP_DB_HOST, WEBAPP_DB_PORT,
WEBAPP_DB_NAME. The password itself is never in the environment, a file or a log: it is fetched
from Secrets Manager (the RDS-managed secret), cached for a few minutes, and fetched again
immediately when the database rejects it, so RDS's rotation never breaks readiness.

The check opens a TLS connection with `psql` (Amazon Linux's postgresql15 package) and runs a
read-only `SELECT 1` in a read-only transaction. It never raises: every failure is a short,
password-free reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping

from webapp.aws import AwsError, get_secret_string, parse_credentials

SECRET_TTL = 300  # seconds a fetched secret is reused
QUERY_TIMEOUT = 10


class DatabaseCheck:
    """Answers (ok, detail). Implementations never raise: a failure is a detail string."""

    def check(self) -> tuple[bool, str]:
        raise NotImplementedError


class NotConfigured(DatabaseCheck):
    def __init__(self, reason: str = "not configured"):
        self.reason = reason

    def check(self) -> tuple[bool, str]:
        return False, self.reason


class PostgresCheck(DatabaseCheck):
    def __init__(self, environ: Mapping[str, str], clock: Callable[[], float] = time.monotonic):
        self.environ = dict(environ)
        self.secret_arn = environ["WEBAPP_DB_SECRET_ARN"]
        self.region = environ.get("WEBAPP_REGION", "")
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, tuple[str, str]] | None = None

    def check(self) -> tuple[bool, str]:
        try:
            ok, detail, rejected = self._query(*self._credentials())
            if rejected:  # the password changed (rotation) since it was cached: fetch it again, once
                self._forget()
                ok, detail, _ = self._query(*self._credentials())
            return ok, detail
        except AwsError as exc:
            return False, f"credentials unavailable: {exc}"

    def _credentials(self) -> tuple[str, str]:
        with self._lock:
            if self._cached and self.clock() - self._cached[0] < SECRET_TTL:
                return self._cached[1]
            value = parse_credentials(get_secret_string(self.secret_arn, self.region, self.environ))
            self._cached = (self.clock(), value)
            return value

    def _forget(self) -> None:
        with self._lock:
            self._cached = None

    def _query(self, user: str, password: str) -> tuple[bool, str, bool]:
        e = self.environ
        return query(
            e.get("WEBAPP_DB_HOST", ""),
            e.get("WEBAPP_DB_PORT", "5432"),
            e.get("WEBAPP_DB_NAME", ""),
            user,
            password,
            e.get("WEBAPP_DB_SSLMODE", "require"),
            e.get("PATH", os.defpath),
        )


def query(
    host: str, port: str, database: str, user: str, password: str, sslmode: str = "require", path: str = os.defpath
) -> tuple[bool, str, bool]:
    """`SELECT 1` over TLS in a read-only transaction with psql: (ok, detail, password rejected).
    Shared with the operators' smoke test (ops/smoke.py)."""
    psql = shutil.which("psql", path=path)
    if psql is None:
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
        "PGOPTIONS": "-c default_transaction_read_only=on",
    }
    try:
        done = subprocess.run(
            [psql, "-X", "-w", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", "SELECT 1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=QUERY_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return False, "database did not answer in time", False
    except OSError as exc:
        return False, f"psql could not run ({type(exc).__name__})", False
    if done.returncode == 0 and done.stdout.strip() == "1":
        return True, "ok", False
    error = (done.stderr.strip().splitlines() or ["no error output"])[-1][:200]
    if "password authentication failed" in error:
        return False, "authentication failed", True
    return False, f"unreachable: {error}", False


def from_environment(environ: Mapping[str, str]) -> DatabaseCheck:
    """The check the environment asks for."""
    if not environ.get("WEBAPP_DB_SECRET_ARN"):
        return NotConfigured()
    missing = [k for k in ("WEBAPP_DB_HOST", "WEBAPP_DB_NAME", "WEBAPP_REGION") if not environ.get(k)]
    if missing:
        return NotConfigured(f"misconfigured: {', '.join(missing)} missing")
    return PostgresCheck(environ)
