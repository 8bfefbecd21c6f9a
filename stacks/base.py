"""What every stack shares: providers that assume the deploy role, default tags, backend."""

from __future__ import annotations

import os
from pathlib import Path

from cdktf import LocalBackend, S3Backend, TerraformStack
from constructs import Construct

from config.choices import Backend
from config.model import Config, Environment, StackSpec
from modules import aws

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def origin_verify_secret_name(config: Config, env: Environment) -> str:
    """The origin-verify secret lives in the primary region (its regional stack creates it); the
    other regional stacks and the edge stack derive its name to read it."""
    return config.namer(env, env.primary_region).name("origin-verify", "secret")


class PlatformStack(TerraformStack):
    """A stack of one environment: its default provider in `provider_region`, an aliased `dns`
    provider for every Route 53 change (the hosted zone may live in another account), and one
    state file of its own."""

    def __init__(
        self, scope: Construct, spec: StackSpec, config: Config, env: Environment, provider_region: str, out_dir: Path
    ):
        super().__init__(scope, spec.name)
        self.spec = spec
        self.config = config
        self.env = env
        self.namer = config.namer(env, spec.region)
        self.provider_region = provider_region
        self.provider = self.aws_provider("aws", provider_region)
        self._region_providers: dict[str, object] = {provider_region: self.provider}
        self.dns_provider = self.aws_provider(
            "dns",
            provider_region,
            alias="dns",
            account_number=config.dns_account_id(env),
            role_name=config.dns_role_name(env),
        )
        self._backend(out_dir)
        # The account and partition as Terraform reads them: policies and ARNs use these
        # rather than strings typed from configuration (allowed_account_ids keeps them equal).
        # One name for each meaning, in every stack and module: `account_token` is this token,
        # `account_number` a 12-digit id from the configuration (bucket names, provider pins).
        self.account_token: str = aws.data_aws_caller_identity.DataAwsCallerIdentity(self, "caller").account_id
        self.partition: str = aws.data_aws_partition.DataAwsPartition(self, "partition").partition

    def aws_provider(
        self,
        construct_id: str,
        region: str,
        *,
        alias: str | None = None,
        account_number: str | None = None,
        role_name: str | None = None,
    ):
        """An AWS provider that can only ever act in the intended account. Every provider (default,
        `dns`, `us_east_1`, the regional aliases) assumes its role through `Config.assume_role`,
        with the external id the roles' trust policies require; `doctor` and `smoke` use the same."""
        account_number = account_number or self.env.account_number
        access = self.config.assume_role(self.env, self.spec.name, account_number=account_number, role_name=role_name)
        p = aws.provider
        return p.AwsProvider(
            self,
            construct_id,
            region=region,
            alias=alias,
            allowed_account_ids=[account_number],
            assume_role=[
                p.AwsProviderAssumeRole(
                    role_arn=access.role_arn,
                    external_id=access.external_id,
                    session_name=access.session_name,
                )
            ],
            default_tags=[p.AwsProviderDefaultTags(tags=self.namer.default_tags())],
        )

    def provider_in(self, region: str):
        """The provider that works in `region`: the default one for the stack's own region, else
        an aliased provider (alias = the region with underscores), created once. Reads of what
        another region owns (the origin-verify secret, the primary database, the primary error
        topic) go through it; AWS provider 5 has no per-resource `region` argument."""
        if region not in self._region_providers:
            alias = region.replace("-", "_")
            self._region_providers[region] = self.aws_provider(alias, region, alias=alias)
        return self._region_providers[region]

    def _backend(self, out_dir: Path) -> None:
        state = self.config.state
        name = self.spec.name
        if state.backend == Backend.S3:
            key = f"{state.key_prefix}/{name}.tfstate" if state.key_prefix else f"{name}.tfstate"
            S3Backend(self, bucket=state.bucket, key=key, region=state.region, encrypt=True)
            # cdktf 0.21's S3Backend predates S3-native locking (Terraform >= 1.10).
            self.add_override("terraform.backend.s3.use_lockfile", True)
            return
        # Local state lives outside the synth output (which synth replaces), relative to the
        # project root, and is referenced relative to the stack folder Terraform runs in, so
        # the JSON is the same on every machine.
        state_dir = Path(state.local_dir)
        if not state_dir.is_absolute():
            state_dir = PROJECT_ROOT / state_dir
        stack_dir = out_dir.resolve() / "stacks" / name
        LocalBackend(self, path=os.path.relpath(state_dir / f"{name}.tfstate", stack_dir))
