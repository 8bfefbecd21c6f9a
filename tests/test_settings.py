"""The settings table (config/settings.py) is the one source of every key: loading, the
defaults, the typed groups and the README's table all follow it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support.configs import variant

from config import model, settings
from config.choices import Backend, NatPolicy, Profile, RoutingPolicy

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ACCOUNT = "444444444444"


def readme_settings_table() -> str:
    """The README's per-environment settings table, from its header row to the first line that
    is not a table row."""
    start, end = settings.table_span(README)
    return README[start:end]


def with_environment(default_data: dict, name: str, **keys) -> dict:
    return variant(default_data, environments={name: {"account_id": ACCOUNT, "regions": ["eu-west-1"], **keys}})


def test_the_readme_table_is_the_rendered_settings_table():
    assert readme_settings_table() == settings.readme_table(), (
        "README's settings table differs from config/settings.py: run `python -m config.settings README.md`"
    )


def test_the_readme_table_is_rewritten_in_place_and_nothing_else_moves(tmp_path):
    readme = tmp_path / "README.md"
    start, end = settings.table_span(README)
    stale = README[start:end].replace("| `db_multi_az` | false |", "| `db_multi_az` | true |")
    assert stale != README[start:end]
    readme.write_text(README[:start] + stale + README[end:])
    assert settings.write_readme(readme) is True
    assert readme.read_text() == README
    assert settings.write_readme(readme) is False
    result = subprocess.run(
        [sys.executable, "-m", "config.settings", str(readme)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "already current" in result.stdout and readme.read_text() == README


def test_a_text_without_the_settings_table_is_an_error():
    with pytest.raises(ValueError):
        settings.table_span("# README\n\nno table here\n")
    with pytest.raises(ValueError):
        settings.block_span("# README\n\n[projects]\n", "project")


@pytest.mark.parametrize(("table", "render"), [("project", settings.project_block), ("state", settings.state_block)])
def test_the_readme_project_and_state_blocks_are_rendered_from_their_tables(table, render, tmp_path):
    start, end = settings.block_span(README, table)
    assert README[start:end] == render(), (
        f"README's [{table}] block differs from config/settings.py: run `python -m config.settings README.md`"
    )
    readme = tmp_path / "README.md"
    readme.write_text(README[:start] + README[start:end].replace('"', "'") + README[end:])
    assert settings.write_readme(readme) is True and readme.read_text() == README


def uncommented(block: str) -> dict:
    """A rendered block as TOML with its optional keys set to the values shown."""
    lines = [line.removeprefix("# ") for line in block.splitlines() if line != "# optional:"]
    return tomllib.loads("\n".join(lines))


def test_the_readme_blocks_show_each_keys_value_and_they_load(default_data):
    """The values the README shows are the table's: required keys with valid examples, optional
    ones with their default where it is a value; uncommented, the blocks load as they read."""
    project, state = uncommented(settings.project_block())["project"], uncommented(settings.state_block())["state"]
    assert list(project) == [
        *(s.key for s in settings.PROJECT if s.default() is settings.REQUIRED),
        *(s.key for s in settings.PROJECT if s.default() is not settings.REQUIRED),
    ]
    assert list(state) == list(settings.STATE_KEYS)
    for setting, shown in [
        *((s, project[s.key]) for s in settings.PROJECT),
        *((s, state[s.key]) for s in settings.STATE),
    ]:
        if setting.example is None:
            assert shown == setting.default(), setting.key
        else:
            assert setting.default() in (None, "", settings.REQUIRED), (
                f"{setting.key}: shows an example, hides its default"
            )
        assert setting.check is None or setting.check(shown) is None, (setting.key, shown)
    loaded = model.parse(variant(default_data, project=project), "readme.toml").project
    assert dataclasses.asdict(loaded) == project
    local = {k: v for k, v in state.items() if k in ("backend", "local_dir")}
    assert model.parse({**default_data, "state": local}, "readme.toml").state == model.parse(default_data).state
    s3 = {**state, "backend": "s3"}
    assert dataclasses.asdict(model.parse({**default_data, "state": s3}, "readme.toml").state) == s3


@pytest.mark.parametrize(
    ("table", "key", "value", "problem"),
    [
        ("state", "local_dir", " ", "state.local_dir: is empty; allowed: a directory path"),
        (
            "state",
            "key_prefix",
            "/x/",
            "state.key_prefix: '/x/' is invalid; allowed: S3 key characters, no leading or trailing '/'",
        ),
        ("state", "backend", "gcs", "state.backend: 'gcs' is not allowed; choose one of: local, s3"),
        (
            "project",
            "cidr_supernet",
            "10.0.0.0/16",
            "project.cidr_supernet: 10.0.0.0/16 is too small to allocate every VPC; allowed: a private block of /10 "
            "or larger",
        ),
        ("project", "cidr_supernet", "10.0.0.0/33", "project.cidr_supernet: '10.0.0.0/33' is not an IPv4 network"),
    ],
)
def test_a_bad_state_or_project_value_is_one_clear_line(default_data, table, key, value, problem):
    data = {**variant(default_data, project={key: value} if table == "project" else {})}
    if table == "state":
        data["state"] = {
            key: value,
            **({"backend": "s3", "bucket": "b-tfstate", "region": "us-east-1"} if key == "key_prefix" else {}),
        }
    with pytest.raises(model.ConfigError) as info:
        model.parse(data, "test.toml")
    (line,) = info.value.problems
    assert line.startswith(f"test.toml: {problem}") and "\n" not in line


def test_state_keys_come_from_the_state_table(default_data):
    state = model.parse(default_data).state
    assert state == model.StateBackend(**{s.key: s.default() for s in settings.STATE})
    assert state.backend is Backend.LOCAL
    assert model.STATE_KEYS == settings.STATE_KEYS


def test_the_rendered_table_shows_every_key_and_its_default_per_profile():
    rows = {
        line.split(" | ")[0].strip("| `"): line.split(" | ")[1:4] for line in settings.readme_table().splitlines()[2:]
    }
    assert list(rows) == list(settings.ENVIRONMENT_KEYS)
    assert rows["max_capacity"] == ["4", "6", "12"]
    assert rows["nat_policy"] == ["single", "single", "per_az"]
    assert rows["db_multi_az"] == ["false", "false", "true"]


@pytest.mark.parametrize("setting", settings.ENVIRONMENT + settings.PROJECT + settings.STATE, ids=lambda s: s.key)
def test_every_key_has_a_one_line_doc_and_a_default_or_is_required(setting):
    assert setting.doc.strip() and "\n" not in setting.doc
    assert setting.allowed, f"{setting.key}: no allowed values to show"
    assert len(setting.defaults) in (1, len(settings.PROFILE_NAMES))
    for profile in settings.PROFILE_NAMES:
        default = setting.default(profile)
        if default is settings.REQUIRED or default is None:
            assert setting.shown or setting.example is not None, (
                f"{setting.key}: a required or derived default needs its README words (shown) or example"
            )


@pytest.mark.parametrize("setting", settings.ENVIRONMENT + settings.PROJECT + settings.STATE, ids=lambda s: s.key)
def test_every_default_passes_its_own_check(setting):
    for profile in settings.PROFILE_NAMES:
        default = setting.default(profile)
        if default is settings.REQUIRED or default is None or (default == "" and setting.key == "domain"):
            continue
        assert setting.check is None or setting.check(default) is None, f"{setting.key} default {default!r}"


@pytest.mark.parametrize("profile", settings.PROFILE_NAMES)
def test_loading_applies_the_tables_defaults_for_each_profile(default_data, profile):
    extra = {"deployer_account_ids": [ACCOUNT]} if profile == "prod" else {}
    env = model.parse(with_environment(default_data, "qa", profile=profile, **extra)).environments["qa"]
    for setting in settings.ENVIRONMENT:
        if setting.shown or setting.key == "deployer_account_ids":
            continue  # required or resolved at load time (deploy role name, domain, CIDRs, profile)
        expected = setting.default(profile)
        expected = tuple(expected) if isinstance(expected, list) else expected
        assert setting.read(env) == expected, setting.key


def test_an_unknown_key_is_rejected_with_the_closest_known_one(default_data):
    data = with_environment(default_data, "qa", db_multi_za=True)
    with pytest.raises(model.ConfigError) as info:
        model.parse(data, "test.toml")
    (line,) = info.value.problems
    assert line.startswith("test.toml: environments.qa.db_multi_za: unknown key; did you mean 'db_multi_az'? ")
    assert line.endswith(", ".join(settings.ENVIRONMENT_KEYS))


def test_an_invalid_value_is_reported_with_the_tables_check(default_data):
    data = with_environment(default_data, "qa", cpu_alarm_periods=61)
    with pytest.raises(model.ConfigError) as info:
        model.parse(data, "test.toml")
    assert info.value.problems == ["test.toml: environments.qa.cpu_alarm_periods: 61 is out of range; allowed: 1..60"]


def test_each_group_holds_exactly_the_settings_the_table_assigns_it():
    assert set(settings.GROUPS) == set(model.GROUP_TYPES)
    for group, kind in model.GROUP_TYPES.items():
        assert {f.name for f in dataclasses.fields(kind)} == {
            s.field for s in settings.ENVIRONMENT if s.group == group
        }, group
    grouped = {s.key for s in settings.ENVIRONMENT if s.group}
    derived = {"name", "writer_recorded"}  # the table's name, and whether writer_region was written
    flat = {f.name for f in dataclasses.fields(model.Environment)} - set(model.GROUP_TYPES) - derived
    assert flat == {s.field for s in settings.ENVIRONMENT if not s.group}
    assert len(grouped) + len(flat) == len(settings.ENVIRONMENT_KEYS)


def test_a_grouped_setting_has_one_name_on_the_model(default_config):
    """A grouped key is read through its group only (one name per fact); Setting.read finds it."""
    prod = default_config.environments["prod"]
    assert isinstance(prod.database, model.Database)
    for setting in settings.ENVIRONMENT:
        if setting.group:
            assert not hasattr(prod, setting.key), setting.key
            assert setting.read(prod) is getattr(getattr(prod, setting.group), setting.field)
        else:
            assert setting.read(prod) is getattr(prod, setting.field)
    by_key = settings.ENVIRONMENT_SETTINGS
    assert by_key["db_multi_az"].read(prod) is prod.database.multi_az is True
    assert by_key["lambda_memory_mb"].read(prod) == prod.ingest.memory_mb == 512
    assert by_key["max_capacity"].read(prod) == prod.scaling.max_capacity == 12


def test_the_configured_account_is_account_number_in_code_and_account_id_in_toml(default_config):
    """One name per meaning in code (account_number: the configured 12 digits; account_token:
    Terraform's reading), while the TOML contract keeps its key."""
    prod = default_config.environments["prod"]
    assert settings.ENVIRONMENT_SETTINGS["account_id"].read(prod) == prod.account_number == "333333333333"
    assert not hasattr(prod, "account_id")
    spec = default_config.select("prod")[0]
    assert spec.account_number == prod.account_number and spec.as_dict()["account_id"] == prod.account_number


def test_nothing_changes_a_loaded_environment(default_config):
    prod = default_config.environments["prod"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        prod.database.multi_az = False
    with pytest.raises(dataclasses.FrozenInstanceError):
        prod.scaling = None
    with pytest.raises(TypeError):
        prod.cidrs["us-east-1"] = "10.200.0.0/16"
    with pytest.raises(TypeError):
        prod.dns.weights["us-east-1"] = 1


def test_closed_sets_are_enums_that_read_and_serialize_as_their_strings(default_config):
    prod = default_config.environments["prod"]
    assert prod.network.nat_policy is NatPolicy.PER_AZ and prod.dns.routing_policy is RoutingPolicy.LATENCY
    assert prod.profile is Profile.PROD and prod.profile == "prod"
    assert json.dumps([prod.network.nat_policy, prod.price_class]) == '["per_az", "PriceClass_All"]'
    assert f"{prod.network.nat_policy}" == "per_az" and prod.network.nat_policy == "per_az"


def test_the_allowed_column_comes_from_the_check():
    by_key = {s.key: s for s in settings.ENVIRONMENT}
    assert by_key["key_deletion_window_days"].allowed == "7..30"
    assert by_key["key_deletion_window_days"].check(31) == "31 is out of range; allowed: 7..30"
    assert by_key["nat_policy"].allowed == "`single` or `per_az`"


def test_project_keys_are_read_from_the_project_table(default_data):
    data = variant(default_data)
    for setting in settings.PROJECT:
        if setting.default() is settings.REQUIRED:
            data["project"].pop(setting.key, None)
    with pytest.raises(model.ConfigError) as info:
        model.parse(data, "test.toml")
    missing = {line.split(": ")[1] for line in info.value.problems if "missing; required" in line}
    assert missing == {f"project.{s.key}" for s in settings.PROJECT if s.default() is settings.REQUIRED}


def test_validate_config_shows_the_tables_view_columns(default_config):
    assert settings.VIEW_HEADINGS == (
        "Environment",
        "Profile",
        "Account",
        "Regions",
        "Writer",
        "VPC CIDRs",
        "Instances",
        "NAT",
        "Database",
    )
    prod = default_config.environments["prod"]
    assert settings.view(prod) == [
        "prod",
        "prod",
        prod.account_number,
        ", ".join(prod.regions),
        prod.regions[0],
        ", ".join(prod.cidrs[r] for r in prod.regions),
        "3 (2..12) t4g.medium",
        "per_az",
        "replica",
    ]
