"""R3, R11, F9: modules/database.py on the synthesized JSON. One writer per environment (the
writer region's) with an ephemeral, write-only master password and a bootstrap secret; a
cross-region read replica of it in every other region; `independent` keeps a writer per region.
The application connects with IAM database authentication everywhere."""

from __future__ import annotations

import json
import re

import pytest
from support.configs import variant
from support.stack_names import REGIONAL, env_of, region_of
from support.synth import env_variant, synthesize, user_data
from support.tfjson import (
    only,
    policy_document,
    provider_region,
    referenced,
    refers_to,
    resources,
    tagged,
    walk,
)

from config import model
from config.choices import DatabaseTopology
from modules.credentials import EPHEMERAL_GENERATOR, MASTER_USERNAME
from modules.database import instance_arn

EXAMPLES = ("three-regions-latency.toml", "four-regions-failover.toml")
PARTITION = "${data.aws_partition.partition.partition}"
ACCOUNT = "${data.aws_caller_identity.caller.account_id}"
# What a replica inherits from its writer and may not (or need not) set itself.
NOT_ON_A_REPLICA = {
    "username",
    "db_name",
    "password",
    "password_wo",
    "password_wo_version",
    "manage_master_user_password",
    "master_user_secret_kms_key_id",
    "engine_version",
    "allocated_storage",
    "final_snapshot_identifier",
}
# The only attributes allowed to carry the ephemeral password: Terraform's write-only ones.
WRITE_ONLY = {"password_wo", "secret_string_wo"}


def is_writer(stack: dict) -> bool:
    return "replicate_source_db" not in only(stack, "aws_db_instance")[1]


def env_file(stack: dict) -> dict[str, str]:
    script = user_data(stack)
    body = script.split("<<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    return dict(line.split("=", 1) for line in body.splitlines())


def web_statements(stack: dict) -> dict[str, dict]:
    role_name, _ = tagged(stack, "aws_iam_role", "web")
    (inline,) = [
        p
        for p in resources(stack, "aws_iam_role_policy").values()
        if refers_to(p["role"], "aws_iam_role", role_name, "id")
    ]
    return {s["sid"]: s for s in policy_document(stack, inline["policy"])}


def assert_writer(stack: dict) -> None:
    """A writer: ephemeral password given write-only, the same value written write-only into the
    bootstrap secret, backups on (a replica source must keep them), no RDS-managed password."""
    _, db = only(stack, "aws_db_instance")
    (generator,) = stack["ephemeral"][EPHEMERAL_GENERATOR]
    password = f"ephemeral.{EPHEMERAL_GENERATOR}.{generator}.random_password"
    assert db["password_wo"] == f"${{{password}}}" and db["password_wo_version"] >= 1
    assert db["username"] == MASTER_USERNAME and db["db_name"] == "app" and db["engine"] == "postgres"
    assert "manage_master_user_password" not in db and "master_user_secret_kms_key_id" not in db
    assert db["backup_retention_period"] > 0, "a replica's source must keep automated backups"
    assert "replicate_source_db" not in db
    secret_name, secret = tagged(stack, "aws_secretsmanager_secret", "db-bootstrap")
    assert refers_to(secret["kms_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    (version,) = [
        v
        for v in resources(stack, "aws_secretsmanager_secret_version").values()
        if refers_to(v["secret_id"], "aws_secretsmanager_secret", secret_name, "id")
    ]
    assert "secret_string" not in version and version["secret_string_wo_version"] >= 1
    assert version["secret_string_wo"] == (
        f'${{jsonencode({{"username" = "{MASTER_USERNAME}", "password" = {password}}})}}'
    )


def assert_replica_of(stack: dict, writer_stack: dict, writer_region: str, region: str) -> None:
    """A cross-region replica (issue15-research section 1): the writer by ARN, this region's key,
    its own subnet group, parameter group (TLS forced) and security group, IAM authentication,
    no final snapshot, nothing it inherits."""
    _, db = only(stack, "aws_db_instance")
    _, writer = only(writer_stack, "aws_db_instance")
    assert db["replicate_source_db"] == instance_arn(PARTITION, writer_region, ACCOUNT, writer["identifier"])
    assert provider_region(stack, db) == region != writer_region
    assert not NOT_ON_A_REPLICA & set(db), sorted(NOT_ON_A_REPLICA & set(db))
    assert refers_to(db["kms_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    assert refers_to(db["db_subnet_group_name"], "aws_db_subnet_group", only(stack, "aws_db_subnet_group")[0], "name")
    group_name, group = only(stack, "aws_db_parameter_group")
    assert refers_to(db["parameter_group_name"], "aws_db_parameter_group", group_name, "name")
    assert {p["name"]: p["value"] for p in group["parameter"]}["rds.force_ssl"] == "1"
    assert refers_to(db["vpc_security_group_ids"], "aws_security_group", tagged(stack, "aws_security_group", "db")[0])
    assert db["iam_database_authentication_enabled"] is True and db["skip_final_snapshot"] is True
    assert db["backup_retention_period"] > 0, "a promoted replica has backups from its first minute"
    assert "ephemeral" not in stack, "a replica generates no password"
    assert not [
        s for s in resources(stack, "aws_secretsmanager_secret").values() if s["tags"]["Service"] == "db-bootstrap"
    ]


def assert_topology(synthesized) -> None:
    """Every environment of a synthesized configuration: one writer in its writer region, a
    replica of it in every other region (or a writer everywhere with `independent`)."""
    for env in synthesized.config.environments.values():
        stacks = {region: synthesized.stacks[f"{env.name}-{region}"] for region in env.regions}
        writer = stacks[env.writer_region]
        assert_writer(writer)
        for region, stack in stacks.items():
            if region == env.writer_region:
                continue
            if env.database.topology is DatabaseTopology.INDEPENDENT:
                assert_writer(stack)
            else:
                assert_replica_of(stack, writer, env.writer_region, region)


# ------------------------------------------------------------------ every instance


@pytest.mark.parametrize("name", REGIONAL)
def test_postgres_is_encrypted_with_the_region_key_and_private(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    key_name, _ = only(stack, "aws_kms_key")
    _, db = only(stack, "aws_db_instance")
    if is_writer(stack):
        assert db["engine"] == "postgres" and db["engine_version"] == env.database.engine_version
    assert db["identifier"] == f"{name}-db-a1" and db["instance_class"] == env.database.instance_class
    assert db["storage_encrypted"] is True and db["storage_type"] == "gp3"
    assert refers_to(db["kms_key_id"], "aws_kms_key", key_name, "arn")
    assert db["max_allocated_storage"] >= db.get("allocated_storage", env.database.allocated_storage)
    assert db["publicly_accessible"] is False
    assert db["iam_database_authentication_enabled"] is True
    assert db["auto_minor_version_upgrade"] is True and db["maintenance_window"]
    assert db["copy_tags_to_snapshot"] is True
    assert sorted(db["enabled_cloudwatch_logs_exports"]) == ["postgresql", "upgrade"]
    assert db["multi_az"] is env.database.multi_az
    assert db["performance_insights_enabled"] is env.database.performance_insights
    if db["performance_insights_enabled"]:
        assert refers_to(db["performance_insights_kms_key_id"], "aws_kms_key", key_name, "arn")


@pytest.mark.parametrize("name", REGIONAL)
def test_no_password_exists_in_the_configuration_its_state_or_outputs(synthesized, name):
    """F9: the only password is the ephemeral one, referenced by write-only attributes alone (never
    in state or plan files); no RDS-managed secret (AWS refuses replicas of its source)."""
    stack = synthesized.stacks[name]
    _, db = only(stack, "aws_db_instance")
    assert "manage_master_user_password" not in db and "master_user_secret_kms_key_id" not in db
    keys = {k for k, _ in walk(stack)}
    assert not keys & {"password", "master_password", "secret_string_wo_plain"}, "no password attribute (F9)"
    carriers = {k for k, v in walk(stack.get("resource", {})) if isinstance(v, str) and "ephemeral." in v}
    assert carriers <= WRITE_ONLY, f"the ephemeral password reaches {sorted(carriers - WRITE_ONLY)}"
    for version in resources(stack, "aws_secretsmanager_secret_version").values():
        assert "uuid()" in version.get("secret_string", "uuid()"), "no copy of database credentials (F9)"
    outputs = json.dumps(stack["output"])
    assert "secret_string" not in outputs and "ephemeral" not in outputs and "password" not in outputs


def test_the_ephemeral_password_is_long_and_quote_free(synthesized):
    (generator,) = synthesized.stacks["dev-us-east-1"]["ephemeral"][EPHEMERAL_GENERATOR].values()
    assert generator["password_length"] >= 32 and generator["exclude_punctuation"] is True


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
    # The same connection's other side: the instances reach the database's group, not the whole VPC.
    assert web_egress(stack, web_sg) == [(443, "0.0.0.0/0"), (5432, f"${{aws_security_group.{sg_name}.id}}")]


def web_egress(stack: dict, web_sg: str) -> list[tuple[int, str]]:
    """(port, destination: a group reference or a CIDR) of every egress rule of the web group."""
    return sorted(
        (r["from_port"], r.get("referenced_security_group_id") or r["cidr_ipv4"])
        for r in resources(stack, "aws_vpc_security_group_egress_rule").values()
        if refers_to(r["security_group_id"], "aws_security_group", web_sg, "id")
    )


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
    role_name, _ = tagged(stack, "aws_iam_role", "db-monitoring")
    assert refers_to(db["monitoring_role_arn"], "aws_iam_role", role_name, "arn") and db["monitoring_interval"] > 0


@pytest.mark.parametrize("name", REGIONAL)
def test_the_key_admits_rds_and_secrets_manager_only_where_used(synthesized, name):
    """Each consumer asks the key for its own use: RDS everywhere, Secrets Manager for the bootstrap
    secret on a writer (and the origin-verify secret the writer region owns)."""
    stack = synthesized.stacks[name]
    policy = json.dumps(only(stack, "aws_kms_key")[1]["policy"])
    assert f"rds.{region_of(name)}.amazonaws.com" in policy
    if is_writer(stack):
        assert f"secretsmanager.{region_of(name)}.amazonaws.com" in policy


# ------------------------------------------------------------------ writer and replicas


def test_the_default_configuration_has_one_writer_and_replicas(synthesized):
    """Every environment: the writer in its first region, a replica in the second."""
    assert_topology(synthesized)
    assert [n for n in REGIONAL if is_writer(synthesized.stacks[n])] == [n for n in REGIONAL if "us-east-1" in n]


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request, tmp_path_factory):
    config = model.load(model.DEFAULT_CONFIG.parent / "examples" / request.param)
    return synthesize(config, tmp_path_factory.mktemp("example") / "out")


def test_every_example_replicates_the_writer_into_every_other_region(example):
    assert_topology(example)
    for env in example.config.environments.values():
        assert len(env.regions) >= 3 and env.database.topology is DatabaseTopology.REPLICA
        writers = [r for r in env.regions if is_writer(example.stacks[f"{env.name}-{r}"])]
        assert writers == [env.writer_region]


def test_independent_keeps_a_writer_in_every_region(default_data, tmp_path):
    stacks = env_variant(default_data, tmp_path, "prod", database_topology="independent")
    for name in ("prod-us-east-1", "prod-us-west-2"):
        assert_writer(stacks[name])
        assert "WEBAPP_DB_BOOTSTRAP_SECRET_ARN" in env_file(stacks[name])
        assert stacks[name]["output"]["db_role"]["value"] == "writer"
    # Only there, the writer region's automated backups are copied to the next region (the prod
    # profile's db_backup_replication): nothing else holds that data elsewhere.
    second = stacks["prod-us-west-2"]
    (replication,) = resources(second, "aws_db_instance_automated_backups_replication").values()
    _, _, source = referenced(second, replication["source_db_instance_arn"])
    assert source["db_instance_identifier"] == "prod-us-east-1-db-a1"
    assert provider_region(second, source) == "us-east-1"
    assert refers_to(replication["kms_key_id"], "aws_kms_key", only(second, "aws_kms_key")[0], "arn")
    assert not resources(stacks["prod-us-east-1"], "aws_db_instance_automated_backups_replication")


def test_the_backup_copy_follows_the_setting_with_independent_databases(default_data, tmp_path):
    on = env_variant(default_data, tmp_path / "on", "dev", database_topology="independent", db_backup_replication=True)
    assert resources(on["dev-us-west-2"], "aws_db_instance_automated_backups_replication")
    off = env_variant(default_data, tmp_path / "off", "dev", database_topology="independent")
    assert not any(resources(s, "aws_db_instance_automated_backups_replication") for s in off.values())


def test_replicas_take_no_backup_copy(synthesized):
    """A replica already holds the writer's data (and keeps backups of its own once promoted): the
    automated-backup copy is for `independent` only, even where db_backup_replication is on."""
    assert synthesized.config.environments["prod"].database.backup_replication is True
    for name in REGIONAL:
        assert not resources(synthesized.stacks[name], "aws_db_instance_automated_backups_replication")


def test_the_writer_region_setting_makes_that_region_the_writer(default_data, tmp_path):
    data = variant(default_data, environments={"dev": {"writer_region": "us-west-2"}})
    result = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev")
    assert_writer(result.stacks["dev-us-west-2"])
    assert_replica_of(result.stacks["dev-us-east-1"], result.stacks["dev-us-west-2"], "us-west-2", "us-east-1")
    assert result.stacks["dev-us-east-1"]["output"]["db_role"]["value"] == "replica"


def source_marker(stack: dict) -> tuple[str, dict]:
    """The stack's terraform_data recording what its database replicates, and that input."""
    [(name, marker)] = [(n, m) for n, m in resources(stack, "terraform_data").items() if "_source_" in n]
    return name, marker["input"]


def test_a_replica_is_rebuilt_when_the_writer_moves(default_data, synthesized, tmp_path):
    """RDS can neither point a replica at another source nor make a promoted instance a replica
    again: each replica is replaced when what it replicates changes (a reviewed destructive plan),
    the writer never by that trigger (the new writer is promoted in place)."""
    for name in REGIONAL:
        stack = synthesized.stacks[name]
        marker_name, marker = source_marker(stack)
        (instance,) = resources(stack, "aws_db_instance").values()
        if is_writer(stack):
            assert marker == {"source": "writer"}
            assert "replace_triggered_by" not in instance.get("lifecycle", {}), name
        else:
            assert marker == {"source": instance["replicate_source_db"]}, name
            assert instance["lifecycle"]["replace_triggered_by"] == [f"terraform_data.{marker_name}"], name
    data = variant(default_data, environments={"dev": {"writer_region": "us-west-2"}})
    moved = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev").stacks
    for name in ("dev-us-east-1", "dev-us-west-2"):
        before, after = source_marker(synthesized.stacks[name]), source_marker(moved[name])
        assert before[0] == after[0], "the same address, so its input change is an update that triggers"
        assert before[1] != after[1], f"{name}: what it replicates changed"
    (old_writer,) = resources(moved["dev-us-east-1"], "aws_db_instance").values()
    assert old_writer["lifecycle"]["replace_triggered_by"], "the old writer is rebuilt as a replica"


def test_prod_is_multi_az_protected_and_keeps_backups(synthesized):
    settings = {}
    for name in REGIONAL:
        _, db = only(synthesized.stacks[name], "aws_db_instance")
        settings[name] = (
            db["multi_az"],
            db["deletion_protection"],
            db["backup_retention_period"],
            db["skip_final_snapshot"],
            db.get("final_snapshot_identifier"),
        )
    *writer_settings, final_snapshot = settings["prod-us-east-1"]
    assert writer_settings == [True, True, 14, False]
    # Unique to this writer's life (tests/test_db_support.py applies it): a marker of its own, not
    # the replication source marker whose input changes trigger a replacement.
    name = re.fullmatch(r"prod-us-east-1-db-final-a1-\$\{substr\(terraform_data\.(\S+)\.id, 0, 8\)\}", final_snapshot)
    markers = resources(synthesized.stacks["prod-us-east-1"], "terraform_data")
    assert name and markers[name[1]]["input"] == "writer", final_snapshot
    assert len(resources(synthesized.stacks["prod-us-west-2"], "terraform_data")) == 1, "a replica has none"
    # A replica: AWS takes no final snapshot, and no protection, so the deploy after a failover can
    # replace every replica (it holds nothing the writer lacks).
    assert settings["prod-us-west-2"] == (True, False, 14, True, None)
    assert settings["staging-us-east-1"][:4] == (False, False, 7, False)
    assert settings["dev-us-east-1"] == (False, False, 1, True, None)


def test_prod_cannot_skip_the_final_snapshot_or_shorten_backups(default_data):
    for key, value in (("db_skip_final_snapshot", True), ("db_backup_retention_days", 7)):
        data = variant(default_data, environments={"prod": {key: value}})
        with pytest.raises(model.ConfigError, match="at least 14 days and always takes a final snapshot"):
            model.parse(data, "c.toml")


def test_a_promoted_writer_is_never_recreated_for_its_name_or_user(synthesized):
    """`username` and `db_name` force a replacement; a replica promoted in place reports them from
    its former writer, so the writer ignores later changes to them (they are constants)."""
    _, db = only(synthesized.stacks["prod-us-east-1"], "aws_db_instance")
    assert set(db["lifecycle"]["ignore_changes"]) == {"db_name", "username"}


def test_instance_arn_is_rds_s_format():
    assert instance_arn("aws", "eu-west-1", "123456789012", "prod-eu-west-1-db-a1") == (
        "arn:aws:rds:eu-west-1:123456789012:db:prod-eu-west-1-db-a1"
    )


# ------------------------------------------------------------------ what the application gets


@pytest.mark.parametrize("name", REGIONAL)
def test_the_application_connects_with_iam_authentication_to_its_own_instance(synthesized, name):
    stack = synthesized.stacks[name]
    db_name, _ = only(stack, "aws_db_instance")
    environment = env_file(stack)
    assert environment["WEBAPP_DB_HOST"] == f"${{aws_db_instance.{db_name}.address}}"
    assert environment["WEBAPP_DB_PORT"] == "5432" and environment["WEBAPP_DB_NAME"] == "app"
    assert environment["WEBAPP_DB_USER"] == "webapp"
    assert "WEBAPP_DB_SECRET_ARN" not in environment
    assert not any("password" in k.lower() for k in environment)
    statements = web_statements(stack)
    assert statements["ConnectToDatabase"]["actions"] == ["rds-db:connect"]
    assert statements["ConnectToDatabase"]["resources"] == [
        f"arn:{PARTITION}:rds-db:{region_of(name)}:{ACCOUNT}:dbuser:${{aws_db_instance.{db_name}.resource_id}}/webapp"
    ]


@pytest.mark.parametrize("name", REGIONAL)
def test_only_a_writer_region_reads_its_bootstrap_secret(synthesized, name):
    stack = synthesized.stacks[name]
    environment, statements = env_file(stack), web_statements(stack)
    if is_writer(stack):
        secret_name, _ = tagged(stack, "aws_secretsmanager_secret", "db-bootstrap")
        arn = f"${{aws_secretsmanager_secret.{secret_name}.arn}}"
        assert environment["WEBAPP_DB_BOOTSTRAP_SECRET_ARN"] == arn
        assert statements["ReadOwnSecret"]["resources"] == [arn]
        assert statements["DecryptOwnSecret"]["actions"] == ["kms:Decrypt"]
        assert stack["output"]["db_bootstrap_secret_arn"]["value"] == arn
    else:
        assert "WEBAPP_DB_BOOTSTRAP_SECRET_ARN" not in environment
        # Besides connecting, the role only reads the webapp bundle (tests/test_compute.py).
        assert set(statements) == {"ConnectToDatabase", "ReadWebappBundle", "DecryptWebappBundle"}
        assert not [a for s in statements.values() for a in s["actions"] if a.startswith("secretsmanager:")], (
            "a replica region reads no secret"
        )
        assert statements["DecryptWebappBundle"]["condition"][0]["values"] == [f"s3.{region_of(name)}.amazonaws.com"]
        assert "db_bootstrap_secret_arn" not in stack["output"]


@pytest.mark.parametrize("name", REGIONAL)
def test_database_outputs(synthesized, name):
    stack = synthesized.stacks[name]
    db_name, _ = only(stack, "aws_db_instance")
    assert refers_to(stack["output"]["db_endpoint"]["value"], "aws_db_instance", db_name, "endpoint")
    assert stack["output"]["db_role"]["value"] == ("writer" if is_writer(stack) else "replica")
