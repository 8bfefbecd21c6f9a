"""R16: config/loader.py, reading and validating the configuration contract: its defaults and its errors."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.configs import DELETE, changed, parse, problems, variant

from config import model


def test_default_config_defines_three_environments_with_two_regions(default_config):
    assert list(default_config.environments) == ["dev", "staging", "prod"]
    for env in default_config.environments.values():
        assert len(env.regions) == 2
        assert env.primary_region == env.regions[0]
        assert len(set(env.account_number)) == 1, "default account ids must be obviously fake"


def test_profiles_give_documented_per_environment_defaults(default_config):
    dev, staging, prod = (default_config.environments[n] for n in ("dev", "staging", "prod"))
    assert (dev.log_retention_days, staging.log_retention_days, prod.log_retention_days) == (14, 30, 365)
    assert (dev.network.nat_policy, staging.network.nat_policy, prod.network.nat_policy) == (
        "single",
        "single",
        "per_az",
    )
    assert (dev.network.az_count, prod.network.az_count) == (2, 3)
    assert prod.network.interface_endpoints and not dev.network.interface_endpoints
    assert not prod.force_destroy
    assert {e.scaling.instance_count for e in (dev, staging, prod)} == {3}
    assert all(e.scaling.min_capacity >= 2 for e in (dev, staging, prod))


def test_overrides_win_over_profile_defaults(default_data):
    data = changed(
        default_data,
        "environments.qa",
        {
            "account_id": "444444444444",
            "regions": ["eu-west-1"],
            "profile": "prod",
            "instance_count": 4,
            "log_retention_days": 90,
            "alert_emails": ["ops@example.com"],
        },
    )
    qa = parse(data).environments["qa"]
    assert qa.scaling.instance_count == 4 and qa.log_retention_days == 90 and qa.alert_emails == ("ops@example.com",)
    assert qa.network.nat_policy == "per_az", "unset keys come from the chosen profile"


def test_environment_without_profile_name_defaults_to_dev(default_data):
    data = changed(default_data, "environments.qa", {"account_id": "444444444444", "regions": ["eu-west-1"]})
    assert parse(data).environments["qa"].profile == "dev"


@pytest.mark.parametrize("name", ["live", "production", "prod2", "prodeu", "prd", "euprod", "liveus"])
def test_a_production_like_name_must_choose_its_profile(default_data, name):
    data = changed(default_data, f"environments.{name}", {"account_id": "444444444444", "regions": ["eu-west-1"]})
    (problem,) = problems(data)
    assert problem.startswith(f"test.toml: environments.{name}.profile: missing; {name!r} looks like a production")
    assert 'set profile = "prod"' in problem
    data["environments"][name]["profile"] = "prod"
    assert parse(data).environments[name].profile == "prod"
    data["environments"][name]["profile"] = "dev"
    assert parse(data).environments[name].profile == "dev", "an explicit choice is respected"


@pytest.mark.parametrize("name", ["delivery", "olive", "reproduce", "qa"])
def test_ordinary_names_that_contain_the_letters_keep_the_dev_profile(default_data, name):
    data = changed(default_data, f"environments.{name}", {"account_id": "444444444444", "regions": ["eu-west-1"]})
    assert parse(data).environments[name].profile == "dev"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    with_bom = tmp_path / "bom.toml"
    with_bom.write_bytes(b"\xef\xbb\xbf" + model.DEFAULT_CONFIG.read_bytes())
    assert model.load(with_bom).environments == model.load().environments


@pytest.mark.parametrize(
    ("path", "value", "fragments"),
    [
        ("project.suffix", "A_1", ["project.suffix", "lower-case"]),
        ("project.suffix", 7, ["project.suffix", "must be a string"]),
        ("project.domain", "not a domain", ["project.domain", "not a domain name"]),
        ("project.domain", "example", ["project.domain"]),
        ("project.name", DELETE, ["project.name", "missing; required"]),
        ("project.colour", "blue", ["project.colour", "unknown key"]),
        ("project.dns_account_id", "12345", ["project.dns_account_id", "12 digits"]),
        ("project.cidr_supernet", "8.8.0.0/16", ["project.cidr_supernet", "not private"]),
        ("project.cidr_supernet", "10.0.0.0/16", ["project.cidr_supernet", "too small"]),
        ("environments.dev.account_id", 111111111111, ["environments.dev.account_id", "must be a string"]),
        ("environments.dev.account_id", "11111111111", ["environments.dev.account_id", "exactly 12 digits"]),
        ("environments.dev.regions", ["us-east-9"], ["environments.dev.regions", "not an AWS commercial region"]),
        ("environments.dev.regions", ["us-east1"], ["did you mean 'us-east-1'"]),
        ("environments.dev.regions", ["us-east-1", "us-east-1"], ["more than once"]),
        ("environments.dev.regions", [], ["environments.dev.regions", "is empty"]),
        ("environments.dev.regions", "us-east-1", ["environments.dev.regions", "list of strings"]),
        ("environments.dev.instance_count", 1, ["environments.dev.instance_count", "2..100"]),
        ("environments.dev.instance_count", True, ["environments.dev.instance_count", "an integer"]),
        ("environments.dev.instance_count", 9, ["between min_capacity"]),
        ("environments.dev.min_capacity", 1, ["environments.dev.min_capacity"]),
        ("environments.dev.nat_policy", "none", ["environments.dev.nat_policy", "single, per_az"]),
        ("environments.dev.log_retention_days", 10, ["environments.dev.log_retention_days", "14"]),
        ("environments.dev.alert_emails", ["nobody"], ["environments.dev.alert_emails", "e-mail"]),
        ("environments.dev.trusted_accounts", ["111111111111"], ["own account"]),
        ("environments.dev.regoins", ["us-east-1"], ["environments.dev.regoins", "did you mean 'regions'"]),
        ("environments.dev.profile", "production", ["environments.dev.profile", "dev, staging, prod"]),
        ("environments.prod.force_destroy", True, ["environments.prod.force_destroy", "never"]),
        ("environments.dev.writer_region", "eu-west-1", ["environments.dev.writer_region", "not one of this"]),
        ("environments.dev.writer_region", "us-west2", ["environments.dev.writer_region", "us-west-2"]),
        ("environments.dev.database_topology", "shared", ["environments.dev.database_topology", "replica"]),
        ("environments.dev.database_topology", "aurora_global", ["environments.dev.db_instance_class", "db.r6g"]),
        (
            "environments.dev",
            {
                "account_id": "111111111111",
                "regions": ["us-east-1", "us-west-2"],
                "database_topology": "aurora_global",
                "db_instance_class": "db.r6g.large",
                "db_engine_version": "18",
            },
            ["environments.dev.db_engine_version", "'18'", "aurora_global", "13, 14, 15, 16, 17"],
        ),
        ("environments.dev.db_replica_max_lag_seconds", 0, ["environments.dev.db_replica_max_lag_seconds", "1..3600"]),
        (
            "environments.dev.cidrs",
            {"eu-west-1": "10.200.0.0/16"},
            ["environments.dev.cidrs.eu-west-1", "not one of this environment's regions"],
        ),
        ("environments.dev.cidrs", {"us-east-1": "10.192.0.0/12"}, ["prefix /12", "/16 to /22"]),
        ("environments.dev.cidrs", {"us-east-1": "10.200.0.1/16"}, ["not an IPv4 network"]),
        ("environments.all", {"account_id": "444444444444", "regions": ["us-east-1"]}, ["'all' is invalid"]),
        ("environments.Dev2", {"account_id": "444444444444", "regions": ["us-east-1"]}, ["'Dev2' is invalid"]),
        ("environments.verylongname", {"account_id": "444444444444", "regions": ["us-east-1"]}, ["is invalid"]),
        ("environments", {}, ["environments", "is empty"]),
        ("environments.dev", "oops", ["environments.dev", "must be a table"]),
        ("state", {"backend": "s3"}, ["state.bucket", "state.region"]),
        ("state", {"backend": "gcs"}, ["state.backend", "local, s3"]),
        ("state", {"backend": "local", "bucket": "b"}, ["state.bucket", "only applies"]),
        ("state", {"backend": "s3", "bucket": "Bad_Bucket", "region": "us-east-1"}, ["state.bucket"]),
        ("terraform", {}, ["terraform", "unknown key"]),
    ],
)
def test_bad_input_names_file_key_and_what_is_allowed(default_data, path, value, fragments):
    lines = problems(changed(default_data, path, value))
    text = "\n".join(lines)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} missing from:\n{text}"


def test_every_problem_is_reported_at_once(default_data):
    data = changed(default_data, "environments.dev.account_id", "x")
    data = changed(data, "environments.staging.regions", ["mars-1"])
    data = changed(data, "project.owner", "")
    lines = problems(data)
    assert len(lines) == 3, lines


def test_names_too_long_for_aws_limits_are_rejected(default_data):
    data = changed(default_data, "project.suffix", "abcdefgh")
    data = changed(data, "environments.staging.regions", ["ap-southeast-1"])
    text = "\n".join(problems(data))
    assert "environments.staging" in text and "32" in text and "load balancer" in text


def test_domain_too_long_for_acm_is_rejected(default_data):
    text = "\n".join(problems(changed(default_data, "project.domain", "a" * 50 + ".example.com")))
    assert "ACM allows 64" in text


def test_load_reports_missing_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(model.ConfigError, match="file not found"):
        model.load(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[project\nname = 1")
    with pytest.raises(model.ConfigError, match=r"broken.toml: invalid TOML"):
        model.load(broken)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(model.ConfigError, match="cannot be read"):
        model.load(binary)


# ------------------------------------------------------------------ property: never a traceback

toml_values = st.recursive(
    st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=24)
    | st.sampled_from(["us-east-1", "10.0.0.0/16", "111111111111", "", "dev"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(string.ascii_lowercase + "_", max_size=12), inner, max_size=3)
    ),
    max_leaves=6,
)


def key_paths(data: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, dict):
            paths.extend(key_paths(value, path + "."))
    return paths


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_bad_input_always_gives_a_clean_error(default_data, data):
    """Replace, delete or add keys anywhere: the result is a Config or a ConfigError whose lines
    each name the file; never any other exception."""
    mutated = variant(default_data)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = key_paths(mutated) or ["project"]
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add":
            path = f"{path}.{data.draw(st.text(string.ascii_lowercase, min_size=1, max_size=8))}"
        try:
            mutated = changed(mutated, path, DELETE if action == "delete" else data.draw(toml_values))
        except (AttributeError, TypeError, KeyError):
            continue  # the parent was replaced by a scalar; nothing to mutate there
    try:
        parse(mutated)
    except model.ConfigError as exc:
        assert exc.problems and all(line.startswith("test.toml: ") and "\n" not in line for line in exc.problems)


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_random_files_give_a_clean_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(model.ConfigError) as info:
        model.load(path)
    assert all(line.startswith(str(path)) for line in info.value.problems)


def test_environment_domains_default_to_a_subdomain_and_the_apex_for_prod(default_config):
    domains = {e.name: e.domain for e in default_config.environments.values()}
    assert domains == {"dev": "dev.example.com", "staging": "staging.example.com", "prod": "example.com"}
    prod = default_config.environments["prod"]
    assert prod.origin_domain == "origin.example.com"
    assert prod.regional_origin_domain("us-west-2") == "us-west-2.origin.example.com"


def test_environment_domain_is_configurable_inside_the_zone_only(default_data):
    ok = changed(default_data, "environments.prod.domain", "www.example.com")
    assert parse(ok).environments["prod"].domain == "www.example.com"
    text = "\n".join(problems(changed(default_data, "environments.dev.domain", "dev.example.org")))
    assert "environments.dev.domain" in text and "outside the hosted zone" in text


def test_roles_that_would_trust_no_account_are_a_configuration_error(tmp_path):
    lone = tmp_path / "lone.toml"
    lone.write_text(
        '[project]\nname = "web"\nsuffix = "a1"\ndomain = "example.com"\nowner = "o"\ncost_center = "c"\n'
        'external_id = "x-123456"\n[environments.dev]\naccount_id = "444444444444"\n'
        'regions = ["us-east-1"]\n'
    )
    with pytest.raises(model.ConfigError) as caught:
        model.load(lone)
    assert any("environments.dev: its read-only role would trust no account" in p for p in caught.value.problems)
    lone.write_text(
        lone.read_text().replace('cost_center = "c"\n', 'cost_center = "c"\nci_account_id = "555555555555"\n')
    )
    assert model.load(lone).trusted_by(model.load(lone).environments["dev"]) == ("555555555555",)


def test_the_writer_is_the_first_region_unless_set(default_data):
    dev = parse(default_data).environments["dev"]
    assert dev.writer_region == dev.regions[0] == dev.primary_region
    assert dev.failover_order == dev.regions
    moved = parse(changed(default_data, "environments.dev.writer_region", dev.regions[1])).environments["dev"]
    assert moved.writer_region == dev.regions[1] and moved.is_writer(dev.regions[1])
    assert moved.primary_region == dev.regions[0], "the home region (and the deploy order) stays"
    assert moved.failover_order == (dev.regions[1], dev.regions[0])
    assert moved.regions == dev.regions, "the regions keep their order (and with it their CIDR slots)"
    assert moved.cidrs == dev.cidrs
    assert not dev.writer_recorded and moved.writer_recorded, "written in the file (failover does), or defaulted"


def test_replicated_data_routes_viewers_to_the_closest_region_by_default(default_data):
    dev = parse(default_data).environments["dev"]
    assert dev.database.topology == "replica" and dev.dns.routing_policy == "latency"
    alone = parse(changed(default_data, "environments.dev.database_topology", "independent")).environments["dev"]
    assert alone.dns.routing_policy == "failover", "independent databases: the writer's region first"
    both = changed(default_data, "environments.dev.database_topology", "independent")
    chosen = parse(changed(both, "environments.dev.dns_routing_policy", "latency")).environments["dev"]
    assert chosen.dns.routing_policy == "latency", "an explicit policy always wins"
    aurora = changed(default_data, "environments.dev.database_topology", "aurora_global")
    aurora = parse(changed(aurora, "environments.dev.db_instance_class", "db.r6g.large")).environments["dev"]
    assert aurora.database.topology == "aurora_global" and aurora.dns.routing_policy == "latency"
