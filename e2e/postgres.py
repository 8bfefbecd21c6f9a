"""A real, throw-away PostgreSQL on loopback (Debian's package): TLS only, password logins.

Stands in for RDS wherever a test or the emulated deployment needs a database that really
answers: the readiness tests, and `make e2e` (the database the stack created, with the
credentials of the secret the emulator holds). PostgreSQL refuses to run as root, so as root
the cluster runs as the `postgres` user (`runuser`).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
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

    def stop(self) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.base, ignore_errors=True)
