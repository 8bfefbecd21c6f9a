"""stacks/regional.py, `<env>-<region>`: the instance_count input (default from configuration,
validated between 2 and max_capacity) and the web tier's outputs."""

from __future__ import annotations

import pytest
from support.configs import variant
from support.stack_names import EXPECTED, REGIONAL, stack_spec
from support.synth import synthesize
from support.tfjson import only, refers_to

from config import model


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
