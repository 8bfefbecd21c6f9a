"""The deploy role can read everything the stacks look up.

Every data source is read on every `plan` and `refresh`, by the provider's assumed role: the
deploy role (PowerUserAccess plus an inline IAM statement). A data source whose API calls that
role may not make breaks every plan once the bootstrap role is gone, as `data.aws_iam_policy`
did (iam:ListPolicies/GetPolicy/GetPolicyVersion; PowerUserAccess has no `iam:*`).

`READS` maps each data source type to the IAM actions its read makes, taken from the provider's
source (hashicorp/terraform-provider-aws, `internal/service/<svc>/<name>_data_source.go`; paths
below). The tests walk every data source of every stack of every shipped configuration and
require (a) an entry for its type and (b) every one of its actions admitted by the policies the
synthesized deploy role really gets: the AWS-managed documents as AWS publishes them (moto ships
them verbatim, regenerated from IAM: moto/iam/aws_managed_policies.py) and its inline statements.
A statement admits a read only with `Resource: "*"`: a data source looks up what it does not own.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from support.configs import variant
from support.synth import synthesize
from support.tfjson import policy_document, referenced, resources

from config import model
from modules.policy import AWS_MANAGED_POLICY_PATHS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "config" / "examples").glob("*.toml"))

# data source type -> IAM actions its read calls (provider 5.100.0; source file in the comment).
READS: dict[str, tuple[str, ...]] = {
    # meta/partition_data_source.go, iam/policy_document_data_source.go,
    # elb/service_account_data_source.go (a table of account ids by region): no API call.
    "aws_partition": (),
    "aws_iam_policy_document": (),
    "aws_elb_service_account": (),
    # sts/caller_identity_data_source.go: GetCallerIdentity (needs no permission, STS API reference).
    "aws_caller_identity": ("sts:GetCallerIdentity",),
    # ec2/ec2_availability_zones_data_source.go: DescribeAvailabilityZones.
    "aws_availability_zones": ("ec2:DescribeAvailabilityZones",),
    # ec2/vpc_managed_prefix_list_data_source.go: FindManagedPrefixList (DescribeManagedPrefixLists),
    # FindManagedPrefixListEntriesByID (GetManagedPrefixListEntries).
    "aws_ec2_managed_prefix_list": ("ec2:DescribeManagedPrefixLists", "ec2:GetManagedPrefixListEntries"),
    # ssm/parameter_data_source.go: findParameterByName (GetParameter, WithDecryption; a SecureString
    # would also need kms:Decrypt, listed so a secure parameter stays admitted).
    "aws_ssm_parameter": ("ssm:GetParameter", "kms:Decrypt"),
    # route53/zone_data_source.go: ListHostedZones (by name), GetHostedZone (findHostedZoneByID,
    # name servers), listTags (ListTagsForResource).
    "aws_route53_zone": ("route53:ListHostedZones", "route53:GetHostedZone", "route53:ListTagsForResource"),
    # secretsmanager/secret_version_data_source.go: GetSecretValue; the secret is encrypted with the
    # region's key, whose policy lets account principals decrypt through Secrets Manager (kms:ViaService).
    "aws_secretsmanager_secret_version": ("secretsmanager:GetSecretValue", "kms:Decrypt"),
    # sns/topic_data_source.go: findTopicByName pages ListTopics (later versions also read tags).
    "aws_sns_topic": ("sns:ListTopics", "sns:ListTagsForResource"),
    # rds/instance_data_source.go: DescribeDBInstances, then ListTags (ListTagsForResource).
    "aws_db_instance": ("rds:DescribeDBInstances", "rds:ListTagsForResource"),
    # iam/policy_data_source.go: findPolicyByTwoPartKey (ListPolicies), findPolicyByARN (GetPolicy),
    # findPolicyVersion (GetPolicyVersion). Kept here so the test says why it is not admitted.
    "aws_iam_policy": ("iam:ListPolicies", "iam:GetPolicy", "iam:GetPolicyVersion"),
}


def aws_managed_policies() -> dict[str, dict]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


class Permissions:
    """Identity-policy statements, normalised: (effect, actions, not_actions, resources)."""

    def __init__(self):
        self.statements: list[tuple[str, list[str], list[str], list[str]]] = []

    def add_aws(self, document: dict) -> None:
        for s in document["Statement"]:
            self.statements.append(
                (s["Effect"], as_list(s.get("Action")), as_list(s.get("NotAction")), as_list(s.get("Resource")))
            )

    def add_terraform(self, statements: list[dict]) -> None:
        for s in statements:
            self.statements.append(
                (
                    s.get("effect", "Allow"),
                    as_list(s.get("actions")),
                    as_list(s.get("not_actions")),
                    as_list(s.get("resources")),
                )
            )

    def admits(self, action: str) -> bool:
        """Allowed by a statement on every resource and denied by none (IAM's evaluation, for an
        action on a resource the caller does not name in advance)."""

        def matches(patterns: list[str]) -> bool:
            return any(fnmatchcase(action.lower(), p.lower()) for p in patterns)

        allowed = False
        for effect, actions, not_actions, resources_ in self.statements:
            applies = matches(actions) if actions else bool(not_actions) and not matches(not_actions)
            if not applies:
                continue
            if effect == "Deny":
                return False
            allowed = allowed or "*" in resources_
        return allowed


def deploy_permissions(edge_stack: dict) -> Permissions:
    """What the synthesized deploy role may do: its attached AWS-managed policies (by the ARN the
    stack attaches, checked against the policy's published path) and its inline policies."""
    (role_name,) = [n for n, b in resources(edge_stack, "aws_iam_role").items() if b["tags"]["Service"] == "deploy"]
    managed = aws_managed_policies()
    permissions = Permissions()
    attached = [
        a
        for a in resources(edge_stack, "aws_iam_role_policy_attachment").values()
        if a["role"] == f"${{aws_iam_role.{role_name}.name}}"
    ]
    assert attached, "the deploy role has managed policies"
    for attachment in attached:
        if attachment["policy_arn"].startswith("${data.aws_iam_policy."):  # a lookup (the old way)
            name = referenced(edge_stack, attachment["policy_arn"])[2]["name"]
        else:
            prefix, _, path_and_name = attachment["policy_arn"].partition(":iam::aws:policy")
            assert prefix == "arn:${data.aws_partition.partition.partition}", attachment["policy_arn"]
            name = path_and_name.rpartition("/")[2]
            assert path_and_name == managed[name]["Path"] + name, f"{name}: wrong path in its ARN"
        permissions.add_aws(managed[name]["Document"])
    for inline in resources(edge_stack, "aws_iam_role_policy").values():
        if inline["role"] == f"${{aws_iam_role.{role_name}.id}}":
            permissions.add_terraform(policy_document(edge_stack, inline["policy"]))
    return permissions


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    return {path.stem: synthesize(model.load(path), tmp_path_factory.mktemp(path.stem) / "out") for path in EXAMPLES}


@pytest.fixture(scope="module")
def independent(default_data, tmp_path_factory):
    """The default configuration with independent databases: prod's second region then copies the
    writer's automated backups, the one lookup of another region's database."""
    data = variant(default_data, environments={"prod": {"database_topology": "independent"}})
    return synthesize(model.parse(data, "independent.toml"), tmp_path_factory.mktemp("independent") / "out")


@pytest.fixture(scope="module")
def every_configuration(synthesized, examples, independent):
    return {"default": synthesized, "independent": independent, **examples}


def data_sources(stack: dict) -> list[tuple[str, str]]:
    return [(type_, name) for type_, by_name in stack.get("data", {}).items() for name in by_name]


def test_every_data_source_the_deploy_role_reads_is_admitted(every_configuration):
    problems, seen = [], set()
    for label, result in every_configuration.items():
        for spec in result.config.stacks():
            env = result.config.environments[spec.environment]
            permissions = deploy_permissions(result.stacks[f"{env.name}-global"])
            for type_, name in data_sources(result.stacks[spec.name]):
                seen.add(type_)
                if type_ not in READS:
                    problems.append(
                        f"{label}/{spec.name}: data.{type_}.{name} has no entry in READS: add the IAM "
                        "actions its read calls (see the provider's *_data_source.go)"
                    )
                    continue
                denied = [a for a in READS[type_] if not permissions.admits(a)]
                if denied:
                    problems.append(
                        f"{label}/{spec.name}: data.{type_}.{name} needs {', '.join(denied)}, which the "
                        "deploy role may not call"
                    )
    assert not problems, "\n".join(problems)
    assert {"aws_route53_zone", "aws_ssm_parameter", "aws_db_instance", "aws_sns_topic"} <= seen, (
        "the walk reached the stacks' lookups"
    )


def test_no_stack_looks_up_a_policy_by_name(every_configuration):
    """The class behind the defect: AWS-managed policies are attached by ARN, never looked up."""
    for result in every_configuration.values():
        for name, stack in result.stacks.items():
            assert "aws_iam_policy" not in stack.get("data", {}), name


def test_the_check_rejects_what_powerusers_may_not_read(synthesized):
    """The evaluator is not vacuous: PowerUserAccess refuses IAM policy reads (the old by-name
    lookup) and organizations calls, and admits the stacks' ordinary reads."""
    permissions = deploy_permissions(synthesized.stacks["prod-global"])
    for action in READS["aws_iam_policy"] + ("organizations:ListAccounts", "iam:ListAttachedRolePolicies"):
        assert not permissions.admits(action), action
    assert permissions.admits("iam:GetRole") is False, "inline IAM reads are bounded to <env>-* resources"
    assert permissions.admits("iam:ListRoles"), "PowerUserAccess's own exception"
    assert permissions.admits("rds:DescribeDBInstances") and permissions.admits("route53:ListHostedZones")


def test_managed_policy_arns_use_the_published_paths():
    """Every policy `attach_managed` may attach is an AWS-managed policy at exactly that path (a
    wrong path fails only at apply time, with NoSuchEntity)."""
    managed = aws_managed_policies()
    for name, path in AWS_MANAGED_POLICY_PATHS.items():
        assert name in managed, name
        assert managed[name]["Path"] == path, name


def test_an_unknown_managed_policy_is_refused_at_synth(tmp_path):
    from cdktf import App, TerraformStack

    from modules.policy import managed_policy_arn

    stack = TerraformStack(App(outdir=str(tmp_path)), "s")
    with pytest.raises(ValueError, match="not in AWS_MANAGED_POLICY_PATHS"):
        managed_policy_arn(stack, "AdministratorAccess")
    assert managed_policy_arn(stack, "AWS_ConfigRole").endswith(":iam::aws:policy/service-role/AWS_ConfigRole")
