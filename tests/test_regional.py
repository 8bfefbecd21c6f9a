"""stacks/regional.py, `<env>-<region>`: the instance_count input (default from configuration,
validated between 2 and max_capacity), the web tier's outputs and which database each region holds."""

from __future__ import annotations

import pytest
from support.configs import variant
from support.stack_names import EXPECTED, REGIONAL, stack_spec
from support.synth import synthesize, user_data
from support.tfjson import only, refers_to

from config import facts, model


@pytest.mark.parametrize("name", [n for n in EXPECTED if not n.endswith("global")])
def test_regional_stacks_declare_the_instance_count_variable(default_config, synthesized, name):
    env = default_config.environments[stack_spec(default_config, name).environment]
    variable = synthesized.stacks[name]["variable"]["instance_count"]
    assert variable["type"] == "number" and variable["default"] == 3 and variable["nullable"] is False
    (rule,) = variable["validation"]
    assert "var.instance_count >= 2" in rule["condition"]
    assert f"var.instance_count <= {env.scaling.max_capacity}" in rule["condition"]
    assert rule["error_message"][0].isupper() and rule["error_message"].endswith(".")


def test_instance_count_default_comes_from_configuration(default_data, tmp_path):
    data = variant(default_data, environments={"dev": {"instance_count": 4}})
    result = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev")
    assert result.stacks["dev-us-east-1"]["variable"]["instance_count"]["default"] == 4


@pytest.mark.parametrize("name", REGIONAL)
def test_web_tier_outputs(synthesized, name):
    outputs = synthesized.stacks[name]["output"]
    stack = synthesized.stacks[name]
    assert refers_to(outputs["alb_dns_name"]["value"], "aws_lb", only(stack, "aws_lb")[0], "dns_name")
    assert refers_to(
        outputs["asg_name"]["value"], "aws_autoscaling_group", only(stack, "aws_autoscaling_group")[0], "name"
    )
    assert refers_to(outputs["error_topic_arn"]["value"], "aws_sns_topic", only(stack, "aws_sns_topic")[0], "arn")


@pytest.mark.parametrize(
    ("settings", "roles"),
    [
        ({}, {"us-east-1": "writer", "us-west-2": "replica"}),
        ({"writer_region": "us-west-2"}, {"us-east-1": "replica", "us-west-2": "writer"}),
        ({"database_topology": "independent"}, {"us-east-1": "writer", "us-west-2": "writer"}),
    ],
)
def test_each_region_s_database_follows_the_topology_and_the_writer_region(default_data, tmp_path, settings, roles):
    """The stack decides writer or replica: a replica names the writer region's instance, and only a
    writer's instances are told of (and may read) a bootstrap secret."""
    stacks = synthesize(model.parse(variant(default_data, environments={"dev": settings}), "c.toml"), tmp_path, "dev")
    writer = next(r for r, role in roles.items() if role == "writer")
    for region, role in roles.items():
        stack = stacks.stacks[f"dev-{region}"]
        assert stack["output"]["db_role"]["value"] == role
        _, db = only(stack, "aws_db_instance")
        script = user_data(stack)
        if role == "replica":
            assert db["replicate_source_db"].endswith(
                f":rds:{writer}:${{data.aws_caller_identity.caller.account_id}}:db:dev-{writer}-db-a1"
            )
            assert "WEBAPP_DB_BOOTSTRAP_SECRET_ARN" not in script and "db_bootstrap_secret_arn" not in stack["output"]
        else:
            assert "replicate_source_db" not in db and "password_wo" in db
            assert "WEBAPP_DB_BOOTSTRAP_SECRET_ARN=${aws_secretsmanager_secret." in script


@pytest.mark.parametrize("name", REGIONAL)
def test_every_output_the_operations_read_is_declared(synthesized, name):
    """smoke and the end-to-end run read these outputs by facts.RegionalOutput: each regional stack
    declares every one (the bootstrap secret's only where the database is the writer), and db_role
    holds a facts.DbRole word."""
    outputs = synthesized.stacks[name]["output"]
    role = outputs[facts.RegionalOutput.DB_ROLE]["value"]
    assert role in tuple(facts.DbRole)
    expected = set(facts.RegionalOutput)
    if role != facts.DbRole.WRITER:
        expected.discard(facts.RegionalOutput.DB_BOOTSTRAP_SECRET_ARN)
    assert expected <= set(outputs)
