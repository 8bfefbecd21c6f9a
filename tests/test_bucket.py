"""R9/F15: modules/bucket.py; every bucket the platform creates comes from SecureBucket and is secure and cheap."""

from __future__ import annotations

import pytest
from support import table
from support.tfjson import load_stacks, policy_document, refers_to, resources, tagged

from modules.policy import Statement

# Buckets AWS services deliver logs into: SSE-S3 (delivery cannot use the KMS key) and no access
# logging of their own. Every other bucket must use the key and log into the region's log bucket.
AWS_LOG_BUCKETS = {"logs", "cdn-logs"}


def buckets(stacks: dict[str, dict]):
    """(stack name, logical name, body) of every aws_s3_bucket in every stack."""
    return [(s, n, b) for s, stack in stacks.items() for n, b in resources(stack, "aws_s3_bucket").items()]


def attached(stack: dict, type_: str, bucket_name: str) -> dict:
    """The single `type_` resource configuring `bucket_name`."""
    found = [b for b in resources(stack, type_).values() if refers_to(b["bucket"], "aws_s3_bucket", bucket_name, "id")]
    assert len(found) == 1, f"{bucket_name}: expected one {type_}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def data_bucket_stack(tmp_path_factory):
    """A stack with the region's key, a log bucket and a KMS-encrypted data bucket logging into
    it: what the ingest and Config delivery buckets are built with."""
    from cdktf import App, TerraformStack

    from config.naming import Namer
    from modules import aws
    from modules.bucket import SecureBucket, SecureBucketProps
    from modules.kms import ImportedKey

    out = tmp_path_factory.mktemp("bucket") / "out"
    app = App(outdir=str(out))
    stack = TerraformStack(app, "dev-us-east-1")
    aws.provider.AwsProvider(stack, "aws", region="us-east-1")
    namer = Namer("dev", "us-east-1", "a1")
    key = aws.kms_key.KmsKey(stack, "key", enable_key_rotation=True, tags=namer.resource_tags("kms"))
    logs = SecureBucket(
        stack,
        "logs",
        SecureBucketProps(
            namer=namer,
            service="logs",
            account_number="111111111111",
            lifecycle=table.lifecycle(current_expire_days=14),
            sse_s3_reason="log delivery",
            no_access_log_reason="log bucket",
        ),
    )
    data = SecureBucket(
        stack,
        "data",
        SecureBucketProps(
            namer=namer,
            service="ingest",
            account_number="111111111111",
            lifecycle=table.lifecycle(),
            kms_key=ImportedKey(key.arn),
            access_log_bucket=logs,
        ),
    )
    data.add_to_resource_policy(
        Statement("ReadForReports", ("s3:GetObject",), (f"{data.arn}/*",), {"Service": ("reports.example.invalid",)})
    )
    app.synth()
    return load_stacks(out)["dev-us-east-1"]


def test_every_bucket_is_versioned_private_owner_enforced_and_tls_only(synthesized, data_bucket_stack):
    found = buckets(synthesized.stacks) + buckets({"construct": data_bucket_stack})
    assert len(found) == 6 + 6 + 6 + 3 + 2, (
        "a log, an ingest and a Config bucket per regional stack, a "
        "CloudFront log bucket per environment, plus the construct test's two"
    )
    every = {**synthesized.stacks, "construct": data_bucket_stack}
    for stack_name, name, _ in found:
        stack = every[stack_name]
        assert attached(stack, "aws_s3_bucket_versioning", name)["versioning_configuration"]["status"] == "Enabled"
        block = attached(stack, "aws_s3_bucket_public_access_block", name)
        assert all(
            block[k] is True
            for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        )
        ownership = attached(stack, "aws_s3_bucket_ownership_controls", name)
        assert ownership["rule"]["object_ownership"] == "BucketOwnerEnforced"
        policy = attached(stack, "aws_s3_bucket_policy", name)
        statements = {s["sid"]: s for s in policy_document(stack, policy["policy"])}
        transport = statements["DenyInsecureTransport"]
        assert transport["effect"] == "Deny"
        assert transport["condition"] == [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}]
        tls = statements["DenyTlsBelow12"]
        assert tls["effect"] == "Deny"
        assert tls["condition"] == [{"test": "NumericLessThan", "variable": "s3:TlsVersion", "values": ["1.2"]}]
        for deny in (transport, tls):
            assert any(refers_to(r, "aws_s3_bucket", name, "arn") and r.endswith("/*") for r in deny["resources"])
            assert any(r == f"${{aws_s3_bucket.{name}.arn}}" for r in deny["resources"])
        assert any("aws_s3_bucket_public_access_block" in d for d in policy["depends_on"])


def encryption(stack, name):
    rule = attached(stack, "aws_s3_bucket_server_side_encryption_configuration", name)["rule"]
    (rule,) = rule
    return rule


def test_every_bucket_uses_the_kms_key_unless_it_receives_aws_logs(synthesized, data_bucket_stack):
    for stack_name, name, body in buckets(synthesized.stacks):
        stack = synthesized.stacks[stack_name]
        rule = encryption(stack, name)
        if body["tags"]["Service"] in AWS_LOG_BUCKETS:
            assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "AES256"
        else:
            assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms", name
    data_name = next(
        n for n, b in resources(data_bucket_stack, "aws_s3_bucket").items() if b["tags"]["Service"] == "ingest"
    )
    rule = encryption(data_bucket_stack, data_name)
    assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    assert refers_to(rule["apply_server_side_encryption_by_default"]["kms_master_key_id"], "aws_kms_key", "key", "arn")
    assert rule["bucket_key_enabled"] is True


def test_every_bucket_but_the_log_bucket_has_access_logging(synthesized, data_bucket_stack):
    every = {**synthesized.stacks, "construct": data_bucket_stack}
    for stack_name, name, body in buckets(every):
        stack = every[stack_name]
        logging = [
            b
            for b in resources(stack, "aws_s3_bucket_logging").values()
            if refers_to(b["bucket"], "aws_s3_bucket", name, "id")
        ]
        if body["tags"]["Service"] in AWS_LOG_BUCKETS:
            assert logging == []
            continue
        (log,) = logging
        log_bucket = next(n for n, b in resources(stack, "aws_s3_bucket").items() if b["tags"]["Service"] == "logs")
        assert refers_to(log["target_bucket"], "aws_s3_bucket", log_bucket, "id")
        assert log["target_prefix"] == f"s3/{body['bucket']}/"


def name_of(reference: str) -> str:
    """The logical name in `${aws_s3_bucket.<name>.id}`."""
    return reference.split("aws_s3_bucket.")[1].split(".")[0]


def logging_statements(stack: dict, bucket_name: str) -> list[dict]:
    """The statements of a bucket's policy that grant the S3 logging service anything."""
    policy = attached(stack, "aws_s3_bucket_policy", bucket_name)
    return [
        s
        for s in policy_document(stack, policy["policy"])
        if any("logging.s3.amazonaws.com" in p["identifiers"] for p in s.get("principals", []))
    ]


def test_log_bucket_admits_each_logging_bucket_at_its_own_prefix_only(synthesized, data_bucket_stack):
    """Least privilege, and what moto (like S3) reads: one statement per source bucket whose only
    resource is exactly `<log bucket ARN>/<that source's target prefix>*`, limited to that source
    bucket and account; no wildcard over every bucket of the region."""
    every = {**synthesized.stacks, "construct": data_bucket_stack}
    checked = 0
    for stack_name, stack in every.items():
        sources_by_target: dict[str, list[dict]] = {}
        for logging in resources(stack, "aws_s3_bucket_logging").values():
            sources_by_target.setdefault(name_of(logging["target_bucket"]), []).append(logging)
        for target, loggings in sources_by_target.items():
            statements = logging_statements(stack, target)
            assert len(statements) == len(loggings), (stack_name, "one statement per source bucket, nothing more")
            for logging in loggings:
                source = name_of(logging["bucket"])
                (statement,) = [
                    s
                    for s in statements
                    if any(refers_to(c["values"], "aws_s3_bucket", source, "arn") for c in s["condition"])
                ]
                assert statement["effect"] == "Allow" and statement["actions"] == ["s3:PutObject"]
                assert statement["principals"] == [{"type": "Service", "identifiers": ["logging.s3.amazonaws.com"]}]
                assert statement["resources"] == [f"${{aws_s3_bucket.{target}.arn}}/{logging['target_prefix']}*"]
                conditions = {c["variable"]: (c["test"], c["values"]) for c in statement["condition"]}
                assert conditions["aws:SourceArn"] == ("ArnLike", [f"${{aws_s3_bucket.{source}.arn}}"])
                test, (account,) = conditions["aws:SourceAccount"]
                assert test == "StringEquals" and f"-{account}-" in resources(stack, "aws_s3_bucket")[source]["bucket"]
                checked += 1
    assert checked == 12 + 1, "the ingest and Config buckets of every regional stack, and the construct test's"
    for stack_name, name, body in buckets(synthesized.stacks):
        if body["tags"]["Service"] == "cdn-logs":
            assert logging_statements(synthesized.stacks[stack_name], name) == [], "nothing logs into it"


def test_every_bucket_logging_waits_for_the_target_bucket_policy(synthesized, data_bucket_stack):
    """S3 refuses to enable logging into a bucket whose policy does not admit the delivery yet:
    without the dependency, Terraform may create both at once and the apply fails (or races)."""
    every = {**synthesized.stacks, "construct": data_bucket_stack}
    checked = 0
    for stack_name, stack in every.items():
        for logging in resources(stack, "aws_s3_bucket_logging").values():
            target = name_of(logging["target_bucket"])
            (policy_name,) = [
                n
                for n, b in resources(stack, "aws_s3_bucket_policy").items()
                if refers_to(b["bucket"], "aws_s3_bucket", target, "id")
            ]
            assert f"aws_s3_bucket_policy.{policy_name}" in logging.get("depends_on", []), (stack_name, logging)
            checked += 1
    assert checked == 12 + 1


def test_bucket_policy_statements_added_later_render_into_the_one_document(tmp_path):
    """Grants added after construction re-render the bucket's single policy document: no second
    document, no stale copy, the same logical name; duplicates and impossible deliveries fail
    at synth time."""
    from cdktf import App, TerraformStack

    from config.naming import Namer
    from modules import aws
    from modules.bucket import SecureBucket, SecureBucketProps
    from modules.kms import ImportedKey

    app = App(outdir=str(tmp_path / "out"))
    stack = TerraformStack(app, "dev-us-east-1")
    aws.provider.AwsProvider(stack, "aws", region="us-east-1")
    namer = Namer("dev", "us-east-1", "a1")
    logs = SecureBucket(
        stack,
        "logs",
        SecureBucketProps(
            namer=namer,
            service="logs",
            account_number="1" * 12,
            lifecycle=table.lifecycle(current_expire_days=14),
            sse_s3_reason="log delivery",
            no_access_log_reason="log bucket",
        ),
    )
    for service in ("first", "second-source"):
        SecureBucket(
            stack,
            service,
            SecureBucketProps(
                namer=namer,
                service=service,
                account_number="1" * 12,
                lifecycle=table.lifecycle(),
                sse_s3_reason="test",
                access_log_bucket=logs,
            ),
        )
    with pytest.raises(ValueError, match="already has a statement S3ServerAccessLogsFromFirst"):
        logs.admit_access_logs(stack.node.find_child("first"), "again/")
    keyed = SecureBucket(
        stack,
        "keyed",
        SecureBucketProps(
            namer=namer,
            service="keyed",
            account_number="1" * 12,
            lifecycle=table.lifecycle(),
            kms_key=ImportedKey("${aws_kms_key.k.arn}"),
            no_access_log_reason="test",
        ),
    )
    with pytest.raises(ValueError, match="cannot be delivered to an SSE-KMS bucket"):
        keyed.admit_access_logs(logs, "s3/x/")
    other_account = SecureBucket(
        stack,
        "other",
        SecureBucketProps(
            namer=namer,
            service="other",
            account_number="2" * 12,
            lifecycle=table.lifecycle(),
            sse_s3_reason="test",
            no_access_log_reason="test",
        ),
    )
    with pytest.raises(ValueError, match="only within one account and region"):
        logs.admit_access_logs(other_account, "s3/other/")
    app.synth()
    synthesized = load_stacks(tmp_path / "out")["dev-us-east-1"]
    documents = [n for n in synthesized["data"]["aws_iam_policy_document"] if n.startswith("logs_")]
    assert len(documents) == 1, documents
    logs_name = next(n for n, b in resources(synthesized, "aws_s3_bucket").items() if b["tags"]["Service"] == "logs")
    policy = attached(synthesized, "aws_s3_bucket_policy", logs_name)
    sids = [s["sid"] for s in policy_document(synthesized, policy["policy"])]
    assert sids == [
        "DenyInsecureTransport",
        "DenyTlsBelow12",
        "S3ServerAccessLogsFromFirst",
        "S3ServerAccessLogsFromSecondSource",
    ]


def test_added_statements_join_the_single_bucket_policy_after_the_denies(data_bucket_stack):
    data_name = next(
        n for n, b in resources(data_bucket_stack, "aws_s3_bucket").items() if b["tags"]["Service"] == "ingest"
    )
    policy = attached(data_bucket_stack, "aws_s3_bucket_policy", data_name)
    sids = [s["sid"] for s in policy_document(data_bucket_stack, policy["policy"])]
    assert sids == ["DenyInsecureTransport", "DenyTlsBelow12", "ReadForReports"]


def test_bucket_props_hold_no_statements():
    """A construct that delivers into a bucket asks it (`add_to_resource_policy`): the frozen props
    carry no mutable list of statements for it to fill in."""
    from dataclasses import MISSING, fields

    from modules.bucket import SecureBucketProps

    assert "extra_statements" not in {f.name for f in fields(SecureBucketProps)}
    assert all(f.default_factory is MISSING for f in fields(SecureBucketProps)), "no mutable defaults"


def test_grant_read_gives_the_objects_and_the_key_through_s3_only(tmp_path):
    """A reader asks the bucket (`grant_read`): GetObject on exactly the objects asked for, and
    Decrypt of the bucket's own key through S3 in its region, only when it has a key."""
    from cdktf import App, TerraformStack

    from config.naming import Namer
    from modules.bucket import SecureBucket, SecureBucketProps
    from modules.kms import ImportedKey

    stack = TerraformStack(App(outdir=str(tmp_path)), "s")
    made = {}
    for service, key in (("keyed", ImportedKey("${aws_kms_key.k.arn}")), ("plain", None)):
        made[service] = SecureBucket(
            stack,
            service,
            SecureBucketProps(
                namer=Namer("dev", "eu-west-1", "a1"),
                service=service,
                account_number="1" * 12,
                lifecycle=table.lifecycle(),
                kms_key=key,
                sse_s3_reason=None if key else "test",
                no_access_log_reason="test",
            ),
        )
    read, decrypt = made["keyed"].grant_read("webapp/x.tar.xz", "Bundle", "eu-west-1")
    assert (read.sid, read.actions, read.resources) == (
        "ReadBundle",
        ("s3:GetObject",),
        (f"{made['keyed'].arn}/webapp/x.tar.xz",),
    )
    assert not read.conditions and read.effect == "Allow"
    assert (decrypt.sid, decrypt.actions, decrypt.resources) == (
        "DecryptBundle",
        ("kms:Decrypt",),
        ("${aws_kms_key.k.arn}",),
    )
    assert [(c.test, c.variable, c.values) for c in decrypt.conditions] == [
        ("StringEquals", "kms:ViaService", ("s3.eu-west-1.amazonaws.com",))
    ]
    assert [s.sid for s in made["plain"].grant_read("reports/*", "Reports", "eu-west-1")] == ["ReadReports"]
    with pytest.raises(ValueError, match="without a leading '/'"):
        made["plain"].grant_read("/reports/*", "Reports", "eu-west-1")


def test_lifecycle_numbers_come_from_the_settings_table_only():
    """The rules' numbers have one source, the settings table: a default here would be a second
    copy that a bucket built without the environment's values silently picks up."""
    from dataclasses import MISSING, fields

    from modules.bucket import Lifecycle

    defaulted = {f.name for f in fields(Lifecycle) if f.default is not MISSING}
    assert defaulted == {"current_expire_days"}  # not a setting: a log bucket's retention, None for data


def lifecycle_rules(stack, name):
    lifecycle = attached(stack, "aws_s3_bucket_lifecycle_configuration", name)
    assert any("aws_s3_bucket_versioning" in d for d in lifecycle["depends_on"]), "versioning first"
    return {r["id"]: r for r in lifecycle["rule"]}


def test_the_ingest_buckets_are_data_buckets(synthesized):
    for stack_name, name, body in buckets(synthesized.stacks):
        if body["tags"]["Service"] == "ingest":
            (rule,) = lifecycle_rules(synthesized.stacks[stack_name], name).values()
            assert {t["storage_class"] for t in rule["noncurrent_version_transition"]} == {"STANDARD_IA", "GLACIER_IR"}


def test_data_buckets_age_old_versions_into_cheaper_classes(data_bucket_stack):
    data_name = next(
        n for n, b in resources(data_bucket_stack, "aws_s3_bucket").items() if b["tags"]["Service"] == "ingest"
    )
    (rule,) = lifecycle_rules(data_bucket_stack, data_name).values()
    assert rule["status"] == "Enabled"
    assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]
    transitions = {t["storage_class"]: t["noncurrent_days"] for t in rule["noncurrent_version_transition"]}
    assert transitions == {"STANDARD_IA": 30, "GLACIER_IR": 90}
    assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 365}]
    assert "expiration" not in rule


@pytest.mark.parametrize("env, days", [("dev", 14), ("staging", 30), ("prod", 365)])
def test_log_buckets_expire_logs_after_the_environment_retention(synthesized, env, days):
    for stack_name, name, body in buckets(synthesized.stacks):
        if not stack_name.startswith(f"{env}-") or body["tags"]["Service"] not in AWS_LOG_BUCKETS:
            continue
        rules = lifecycle_rules(synthesized.stacks[stack_name], name)
        retention = rules["expire-after-retention"]
        assert retention["expiration"] == [{"days": days}]
        assert retention["noncurrent_version_expiration"] == [{"noncurrent_days": 1}]
        assert retention["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]
        assert rules["remove-expired-delete-markers"]["expiration"] == [{"expired_object_delete_marker": True}]


def test_lifecycle_days_are_configurable(default_data, tmp_path):
    from support.configs import variant
    from support.synth import synthesize

    from config import model

    data = variant(default_data, environments={"dev": {"log_retention_days": 90, "abort_multipart_days": 3}})
    result = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev")
    stack = result.stacks["dev-us-east-1"]
    name, _ = tagged(stack, "aws_s3_bucket", "logs")
    rule = lifecycle_rules(stack, name)["expire-after-retention"]
    assert (
        rule["expiration"] == [{"days": 90}]
        and rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 3
    )


def test_force_destroy_only_where_configuration_allows(synthesized):
    for stack_name, _, body in buckets(synthesized.stacks):
        assert body["force_destroy"] is (stack_name.startswith("dev-")), stack_name


def test_bucket_names_are_globally_unique_per_account_and_follow_the_pattern(default_config, synthesized):
    for stack_name, _, body in buckets(synthesized.stacks):
        env = default_config.environments[stack_name.split("-")[0]]
        service = body["tags"]["Service"]
        assert body["bucket"] == f"{stack_name}-{service}-{env.account_number}-{default_config.project.suffix}"
        assert len(body["bucket"]) <= 63 and body["bucket"] == body["bucket"].lower()


def test_shortcuts_need_a_reason(tmp_path):
    from cdktf import App, TerraformStack

    from config.naming import Namer
    from modules.bucket import SecureBucket, SecureBucketProps
    from modules.kms import ImportedKey

    stack = TerraformStack(App(outdir=str(tmp_path)), "s")
    namer = Namer("dev", "us-east-1", "a1")
    with pytest.raises(ValueError, match="needs a reason"):
        SecureBucket(
            stack,
            "a",
            SecureBucketProps(
                namer=namer, service="x", account_number="1" * 12, lifecycle=table.lifecycle(), access_log_bucket="logs"
            ),
        )
    with pytest.raises(ValueError, match="without access logging needs a reason"):
        SecureBucket(
            stack,
            "b",
            SecureBucketProps(
                namer=namer,
                service="x",
                account_number="1" * 12,
                lifecycle=table.lifecycle(),
                kms_key=ImportedKey("${aws_kms_key.k.arn}"),
            ),
        )


def test_every_access_log_delivery_is_admitted_by_the_log_bucket_policy(synthesized):
    """S3 delivers server access logs only where the target's policy admits the source bucket and
    prefix: a mismatch would silently drop the logs."""
    import fnmatch

    checked = 0
    for stack_name, stack in synthesized.stacks.items():
        for logging in resources(stack, "aws_s3_bucket_logging").values():
            target, source = name_of(logging["target_bucket"]), name_of(logging["bucket"])
            admitted = [
                s
                for s in logging_statements(stack, target)
                if {c["variable"]: c["values"] for c in s["condition"]}["aws:SourceArn"]
                == [f"${{aws_s3_bucket.{source}.arn}}"]
            ]
            (statement,) = admitted
            allowed = statement["resources"][0].split("}/", 1)[1]  # e.g. s3/<source name>/*
            assert fnmatch.fnmatchcase(f"{logging['target_prefix']}key", allowed), (stack_name, allowed)
            checked += 1
    assert checked == 12, "the ingest and Config buckets of every regional stack"
