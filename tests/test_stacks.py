"""Across every stack: the deliverable outputs (D3) each has, described and never secret. Which
stacks exist is tests/test_model.py's; what one stack kind adds is in tests/test_base.py,
tests/test_regional.py and tests/test_edge.py; synthesis in tests/test_app.py."""

from __future__ import annotations


def test_every_deliverable_output_exists_with_a_description(synthesized):
    regional = {
        "alb_dns_name",
        "asg_name",
        "error_topic_arn",
        "db_endpoint",
        "db_role",
        "ingest_function_arn",
        "regional_origin_record",
    }
    edge = {"cloudfront_domain_name", "cloudfront_distribution_id", "viewer_records"}
    for name, stack in synthesized.stacks.items():
        outputs = stack["output"]
        assert (edge if name.endswith("-global") else regional) <= set(outputs), name
        for key, output in outputs.items():
            assert output.get("description"), f"{name}: output {key} has no description"
            assert "sensitive" not in output, "no secret value is ever an output"
