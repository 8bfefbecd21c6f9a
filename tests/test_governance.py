"""R6, R13, F5, F6, F15, D3: AWS Config, cross-account roles, budgets and outputs, for the default
configuration and for one where two environments share an account and DNS lives elsewhere."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from support.configs import variant
from support.synth import synthesize
from support.tfjson import only, policy_document, providers, referenced, refers_to, resources, tagged

from config import model

RULES = {"REQUIRED_TAGS", "ENCRYPTED_VOLUMES", "RDS_STORAGE_ENCRYPTED", "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
         "S3_BUCKET_SSL_REQUESTS_ONLY", "CLOUDWATCH_LOG_GROUP_ENCRYPTED", "SNS_ENCRYPTED_KMS"}


@pytest.fixture(scope="module")
def shared(default_data, tmp_path_factory):
    """staging shares dev's account; the hosted zone lives in a separate DNS account."""
    data = variant(default_data, environments={"staging": {"account_id": "111111111111"}},
                   project={"dns_account_id": "444444444444"})
    config = model.parse(data, "shared.toml")
    return synthesize(config, tmp_path_factory.mktemp("shared") / "out")


def recorders(stacks):
    return {name: list(resources(stack, "aws_config_configuration_recorder").values())
            for name, stack in stacks.items()}


def account_region(config, name):
    spec = next(s for s in config.stacks() if s.name == name)
    return spec.account_id, spec.region


@pytest.mark.parametrize("which", ["default", "shared"])
def test_exactly_one_recorder_per_account_and_region(synthesized, shared, which):
    result = synthesized if which == "default" else shared
    counts = Counter(account_region(result.config, name) for name, found in recorders(result.stacks).items()
                     for _ in found)
    expected = {(s.account_id, s.region) for s in result.config.stacks() if s.role != "edge"}
    assert set(counts) == expected and set(counts.values()) == {1}


def test_the_first_environment_of_a_shared_account_owns_the_recorder(shared):
    owners = {name for name, found in recorders(shared.stacks).items() if found}
    assert owners == {"dev-us-east-1", "dev-us-west-2", "prod-us-east-1", "prod-us-west-2"}
    for name in ("staging-us-east-1", "staging-us-west-2"):
        assert "aws_config_config_rule" not in shared.stacks[name]["resource"], "the owner's rules cover it"


def test_recorder_delivery_status_and_rules_are_ordered(synthesized):
    for name in ("dev-us-east-1", "prod-us-west-2"):
        stack = synthesized.stacks[name]
        recorder_name, _recorder = only(stack, "aws_config_configuration_recorder")
        channel_name, channel = only(stack, "aws_config_delivery_channel")
        status_name, status = only(stack, "aws_config_configuration_recorder_status")
        assert f"aws_config_configuration_recorder.{recorder_name}" in channel["depends_on"]
        assert f"aws_config_delivery_channel.{channel_name}" in status["depends_on"]
        assert status["is_enabled"] is True
        assert refers_to(status["name"], "aws_config_configuration_recorder", recorder_name, "name")
        rules = resources(stack, "aws_config_config_rule").values()
        assert {r["source"]["source_identifier"] for r in rules} == RULES
        for rule in rules:
            assert rule["source"]["owner"] == "AWS"
            assert rule["depends_on"] == [f"aws_config_configuration_recorder_status.{status_name}"]


def test_recorder_records_everything_and_global_types_in_the_primary_only(default_config, synthesized):
    for name, found in recorders(synthesized.stacks).items():
        for recorder in found:
            group = recorder["recording_group"]
            assert group["all_supported"] is True
            env = default_config.environments[name.split("-")[0]]
            assert group["include_global_resource_types"] is env.is_primary(name.split("-", 1)[1])
            role = referenced(synthesized.stacks[name], recorder["role_arn"])[2]
            (trust,) = policy_document(synthesized.stacks[name], role["assume_role_policy"])
            assert trust["principals"] == [{"type": "Service", "identifiers": ["config.amazonaws.com"]}]


def test_required_tags_rule_lists_the_standard_tags(synthesized):
    stack = synthesized.stacks["prod-us-east-1"]
    (rule,) = [r for r in resources(stack, "aws_config_config_rule").values()
               if r["source"]["source_identifier"] == "REQUIRED_TAGS"]
    assert json.loads(rule["input_parameters"]) == {"tag1Key": "Environment", "tag2Key": "Project",
                                                    "tag3Key": "Owner", "tag4Key": "CostCenter"}


def test_delivery_bucket_admits_config_for_this_account_only(synthesized):
    stack = synthesized.stacks["staging-us-east-1"]
    bucket_name, _body = tagged(stack, "aws_s3_bucket", "config")
    _, channel = only(stack, "aws_config_delivery_channel")
    assert refers_to(channel["s3_bucket_name"], "aws_s3_bucket", bucket_name, "id")
    policy = next(p for p in resources(stack, "aws_s3_bucket_policy").values()
                  if refers_to(p["bucket"], "aws_s3_bucket", bucket_name, "id"))
    statements = {s["sid"]: s for s in policy_document(stack, policy["policy"])}
    for sid in ("ConfigAclCheck", "ConfigDelivery"):
        assert statements[sid]["principals"] == [{"type": "Service", "identifiers": ["config.amazonaws.com"]}]
        assert any(c["variable"] == "aws:SourceAccount" for c in statements[sid]["condition"])


def test_rules_are_kept_when_the_recorder_is_managed_elsewhere(default_data, tmp_path):
    data = variant(default_data, environments={"dev": {"manage_config_recorder": False}})
    stack = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev").stacks["dev-us-east-1"]
    assert "aws_config_configuration_recorder" not in stack["resource"]
    rules = resources(stack, "aws_config_config_rule").values()
    assert {r["source"]["source_identifier"] for r in rules} == RULES
    assert all("depends_on" not in r for r in rules)


# ------------------------------------------------------------------ cross-account roles (R6, F6)

@pytest.mark.parametrize("which", ["default", "shared"])
def test_role_trust_never_names_the_own_account_and_requires_the_external_id(synthesized, shared, which):
    result = synthesized if which == "default" else shared
    for env in result.config.environments.values():
        stack = result.stacks[f"{env.name}-global"]
        roles = {b["tags"]["Service"]: b for b in resources(stack, "aws_iam_role").values()
                 if b["tags"]["Service"] in ("ops-readonly", "deploy")}
        assert set(roles) == {"ops-readonly", "deploy"}
        for service, role in roles.items():
            (trust,) = policy_document(stack, role["assume_role_policy"])
            principals = trust["principals"][0]["identifiers"]
            accounts = {p.split(":")[4] for p in principals}
            if service == "ops-readonly":
                assert env.account_id not in accounts, f"{env.name}: trusts its own account (F6)"
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
    data = variant(default_data, project={"ci_account_id": "555555555555"},
                   environments={"prod": {"require_mfa": True}})
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
    attached = {a["policy_arn"].rpartition("/")[2]
                for a in resources(stack, "aws_iam_role_policy_attachment").values()}
    assert attached == {"ViewOnlyAccess", "CloudWatchReadOnlyAccess", "PowerUserAccess"}
    (iam,) = resources(stack, "aws_iam_role_policy").values()
    (statement,) = policy_document(stack, iam["policy"])
    assert all(":role/dev-*" in r or ":policy/dev-*" in r or ":instance-profile/dev-*" in r
               for r in statement["resources"]), "IAM changes only on this environment's own names"
    assert not any(a.endswith("*") for a in statement["actions"])


def test_bootstrap_role_replaces_the_assumed_role_until_the_deploy_role_exists(default_data, tmp_path):
    data = variant(default_data, project={"bootstrap_role_name": "OrganizationAccountAccessRole"})
    stack = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev").stacks["dev-global"]
    assert providers(stack)[None]["assume_role"][0]["role_arn"].endswith(":role/OrganizationAccountAccessRole")
    deploy = next(b for b in resources(stack, "aws_iam_role").values() if b["tags"]["Service"] == "deploy")
    assert deploy["name"] == "dev-global-deploy-a1", "the deploy role is still created for later runs"


# ------------------------------------------------------------------ budgets (F15)

@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_monthly_budget_alerts_the_error_topic_and_mail(default_config, synthesized, env):
    stack = synthesized.stacks[f"{env}-global"]
    _, budget = only(stack, "aws_budgets_budget")
    config_env = default_config.environments[env]
    assert budget["time_unit"] == "MONTHLY" and budget["limit_amount"] == str(config_env.budget_limit_usd)
    assert budget["cost_filter"] == [{"name": "TagKeyValue", "values": [f"user:Environment${env}"]}]
    alerts = {(n["notification_type"], n["threshold"]) for n in budget["notification"]}
    assert alerts == {("FORECASTED", 80), ("ACTUAL", 100)}
    for notification in budget["notification"]:
        _, _, topic = referenced(stack, notification["subscriber_sns_topic_arns"][0])
        assert topic["name"] == f"{env}-{config_env.primary_region}-errors-a1"
        alias = topic["provider"].partition(".")[2] or None  # "aws" or "aws.<alias>"
        assert providers(stack)[alias]["region"] == config_env.primary_region, "read where it lives"


def test_error_topics_admit_budgets(synthesized):
    stack = synthesized.stacks["prod-us-east-1"]
    (policy,) = resources(stack, "aws_sns_topic_policy").values()
    sids = {s["sid"]: s for s in policy_document(stack, policy["policy"])}
    assert sids["BudgetsPublish"]["principals"] == [{"type": "Service", "identifiers": ["budgets.amazonaws.com"]}]


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


def test_shared_account_configuration_has_a_budget_per_environment(shared):
    names = {only(shared.stacks[f"{env}-global"], "aws_budgets_budget")[1]["name"]
             for env in ("dev", "staging", "prod")}
    assert names == {"dev-global-monthly-a1", "staging-global-monthly-a1", "prod-global-monthly-a1"}
    dev, staging = (only(shared.stacks[f"{e}-global"], "aws_budgets_budget")[1] for e in ("dev", "staging"))
    assert dev["cost_filter"] != staging["cost_filter"], "each environment budgets its own tagged spend"
