"""modules/connections.py: one call writes both sides of a security-group connection."""

from __future__ import annotations

import pytest
from support.tfjson import load_stacks, resources


def synth_connection(tmp_path, port=8080):
    from cdktf import App, TerraformStack
    from constructs import Construct

    from config.naming import Namer
    from modules import aws
    from modules.connections import Connections

    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, "dev-us-east-1")
    aws.provider.AwsProvider(stack, "aws", region="us-east-1")
    namer = Namer("dev", "us-east-1", "a1")
    web, lb = Construct(stack, "web"), Construct(stack, "lb")
    target = Connections(web, namer, "web", "sg-web")
    source = Connections(lb, namer, "alb", "sg-alb")
    target.allow_from(source, port, label="service", ingress_description="in", egress_description="out")
    app.synth()
    return load_stacks(tmp_path / "out")["dev-us-east-1"]


def test_allow_from_writes_the_ingress_and_the_matching_egress(tmp_path):
    stack = synth_connection(tmp_path)
    ((ingress_id, ingress),) = resources(stack, "aws_vpc_security_group_ingress_rule").items()
    ((egress_id, egress),) = resources(stack, "aws_vpc_security_group_egress_rule").items()
    # Both sides live under the target's construct, named after both groups.
    assert ingress_id.startswith("web_service-from-alb_") and egress_id.startswith("web_alb-to-service_")
    assert (ingress["security_group_id"], ingress["referenced_security_group_id"]) == ("sg-web", "sg-alb")
    assert (egress["security_group_id"], egress["referenced_security_group_id"]) == ("sg-alb", "sg-web")
    for rule in (ingress, egress):
        assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", 8080, 8080)
    assert ingress["tags"]["Name"] == "dev-us-east-1-web-from-alb-a1"
    assert egress["tags"]["Name"] == "dev-us-east-1-alb-to-web-a1"


def test_a_bad_port_or_a_group_reaching_itself_is_refused(tmp_path):
    from cdktf import App, TerraformStack
    from constructs import Construct

    from config.naming import Namer
    from modules.connections import Connections

    stack = TerraformStack(App(outdir=str(tmp_path / "o")), "s")
    namer = Namer("dev", "us-east-1", "a1")
    group = Connections(Construct(stack, "a"), namer, "web", "sg-1")
    other = Connections(Construct(stack, "b"), namer, "alb", "sg-2")
    with pytest.raises(ValueError, match="port 0 is not a TCP port"):
        group.allow_from(other, 0, label="x", ingress_description="i", egress_description="e")
    with pytest.raises(ValueError, match="needs no rule to reach itself"):
        group.allow_from(group, 443, label="x", ingress_description="i", egress_description="e")


def test_the_instances_admit_the_load_balancer_and_it_may_reach_only_them(synthesized):
    """In every regional stack: the load balancer's group has exactly one egress rule, to the
    instances' group on the service port, matching the instances' one ingress from it."""
    import webapp

    for name, stack in synthesized.stacks.items():
        if name.endswith("-global"):
            continue
        groups = {body["name"]: key for key, body in resources(stack, "aws_security_group").items()}
        alb = f"${{aws_security_group.{groups[f'{name}-alb-a1']}.id}}"
        web = f"${{aws_security_group.{groups[f'{name}-web-a1']}.id}}"
        out = [
            r for r in resources(stack, "aws_vpc_security_group_egress_rule").values() if r["security_group_id"] == alb
        ]
        into = [
            r for r in resources(stack, "aws_vpc_security_group_ingress_rule").values() if r["security_group_id"] == web
        ]
        assert [(r["referenced_security_group_id"], r["from_port"]) for r in out] == [(web, webapp.PORT)], name
        assert [(r["referenced_security_group_id"], r["from_port"]) for r in into] == [(alb, webapp.PORT)], name


def test_an_ingress_deployed_before_keeps_its_construct_id(tmp_path):
    """`ingress_id` keeps a deployed rule's address (a renamed rule would duplicate the old one)."""
    from cdktf import App, TerraformStack
    from constructs import Construct

    from config.naming import Namer
    from modules.connections import Connections

    stack = TerraformStack(App(outdir=str(tmp_path / "o")), "s")
    namer = Namer("dev", "us-east-1", "a1")
    db = Connections(Construct(stack, "database"), namer, "db", "sg-db")
    web = Connections(Construct(stack, "web"), namer, "web", "sg-web")
    ingress, egress = db.allow_from(
        web, 5432, label="postgres", ingress_description="i", egress_description="e", ingress_id="postgres-from-1"
    )
    assert (ingress.node.path, egress.node.path) == ("s/database/postgres-from-1", "s/database/web-to-postgres")
