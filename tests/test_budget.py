"""F15: modules/budget.py, the monthly budget per environment and its alerts."""

from __future__ import annotations

import pytest
from support.tfjson import only, policy_document, providers, referenced, resources

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


def test_shared_account_configuration_has_a_budget_per_environment(shared):
    names = {
        only(shared.stacks[f"{env}-global"], "aws_budgets_budget")[1]["name"] for env in ("dev", "staging", "prod")
    }
    assert names == {"dev-global-monthly-a1", "staging-global-monthly-a1", "prod-global-monthly-a1"}
    dev, staging = (only(shared.stacks[f"{e}-global"], "aws_budgets_budget")[1] for e in ("dev", "staging"))
    assert dev["cost_filter"] != staging["cost_filter"], "each environment budgets its own tagged spend"
