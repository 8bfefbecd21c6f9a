"""A real PostgreSQL (TLS only) for tests, from e2e/postgres.py (initdb and pg_ctl in a temporary
folder). Imported by tests/test_readiness.py, which also runs on Python 3.9
(tests/test_runtimes_real.py): standard library only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from e2e.postgres import Postgres, free_port

__all__ = ["Postgres", "free_port", "postgres_with_database"]


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
