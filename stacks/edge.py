"""`<env>-global`: what one environment has once, whatever its regions (CloudFront, IAM,
budgets, viewer DNS)."""

from __future__ import annotations

from pathlib import Path

from constructs import Construct

from config.model import Config, Environment, StackSpec
from config.regions import EDGE_REGION
from stacks.base import PlatformStack


class EdgeStack(PlatformStack):
    """Its default provider works in the environment's primary region; `us_east_1` is the
    aliased provider CloudFront certificates (ACM) must be created with."""

    def __init__(self, scope: Construct, spec: StackSpec, config: Config, env: Environment, out_dir: Path):
        super().__init__(scope, spec, config, env, provider_region=env.primary_region, out_dir=out_dir)
        self.us_east_1 = self.aws_provider("us_east_1", EDGE_REGION, alias="us_east_1")
