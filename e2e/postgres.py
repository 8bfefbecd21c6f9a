"""A real, throw-away PostgreSQL on loopback (Debian's package): TLS only, password logins, and a
streaming standby of it.

Stands in for RDS wherever a test or the emulated deployment needs a database that really
answers: the readiness tests, and `make e2e` (the writer with the master credentials of the
bootstrap secret the emulator holds, and a hot standby of it for each replica region).
PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user
(`runuser`). Standard library only: tests/support/postgres.py re-exports it for tests that also
run on Python 3.9.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: install Debian's postgresql (.ci/run does)")
    return Path(found[-1]).parent


class Postgres:
    """A throw-away cluster on loopback that accepts only TLS connections with passwords."""

    def __init__(self):
        self.bin = pg_bin()
        self.base = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        self.data = self.base / "data"
        self.port = free_port()
        self.superuser_password = "super-" + os.urandom(8).hex()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, text=True, **kwargs)

    def start(self) -> None:
        os.chmod(self.base, 0o755)  # noqa: S103 (the postgres user must reach its data folder)
        if self.as_postgres:
            shutil.chown(self.base, "postgres")
        pwfile = self.base / "pw"
        pwfile.write_text(self.superuser_password)
        if self.as_postgres:
            shutil.chown(pwfile, "postgres")
        self.run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "scram-sha-256",
            "--pwfile",
            str(pwfile),
            "--no-sync",
        )
        self.run(
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(self.data / "server.key"),
            "-out",
            str(self.data / "server.crt"),
        )
        os.chmod(self.data / "server.key", 0o600)
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nssl = on\n"
                f"unix_socket_directories = '{self.base}'\nfsync = off\n"
            )
        (self.data / "pg_hba.conf").write_text("hostssl all all 127.0.0.1/32 scram-sha-256\n")
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"), "-w", "start")

    def __enter__(self) -> Postgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sql(self, statement: str) -> None:
        subprocess.run(
            [str(self.bin / "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-c", statement],
            check=True,
            capture_output=True,
            env={
                **os.environ,
                "PGHOST": "127.0.0.1",
                "PGPORT": str(self.port),
                "PGUSER": "postgres",
                "PGPASSWORD": self.superuser_password,
                "PGDATABASE": "postgres",
                "PGSSLMODE": "require",
            },
        )

    def trust(self, user: str) -> None:
        """Let `user` log in over TLS from loopback without a password (ahead of every other
        line): what stands in for IAM database authentication, whose tokens plain PostgreSQL
        cannot validate. A standby made afterwards copies the rule with the data folder."""
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"hostssl all {user} 127.0.0.1/32 trust\n" + hba.read_text())
        self.reload()

    def reload(self) -> None:
        self.run(str(self.bin / "pg_ctl"), "-D", str(self.data), "reload")

    def stop(self) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def standby_of(primary: Postgres) -> Iterator[Postgres]:
    """A hot standby streaming from `primary` (pg_basebackup -R, over TLS), on its own port: what
    an RDS read replica is inside (roles, databases and pg_hba.conf come from the primary).
    `promote` makes it a writer; stopped afterwards."""
    with open(primary.data / "pg_hba.conf", "a") as hba:
        hba.write("hostssl replication postgres 127.0.0.1/32 scram-sha-256\n")
    primary.reload()
    standby = Postgres()
    standby.superuser_password = primary.superuser_password
    os.chmod(standby.base, 0o755)  # noqa: S103 (the postgres user must reach its data folder)
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
    """`pg_ctl promote`: the standby leaves recovery and accepts writes."""
    server.run(str(server.bin / "pg_ctl"), "-D", str(server.data), "-w", "promote")
