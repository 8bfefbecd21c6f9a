"""config/model.py, the frozen configuration and what it derives: the stacks and their selection,
the accounts an environment trusts and who deploys it, and how providers assume their roles."""

from __future__ import annotations

import pytest
from support.configs import changed, parse, variant
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
        "dev-us-west-2",
        "staging-us-west-2",
        "prod-us-west-2",
    ]
    assert [s.name for s in default_config.select("dev", "global")] == ["dev-global"]
    with pytest.raises(model.SelectionError, match="choose one of: dev, staging, prod, all"):
        default_config.select("qa")
    with pytest.raises(model.SelectionError, match="choose one of: us-east-1, us-west-2, global"):
        default_config.select("dev", "eu-west-1")


def test_other_accounts_are_the_other_environments_and_trusted_ones_never_the_own(default_data):
    data = changed(default_data, "environments.dev.trusted_accounts", ["999999999999"])
    config = parse(data)
    assert config.other_accounts(config.environments["dev"]) == ("222222222222", "333333333333", "999999999999")
    assert config.other_accounts(config.environments["prod"]) == ("111111111111", "222222222222")
    shared = changed(default_data, "environments.staging.account_id", "111111111111")
    config = parse(shared)
    assert config.other_accounts(config.environments["dev"]) == ("333333333333",)


def test_ci_account_and_deployers_together(default_data):
    data = variant(default_data, environments={"staging": {"deployer_account_ids": ["444444444444"]}})
    config = model.parse(data, "c.toml")
    assert config.deployers_of(config.environments["staging"]) == ("444444444444", "999999999999")
    assert config.deployers_of(config.environments["dev"]) == ("999999999999",)


def test_providers_assume_the_bootstrap_role_until_the_deploy_roles_exist(default_data):
    config = parse(changed(default_data, "project.bootstrap_role_name", "OrganizationAccountAccessRole"))
    dev = config.environments["dev"]
    access = config.assume_role(dev, "dev-us-east-1")
    assert access == model.AssumeRole(
        role_arn="arn:aws:iam::111111111111:role/OrganizationAccountAccessRole",
        external_id="webapp-platform-example",
        session_name="webapp-dev-us-east-1",
    )
    assert config.deploy_role_name(dev) == "dev-global-deploy-a1", "the deploy role keeps its own name"
    assert config.dns_role_name(dev) == "OrganizationAccountAccessRole", "the dns providers follow the providers"
    assert config.dns_account_id(dev) == "111111111111"
    without = parse(default_data)
    assert (
        without.assume_role(without.environments["dev"], "dev-us-east-1").role_arn
        == "arn:aws:iam::111111111111:role/dev-global-deploy-a1"
    )


def test_a_session_name_is_cut_to_the_64_characters_sts_allows(default_config):
    access = default_config.assume_role(default_config.environments["prod"], "x" * 80)
    assert access.session_name == ("webapp-" + "x" * 80)[:64]
