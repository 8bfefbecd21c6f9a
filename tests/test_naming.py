"""R17/F11: the naming helper, its AWS limits and its tags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config import naming
from config.naming import LIMITS, Namer, NamingError
from config.regions import REGIONS


def test_name_follows_environment_region_service_suffix():
    namer = Namer("prod", "eu-west-1", "a1")
    assert namer.name("web") == "prod-eu-west-1-web-a1"
    assert namer.name("flow-logs", "iam_role") == "prod-eu-west-1-flow-logs-a1"
    assert Namer("prod", "global", "a1").name("cdn") == "prod-global-cdn-a1"
    assert Namer("prod", "eu-west-1", "").name("web") == "prod-eu-west-1-web", "empty suffix adds nothing"


def test_suffix_is_applied_from_the_single_configured_value(default_config):
    env = default_config.environments["dev"]
    assert default_config.namer(env, "us-east-1").name("web").endswith(f"-{default_config.project.suffix}")


@pytest.mark.parametrize("kind", sorted(LIMITS))
def test_every_limit_is_enforced_with_an_actionable_message(kind):
    limit = LIMITS[kind].max_length
    namer = Namer("staging", "ap-southeast-1", "a1")
    fits = "s" * (limit - len(namer.name("s")) + 1)
    assert len(namer.name(fits, kind)) == limit
    with pytest.raises(NamingError, match=rf"{limit}\. Shorten"):
        namer.name(fits + "x", kind)


@pytest.mark.parametrize("service", ["", "Web", "web_app", "-web", "web-", "web--app", "1web"])
def test_invalid_service_tokens_are_rejected(service):
    with pytest.raises(NamingError):
        Namer("dev", "us-east-1", "a1").name(service)


def test_unknown_kind_is_rejected():
    with pytest.raises(NamingError, match="unknown name kind"):
        Namer("dev", "us-east-1", "a1").name("web", "bucket")


def test_tags_carry_name_and_every_standard_key():
    namer = Namer("dev", "us-east-1", "a1", project="webapp", owner="platform", cost_center="cc-1")
    tags = namer.tags("web", "alb")
    assert tags == {
        "Name": "dev-us-east-1-web-a1",
        "Service": "web",
        "Environment": "dev",
        "Region": "us-east-1",
        "Project": "webapp",
        "Owner": "platform",
        "CostCenter": "cc-1",
        "ManagedBy": naming.MANAGED_BY,
    }
    assert namer.resource_tags("web") == {"Name": "dev-us-east-1-web-a1", "Service": "web"}
    assert "Name" not in namer.default_tags()


def test_matches_recognises_only_its_own_names():
    namer = Namer("dev", "us-east-1", "a1")
    assert namer.matches(namer.name("flow-logs"))
    for other in ("dev-us-east-1-web", "prod-us-east-1-web-a1", "dev-us-east-1-Web-a1", "dev-us-east-1--a1"):
        assert not namer.matches(other), other


def test_stack_names():
    assert naming.stack_name("dev", "us-east-1") == "dev-us-east-1"
    assert naming.stack_name("dev", "global") == "dev-global"


@settings(max_examples=200, deadline=None)
@given(
    env=st.from_regex(r"[a-z][a-z0-9]{1,9}", fullmatch=True),
    suffix=st.from_regex(r"[a-z0-9]{0,8}", fullmatch=True),
    region=st.sampled_from(REGIONS),
)
def test_any_accepted_configuration_fits_the_tightest_limit(env, suffix, region):
    """Config validation uses the tightest kind; whatever it accepts fits every regional name."""
    from config import model

    data = {
        "project": {
            "name": "pp",
            "suffix": suffix,
            "domain": "example.com",
            "owner": "o",
            "cost_center": "c",
            "external_id": "ext-id",
            "ci_account_id": "999999999999",
        },
        "environments": {env: {"account_id": "123456789012", "regions": [region]}},
    }
    try:
        model.parse(data)
    except model.ConfigError as exc:
        assert any("too long" in line or "is invalid" in line for line in exc.problems), exc.problems
        return
    assert len(Namer(env, region, suffix).name(naming.TIGHTEST_SERVICE, naming.TIGHTEST_KIND)) <= 32
