"""`graph`: a picture of one environment, drawn from its synthesized Terraform JSON.

Why the JSON and not the configuration: the diagram shows what Terraform will create (the subnets
a load balancer really sits in, the replica's real source, the origins CloudFront really has), so
it cannot drift from the code the way a hand-drawn picture or one re-derived from settings can.

One model (`Diagram`: groups of nodes, and edges), two renderers: Mermaid text (GitHub renders
it in Markdown, no tool needed) and Graphviz DOT (rendered to SVG or PNG by `dot` where it is
installed). Node ids come from the resources' construct paths with the region in front
(`us_east_1_web_lb_alb`), never from cdktf's hashed logical ids or the environment name, and
every list is sorted, so the same code draws the same text and a diff of two diagrams shows
what changed in the platform.

What is drawn, per regional stack: the VPC's subnet tiers (grouped by their `Service` tag, with
their count and where their route tables send traffic: internet gateway, NAT, nowhere), the
resources placed in them by the subnets they reference (load balancer, NAT gateways, the Auto
Scaling group with its instance count and type, the ingest Lambda, the database), traffic
between them from the security-group rules that reference another group (port included), the
ingest chain (bucket notification -> Lambda -> dead-letter queue), the Route 53 records with
their routing and health checks; databases with an edge from a replica's source (RDS
`replicate_source_db`) or from an Aurora global database to its clusters. Per edge stack:
CloudFront with an edge to every DNS record its origins name, the WAF in front of it and the
viewer records. Everything else (IAM, logs, alarms, Config) is left out on purpose: the picture
is the request and data path.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from config.errors import EnvironmentProblem, OperationFailed, OutputDirError, UsageError
from config.facts import StackRole
from config.model import Config, StackSpec

MERMAID_SUFFIXES = (".mmd", ".md")
GRAPHVIZ_SUFFIXES = (".svg", ".png")
README_END = "<!-- diagram:end -->"
README_BEGIN = re.compile(r"<!-- diagram:begin env=(?P<env>[\w-]+) \(`make diagram` rewrites this block\) -->")
_REF = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.")
_UNRESOLVED = re.compile(r"\$\{")
_VARIABLE = re.compile(r"^\$\{var\.([A-Za-z0-9_]+)\}$")
GLOBAL_DATABASE = "aurora_global"  # the one node outside every region


@dataclass(frozen=True, order=True)
class Node:
    """One box: `kind` picks its shape (database, dns, queue, storage, function, service)."""

    id: str
    lines: tuple[str, ...]
    kind: str = "service"


@dataclass(frozen=True, order=True)
class Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False  # control or monitoring, not traffic


@dataclass(frozen=True)
class Group:
    """A region, its VPC or one subnet tier: nested boxes (a Mermaid subgraph, a DOT cluster)."""

    id: str
    label: str
    nodes: tuple[Node, ...] = ()
    groups: tuple[Group, ...] = ()

    def all_nodes(self) -> list[Node]:
        return [*self.nodes, *(n for g in self.groups for n in g.all_nodes())]


@dataclass(frozen=True)
class Diagram:
    title: str
    groups: tuple[Group, ...]
    nodes: tuple[Node, ...]  # outside every group (an Aurora global database)
    edges: tuple[Edge, ...]

    def all_nodes(self) -> list[Node]:
        return sorted([*self.nodes, *(n for g in self.groups for n in g.all_nodes())])

    def node(self, node_id: str) -> Node:
        return next(n for n in self.all_nodes() if n.id == node_id)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def refs(value: object) -> list[tuple[str, str]]:
    """Every `${type.name.` reference inside a JSON value, as (type, name)."""
    found: list[tuple[str, str]] = []
    if isinstance(value, str):
        found += _REF.findall(value)
    elif isinstance(value, dict):
        for item in value.values():
            found += refs(item)
    elif isinstance(value, list):
        for item in value:
            found += refs(item)
    return found


@dataclass
class _Stack:
    """One stack's JSON with the lookups the drawing needs; `prefix` starts its node ids."""

    spec: StackSpec
    doc: dict
    prefix: str
    node_ids: dict[tuple[str, str], str] = field(default_factory=dict)  # (type, name) -> node id

    def resources(self, type_: str) -> list[tuple[str, dict]]:
        return sorted(self.doc.get("resource", {}).get(type_, {}).items())

    def body(self, type_: str, name: str) -> dict:
        return self.doc.get("resource", {}).get(type_, {}).get(name, {})

    def node_id(self, type_: str, name: str) -> str:
        """The construct path without the stack's name (same in every environment), region first."""
        path = self.body(type_, name).get("//", {}).get("metadata", {}).get("path", f"/{name}")
        return f"{self.prefix}_{slug(path.partition('/')[2])}"

    def value(self, raw: object) -> object:
        """A `${var.x}` resolved to the variable's default (the count the stack deploys with)."""
        match = _VARIABLE.match(raw) if isinstance(raw, str) else None
        if match:
            return self.doc.get("variable", {}).get(match[1], {}).get("default", raw)
        return raw


def _tiers(stack: _Stack) -> tuple[dict[str, str], list[tuple[str, list[str], str]]]:
    """Subnets by tier (their `Service` tag without the zone number) and each tier's route:
    returns subnet name -> tier, and [(tier, subnet names, where its route tables lead)]."""
    gateway_of_table: dict[str, set[str]] = defaultdict(set)
    for _, route in stack.resources("aws_route"):
        table = next((n for t, n in refs(route.get("route_table_id")) if t == "aws_route_table"), None)
        if table and route.get("gateway_id"):
            gateway_of_table[table].add("internet gateway")
        elif table and route.get("nat_gateway_id"):
            gateway_of_table[table].add("NAT")
    routes_of_subnet: dict[str, set[str]] = defaultdict(set)
    for _, association in stack.resources("aws_route_table_association"):
        subnet = next((n for t, n in refs(association.get("subnet_id")) if t == "aws_subnet"), None)
        table = next((n for t, n in refs(association.get("route_table_id")) if t == "aws_route_table"), None)
        if subnet and table:
            routes_of_subnet[subnet] |= gateway_of_table[table]
    tier_of: dict[str, str] = {}
    members: dict[str, list[str]] = defaultdict(list)
    for name, subnet in stack.resources("aws_subnet"):
        tags = subnet.get("tags", {})
        tier = re.sub(r"-\d+$", "", tags.get("Service") or tags.get("Name") or name)
        tier_of[name] = tier
        members[tier].append(name)
    tiers = []
    for tier, names in members.items():
        routes = set().union(*(routes_of_subnet[n] for n in names))
        kind = "internet gateway" if "internet gateway" in routes else "NAT" if "NAT" in routes else "isolated"
        tiers.append((tier, names, kind))
    order = {"internet gateway": 0, "NAT": 1, "isolated": 2}
    return tier_of, sorted(tiers, key=lambda t: (order[t[2]], t[0]))


def _tier_of(value: object, tier_of: dict[str, str]) -> str | None:
    tiers = sorted({tier_of[n] for t, n in refs(value) if t == "aws_subnet" and n in tier_of})
    return tiers[0] if tiers else None


def _routing(record: dict) -> str:
    if "latency_routing_policy" in record:
        return f"latency {record['latency_routing_policy'].get('region', '')}".strip()
    if "failover_routing_policy" in record:
        return f"failover {record['failover_routing_policy'].get('type', '')}".strip()
    if "weighted_routing_policy" in record:
        return f"weighted {record['weighted_routing_policy'].get('weight', '')}".strip()
    return ""


class _Builder:
    """Reads every stack of one environment into nodes (by group) and edges."""

    def __init__(self, stacks: list[_Stack]):
        self.stacks = stacks
        self.placed: dict[str, dict[str, list[Node]]] = defaultdict(lambda: defaultdict(list))  # prefix -> tier
        self.loose: list[Node] = []
        self.edges: set[Edge] = set()
        self.records: dict[str, list[str]] = defaultdict(list)  # DNS name -> record node ids
        self.databases: dict[str, str] = {}  # RDS identifier -> node id

    def add(self, stack: _Stack, type_: str, name: str, lines: list[str], kind: str, tier: str | None = None) -> str:
        node_id = stack.node_id(type_, name)
        stack.node_ids[(type_, name)] = node_id
        self.placed[stack.prefix][tier or ""].append(Node(node_id, tuple(line for line in lines if line), kind))
        return node_id

    def find(self, stack: _Stack, value: object, *types: str) -> list[str]:
        return sorted({stack.node_ids[(t, n)] for t, n in refs(value) if t in types and (t, n) in stack.node_ids})

    def build(self) -> None:
        for stack in self.stacks:
            self.network_and_compute(stack)
        for stack in self.stacks:
            self.dns(stack)
        for stack in self.stacks:
            self.dns_edges(stack)
        for stack in self.stacks:
            self.edge(stack)
        self.replication()

    def network_and_compute(self, stack: _Stack) -> None:
        tier_of, _ = _tiers(stack)
        for name, lb in stack.resources("aws_lb"):
            kind = {"application": "Application", "network": "Network"}.get(lb.get("load_balancer_type", ""), "")
            self.add(
                stack,
                "aws_lb",
                name,
                [f"{kind} Load Balancer".strip(), lb.get("name", "")],
                "service",
                _tier_of(lb.get("subnets"), tier_of),
            )
        nats: dict[str | None, list[str]] = defaultdict(list)
        for name, nat in stack.resources("aws_nat_gateway"):
            nats[_tier_of(nat.get("subnet_id"), tier_of)].append(name)
        for tier, names in sorted(nats.items(), key=lambda item: item[0] or ""):
            self.add(stack, "aws_nat_gateway", names[0], [f"NAT gateway ×{len(names)}"], "service", tier)
        templates = dict(stack.resources("aws_launch_template"))
        for name, asg in stack.resources("aws_autoscaling_group"):
            count = stack.value(asg.get("desired_capacity", asg.get("min_size")))
            template = next(
                (templates[n] for t, n in refs(asg.get("launch_template")) if t == "aws_launch_template"), {}
            )
            size = " × ".join(str(x) for x in (count, template.get("instance_type")) if x is not None)
            self.add(
                stack,
                "aws_autoscaling_group",
                name,
                ["Auto Scaling group", f"{size} (max {stack.value(asg.get('max_size'))})", asg.get("name", "")],
                "service",
                _tier_of(asg.get("vpc_zone_identifier"), tier_of),
            )
        subnet_groups = dict(stack.resources("aws_db_subnet_group"))

        def db_tier(body: dict) -> str | None:
            group = next((n for t, n in refs(body.get("db_subnet_group_name")) if t == "aws_db_subnet_group"), None)
            return _tier_of(subnet_groups.get(group, {}).get("subnet_ids"), tier_of)

        for name, db in stack.resources("aws_db_instance"):
            role = "read replica" if db.get("replicate_source_db") else "writer"  # a replica has no engine of its own
            engine = " ".join(x for x in ("RDS", db.get("engine"), db.get("engine_version")) if x)
            shape = f"{db.get('instance_class', '')}{' · Multi-AZ' if db.get('multi_az') else ''}"
            node_id = self.add(
                stack,
                "aws_db_instance",
                name,
                [f"{engine} {role}", db.get("identifier", ""), shape],
                "database",
                db_tier(db),
            )
            self.databases[db.get("identifier", node_id)] = node_id
        instances: dict[str, list[dict]] = defaultdict(list)
        for _, instance in stack.resources("aws_rds_cluster_instance"):
            for t, n in refs(instance.get("cluster_identifier")):
                if t == "aws_rds_cluster":
                    instances[n].append(instance)
        for name, cluster in stack.resources("aws_rds_cluster"):
            secondary = cluster.get("source_region") or cluster.get("replication_source_identifier")
            role = "secondary" if secondary else "writer"
            members = instances[name]
            classes = sorted({i.get("instance_class", "") for i in members})
            self.add(
                stack,
                "aws_rds_cluster",
                name,
                [
                    f"Aurora {cluster.get('engine', '')} · {role}",
                    cluster.get("cluster_identifier", ""),
                    f"{len(members)} × {', '.join(classes)}",
                ],
                "database",
                db_tier(cluster),
            )
        for name, function in stack.resources("aws_lambda_function"):
            tier = _tier_of(function.get("vpc_config", {}).get("subnet_ids"), tier_of)
            self.add(
                stack,
                "aws_lambda_function",
                name,
                ["Lambda", function.get("function_name", ""), function.get("runtime", "")],
                "function",
                tier,
            )
        self.ingest(stack)
        self.security_group_flows(stack)

    def ingest(self, stack: _Stack) -> None:
        """Bucket -> function (its notifications), function -> dead-letter queue."""
        for _, notification in stack.resources("aws_s3_bucket_notification"):
            buckets = [n for t, n in refs(notification.get("bucket")) if t == "aws_s3_bucket"]
            for bucket in buckets:
                body = stack.body("aws_s3_bucket", bucket)
                source = self.add(stack, "aws_s3_bucket", bucket, ["S3 bucket", body.get("bucket", "")], "storage")
                for target in notification.get("lambda_function", []):
                    events = ", ".join(e.removeprefix("s3:") for e in target.get("events", []))
                    label = f"{events} {target.get('filter_prefix', '')}".strip()
                    for function in self.find(stack, target.get("lambda_function_arn"), "aws_lambda_function"):
                        self.edges.add(Edge(source, function, label))
        for name, function in stack.resources("aws_lambda_function"):
            for queue in [n for t, n in refs(function.get("dead_letter_config")) if t == "aws_sqs_queue"]:
                body = stack.body("aws_sqs_queue", queue)
                target = self.add(
                    stack, "aws_sqs_queue", queue, ["SQS dead-letter queue", body.get("name", "")], "queue"
                )
                self.edges.add(Edge(stack.node_ids[("aws_lambda_function", name)], target, "failed events"))

    def security_group_flows(self, stack: _Stack) -> None:
        """Traffic between drawn resources: a rule of one security group naming another, with its port."""
        owners: dict[str, set[str]] = defaultdict(set)
        fields = ("security_groups", "vpc_security_group_ids", "network_interfaces", "vpc_config")
        templates = {n: b for n, b in stack.resources("aws_launch_template")}
        for (type_, name), node_id in stack.node_ids.items():
            body = stack.body(type_, name)
            for t, n in refs([body.get(f) for f in fields]):
                if t == "aws_security_group":
                    owners[n].add(node_id)
            if type_ == "aws_autoscaling_group":  # the instances' groups are in the launch template
                for t, n in refs(body.get("launch_template")):
                    interfaces = templates.get(n, {}).get("network_interfaces") if t == "aws_launch_template" else None
                    for tt, group in refs(interfaces):
                        if tt == "aws_security_group":
                            owners[group].add(node_id)
        for direction in ("egress", "ingress"):
            for _, rule in stack.resources(f"aws_vpc_security_group_{direction}_rule"):
                own = [n for t, n in refs(rule.get("security_group_id")) if t == "aws_security_group"]
                other = [n for t, n in refs(rule.get("referenced_security_group_id")) if t == "aws_security_group"]
                if not own or not other:
                    continue
                source, target = (own[0], other[0]) if direction == "egress" else (other[0], own[0])
                port = rule.get("from_port")
                label = f"{rule.get('ip_protocol', 'tcp')}/{port}" if port == rule.get("to_port") else "tcp"
                for a in sorted(owners[source]):
                    for b in sorted(owners[target]):
                        self.edges.add(Edge(a, b, label))

    def dns(self, stack: _Stack) -> None:
        """Records with literal names (certificate validation records are computed, so left out),
        one node per name and routing set; health checks."""
        for name, check in stack.resources("aws_route53_health_check"):
            where = f"{check.get('fqdn', '')}{check.get('resource_path', '')}"
            self.add(
                stack,
                "aws_route53_health_check",
                name,
                ["Route 53 health check", f"{check.get('type', '')} {where}".strip()],
                "dns",
            )
        merged: dict[tuple[str, str], list[tuple[str, dict]]] = defaultdict(list)
        for name, record in stack.resources("aws_route53_record"):
            if isinstance(record.get("name"), str) and not _UNRESOLVED.search(record["name"]):
                merged[(record["name"], record.get("set_identifier", ""))].append((name, record))
        for (dns_name, _), records in sorted(merged.items()):
            first, record = records[0]
            types = "/".join(sorted(r.get("type", "") for _, r in records))
            node_id = self.add(
                stack, "aws_route53_record", first, [dns_name, f"{types} {_routing(record)}".strip()], "dns"
            )
            for other, _ in records[1:]:
                stack.node_ids[("aws_route53_record", other)] = node_id
            self.records[dns_name].append(node_id)

    def dns_edges(self, stack: _Stack) -> None:
        """After every stack's records exist: an alias to another record reaches every record of
        that name (a failover or latency set spans the regions' stacks)."""
        checks = {
            n: stack.node_ids[("aws_route53_health_check", n)] for n, _ in stack.resources("aws_route53_health_check")
        }
        for name, record in stack.resources("aws_route53_record"):
            source = stack.node_ids.get(("aws_route53_record", name))
            if source is None:
                continue
            for check in [checks[n] for t, n in refs(record.get("health_check_id")) if t == "aws_route53_health_check"]:
                self.edges.add(Edge(source, check, "health check", dashed=True))
        for name, record in stack.resources("aws_route53_record"):
            source = stack.node_ids.get(("aws_route53_record", name))
            if source is None:
                continue
            for t, n in refs(record.get("alias")):
                if t == "aws_route53_record":
                    targets = self.records.get(stack.body(t, n).get("name", ""), [])
                else:
                    targets = [stack.node_ids[(t, n)]] if (t, n) in stack.node_ids else []
                for target in targets:
                    if target != source:
                        self.edges.add(Edge(source, target, "alias"))
        for name, check in stack.resources("aws_route53_health_check"):
            for target in self.records.get(check.get("fqdn", ""), []):
                if target.startswith(f"{stack.prefix}_"):
                    self.edges.add(Edge(checks[name], target, "probes", dashed=True))

    def edge(self, stack: _Stack) -> None:
        """CloudFront, its WAF, its viewer records and an edge to every record its origins name."""
        for name, acl in stack.resources("aws_wafv2_web_acl"):
            rules = len(acl.get("rule", []))
            self.add(
                stack, "aws_wafv2_web_acl", name, ["WAF web ACL", acl.get("name", ""), f"{rules} rules"], "service"
            )
        for name, cdn in stack.resources("aws_cloudfront_distribution"):
            lines = ["CloudFront", ", ".join(cdn.get("aliases", [])), cdn.get("price_class", "")]
            node_id = self.add(stack, "aws_cloudfront_distribution", name, lines, "service")
            for waf in self.find(stack, cdn.get("web_acl_id"), "aws_wafv2_web_acl"):
                self.edges.add(Edge(waf, node_id, "filters"))
            groups = {m["origin_id"]: g["origin_id"] for g in cdn.get("origin_group", []) for m in g.get("member", [])}
            for origin in cdn.get("origin", []):
                origin_id = origin["origin_id"]
                label = f"{groups[origin_id]}: {origin_id}" if origin_id in groups else origin_id
                targets = self.records.get(origin.get("domain_name", ""), [])
                if not targets:  # an origin no drawn record names (a bucket, a name outside the zone)
                    oid = f"{stack.prefix}_origin_{slug(origin['origin_id'])}"
                    self.placed[stack.prefix][""].append(
                        Node(oid, ("origin", origin.get("domain_name", "")), "service")
                    )
                    targets = [oid]
                for target in targets:
                    self.edges.add(Edge(node_id, target, label))
            # viewer records aliased to the distribution were drawn by dns() before the node existed
            for record_name, record in stack.resources("aws_route53_record"):
                source = stack.node_ids.get(("aws_route53_record", record_name))
                if source and ("aws_cloudfront_distribution", name) in refs(record.get("alias")):
                    self.edges.add(Edge(source, node_id, "alias"))

    def replication(self) -> None:
        """RDS replicas from their source; Aurora clusters from their global database and writer."""
        for stack in self.stacks:
            for name, db in stack.resources("aws_db_instance"):
                source = db.get("replicate_source_db")
                if source:
                    identifier = source.rpartition(":db:")[2] if ":db:" in source else source
                    if identifier in self.databases:
                        target = stack.node_ids[("aws_db_instance", name)]
                        self.edges.add(Edge(self.databases[identifier], target, "replication"))
        writers, secondaries, members = [], [], []
        for stack in self.stacks:
            for _, global_db in stack.resources("aws_rds_global_cluster"):
                identifier = global_db.get("global_cluster_identifier", "")
                self.loose.append(Node(GLOBAL_DATABASE, ("Aurora global database", identifier), "database"))
            for name, cluster in stack.resources("aws_rds_cluster"):
                node_id = stack.node_ids[("aws_rds_cluster", name)]
                (secondaries if cluster.get("source_region") else writers).append(node_id)
                if cluster.get("global_cluster_identifier"):
                    members.append(node_id)
        for member in members if self.loose else []:
            self.edges.add(Edge(GLOBAL_DATABASE, member, "member", dashed=True))
        for writer in writers:
            for secondary in secondaries:
                self.edges.add(Edge(writer, secondary, "storage replication"))

    def groups(self) -> list[Group]:
        result = []
        for stack in self.stacks:
            placed = self.placed[stack.prefix]
            nodes = tuple(sorted(placed.get("", [])))
            vpcs = []
            _, tiers = _tiers(stack)
            for _, vpc in stack.resources("aws_vpc"):
                tier_groups = tuple(
                    Group(
                        f"{stack.prefix}_{slug(tier)}_subnets",
                        f"{tier} subnets ×{len(names)} · {kind}",
                        tuple(sorted(placed.get(tier, []))),
                    )
                    for tier, names, kind in tiers
                )
                vpcs.append(Group(f"{stack.prefix}_vpc", f"VPC {vpc.get('cidr_block', '')}", (), tier_groups))
            label = f"{stack.spec.region} · {stack.spec.role} · {stack.spec.name}"
            result.append(Group(stack.prefix, label, nodes, tuple(vpcs)))
        return result


def build(specs: list[StackSpec], documents: dict[str, dict], title: str) -> Diagram:
    """The diagram of `specs` (one environment's stacks, in deploy order) from their JSON documents."""
    stacks = [_Stack(s, documents[s.name], slug(s.region if s.role != StackRole.EDGE else "edge")) for s in specs]
    builder = _Builder(stacks)
    builder.build()
    known = {n.id for g in builder.groups() for n in g.all_nodes()} | {n.id for n in builder.loose}
    edges = tuple(sorted(e for e in builder.edges if e.source in known and e.target in known))
    return Diagram(title, tuple(builder.groups()), tuple(sorted(builder.loose)), edges)


# ---------------------------------------------------------------- Mermaid


def _mermaid_text(lines: tuple[str, ...]) -> str:
    return "<br>".join(line.replace('"', "#quot;") for line in lines)


_MERMAID_SHAPES = {
    "database": ('[("', '")]'),
    "dns": ('(["', '"])'),
    "queue": ('[["', '"]]'),
    "storage": ('[("', '")]'),
}


def mermaid(diagram: Diagram) -> str:
    out = ["flowchart TB", f"  %% {diagram.title}: generated from the synthesized Terraform JSON"]

    def group(g: Group, depth: int) -> None:
        pad = "  " * depth
        out.append(f'{pad}subgraph {g.id}["{_mermaid_text((g.label,))}"]')
        for node in g.nodes:
            opening, closing = _MERMAID_SHAPES.get(node.kind, ('["', '"]'))
            out.append(f"{pad}  {node.id}{opening}{_mermaid_text(node.lines)}{closing}")
        for inner in g.groups:
            group(inner, depth + 1)
        out.append(f"{pad}end")

    for node in diagram.nodes:
        opening, closing = _MERMAID_SHAPES.get(node.kind, ('["', '"]'))
        out.append(f"  {node.id}{opening}{_mermaid_text(node.lines)}{closing}")
    for g in diagram.groups:
        group(g, 1)
    for e in diagram.edges:
        arrow = "-.->" if e.dashed else "-->"
        label = f'|"{_mermaid_text((e.label,))}"|' if e.label else ""
        out.append(f"  {e.source} {arrow}{label} {e.target}")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- Graphviz


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_DOT_SHAPES = {"database": "cylinder", "dns": "ellipse", "queue": "box3d", "storage": "folder", "function": "component"}


def dot(diagram: Diagram) -> str:
    out = [
        f"digraph {_dot_string(diagram.title)} {{",
        f"  graph [rankdir=TB, compound=true, fontname=Helvetica, label={_dot_string(diagram.title)}];",
        "  node [shape=box, style=rounded, fontname=Helvetica, fontsize=11];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]

    def node(n: Node, pad: str) -> None:
        label = _dot_string("\n".join(n.lines)).replace("\n", "\\n")
        out.append(f"{pad}{n.id} [label={label}, shape={_DOT_SHAPES.get(n.kind, 'box')}];")

    def group(g: Group, depth: int) -> None:
        pad = "  " * depth
        out.append(f"{pad}subgraph cluster_{g.id} {{")
        out.append(f"{pad}  label={_dot_string(g.label)};")
        for n in g.nodes:
            node(n, pad + "  ")
        for inner in g.groups:
            group(inner, depth + 1)
        out.append(f"{pad}}}")

    for n in diagram.nodes:
        node(n, "  ")
    for g in diagram.groups:
        group(g, 1)
    for e in diagram.edges:
        attributes = [f"label={_dot_string(e.label)}"] if e.label else []
        attributes += ["style=dashed"] if e.dashed else []
        out.append(f"  {e.source} -> {e.target}{' [' + ', '.join(attributes) + ']' if attributes else ''};")
    out.append("}")
    return "\n".join(out) + "\n"


def render(dot_text: str, target: Path) -> None:
    """SVG or PNG (by `target`'s suffix) through Graphviz's `dot`."""
    binary = require_dot()
    fmt = target.suffix.lstrip(".").lower()
    done = subprocess.run([binary, f"-T{fmt}", "-o", str(target)], input=dot_text, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise OperationFailed(f"Graphviz dot could not render {target}: {detail}")


def require_dot() -> str:
    binary = shutil.which("dot")
    if binary is None:
        raise EnvironmentProblem(
            "Graphviz's `dot` is not installed (SVG and PNG need it): install the graphviz package "
            "(apt-get install graphviz, brew install graphviz), or write Mermaid with --out FILE.mmd"
        )
    return binary


# ---------------------------------------------------------------- the command


def check_target(out: Path | None) -> None:
    """Refuse a bad --out before the synth: an unknown suffix, a missing folder, no `dot`."""
    if out is None:
        return
    suffix = out.suffix.lower()
    if suffix not in MERMAID_SUFFIXES + GRAPHVIZ_SUFFIXES:
        known = ", ".join(MERMAID_SUFFIXES + GRAPHVIZ_SUFFIXES)
        raise UsageError(f"--out {out}: the file name must end in one of {known}")
    if not out.parent.is_dir():
        raise OutputDirError(f"--out {out}: the folder {out.parent} does not exist; create it or choose another")
    if suffix in GRAPHVIZ_SUFFIXES:
        require_dot()


def synthesize(config: Config, specs: list[StackSpec], synth_out: Path) -> dict[str, dict]:
    """The stacks' Terraform JSON, synthesized into `synth_out` as `synth` and `plan` do
    (stacks.app.synth): the same folder, replaced the same way (never one holding state), and
    an unchanged configuration and code are not synthesized again (stacks/fingerprint.py), so
    a diagram after a synth, or a second diagram, skips cdktf and Node."""
    import json

    from modules.runtime import require_node

    require_node()  # a clear error when Node is missing, before any work
    from stacks import app  # imports no cdktf: app.synth starts it only when it must synthesize

    paths = app.synth(config, specs, synth_out)
    return {name: json.loads(path.read_text()) for name, path in paths.items()}


def environment_diagram(config: Config, env: str, synth_out: Path) -> Diagram:
    specs = config.select(env, None)
    return build(specs, synthesize(config, specs, synth_out), f"{env} ({config.source.name})")


def readme_block(text: str) -> tuple[str, str]:
    """(environment, Mermaid text) of the README's diagram block."""
    begin = README_BEGIN.search(text)
    end = text.find(README_END, begin.end()) if begin else -1
    if not begin or end < 0:
        raise UsageError(f"the README has no diagram block ({README_BEGIN.pattern} ... {README_END})")
    body = text[begin.end() : end].strip()
    return begin["env"], body.removeprefix("```mermaid").removesuffix("```").strip() + "\n"


def embed(text: str, mermaid_text: str) -> str:
    """`text` with its diagram block replaced by `mermaid_text` (fenced for GitHub)."""
    readme_block(text)  # refuses a text without the block
    begin = README_BEGIN.search(text)
    assert begin is not None
    end = text.find(README_END, begin.end())
    return f"{text[: begin.end()]}\n```mermaid\n{mermaid_text}```\n{text[end:]}"


def run(config: Config, env: str, out: Path | None, readme: Path | None, synth_out: Path) -> str | None:
    """The `graph` command: Mermaid text to print, or None when written to --out or --readme.
    The stacks are synthesized into `synth_out` (--synth-out, the other commands' --out)."""
    if out is not None and readme is not None:
        raise UsageError("--out and --readme are exclusive: choose one place to write the diagram")
    check_target(out)
    config.select(env, None)  # an unknown environment is exit 2 before any synth
    if readme is not None:
        if not readme.is_file():
            raise UsageError(f"--readme {readme}: no such file")
        wanted, _ = readme_block(readme.read_text())
        if wanted != env:
            raise UsageError(f"{readme}'s diagram block is for --env {wanted}, not {env}")
    diagram = environment_diagram(config, env, synth_out)
    text = mermaid(diagram)
    if readme is not None:
        readme.write_text(embed(readme.read_text(), text))
        return None
    if out is None:
        return text
    write(diagram, out)
    return None


def write(diagram: Diagram, out: Path) -> None:
    """`out` by its suffix: Mermaid text (.mmd), fenced Mermaid (.md), Graphviz SVG or PNG."""
    suffix = out.suffix.lower()
    if suffix in GRAPHVIZ_SUFFIXES:
        render(dot(diagram), out)
    else:
        text = mermaid(diagram)
        out.write_text(f"```mermaid\n{text}```\n" if suffix == ".md" else text)
