"""database_topology = "aurora_global" (modules/aurora.py), on the synthesized JSON of two- and
three-region environments: one global cluster, created by the writer region's stack; every other
region's secondary cluster joins it by identifier with its own key; TLS forced, IAM database
authentication, no password anywhere; and every stack validates with the real Terraform."""

from __future__ import annotations

import re

import pytest
from support.configs import variant
from support.synth import synthesize
from support.tfjson import all_resources, only, referenced, refers_to, resources, tagged, walk

from config import facts, model, naming
from config.errors import ConfigError
from config.regions import GLOBAL
from modules import aurora, credentials

AURORA = {"database_topology": "aurora_global", "db_instance_class": "db.r6g.large"}
THREE_REGIONS = ["us-east-1", "us-west-2", "eu-west-1"]


def aurora_config(default_data, **settings) -> model.Config:
    return model.parse(variant(default_data, environments={"dev": {**AURORA, **settings}}), "aurora.toml")


@pytest.fixture(scope="module", params=[2, 3], ids=["two-regions", "three-regions"])
def synthesized_aurora(request, default_data, tmp_path_factory):
    # The three-region variant also keeps a final snapshot, as staging and prod do.
    settings = {"regions": THREE_REGIONS, "db_skip_final_snapshot": False} if request.param == 3 else {}
    config = aurora_config(default_data, **settings)
    env = config.environments["dev"]
    assert len(env.regions) == request.param
    out = synthesize(config, tmp_path_factory.mktemp("aurora") / "out", env="dev")
    regional = {f"dev-{region}": out.stacks[f"dev-{region}"] for region in env.regions}
    return config, env, regional


def writer_and_secondaries(env, stacks):
    writer = stacks[f"dev-{env.writer_region}"]
    return writer, {name: stack for name, stack in stacks.items() if name != f"dev-{env.writer_region}"}


def test_one_global_cluster_created_by_the_writer_region(synthesized_aurora):
    config, env, stacks = synthesized_aurora
    writer, secondaries = writer_and_secondaries(env, stacks)
    _, global_cluster = only(writer, "aws_rds_global_cluster")
    assert (
        global_cluster["global_cluster_identifier"] == config.namer(env, GLOBAL).name("db", "rds") == "dev-global-db-a1"
    )
    assert global_cluster["engine"] == "aurora-postgresql"
    assert global_cluster["engine_version"] == facts.AURORA_POSTGRES_VERSIONS[env.database.engine_version]
    assert global_cluster["engine_version"].startswith(f"{env.database.engine_version}.")
    assert global_cluster["storage_encrypted"] is True
    assert global_cluster["deletion_protection"] is env.deletion_protection
    assert global_cluster["tags"]["Name"] == "dev-global-db-a1"
    for stack in secondaries.values():
        assert not resources(stack, "aws_rds_global_cluster")
    # No RDS instance of the other topologies in any region.
    for stack in stacks.values():
        assert not resources(stack, "aws_db_instance")


def test_the_writer_cluster_holds_the_credentials_and_joins_the_global_cluster(synthesized_aurora):
    _, env, stacks = synthesized_aurora
    writer, _ = writer_and_secondaries(env, stacks)
    global_name, global_cluster = only(writer, "aws_rds_global_cluster")
    _, cluster = only(writer, "aws_rds_cluster")
    assert cluster["global_cluster_identifier"] == global_cluster["global_cluster_identifier"]
    assert f"aws_rds_global_cluster.{global_name}" in cluster["depends_on"]
    assert cluster["engine"] == "aurora-postgresql" and cluster["engine_version"] == global_cluster["engine_version"]
    assert cluster["database_name"] == "app" and cluster["master_username"] == credentials.MASTER_USERNAME
    assert cluster["master_password_wo_version"] == credentials.CREDENTIAL_VERSION
    assert "source_region" not in cluster
    assert cluster["skip_final_snapshot"] is env.database.skip_final_snapshot
    if (
        not env.database.skip_final_snapshot
    ):  # three regions; one name per life of the writer (tests/test_db_support.py)
        marker = re.fullmatch(
            r".*-db-final-a1-\$\{substr\(terraform_data\.(\S+)\.id, 0, 8\)\}", cluster["final_snapshot_identifier"]
        )
        assert marker and marker[1] in resources(writer, "terraform_data")
    assert cluster["backup_retention_period"] == env.database.backup_retention_days
    assert cluster["deletion_protection"] is env.deletion_protection


def test_each_secondary_joins_by_identifier_with_its_own_key_and_no_credentials(synthesized_aurora):
    _, env, stacks = synthesized_aurora
    writer, secondaries = writer_and_secondaries(env, stacks)
    _, global_cluster = only(writer, "aws_rds_global_cluster")
    assert len(secondaries) == len(env.regions) - 1
    for name, stack in secondaries.items():
        _, cluster = only(stack, "aws_rds_cluster")
        assert cluster["global_cluster_identifier"] == global_cluster["global_cluster_identifier"], name
        assert cluster["source_region"] == env.writer_region
        assert cluster["cluster_identifier"] == f"{name}-db-a1"
        assert cluster["storage_encrypted"] is True
        assert refers_to(cluster["kms_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
        for attribute in ("master_username", "master_password", "master_password_wo", "database_name"):
            assert attribute not in cluster, (name, attribute)
        assert cluster["skip_final_snapshot"] is True
        # Its own subnet group, parameter group and security group, in its own stack.
        for attribute in ("db_subnet_group_name", "db_cluster_parameter_group_name"):
            referenced(stack, cluster[attribute])
        referenced(stack, cluster["vpc_security_group_ids"][0])
        assert not resources(stack, "aws_secretsmanager_secret_version") or all(
            "secret_string_wo" not in v for v in resources(stack, "aws_secretsmanager_secret_version").values()
        )


def test_a_switchover_never_replaces_a_cluster(synthesized_aurora):
    """Whatever differs between a writer's and a secondary's configuration is ignored after
    creation: moving writer_region after a switchover changes no cluster."""
    _, _, stacks = synthesized_aurora
    for stack in stacks.values():
        _, cluster = only(stack, "aws_rds_cluster")
        ignored = set(cluster["lifecycle"]["ignore_changes"])
        assert {"global_cluster_identifier", "source_region", "master_username", "database_name"} <= ignored
        assert "kms_key_id" not in ignored and "master_password_wo_version" not in ignored


def release(address: str) -> list[dict]:
    """The removed block a stack that is not the writer's declares: forget, never destroy."""
    return [{"from": address, "lifecycle": {"destroy": False}}]


def test_only_the_writer_declares_the_global_cluster_and_every_other_stack_releases_it(synthesized_aurora):
    """Across a failover the global cluster must stay in exactly one state: the same address in
    every regional stack, declared by the writer's (which, first in `regions`, creates it: no
    import) and released without destruction by every other (a no-op where it never was)."""
    _, env, stacks = synthesized_aurora
    writer, secondaries = writer_and_secondaries(env, stacks)
    global_name, _ = only(writer, "aws_rds_global_cluster")
    address = f"aws_rds_global_cluster.{global_name}"
    assert "import" not in writer and "removed" not in writer
    for name, stack in secondaries.items():
        assert stack["removed"] == release(address), name
        assert "import" not in stack


def test_a_writer_moved_by_a_failover_adopts_the_existing_global_cluster(default_data, tmp_path, synthesized_aurora):
    """writer_region moved off the first region (what `failover` records): the new writer's stack
    imports the global cluster at the address it had in the old writer's stack, by its
    identifier, instead of creating a second one; the old writer's stack releases it."""
    config = aurora_config(default_data, regions=THREE_REGIONS, writer_region="us-west-2")
    env = config.environments["dev"]
    stacks = synthesize(config, tmp_path / "out", env="dev").stacks
    _, _, before = synthesized_aurora
    address = "aws_rds_global_cluster." + only(before["dev-us-east-1"], "aws_rds_global_cluster")[0]
    new_writer = stacks["dev-us-west-2"]
    global_name, global_cluster = only(new_writer, "aws_rds_global_cluster")
    assert f"aws_rds_global_cluster.{global_name}" == address
    assert new_writer["import"] == [{"to": address, "id": global_cluster["global_cluster_identifier"]}]
    assert global_cluster["global_cluster_identifier"] == "dev-global-db-a1"
    assert "removed" not in new_writer
    for region in ("us-east-1", "eu-west-1"):
        stack = stacks[f"dev-{region}"]
        assert not resources(stack, "aws_rds_global_cluster")
        assert stack["removed"] == release(address) and "import" not in stack, region
    assert env.writer_region == "us-west-2"


def test_no_password_anywhere(synthesized_aurora):
    _, env, stacks = synthesized_aurora
    writer, secondaries = writer_and_secondaries(env, stacks)
    for stack in stacks.values():
        keys = {k for k, _ in walk(stack)}
        assert not keys & {"password", "master_password", "manage_master_user_password"}
        assert "random_password" not in {t for t, _, _ in all_resources(stack)}
        assert "output" not in stack or "ephemeral." not in str(stack["output"])
    (generator,) = writer["ephemeral"]["aws_secretsmanager_random_password"].items()
    logical, _ = generator
    reference = f"ephemeral.aws_secretsmanager_random_password.{logical}.random_password"
    _, cluster = only(writer, "aws_rds_cluster")
    assert cluster["master_password_wo"] == f"${{{reference}}}"
    secret_name, _ = tagged(writer, "aws_secretsmanager_secret", "db-bootstrap")
    (version,) = [
        v
        for v in resources(writer, "aws_secretsmanager_secret_version").values()
        if refers_to(v["secret_id"], "aws_secretsmanager_secret", secret_name, "id")
    ]
    assert reference in version["secret_string_wo"] and "secret_string" not in version
    for stack in secondaries.values():
        assert "ephemeral" not in stack
        assert not [s for s in resources(stack, "aws_secretsmanager_secret").values() if "db-bootstrap" in s["name"]]


def test_tls_is_forced_in_every_region(synthesized_aurora):
    _, env, stacks = synthesized_aurora
    for stack in stacks.values():
        group_name, group = only(stack, "aws_rds_cluster_parameter_group")
        assert group["family"] == f"aurora-postgresql{env.database.engine_version}"
        parameters = {p["name"]: p["value"] for p in group["parameter"]}
        assert parameters["rds.force_ssl"] == "1" and parameters["log_connections"] == "1"
        _, cluster = only(stack, "aws_rds_cluster")
        assert refers_to(
            cluster["db_cluster_parameter_group_name"], "aws_rds_cluster_parameter_group", group_name, "name"
        )


def test_iam_authentication_instances_and_private_network(synthesized_aurora):
    _, _, stacks = synthesized_aurora
    for name, stack in stacks.items():
        cluster_name, cluster = only(stack, "aws_rds_cluster")
        assert cluster["iam_database_authentication_enabled"] is True
        assert cluster["port"] == 5432
        (instance,) = resources(stack, "aws_rds_cluster_instance").values()  # db_multi_az is off in dev
        assert instance["instance_class"] == "db.r6g.large"
        assert instance["identifier"] == f"{name}-db-1-a1"
        assert refers_to(instance["cluster_identifier"], "aws_rds_cluster", cluster_name, "id")
        assert instance["publicly_accessible"] is False
        assert instance["monitoring_interval"] == 60
        _, _, role = referenced(stack, instance["monitoring_role_arn"])
        assert role["name"] == f"{name}-db-monitoring-a1"
        # The subnet group is the isolated tier's; the security group admits the web tier only.
        _, _, subnet_group = referenced(stack, cluster["db_subnet_group_name"])
        db_subnets = {n for n, b in resources(stack, "aws_subnet").items() if b["tags"]["Service"].startswith("db-")}
        assert db_subnets and all(refers_to(subnet_group["subnet_ids"], "aws_subnet", n, "id") for n in db_subnets)
        sg_name, _ = tagged(stack, "aws_security_group", "db")
        assert refers_to(cluster["vpc_security_group_ids"], "aws_security_group", sg_name, "id")
        ingress = [
            r
            for r in resources(stack, "aws_vpc_security_group_ingress_rule").values()
            if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")
        ]
        web_sg, _ = tagged(stack, "aws_security_group", "web")
        assert len(ingress) == 1
        assert refers_to(ingress[0]["referenced_security_group_id"], "aws_security_group", web_sg, "id")
        assert ingress[0]["from_port"] == ingress[0]["to_port"] == 5432
        egress = [
            (r["from_port"], r.get("referenced_security_group_id") or r["cidr_ipv4"])
            for r in resources(stack, "aws_vpc_security_group_egress_rule").values()
            if refers_to(r["security_group_id"], "aws_security_group", web_sg, "id")
        ]
        assert sorted(egress) == [(443, "0.0.0.0/0"), (5432, f"${{aws_security_group.{sg_name}.id}}")], name


def test_logs_go_to_a_log_group_created_first_with_retention_and_key(synthesized_aurora):
    _, env, stacks = synthesized_aurora
    for name, stack in stacks.items():
        _, cluster = only(stack, "aws_rds_cluster")
        assert cluster["enabled_cloudwatch_logs_exports"] == ["postgresql"]
        groups = {
            n: g
            for n, g in resources(stack, "aws_cloudwatch_log_group").items()
            if g["name"] == f"/aws/rds/cluster/{name}-db-a1/postgresql"
        }
        (group_name,) = groups
        assert f"aws_cloudwatch_log_group.{group_name}" in cluster["depends_on"]
        assert groups[group_name]["retention_in_days"] == env.log_retention_days
        assert refers_to(groups[group_name]["kms_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
        assert naming.unwrap(groups[group_name]["name"]) == f"{name}-db-a1"


def test_names_come_from_the_naming_helper(synthesized_aurora):
    """The regional names follow the stack's namer; the global cluster, the environment's."""
    config, env, stacks = synthesized_aurora
    global_namer = config.namer(env, GLOBAL)
    for name, stack in stacks.items():
        namer = config.namer(env, name.removeprefix("dev-"))
        for type_, logical, body in all_resources(stack):
            if not type_.startswith(("aws_rds", "aws_db")):
                continue
            for attribute in ("identifier", "cluster_identifier", "name", "global_cluster_identifier"):
                value = body.get(attribute)
                if isinstance(value, str) and "${" not in value:
                    assert namer.matches(value) or global_namer.matches(value), (name, type_, logical, value)


def test_multi_az_adds_a_reader_in_every_region(default_data, tmp_path):
    config = aurora_config(default_data, db_multi_az=True, db_performance_insights=True)
    stacks = synthesize(config, tmp_path / "out", env="dev").stacks
    for region in config.environments["dev"].regions:
        stack = stacks[f"dev-{region}"]
        instances = resources(stack, "aws_rds_cluster_instance")
        assert sorted(i["identifier"] for i in instances.values()) == [f"dev-{region}-db-1-a1", f"dev-{region}-db-2-a1"]
        key = only(stack, "aws_kms_key")[0]
        for instance in instances.values():
            assert instance["performance_insights_enabled"] is True
            assert refers_to(instance["performance_insights_kms_key_id"], "aws_kms_key", key, "arn")


def test_the_construct_exposes_the_database_interface(default_data, tmp_path):
    """What the stack, the instances and the alarms use, the same as modules/database.py's; the
    token-valued attributes are read back through outputs of the synthesized stacks."""
    from cdktf import App, TerraformOutput
    from support.tfjson import load_stacks

    from stacks.regional import RegionalStack

    config = aurora_config(default_data, regions=THREE_REGIONS)
    env = config.environments["dev"]
    app = App(outdir=str(tmp_path / "out"))
    built = {}
    for spec in config.select("dev"):
        if spec.role == "edge":
            continue
        stack = RegionalStack(app, spec, config, env, tmp_path / "out")
        db = stack.database
        assert isinstance(db, aurora.AuroraGlobal)
        writer = spec.region == env.writer_region
        assert db.role == (facts.DbRole.WRITER if writer else facts.DbRole.REPLICA)
        assert (db.bootstrap_secret_arn is not None) is writer
        assert db.port == 5432 and db.name == "app" and db.app_user == "webapp"
        for attribute in ("address", "endpoint", "connect_arn"):
            TerraformOutput(stack, f"probe_{attribute}", value=getattr(db, attribute))
        built[spec.name] = writer
    app.synth()
    stacks = load_stacks(tmp_path / "out")
    for name, writer in built.items():
        stack = stacks[name]
        cluster, _ = only(stack, "aws_rds_cluster")
        outputs = {k.removeprefix("probe_"): v["value"] for k, v in stack["output"].items() if k.startswith("probe_")}
        # The local endpoint: the writer's in the writer region, the secondary's readers elsewhere.
        local = "endpoint" if writer else "reader_endpoint"
        assert outputs["address"] == f"${{aws_rds_cluster.{cluster}.{local}}}"
        assert outputs["endpoint"] == f"${{aws_rds_cluster.{cluster}.{local}}}:5432"
        region = name.removeprefix("dev-")
        assert outputs["connect_arn"].startswith("arn:${data.aws_partition.")
        assert f":rds-db:{region}:${{data.aws_caller_identity." in outputs["connect_arn"]
        assert outputs["connect_arn"].endswith(f":dbuser:${{aws_rds_cluster.{cluster}.cluster_resource_id}}/webapp")


def test_an_engine_version_aurora_lacks_is_a_clear_error():
    assert aurora.aurora_version("16") == "16.6"
    with pytest.raises(ConfigError, match=r"db_engine_version = '19'.*aurora_global supports 13, 14, 15, 16, 17"):
        aurora.aurora_version("19")


def test_every_aurora_stack_validates_with_terraform(default_data, tmp_path):
    """With the writer moved by a failover: the new writer's import block, the old writer's and the
    third region's removed blocks, besides everything a first-region writer has."""
    from ops import terraform

    config = aurora_config(default_data, regions=THREE_REGIONS, db_multi_az=True, writer_region="us-west-2")
    specs = [s for s in config.select("dev") if s.role != "edge"]
    _, found = terraform.validate_stacks(config, specs, tmp_path / "out")
    assert {spec.name: diagnostics for spec, diagnostics in found.items()} == {spec.name: [] for spec in specs}


def test_a_failback_to_the_first_region_adopts_the_global_cluster_again(default_data, tmp_path):
    """`failover` writes writer_region on every move, back to the first region too: that stack
    released the cluster at the first failover, so it imports it again."""
    config = aurora_config(default_data, regions=THREE_REGIONS, writer_region=THREE_REGIONS[0])
    env = config.environments["dev"]
    assert env.writer_region == env.regions[0] and env.writer_recorded
    stacks = synthesize(config, tmp_path / "out", env="dev").stacks
    writer = stacks[f"dev-{env.regions[0]}"]
    global_name, global_cluster = only(writer, "aws_rds_global_cluster")
    address = f"aws_rds_global_cluster.{global_name}"
    assert writer["import"] == [{"to": address, "id": global_cluster["global_cluster_identifier"]}]
    for region in env.regions[1:]:
        assert stacks[f"dev-{region}"]["removed"] == release(address), region
