"""R6, F6: modules/cross_account.py, the cross-account roles, for the default configuration and for
one where two environments share an account and DNS lives elsewhere."""

from __future__ import annotations

import pytest
from support.configs import variant
from support.synth import synthesize
from support.tfjson import policy_document, providers, resources

from config import model

# ------------------------------------------------------------------ cross-account roles (R6, F6)


@pytest.mark.parametrize("which", ["default", "shared"])
def test_role_trust_never_names_the_own_account_and_requires_the_external_id(synthesized, shared, which):
    result = synthesized if which == "default" else shared
    for env in result.config.environments.values():
        stack = result.stacks[f"{env.name}-global"]
        roles = {
            b["tags"]["Service"]: b
            for b in resources(stack, "aws_iam_role").values()
            if b["tags"]["Service"] in ("ops-readonly", "deploy")
        }
        assert set(roles) == {"ops-readonly", "deploy"}
        for service, role in roles.items():
            (trust,) = policy_document(stack, role["assume_role_policy"])
            principals = trust["principals"][0]["identifiers"]
            accounts = {p.split(":")[4] for p in principals}
            if service == "ops-readonly":
                assert env.account_number not in accounts, f"{env.name}: trusts its own account (F6)"
                assert accounts == set(result.config.trusted_by(env)) and accounts
            else:  # tests/test_trust.py: the deployers only
                assert accounts == set(result.config.deployers_of(env)) and accounts
            conditions = {c["variable"]: c for c in trust["condition"]}
            assert conditions["sts:ExternalId"]["values"] == [result.config.project.external_id]
            assert role["max_session_duration"] == 3600
        assert roles["deploy"]["name"] == result.config.deploy_role_name(env)
        provider_role = providers(stack)[None]["assume_role"][0]["role_arn"]
        assert provider_role.endswith(f":role/{roles['deploy']['name']}"), "the providers assume this role"


def test_mfa_and_ci_account_are_configurable(default_data, tmp_path):
    data = variant(
        default_data, project={"ci_account_id": "555555555555"}, environments={"prod": {"require_mfa": True}}
    )
    config = model.parse(data, "c.toml")
    stack = synthesize(config, tmp_path / "out", env="prod").stacks["prod-global"]
    roles = {b["tags"]["Service"]: b for b in resources(stack, "aws_iam_role").values()}
    (trust,) = policy_document(stack, roles["deploy"]["assume_role_policy"])  # CI alone: no MFA (test_trust)
    assert {p.split(":")[4] for p in trust["principals"][0]["identifiers"]} == {"555555555555"}
    people, _ci = policy_document(stack, roles["ops-readonly"]["assume_role_policy"])
    assert {"variable": "aws:MultiFactorAuthPresent", "test": "Bool", "values": ["true"]} in people["condition"]
    data["project"]["ci_account_id"] = "333333333333"
    with pytest.raises(model.ConfigError, match="own account"):
        model.parse(data, "c.toml")


def test_role_permissions_are_bounded(synthesized):
    stack = synthesized.stacks["dev-global"]
    attached = {a["policy_arn"].rpartition("/")[2] for a in resources(stack, "aws_iam_role_policy_attachment").values()}
    assert attached == {"ViewOnlyAccess", "CloudWatchReadOnlyAccess", "PowerUserAccess"}
    (iam,) = resources(stack, "aws_iam_role_policy").values()
    (statement,) = policy_document(stack, iam["policy"])
    assert all(
        ":role/dev-*" in r or ":policy/dev-*" in r or ":instance-profile/dev-*" in r for r in statement["resources"]
    ), "IAM changes only on this environment's own names"
    assert not any(a.endswith("*") for a in statement["actions"])


def test_bootstrap_role_replaces_the_assumed_role_until_the_deploy_role_exists(default_data, tmp_path):
    data = variant(default_data, project={"bootstrap_role_name": "OrganizationAccountAccessRole"})
    stack = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev").stacks["dev-global"]
    assert providers(stack)[None]["assume_role"][0]["role_arn"].endswith(":role/OrganizationAccountAccessRole")
    deploy = next(b for b in resources(stack, "aws_iam_role").values() if b["tags"]["Service"] == "deploy")
    assert deploy["name"] == "dev-global-deploy-a1", "the deploy role is still created for later runs"
