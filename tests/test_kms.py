"""The region's customer-managed key: rotation, alias, and a policy naming exactly its users."""

from __future__ import annotations

import pytest
from tfjson import jsonencoded, only, refers_to, resources

REGIONAL = ["dev-us-east-1", "dev-us-west-2", "staging-us-east-1", "staging-us-west-2", "prod-us-east-1",
            "prod-us-west-2"]
USAGE = {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
         "kms:ReEncryptFrom", "kms:ReEncryptTo"}


def key_policy(stack) -> dict[str, dict]:
    _, key = only(stack, "aws_kms_key")
    document = jsonencoded(key["policy"])
    assert document["Version"] == "2012-10-17"
    return {s["Sid"]: s for s in document["Statement"]}


def as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", REGIONAL)
def test_one_rotating_key_per_region_with_an_alias(default_config, synthesized, name):
    stack = synthesized.stacks[name]
    key_name, key = only(stack, "aws_kms_key")
    assert key["enable_key_rotation"] is True
    env = default_config.environments[name.split("-")[0]]
    assert key["deletion_window_in_days"] == env.key_deletion_window_days
    assert key["tags"]["Name"] == f"{name}-kms-{default_config.project.suffix}"
    _, alias = only(stack, "aws_kms_alias")
    assert alias["name"] == f"alias/{name}-kms-{default_config.project.suffix}"
    assert refers_to(alias["target_key_id"], "aws_kms_key", key_name, "key_id")
    assert refers_to(stack["output"]["kms_key_arn"]["value"], "aws_kms_key", key_name, "arn")


def test_deletion_window_is_longest_in_prod(synthesized):
    windows = {n.split("-")[0]: only(synthesized.stacks[n], "aws_kms_key")[1]["deletion_window_in_days"]
               for n in REGIONAL}
    assert windows == {"dev": 7, "staging": 14, "prod": 30}


@pytest.mark.parametrize("name", REGIONAL)
def test_key_policy_names_exactly_the_services_that_use_it(synthesized, name):
    region = name.split("-", 1)[1]
    statements = key_policy(synthesized.stacks[name])
    services = {p for s in statements.values() for p in as_list(s.get("Principal", {}).get("Service", []))}
    assert services == {f"logs.{region}.amazonaws.com", "sns.amazonaws.com", "cloudwatch.amazonaws.com",
                        "budgets.amazonaws.com"}
    via = statements["AccountUsesKeyThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert {v.split(".")[0] for v in via} >= {"s3", "rds", "secretsmanager", "sns", "ec2"}
    assert all(v.endswith(f".{region}.amazonaws.com") for v in via)
    for statement in statements.values():
        actions = as_list(statement["Action"])
        assert statement["Effect"] == "Allow"
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement["Sid"]


@pytest.mark.parametrize("name", REGIONAL)
def test_account_administers_but_only_uses_the_key_through_services(synthesized, name):
    statements = key_policy(synthesized.stacks[name])
    admin = statements["AccountAdministersKey"]
    assert admin["Principal"]["AWS"].endswith(":root")
    assert "kms:PutKeyPolicy" in admin["Action"], "the account can always repair the policy"
    assert not USAGE & set(admin["Action"]), "no direct Encrypt/Decrypt outside the services"
    assert "kms:CreateGrant" not in admin["Action"]
    use = statements["AccountUsesKeyThroughServices"]
    assert USAGE <= set(use["Action"])
    assert "kms:CallerAccount" in use["Condition"]["StringEquals"]


@pytest.mark.parametrize("name", REGIONAL)
def test_logs_may_use_the_key_only_for_this_environment_and_regions_groups(synthesized, name):
    region = name.split("-", 1)[1]
    logs = key_policy(synthesized.stacks[name])["CloudWatchLogsEncryptLogGroups"]
    patterns = as_list(logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])
    base = f":logs:{region}:${{data.aws_caller_identity.caller.account_id}}:log-group:"
    assert [p.split(base, 1)[1] for p in patterns] == [f"{name}-*", f"/aws/rds/instance/{name}-*"]


@pytest.mark.parametrize("name", REGIONAL)
def test_service_principals_are_bound_to_this_account(synthesized, name):
    statements = key_policy(synthesized.stacks[name])
    for sid in ("SnsEncryptTopics", "CloudWatchAlarmsPublishToEncryptedTopics", "BudgetsPublishToEncryptedTopics"):
        condition = statements[sid]["Condition"]["StringEquals"]["aws:SourceAccount"]
        assert "data.aws_caller_identity.caller.account_id" in str(condition)
        assert set(as_list(statements[sid]["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
    alarms = statements["CloudWatchAlarmsPublishToEncryptedTopics"]["Condition"]["ArnLike"]["aws:SourceArn"]
    assert as_list(alarms)[0].endswith(f":alarm:{name}-*"), "only this environment and region's alarms"


@pytest.mark.parametrize("name", REGIONAL)
def test_auto_scaling_service_linked_role_can_encrypt_instance_volumes(synthesized, name):
    statements = key_policy(synthesized.stacks[name])
    for sid in ("AutoScalingEncryptsInstanceVolumes", "AutoScalingGrantsForVolumes"):
        condition = statements[sid]["Condition"]["StringEquals"]
        (role,) = as_list(condition["aws:PrincipalArn"])
        assert role.endswith(":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling")
        assert "kms:CallerAccount" in condition
    grants = statements["AutoScalingGrantsForVolumes"]
    assert as_list(grants["Action"]) == ["kms:CreateGrant"]
    assert grants["Condition"]["Bool"]["kms:GrantIsForAWSResource"] == ["true"]


def test_allow_statements_with_wildcard_actions_are_refused():
    from modules.policy import Statement

    with pytest.raises(ValueError, match="specific actions"):
        Statement("Bad", ("kms:*",), ("*",))
    Statement("DenyIsFine", ("s3:*",), ("*",), effect="Deny")


def test_every_encrypted_log_group_is_admitted_by_its_keys_policy(synthesized):
    """CloudWatch Logs checks the key policy's encryption-context condition when a log group is
    created with a key: a name outside the allowed patterns fails the apply."""
    import fnmatch

    checked = 0
    for name, stack in synthesized.stacks.items():
        keys = resources(stack, "aws_kms_key")
        for group in resources(stack, "aws_cloudwatch_log_group").values():
            if "kms_key_id" not in group:
                continue
            key_name = next(k for k in keys if f"aws_kms_key.{k}.arn" in group["kms_key_id"])
            statements = {s["Sid"]: s for s in jsonencoded(keys[key_name]["policy"])["Statement"]}
            patterns = as_list(statements["CloudWatchLogsEncryptLogGroups"]["Condition"]["ArnLike"][
                "kms:EncryptionContext:aws:logs:arn"])
            names = [p.split(":log-group:", 1)[1] for p in patterns]
            assert any(fnmatch.fnmatchcase(group["name"], n) for n in names), f"{name}: {group['name']} vs {names}"
            checked += 1
    assert checked >= 6 * 4 + 1, "flow logs, ingest and RDS logs per region, WAF logs in prod"
