"""checkov's configuration for exactly the stacks a synth wrote: `<out>/.checkov.yaml`.

checkov's terraform_json runner cannot read per-resource skip comments: a skip is either global or
scoped to files with `CHECK_ID:<regex on the file path>`. Some protections are cost levers an
environment may turn off (Multi-AZ, deletion protection, a web ACL...). Scoping their skips by
environment *name* breaks as soon as an environment is called `qa` or `uat`, and would silently stop
checking a `dev` that turned the protection on. So the scoping is derived here from the resolved
configuration at synth time: a lever's check is skipped only for the stacks of environments whose
setting turns that protection off, and the reason names the setting and its value. Every other
stack is still checked.

The file is complete on its own: `checkov --config-file cdktf.out/.checkov.yaml -d cdktf.out/stacks`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import settings
from config.choices import DatabaseTopology
from config.facts import StackRole
from config.model import Config, Environment, StackSpec

FILE_NAME = ".checkov.yaml"
REGIONAL = frozenset({StackRole.PRIMARY, StackRole.SECONDARY})
EDGE = frozenset({StackRole.EDGE})
EVERY_ROLE = REGIONAL | EDGE

# Skips that hold for every stack: (check id, why it does not apply and what enforces the property).
GLOBAL_SKIPS: tuple[tuple[str, str], ...] = (
    (
        "CKV_AWS_145",
        "S3 server access logs and ALB access logs can only be delivered to buckets encrypted "
        "with SSE-S3, so the per-region access-log bucket cannot use the KMS key. Every other "
        "bucket must: tests/test_bucket.py::"
        "test_every_bucket_uses_the_kms_key_unless_it_receives_aws_logs.",
    ),
    (
        "CKV_AWS_18",
        "The access-log bucket cannot log into itself (each delivery would log a delivery). Every "
        "other bucket logs into it: tests/test_bucket.py::"
        "test_every_bucket_but_the_log_bucket_has_access_logging.",
    ),
    (
        "CKV_AWS_144",
        "Cross-region replication doubles storage and transfer cost; the platform keeps each "
        "region's data in that region (logs, ingest) and fails over compute, not buckets. A "
        "bucket that needs a replica gets one explicitly.",
    ),
    (
        "CKV2_AWS_62",
        "Event notifications only where something consumes them: the ingest bucket (R2) has "
        "them; log and Config delivery buckets have no consumer.",
    ),
    (
        "CKV2_AWS_28",
        "The web ACL sits on CloudFront (modules/waf.py), in front of every region; the load "
        "balancers only admit CloudFront's origin-facing prefix list and require its "
        "origin-verify header, so a second, regional WAF would double the cost for traffic "
        "that cannot reach it.",
    ),
    (
        "CKV_AWS_394",
        "Availability zones must be read from the data source (zone names map to different "
        "physical zones in every account, and some accounts lack some letters), so they cannot "
        "be pinned by name or id. Subnets take the first az_count zones, and a plan-time "
        "precondition fails if the region has fewer: tests/test_network.py::"
        "test_subnets_span_zones_from_the_data_source.",
    ),
    (
        "CKV_AWS_378",
        "TLS ends at the load balancer; the hop to the instances stays inside private subnets "
        "and is admitted only from the load balancer's security group (tests/test_compute.py). "
        "End-to-end TLS would need certificates on every instance that the load balancer "
        "does not even validate.",
    ),
    (
        "CKV2_AWS_57",
        "The origin-verify secret is rotated in two phases across stacks (README 'Rotating the "
        "origin-verify header': load balancers accept current and previous, then CloudFront "
        "switches); a single-step rotation Lambda cannot do that without a 403 window. The database "
        "bootstrap secret holds the writer's master password, which Terraform sets write-only from "
        "an ephemeral password (modules/credentials.py CREDENTIAL_VERSION rotates both); a rotation "
        "Lambda would change it behind the configuration, and the application never uses it to "
        "connect (IAM authentication).",
    ),
    (
        "CKV_AWS_86",
        "CloudFront logs are delivered by standard logging v2 (CloudWatch Logs vended delivery) "
        "into a SecureBucket: legacy logging_config needs ACL-enabled buckets, which "
        "SecureBucket forbids. checkov only recognises logging_config. tests/test_cdn_logs.py::"
        "test_access_logs_are_delivered_v2.",
    ),
    ("CKV_AWS_374", "The platform serves a global audience; geo restriction is a business decision, not a default."),
    ("CKV_AWS_305", "'/' is served by the application (it reports environment and region), not an S3 object."),
    (
        "CKV2_AWS_47",
        "The web ACL includes AWSManagedRulesKnownBadInputsRuleSet (Log4j); checkov additionally "
        "demands AWSManagedRulesAnonymousIpList, which blocks VPN and hosting-provider users "
        "and is not a Log4j control. Environments without a web ACL (waf = false) fail it "
        "too; CKV_AWS_68 below is skipped for exactly those.",
    ),
    (
        "CKV_AWS_272",
        "Lambda code signing needs an AWS Signer profile and a signing job on an S3-hosted "
        "package; the function is packaged from this repository by Terraform "
        "(TerraformAsset), whose plan shows the code hash that changes with every source "
        "change (tests/test_ingest.py).",
    ),
    (
        "CKV2_AWS_48",
        "Global resource types (IAM) are recorded once per environment, in its primary region; "
        "recording them in every region would duplicate every configuration item and its "
        "cost. Every recorder still records all supported regional types: "
        "tests/test_config_recorder.py::"
        "test_recorder_records_everything_and_global_types_in_the_primary_only.",
    ),
)


@dataclass(frozen=True)
class Lever:
    """A protection checkov demands that an environment setting may turn off (a cost lever, F15)."""

    check: str
    protection: str  # what checkov demands, for the reason
    setting: str  # the Environment field (and configuration key) that controls it
    off: Callable[[Any], bool]  # True when the setting's value turns the protection off
    roles: frozenset[StackRole]  # the stack roles holding the resources the check inspects
    enforced_by: str  # the test that pins the setting into the Terraform JSON


LEVERS: tuple[Lever, ...] = (
    Lever(
        "CKV_AWS_338",
        "CloudWatch log retention of a year or more",
        "log_retention_days",
        lambda days: 0 < days < 365,
        EVERY_ROLE,
        "tests/test_network.py::test_flow_log_retention_follows_the_environment",
    ),
    Lever(
        "CKV_AWS_150",
        "Load balancer deletion protection",
        "deletion_protection",
        operator.not_,
        REGIONAL,
        "tests/test_alb.py::test_deletion_protection_follows_the_environment",
    ),
    Lever(
        "CKV_AWS_293",
        "Database deletion protection",
        "deletion_protection",
        operator.not_,
        REGIONAL,
        "tests/test_database.py::test_prod_is_multi_az_protected_and_keeps_backups",
    ),
    Lever(
        "CKV_AWS_157",
        "A Multi-AZ database",
        "db_multi_az",
        operator.not_,
        REGIONAL,
        "tests/test_database.py::test_prod_is_multi_az_protected_and_keeps_backups",
    ),
    Lever(
        "CKV_AWS_353",
        "Database Performance Insights",
        "db_performance_insights",
        operator.not_,
        REGIONAL,
        "tests/test_database.py",
    ),
    Lever(
        "CKV_AWS_68",
        "A web ACL on the CloudFront distribution",
        "waf",
        operator.not_,
        EDGE,
        "tests/test_waf.py::test_web_acl_is_configurable",
    ),
)


@dataclass(frozen=True)
class ByDesign:
    """A check that some stacks fail on purpose, whatever the settings: skipped for exactly the
    stacks `holds` selects, merged into the check's one entry (a lever's stacks included)."""

    check: str
    reason: str
    holds: Callable[[Environment, StackSpec], bool]


BY_DESIGN: tuple[ByDesign, ...] = (
    ByDesign(
        "CKV_AWS_293",
        "Read replicas have no deletion protection: they hold nothing the writer lacks, and the "
        "deploy after a failover replaces every one of them (tests/test_database.py::"
        "test_prod_is_multi_az_protected_and_keeps_backups); the writer keeps the environment's",
        lambda env, spec: (
            env.database.topology is DatabaseTopology.REPLICA
            and spec.role in REGIONAL
            and spec.region != env.writer_region
        ),
    ),
)


def _setting(env: Environment, key: str) -> Any:
    """The value of configuration key `key` in `env`, wherever the model holds it."""
    return settings.ENVIRONMENT_SETTINGS[key].read(env)


def _value(env: Environment, setting: str) -> str:
    value = _setting(env, setting)
    return str(value).lower() if isinstance(value, bool) else str(value)


def stack_pattern(stacks: list[str]) -> str:
    """A path regex matching exactly these stacks' cdk.tf.json. checkov matches it with re.search
    against `/<stack>/cdk.tf.json` (resource checks) and the absolute path (graph checks); the
    leading `/` keeps `dev-us-east-1` from matching `mydev-us-east-1`. No `:` may appear (checkov
    splits the entry on it)."""
    names = "|".join(re.escape(name).replace("\\-", "-") for name in stacks)  # "-" needs no escape
    return rf".*/({names})/cdk\.tf\.json$"


def render(config: Config, specs: list[StackSpec]) -> str:
    """The YAML text for the selected stacks, deterministic (synths are compared byte for byte)."""
    lines = [
        "# Generated by `main.py synth` (stacks/checkov.py) for exactly the stacks in this folder.",
        "# Run: checkov --config-file <this file> --directory <this folder>/stacks",
        "#",
        "# checkov's terraform_json runner cannot read per-resource skip comments: a skip is global or",
        "# scoped to stack files with CHECK_ID:<regex on the file path>. Each says why.",
        "compact: true",
        "framework:",
        "  - terraform_json",
        "skip-check:",
    ]
    for check, reason in GLOBAL_SKIPS:
        lines += [f"  # {reason}", f"  - {check}"]
    designed = {d.check: d for d in BY_DESIGN}
    for lever in LEVERS:  # one entry per lever: a new environment never adds a skipped check
        off = [env for env in config.environments.values() if lever.off(_setting(env, lever.setting))]
        stacks = [s.name for env in off for s in specs if s.environment == env.name and s.role in lever.roles]
        if stacks:
            lines.append(
                f"  # {lever.protection} is off in these stacks' environments; every other stack is "
                f"still checked, and {lever.enforced_by} pins the setting:"
            )
            lines += [
                f"  #   environments.{env.name}.{lever.setting} = {_value(env, lever.setting)} (profile {env.profile})"
                for env in off
                if any(s.environment == env.name and s.role in lever.roles for s in specs)
            ]
        design = designed.pop(lever.check, None)
        stacks += _by_design(config, specs, design, stacks, lines)
        if stacks:
            lines.append(f"  - {lever.check}:{stack_pattern(stacks)}")
    for design in designed.values():
        stacks = _by_design(config, specs, design, [], lines)
        if stacks:
            lines.append(f"  - {design.check}:{stack_pattern(stacks)}")
    return "\n".join(lines) + "\n"


def _by_design(config: Config, specs: list[StackSpec], design: ByDesign | None, skipped: list[str], lines) -> list:
    """The stacks `design` adds to a check's skip (beyond `skipped`), with its reason in `lines`."""
    if design is None:
        return []
    envs = config.environments
    stacks = [s.name for s in specs if s.name not in skipped and design.holds(envs[s.environment], s)]
    if stacks:
        lines.append(f"  # {design.reason}: {', '.join(stacks)}")
    return stacks


def write(config: Config, specs: list[StackSpec], out_dir: Path) -> Path:
    """Write `<out_dir>/.checkov.yaml` for `specs` and return its path."""
    path = out_dir / FILE_NAME
    path.write_text(render(config, specs))
    return path
