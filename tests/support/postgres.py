"""A real PostgreSQL (TLS only) for tests and a streaming standby of it, from e2e/postgres.py
(which `make e2e` uses too: initdb and pg_ctl in a temporary folder). Imported by
tests/test_readiness.py, which also runs on Python 3.9 (tests/test_runtimes_real.py): standard
library only."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from e2e.postgres import Postgres, free_port, promote, standby_of

__all__ = ["Postgres", "free_port", "postgres_with_database", "promote", "select", "standby_of", "wait_for"]


@contextmanager
def postgres_with_database(owner: str, password: str) -> Iterator[Postgres]:
    """A started server holding database `app` owned by login role `owner` (password `password`);
    stopped afterwards."""
    server = Postgres()
    server.start()
    try:
        server.sql(f"CREATE ROLE {owner} LOGIN PASSWORD '{password}'")
        server.sql(f"CREATE DATABASE app OWNER {owner}")
        yield server
    finally:
        server.stop()


def select(server: Postgres, sql: str, database: str = "postgres") -> str:
    """One value, as the superuser."""
    done = subprocess.run(
        [str(server.bin / "psql"), "-X", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(server.port),
            "PGUSER": "postgres",
            "PGPASSWORD": server.superuser_password,
            "PGDATABASE": database,
            "PGSSLMODE": "require",
        },
    )
    return done.stdout.strip()


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
