"""The checks a setting names: each answers None for a valid value or the one-line problem
(`<what is wrong>; <what is allowed>`), and carries `allowed`, the short text the README's
settings table shows, so a range is written once."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from config.network import MAX_SUPERNET_PREFIX
from config.regions import REGIONS

# The retention periods CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

SUFFIX = re.compile(r"^[a-z0-9]{0,8}$")
PROJECT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
ACCOUNT = re.compile(r"^[0-9]{12}$")
LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
TAG_VALUE = re.compile(r"^[\w .:/=+\-@]{1,256}$")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
PG_VERSION = re.compile(r"^1[3-9]$")
DB_CLASS = re.compile(r"^db\.[a-z0-9]+\.[a-z0-9]+$")
ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
KEY_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,200}$")

PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))

ROLE_NAME_ALLOWED = "an IAM role name: 1-64 letters, digits and + = , . @ _ -"
TAG_VALUE_ALLOWED = "1-256 letters, digits, spaces and _ . : / = + - @ (an AWS tag value)"


@dataclass(frozen=True)
class Check:
    """A validation: `test(value)` is None or the problem; `allowed` is what the README shows."""

    test: Callable[[Any], str | None]
    allowed: str

    def __call__(self, value: Any) -> str | None:
        return self.test(value)


def regex(pattern: re.Pattern, allowed: str, shown: str | None = None) -> Check:
    return Check(lambda v: None if pattern.match(v) else f"{v!r} is invalid; allowed: {allowed}", shown or allowed)


def one_of(choices: Iterable, shown: str | None = None) -> Check:
    choices = tuple(choices)
    return Check(
        lambda v: None if v in choices else f"{v!r} is not allowed; choose one of: {', '.join(map(str, choices))}",
        shown or " or ".join(f"`{c}`" for c in choices),
    )


def between(low: int, high: int) -> Check:
    return Check(
        lambda v: None if low <= v <= high else f"{v} is out of range; allowed: {low}..{high}", f"{low}..{high}"
    )


def describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _domain(value: str) -> str | None:
    labels = value.split(".")
    if len(value) > 200 or len(labels) < 2 or not all(LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return (
            f"{value!r} is not a domain name; allowed: lower-case labels of letters, digits "
            "and inner hyphens joined by dots, such as example.com (at most 200 characters)"
        )
    return None


def _region(value: str) -> str | None:
    if value in REGIONS:
        return None
    close = difflib.get_close_matches(value, REGIONS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"{value!r} is not an AWS commercial region; {hint}allowed: {', '.join(REGIONS)} "
        "(GovCloud and China are not supported)"
    )


def _account(value: str) -> str | None:
    return None if ACCOUNT.match(value) else f"{value!r} is not an AWS account id; allowed: exactly 12 digits, quoted"


def _accounts(values: list[str]) -> str | None:
    bad = [v for v in values if not ACCOUNT.match(v)]
    return f"{bad!r} are not AWS account ids; allowed: strings of exactly 12 digits" if bad else None


def _emails(values: list[str]) -> str | None:
    bad = [v for v in values if not EMAIL.match(v)]
    return f"{bad!r} are not e-mail addresses; allowed: name@domain.tld" if bad else None


def _domains(values: list[str]) -> str | None:
    problems = [m for m in (_domain(v) for v in values) if m]
    return problems[0] if problems else None


def _paths(values: list[str]) -> str | None:
    bad = [v for v in values if not re.match(r"^/[A-Za-z0-9_./*-]{1,200}$", v) or v == "/*"]
    return (
        (
            f"{bad!r} are not CloudFront path patterns; allowed: paths such as /static/* "
            "(not /*, which is the default behavior)"
        )
        if bad
        else None
    )


def _content_types(values: list[str]) -> str | None:
    if not values:
        return "is empty; list the MIME types the ingest function accepts"
    bad = [v for v in values if not re.match(r"^[a-z]+/[a-z0-9.+-]+$", v)]
    return f"{bad!r} are not MIME types; allowed: type/subtype such as text/csv" if bad else None


def _weights(values: dict) -> str | None:
    bad = {k: w for k, w in values.items() if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 255}
    if bad:
        return f"{bad!r}: weights are integers 0..255 by region"
    if values and not any(values.values()):
        return "every weight is 0; at least one region must receive traffic"
    return None


def _regions(values: list[str]) -> str | None:
    if not values:
        return "is empty; list at least one region, the primary first"
    problems = [m for m in (_region(v) for v in values) if m]
    if problems:
        return problems[0]
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        return f"lists {', '.join(duplicates)} more than once; each region may appear once"
    return None


def parse_cidr(value: str) -> tuple[ipaddress.IPv4Network | None, str | None]:
    """The private IPv4 network `value` names, or the problem with it."""
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        return None, f"{value!r} is not an IPv4 network ({exc}); allowed: a block such as 10.20.0.0/16"
    if not any(net.subnet_of(r) for r in PRIVATE_RANGES):
        return None, f"{value} is not private; allowed: inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
    return net, None


def _supernet(value: str) -> str | None:
    net, message = parse_cidr(value)
    if message is None and net.prefixlen > MAX_SUPERNET_PREFIX:
        message = (
            f"{net} is too small to allocate every VPC; allowed: a private block of /{MAX_SUPERNET_PREFIX} or larger"
        )
    return message


def _directory(value: str) -> str | None:
    return None if value.strip() else "is empty; allowed: a directory path"


def _key_prefix(value: str) -> str | None:
    if not value or (KEY_PREFIX.match(value) and not value.startswith("/") and not value.endswith("/")):
        return None
    return f"{value!r} is invalid; allowed: S3 key characters, no leading or trailing '/'"


domain = Check(_domain, "a domain name")
region = Check(_region, "an AWS commercial region")
account = Check(_account, "12 digits, quoted")
accounts = Check(_accounts, "account ids (12 digits, quoted)")
emails = Check(_emails, "e-mail addresses")
domains = Check(_domains, "domain names")
paths = Check(_paths, "CloudFront path patterns, not `/*`")
content_types = Check(_content_types, "MIME types, at least one")
weights = Check(_weights, "0..255 by region, not all 0")
regions = Check(_regions, "AWS commercial regions, each once")
supernet = Check(_supernet, f"a private block of /{MAX_SUPERNET_PREFIX} or larger")
directory = Check(_directory, "a directory path")
key_prefix = Check(_key_prefix, "S3 key characters, no leading or trailing '/'")
