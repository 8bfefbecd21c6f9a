"""Helpers to read synthesized Terraform JSON."""

from __future__ import annotations

import json
import re
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


def provider_region(stack: dict, body: dict) -> str:
    """The region a resource or data source works in: its provider's (`aws` or `aws.<alias>`)."""
    alias = body.get("provider", "aws").removeprefix("${").removesuffix("}").partition(".")[2] or None
    return providers(stack)[alias]["region"]


def walk(value: Any):
    """Every (key, value) pair anywhere in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


# A reference inside an interpolation, also when wrapped: `${element(data.x.y.names, 0)}`.
_REF = re.compile(r"(?<![\w.])(?:(data)\.)?(aws_[a-z0-9_]+)\.([A-Za-z0-9_\-]+)(?:\.([a-z_]+))?")


def only(stack: dict, type_: str, data: bool = False) -> tuple[str, dict]:
    """The single resource (or data source) of a type: (logical name, body)."""
    items = (stack.get("data" if data else "resource", {})).get(type_, {})
    assert len(items) == 1, f"expected one {type_}, found {sorted(items)}"
    return next(iter(items.items()))


def refers_to(value: Any, type_: str, name: str, attribute: str | None = None, data: bool = False) -> bool:
    """True when `value` (a string or list) is a `${type.name[.attribute]}` reference."""
    values = value if isinstance(value, list) else [value]
    for item in values:
        for match in _REF.finditer(str(item)):
            is_data, t, n, attr = match.groups()
            if t == type_ and n == name and bool(is_data) == data and (attribute is None or attr == attribute):
                return True
    return False


def referenced(stack: dict, value: str) -> tuple[str, str, dict]:
    """The resource or data source a `${...}` reference points at: (type, name, body)."""
    match = _REF.search(value)
    assert match, f"{value!r} is not a reference"
    is_data, t, n, _ = match.groups()
    body = stack["data" if is_data else "resource"][t][n]
    return t, n, body


def policy_document(stack: dict, value: str) -> list[dict]:
    """Statements of the aws_iam_policy_document a `.json` reference points at."""
    type_, _, body = referenced(stack, value)
    assert type_ == "aws_iam_policy_document", value
    return body["statement"]


def jsonencoded(value: str) -> Any:
    """Parse a `${jsonencode({...})}` expression as cdktf renders it (`"key" = value`)."""
    assert value.startswith("${jsonencode(") and value.endswith(")}"), value[:40]
    body = value[len("${jsonencode(") : -2].replace('" = ', '": ')
    # A value that is only a reference is rendered bare (`[data.aws_x.y.z]`): quote it back.
    body = re.sub(r"(?<=[\[\s:,])((?:data\.)?aws_[a-z0-9_]+\.[A-Za-z0-9_\-]+\.[a-z_]+)(?=[\],\s}])", r'"${\1}"', body)
    return json.loads(body)


def tagged(stack: dict, type_: str, service: str) -> tuple[str, dict]:
    """The single resource of a type whose `Service` tag is `service`: (logical name, body)."""
    found = [(n, b) for n, b in resources(stack, type_).items() if (b.get("tags") or {}).get("Service") == service]
    assert len(found) == 1, f"expected one {type_} with Service={service}, found {[n for n, _ in found]}"
    return found[0]


def alias_records(stack: dict, name: str | None = None) -> dict[str, dict]:
    """The stack's Route 53 alias records (the validation records are not aliases), optionally only
    those for one name."""
    found = {n: r for n, r in resources(stack, "aws_route53_record").items() if "alias" in r}
    return {n: r for n, r in found.items() if name is None or r["name"] == name}
