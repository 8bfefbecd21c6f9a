"""D1: ops/outputs.py through `outputs`: the stacks' outputs come from Terraform state."""

from __future__ import annotations

import json

from support.terraform import invoke


def test_outputs_come_from_state(fake, tmp_path):
    fake.behavior["outputs"] = {"dev-us-east-1": {"asg_name": "dev-us-east-1-web-a1"}}
    fake.save()
    result = invoke(tmp_path, "outputs", "--env", "dev", "--region", "us-east-1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"dev-us-east-1": {"asg_name": "dev-us-east-1-web-a1"}}
