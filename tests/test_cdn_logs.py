"""R10: modules/cdn_logs.py, CloudFront access logs delivered by standard logging v2 into a secure bucket."""

from __future__ import annotations

import pytest
from support.stack_names import EDGE
from support.tfjson import (
    only,
    policy_document,
    refers_to,
    resources,
    tagged,
)


@pytest.mark.parametrize("name", EDGE)
def test_access_logs_are_delivered_v2(synthesized, name):
    stack = synthesized.stacks[name]
    dist_name, _ = only(stack, "aws_cloudfront_distribution")
    _, source = only(stack, "aws_cloudwatch_log_delivery_source")
    assert source["log_type"] == "ACCESS_LOGS" and source["provider"] == "aws.us_east_1"
    assert refers_to(source["resource_arn"], "aws_cloudfront_distribution", dist_name, "arn")
    bucket_name, _ = tagged(stack, "aws_s3_bucket", "cdn-logs")
    destination_name, destination = only(stack, "aws_cloudwatch_log_delivery_destination")
    assert refers_to(
        destination["delivery_destination_configuration"][0]["destination_resource_arn"],
        "aws_s3_bucket",
        bucket_name,
        "arn",
    )
    _, delivery = only(stack, "aws_cloudwatch_log_delivery")
    assert refers_to(
        delivery["delivery_destination_arn"], "aws_cloudwatch_log_delivery_destination", destination_name, "arn"
    )
    policy = next(
        p
        for p in resources(stack, "aws_s3_bucket_policy").values()
        if refers_to(p["bucket"], "aws_s3_bucket", bucket_name, "id")
    )
    statements = policy_document(stack, policy["policy"])
    # The construct asks its bucket to admit the delivery, after the bucket's own denies.
    assert [s["sid"] for s in statements] == [
        "DenyInsecureTransport",
        "DenyTlsBelow12",
        "LogDeliveryWrite",
        "LogDeliveryAclCheck",
    ]
    write = next(s for s in statements if s["sid"] == "LogDeliveryWrite")
    bucket = resources(stack, "aws_s3_bucket")[bucket_name]["bucket"]
    assert write["resources"][0].startswith("arn:${data.aws_partition.partition.partition}:s3:::" + bucket + "/")
    assert write["principals"] == [{"type": "Service", "identifiers": ["delivery.logs.amazonaws.com"]}]
    assert {c["variable"] for c in write["condition"]} >= {"aws:SourceAccount", "aws:SourceArn"}
