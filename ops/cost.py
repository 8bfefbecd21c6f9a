"""`cost`: what each stack and environment costs a month, estimated from the synthesized Terraform
JSON and a price table kept as data (ops/prices/aws.json), and what a plan changes in that figure.

Why from the synthesized JSON: it is exactly what `deploy` creates (instances at the configured
count, NAT gateways per the NAT policy, the database class, Multi-AZ and replicas), so the
estimate follows every setting without repeating the settings' logic here.

Why a table of cited prices and no guesses: an estimate is only as good as its prices. Every
figure in the table names the source it was read in (AWS price data or page) and the date; a
resource whose price the table lacks (an instance type, a region, an option) is shown as
"no price" and counted, never filled in.
Usage-priced charges (data processed, requests, log ingestion, Config items) depend on traffic
nobody knows before deploying: they are listed with their unit rate and never added to a total.

`estimate_stacks` and `plan_delta` are pure (JSON in, figures out); `estimate` synthesizes first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import UsageError
from config.model import Config, StackSpec

PRICES = Path(__file__).resolve().parent / "prices" / "aws.json"
ANY_REGION = "any"  # a price its source states without a region
FIXED, USAGE, NO_PRICE = "fixed", "usage", "no price"
_VAR = re.compile(r"^\$\{var\.([A-Za-z0-9_]+)\}$")
_REF = re.compile(r"^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.[a-z_]+\}$")
_DB_ID = re.compile(r":db:([A-Za-z0-9-]+)$")


class PriceTableError(UsageError):
    """The price table cannot be read or an entry lacks its price, unit, source or date."""


@dataclass(frozen=True)
class Price:
    item: str
    variant: str
    region: str
    usd: float
    per: str
    usage: bool
    source: str
    read: str
    note: str = ""


@dataclass(frozen=True)
class PriceTable:
    path: Path
    currency: str
    hours_per_month: float
    hours_source: str
    hours_read: str
    prices: tuple[Price, ...]

    def find(self, item: str, region: str, variant: str = "") -> Price | None:
        """The price for `region` itself, else the one its source states for no region."""
        for wanted in (region, ANY_REGION):
            for price in self.prices:
                if price.item == item and price.variant == variant and price.region == wanted:
                    return price
        return None

    @property
    def regions(self) -> list[str]:
        """Regions with prices of their own (the rest get only the region-less prices)."""
        return sorted({p.region for p in self.prices} - {ANY_REGION})

    @property
    def shown_path(self) -> str:
        """The table's path as the repository names it (ops/prices/aws.json)."""
        root = PRICES.parents[2]
        return str(self.path.relative_to(root)) if self.path.is_relative_to(root) else str(self.path)

    @property
    def sources(self) -> list[tuple[str, str]]:
        found = {(p.source, p.read) for p in self.prices} | {(self.hours_source, self.hours_read)}
        return sorted(found)


def load_prices(path: Path = PRICES) -> PriceTable:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        hours = data["hours_per_month"]
        entries = data["prices"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PriceTableError(f"{path}: not a price table ({exc})") from None
    prices = []
    for index, entry in enumerate(entries):
        missing = [k for k in ("item", "region", "usd", "per", "source", "read") if entry.get(k) in (None, "")]
        if missing:
            raise PriceTableError(f"{path}: prices[{index}] lacks {', '.join(missing)}")
        prices.append(
            Price(
                entry["item"],
                entry.get("variant", ""),
                entry["region"],
                float(entry["usd"]),
                entry["per"],
                bool(entry.get("usage", False)),
                entry["source"],
                entry["read"],
                entry.get("note", ""),
            )
        )
    return PriceTable(
        path, data.get("currency", "USD"), float(hours["value"]), hours["source"], hours["read"], tuple(prices)
    )


@dataclass(frozen=True)
class Line:
    """One kind of charge in a stack: `quantity` units at `price` (None: no price in the table)."""

    what: str
    resource_type: str
    count: int  # resources behind the line (instances, gateways, keys...)
    kind: str  # FIXED, USAGE or NO_PRICE
    quantity: float = 0.0  # billed units a month (hours, GB-months, months); 0 for usage
    price: Price | None = None
    why: str = ""  # for NO_PRICE: what the table lacks

    @property
    def monthly(self) -> float:
        return self.quantity * self.price.usd if self.kind == FIXED and self.price else 0.0

    def as_dict(self) -> dict:
        out: dict[str, Any] = {
            "what": self.what,
            "resource_type": self.resource_type,
            "count": self.count,
            "kind": self.kind,
            "monthly_usd": round(self.monthly, 2) if self.kind == FIXED else None,
        }
        if self.price:
            out["unit_price"] = {
                "usd": self.price.usd,
                "per": self.price.per,
                "region": self.price.region,
                "source": self.price.source,
                "read": self.price.read,
            }
        if self.why:
            out["why"] = self.why
        return out


@dataclass
class StackCost:
    stack: str
    environment: str
    region: str
    lines: list[Line] = field(default_factory=list)
    regions: set[str] = field(default_factory=set)  # where its resources are (the edge's: us-east-1)

    @property
    def monthly(self) -> float:
        return sum(line.monthly for line in self.lines)

    @property
    def unpriced(self) -> int:
        return sum(line.count for line in self.lines if line.kind == NO_PRICE)

    @property
    def usage(self) -> int:
        return sum(1 for line in self.lines if line.kind == USAGE)


@dataclass
class Estimate:
    table: PriceTable
    stacks: list[StackCost]

    def environments(self) -> dict[str, list[StackCost]]:
        out: dict[str, list[StackCost]] = {}
        for stack in self.stacks:
            out.setdefault(stack.environment, []).append(stack)
        return out

    @property
    def monthly(self) -> float:
        return sum(s.monthly for s in self.stacks)

    def regions_without_prices(self) -> list[str]:
        """Regions of these stacks (resources' own regions) the table has no prices of its own for."""
        return sorted({r for s in self.stacks for r in s.regions} - set(self.table.regions))

    def as_dict(self) -> dict:
        return {
            "currency": self.table.currency,
            "hours_per_month": self.table.hours_per_month,
            "price_table": self.table.shown_path,
            "sources": [{"url": url, "read": read} for url, read in self.table.sources],
            "regions_priced": self.table.regions,
            "regions_without_prices": self.regions_without_prices(),
            "stacks": [
                {
                    "stack": s.stack,
                    "environment": s.environment,
                    "region": s.region,
                    "monthly_usd": round(s.monthly, 2),
                    "unpriced_resources": s.unpriced,
                    "lines": [line.as_dict() for line in s.lines],
                }
                for s in self.stacks
            ],
            "environments": {
                env: {
                    "monthly_usd": round(sum(s.monthly for s in stacks), 2),
                    "unpriced_resources": sum(s.unpriced for s in stacks),
                }
                for env, stacks in self.environments().items()
            },
            "monthly_usd": round(self.monthly, 2),
            "unpriced_resources": sum(s.unpriced for s in self.stacks),
        }


# --- reading Terraform JSON ------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    """A stack's managed resources (type -> name -> attributes), its variables' defaults and the
    region of each aws provider (alias "" is the default provider)."""

    by_type: dict[str, dict[str, dict]]
    variables: dict[str, Any]
    provider_regions: dict[str, str]

    @classmethod
    def from_synth(cls, tf: dict) -> Resources:
        variables = {k: v.get("default") for k, v in (tf.get("variable") or {}).items()}
        regions = {}
        for provider in (tf.get("provider") or {}).get("aws", []):
            regions[provider.get("alias", "")] = provider.get("region", "")
        return cls(tf.get("resource") or {}, variables, regions)

    def of(self, type_: str) -> dict[str, dict]:
        return self.by_type.get(type_) or {}

    def value(self, value: Any) -> Any:
        """A literal, a variable's default, or None for anything known only at apply time."""
        if isinstance(value, str):
            match = _VAR.match(value)
            if match:
                return self.variables.get(match.group(1))
            if "${" in value:
                return None
        return value

    def region(self, body: dict) -> str:
        provider = body.get("provider") or "aws"
        alias = provider.split(".", 1)[1] if "." in provider else ""
        return self.provider_regions.get(alias) or self.provider_regions.get("", "")

    def referenced(self, value: Any, type_: str) -> dict | None:
        """The resource of `type_` that `value` ("${type.name.attr}") names; the only one if it
        names none (a plan's values hold ids, not references)."""
        match = _REF.match(value) if isinstance(value, str) else None
        if match and match.group(1) == type_:
            return self.of(type_).get(match.group(2))
        candidates = list(self.of(type_).values())
        return candidates[0] if len(candidates) == 1 else None


class _Lines:
    """Collects one stack's charges, merging equal ones (same what, price and kind)."""

    def __init__(self, table: PriceTable, hours: float):
        self.table = table
        self.hours = hours
        self.lines: dict[tuple, Line] = {}
        self.regions: set[str] = set()

    def add(self, what: str, type_: str, item: str, region: str, units: float, variant: str = "", count: int = 1):
        """`units`: billed units a month per resource (hours, GB-months, months)."""
        self.regions.add(region)
        price = self.table.find(item, region, variant)
        if price is None:
            why = f"no {item}{' ' + variant if variant else ''} price for {region}"
            self.merge(Line(what, type_, count, NO_PRICE, why=why))
        elif price.usage:
            self.merge(Line(what, type_, count, USAGE, price=price))
        else:
            self.merge(Line(what, type_, count, FIXED, units * count, price))

    def usage(self, what: str, type_: str, item: str | None, region: str, count: int = 1):
        """A charge billed per use: its unit rate when the table has one."""
        self.regions.add(region)
        price = self.table.find(item, region) if item else None
        why = "" if price else f"usage-priced; no unit rate in the table for {region}"
        self.merge(Line(what, type_, count, USAGE, price=price, why=why))

    def merge(self, line: Line) -> None:
        key = (line.what, line.resource_type, line.kind, line.price, line.why)
        old = self.lines.get(key)
        if old:
            line = Line(
                line.what,
                line.resource_type,
                old.count + line.count,
                line.kind,
                old.quantity + line.quantity,
                line.price,
                line.why,
            )
        self.lines[key] = line


def _block(value: Any) -> dict:
    """A nested block: an object in synthesized JSON, a list of one object in a plan's values."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _charges(res: Resources, out: _Lines, databases: dict[str, dict]) -> None:
    """Every charge the estimate knows, resource type by resource type."""
    hours = out.hours
    for body in res.of("aws_autoscaling_group").values():
        region = res.region(body)
        # The group runs at least min_size (the configured count; modules/compute.py never sets
        # desired_capacity, so a plan's after side keeps the old desired value from state).
        counts = [
            c for c in (_count(res.value(body.get(k))) for k in ("desired_capacity", "min_size")) if c is not None
        ]
        count = max(counts) if counts else None
        template = res.referenced(_block(body.get("launch_template")).get("id"), "aws_launch_template") or {}
        type_ = template.get("instance_type")
        if count is None or not type_:
            out.merge(
                Line(
                    "EC2 instances",
                    "aws_autoscaling_group",
                    1,
                    NO_PRICE,
                    why="instance count or type not known before apply",
                )
            )
            continue
        out.add(f"EC2 instances {type_}", "aws_autoscaling_group", "ec2.instance", region, hours, type_, count)
        for mapping in template.get("block_device_mappings") or []:
            ebs = _block(mapping.get("ebs"))
            size, kind = _count(ebs.get("volume_size")), ebs.get("volume_type") or "gp2"
            if size:
                out.add(
                    f"EBS {kind} {size} GB per instance",
                    "aws_launch_template",
                    f"ebs.{kind}",
                    region,
                    size,
                    count=count,
                )
    for body in res.of("aws_instance").values():
        type_ = body.get("instance_type")
        out.add(f"EC2 instances {type_}", "aws_instance", "ec2.instance", res.region(body), hours, type_ or "")
    for body in res.of("aws_nat_gateway").values():
        region = res.region(body)
        out.add("NAT gateways", "aws_nat_gateway", "nat_gateway.hour", region, hours)
        out.usage("NAT gateway data processed", "aws_nat_gateway", "nat_gateway.data", region)
    for body in res.of("aws_eip").values():
        out.add("Public IPv4 addresses (Elastic IPs)", "aws_eip", "public_ipv4.hour", res.region(body), hours)
    for body in res.of("aws_lb").values():
        region = res.region(body)
        if (body.get("load_balancer_type") or "application") == "application":
            out.add("Application load balancers", "aws_lb", "alb.hour", region, hours)
            out.usage("Load balancer capacity units", "aws_lb", "alb.lcu", region)
        else:
            out.add(
                f"{body['load_balancer_type']} load balancers",
                "aws_lb",
                f"lb.{body['load_balancer_type']}",
                region,
                hours,
            )
    for body in res.of("aws_vpc_endpoint").values():
        region = res.region(body)
        if body.get("vpc_endpoint_type") == "Interface":
            zones = len(body.get("subnet_ids") or []) or 1
            out.add(
                f"VPC interface endpoints x {zones} zones",
                "aws_vpc_endpoint",
                "vpc_endpoint.interface.hour",
                region,
                hours * zones,
            )
            out.usage(
                "VPC interface endpoint data processed", "aws_vpc_endpoint", "vpc_endpoint.interface.data", region
            )
        else:
            out.add("VPC gateway endpoints", "aws_vpc_endpoint", "vpc_endpoint.gateway", region, 1)
    for body in res.of("aws_db_instance").values():
        _database(res, out, body, databases)
    for body in res.of("aws_rds_cluster_instance").values():
        class_ = body.get("instance_class") or ""
        out.add(
            f"Aurora instances {class_}", "aws_rds_cluster_instance", "aurora.instance", res.region(body), hours, class_
        )
    for body in res.of("aws_rds_cluster").values():
        out.usage("Aurora storage and I/O", "aws_rds_cluster", "aurora.storage", res.region(body))
    for body in res.of("aws_kms_key").values():
        region = res.region(body)
        out.add("KMS keys", "aws_kms_key", "kms.key", region, 1)
        out.usage("KMS requests", "aws_kms_key", "kms.requests", region)
    for body in res.of("aws_wafv2_web_acl").values():
        region = res.region(body)
        out.add("WAF web ACLs", "aws_wafv2_web_acl", "waf.web_acl", region, 1)
        rules = len(body.get("rule") or [])
        if rules:
            out.add("WAF rules and managed rule groups", "aws_wafv2_web_acl", "waf.rule", region, 1, count=rules)
        out.usage("WAF requests inspected", "aws_wafv2_web_acl", "waf.requests", region)
    for body in res.of("aws_cloudfront_distribution").values():
        out.usage(
            "CloudFront data transfer and requests (no fixed charge)",
            "aws_cloudfront_distribution",
            None,
            res.region(body),
        )
    for body in res.of("aws_route53_health_check").values():
        _health_check(res, out, body)
    for body in res.of("aws_route53_zone").values():
        out.add("Route 53 hosted zones", "aws_route53_zone", "route53.hosted_zone", res.region(body), 1)
    for body in res.of("aws_config_configuration_recorder").values():
        out.usage("AWS Config items recorded", "aws_config_configuration_recorder", "config.item", res.region(body))
    for body in res.of("aws_config_config_rule").values():
        out.usage("AWS Config rule evaluations", "aws_config_config_rule", "config.evaluation", res.region(body))
    for body in res.of("aws_cloudwatch_metric_alarm").values():
        out.add("CloudWatch alarms", "aws_cloudwatch_metric_alarm", "cloudwatch.alarm", res.region(body), 1)
    for body in res.of("aws_cloudwatch_composite_alarm").values():
        out.add(
            "CloudWatch composite alarms",
            "aws_cloudwatch_composite_alarm",
            "cloudwatch.composite_alarm",
            res.region(body),
            1,
        )
    for body in res.of("aws_secretsmanager_secret").values():
        region = res.region(body)
        out.add("Secrets Manager secrets", "aws_secretsmanager_secret", "secretsmanager.secret", region, 1)
        out.usage("Secrets Manager API calls", "aws_secretsmanager_secret", "secretsmanager.api", region)
    for body in res.of("aws_cloudwatch_log_group").values():
        region, days = res.region(body), res.value(body.get("retention_in_days"))
        kept = f"kept {days} days: stored GB = GB/day x {days}" if days else "kept forever"
        out.usage("CloudWatch Logs ingestion", "aws_cloudwatch_log_group", "logs.ingestion", region)
        out.usage(f"CloudWatch Logs storage, {kept}", "aws_cloudwatch_log_group", "logs.storage", region)
    for type_, what in (
        ("aws_lambda_function", "Lambda invocations and duration"),
        ("aws_s3_bucket", "S3 storage and requests"),
        ("aws_sqs_queue", "SQS requests"),
        ("aws_sns_topic", "SNS notifications"),
    ):
        for body in res.of(type_).values():
            out.usage(what, type_, None, res.region(body))


def _database(res: Resources, out: _Lines, body: dict, databases: dict[str, dict]) -> None:
    region, hours = res.region(body), out.hours
    class_ = body.get("instance_class") or ""
    multi_az = res.value(body.get("multi_az")) is True
    az = "multi-az" if multi_az else "single-az"
    source = body.get("replicate_source_db")
    replica = bool(source)
    role = "read replica" if replica else "writer"
    label = f"RDS {class_} {'Multi-AZ' if multi_az else 'Single-AZ'} ({role})"
    out.add(label, "aws_db_instance", "rds.instance", region, hours, f"{class_}/{az}")
    storage = _count(res.value(body.get("allocated_storage")))
    kind = body.get("storage_type") or "gp2"
    if storage is None and replica:  # a replica's storage is its source's
        match = _DB_ID.search(str(source))
        writer = databases.get(match.group(1)) if match else None
        storage = _count((writer or {}).get("allocated_storage"))
    if storage is None:
        out.merge(
            Line(
                f"RDS storage ({role})", "aws_db_instance", 1, NO_PRICE, why="allocated storage not known before apply"
            )
        )
        return
    out.add(
        f"RDS storage {kind} {storage} GB {'Multi-AZ' if multi_az else 'Single-AZ'}",
        "aws_db_instance",
        "rds.storage",
        region,
        storage,
        f"{kind}/{az}",
    )


def _health_check(res: Resources, out: _Lines, body: dict) -> None:
    """The base charge, and one more line per optional feature the check uses (each is priced)."""
    region = res.region(body)
    type_ = body.get("type") or ""
    if type_ in ("CALCULATED", "CLOUDWATCH_METRIC", "RECOVERY_CONTROL"):
        out.add(
            f"Route 53 {type_.lower()} health checks",
            "aws_route53_health_check",
            f"route53.health_check.{type_.lower()}",
            region,
            1,
        )
        return
    # The module points each check at its region's load balancer name: an AWS endpoint.
    out.add(
        "Route 53 health checks (AWS endpoint)",
        "aws_route53_health_check",
        "route53.health_check.aws_endpoint",
        region,
        1,
    )
    options = {
        "HTTPS": type_.startswith("HTTPS"),
        "string matching": type_.endswith("STR_MATCH"),
        "fast interval": _count(body.get("request_interval")) == 10,
        "latency measurement": res.value(body.get("measure_latency")) is True,
    }
    for option, used in options.items():
        if used:
            item = "route53.health_check.option." + option.replace(" ", "_")
            out.add(f"Route 53 health check option: {option}", "aws_route53_health_check", item, region, 1)


def _databases(stacks: Iterable[Resources]) -> dict[str, dict]:
    """Every database instance of an environment by identifier (a replica's storage is its writer's)."""
    found = {}
    for res in stacks:
        for body in res.of("aws_db_instance").values():
            if isinstance(body.get("identifier"), str):
                found[body["identifier"]] = body
    return found


def stack_cost(
    name: str,
    environment: str,
    region: str,
    res: Resources,
    table: PriceTable,
    databases: dict[str, dict] | None = None,
) -> StackCost:
    """One stack's charges; `databases`: the environment's database instances by identifier."""
    lines = _Lines(table, table.hours_per_month)
    _charges(res, lines, databases or {})
    return StackCost(name, environment, region, list(lines.lines.values()), lines.regions)


def estimate_stacks(specs: list[StackSpec], stacks: dict[str, dict], table: PriceTable | None = None) -> Estimate:
    """The estimate for `specs`, from their synthesized JSON (stack name -> cdk.tf.json data)."""
    table = table or load_prices()
    resources = {s.name: Resources.from_synth(stacks[s.name]) for s in specs}
    by_env: dict[str, dict[str, dict]] = {}
    for spec in specs:
        by_env.setdefault(spec.environment, {}).update(_databases([resources[spec.name]]))
    return Estimate(
        table,
        [stack_cost(s.name, s.environment, s.region, resources[s.name], table, by_env[s.environment]) for s in specs],
    )


def estimate(config: Config, specs: list[StackSpec], out: Path) -> Estimate:
    """Synthesize `specs` into `out` (as synth does), then estimate them."""
    from modules.runtime import require_node

    require_node()
    from stacks import app  # starts cdktf and jsii: only when the estimate is really made

    paths = app.synth(config, specs, out)
    return estimate_stacks(specs, {s.name: json.loads(Path(paths[s.name]).read_text()) for s in specs})


# --- output ----------------------------------------------------------------------------------


def money(value: float) -> str:
    return f"${value:,.2f}"


def unit(price: Price) -> str:
    marker = "*" if price.region == ANY_REGION else ""
    return f"${price.usd:g}{marker} per {price.per}"


def rows(stack: StackCost) -> list[list[str]]:
    """Table rows of one stack: fixed charges, then usage-priced ones, then what has no price."""
    order = {FIXED: 0, USAGE: 1, NO_PRICE: 2}
    out = []
    for line in sorted(stack.lines, key=lambda x: (order[x.kind], x.what)):
        if line.kind == FIXED and line.price:
            out.append([line.what, str(line.count), unit(line.price), money(line.monthly)])
        elif line.kind == USAGE:
            rate = unit(line.price) if line.price else line.why
            out.append([line.what, str(line.count), rate, "usage"])
        else:
            out.append([line.what, str(line.count), line.why, "no price"])
    return out


def totals(estimate: Estimate) -> list[list[str]]:
    out = []
    for env, stacks in estimate.environments().items():
        unpriced = sum(s.unpriced for s in stacks)
        out.append([env, money(sum(s.monthly for s in stacks)), str(unpriced)])
    out.append(["all", money(estimate.monthly), str(sum(s.unpriced for s in estimate.stacks))])
    return out


def footnotes(estimate: Estimate) -> list[str]:
    table = estimate.table
    lines = [
        f"Monthly = {table.hours_per_month:g} hours; {table.currency}, on-demand list prices; usage-priced "
        "charges are not in the totals; resources without a price are counted, not estimated.",
        f"* the source states this price without a region. "
        f"Regions with prices of their own: {', '.join(table.regions)}.",
    ]
    missing = estimate.regions_without_prices()
    if missing:
        lines.append(
            f"The price table has no prices of its own for {', '.join(missing)}: "
            "only its region-less (*) prices apply there."
        )
    lines.append(
        f"Prices: {table.shown_path} ({len(table.sources)} sources), "
        f"read {', '.join(sorted({r for _, r in table.sources}))}:"
    )
    lines += [f"  {url} (read {read})" for url, read in table.sources]
    return lines


# --- plan delta ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delta:
    stack: str
    before: float
    after: float
    unpriced_before: int
    unpriced_after: int

    @property
    def monthly(self) -> float:
        return self.after - self.before


def _plan_resources(plan: dict, side: str) -> Resources:
    """The plan's resources as they are (`before`) or will be (`after`), with provider regions."""
    config = plan.get("configuration") or {}
    providers = config.get("provider_config") or {}
    regions = {}
    for key, provider in providers.items():
        if provider.get("name") == "aws" or key.split(".")[0] == "aws":
            region = ((provider.get("expressions") or {}).get("region") or {}).get("constant_value")
            regions[key.split(".", 1)[1] if "." in key else ""] = region or ""
    keys = {
        r.get("address"): r.get("provider_config_key", "")
        for r in (config.get("root_module") or {}).get("resources", [])
    }
    by_type: dict[str, dict[str, dict]] = {}
    for change in plan.get("resource_changes") or []:
        values = (change.get("change") or {}).get(side)
        if change.get("mode", "managed") != "managed" or not isinstance(values, dict):
            continue
        body = dict(values)
        key = keys.get(change.get("address"), "")
        if "." in key:
            body["provider"] = key
        by_type.setdefault(change["type"], {})[change.get("name", change["address"])] = body
    return Resources(by_type, {}, regions)


def plan_delta(plan: dict, stack: str, table: PriceTable | None = None) -> Delta:
    """The monthly cost a plan (`terraform show -json`) changes: fixed charges after minus before."""
    table = table or load_prices()
    before = stack_cost(stack, "", "", _plan_resources(plan, "before"), table)
    after = stack_cost(stack, "", "", _plan_resources(plan, "after"), table)
    return Delta(stack, before.monthly, after.monthly, before.unpriced, after.unpriced)


def plan_delta_line(results: list) -> str | None:
    """The summary line of a plan/deploy run: the monthly delta of every planned stack."""
    from ops.review import load

    plans = [r for r in results if getattr(r, "plan_json", None)]
    if not plans:
        return None
    table = load_prices()
    deltas = [plan_delta(load(r.plan_json), r.stack, table) for r in plans]
    change = sum(d.monthly for d in deltas)
    unpriced = sum(d.unpriced_after for d in deltas)
    sign = "+" if change >= 0 else "-"
    return (
        f"Monthly cost change: {sign}{money(abs(change))} (fixed charges, {table.shown_path}; "
        f"usage not included; {unpriced} resource(s) without a price after the change)"
    )
