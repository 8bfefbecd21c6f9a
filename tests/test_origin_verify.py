"""F8: modules/origin_verify.py, the origin-verify secret (once, in the primary region) and no secret in any output."""

from __future__ import annotations

import json
import re

from support.tfjson import (
    only,
    providers,
    refers_to,
    resources,
)


def test_origin_verify_secret_lives_once_in_the_primary_region(default_config, synthesized):
    for env in default_config.environments.values():
        name = f"{env.name}-{env.primary_region}-origin-verify-a1"
        primary = synthesized.stacks[f"{env.name}-{env.primary_region}"]
        # (the writer's stack also holds the database's bootstrap secret: modules/credentials.py)
        (secret_id, secret), *others = [
            (k, s) for k, s in resources(primary, "aws_secretsmanager_secret").items() if s["name"] == name
        ]
        assert not others
        assert refers_to(secret["kms_key_id"], "aws_kms_key", only(primary, "aws_kms_key")[0], "arn")
        (version,) = [
            v
            for v in resources(primary, "aws_secretsmanager_secret_version").values()
            if refers_to(v["secret_id"], "aws_secretsmanager_secret", secret_id, "id")
        ]
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
            assert "secret_string" not in text and "secret_version" not in text, f"{name}: output {key}"
            if "aws_secretsmanager_secret." in text:  # a secret's ARN (where to read it), never its value
                assert re.fullmatch(r'"\$\{aws_secretsmanager_secret\.[\w-]+\.arn\}"', text), f"{name}: {key}"
