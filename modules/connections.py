"""Security-group connections, written from both sides at once (the AWS CDK `connections` pattern).

A connection between two groups needs two rules: the ingress on the group that is reached and
the matching egress on the group that reaches it (the platform's groups have no blanket egress).
Writing one side in each construct spreads one fact over two modules and lets them drift (a port
changed on one side only, or a module writing rules onto another module's group). Here a
construct exposes its group as `Connections`, and `target.allow_from(source, port)` writes
both rules together, under the target's construct, named after both groups.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from config.naming import Namer
from modules import aws


@dataclass(frozen=True)
class Connections:
    """One security group as a party to connections.

    `name` is the naming helper's service token of the group ("web", "alb"): rule tags are
    `<target>-from-<source>` and `<source>-to-<target>`. `scope` is the construct that owns the
    group; rules that admit traffic to it are created there."""

    scope: Construct
    namer: Namer
    name: str
    security_group_id: str

    def allow_from(
        self,
        source: Connections,
        port: int,
        *,
        label: str,
        ingress_description: str,
        egress_description: str,
        ingress_id: str | None = None,
    ) -> tuple:
        """Admit TCP `port` from `source`'s group and let `source` send to it: the ingress on this
        group and the egress on the source's group, both created in this group's construct
        (construct ids `<label>-from-<source>` and `<source>-to-<label>`). Returns (ingress, egress).

        Why the egress sits in the target's construct, though it is a rule of the source's group:
        one connection is then one place in the tree, and both Terraform addresses depend only on
        the target's path, the label and the source's name. The addresses stay stable whatever
        else the source's construct holds, and the load balancer's egress keeps the address it was
        deployed under (`web/alb-to-service`): moving it under the source would rename it, and a
        renamed rule is a new rule beside an identical old one, which EC2 refuses as a duplicate.

        `ingress_id` keeps the construct id of an ingress deployed before its connection was written
        here (the database's numbered `postgres-from-<n>`), for the same reason: a Terraform `moved`
        block would carry it over, but checkov's Terraform-JSON parser cannot read one (it fails the
        whole stack), so the rule keeps its address instead."""
        if not 0 < port < 65536:
            raise ValueError(f"connection {source.name} -> {self.name}: port {port} is not a TCP port (1..65535)")
        if source.security_group_id is self.security_group_id:
            raise ValueError(f"connection {source.name} -> {self.name}: a group needs no rule to reach itself")
        ingress = aws.vpc_security_group_ingress_rule.VpcSecurityGroupIngressRule(
            self.scope,
            ingress_id or f"{label}-from-{source.name}",
            security_group_id=self.security_group_id,
            referenced_security_group_id=source.security_group_id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=ingress_description,
            tags=self.namer.resource_tags(f"{self.name}-from-{source.name}"),
        )
        egress = aws.vpc_security_group_egress_rule.VpcSecurityGroupEgressRule(
            self.scope,
            f"{source.name}-to-{label}",
            security_group_id=source.security_group_id,
            referenced_security_group_id=self.security_group_id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=egress_description,
            tags=self.namer.resource_tags(f"{source.name}-to-{self.name}"),
        )
        return ingress, egress
