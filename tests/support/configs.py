"""Configuration variants: a test that needs a configuration other than the default states only
what differs, on a copy, so the session's shared `default_data` is never mutated."""

from __future__ import annotations

import copy

DELETE = object()
"""A change's value that removes the key instead of setting it."""


def _merge(node: dict, changes: dict) -> None:
    for key, value in changes.items():
        if value is DELETE:
            node.pop(key)
        elif isinstance(value, dict) and isinstance(node.get(key), dict):
            _merge(node[key], value)
        else:
            node[key] = copy.deepcopy(value)


def variant(data: dict, **changes) -> dict:
    """A deep copy of the TOML `data` with `changes` merged in table by table:
    `variant(default_data, environments={"dev": {"instance_count": 4}}, project={"ci_account_id": DELETE})`
    sets one key of dev and removes one of [project], leaving every other key as it was. A table
    that does not exist yet (a new environment) is added whole."""
    result = copy.deepcopy(data)
    _merge(result, changes)
    return result


def changed(data: dict, path: str, value) -> dict:
    """A deep copy of `data` with `path` (dotted) set to `value`, or removed if value is DELETE."""
    *parents, last = path.split(".")
    result = copy.deepcopy(data)
    node = result
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(last)
    else:
        node[last] = value
    return result


def project_table(external_id: str) -> str:
    """The `[project]` table every hand-written test configuration starts with (fake accounts,
    example.com, the CI account the deploy roles trust), for tests that write a TOML file of their
    own (a CLI run in a subprocess)."""
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


def parse(data: dict):
    """`data` parsed as the configuration file test.toml."""
    from config import model

    return model.parse(data, "test.toml")


def problems(data: dict) -> list[str]:
    """The problems parsing `data` reports: there must be some, each one line naming the file."""
    import pytest

    from config import model

    with pytest.raises(model.ConfigError) as info:
        parse(data)
    assert info.value.problems, "ConfigError without problems"
    for line in info.value.problems:
        assert line.startswith("test.toml: "), line
        assert "\n" not in line
    return info.value.problems
