"""config/groups.py: the typed groups of settings a stack hands whole to the module props, so a new
setting of a group is its table entry, its group field and its use in the module, never a stack edit."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest
from support.synth import env_variant
from support.tfjson import resources

from config import groups, model
from config.choices import RoutingPolicy
from modules.alarms import DatabaseAlarmsProps, WebAlarmsProps
from modules.bucket import Lifecycle
from modules.compute import ComputeProps
from modules.database import BackupReplicaProps, DatabaseProps
from modules.dns_failover import RegionalDnsProps
from modules.ingest import IngestProps
from modules.network import NetworkProps

STACKS = Path(__file__).resolve().parent.parent / "stacks"

# Each props class and the group it takes whole. ComputeProps.instance_count is the Terraform
# variable's value (a token the stack creates, bounded by the group), not the setting's default.
TAKES = [
    (DatabaseProps, groups.Database, set()),
    (BackupReplicaProps, groups.Database, set()),
    (ComputeProps, groups.Scaling, {"instance_count"}),
    (IngestProps, groups.Ingest, set()),
    (RegionalDnsProps, groups.Dns, set()),
    (NetworkProps, groups.Network, set()),
    (WebAlarmsProps, groups.Alarms, set()),
    (DatabaseAlarmsProps, groups.Alarms, set()),
]


def field_names(kind: type) -> set[str]:
    return {f.name for f in dataclasses.fields(kind)}


@pytest.mark.parametrize(("props", "group", "own"), TAKES, ids=lambda x: getattr(x, "__name__", ""))
def test_props_take_their_group_whole_and_copy_none_of_its_fields(props, group, own):
    holding = [f.name for f in dataclasses.fields(props) if f.type in (f"groups.{group.__name__}", group)]
    assert holding, f"{props.__name__} has no field of type groups.{group.__name__}"
    copied = (field_names(props) & field_names(group)) - own
    assert not copied, f"{props.__name__} copies {sorted(copied)} of groups.{group.__name__} one by one"


def test_no_stack_hands_a_module_one_field_of_a_group():
    """`settings=env.network` and never `az_count=env.network.az_count`: a keyword argument whose
    value is a group's field copies the group field by field (a stack may still read one to decide
    what to build, as `env.database.topology` does)."""
    fields = {name: field_names(kind) for name, kind in model.GROUP_TYPES.items()}
    copies = []
    for path in sorted(STACKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.keyword):
                continue
            value = node.value
            if (
                isinstance(value, ast.Attribute)
                and isinstance(value.value, ast.Attribute)
                and value.attr in fields.get(value.value.attr, ())
            ):
                copies.append(f"{path.name}:{node.lineno} {node.arg}=...{value.value.attr}.{value.attr}")
    assert not copies, copies


def test_every_bucket_of_every_stack_follows_the_lifecycle_group(default_data, tmp_path):
    """The edge stack's CloudFront log bucket too (Lifecycle.of, not a lifecycle of its own)."""
    stacks = env_variant(default_data, tmp_path, "dev", abort_multipart_days=3)
    checked = set()
    for name, stack in stacks.items():
        for body in resources(stack, "aws_s3_bucket_lifecycle_configuration").values():
            aborts = [
                r["abort_incomplete_multipart_upload"] for r in body["rule"] if "abort_incomplete_multipart_upload" in r
            ]
            assert aborts == [[{"days_after_initiation": 3}]], (name, body["bucket"])
            checked.add(name)
    assert checked == set(stacks), "every stack has buckets"


def test_bucket_lifecycle_takes_every_setting_of_the_group():
    settings = groups.Lifecycle(
        abort_multipart_days=3, noncurrent_ia_days=31, noncurrent_glacier_ir_days=95, noncurrent_expire_days=400
    )
    rules = Lifecycle.of(settings, current_expire_days=14)
    assert rules == Lifecycle(
        abort_multipart_days=3,
        noncurrent_ia_days=31,
        noncurrent_glacier_ir_days=95,
        noncurrent_expire_days=400,
        current_expire_days=14,
    )
    assert Lifecycle.of(settings).current_expire_days is None


def test_a_lifecycle_setting_the_bucket_does_not_know_is_named():
    """A field added to the group but not to the bucket's rules fails loudly, naming it."""
    wider = dataclasses.make_dataclass(
        "Lifecycle",
        [*((f.name, f.type) for f in dataclasses.fields(groups.Lifecycle)), ("noncurrent_deep_archive_days", int)],
        frozen=True,
    )
    with pytest.raises(TypeError, match="noncurrent_deep_archive_days"):
        Lifecycle.of(wider(7, 30, 90, 365, 180))


def test_dns_weight_is_the_regions_weight_or_none():
    dns = groups.Dns(RoutingPolicy.WEIGHTED, MappingProxyType({"eu-west-1": 70, "eu-central-1": 30}))
    assert (dns.weight("eu-west-1"), dns.weight("eu-central-1"), dns.weight("us-east-1")) == (70, 30, None)


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [("t4g.micro", "arm64"), ("m7gd.large", "arm64"), ("m7i.large", "x86_64"), ("g5.xlarge", "x86_64")],
)
def test_scaling_architecture_follows_the_instance_type(instance_type, architecture):
    scaling = groups.Scaling(
        instance_type=instance_type,
        instance_count=2,
        min_capacity=2,
        max_capacity=4,
        requests_per_target=100,
        cpu_target=70,
    )
    assert scaling.architecture == architecture
