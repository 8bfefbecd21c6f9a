"""F8: modules/origin_verify.py, the origin-verify secret (once, in the primary region) and no secret in any output."""

from __future__ import annotations

import json

from support.tfjson import (
    only,
    providers,
    refers_to,
)


def test_origin_verify_secret_lives_once_in_the_primary_region(default_config, synthesized):
    for env in default_config.environments.values():
        name = f"{env.name}-{env.primary_region}-origin-verify-a1"
        primary = synthesized.stacks[f"{env.name}-{env.primary_region}"]
        _, secret = only(primary, "aws_secretsmanager_secret")
        assert secret["name"] == name
        assert refers_to(secret["kms_key_id"], "aws_kms_key", only(primary, "aws_kms_key")[0], "arn")
        _, version = only(primary, "aws_secretsmanager_secret_version")
        assert "uuid()" in version["secret_string"], "generated, never hard-coded"
        assert version["lifecycle"]["ignore_changes"] == ["secret_string"], "generated once, rotated by hand"
        readers = [f"{env.name}-{r}" for r in env.regions[1:]] + [f"{env.name}-global"]
        for reader in readers:
            stack = synthesized.stacks[reader]
            assert "aws_secretsmanager_secret" not in stack.get("resource", {})
            (data,) = stack["data"]["aws_secretsmanager_secret_version"].values()
            assert data["secret_id"] == name
            alias = data["provider"].partition(".")[2] or None  # "aws" or "aws.<alias>"
            assert providers(stack)[alias]["region"] == env.primary_region, "read where it lives"


def test_no_output_exposes_a_secret(synthesized):
    for name, stack in synthesized.stacks.items():
        for key, output in stack.get("output", {}).items():
            text = json.dumps(output["value"])
            assert "secret_string" not in text and "secretsmanager" not in text, f"{name}: output {key}"
