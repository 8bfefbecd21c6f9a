"""Who may enter an environment's account, and how.

- Every provider block (default, `dns`, `us_east_1`, regional aliases) assumes its role with the
  external id its trust policy requires (`doctor` and `smoke` assume exactly the same way:
  tests/test_doctor.py, tests/test_access.py).
- Deploy roles trust only the deployers (CI account, `deployer_account_ids`; else the account
  itself); the read-only role may trust the other environments.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.configs import DELETE, variant
from support.synth import synthesize
from support.tfjson import policy_document, providers, resources

from config import model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "config" / "examples").glob("*.toml"))


def roles_of(stack: dict) -> dict[str, dict]:
    return {
        b["tags"]["Service"]: b
        for b in resources(stack, "aws_iam_role").values()
        if b["tags"]["Service"] in ("ops-readonly", "deploy")
    }


def trusted_accounts(stack: dict, role: dict) -> set[str]:
    (trust,) = policy_document(stack, role["assume_role_policy"])
    return {arn.split(":")[4] for arn in trust["principals"][0]["identifiers"]}


# ------------------------------------------------------------------ item 1: external id everywhere


@pytest.mark.parametrize("which", ["default", "shared"])
def test_every_provider_assumes_its_role_with_the_external_id(synthesized, shared_account, which):
    result = synthesized if which == "default" else shared_account
    config = result.config
    aliases_seen = set()
    for spec in config.stacks():
        env = config.environments[spec.environment]
        for alias, block in providers(result.stacks[spec.name]).items():
            # `us_east_1` in an edge stack is CloudFront's; in a regional stack it reads the primary's
            aliases_seen.add(
                alias
                if alias in (None, "dns", "dns_us_east_1") or (alias, spec.role) == ("us_east_1", "edge")
                else "regional"
            )
            (assume,) = block["assume_role"]
            dns = alias in ("dns", "dns_us_east_1")
            expected = config.assume_role(
                env,
                spec.name,
                account_number=config.dns_account_id(env) if dns else None,
                role_name=config.dns_role_name(env) if dns else None,
            )
            assert assume == {
                "role_arn": expected.role_arn,
                "external_id": config.project.external_id,
                "session_name": expected.session_name,
            }, (spec.name, alias)
            assert block["allowed_account_ids"] == [expected.role_arn.split(":")[4]]
    assert aliases_seen == {None, "dns", "dns_us_east_1", "us_east_1", "regional"}, (
        "every kind of provider block was checked"
    )


# ------------------------------------------------------------------ item 2: who may deploy


def test_deploy_roles_trust_only_the_ci_account_by_default(synthesized):
    config = synthesized.config
    ci = config.project.ci_account_id
    assert ci, "the default configuration names a CI account (its prod environment needs a deployer)"
    for env in config.environments.values():
        stack = synthesized.stacks[f"{env.name}-global"]
        roles = roles_of(stack)
        assert trusted_accounts(stack, roles["deploy"]) == {ci}, env.name
        others = {e.account_number for e in config.environments.values()} - {env.account_number}
        assert trusted_accounts(stack, roles["ops-readonly"]) == others | {ci}, "read-only may trust the others"


@pytest.fixture(scope="module")
def without_ci(default_data, tmp_path_factory):
    """dev and staging with no deployer configured, prod with two explicit deployer accounts."""
    data = variant(
        default_data,
        project={"ci_account_id": DELETE},
        environments={"prod": {"deployer_account_ids": ["333333333333", "444444444444"]}},
    )
    return synthesize(model.parse(data, "no-ci.toml"), tmp_path_factory.mktemp("no-ci") / "out")


def test_without_deployers_a_deploy_role_trusts_only_its_own_account(without_ci):
    for name, account in (("dev", "111111111111"), ("staging", "222222222222")):
        stack = without_ci.stacks[f"{name}-global"]
        roles = roles_of(stack)
        assert trusted_accounts(stack, roles["deploy"]) == {account}, "never the other environments"
        assert account not in trusted_accounts(stack, roles["ops-readonly"])


def test_explicit_deployers_are_exactly_who_may_deploy(without_ci):
    stack = without_ci.stacks["prod-global"]
    roles = roles_of(stack)
    assert trusted_accounts(stack, roles["deploy"]) == {"333333333333", "444444444444"}
    assert trusted_accounts(stack, roles["ops-readonly"]) == {"111111111111", "222222222222", "444444444444"}
    (trust,) = policy_document(stack, roles["deploy"]["assume_role_policy"])
    assert {c["variable"]: c["values"] for c in trust["condition"]} == {
        "sts:ExternalId": [without_ci.config.project.external_id]
    }


def test_a_prod_profile_environment_without_deployers_is_a_configuration_error(default_data):
    data = variant(
        default_data,
        project={"ci_account_id": DELETE},
        environments={"live": {"account_id": "555555555555", "regions": ["eu-west-1"], "profile": "prod"}},
    )
    with pytest.raises(model.ConfigError) as caught:
        model.parse(data, "c.toml")
    problems = [p for p in caught.value.problems if "deployer" in p]
    assert [p.split(": ")[1] for p in problems] == [
        "environments.prod.deployer_account_ids",
        "environments.live.deployer_account_ids",
    ]
    assert all("project.ci_account_id" in p and 'deployer_account_ids = ["' in p for p in problems), problems
    assert len(caught.value.problems) == 2, "dev and staging fall back to their own account"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_names_who_deploys(path):
    config = model.load(path)
    for env in config.environments.values():
        assert config.deployers_of(env) == (config.project.ci_account_id,), env.name


def test_deployer_account_ids_are_validated(default_data):
    data = variant(default_data, environments={"dev": {"deployer_account_ids": ["12345"]}})
    with pytest.raises(model.ConfigError, match=r"environments\.dev\.deployer_account_ids: \['12345'\] are not"):
        model.parse(data, "c.toml")


def test_require_mfa_binds_people_but_never_locks_ci_out(default_data, tmp_path):
    """CI sessions carry no MFA: with `require_mfa`, the CI account is trusted without it (external id
    only) and every other principal needs MFA, on both roles."""
    data = variant(default_data, environments={"prod": {"require_mfa": True, "deployer_account_ids": ["444444444444"]}})
    result = synthesize(model.parse(data, "mfa.toml"), tmp_path / "out", env="prod")
    ci = result.config.project.ci_account_id
    stack = result.stacks["prod-global"]
    mfa = ("aws:MultiFactorAuthPresent", ("true",))
    for service, role in roles_of(stack).items():
        statements = policy_document(stack, role["assume_role_policy"])
        by_account = {}
        for statement in statements:
            conditions = {(c["variable"], tuple(c["values"])) for c in statement["condition"]}
            assert ("sts:ExternalId", (result.config.project.external_id,)) in conditions, service
            for arn in statement["principals"][0]["identifiers"]:
                by_account[arn.split(":")[4]] = mfa in conditions
        assert by_account.pop(ci) is False, f"{service}: the CI account must not need MFA"
        assert by_account and all(by_account.values()), f"{service}: everyone else needs MFA: {by_account}"
