"""The default configuration's stack names (EXPECTED: all of them, in the order Config.stacks()
lists them), and the environment, region and spec a stack name carries, shared by the test modules
that parametrize over the synthesized stacks."""

from __future__ import annotations

REGIONAL = [
    "dev-us-east-1",
    "dev-us-west-2",
    "staging-us-east-1",
    "staging-us-west-2",
    "prod-us-east-1",
    "prod-us-west-2",
]
EDGE = ["dev-global", "staging-global", "prod-global"]
EXPECTED = [
    "dev-us-east-1",
    "dev-us-west-2",
    "dev-global",
    "staging-us-east-1",
    "staging-us-west-2",
    "staging-global",
    "prod-us-east-1",
    "prod-us-west-2",
    "prod-global",
]


def env_of(config, name):
    return config.environments[name.split("-")[0]]


def region_of(name):
    return name.split("-", 1)[1]


def stack_spec(config, name):
    return next(s for s in config.stacks() if s.name == name)
