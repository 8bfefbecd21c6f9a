"""`<env>-<region>`: everything one environment runs in one region."""

from __future__ import annotations

from pathlib import Path

from cdktf import TerraformVariable, TerraformVariableValidationConfig
from constructs import Construct

from config.model import Config, Environment, StackSpec
from stacks.base import PlatformStack


class RegionalStack(PlatformStack):
    """Composes the regional modules. Later issues add network, web tier, database, ingest."""

    def __init__(self, scope: Construct, spec: StackSpec, config: Config, env: Environment, out_dir: Path):
        super().__init__(scope, spec, config, env, provider_region=spec.region, out_dir=out_dir)
        self.instance_count = self._instance_count_variable()

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
