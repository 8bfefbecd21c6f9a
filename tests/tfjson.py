"""Helpers to read synthesized Terraform JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_stacks(out_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((out_dir / "stacks").glob("*/cdk.tf.json"))}


def resources(stack: dict, type_: str) -> dict[str, dict]:
    """Resources of one type, by logical name."""
    return stack.get("resource", {}).get(type_, {})


def all_resources(stack: dict) -> list[tuple[str, str, dict]]:
    return [(t, name, body) for t, by_name in stack.get("resource", {}).items() for name, body in by_name.items()]


def providers(stack: dict) -> dict[str | None, dict]:
    """AWS provider blocks by alias (None for the default provider)."""
    return {block.get("alias"): block for block in stack["provider"]["aws"]}


def walk(value: Any):
    """Every (key, value) pair anywhere in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
