"""modules/credentials.py at the construct: the ephemeral password, referenced only by write-only
attributes, the bootstrap secret holding it (encrypted with the region's key, which grants Secrets
Manager its use), the rotation version, and the Terraform addresses the databases' secrets had
before the scheme moved here (tests/test_database.py and tests/test_aurora.py check the same
scheme on the synthesized stacks)."""

from __future__ import annotations

import hashlib

import pytest
from support import table
from support.tfjson import jsonencoded, load_stacks, only, refers_to, resources, walk

from modules import credentials
from modules.credentials import CONSTRUCT_ID, MasterCredentials, MasterCredentialsProps

REGION = "us-east-1"


def build(tmp_path, owners=("database",), key_kind="managed"):
    """One stack with a region key and MasterCredentials in each owner construct (as the database
    constructs create them); returns the credentials by owner and the synthesized stack."""
    from cdktf import App, TerraformOutput, TerraformStack
    from constructs import Construct

    from config.naming import Namer
    from modules import aws
    from modules.kms import ImportedKey

    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, f"dev-{REGION}")
    aws.provider.AwsProvider(stack, "aws", region=REGION)
    namer = Namer("dev", REGION, "a1")
    if key_kind == "managed":
        key = table.region_key(stack, namer, REGION)
    else:
        key = ImportedKey(f"arn:aws:kms:{REGION}:111111111111:key/imported")
    built = {}
    for owner in owners:
        made = MasterCredentials(
            Construct(stack, owner),
            CONSTRUCT_ID,
            MasterCredentialsProps(namer=namer, kms_key=key),
        )
        TerraformOutput(stack, f"{owner}_secret_arn", value=made.secret_arn)
        built[owner] = made
    app.synth()
    (synthesized,) = load_stacks(tmp_path / "out").values()
    return built, synthesized


def secret_and_version(stack: dict, secret_name: str) -> dict:
    (version,) = [
        v
        for v in resources(stack, "aws_secretsmanager_secret_version").values()
        if refers_to(v["secret_id"], "aws_secretsmanager_secret", secret_name, "id")
    ]
    return version


def test_an_ephemeral_password_long_and_quote_free_referenced_as_an_expression(tmp_path):
    built, stack = build(tmp_path)
    made = built["database"]
    assert made.generator == "database_master_password"
    generator = stack["ephemeral"][credentials.EPHEMERAL_GENERATOR]["database_master_password"]
    assert generator == {"password_length": 40, "exclude_punctuation": True, "require_each_included_type": True}
    assert credentials.PASSWORD_LENGTH == 40
    assert made.password_ref == (
        f"${{ephemeral.{credentials.EPHEMERAL_GENERATOR}.database_master_password.random_password}}"
    )
    assert made.username == credentials.MASTER_USERNAME == "app_admin"
    assert made.version == credentials.CREDENTIAL_VERSION


def test_the_bootstrap_secret_holds_the_same_password_write_only_encrypted_with_the_key(tmp_path):
    built, stack = build(tmp_path)
    secret_name, secret = only(stack, "aws_secretsmanager_secret")
    assert secret["name"] == "dev-us-east-1-db-bootstrap-a1" == secret["tags"]["Name"]
    assert secret["tags"]["Service"] == "db-bootstrap"
    assert secret["recovery_window_in_days"] == 0, "a failback recreates it under the same name at once"
    assert refers_to(secret["kms_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    version = secret_and_version(stack, secret_name)
    password = built["database"].password_ref.removeprefix("${").removesuffix("}")
    assert version["secret_string_wo"] == (f'${{jsonencode({{"username" = "app_admin", "password" = {password}}})}}')
    assert version["secret_string_wo_version"] == credentials.CREDENTIAL_VERSION
    assert "secret_string" not in version
    assert refers_to(stack["output"]["database_secret_arn"]["value"], "aws_secretsmanager_secret", secret_name, "arn")


def test_the_password_reaches_write_only_attributes_and_nothing_else(tmp_path):
    _, stack = build(tmp_path)
    carriers = {k for k, v in walk(stack.get("resource", {})) if isinstance(v, str) and "ephemeral." in v}
    assert carriers == {"secret_string_wo"}
    assert "ephemeral." not in str(stack["output"])


def test_the_key_grants_secrets_manager_its_use(tmp_path):
    _, stack = build(tmp_path)
    _, key = only(stack, "aws_kms_key")
    statements = {s["Sid"]: s for s in jsonencoded(key["policy"])["Statement"]}
    via = statements["AccountUsesKeyThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == [f"secretsmanager.{REGION}.amazonaws.com"]


def test_an_imported_key_encrypts_the_secret_without_a_grant(tmp_path):
    _, stack = build(tmp_path, key_kind="imported")
    _, secret = only(stack, "aws_secretsmanager_secret")
    assert secret["kms_key_id"] == f"arn:aws:kms:{REGION}:111111111111:key/imported"
    assert not resources(stack, "aws_kms_key")


def test_raising_the_credential_version_rotates_the_database_and_the_secret_together(tmp_path, monkeypatch):
    monkeypatch.setattr(credentials, "CREDENTIAL_VERSION", 2)
    built, stack = build(tmp_path)
    assert built["database"].version == 2
    (version,) = resources(stack, "aws_secretsmanager_secret_version").values()
    assert version["secret_string_wo_version"] == 2


def test_the_secret_keeps_the_address_it_had_in_the_database_construct(tmp_path):
    """cdktf leaves a "Default" path component out of logical ids: the secret is addressed as if
    the database construct had created it (database/bootstrap), so moving the code here replaced
    no deployed secret."""
    _, stack = build(tmp_path)

    def logical_id(*path: str) -> str:  # cdktf's makeUniqueId: the path, then a hash of it
        return "_".join(path) + "_" + hashlib.md5("/".join(path).encode()).hexdigest()[:8].upper()

    assert list(resources(stack, "aws_secretsmanager_secret")) == [logical_id("database", "bootstrap")]
    assert list(resources(stack, "aws_secretsmanager_secret_version")) == [logical_id("database", "bootstrap-value")]


def test_each_owner_gets_its_own_generator_and_secret_resources(tmp_path):
    built, stack = build(tmp_path, owners=("database", "aurora-db"))
    assert set(stack["ephemeral"][credentials.EPHEMERAL_GENERATOR]) == {
        "database_master_password",
        "aurora_db_master_password",
    }
    assert built["aurora-db"].password_ref.endswith(".aurora_db_master_password.random_password}")
    assert len(resources(stack, "aws_secretsmanager_secret_version")) == 2


@pytest.mark.parametrize("topology", ["replica", "aurora_global"])
def test_both_database_writers_hold_their_credentials_in_this_construct(default_data, tmp_path, topology):
    """One scheme: the RDS writer and the Aurora writer cluster take their password, version and
    bootstrap secret from a MasterCredentials child; a replica or secondary has none."""
    from cdktf import App
    from support.configs import variant

    from config import model
    from stacks.regional import RegionalStack

    settings = {"database_topology": topology}
    if topology == "aurora_global":
        settings["db_instance_class"] = "db.r6g.large"
    config = model.parse(variant(default_data, environments={"dev": settings}), "credentials.toml")
    env = config.environments["dev"]
    app = App(outdir=str(tmp_path / "out"))
    for spec in config.select("dev"):
        if spec.role == "edge":
            continue
        db = RegionalStack(app, spec, config, env, tmp_path / "out").database
        made = db.node.try_find_child(CONSTRUCT_ID)
        if spec.region != env.writer_region:
            assert made is None and db.bootstrap_secret_arn is None
            continue
        assert isinstance(made, MasterCredentials)
        assert db.bootstrap_secret_arn == made.secret_arn
        writer = db.instance if topology == "replica" else db.cluster
        prefix = "" if topology == "replica" else "master_"
        assert getattr(writer, f"{prefix}password_wo_input") == made.password_ref
        assert getattr(writer, f"{prefix}password_wo_version_input") == made.version
        assert getattr(writer, "username_input" if topology == "replica" else "master_username_input") == made.username
