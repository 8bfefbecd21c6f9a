"""Configuration text for tests that write a TOML file of their own (a CLI run in a subprocess)."""

from __future__ import annotations


def project_table(external_id: str) -> str:
    """The `[project]` table every hand-written test configuration starts with (fake accounts,
    example.com, the CI account the deploy roles trust)."""
    return f"""
[project]
name = "webapp"
suffix = "a1"
domain = "example.com"
owner = "platform"
cost_center = "cc-000"
external_id = "{external_id}"
ci_account_id = "999999999999"
"""
