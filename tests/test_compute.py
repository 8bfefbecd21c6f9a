"""R7, R14, R15, F10: modules/compute.py, the instances (security group, launch template, role) and
their scaling, in every environment and region."""

from __future__ import annotations

import base64
import hashlib

import pytest
from support.configs import variant
from support.stack_names import REGIONAL, env_of, region_of
from support.synth import synthesize
from support.tfjson import only, policy_document, referenced, refers_to, resources, tagged

import webapp
from config import model
from modules import userdata

BUNDLE_STATEMENTS = {"ReadWebappBundle", "DecryptWebappBundle"}


def assert_bundle_statements(statements: dict, bucket_arn: str, key: str, kms_key_arn: str, region: str) -> None:
    """modules/userdata.py WebappBundle: s3:GetObject on exactly the bundle's key, and kms:Decrypt
    of the bucket's key only when S3 uses it for the caller in this region. Pops both."""
    read = statements.pop("ReadWebappBundle")
    assert (read["effect"], read["actions"], read["resources"]) == ("Allow", ["s3:GetObject"], [f"{bucket_arn}/{key}"])
    assert "condition" not in read
    decrypt = statements.pop("DecryptWebappBundle")
    assert (decrypt["effect"], decrypt["actions"], decrypt["resources"]) == ("Allow", ["kms:Decrypt"], [kms_key_arn])
    assert decrypt["condition"] == [
        {"test": "StringEquals", "variable": "kms:ViaService", "values": [f"s3.{region}.amazonaws.com"]}
    ], "through S3 only"


@pytest.mark.parametrize("name", REGIONAL)
def test_instances_admit_the_service_port_from_the_alb_only(synthesized, name):
    stack = synthesized.stacks[name]
    web_sg, _ = tagged(stack, "aws_security_group", "web")
    alb_sg, _ = tagged(stack, "aws_security_group", "alb")
    ingress = [
        r
        for r in resources(stack, "aws_vpc_security_group_ingress_rule").values()
        if refers_to(r["security_group_id"], "aws_security_group", web_sg, "id")
    ]
    assert len(ingress) == 1
    (rule,) = ingress
    assert (rule["from_port"], rule["to_port"], rule["ip_protocol"]) == (webapp.PORT, webapp.PORT, "tcp")
    assert refers_to(rule["referenced_security_group_id"], "aws_security_group", alb_sg, "id")
    assert "cidr_ipv4" not in rule


# ------------------------------------------------------------------ instances (R7, R15)


@pytest.mark.parametrize("name", REGIONAL)
def test_launch_template_is_hardened(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, template = only(stack, "aws_launch_template")
    _, _, ami = referenced(stack, template["image_id"])
    assert ami["name"] == "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    assert template["instance_type"].startswith("t4g."), "Graviton by default"
    assert template["instance_type"] == env.scaling.instance_type
    metadata = template["metadata_options"]
    assert metadata["http_tokens"] == "required" and metadata["http_put_response_hop_limit"] == 1
    (nic,) = template["network_interfaces"]
    assert nic["associate_public_ip_address"] == "false"
    (disk,) = template["block_device_mappings"]
    assert disk["ebs"]["volume_type"] == "gp3" and disk["ebs"]["encrypted"] == "true"
    assert refers_to(disk["ebs"]["kms_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    assert template["monitoring"]["enabled"] is True
    profile_name, _ = only(stack, "aws_iam_instance_profile")
    assert refers_to(template["iam_instance_profile"]["arn"], "aws_iam_instance_profile", profile_name, "arn")
    kinds = {spec["resource_type"]: spec["tags"] for spec in template["tag_specifications"]}
    assert set(kinds) == {"instance", "volume", "network-interface"}
    assert kinds["instance"]["Name"] == f"{name}-web-a1" and kinds["instance"]["Environment"] == env.name


def test_architecture_follows_the_instance_type(default_data, tmp_path):
    data = variant(default_data, environments={"dev": {"instance_type": "m7i.large"}})
    stack = synthesize(model.parse(data, "c.toml"), tmp_path / "o", env="dev").stacks["dev-us-east-1"]
    (ami,) = stack["data"]["aws_ssm_parameter"].values()
    assert ami["name"].endswith("-x86_64")
    assert [
        model.instance_architecture(t)
        for t in ("t4g.micro", "m7gd.large", "c7gn.xlarge", "g5.xlarge", "m7i.large", "g5g.xlarge")
    ] == ["arm64", "arm64", "arm64", "x86_64", "x86_64", "arm64"]


@pytest.mark.parametrize("name", REGIONAL)
def test_instance_role_is_least_privilege(synthesized, name):
    stack = synthesized.stacks[name]
    role_name, role = tagged(stack, "aws_iam_role", "web")
    (trust,) = policy_document(stack, role["assume_role_policy"])
    assert trust["principals"] == [{"type": "Service", "identifiers": ["ec2.amazonaws.com"]}]
    assert "resources" not in trust, "IAM rejects a Resource in a trust policy"
    attached = [
        a
        for a in resources(stack, "aws_iam_role_policy_attachment").values()
        if refers_to(a["role"], "aws_iam_role", role_name, "name")
    ]
    names = sorted(a["policy_arn"].rpartition("/")[2] for a in attached)
    assert names == ["AmazonSSMManagedInstanceCore"]
    (inline,) = [
        p
        for p in resources(stack, "aws_iam_role_policy").values()
        if refers_to(p["role"], "aws_iam_role", role_name, "id")
    ]
    statements = {s["sid"]: s for s in policy_document(stack, inline["policy"])}
    db_name, db = only(stack, "aws_db_instance")
    assert statements.pop("ConnectToDatabase")["resources"] == [
        f"arn:${{data.aws_partition.partition.partition}}:rds-db:{name.split('-', 1)[1]}:"
        f"${{data.aws_caller_identity.caller.account_id}}:dbuser:${{aws_db_instance.{db_name}.resource_id}}/webapp"
    ], "its own region's instance, as the application user only"
    # The bundle user data downloads: exactly the object this stack uploads, in the ingest bucket.
    (bundle,) = resources(stack, "aws_s3_object").values()
    bucket_name, _ = tagged(stack, "aws_s3_bucket", "ingest")
    assert refers_to(bundle["bucket"], "aws_s3_bucket", bucket_name, "bucket"), (
        "in the ingest bucket, uploaded after it"
    )
    assert bundle["server_side_encryption"] == "aws:kms" and bundle["kms_key_id"], (
        "with the region's key, as the bucket"
    )
    _, template = only(stack, "aws_launch_template")
    assert template["depends_on"] == [f"aws_s3_object.{next(iter(resources(stack, 'aws_s3_object')))}"], (
        "a new launch template version only once its bundle is uploaded"
    )
    assert_bundle_statements(
        statements,
        f"${{aws_s3_bucket.{bucket_name}.arn}}",
        bundle["key"],
        f"${{aws_kms_key.{only(stack, 'aws_kms_key')[0]}.arn}}",
        region_of(name),
    )
    if "replicate_source_db" in db:
        assert not statements, "a replica region reads no secret"
        return
    assert set(statements) == {"ReadOwnSecret", "DecryptOwnSecret"}, "exactly the secret and its key"
    secret_name, _ = tagged(stack, "aws_secretsmanager_secret", "db-bootstrap")
    assert statements["ReadOwnSecret"]["resources"] == [f"${{aws_secretsmanager_secret.{secret_name}.arn}}"]
    assert statements["DecryptOwnSecret"]["resources"] == [f"${{aws_kms_key.{only(stack, 'aws_kms_key')[0]}.arn}}"]


def compute_policy(tmp_path, region: str, bundle_key: str | None = None, **props) -> tuple[dict, dict]:
    """The Compute construct alone in a stack (an imported key; with `bundle_key`, the ARN of the
    key a "bundles" SecureBucket encrypts with, or "" for SSE-S3, its bundle there), synthesized:
    (the stack, its inline policy's statements by Sid)."""
    from cdktf import App, TerraformStack
    from support.tfjson import load_stacks

    from config.groups import Scaling
    from config.naming import Namer
    from modules import aws
    from modules.compute import Compute, ComputeProps
    from modules.kms import ImportedKey

    out = tmp_path / "o"
    app = App(outdir=str(out))
    stack = TerraformStack(app, f"dev-{region}")
    aws.provider.AwsProvider(stack, "aws", region=region)
    scaling = Scaling(
        instance_type="t4g.micro",
        instance_count=2,
        min_capacity=2,
        max_capacity=4,
        requests_per_target=100,
        cpu_target=70,
    )
    if bundle_key is not None:
        from support import table

        from modules.bucket import SecureBucket, SecureBucketProps

        props["bundle_bucket"] = SecureBucket(
            stack,
            "bundles",
            SecureBucketProps(
                namer=Namer("dev", region, "a1"),
                service="bundles",
                account_number="1" * 12,
                lifecycle=table.lifecycle(),
                kms_key=ImportedKey(bundle_key) if bundle_key else None,
                sse_s3_reason=None if bundle_key else "test: an SSE-S3 bucket",
                no_access_log_reason="test",
            ),
        )
    Compute(
        stack,
        "web",
        ComputeProps(
            namer=Namer("dev", region, "a1"),
            environment="dev",
            region=region,
            vpc_id="vpc-1",
            app_subnet_ids=["s1", "s2"],
            target_group_arn="tg",
            alb_arn_suffix="app/x/1",
            target_group_arn_suffix="targetgroup/y/2",
            scaling=scaling,
            instance_count=2,
            kms_key=ImportedKey("${aws_kms_key.k.arn}"),
            db_connect_arns=(f"arn:aws:rds-db:{region}:1:dbuser:db-X/webapp",),
            **props,
        ),
    )
    app.synth()
    synthesized = load_stacks(out)[f"dev-{region}"]
    (policy,) = [p for n, p in resources(synthesized, "aws_iam_role_policy").items() if n.startswith("web_")]
    return synthesized, {s["sid"]: s for s in policy_document(synthesized, policy["policy"])}


def test_instance_role_reads_exactly_its_secret_and_key(tmp_path):
    synthesized, statements = compute_policy(
        tmp_path,
        "us-east-1",
        secret_arns=("${aws_secretsmanager_secret.s.arn}",),
        bundle_key="${aws_kms_key.k.arn}",
    )
    assert statements.pop("ConnectToDatabase") == {
        "effect": "Allow",
        "sid": "ConnectToDatabase",
        "actions": ["rds-db:connect"],
        "resources": ["arn:aws:rds-db:us-east-1:1:dbuser:db-X/webapp"],
    }
    assert statements["ReadOwnSecret"]["resources"] == ["${aws_secretsmanager_secret.s.arn}"]
    assert statements["ReadOwnSecret"]["actions"] == ["secretsmanager:GetSecretValue"]
    assert statements["DecryptOwnSecret"]["resources"] == ["${aws_kms_key.k.arn}"]
    assert statements["DecryptOwnSecret"]["actions"] == ["kms:Decrypt"]
    (bundle,) = resources(synthesized, "aws_s3_object").values()
    digest = hashlib.sha256(base64.b64decode(bundle["content_base64"])).hexdigest()
    bucket, _ = tagged(synthesized, "aws_s3_bucket", "bundles")
    assert (bundle["bucket"], bundle["key"]) == (
        f"${{aws_s3_bucket.{bucket}.bucket}}",
        f"{userdata.BUNDLE_PREFIX}{digest}.tar.xz",
    ), "the upload names the bucket resource: it waits for the bucket"
    assert (bundle["server_side_encryption"], bundle["kms_key_id"]) == ("aws:kms", "${aws_kms_key.k.arn}")
    arn = f"${{aws_s3_bucket.{bucket}.arn}}"
    assert_bundle_statements(statements, arn, bundle["key"], "${aws_kms_key.k.arn}", "us-east-1")
    assert set(statements) == {"ReadOwnSecret", "DecryptOwnSecret"}, "nothing else"


def test_a_bundle_in_an_s3_managed_bucket_needs_no_key_grant(tmp_path):
    """A bucket encrypted with SSE-S3 (no key ARN): the bundle is read with s3:GetObject alone;
    with no secret, that and the database connection are all the role may do."""
    synthesized, statements = compute_policy(tmp_path, "eu-west-1", bundle_key="")
    assert set(statements) == {"ConnectToDatabase", "ReadWebappBundle"}
    (bundle,) = resources(synthesized, "aws_s3_object").values()
    assert bundle["server_side_encryption"] == "AES256" and "kms_key_id" not in bundle
    bucket, _ = tagged(synthesized, "aws_s3_bucket", "bundles")
    assert statements["ReadWebappBundle"]["resources"] == [f"${{aws_s3_bucket.{bucket}.arn}}/{bundle['key']}"]
    assert statements["ReadWebappBundle"]["actions"] == ["s3:GetObject"]


# ------------------------------------------------------------------ scaling (R7, R14, R15, F10)


@pytest.mark.parametrize("name", REGIONAL)
def test_asg_baseline_is_the_instance_count_variable_and_never_below_two(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, asg = only(stack, "aws_autoscaling_group")
    assert asg["min_size"] == "${var.instance_count}"
    assert "desired_capacity" not in asg, "desired capacity belongs to the scaling policies"
    assert asg["max_size"] == env.scaling.max_capacity
    variable = stack["variable"]["instance_count"]
    assert variable["default"] == 3
    assert f"var.instance_count >= {env.scaling.min_capacity}" in variable["validation"][0]["condition"]
    assert env.scaling.min_capacity >= 2
    assert asg["health_check_type"] == "ELB" and asg["health_check_grace_period"] > 0
    assert asg["instance_refresh"]["strategy"] == "Rolling"
    assert asg["instance_refresh"]["preferences"]["min_healthy_percentage"] == 100
    app = {n for n, b in resources(stack, "aws_subnet").items() if b["tags"]["Service"].startswith("app")}
    assert {n for n in app if refers_to(asg["vpc_zone_identifier"], "aws_subnet", n, "id")} == app
    tg_name, _ = only(stack, "aws_lb_target_group")
    assert refers_to(asg["target_group_arns"], "aws_lb_target_group", tg_name, "arn")
    lt_name, _ = only(stack, "aws_launch_template")
    assert refers_to(asg["launch_template"]["version"], "aws_launch_template", lt_name, "latest_version")
    tags = {t["key"]: t["value"] for t in asg["tag"]}
    assert tags["Name"] == f"{name}-web-a1" and tags["Environment"] == env.name


@pytest.mark.parametrize("name", REGIONAL)
def test_scaling_tracks_alb_requests_per_target_with_a_cpu_guard(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    alb_name, _ = only(stack, "aws_lb")
    tg_name, _ = only(stack, "aws_lb_target_group")
    asg_name, _ = only(stack, "aws_autoscaling_group")
    policies = {
        p["target_tracking_configuration"]["predefined_metric_specification"]["predefined_metric_type"]: p
        for p in resources(stack, "aws_autoscaling_policy").values()
    }
    assert set(policies) == {"ALBRequestCountPerTarget", "ASGAverageCPUUtilization"}
    requests = policies["ALBRequestCountPerTarget"]
    assert requests["policy_type"] == "TargetTrackingScaling"
    label = requests["target_tracking_configuration"]["predefined_metric_specification"]["resource_label"]
    assert label == f"${{aws_lb.{alb_name}.arn_suffix}}/${{aws_lb_target_group.{tg_name}.arn_suffix}}"
    assert requests["target_tracking_configuration"]["target_value"] == env.scaling.requests_per_target
    for policy in policies.values():
        assert refers_to(policy["autoscaling_group_name"], "aws_autoscaling_group", asg_name, "name")


def test_request_targets_differ_per_environment(synthesized):
    targets = {}
    for name in REGIONAL:
        for p in resources(synthesized.stacks[name], "aws_autoscaling_policy").values():
            spec = p["target_tracking_configuration"]
            if spec["predefined_metric_specification"]["predefined_metric_type"] == "ALBRequestCountPerTarget":
                targets[name.split("-")[0]] = spec["target_value"]
    assert len(set(targets.values())) == 3
