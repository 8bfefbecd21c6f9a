"""Across every stack: which stacks exist and the deliverable outputs each has. What one stack
kind adds is in tests/test_base.py, tests/test_regional.py and tests/test_edge.py; synthesis in
tests/test_app.py."""

from __future__ import annotations

import pytest
from support.stack_names import EXPECTED

from config import model


def test_one_regional_stack_per_environment_and_region_plus_one_edge_stack(default_config, synthesized):
    assert [s.name for s in default_config.stacks()] == EXPECTED
    assert sorted(synthesized.stacks) == sorted(EXPECTED)
    roles = {s.name: s.role for s in default_config.stacks()}
    assert roles["prod-us-east-1"] == "primary" and roles["prod-us-west-2"] == "secondary"
    assert roles["prod-global"] == "edge"


def test_selection_by_environment_and_region(default_config):
    assert [s.name for s in default_config.select("prod")] == ["prod-us-east-1", "prod-us-west-2", "prod-global"]
    assert [s.name for s in default_config.select("all", "us-west-2")] == [
        "dev-us-west-2", "staging-us-west-2", "prod-us-west-2"]
    assert [s.name for s in default_config.select("dev", "global")] == ["dev-global"]
    with pytest.raises(model.SelectionError, match="choose one of: dev, staging, prod, all"):
        default_config.select("qa")
    with pytest.raises(model.SelectionError, match="choose one of: us-east-1, us-west-2, global"):
        default_config.select("dev", "eu-west-1")


# ------------------------------------------------------------------ outputs (D3)

def test_every_deliverable_output_exists_with_a_description(synthesized):
    regional = {"alb_dns_name", "asg_name", "error_topic_arn", "db_endpoint", "db_secret_arn",
                "ingest_function_arn", "regional_origin_record"}
    edge = {"cloudfront_domain_name", "cloudfront_distribution_id", "viewer_records"}
    for name, stack in synthesized.stacks.items():
        outputs = stack["output"]
        assert (edge if name.endswith("-global") else regional) <= set(outputs), name
        for key, output in outputs.items():
            assert output.get("description"), f"{name}: output {key} has no description"
            assert "sensitive" not in output, "no secret value is ever an output"
