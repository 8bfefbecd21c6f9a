"""R4, R7, R8, R12, R14, R15, F1, F10 on the synthesized web tier of every environment and region."""

from __future__ import annotations

import base64
import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from support.configs import variant
from support.synth import synthesize, user_data
from support.tfjson import jsonencoded, only, policy_document, referenced, refers_to, resources, tagged, walk

import webapp
from config import model

REGIONAL = ["dev-us-east-1", "dev-us-west-2", "staging-us-east-1", "staging-us-west-2", "prod-us-east-1",
            "prod-us-west-2"]
WEBAPP_DIR = Path(webapp.__file__).parent


def env_of(config, name):
    return config.environments[name.split("-")[0]]


def region_of(name):
    return name.split("-", 1)[1]


# ------------------------------------------------------------------ certificates (F1)

@pytest.mark.parametrize("name", REGIONAL)
def test_regional_certificate_covers_the_origin_names_and_is_dns_validated(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    cert_name, cert = only(stack, "aws_acm_certificate")
    domain = "example.com" if env.name == "prod" else f"{env.name}.example.com"
    assert cert["domain_name"] == f"origin.{domain}"
    assert cert["subject_alternative_names"] == [f"{region_of(name)}.origin.{domain}"]
    assert cert["validation_method"] == "DNS"
    assert cert["lifecycle"]["create_before_destroy"] is True
    _, validation = only(stack, "aws_acm_certificate_validation")
    assert refers_to(validation["certificate_arn"], "aws_acm_certificate", cert_name, "arn")
    assert len(validation["validation_record_fqdns"]) == 2, "one entry per name of the certificate"


@pytest.mark.parametrize("name", REGIONAL)
def test_validation_records_one_per_name_and_the_shared_one_only_in_the_primary(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    cert_name, _ = only(stack, "aws_acm_certificate")
    records = {n: r for n, r in resources(stack, "aws_route53_record").items()
               if "domain_validation_options" in r["name"]}
    owned = sorted(n for n in (env.origin_domain, env.regional_origin_domain(region_of(name)))
                   if any(f'["{n}"]' in r["name"] for r in records.values()))
    if env.is_primary(region_of(name)):
        assert owned == sorted([env.origin_domain, env.regional_origin_domain(region_of(name))])
    else:
        assert owned == [env.regional_origin_domain(region_of(name))], "secondaries never own the shared record"
    for record in records.values():
        assert record["provider"] == "aws.dns", "Route 53 changes go through the DNS account's provider"
        assert record["allow_overwrite"] is True and record["ttl"] == 60
        for key in ("name", "type"):
            assert f"{cert_name}.domain_validation_options : o.domain_name => o}}" in record[key]
        assert refers_to(record["zone_id"], "aws_route53_zone", "zone", "zone_id", data=True)
    _, validation = only(stack, "aws_acm_certificate_validation")
    fqdns = validation["validation_record_fqdns"]
    assert sum("aws_route53_record." in f for f in fqdns) == len(records)
    assert all(f'["{env.origin_domain}"]' in f for f in fqdns if "aws_route53_record." not in f)


def test_hosted_zone_is_read_through_the_dns_provider(synthesized):
    zone = synthesized.stacks["prod-us-east-1"]["data"]["aws_route53_zone"]["zone"]
    assert zone == {**zone, "name": "example.com", "private_zone": False, "provider": "aws.dns"}


def test_configured_zone_id_replaces_the_lookup(default_data, tmp_path):
    data = variant(default_data, project={"hosted_zone_id": "Z0123456789ABCDEFGHIJ"})
    stack = synthesize(model.parse(data, "c.toml"), tmp_path / "out", env="dev").stacks["dev-us-east-1"]
    assert "aws_route53_zone" not in stack.get("data", {})
    assert {r["zone_id"] for r in resources(stack, "aws_route53_record").values()} == {"Z0123456789ABCDEFGHIJ"}


def test_certificate_construct_rejects_owning_a_name_it_does_not_certify(tmp_path):
    from cdktf import App, TerraformStack

    from config.naming import Namer
    from modules.certificate import CertificateProps, DnsValidatedCertificate

    with pytest.raises(ValueError, match="not names of the certificate"):
        DnsValidatedCertificate(TerraformStack(App(outdir=str(tmp_path)), "s"), "c", CertificateProps(
            namer=Namer("dev", "us-east-1", "a1"), service="c", domain_name="a.example.com", alternative_names=(),
            zone_id="Z1", owned_names=("b.example.com",)))


# ------------------------------------------------------------------ load balancer (R4)

@pytest.mark.parametrize("name", REGIONAL)
def test_https_only_listener_uses_the_validated_certificate(synthesized, name):
    stack = synthesized.stacks[name]
    (listener,) = resources(stack, "aws_lb_listener").values()
    assert (listener["port"], listener["protocol"]) == (443, "HTTPS")
    assert listener["ssl_policy"].startswith("ELBSecurityPolicy-TLS13")
    validation_name, _ = only(stack, "aws_acm_certificate_validation")
    assert refers_to(listener["certificate_arn"], "aws_acm_certificate_validation", validation_name, "certificate_arn")
    tg_name, _ = only(stack, "aws_lb_target_group")
    (action,) = listener["default_action"]
    assert action["type"] == "fixed-response" and action["fixed_response"]["status_code"] == "403"
    for rule in resources(stack, "aws_lb_listener_rule").values():
        (forward,) = rule["action"]
        assert forward["type"] == "forward"
        assert refers_to(forward["target_group_arn"], "aws_lb_target_group", tg_name, "arn")


def test_no_port_80_anywhere(synthesized):
    for name, stack in synthesized.stacks.items():
        for type_ in ("aws_lb_listener", "aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"):
            for body in resources(stack, type_).values():
                for key in ("port", "from_port", "to_port"):
                    assert body.get(key) != 80, f"{name}: {type_} on port 80"
        assert not [v for k, v in walk(stack.get("resource", {})) if k in ("from_port", "port") and v == 80]


@pytest.mark.parametrize("name", REGIONAL)
def test_alb_is_public_hardened_logged_and_admits_443_only(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _alb_name, alb = only(stack, "aws_lb")
    assert alb["internal"] is False and alb["load_balancer_type"] == "application"
    assert alb["drop_invalid_header_fields"] is True
    assert alb["enable_deletion_protection"] is env.deletion_protection
    public = {n for n, b in resources(stack, "aws_subnet").items() if b["tags"]["Service"].startswith("public")}
    assert {n for n in public if refers_to(alb["subnets"], "aws_subnet", n, "id")} == public
    log_bucket, _ = tagged(stack, "aws_s3_bucket", "logs")
    assert alb["access_logs"]["enabled"] is True and alb["access_logs"]["prefix"] == "alb"
    assert refers_to(alb["access_logs"]["bucket"], "aws_s3_bucket", log_bucket, "id")
    (log_policy,) = [n for n, b in resources(stack, "aws_s3_bucket_policy").items()
                     if refers_to(b["bucket"], "aws_s3_bucket", log_bucket, "id")]
    assert f"aws_s3_bucket_policy.{log_policy}" in alb["depends_on"], "ELB checks bucket access at creation"
    sg_name, _sg = tagged(stack, "aws_security_group", "alb")
    assert refers_to(alb["security_groups"], "aws_security_group", sg_name, "id")
    ingress = [r for r in resources(stack, "aws_vpc_security_group_ingress_rule").values()
               if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")]
    assert [(r["from_port"], r["to_port"], r["ip_protocol"]) for r in ingress] == [(443, 443, "tcp")]
    egress = [r for r in resources(stack, "aws_vpc_security_group_egress_rule").values()
              if refers_to(r["security_group_id"], "aws_security_group", sg_name, "id")]
    web_sg, _ = tagged(stack, "aws_security_group", "web")
    assert [(r["from_port"], r["to_port"]) for r in egress] == [(webapp.PORT, webapp.PORT)]
    assert refers_to(egress[0]["referenced_security_group_id"], "aws_security_group", web_sg, "id")


def test_deletion_protection_follows_the_environment(synthesized):
    protection = {n.split("-")[0]: only(synthesized.stacks[n], "aws_lb")[1]["enable_deletion_protection"]
                  for n in REGIONAL}
    assert protection == {"dev": False, "staging": False, "prod": True}


@pytest.mark.parametrize(("name", "principal"), [("prod-us-east-1", "AWS"), ("dev-eu-central-2", "Service")])
def test_log_bucket_admits_alb_log_delivery_without_hand_written_accounts(default_data, synthesized, tmp_path, name,
                                                                          principal):
    if name in synthesized.stacks:
        stack = synthesized.stacks[name]
    else:  # a region launched after August 2022: the log-delivery service principal
        data = variant(default_data, environments={"dev": {"regions": ["eu-central-2"]}})
        stack = synthesize(model.parse(data, "c.toml"), tmp_path / "o", env="dev").stacks[name]
    bucket, _ = tagged(stack, "aws_s3_bucket", "logs")
    policy = next(p for p in resources(stack, "aws_s3_bucket_policy").values()
                  if refers_to(p["bucket"], "aws_s3_bucket", bucket, "id"))
    (delivery,) = [s for s in policy_document(stack, policy["policy"]) if s["sid"] == "AlbAccessLogDelivery"]
    assert delivery["actions"] == ["s3:PutObject"]
    assert delivery["resources"] == [
        f"${{aws_s3_bucket.{bucket}.arn}}/alb/AWSLogs/${{data.aws_caller_identity.caller.account_id}}/*"]
    (principals,) = delivery["principals"]
    assert principals["type"] == principal
    if principal == "AWS":
        (account_source,) = stack["data"]["aws_elb_service_account"]
        assert principals["identifiers"] == [f"${{data.aws_elb_service_account.{account_source}.arn}}"]
    else:
        assert principals["identifiers"] == ["logdelivery.elasticloadbalancing.amazonaws.com"]


@pytest.mark.parametrize("name", REGIONAL)
def test_target_group_checks_the_webapp_health_path(synthesized, name):
    _, tg = only(synthesized.stacks[name], "aws_lb_target_group")
    assert (tg["port"], tg["protocol"], tg["target_type"]) == (webapp.PORT, "HTTP", "instance")
    assert tg["deregistration_delay"] == "30"
    check = tg["health_check"]
    assert check["path"] == webapp.HEALTH_PATH and check["matcher"] == "200" and check["port"] == "traffic-port"
    assert check["interval"] <= 30 and check["healthy_threshold"] >= 2 and check["unhealthy_threshold"] >= 2
    assert len(tg["name"]) <= 32


@pytest.mark.parametrize("name", REGIONAL)
def test_instances_admit_the_service_port_from_the_alb_only(synthesized, name):
    stack = synthesized.stacks[name]
    web_sg, _ = tagged(stack, "aws_security_group", "web")
    alb_sg, _ = tagged(stack, "aws_security_group", "alb")
    ingress = [r for r in resources(stack, "aws_vpc_security_group_ingress_rule").values()
               if refers_to(r["security_group_id"], "aws_security_group", web_sg, "id")]
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
    assert template["instance_type"] == env.instance_type
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
    assert [model.instance_architecture(t) for t in ("t4g.micro", "m7gd.large", "c7gn.xlarge", "g5.xlarge",
                                                     "m7i.large", "g5g.xlarge")] == [
        "arm64", "arm64", "arm64", "x86_64", "x86_64", "arm64"]


@pytest.mark.parametrize("name", ["dev-us-east-1", "prod-us-west-2"])
def test_user_data_installs_the_webapp_as_an_asset_and_runs_it_under_systemd(synthesized, name, tmp_path):
    script = user_data(synthesized.stacks[name])
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # valid shell
    assert "dnf install -y python3 postgresql15" in script, "Amazon Linux 2023 packages only"
    assert "pip install" not in script and "curl" not in script and "wget" not in script
    payload = script.split("<<'BUNDLE'", 1)[1].split("\n", 1)[1].split("\nBUNDLE\n", 1)[0]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(base64.b64decode(payload)))) as bundle:
        files = {m.name: bundle.extractfile(m).read() for m in bundle.getmembers()}
    sources = {f"webapp/{p.name}": p.read_bytes() for p in WEBAPP_DIR.glob("*.py")}
    assert files == sources, "the instance runs exactly the webapp/ sources"
    unit = script.split("<<'UNIT'\n", 1)[1].split("UNIT\n", 1)[0]
    assert "Restart=on-failure" in unit and "ExecStart=/usr/bin/python3 -m webapp.server" in unit
    assert "User=webapp" in unit and "NoNewPrivileges=yes" in unit
    env_file = script.split("<<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    assert f"WEBAPP_REGION={region_of(name)}" in env_file and f"WEBAPP_PORT={webapp.PORT}" in env_file
    assert "systemctl enable --now webapp.service" in script
    assert len(script.encode()) <= 16 * 1024


@pytest.mark.parametrize("name", REGIONAL)
def test_instance_role_is_least_privilege(synthesized, name):
    stack = synthesized.stacks[name]
    role_name, role = tagged(stack, "aws_iam_role", "web")
    (trust,) = policy_document(stack, role["assume_role_policy"])
    assert trust["principals"] == [{"type": "Service", "identifiers": ["ec2.amazonaws.com"]}]
    assert "resources" not in trust, "IAM rejects a Resource in a trust policy"
    attached = [a for a in resources(stack, "aws_iam_role_policy_attachment").values()
                if refers_to(a["role"], "aws_iam_role", role_name, "name")]
    names = sorted(a["policy_arn"].rpartition("/")[2] for a in attached)
    assert names == ["AmazonSSMManagedInstanceCore"]
    (inline,) = [p for p in resources(stack, "aws_iam_role_policy").values()
                 if refers_to(p["role"], "aws_iam_role", role_name, "id")]
    statements = {s["sid"]: s for s in policy_document(stack, inline["policy"])}
    assert set(statements) == {"ReadOwnSecret", "DecryptOwnSecret"}, "exactly the secret and its key"
    db_name, _ = only(stack, "aws_db_instance")
    assert statements["ReadOwnSecret"]["resources"] == [
        f"${{aws_db_instance.{db_name}.master_user_secret[0].secret_arn}}"]
    assert statements["DecryptOwnSecret"]["resources"] == [f"${{aws_kms_key.{only(stack, 'aws_kms_key')[0]}.arn}}"]


def test_instance_role_reads_exactly_its_secret_and_key(tmp_path):
    from cdktf import App, TerraformStack
    from support.tfjson import load_stacks

    from config.groups import Scaling
    from config.naming import Namer
    from modules import aws
    from modules.compute import Compute, ComputeProps
    from modules.kms import ImportedKey

    out = tmp_path / "o"
    app = App(outdir=str(out))
    stack = TerraformStack(app, "dev-us-east-1")
    aws.provider.AwsProvider(stack, "aws", region="us-east-1")
    Compute(stack, "web", ComputeProps(
        namer=Namer("dev", "us-east-1", "a1"), environment="dev", region="us-east-1", vpc_id="vpc-1",
        vpc_cidr="10.0.0.0/17", app_subnet_ids=["s1", "s2"], target_group_arn="tg",
        alb_arn_suffix="app/x/1", target_group_arn_suffix="targetgroup/y/2",
        scaling=Scaling(instance_type="t4g.micro", instance_count=2, min_capacity=2, max_capacity=4,
                        requests_per_target=100, cpu_target=70), instance_count=2,
        kms_key=ImportedKey("${aws_kms_key.k.arn}"),
        secret_arns=("${aws_secretsmanager_secret.s.arn}",)))
    app.synth()
    synthesized = load_stacks(out)["dev-us-east-1"]
    (policy,) = resources(synthesized, "aws_iam_role_policy").values()
    statements = {s["sid"]: s for s in policy_document(synthesized, policy["policy"])}
    assert statements["ReadOwnSecret"]["resources"] == ["${aws_secretsmanager_secret.s.arn}"]
    assert statements["DecryptOwnSecret"]["resources"] == ["${aws_kms_key.k.arn}"]
    assert statements["DecryptOwnSecret"]["actions"] == ["kms:Decrypt"]


# ------------------------------------------------------------------ scaling (R7, R14, R15, F10)

@pytest.mark.parametrize("name", REGIONAL)
def test_asg_baseline_is_the_instance_count_variable_and_never_below_two(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _, asg = only(stack, "aws_autoscaling_group")
    assert asg["min_size"] == "${var.instance_count}"
    assert "desired_capacity" not in asg, "desired capacity belongs to the scaling policies"
    assert asg["max_size"] == env.max_capacity
    variable = stack["variable"]["instance_count"]
    assert variable["default"] == 3
    assert f"var.instance_count >= {env.min_capacity}" in variable["validation"][0]["condition"]
    assert env.min_capacity >= 2
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
    policies = {p["target_tracking_configuration"]["predefined_metric_specification"]["predefined_metric_type"]: p
                for p in resources(stack, "aws_autoscaling_policy").values()}
    assert set(policies) == {"ALBRequestCountPerTarget", "ASGAverageCPUUtilization"}
    requests = policies["ALBRequestCountPerTarget"]
    assert requests["policy_type"] == "TargetTrackingScaling"
    label = requests["target_tracking_configuration"]["predefined_metric_specification"]["resource_label"]
    assert label == f"${{aws_lb.{alb_name}.arn_suffix}}/${{aws_lb_target_group.{tg_name}.arn_suffix}}"
    assert requests["target_tracking_configuration"]["target_value"] == env.requests_per_target
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


# ------------------------------------------------------------------ topics and alarms (R8, R12)

@pytest.mark.parametrize("name", REGIONAL)
def test_error_topic_is_encrypted_and_publishable_across_environments(default_config, synthesized, name):
    stack, env = synthesized.stacks[name], env_of(default_config, name)
    _topic_name, topic = only(stack, "aws_sns_topic")
    assert topic["name"] == f"{name}-errors-a1"
    assert refers_to(topic["kms_master_key_id"], "aws_kms_key", only(stack, "aws_kms_key")[0], "arn")
    (policy,) = resources(stack, "aws_sns_topic_policy").values()
    statements = {s["sid"]: s for s in policy_document(stack, policy["policy"])}
    others = sorted(e.account_id for e in default_config.environments.values() if e.account_id != env.account_id)
    publishers = statements["OtherEnvironmentsPublish"]["principals"][0]["identifiers"]
    assert [p.split(":")[4] for p in publishers] == others
    assert not any(env.account_id in p for p in publishers), "never the topic's own account as 'another'"
    alarms = statements["CloudWatchAlarmsPublish"]
    assert alarms["principals"] == [{"type": "Service", "identifiers": ["cloudwatch.amazonaws.com"]}]
    assert any(c["variable"] == "aws:SourceArn" and c["values"][0].endswith(f":alarm:{name}-*")
               for c in alarms["condition"])
    key_policy = {s["Sid"]: s for s in jsonencoded(only(stack, "aws_kms_key")[1]["policy"])["Statement"]}
    cross = key_policy["OtherEnvironmentsPublishToEncryptedTopics"]
    assert sorted(a.split(":")[4] for a in cross["Principal"]["AWS"]) == others
    assert cross["Condition"]["StringEquals"]["kms:ViaService"] == [f"sns.{region_of(name)}.amazonaws.com"]


def test_alert_emails_subscribe_to_the_topic(default_data, tmp_path):
    data = variant(default_data, environments={"staging": {"alert_emails": ["oncall@example.com",
                                                                           "lead@example.com"]}})
    stack = synthesize(model.parse(data, "c.toml"), tmp_path / "o", env="staging").stacks["staging-us-east-1"]
    topic_name, _ = only(stack, "aws_sns_topic")
    subs = resources(stack, "aws_sns_topic_subscription").values()
    assert sorted(s["endpoint"] for s in subs) == ["lead@example.com", "oncall@example.com"]
    assert all(s["protocol"] == "email" and refers_to(s["topic_arn"], "aws_sns_topic", topic_name, "arn") for s in subs)


@pytest.mark.parametrize("name", REGIONAL)
def test_alarms_watch_cpu_5xx_and_unhealthy_hosts_and_act_on_the_topic(synthesized, name):
    stack = synthesized.stacks[name]
    topic_name, _ = only(stack, "aws_sns_topic")
    asg_name, _ = only(stack, "aws_autoscaling_group")
    alarms = {a["metric_name"]: a for a in resources(stack, "aws_cloudwatch_metric_alarm").values()}
    assert set(alarms) == {"CPUUtilization", "HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count",
                           "UnHealthyHostCount"}
    cpu = alarms["CPUUtilization"]
    assert cpu["namespace"] == "AWS/EC2"
    assert refers_to(cpu["dimensions"]["AutoScalingGroupName"], "aws_autoscaling_group", asg_name, "name")
    for alarm in alarms.values():
        assert refers_to(alarm["alarm_actions"], "aws_sns_topic", topic_name, "arn")
        assert refers_to(alarm["ok_actions"], "aws_sns_topic", topic_name, "arn")
        assert alarm["alarm_name"].startswith(f"{name}-")


def test_cpu_alarms_are_strictest_in_prod(synthesized):
    cpu = {}
    for name in REGIONAL:
        for alarm in resources(synthesized.stacks[name], "aws_cloudwatch_metric_alarm").values():
            if alarm["metric_name"] == "CPUUtilization":
                cpu[name.split("-")[0]] = (alarm["threshold"], alarm["evaluation_periods"])
    assert cpu["prod"][0] < cpu["staging"][0] < cpu["dev"][0]
    assert cpu["prod"][1] < cpu["staging"][1] < cpu["dev"][1]


@pytest.mark.parametrize("name", REGIONAL)
def test_web_tier_outputs(synthesized, name):
    outputs = synthesized.stacks[name]["output"]
    stack = synthesized.stacks[name]
    assert refers_to(outputs["alb_dns_name"]["value"], "aws_lb", only(stack, "aws_lb")[0], "dns_name")
    assert refers_to(outputs["asg_name"]["value"], "aws_autoscaling_group", only(stack, "aws_autoscaling_group")[0],
                     "name")
    assert refers_to(outputs["error_topic_arn"]["value"], "aws_sns_topic", only(stack, "aws_sns_topic")[0], "arn")


def test_the_bundle_in_user_data_starts_and_serves_the_health_path(synthesized, tmp_path):
    """Boot what an instance boots: extract the bundle from the synthesized user data, start it
    with the rendered environment file, probe the target group's path, stop it with SIGTERM."""
    import signal
    import socket
    import sys
    import time
    from http.client import HTTPConnection

    stack = synthesized.stacks["prod-us-east-1"]
    script = user_data(stack)
    payload = script.split("<<'BUNDLE'", 1)[1].split("\n", 1)[1].split("\nBUNDLE\n", 1)[0]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(base64.b64decode(payload)))) as bundle:
        bundle.extractall(tmp_path, filter="data")
    env_file = script.split("<<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    environment = dict(line.split("=", 1) for line in env_file.splitlines())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment.update(WEBAPP_PORT=str(port), WEBAPP_HOST="127.0.0.1", PYTHONPATH=str(tmp_path))
    process = subprocess.Popen([sys.executable, "-m", "webapp.server"], env=environment, cwd=tmp_path,
                               stdout=subprocess.PIPE, text=True)
    try:
        path = only(stack, "aws_lb_target_group")[1]["health_check"]["path"]
        for _ in range(50):
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", path)
                response = conn.getresponse()
                body = json.loads(response.read())
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        assert response.status == 200 and body == {"status": "ok"}
        conn.request("GET", "/")
        assert json.loads(conn.getresponse().read())["region"] == "us-east-1"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, "stops cleanly on SIGTERM (systemd stop)"
    first = json.loads(process.stdout.readline())
    assert first["msg"] == "listening" and first["environment"] == "prod"
