"""How operations (`doctor`, `smoke`) enter an environment's account: exactly as its providers do.

The providers assume a role with the parameters `Config.assume_role` returns (role ARN, the
external id the trust policy requires, session name); so do these functions, through boto3. A
`doctor` that passes therefore means Terraform's `assume_role` will pass too, and `smoke` sees
what Terraform created with the same permissions. boto3 is imported only when a session is made.
"""

from __future__ import annotations

from typing import Any

from config import naming
from config.model import AssumeRole, Config, Environment

SESSION_SECONDS = 3600  # the roles' max_session_duration (modules/cross_account.py)


def provider_access(config: Config, env: Environment, *, dns: bool = False) -> tuple[AssumeRole, str]:
    """The role the providers of `env`'s primary regional stack assume (its `dns` provider's role
    with `dns`), and the region they assume it from."""
    stack = naming.stack_name(env.name, env.primary_region)
    if dns:
        return config.assume_role(
            env, stack, account_number=config.dns_account_id(env), role_name=config.dns_role_name(env)
        ), env.primary_region
    return config.assume_role(env, stack), env.primary_region


def assume(access: AssumeRole, region: str, base: Any) -> Any:
    """A boto3 session holding the role's credentials, obtained from `base` through the regional
    STS endpoint of `region` (no default region needed). Raises botocore errors as they come."""
    import boto3

    sts = base.client("sts", region_name=region)
    keys = sts.assume_role(
        RoleArn=access.role_arn,
        RoleSessionName=access.session_name,
        ExternalId=access.external_id,
        DurationSeconds=SESSION_SECONDS,
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
    )


def environment_session(config: Config, env: Environment, base: Any) -> Any:
    """A boto3 session in `env`'s account through the role its providers assume: operator
    credentials may assume it, but themselves live elsewhere."""
    return assume(*provider_access(config, env), base)


def dns_session(config: Config, env: Environment, base: Any, environment: Any) -> Any:
    """A boto3 session where the hosted zone and health checks live, through the role the `dns`
    providers assume; `environment` (from `environment_session`) when that is the same role."""
    dns, region = provider_access(config, env, dns=True)
    if dns.role_arn == provider_access(config, env)[0].role_arn:
        return environment
    return assume(dns, region, base)
