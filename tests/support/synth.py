"""Synthesis for tests: the session's default app (tests/conftest.py) and the variants tests
synthesize themselves, each into its own folder, read back as Terraform JSON."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from config import model
from support.tfjson import load_stacks, only


@dataclass
class Synthesized:
    config: model.Config
    out_dir: Path
    stacks: dict[str, dict]


def synthesize(config: model.Config, out_dir: Path, env: str | None = None) -> Synthesized:
    from stacks import app

    app.synth(config, config.select(env), out_dir)
    return Synthesized(config, out_dir, load_stacks(out_dir))


def user_data(stack) -> str:
    """The boot script: Terraform base64-encodes it at plan time when it holds references (the
    database endpoint and secret ARN), which stay `${...}` here."""
    _, template = only(stack, "aws_launch_template")
    value = template["user_data"]
    wrapper = '${base64encode("'
    if value.startswith(wrapper):
        assert value.endswith('")}')
        return json.loads('"' + value[len(wrapper) : -3] + '"')  # an HCL string literal, JSON-compatible escapes
    return base64.b64decode(value).decode()


def env_variant(default_data: dict, tmp_path: Path, env: str, **settings) -> dict[str, dict]:
    """The stacks of one environment, synthesized with `settings` changed in that environment."""
    from support.configs import variant

    data = variant(default_data, environments={env: settings})
    return synthesize(model.parse(data, "variant.toml"), tmp_path / "out", env=env).stacks
