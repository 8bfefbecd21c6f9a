"""`doctor`: can this machine synthesize, plan and deploy? One line per check: OK, or the fix.

Exit codes follow the README's contract: 2 when the machine lacks something (Python packages,
Terraform, AWS credentials: `MACHINE` checks), 1 when a check against the world failed (a role
that cannot be assumed, an unreachable state bucket, Node.js). Roles are checked through
`ops.access`, i.e. exactly as the providers assume them (role ARN, external id, session name).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from config.choices import Backend
from config.errors import EnvironmentProblem, OperationFailed
from config.model import Config
from ops import access
from ops import terraform as tf

PACKAGES = ("cdktf", "cdktf-cdktf-provider-aws", "constructs", "jsii", "typer")
# Checks whose failure is "a machine problem" (README: exit 2); any other failure exits 1.
MACHINE = ("Python packages", "Terraform", "AWS credentials")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def packages() -> Check:
    missing, found = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check("Python packages", False, f"missing {', '.join(missing)}: run `make setup`")
    return Check("Python packages", True, ", ".join(found))


def node() -> Check:
    from modules.runtime import NodeMissingError, require_node

    try:
        path = require_node()
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (NodeMissingError, OSError, subprocess.TimeoutExpired) as exc:
        return Check("Node.js", False, str(exc))
    return Check("Node.js", True, f"{version} ({path})")


def terraform(root: Path) -> Check:
    """Terraform's version, and where the AWS provider the stacks pin will come from."""
    from ops import toolchain

    try:
        version = tf.check_version(tf.find_terraform())
        return Check("Terraform", True, f"{version}; {toolchain.check(root / toolchain.TOOLS_DIR.name)}")
    except tf.EnvironmentProblem as exc:
        return Check("Terraform", False, str(exc))


def aws(config: Config, session: Any) -> list[Check]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        me = session.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        return [
            Check(
                "AWS credentials",
                False,
                f"{type(exc).__name__}: configure credentials (AWS_PROFILE, SSO "
                "or OIDC) that may assume the deploy roles",
            )
        ]
    checks = [Check("AWS credentials", True, me["Arn"])]
    for env in config.environments.values():
        role, region = access.provider_access(config, env)
        dns_role, _ = access.provider_access(config, env, dns=True)
        roles = [("deploy role", role, "bootstrap the account (README)")]
        if dns_role.role_arn != role.role_arn:
            roles.append(
                (
                    "DNS role",
                    dns_role,
                    "create it in the DNS account, trusting these credentials with the project's external id (README)",
                )
            )
        for label, assumed, fix in roles:
            try:
                access.assume(assumed, region, session)  # exactly as the providers assume it
                checks.append(Check(f"{env.name}: {label}", True, assumed.role_arn))
            except (BotoCoreError, ClientError) as exc:
                checks.append(
                    Check(
                        f"{env.name}: {label}",
                        False,
                        f"cannot assume {assumed.role_arn} with external "
                        f"id {assumed.external_id!r} "
                        f"({type(exc).__name__}): {fix}",
                    )
                )
    return checks


def state(config: Config, session: Any, root: Path) -> Check:
    backend = config.state
    if backend.backend == Backend.LOCAL:
        folder = Path(backend.local_dir) if Path(backend.local_dir).is_absolute() else root / backend.local_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder):
                pass
        except OSError as exc:
            return Check("State backend", False, f"{folder} is not writable ({exc.strerror})")
        return Check("State backend", True, f"local, {folder}")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        session.client("s3", region_name=backend.region).head_bucket(Bucket=backend.bucket)
    except (BotoCoreError, ClientError) as exc:
        return Check(
            "State backend",
            False,
            f"s3://{backend.bucket} unreachable ({type(exc).__name__}): create it "
            "(versioned, encrypted, private) or fix [state]",
        )
    return Check("State backend", True, f"s3://{backend.bucket}")


def run(config: Config, session: Any, root: Path) -> list[Check]:
    return [packages(), node(), terraform(root), *aws(config, session), state(config, session, root)]


def verdict(results: list[Check]) -> None:
    """Return when every check passed; raise EnvironmentProblem (exit 2) when a machine check
    failed (README: missing credentials, Terraform or packages), OperationFailed (exit 1) otherwise."""
    failed = [c.name for c in results if not c.ok]
    if not failed:
        return
    error = EnvironmentProblem if set(failed) & set(MACHINE) else OperationFailed
    raise error(f"doctor: {len(failed)} check(s) to fix: {', '.join(failed)}")
