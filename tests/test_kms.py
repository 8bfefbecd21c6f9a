"""The region's customer-managed key: rotation, alias, and a policy naming exactly its users."""

from __future__ import annotations

import pytest
from support import table
from support.stack_names import REGIONAL, env_of
from support.tfjson import jsonencoded, only, refers_to, resources

USAGE = {
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
}


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


def test_the_deletion_window_has_no_default_of_its_own():
    """key_deletion_window_days has one default per profile in the settings table; a props default
    would be a second copy (30, prod's) that a key built without the environment's value picks up."""
    from dataclasses import MISSING, fields

    from modules.kms import EncryptionKeyProps

    (window,) = [f for f in fields(EncryptionKeyProps) if f.name == "deletion_window_days"]
    assert window.default is MISSING and window.default_factory is MISSING


def test_deletion_window_is_longest_in_prod(synthesized):
    windows = {
        n.split("-")[0]: only(synthesized.stacks[n], "aws_kms_key")[1]["deletion_window_in_days"] for n in REGIONAL
    }
    assert windows == {"dev": 7, "staging": 14, "prod": 30}


@pytest.mark.parametrize("name", REGIONAL)
def test_key_policy_names_exactly_the_services_that_use_it(default_config, synthesized, name):
    region = name.split("-", 1)[1]
    writer = env_of(default_config, name).is_primary(region)
    statements = key_policy(synthesized.stacks[name])
    services = {p for s in statements.values() for p in as_list(s.get("Principal", {}).get("Service", []))}
    assert services == {
        f"logs.{region}.amazonaws.com",
        "sns.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "budgets.amazonaws.com",
    }
    via = statements["AccountUsesKeyThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"]
    # Secrets Manager only where the key encrypts the bootstrap secret: the writer's region.
    expected = {"s3", "rds", "sns", "ec2"} | ({"secretsmanager"} if writer else set())
    assert {v.split(".")[0] for v in via} >= expected
    assert ("secretsmanager" in {v.split(".")[0] for v in via}) is writer
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
            patterns = as_list(
                statements["CloudWatchLogsEncryptLogGroups"]["Condition"]["ArnLike"][
                    "kms:EncryptionContext:aws:logs:arn"
                ]
            )
            names = [p.split(":log-group:", 1)[1] for p in patterns]
            assert any(fnmatch.fnmatchcase(group["name"], n) for n in names), f"{name}: {group['name']} vs {names}"
            checked += 1
    assert checked >= 6 * 4 + 1, "flow logs, ingest and RDS logs per region, WAF logs in prod"


# ------------------------------------------------------------------ the construct: consumers grant themselves


def bare_key(tmp_path, region="us-east-1"):
    """An EncryptionKey in a stack of its own, with literal account and partition."""
    from cdktf import App, TerraformStack

    from config.naming import Namer
    from modules import aws
    from modules.kms import EncryptionKey, EncryptionKeyProps

    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, f"dev-{region}")
    aws.provider.AwsProvider(stack, "aws", region=region)
    key = EncryptionKey(
        stack,
        "kms",
        EncryptionKeyProps(
            namer=Namer("dev", region, "a1"),
            region=region,
            account_token="111111111111",
            partition="aws",
            deletion_window_days=table.key_deletion_window_days(),
        ),
    )
    return app, key


def synthesized_policy(app, tmp_path) -> list[dict]:
    from support.tfjson import load_stacks

    app.synth()
    (stack,) = load_stacks(tmp_path / "out").values()
    _, key = only(stack, "aws_kms_key")
    return jsonencoded(key["policy"])["Statement"]


def test_a_key_without_consumers_grants_only_administration(tmp_path):
    app, _ = bare_key(tmp_path)
    assert [s["Sid"] for s in synthesized_policy(app, tmp_path)] == ["AccountAdministersKey"]


def test_a_key_with_two_consumers_has_exactly_their_statements(tmp_path):
    """A topic and a database given the key: SNS and its publishers, use through SNS, RDS and
    Secrets Manager, RDS's log groups; nothing for volumes, queues or other accounts."""
    from modules.notifications import grant_topic_encryption

    app, key = bare_key(tmp_path)
    grant_topic_encryption(key)
    key.grant_via_service("rds", "secretsmanager")  # what Database asks for
    key.admit_log_group("/aws/rds/instance/dev-us-east-1-")
    statements = {s["Sid"]: s for s in synthesized_policy(app, tmp_path)}
    assert list(statements) == [
        "AccountAdministersKey",
        "AccountUsesKeyThroughServices",
        "CloudWatchLogsEncryptLogGroups",
        "SnsEncryptTopics",
        "BudgetsPublishToEncryptedTopics",
        "CloudWatchAlarmsPublishToEncryptedTopics",
    ]
    via = statements["AccountUsesKeyThroughServices"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == [f"{s}.us-east-1.amazonaws.com" for s in ("rds", "secretsmanager", "sns")]
    logs = statements["CloudWatchLogsEncryptLogGroups"]["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert logs == ["arn:aws:logs:us-east-1:111111111111:log-group:/aws/rds/instance/dev-us-east-1-*"]


def test_grants_render_in_the_deployed_order_whatever_order_they_were_asked_in(tmp_path):
    """Consumers arrive in construction order; the policy keeps the order it had when the key
    listed them itself (no plan churn), and a grant it has never seen goes last."""
    from modules.compute import grant_volume_encryption
    from modules.kms import THIS_KEY
    from modules.notifications import grant_topic_encryption
    from modules.policy import Statement

    app, key = bare_key(tmp_path)
    key.add_to_resource_policy(Statement("NewConsumer", ("kms:Decrypt",), THIS_KEY, {"Service": ("x.amazonaws.com",)}))
    key.grant_via_service("lambda", "dynamodb", "ec2")
    grant_topic_encryption(key, ("222222222222",))
    grant_volume_encryption(key)
    key.grant_via_service("s3", "ec2")  # asked twice: listed once
    statements = synthesized_policy(app, tmp_path)
    assert [s["Sid"] for s in statements] == [
        "AccountAdministersKey",
        "AccountUsesKeyThroughServices",
        "SnsEncryptTopics",
        "BudgetsPublishToEncryptedTopics",
        "CloudWatchAlarmsPublishToEncryptedTopics",
        "AutoScalingEncryptsInstanceVolumes",
        "AutoScalingGrantsForVolumes",
        "OtherEnvironmentsPublishToEncryptedTopics",
        "NewConsumer",
    ]
    via = statements[1]["Condition"]["StringEquals"]["kms:ViaService"]
    assert [v.split(".")[0] for v in via] == ["s3", "sns", "ec2", "lambda", "dynamodb"]


def test_a_grant_the_key_cannot_take_is_refused(tmp_path):
    from modules.kms import THIS_KEY
    from modules.policy import Statement

    _, key = bare_key(tmp_path)
    with pytest.raises(ValueError, match="endpoint prefix such as 's3'"):
        key.grant_via_service("s3.us-east-1.amazonaws.com")
    with pytest.raises(ValueError, match="would admit every log group"):
        key.admit_log_group("")
    with pytest.raises(ValueError, match="a key policy's resource is"):
        key.add_to_resource_policy(Statement("Elsewhere", ("kms:Decrypt",), ("arn:aws:s3:::b",)))
    with pytest.raises(ValueError, match="already has a statement AccountAdministersKey"):
        key.add_to_resource_policy(Statement("AccountAdministersKey", ("kms:Decrypt",), THIS_KEY))


def test_an_imported_key_encrypts_but_takes_no_grants(tmp_path):
    """A consumer given a key it does not own (by ARN) uses the ARN and changes no policy."""
    from modules.compute import grant_volume_encryption
    from modules.kms import ImportedKey
    from modules.notifications import grant_topic_encryption

    key = ImportedKey("arn:aws:kms:us-east-1:111111111111:key/k")
    grant_topic_encryption(key, ("222222222222",))
    grant_volume_encryption(key)
    key.admit_log_group("x-")
    assert vars(key) == {"arn": "arn:aws:kms:us-east-1:111111111111:key/k"}
