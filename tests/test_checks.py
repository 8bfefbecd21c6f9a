"""config/checks.py, the checks settings name: None for a valid value, else one line saying what
is wrong and what is allowed; `allowed` is the short text the README's settings table shows.
(Validation through the loader, with the file and key named: tests/test_loader.py.)"""

from __future__ import annotations

import ipaddress
import re

import pytest

from config import checks


def test_between_accepts_its_bounds_and_names_the_range_otherwise():
    check = checks.between(2, 100)
    assert check(2) is None and check(100) is None
    assert check(1) == "1 is out of range; allowed: 2..100"
    assert check(101) == "101 is out of range; allowed: 2..100"
    assert check.allowed == "2..100"


def test_one_of_lists_the_choices():
    check = checks.one_of(["single", "per_az"])
    assert check("per_az") is None
    assert check("none") == "'none' is not allowed; choose one of: single, per_az"
    assert check.allowed == "`single` or `per_az`"
    assert checks.one_of((14, 30), "a retention").allowed == "a retention"


def test_regex_shows_the_short_text_in_the_table_and_the_long_one_in_the_problem():
    check = checks.regex(re.compile(r"^[a-z]+$"), "lower-case letters such as abc", "letters")
    assert check("abc") is None
    assert check("Abc") == "'Abc' is invalid; allowed: lower-case letters such as abc"
    assert check.allowed == "letters"
    assert checks.regex(re.compile(r"^x$"), "just x").allowed == "just x"


def test_describe_names_the_type_and_cuts_long_values():
    assert checks.describe(7) == "int 7"
    assert checks.describe(["a"]) == "list ['a']"
    long = checks.describe("x" * 100)
    assert long.startswith("str 'xxx") and long.endswith("...") and len(long) == len("str ") + 60


@pytest.mark.parametrize("value", ["example.com", "dev.example.com", "a-b.example.co.uk", "x1.io"])
def test_domain_names_that_pass(value):
    assert checks.domain(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "example",
        "Example.com",
        "-a.example.com",
        "a..example.com",
        "example.123",
        "a_b.example.com",
        "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 20,
    ],
)
def test_domain_names_that_fail_say_what_a_domain_name_is(value):
    assert "is not a domain name; allowed: lower-case labels" in checks.domain(value)


def test_a_region_typo_gets_a_suggestion_and_an_unknown_one_the_catalogue():
    assert checks.region("eu-west-1") is None
    assert "did you mean 'us-east-1'?" in checks.region("us-east1")
    unknown = checks.region("mars-1")
    assert "did you mean" not in unknown and "us-east-1, us-east-2" in unknown and "GovCloud" in unknown


def test_regions_must_be_a_non_empty_list_of_known_regions_each_once():
    assert checks.regions(["us-east-1", "us-west-2"]) is None
    assert checks.regions([]).startswith("is empty")
    assert "not an AWS commercial region" in checks.regions(["us-east-1", "us-east-9"])
    assert checks.regions(["us-west-2", "us-east-1", "us-west-2"]) == (
        "lists us-west-2 more than once; each region may appear once"
    )


def test_lists_name_every_bad_entry():
    assert checks.accounts(["111111111111", "12345", "abcdefghijkl"]) == (
        "['12345', 'abcdefghijkl'] are not AWS account ids; allowed: strings of exactly 12 digits"
    )
    assert checks.accounts([]) is None
    assert checks.emails(["ops@example.com"]) is None
    assert checks.emails(["ops@example.com", "nobody"]).startswith("['nobody'] are not e-mail addresses")
    assert checks.account("111111111111") is None and "exactly 12 digits" in checks.account("1111")


def test_weights_are_0_to_255_integers_and_not_all_zero():
    assert checks.weights({}) is None
    assert checks.weights({"us-east-1": 0, "us-west-2": 255}) is None
    assert "weights are integers 0..255" in checks.weights({"us-east-1": 256})
    assert "weights are integers 0..255" in checks.weights({"us-east-1": True}), "a boolean is no weight"
    assert checks.weights({"us-east-1": 0, "us-west-2": 0}).startswith("every weight is 0")


def test_path_patterns_exclude_the_default_behavior_and_content_types_are_required():
    assert checks.paths(["/static/*", "/assets/img/*.png"]) is None
    assert checks.paths(["/*"]).startswith("['/*'] are not CloudFront path patterns")
    assert "static/*" in checks.paths(["static/*"])
    assert checks.content_types(["text/csv", "application/json"]) is None
    assert checks.content_types([]).startswith("is empty")
    assert checks.content_types(["csv"]).startswith("['csv'] are not MIME types")


def test_parse_cidr_accepts_only_private_network_addresses():
    assert checks.parse_cidr("10.20.0.0/16") == (ipaddress.IPv4Network("10.20.0.0/16"), None)
    assert checks.parse_cidr("192.168.4.0/22")[0] == ipaddress.IPv4Network("192.168.4.0/22")
    net, problem = checks.parse_cidr("10.20.0.1/16")
    assert net is None and problem.startswith("'10.20.0.1/16' is not an IPv4 network (")
    net, problem = checks.parse_cidr("8.8.0.0/16")
    assert net is None and problem == (
        "8.8.0.0/16 is not private; allowed: inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
    )
    assert checks.parse_cidr("172.32.0.0/16")[0] is None, "just outside 172.16.0.0/12"
