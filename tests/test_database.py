"""R3, R11, F9: encrypted PostgreSQL per region with RDS-managed credentials, on the synthesized JSON."""

from __future__ import annotations

import json

import pytest
from support.configs import variant
from support.stack_names import REGIONAL, env_of
from support.synth import synthesize, user_data
from support.tfjson import only, policy_document, provider_region, referenced, refers_to, resources, tagged, walk

from config import model


@pytest.mark.parametrize("name", REGIONAL)
def test_postgres_is_encrypted_with_the_region_key_and_private(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    key_name, _ = only(stack, "aws_kms_key")
    _, db = only(stack, "aws_db_instance")
    assert db["engine"] == "postgres" and db["engine_version"] == env.database.engine_version
    assert db["identifier"] == f"{name}-db-a1" and db["instance_class"] == env.database.instance_class
    assert db["storage_encrypted"] is True and db["storage_type"] == "gp3"
    assert refers_to(db["kms_key_id"], "aws_kms_key", key_name, "arn")
    assert db["max_allocated_storage"] >= db["allocated_storage"]
    assert db["publicly_accessible"] is False
    assert db["iam_database_authentication_enabled"] is True
    assert db["auto_minor_version_upgrade"] is True and db["maintenance_window"]
    assert db["copy_tags_to_snapshot"] is True
    assert sorted(db["enabled_cloudwatch_logs_exports"]) == ["postgresql", "upgrade"]
    if db["performance_insights_enabled"]:
        assert refers_to(db["performance_insights_kms_key_id"], "aws_kms_key", key_name, "arn")


@pytest.mark.parametrize("name", REGIONAL)
def test_credentials_are_managed_by_rds_and_no_password_exists(synthesized, name):
    stack = synthesized.stacks[name]
    _, db = only(stack, "aws_db_instance")
    assert db["manage_master_user_password"] is True
    assert refers_to(db["master_user_secret_kms_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    keys = {k for k, _ in walk(stack)}
    assert not keys & {"password", "master_password", "password_wo"}, "no password attribute anywhere (F9)"
    for version in resources(stack, "aws_secretsmanager_secret_version").values():
        assert "uuid()" in version["secret_string"], "no copy of database credentials (F9)"
    outputs = stack["output"]
    assert refers_to(
        outputs["db_secret_arn"]["value"], "aws_db_instance", only(stack, "aws_db_instance")[0], "master_user_secret"
    )
    assert "secret_string" not in json.dumps(outputs)


@pytest.mark.parametrize("name", REGIONAL)
def test_tls_is_forced_and_logging_is_on(synthesized, name):
    stack = synthesized.stacks[name]
    group_name, group = only(stack, "aws_db_parameter_group")
    assert group["family"] == "postgres17"
    parameters = {p["name"]: p["value"] for p in group["parameter"]}
    assert parameters["rds.force_ssl"] == "1"
    assert parameters["log_min_duration_statement"] == "1000" and parameters["log_connections"] == "1"
    _, db = only(stack, "aws_db_instance")
    assert refers_to(db["parameter_group_name"], "aws_db_parameter_group", group_name, "name")


@pytest.mark.parametrize("name", REGIONAL)
def test_database_sits_on_the_isolated_tier_and_admits_the_app_only(synthesized, name):
    stack = synthesized.stacks[name]
    _, db = only(stack, "aws_db_instance")
    _, _, subnet_group = referenced(stack, db["db_subnet_group_name"])
    db_subnets = {n for n, b in resources(stack, "aws_subnet").items() if b["tags"]["Service"].startswith("db-")}
    assert {n for n in db_subnets if refers_to(subnet_group["subnet_ids"], "aws_subnet", n, "id")} == db_subnets
    sg_name, _ = tagged(stack, "aws_security_group", "db")
    assert refers_to(db["vpc_security_group_ids"], "aws_security_group", sg_name, "id")
    ingress = [
        r
        for r in resources(stack, "aws_vpc_security_group_ingress_rule").values()
        if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")
    ]
    web_sg, _ = tagged(stack, "aws_security_group", "web")
    assert len(ingress) == 1
    (rule,) = ingress
    assert (rule["from_port"], rule["to_port"]) == (5432, 5432) and "cidr_ipv4" not in rule
    assert refers_to(rule["referenced_security_group_id"], "aws_security_group", web_sg, "id")


@pytest.mark.parametrize("name", REGIONAL)
def test_log_exports_have_retention_and_the_key(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, db = only(stack, "aws_db_instance")
    groups = {
        b["name"]: b
        for b in resources(stack, "aws_cloudwatch_log_group").values()
        if b["name"].startswith("/aws/rds/instance/")
    }
    assert sorted(groups) == [
        f"/aws/rds/instance/{db['identifier']}/postgresql",
        f"/aws/rds/instance/{db['identifier']}/upgrade",
    ]
    for group in groups.values():
        assert group["retention_in_days"] == env.log_retention_days and group["kms_key_id"]
    assert sum("aws_cloudwatch_log_group" in d for d in db["depends_on"]) == 2, "created before RDS makes them"


def test_prod_is_multi_az_protected_and_keeps_backups(synthesized):
    settings = {}
    for name in REGIONAL:
        _, db = only(synthesized.stacks[name], "aws_db_instance")
        settings[name.split("-")[0]] = (
            db["multi_az"],
            db["deletion_protection"],
            db["backup_retention_period"],
            db["skip_final_snapshot"],
            db.get("final_snapshot_identifier"),
        )
    assert settings["prod"] == (True, True, 14, False, "prod-us-west-2-db-final-a1")
    assert settings["staging"][:4] == (False, False, 7, False)
    assert settings["dev"] == (False, False, 1, True, None)


def test_prod_cannot_skip_the_final_snapshot_or_shorten_backups(default_data):
    for key, value in (("db_skip_final_snapshot", True), ("db_backup_retention_days", 7)):
        data = variant(default_data, environments={"prod": {key: value}})
        with pytest.raises(model.ConfigError, match="at least 14 days and always takes a final snapshot"):
            model.parse(data, "c.toml")


def test_prod_backups_are_replicated_to_the_second_region(default_config, synthesized):
    second = synthesized.stacks["prod-us-west-2"]
    (replication,) = resources(second, "aws_db_instance_automated_backups_replication").values()
    _, _, source = referenced(second, replication["source_db_instance_arn"])
    assert source["db_instance_identifier"] == "prod-us-east-1-db-a1"
    assert provider_region(second, source) == "us-east-1"
    assert refers_to(replication["kms_key_id"], "aws_kms_key", only(second, "aws_kms_key")[0], "arn")
    for name in REGIONAL:
        if name != "prod-us-west-2":
            assert "aws_db_instance_automated_backups_replication" not in synthesized.stacks[name]["resource"]


def test_backup_replication_is_configurable(default_data, tmp_path):
    data = variant(default_data, environments={"dev": {"db_backup_replication": True}})
    stacks = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev").stacks
    assert resources(stacks["dev-us-west-2"], "aws_db_instance_automated_backups_replication")


@pytest.mark.parametrize("name", REGIONAL)
def test_the_application_gets_the_secret_arn_and_endpoint_and_may_read_exactly_that_secret(synthesized, name):
    stack = synthesized.stacks[name]
    db_name, _ = only(stack, "aws_db_instance")
    script = user_data(stack)
    env_file = dict(line.split("=", 1) for line in script.split("<<'ENV'\n", 1)[1].split("\nENV\n", 1)[0].splitlines())
    assert env_file["WEBAPP_DB_SECRET_ARN"] == f"${{aws_db_instance.{db_name}.master_user_secret[0].secret_arn}}"
    assert env_file["WEBAPP_DB_HOST"] == f"${{aws_db_instance.{db_name}.address}}"
    assert env_file["WEBAPP_DB_PORT"] == "5432" and env_file["WEBAPP_DB_NAME"] == "app"
    assert not any("password" in k.lower() for k in env_file)
    role_name, _ = tagged(stack, "aws_iam_role", "web")
    (inline,) = [
        p
        for p in resources(stack, "aws_iam_role_policy").values()
        if refers_to(p["role"], "aws_iam_role", role_name, "id")
    ]
    statements = {s["sid"]: s for s in policy_document(stack, inline["policy"])}
    assert statements["ReadOwnSecret"]["resources"] == [env_file["WEBAPP_DB_SECRET_ARN"]]
    assert statements["DecryptOwnSecret"]["actions"] == ["kms:Decrypt"]


@pytest.mark.parametrize("name", REGIONAL)
def test_database_outputs(synthesized, name):
    stack = synthesized.stacks[name]
    db_name, _ = only(stack, "aws_db_instance")
    assert refers_to(stack["output"]["db_endpoint"]["value"], "aws_db_instance", db_name, "endpoint")
