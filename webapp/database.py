"""Readiness of the database, checked with credentials read from Secrets Manager at run time.

Until the database issue wires a secret into the instance environment
(WEBAPP_DB_SECRET_ARN), the check reports the database as not configured and readiness stays
false; liveness (HEALTH_PATH) does not depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping


class DatabaseCheck:
    """Answers (ok, detail). Implementations never raise: a failure is a detail string."""

    def check(self) -> tuple[bool, str]:
        raise NotImplementedError


class NotConfigured(DatabaseCheck):
    def check(self) -> tuple[bool, str]:
        return False, "not configured"


def from_environment(environ: Mapping[str, str]) -> DatabaseCheck:
    """The check the environment asks for. No database is provisioned yet, so there is nothing
    to connect to: every environment reports "not configured"."""
    del environ
    return NotConfigured()
