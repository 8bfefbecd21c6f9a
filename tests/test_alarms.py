"""R8, R12: modules/alarms.py, the web tier's, the database's and the ingest pipeline's alarms,
acting on the region's error topic: default configuration, the shared-account example with a DNS
account, the three-region latency example, and Aurora's metrics at the construct."""

from __future__ import annotations

import dataclasses
import json

import cdktf
import pytest
from support.stack_names import REGIONAL
from support.synth import synthesize
from support.tfjson import only, refers_to, resources

from config import facts, model
from config.choices import DatabaseTopology
from modules.alarms import GIB, DatabaseAlarms, DatabaseAlarmsProps

EXAMPLES = model.DEFAULT_CONFIG.parent / "examples"
WEB = {facts.ALARM_CPU_HIGH, facts.ALARM_ALB_5XX, facts.ALARM_TARGET_5XX, facts.ALARM_UNHEALTHY_HOSTS}


@pytest.fixture(scope="module")
def three_regions(tmp_path_factory):
    config = model.load(EXAMPLES / "three-regions-latency.toml")
    return synthesize(config, tmp_path_factory.mktemp("three") / "out")


def regional_alarms(synthesized, name):
    """The stack's alarms in its own region (default provider), by service word."""
    spec = next(s for s in synthesized.config.stacks() if s.name == name)
    env = synthesized.config.environments[spec.environment]
    namer = synthesized.config.namer(env, spec.region)
    by_name = {
        namer.name(s, "alarm"): s for s in (*facts.ALARMS, facts.ALARM_DB_FREE_STORAGE_LOW, facts.ALARM_DB_REPLICA_LAG)
    }
    found = {}
    for alarm in resources(synthesized.stacks[name], "aws_cloudwatch_metric_alarm").values():
        if "provider" not in alarm:
            found[by_name[alarm["alarm_name"]]] = alarm
    return env, spec.region, found


def regional_names(synthesized):
    return [s.name for s in synthesized.config.stacks() if s.role.regional]


@pytest.mark.parametrize("name", REGIONAL)
def test_web_alarms_watch_cpu_5xx_and_unhealthy_hosts(synthesized, name):
    stack = synthesized.stacks[name]
    asg_name, _ = only(stack, "aws_autoscaling_group")
    _, _, alarms = regional_alarms(synthesized, name)
    cpu = alarms[facts.ALARM_CPU_HIGH]
    assert (cpu["namespace"], cpu["metric_name"]) == ("AWS/EC2", "CPUUtilization")
    assert refers_to(cpu["dimensions"]["AutoScalingGroupName"], "aws_autoscaling_group", asg_name, "name")
    assert {alarms[s]["metric_name"] for s in WEB - {facts.ALARM_CPU_HIGH}} == {
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_Target_5XX_Count",
        "UnHealthyHostCount",
    }


def test_cpu_alarms_are_strictest_in_prod(synthesized):
    cpu = {}
    for name in REGIONAL:
        _, _, alarms = regional_alarms(synthesized, name)
        alarm = alarms[facts.ALARM_CPU_HIGH]
        cpu[name.split("-")[0]] = (alarm["threshold"], alarm["evaluation_periods"])
    assert cpu["prod"][0] < cpu["staging"][0] < cpu["dev"][0]
    assert cpu["prod"][1] < cpu["staging"][1] < cpu["dev"][1]


@pytest.mark.parametrize("fixture", ["synthesized", "shared_account", "three_regions"])
def test_every_regional_alarm_acts_on_the_regions_topic_in_both_directions(request, fixture):
    synthesized = request.getfixturevalue(fixture)
    for name in regional_names(synthesized):
        stack = synthesized.stacks[name]
        topic_name, _ = only(stack, "aws_sns_topic")
        env, region, alarms = regional_alarms(synthesized, name)
        expected = set(facts.ALARMS) | {facts.ALARM_DB_FREE_STORAGE_LOW}
        if not env.is_writer(region):
            expected.add(facts.ALARM_DB_REPLICA_LAG)
        assert set(alarms) == expected, name
        for alarm in alarms.values():
            assert refers_to(alarm["alarm_actions"], "aws_sns_topic", topic_name, "arn")
            assert refers_to(alarm["ok_actions"], "aws_sns_topic", topic_name, "arn")
            assert alarm["treat_missing_data"] in {"missing", "notBreaching", "breaching"}


@pytest.mark.parametrize("fixture", ["synthesized", "shared_account", "three_regions"])
def test_database_alarms_watch_this_regions_instance_with_the_environments_thresholds(request, fixture):
    synthesized = request.getfixturevalue(fixture)
    for name in regional_names(synthesized):
        stack = synthesized.stacks[name]
        db_name, _ = only(stack, "aws_db_instance")
        env, _, alarms = regional_alarms(synthesized, name)
        db = env.database
        for service in (facts.ALARM_DB_CPU_HIGH, facts.ALARM_DB_CONNECTIONS_HIGH, facts.ALARM_DB_FREE_STORAGE_LOW):
            alarm = alarms[service]
            assert alarm["namespace"] == "AWS/RDS"
            assert list(alarm["dimensions"]) == ["DBInstanceIdentifier"]
            assert refers_to(alarm["dimensions"]["DBInstanceIdentifier"], "aws_db_instance", db_name, "identifier")
        cpu = alarms[facts.ALARM_DB_CPU_HIGH]
        assert (cpu["metric_name"], cpu["threshold"]) == ("CPUUtilization", env.alarms.cpu_threshold)
        assert cpu["evaluation_periods"] == env.alarms.cpu_periods
        connections = alarms[facts.ALARM_DB_CONNECTIONS_HIGH]
        assert connections["metric_name"] == "DatabaseConnections"
        assert connections["threshold"] == db.connections_alarm_threshold
        assert connections["comparison_operator"] == "GreaterThanOrEqualToThreshold"
        storage = alarms[facts.ALARM_DB_FREE_STORAGE_LOW]
        assert storage["metric_name"] == "FreeStorageSpace"
        assert storage["comparison_operator"] == "LessThanThreshold"
        assert storage["threshold"] == int(db.allocated_storage * GIB / 10)  # bytes: 10% of the allocation


@pytest.mark.parametrize("fixture", ["synthesized", "shared_account", "three_regions"])
def test_replica_lag_alarms_only_where_the_database_replicates_never_on_the_writer(request, fixture):
    synthesized = request.getfixturevalue(fixture)
    replicas = 0
    for name in regional_names(synthesized):
        stack = synthesized.stacks[name]
        env, region, alarms = regional_alarms(synthesized, name)
        if env.is_writer(region):
            assert facts.ALARM_DB_REPLICA_LAG not in alarms, name
            continue
        replicas += 1
        db_name, _ = only(stack, "aws_db_instance")
        lag = alarms[facts.ALARM_DB_REPLICA_LAG]
        assert (lag["namespace"], lag["metric_name"]) == ("AWS/RDS", "ReplicaLag")
        assert refers_to(lag["dimensions"]["DBInstanceIdentifier"], "aws_db_instance", db_name, "identifier")
        assert lag["threshold"] == env.database.max_lag_seconds  # seconds
        assert lag["comparison_operator"] == "GreaterThanThreshold"
        assert lag["treat_missing_data"] == "breaching"  # a replica that reports nothing is not replicating
    assert replicas


def test_independent_databases_have_no_lag_alarm(default_data, tmp_path):
    data = {**default_data, "environments": {"dev": {**default_data["environments"]["dev"]}}}
    data["environments"]["dev"]["database_topology"] = "independent"
    synthesized = synthesize(model.parse(data, "independent.toml"), tmp_path / "out")
    for name in regional_names(synthesized):
        _, _, alarms = regional_alarms(synthesized, name)
        assert facts.ALARM_DB_REPLICA_LAG not in alarms
        assert facts.ALARM_DB_CPU_HIGH in alarms


@pytest.mark.parametrize("fixture", ["synthesized", "shared_account", "three_regions"])
def test_ingest_alarms_watch_the_function_and_its_dead_letter_queue(request, fixture):
    synthesized = request.getfixturevalue(fixture)
    for name in regional_names(synthesized):
        stack = synthesized.stacks[name]
        function, _ = only(stack, "aws_lambda_function")
        queue, _ = only(stack, "aws_sqs_queue")
        _, _, alarms = regional_alarms(synthesized, name)
        errors, dlq = alarms[facts.ALARM_INGEST_ERRORS], alarms[facts.ALARM_INGEST_DLQ]
        assert (errors["namespace"], errors["metric_name"], errors["statistic"]) == ("AWS/Lambda", "Errors", "Sum")
        assert refers_to(errors["dimensions"]["FunctionName"], "aws_lambda_function", function, "function_name")
        assert (errors["threshold"], errors["comparison_operator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert (dlq["namespace"], dlq["metric_name"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
        assert refers_to(dlq["dimensions"]["QueueName"], "aws_sqs_queue", queue, "name")
        assert (dlq["threshold"], dlq["comparison_operator"]) == (0, "GreaterThanThreshold")
        assert errors["treat_missing_data"] == dlq["treat_missing_data"] == "notBreaching"


def aurora_alarms(default_config, replica: bool) -> dict[str, dict]:
    env = default_config.environments["prod"]
    settings = dataclasses.replace(env.database, topology=DatabaseTopology.AURORA_GLOBAL)
    stack = cdktf.TerraformStack(cdktf.Testing.app(), "aurora")
    DatabaseAlarms(
        stack,
        "alarms",
        DatabaseAlarmsProps(
            namer=default_config.namer(env, "us-west-2"),
            topic_arn="arn:aws:sns:us-west-2:123456789012:topic",
            settings=settings,
            identifier="prod-us-west-2-db-a1",
            replica=replica,
            alarms=env.alarms,
            writer_region="us-east-1",
        ),
    )
    alarms = json.loads(cdktf.Testing.synth(stack))["resource"]["aws_cloudwatch_metric_alarm"].values()
    return {a["metric_name"]: a for a in alarms}


def test_aurora_alarms_watch_the_cluster_and_its_global_lag_in_milliseconds(default_config):
    alarms = aurora_alarms(default_config, replica=True)
    # No FreeStorageSpace: an Aurora cluster volume grows by itself.
    assert set(alarms) == {"CPUUtilization", "DatabaseConnections", "AuroraGlobalDBReplicationLag"}
    for metric, alarm in alarms.items():
        lag = metric == "AuroraGlobalDBReplicationLag"  # per secondary cluster and source region
        assert alarm["dimensions"] == {
            "DBClusterIdentifier": "prod-us-west-2-db-a1",
            **({"SourceRegion": "us-east-1"} if lag else {}),
        }
    lag = default_config.environments["prod"].database.max_lag_seconds
    assert alarms["AuroraGlobalDBReplicationLag"]["threshold"] == lag * 1000
    assert "AuroraGlobalDBReplicationLag" not in aurora_alarms(default_config, replica=False)


def test_a_lag_alarm_without_replicas_is_refused(default_config):
    env = default_config.environments["dev"]
    settings = dataclasses.replace(env.database, topology=DatabaseTopology.INDEPENDENT)
    with pytest.raises(ValueError, match="no replicas"):
        DatabaseAlarms(
            cdktf.TerraformStack(cdktf.Testing.app(), "independent"),
            "alarms",
            DatabaseAlarmsProps(
                namer=default_config.namer(env, "us-west-2"),
                topic_arn="arn:aws:sns:us-west-2:123456789012:topic",
                settings=settings,
                identifier="db",
                replica=True,
                alarms=env.alarms,
            ),
        )
