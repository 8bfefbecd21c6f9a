"""stacks/base.py, what every stack shares: providers locked to their account that assume the
deploy role (the `dns` provider the DNS account's role), default tags, and the state backend."""

from __future__ import annotations

import pytest
from support.configs import variant
from support.stack_names import EXPECTED, stack_spec
from support.synth import synthesize
from support.tfjson import providers

from config import model
from stacks.base import PROJECT_ROOT


@pytest.mark.parametrize("name", EXPECTED)
def test_every_stack_has_a_locked_provider_assuming_the_deploy_role(default_config, synthesized, name):
    spec = stack_spec(default_config, name)
    env = default_config.environments[spec.environment]
    blocks = providers(synthesized.stacks[name])
    # Reads of what the primary region owns go through an alias for that region (provider 5 has
    # no per-resource region); the edge stack also has CloudFront's us-east-1, and every regional
    # stack the DNS account's us-east-1 (where Route 53 health-check metrics are, for their alarms).
    expected_aliases = {
        "edge": {None, "dns", "us_east_1"},
        "primary": {None, "dns", "dns_us_east_1"},
        "secondary": {None, "dns", "dns_us_east_1", env.primary_region.replace("-", "_")},
    }[spec.role]
    assert set(blocks) == expected_aliases
    default = blocks[None]
    assert default["region"] == (env.primary_region if spec.role == "edge" else spec.region)
    assert default["allowed_account_ids"] == [env.account_number]
    (assume,) = default["assume_role"]
    assert assume["role_arn"] == f"arn:aws:iam::{env.account_number}:role/{env.name}-global-deploy-a1"
    assert assume["session_name"]
    (tags,) = default["default_tags"]
    assert tags["tags"] == {
        "Environment": env.name,
        "Region": spec.region,
        "Project": "webapp",
        "Owner": "platform",
        "CostCenter": "cc-000",
        "ManagedBy": "cdktf",
    }
    for alias, block in blocks.items():
        if alias == "dns_us_east_1":
            assert block["region"] == "us-east-1"
            assert block["assume_role"] == blocks["dns"]["assume_role"], "the dns provider's role, in us-east-1"
        elif alias not in (None, "dns"):
            assert block["region"] == alias.replace("_", "-")
            assert block["allowed_account_ids"] == [env.account_number]
    for block in blocks.values():
        assert block["assume_role"] and block["default_tags"], "every provider assumes a role and tags"


def test_dns_provider_assumes_the_dns_role_in_the_dns_account(default_data, tmp_path):
    data = variant(default_data, project={"dns_account_id": "999999999999", "dns_role_name": "route53-editor"})
    config = model.parse(data, "dns.toml")
    result = synthesize(config, tmp_path / "out", env="staging")
    for name, stack in result.stacks.items():
        dns = providers(stack)["dns"]
        assert dns["allowed_account_ids"] == ["999999999999"], name
        assert dns["assume_role"][0]["role_arn"] == "arn:aws:iam::999999999999:role/route53-editor"
        assert providers(stack)[None]["allowed_account_ids"] == ["222222222222"]


def test_dns_provider_defaults_to_the_environment_account(synthesized):
    dns = providers(synthesized.stacks["prod-us-west-2"])["dns"]
    assert dns["allowed_account_ids"] == ["333333333333"]


@pytest.mark.parametrize("name", EXPECTED)
def test_local_state_is_one_file_per_stack_outside_the_synth_output(synthesized, name):
    backend = synthesized.stacks[name]["terraform"]["backend"]
    assert set(backend) == {"local"}
    stack_dir = synthesized.out_dir / "stacks" / name
    state = (stack_dir / backend["local"]["path"]).resolve()
    assert state == PROJECT_ROOT / "terraform-state" / f"{name}.tfstate"
    assert synthesized.out_dir.resolve() not in state.parents, "synth replaces its output; state must not live there"


def test_s3_backend_option(default_data, tmp_path):
    data = variant(
        default_data,
        state={"backend": "s3", "bucket": "acme-terraform-state", "region": "eu-central-1", "key_prefix": "platform"},
    )
    result = synthesize(model.parse(data, "s3.toml"), tmp_path / "out", env="dev")
    keys = set()
    for name, stack in result.stacks.items():
        s3 = stack["terraform"]["backend"]["s3"]
        assert s3["bucket"] == "acme-terraform-state" and s3["region"] == "eu-central-1"
        assert s3["encrypt"] is True and s3["use_lockfile"] is True
        assert s3["key"] == f"platform/{name}.tfstate"
        keys.add(s3["key"])
        assert "local" not in stack["terraform"]["backend"]
    assert len(keys) == 3, "one state object per stack"
