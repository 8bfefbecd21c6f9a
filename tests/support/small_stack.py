"""A small stack with the synth output's layout (`<out>/stacks/<stack>/cdk.tf.json`) for tests that
run real Terraform against the moto server in seconds: the S3 backend with its lock file (as
stacks/base.py writes it, plus the endpoint and path-style addressing moto needs) and a few SSM
parameters, cheap to create. A real platform stack takes minutes against the emulator; this one
goes through the same ops code (ops.terraform, ops.saved_plans)."""

from __future__ import annotations

import json
from pathlib import Path

STACK = "dev-us-east-1"
REGION = "us-east-1"


def stack_json(endpoint: str, bucket: str, parameters: list[str]) -> dict:
    """cdk.tf.json of the small stack: one SSM parameter per name, state in `bucket` on moto."""
    skip = {"skip_credentials_validation": True, "skip_requesting_account_id": True}
    return {
        "terraform": {
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": "5.100.0"}},
            "backend": {
                "s3": {
                    "bucket": bucket,
                    "key": f"{STACK}.tfstate",
                    "region": REGION,
                    "encrypt": True,
                    "use_lockfile": True,
                    "use_path_style": True,
                    "endpoints": {"s3": endpoint, "sts": endpoint},
                    **skip,
                }
            },
        },
        "provider": {"aws": [{"region": REGION, "endpoints": [{"ssm": endpoint, "sts": endpoint}], **skip}]},
        "resource": {
            "aws_ssm_parameter": {
                name: {"name": f"/{bucket}/{name}", "type": "String", "value": name} for name in parameters
            }
        },
    }


def write_stack(out_dir: Path, endpoint: str, bucket: str, parameters: list[str]) -> Path:
    """Write (or overwrite) the stack's cdk.tf.json under `out_dir`, as synth would."""
    folder = out_dir / "stacks" / STACK
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cdk.tf.json").write_text(json.dumps(stack_json(endpoint, bucket, parameters), indent=2))
    return folder
