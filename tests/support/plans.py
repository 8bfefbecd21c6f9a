"""Terraform JSON plans (`terraform show -json` shape) built from synthesized stacks, for tests that
read plans without running Terraform against AWS (tests/test_cost.py)."""

from __future__ import annotations

import copy
import re

_VAR = re.compile(r"^\$\{var\.([A-Za-z0-9_]+)\}$")


def _resolved(value, variables: dict):
    """Variables become their defaults, as Terraform resolves them in a plan's values."""
    if isinstance(value, dict):
        return {k: _resolved(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, variables) for v in value]
    if isinstance(value, str):
        match = _VAR.match(value)
        if match:
            return variables[match.group(1)]
    return value


def _values(stack: dict | None) -> dict[str, tuple[str, str, dict]]:
    """address -> (type, name, values without cdktf metadata or the provider meta-argument)."""
    if stack is None:
        return {}
    variables = {k: v.get("default") for k, v in (stack.get("variable") or {}).items()}
    out = {}
    for type_, items in (stack.get("resource") or {}).items():
        for name, body in items.items():
            values = {k: v for k, v in body.items() if k not in ("//", "provider", "depends_on", "lifecycle")}
            out[f"{type_}.{name}"] = (type_, name, _resolved(values, variables))
    return out


def _configuration(stack: dict) -> dict:
    providers = {}
    for provider in (stack.get("provider") or {}).get("aws", []):
        key = f"aws.{provider['alias']}" if provider.get("alias") else "aws"
        providers[key] = {"name": "aws", "expressions": {"region": {"constant_value": provider["region"]}}}
    resources = [
        {"address": f"{type_}.{name}", "provider_config_key": body.get("provider") or "aws"}
        for type_, items in (stack.get("resource") or {}).items()
        for name, body in items.items()
    ]
    return {"provider_config": providers, "root_module": {"resources": resources}}


def plan(before: dict | None, after: dict | None) -> dict:
    """The plan that turns the synthesized stack `before` (None: nothing deployed) into `after`
    (None: destroyed): creates, updates, no-ops and deletes with their before/after values."""
    old, new = _values(before), _values(after)
    changes = []
    for address in sorted(old.keys() | new.keys()):
        type_, name, _ = new.get(address) or old[address]
        was, will = (old.get(address) or (None, None, None))[2], (new.get(address) or (None, None, None))[2]
        if was is None:
            actions = ["create"]
        elif will is None:
            actions = ["delete"]
        else:
            actions = ["no-op"] if was == will else ["update"]
        changes.append(
            {
                "address": address,
                "mode": "managed",
                "type": type_,
                "name": name,
                "change": {"actions": actions, "before": copy.deepcopy(was), "after": copy.deepcopy(will)},
            }
        )
    return {
        "format_version": "1.2",
        "resource_changes": changes,
        "configuration": _configuration(after or before),
    }
