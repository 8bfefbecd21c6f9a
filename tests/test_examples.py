"""R16, D2: every example in config/examples loads and has the property its header claims.

Fast on purpose: configuration only, no synthesis (Terraform validation of the synthesized
examples lives elsewhere). A new example without an entry in CLAIMS fails here, so every
example states what it demonstrates.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from config import model

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "config" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.toml"))
DEFAULT_ACCOUNTS = {"111111111111", "222222222222", "333333333333"}


def three_regions_latency(config: model.Config) -> None:
    assert config.environments
    for env in config.environments.values():
        assert len(env.regions) == 3, f"{env.name}: {env.regions}"
        assert env.dns.routing_policy == "latency", env.name


def shared_account_dns_account(config: model.Config) -> None:
    envs = list(config.environments.values())
    assert len(envs) == 2
    first, second = envs
    assert first.account_number == second.account_number
    dns_account = config.project.dns_account_id
    assert dns_account is not None and dns_account != first.account_number
    assert all(config.dns_account_id(env) == dns_account for env in envs)
    # One AWS Config recorder per (account, region): the first environment owns it everywhere.
    for region in second.regions:
        owners = [env.name for env in envs if config.owns_config_recorder(env, region)]
        assert owners == [first.name], region
    # Cross-account roles trust someone other than their own account.
    for env in envs:
        assert config.trusted_by(env), f"{env.name}: trust policy would have no principal"
        assert env.account_number not in config.trusted_by(env)


def four_regions_failover(config: model.Config) -> None:
    assert config.environments
    for env in config.environments.values():
        assert len(env.regions) == 4, f"{env.name}: {env.regions}"
        assert env.dns.routing_policy == "failover", env.name


def single_region(config: model.Config) -> None:
    assert config.environments
    for env in config.environments.values():
        assert len(env.regions) == 1, f"{env.name}: {env.regions}"


# file name -> (what it claims, number of stacks `select("all")` returns)
CLAIMS: dict[str, tuple[Callable[[model.Config], None], int]] = {
    "three-regions-latency.toml": (three_regions_latency, 8),
    "shared-account-dns-account.toml": (shared_account_dns_account, 6),
    "single-region.toml": (single_region, 2),
    "four-regions-failover.toml": (four_regions_failover, 5),
}


def test_examples_exist():
    assert EXAMPLES, f"no examples in {EXAMPLES_DIR}"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_loads_and_has_its_claimed_property(path):
    assert path.name in CLAIMS, f"{path.name} has no claim in tests/test_examples.py CLAIMS; add one"
    claim, stack_count = CLAIMS[path.name]
    config = model.load(path)
    claim(config)
    stacks = config.select("all")
    assert len(stacks) == stack_count, [s.name for s in stacks]
    assert len(stacks) == sum(len(env.regions) + 1 for env in config.environments.values())


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_is_documented_and_uses_fake_accounts(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Example:"), f"{path.name}: start with a '# Example: ...' header comment"
    assert "When to copy it" in text, f"{path.name}: the header says when to copy it"
    config = model.load(path)
    accounts = {env.account_number for env in config.environments.values()}
    accounts |= {a for a in (config.project.dns_account_id, config.project.ci_account_id) if a}
    for account in accounts:
        assert len(set(account)) == 1, f"{path.name}: {account} is not an obviously fake account id"
    assert not accounts & DEFAULT_ACCOUNTS, f"{path.name}: use account ids distinct from config/default.toml"
    assert config.project.domain in ("example.com", "example.org")


def test_every_claim_has_its_example():
    missing = set(CLAIMS) - {p.name for p in EXAMPLES}
    assert not missing, f"claims without an example: {sorted(missing)}"
