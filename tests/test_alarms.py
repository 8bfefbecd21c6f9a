"""R8, R12: modules/alarms.py, the CPU, 5xx and unhealthy-host alarms acting on the error topic."""

from __future__ import annotations

import pytest
from support.stack_names import REGIONAL
from support.tfjson import only, refers_to, resources


@pytest.mark.parametrize("name", REGIONAL)
def test_alarms_watch_cpu_5xx_and_unhealthy_hosts_and_act_on_the_topic(synthesized, name):
    stack = synthesized.stacks[name]
    topic_name, _ = only(stack, "aws_sns_topic")
    asg_name, _ = only(stack, "aws_autoscaling_group")
    alarms = {a["metric_name"]: a for a in resources(stack, "aws_cloudwatch_metric_alarm").values()}
    assert set(alarms) == {
        "CPUUtilization",
        "HTTPCode_ELB_5XX_Count",
        "HTTPCode_Target_5XX_Count",
        "UnHealthyHostCount",
    }
    cpu = alarms["CPUUtilization"]
    assert cpu["namespace"] == "AWS/EC2"
    assert refers_to(cpu["dimensions"]["AutoScalingGroupName"], "aws_autoscaling_group", asg_name, "name")
    for alarm in alarms.values():
        assert refers_to(alarm["alarm_actions"], "aws_sns_topic", topic_name, "arn")
        assert refers_to(alarm["ok_actions"], "aws_sns_topic", topic_name, "arn")
        assert alarm["alarm_name"].startswith(f"{name}-")


def test_cpu_alarms_are_strictest_in_prod(synthesized):
    cpu = {}
    for name in REGIONAL:
        for alarm in resources(synthesized.stacks[name], "aws_cloudwatch_metric_alarm").values():
            if alarm["metric_name"] == "CPUUtilization":
                cpu[name.split("-")[0]] = (alarm["threshold"], alarm["evaluation_periods"])
    assert cpu["prod"][0] < cpu["staging"][0] < cpu["dev"][0]
    assert cpu["prod"][1] < cpu["staging"][1] < cpu["dev"][1]
