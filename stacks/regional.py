"""`<env>-<region>`: everything one environment runs in one region."""

from __future__ import annotations

from pathlib import Path

from cdktf import TerraformOutput, TerraformVariable, TerraformVariableValidationConfig
from constructs import Construct

from config.model import Config, Environment, StackSpec
from modules.bucket import Lifecycle, SecureBucket, SecureBucketProps
from modules.kms import EncryptionKey, EncryptionKeyProps
from modules.network import Network, NetworkProps
from stacks.base import PlatformStack


class RegionalStack(PlatformStack):
    """Composes the regional modules: key, log bucket, network (later: web tier, database,
    ingest, alarms)."""

    def __init__(self, scope: Construct, spec: StackSpec, config: Config, env: Environment, out_dir: Path):
        super().__init__(scope, spec, config, env, provider_region=spec.region, out_dir=out_dir)
        self.instance_count = self._instance_count_variable()
        region = spec.region
        self.key = EncryptionKey(self, "kms", EncryptionKeyProps(
            namer=self.namer, region=region, account_id=self.account_id, partition=self.partition,
            deletion_window_days=env.key_deletion_window_days))
        self.log_bucket = SecureBucket(self, "log-bucket", SecureBucketProps(
            namer=self.namer, service="logs", account_id=env.account_id, partition=self.partition,
            lifecycle=self.lifecycle(current_expire_days=env.log_retention_days),
            sse_s3_reason="S3 server access logs and ALB access logs can only be delivered to SSE-S3 buckets",
            no_access_log_reason="it is the access log bucket; logging it into itself would loop",
            receives_access_logs=True, force_destroy=env.force_destroy))
        self.network = Network(self, "network", NetworkProps(
            namer=self.namer, region=region, cidr=env.cidrs[region], az_count=env.az_count,
            nat_policy=env.nat_policy, interface_endpoints=env.interface_endpoints,
            log_retention_days=env.log_retention_days, kms_key_arn=self.key.arn,
            account_id=self.account_id, partition=self.partition))
        self._outputs()

    def lifecycle(self, current_expire_days: int | None = None) -> Lifecycle:
        e = self.env
        return Lifecycle(abort_multipart_days=e.abort_multipart_days, noncurrent_ia_days=e.noncurrent_ia_days,
                         noncurrent_glacier_ir_days=e.noncurrent_glacier_ir_days,
                         noncurrent_expire_days=e.noncurrent_expire_days, current_expire_days=current_expire_days)

    def _outputs(self) -> None:
        TerraformOutput(self, "vpc_id", value=self.network.vpc.id, description="VPC of this region")
        for tier, ids in self.network.subnet_ids.items():
            TerraformOutput(self, f"{tier}_subnet_ids", value=ids,
                            description=f"Subnets of the {tier} tier, one per availability zone")
        TerraformOutput(self, "log_bucket_name", value=self.log_bucket.bucket.bucket,
                        description="Bucket receiving S3 access logs and ALB access logs")
        TerraformOutput(self, "kms_key_arn", value=self.key.arn, description="The region's customer-managed key")

    def _instance_count_variable(self) -> TerraformVariable:
        """R7: a real Terraform input, so `terraform plan -var instance_count=4` resizes a
        region without re-synthesizing. Bounded like the Auto Scaling group it feeds."""
        low, high = 2, self.env.max_capacity
        return TerraformVariable(
            self, "instance_count",
            type="number",
            default=self.env.instance_count,
            nullable=False,
            description=(f"Desired EC2 instances in {self.spec.region} for {self.env.name} "
                         f"(whole number, {low}..{high})."),
            validation=[TerraformVariableValidationConfig(
                condition=(f"${{var.instance_count >= {low} && var.instance_count <= {high} "
                           "&& floor(var.instance_count) == var.instance_count}"),
                error_message=(f"The instance_count must be a whole number from {low} (always two "
                               f"instances for availability) to {high} (max_capacity)."),
            )],
        )
