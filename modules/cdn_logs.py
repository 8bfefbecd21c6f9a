"""CloudFront access logs, delivered by CloudWatch Logs "standard logging v2" into a SecureBucket.

Legacy CloudFront logging (`logging_config`) writes with S3 ACLs, which SecureBucket disables
(BucketOwnerEnforced) on purpose. v2 delivery uses the log-delivery service principal and a
bucket policy instead; its source, destination and delivery live in us-east-1 with the
distribution's other global pieces, and so does the bucket. The bucket uses SSE-S3: vended log
delivery would otherwise need a key policy grant for the delivery service on a us-east-1 key.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformProvider
from constructs import Construct

from config.naming import Namer
from config.regions import EDGE_REGION
from modules import aws
from modules.bucket import Lifecycle, SecureBucket, SecureBucketProps
from modules.policy import Condition, Statement


@dataclass(frozen=True)
class CdnLogsProps:
    namer: Namer
    account_number: str  # configuration value, for the bucket name
    account_token: str  # token, for policies
    partition: str  # token
    distribution_arn: str
    lifecycle: Lifecycle
    force_destroy: bool
    provider: TerraformProvider  # us-east-1


class CdnLogs(Construct):
    """Exposes `bucket` and `delivery`."""

    def __init__(self, scope: Construct, construct_id: str, props: CdnLogsProps):
        super().__init__(scope, construct_id)
        p, n = props, props.namer
        self.bucket = SecureBucket(
            self,
            "bucket",
            SecureBucketProps(
                namer=n,
                service="cdn-logs",
                account_number=p.account_number,
                lifecycle=p.lifecycle,
                sse_s3_reason="vended log delivery without a key grant for the delivery service",
                no_access_log_reason="it is the CloudFront log bucket; its own access logs add cost, not insight",
                force_destroy=p.force_destroy,
                provider=p.provider,
            ),
        )
        self._admit_delivery(p)
        source = aws.cloudwatch_log_delivery_source.CloudwatchLogDeliverySource(
            self,
            "source",
            name=n.name("cdn-logs", "log_delivery"),
            log_type="ACCESS_LOGS",
            resource_arn=p.distribution_arn,
            provider=p.provider,
            tags=n.resource_tags("cdn-logs-source"),
        )
        dest = aws.cloudwatch_log_delivery_destination
        destination = dest.CloudwatchLogDeliveryDestination(
            self,
            "destination",
            name=n.name("cdn-logs-s3", "log_delivery"),
            output_format="json",
            delivery_destination_configuration=[
                dest.CloudwatchLogDeliveryDestinationDeliveryDestinationConfiguration(
                    destination_resource_arn=self.bucket.arn
                )
            ],
            provider=p.provider,
            tags=n.resource_tags("cdn-logs-destination"),
        )
        self.delivery = aws.cloudwatch_log_delivery.CloudwatchLogDelivery(
            self,
            "delivery",
            delivery_source_name=source.name,
            delivery_destination_arn=destination.arn,
            provider=p.provider,
            depends_on=[self.bucket.policy],
            tags=n.resource_tags("cdn-logs-delivery"),
        )

    def _admit_delivery(self, p: CdnLogsProps) -> None:
        """The bucket admits the log-delivery service when asked (as it admits the load balancer's
        logs): writing under AWSLogs/<account>/, and checking the bucket's ACL first, for delivery
        sources of this account in us-east-1 only. The ARN is written out from the bucket's own
        name (not its `arn` reference) so the policy reads as it always has."""
        bucket_arn = f"arn:{p.partition}:s3:::{self.bucket.name}"
        delivery = {"Service": ("delivery.logs.amazonaws.com",)}
        conditions = (
            Condition("StringEquals", "aws:SourceAccount", (p.account_token,)),
            Condition(
                "ArnLike",
                "aws:SourceArn",
                (f"arn:{p.partition}:logs:{EDGE_REGION}:{p.account_token}:delivery-source:*",),
            ),
        )
        self.bucket.add_to_resource_policy(
            Statement(
                "LogDeliveryWrite",
                ("s3:PutObject",),
                (f"{bucket_arn}/AWSLogs/{p.account_token}/*",),
                delivery,
                (*conditions, Condition("StringEquals", "s3:x-amz-acl", ("bucket-owner-full-control",))),
            )
        )
        self.bucket.add_to_resource_policy(
            Statement("LogDeliveryAclCheck", ("s3:GetBucketAcl", "s3:ListBucket"), (bucket_arn,), delivery, conditions)
        )
