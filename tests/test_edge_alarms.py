"""R8, R12: modules/edge_alarms.py. The metrics CloudWatch keeps only in us-east-1: each region's
Route 53 health check (alarmed in the DNS account, which owns the check) and the distribution's
5xx rate (the edge stack). Both notify the edge stack's error topic in us-east-1, whose policy and
key admit the DNS account's alarms: default configuration, the shared-account example with a
separate DNS account, the three-region latency example."""

from __future__ import annotations

import pytest
from support.synth import synthesize
from support.tfjson import only, policy_document, provider_region, providers, refers_to, resources

from config import facts, model
from config.regions import EDGE_REGION, GLOBAL
from modules.edge_alarms import CDN_5XX_RATE_PERCENT

EXAMPLES = model.DEFAULT_CONFIG.parent / "examples"
FIXTURES = ["synthesized", "shared_account", "three_regions"]


@pytest.fixture(scope="module")
def three_regions(tmp_path_factory):
    config = model.load(EXAMPLES / "three-regions-latency.toml")
    return synthesize(config, tmp_path_factory.mktemp("three") / "out")


ACCOUNT_TOKEN = "${data.aws_caller_identity.caller.account_id}"  # the stack's default provider: its account


def edge_topic_arn(synthesized, env) -> str:
    """The edge stack's topic, in the environment's account as Terraform reads it (the regional
    stack's default provider acts there), never a number typed from configuration."""
    name = synthesized.config.namer(env, GLOBAL).name("errors", "sns_topic")
    return f"arn:aws:sns:{EDGE_REGION}:{ACCOUNT_TOKEN}:{name}"


@pytest.mark.parametrize("fixture", FIXTURES)
def test_each_regions_health_check_alarms_in_us_east_1_of_the_dns_account(request, fixture):
    synthesized = request.getfixturevalue(fixture)
    config = synthesized.config
    for spec in config.stacks():
        if not spec.role.regional:
            continue
        env = config.environments[spec.environment]
        stack = synthesized.stacks[spec.name]
        check, _ = only(stack, "aws_route53_health_check")
        name = config.namer(env, spec.region).name(facts.ALARM_ORIGIN_UNHEALTHY, "alarm")
        [alarm] = [a for a in resources(stack, "aws_cloudwatch_metric_alarm").values() if a["alarm_name"] == name]
        assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/Route53", "HealthCheckStatus")
        assert refers_to(alarm["dimensions"]["HealthCheckId"], "aws_route53_health_check", check, "id")
        assert (alarm["threshold"], alarm["comparison_operator"]) == (1, "LessThanThreshold")
        assert alarm["treat_missing_data"] == "breaching"  # a check that reports nothing is gone
        # Where the metric is: us-east-1, the account that owns the health check (the dns provider's).
        assert provider_region(stack, alarm) == EDGE_REGION
        alias = alarm["provider"].removeprefix("aws.")
        provider = providers(stack)[alias]
        assert provider["allowed_account_ids"] == [config.dns_account_id(env)]
        assert provider["assume_role"] == providers(stack)["dns"]["assume_role"]
        # Its actions: the edge stack's topic in the same region (us-east-1), the environment's account.
        topic = edge_topic_arn(synthesized, env)
        caller = stack["data"]["aws_caller_identity"]["caller"]
        assert "provider" not in caller and providers(stack)[None]["allowed_account_ids"] == [env.account_number]
        assert [a.replace("${data.aws_partition.partition.partition}", "aws") for a in alarm["alarm_actions"]] == [
            topic
        ]
        assert alarm["ok_actions"] == alarm["alarm_actions"]


@pytest.mark.parametrize("fixture", FIXTURES)
def test_the_edge_alarms_on_the_distributions_5xx_rate_into_its_us_east_1_topic(request, fixture):
    synthesized = request.getfixturevalue(fixture)
    config = synthesized.config
    for spec in config.stacks():
        if spec.role.regional:
            continue
        env = config.environments[spec.environment]
        stack = synthesized.stacks[spec.name]
        distribution, _ = only(stack, "aws_cloudfront_distribution")
        topic_name, topic = only(stack, "aws_sns_topic")
        assert topic["name"] == config.namer(env, GLOBAL).name("errors", "sns_topic")
        assert provider_region(stack, topic) == EDGE_REGION
        _, key = only(stack, "aws_kms_key")
        assert refers_to(topic["kms_master_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
        assert provider_region(stack, key) == EDGE_REGION
        [alarm] = resources(stack, "aws_cloudwatch_metric_alarm").values()
        assert alarm["alarm_name"] == config.namer(env, GLOBAL).name(facts.ALARM_CDN_5XX_RATE, "alarm")
        assert (alarm["namespace"], alarm["metric_name"]) == ("AWS/CloudFront", "5xxErrorRate")
        assert refers_to(alarm["dimensions"]["DistributionId"], "aws_cloudfront_distribution", distribution, "id")
        assert alarm["dimensions"]["Region"] == "Global"
        assert (alarm["threshold"], alarm["comparison_operator"]) == (CDN_5XX_RATE_PERCENT, "GreaterThanThreshold")
        assert alarm["treat_missing_data"] == "notBreaching"  # no requests, no rate
        assert provider_region(stack, alarm) == EDGE_REGION
        assert refers_to(alarm["alarm_actions"], "aws_sns_topic", topic_name, "arn")
        assert refers_to(alarm["ok_actions"], "aws_sns_topic", topic_name, "arn")
        subscriptions = resources(stack, "aws_sns_topic_subscription").values()
        assert sorted(s["endpoint"] for s in subscriptions) == sorted(env.alert_emails)


def cloudwatch_conditions(statements, sid):
    [statement] = [s for s in statements if s["sid"] == sid]
    assert statement["principals"] == [{"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}]
    return {c["variable"]: c["values"] for c in statement["condition"]}


@pytest.mark.parametrize("fixture", FIXTURES)
def test_the_edge_topic_admits_the_health_check_alarms_of_the_dns_account(request, fixture):
    synthesized = request.getfixturevalue(fixture)
    config = synthesized.config
    for env in config.environments.values():
        stack = synthesized.stacks[f"{env.name}-{GLOBAL}"]
        _, policy = only(stack, "aws_sns_topic_policy")
        conditions = cloudwatch_conditions(policy_document(stack, policy["policy"]), "CloudWatchAlarmsPublish")
        dns_account = config.dns_account_id(env)
        own = "${data.aws_caller_identity.caller.account_id}"
        assert conditions["aws:SourceAccount"] == [own, dns_account]
        patterns = conditions["aws:SourceArn"]
        for region in env.regions:
            # Every region's health-check alarm name matches one pattern of the DNS account.
            prefix = config.namer(env, region).prefix
            assert (
                f"arn:${{data.aws_partition.partition.partition}}:cloudwatch:{EDGE_REGION}:{dns_account}:alarm:{prefix}*"
                in patterns
            )
        # The topic's key lets CloudWatch encrypt for the same alarms.
        _, key = only(stack, "aws_kms_key")
        for region in env.regions:
            assert f":cloudwatch:{EDGE_REGION}:{dns_account}:alarm:{config.namer(env, region).prefix}*" in key["policy"]


def test_a_separate_dns_account_is_named_in_the_edge_topic(shared_account):
    config = shared_account.config
    env = config.environments["dev"]
    assert config.dns_account_id(env) != env.account_number
    stack = shared_account.stacks["dev-global"]
    _, policy = only(stack, "aws_sns_topic_policy")
    conditions = cloudwatch_conditions(policy_document(stack, policy["policy"]), "CloudWatchAlarmsPublish")
    assert config.dns_account_id(env) in conditions["aws:SourceAccount"]
