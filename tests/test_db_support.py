"""modules/db_support.py at the construct: the pieces both database topologies share create their
resources in the owner's scope under the ids the owners always used (so their Terraform addresses
never moved), the security group admits 5432 from named clients only, the parameter group forces
TLS, the exported log groups carry the retention and the key, and the monitoring role is RDS's
(tests/test_database.py and tests/test_aurora.py check the same on the synthesized stacks)."""

from __future__ import annotations

import json
import re

import pytest
from support import table
from support.tfjson import load_stacks, only, refers_to, resources

from modules import db_support
from modules.db_support import (
    PORT,
    TLS_AND_LOGGING_PARAMETERS,
    DatabaseNetwork,
    final_snapshot_name,
    log_groups,
    monitoring_role,
    parameter_group,
)

REGION = "us-east-1"


def build(tmp_path, clients=("web",), cluster=False):
    """One stack with a region key and an owner construct `database` holding every shared piece, as
    modules/database.py (or, with `cluster`, modules/aurora.py) creates them; returns (the owner,
    the network, the log groups, the monitoring role and attachment, the key, the stack's JSON)."""
    from cdktf import App, TerraformStack
    from constructs import Construct

    from config.naming import Namer
    from modules import aws
    from modules.connections import Connections

    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, f"dev-{REGION}")
    aws.provider.AwsProvider(stack, "aws", region=REGION)
    namer = Namer("dev", REGION, "a1")
    key = table.region_key(stack, namer, REGION)
    owner = Construct(stack, "database")
    network = DatabaseNetwork(owner, namer, "vpc-1", ["subnet-a", "subnet-b"])
    if cluster:
        pg = aws.rds_cluster_parameter_group
        parameter_group(
            owner, namer, "aurora-postgresql16", pg.RdsClusterParameterGroup, pg.RdsClusterParameterGroupParameter
        )
    else:
        pg = aws.db_parameter_group
        parameter_group(owner, namer, "postgres16", pg.DbParameterGroup, pg.DbParameterGroupParameter)
    exported = log_groups(
        owner,
        namer,
        key,
        "/aws/rds/instance/dev-",
        [("postgresql", "/aws/rds/instance/x/postgresql"), ("upgrade", "/aws/rds/instance/x/upgrade")],
        30,
    )
    role, attachment = monitoring_role(owner, namer)
    for client in clients:
        network.allow_from(Connections(Construct(stack, f"client-{client}"), namer, client, f"sg-{client}"))
    app.synth()
    (synthesized,) = load_stacks(tmp_path / "out").values()
    return owner, network, exported, (role, attachment), key, synthesized


def paths(owner) -> set[str]:
    return {child.node.path.removeprefix(owner.node.path + "/") for child in owner.node.children}


def test_every_piece_sits_directly_in_the_owner_under_the_ids_the_owners_used(tmp_path):
    """No intermediate construct: the ids (hence the Terraform addresses) are the ones
    modules/database.py and modules/aurora.py had before the pieces moved here."""
    owner, network, *_ = build(tmp_path, clients=("web", "ops"))
    assert not isinstance(network, type(owner)), "DatabaseNetwork must not be a construct"
    assert paths(owner) == {
        "sg",
        "subnets",
        "parameters",
        "log-postgresql",
        "log-upgrade",
        "monitoring",
        "monitoring-trust",
        "monitoring-attachment",
        "postgres-from-1",
        "web-to-postgres",
        "postgres-from-2",
        "ops-to-postgres",
    }
    assert network.security_group.node.scope is owner and network.subnet_group.node.scope is owner


def test_the_network_admits_postgres_from_each_named_client_only(tmp_path):
    *_, stack = build(tmp_path, clients=("web", "ops"))
    sg_name, sg = only(stack, "aws_security_group")
    assert "ingress" not in sg or not sg["ingress"]
    assert sg["vpc_id"] == "vpc-1"
    rules = resources(stack, "aws_vpc_security_group_ingress_rule")
    assert sorted(r["referenced_security_group_id"] for r in rules.values()) == ["sg-ops", "sg-web"]
    for rule in rules.values():
        assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", PORT, PORT) == ("tcp", 5432, 5432)
        assert refers_to(rule["security_group_id"], "aws_security_group", sg_name, "id")
        assert "cidr_ipv4" not in rule
    _, subnets = only(stack, "aws_db_subnet_group")
    assert subnets["subnet_ids"] == ["subnet-a", "subnet-b"]


def test_each_client_may_reach_the_database_and_nothing_wider(tmp_path):
    """The client's egress is written with the ingress: to the database's group on 5432, not to
    an address range."""
    *_, stack = build(tmp_path, clients=("web", "ops"))
    sg_name, _ = only(stack, "aws_security_group")
    egress = resources(stack, "aws_vpc_security_group_egress_rule").values()
    assert sorted(r["security_group_id"] for r in egress) == ["sg-ops", "sg-web"]
    for rule in egress:
        assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == ("tcp", PORT, PORT)
        assert refers_to(rule["referenced_security_group_id"], "aws_security_group", sg_name, "id")
        assert "cidr_ipv4" not in rule


def test_the_ingress_rules_keep_the_numbered_ids_they_were_deployed_under(tmp_path):
    """Deployed stacks hold the ingress at `postgres-from-<n>`: a renamed rule would be created
    beside the identical old one (EC2 refuses the duplicate), and a moved block would stop
    checkov's JSON parser, so the ids stay; the egress, new with the connection, is named after both."""
    *_, stack = build(tmp_path, clients=("web", "ops"))
    ingress = resources(stack, "aws_vpc_security_group_ingress_rule")
    by_client = {r["referenced_security_group_id"]: n for n, r in ingress.items()}
    assert by_client["sg-web"].startswith("database_postgres-from-1_")
    assert by_client["sg-ops"].startswith("database_postgres-from-2_")
    assert ingress[by_client["sg-web"]]["tags"]["Name"] == "dev-us-east-1-db-from-web-a1"
    assert "moved" not in stack


def test_no_client_no_ingress(tmp_path):
    *_, stack = build(tmp_path, clients=())
    assert not resources(stack, "aws_vpc_security_group_ingress_rule")
    assert not resources(stack, "aws_vpc_security_group_egress_rule")


@pytest.mark.parametrize(
    ("cluster", "type_"), [(False, "aws_db_parameter_group"), (True, "aws_rds_cluster_parameter_group")]
)
def test_the_parameter_group_forces_tls_and_logs_and_is_replaced_before_destroyed(tmp_path, cluster, type_):
    *_, stack = build(tmp_path, cluster=cluster)
    _, group = only(stack, type_)
    assert {(p["name"], p["value"]) for p in group["parameter"]} == set(TLS_AND_LOGGING_PARAMETERS)
    assert ("rds.force_ssl", "1") in TLS_AND_LOGGING_PARAMETERS
    assert {p["apply_method"] for p in group["parameter"]} == {"pending-reboot"}
    assert group["lifecycle"]["create_before_destroy"] is True


def test_the_log_groups_have_the_retention_and_the_key_which_admits_their_prefix(tmp_path):
    _, _, exported, _, key, stack = build(tmp_path)
    assert len(exported) == 2
    groups = resources(stack, "aws_cloudwatch_log_group")
    assert sorted(g["name"] for g in groups.values()) == [
        "/aws/rds/instance/x/postgresql",
        "/aws/rds/instance/x/upgrade",
    ]
    for group in groups.values():
        assert group["retention_in_days"] == 30
        assert group["kms_key_id"].startswith("${aws_kms_key.") and group["kms_key_id"].endswith(".arn}")
    assert "/aws/rds/instance/dev-" in key._log_group_prefixes


def test_the_monitoring_role_is_assumed_by_rds_monitoring_with_the_managed_policy(tmp_path):
    *_, (role, attachment), _, stack = build(tmp_path)
    assert (role.node.id, attachment.node.id) == ("monitoring", "monitoring-attachment")
    role_name, body = only(stack, "aws_iam_role")
    assert body["description"] == "RDS enhanced monitoring"
    _, trust_doc = only(stack, "aws_iam_policy_document", data=True)
    (statement,) = trust_doc["statement"]
    assert statement["principals"][0]["identifiers"] == ["monitoring.rds.amazonaws.com"]
    _, attached = only(stack, "aws_iam_role_policy_attachment")
    assert refers_to(attached["role"], "aws_iam_role", role_name, "name")
    assert attached["policy_arn"].endswith(f":iam::aws:policy/service-role/{db_support.MONITORING_POLICY}")


SNAPSHOT_IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)$")  # RDS's rule


def snapshot_names(tmp_path, lives: list[bool]) -> list[str | None]:
    """Apply, with real Terraform (terraform_data needs no provider), a stack that is the writer's
    (True: final_snapshot_name is called, as the writer branch does) or a replica's (False) in turn;
    the final snapshot name after each apply (None for a replica)."""
    import subprocess

    from cdktf import App, TerraformOutput, TerraformStack

    from config.naming import Namer

    names = []
    work = tmp_path / "work"
    work.mkdir()
    for writer in lives:
        app = App(outdir=str(tmp_path / "out"))
        stack = TerraformStack(app, "dev-us-east-1")
        if writer:
            TerraformOutput(stack, "name", value=final_snapshot_name(stack, Namer("prod", "us-east-1", "a1")))
        app.synth()
        (work / "main.tf.json").write_text((tmp_path / "out/stacks/dev-us-east-1/cdk.tf.json").read_text())
        for command in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
            subprocess.run(["terraform", *command], cwd=work, check=True, capture_output=True, timeout=120)
        out = subprocess.run(["terraform", "output", "-json"], cwd=work, check=True, capture_output=True)
        names.append(json.loads(out.stdout).get("name", {}).get("value"))
    return names


def test_the_final_snapshot_name_is_new_for_every_life_of_the_writer(tmp_path):
    """A fixed name fails the second drill: the deploy after a failover deletes the old writer with
    its final snapshot, and after failback the next one asks RDS for the same name again
    (DBSnapshotAlreadyExists). Writer, replica after a failover, writer again after failback, and
    an apply that changes nothing."""
    first, replica, again, unchanged = snapshot_names(tmp_path, [True, False, True, True])
    assert replica is None
    assert first != again, "a new writer, a new name"
    assert unchanged == again, "an apply that changes nothing keeps the name"
    for name in (first, again):
        assert name.startswith("prod-us-east-1-db-final-a1-") and SNAPSHOT_IDENTIFIER.match(name), name
