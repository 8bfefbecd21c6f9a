"""A real PostgreSQL (TLS only) for tests, from e2e/postgres.py (initdb and pg_ctl in a temporary
folder), and a streaming standby of it. Imported by tests/test_readiness.py, which also runs on
Python 3.9 (tests/test_runtimes_real.py): standard library only."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from e2e.postgres import Postgres, free_port

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


@contextmanager
def standby_of(primary: Postgres) -> Iterator[Postgres]:
    """A hot standby streaming from `primary` (pg_basebackup -R, over TLS), on its own port: what
    an RDS read replica is inside. `pg_ctl promote` makes it a writer; stopped afterwards."""
    with open(primary.data / "pg_hba.conf", "a") as hba:
        hba.write("hostssl replication postgres 127.0.0.1/32 scram-sha-256\n")
    primary.run(str(primary.bin / "pg_ctl"), "-D", str(primary.data), "reload")
    standby = Postgres()
    standby.superuser_password = primary.superuser_password
    os.chmod(standby.base, 0o755)  # the postgres user must reach its data folder
    if standby.as_postgres:
        shutil.chown(standby.base, "postgres")
    source = f"host=127.0.0.1 port={primary.port} user=postgres sslmode=require"
    backup = [str(standby.bin / "pg_basebackup"), "-d", source, "-D", str(standby.data), "-R", "-c", "fast"]
    standby.run(*backup, "-X", "stream", env={**os.environ, "PGPASSWORD": primary.superuser_password})
    with open(standby.data / "postgresql.conf", "a") as conf:  # later lines win
        conf.write(f"\nport = {standby.port}\nunix_socket_directories = '{standby.base}'\nhot_standby = on\n")
    standby.run(str(standby.bin / "pg_ctl"), "-D", str(standby.data), "-l", str(standby.base / "log"), "-w", "start")
    try:
        yield standby
    finally:
        standby.stop()


def promote(server: Postgres) -> None:
    server.run(str(server.bin / "pg_ctl"), "-D", str(server.data), "-w", "promote")
