"""D4: the smoke test against the e2e emulator (moto in server mode plus its SSM and Route 53
responders, reached through AWS_ENDPOINT_URL as AWS would be), a real local PostgreSQL writer and
a streaming standby of it behind the real webapp's /ready (the writer's webapp bootstraps its role
with the bootstrap secret, as in the writer region), and a local HTTPS server standing in for
CloudFront, so the same code runs against AWS. Smoke probes only from where an operator stands:
AWS APIs and the viewer name, and reports each region's database role against the stack's
db_role output."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from contextlib import contextmanager

import boto3
import pytest
from support.handlers import load_handler
from support.health_front import HealthFront, tls_health_front
from support.postgres import free_port, standby_of
from support.terraform import FakeTerraform

import webapp
from config.facts import ALARM_ORIGIN_UNHEALTHY, DATABASE_APP_USER
from e2e.emulator import Emulator
from e2e.run import writer_database
from ops import doctor, smoke
from ops.smoke import ALARMS, HEALTH_CHECK_SERVICE, Smoke
from webapp.database import from_environment
from webapp.server import make_server

REGIONS = ["us-east-1", "us-west-2"]
VIEWER = "app.dev.example.com"
NAMES = [VIEWER, "us-east-1.origin.dev.example.com", "us-west-2.origin.dev.example.com"]
ACCOUNT = "123456789012"  # moto's account for plain test keys
WRITER, REPLICA = REGIONS
MASTER = {"username": "dbadmin", "password": "bootstrap-password"}


@pytest.fixture(scope="module")
def emulator():
    with Emulator() as running:
        yield running


@pytest.fixture
def aws_env(emulator, monkeypatch):
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{emulator.url}/moto-api/reset", method="POST"))  # clean
    emulator.stand_ins.webapps.clear()
    emulator.stand_ins.endpoints.clear()
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.Session()


@contextmanager
def writer_and_replica():
    """{region: server}: the writer as `make e2e` stands it in (master role from the bootstrap
    secret, `webapp` trusted from loopback in place of IAM tokens) and a streaming standby of it."""
    writer = writer_database(MASTER, "app", DATABASE_APP_USER)
    try:
        with standby_of(writer) as replica:
            yield {WRITER: writer, REPLICA: replica}
    finally:
        writer.stop()


@pytest.fixture(scope="module")
def database():
    with writer_and_replica() as servers:
        yield servers


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    with tls_health_front(tmp_path_factory.mktemp("tls"), NAMES) as served:
        yield served


@pytest.fixture
def front(https_server):
    HealthFront.statuses = {}
    address, context = https_server
    return address, context


def webapp_server(session, region, bootstrap_arn, db_port):
    """The real webapp as an instance runs it: its /ready asks the database as `webapp` (IAM
    authentication), after creating that role with the bootstrap secret where it has one."""
    environ = {
        **({"WEBAPP_DB_BOOTSTRAP_SECRET_ARN": bootstrap_arn} if bootstrap_arn else {}),
        "WEBAPP_DB_HOST": "127.0.0.1",
        "WEBAPP_DB_PORT": str(db_port),
        "WEBAPP_DB_NAME": "app",
        "WEBAPP_DB_USER": DATABASE_APP_USER,
        "WEBAPP_REGION": region,
        "WEBAPP_AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "PATH": os.environ["PATH"],
    }
    server = make_server("127.0.0.1", 0, from_environment(environ), {"environment": "dev", "region": region})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def deployed(session, config, database, emulator, front_address, stack):
    """What a deploy leaves behind, per region: the ingest bucket, the bootstrap secret (writer
    only), the alarms (the health-check alarm in us-east-1), the Auto Scaling group with running
    instances (their webapp registered with the emulator, on the region's database: the writer or
    its standby), the Route 53 health check (its target registered with the emulator)."""
    env = config.environments["dev"]
    outputs = {}
    route53 = session.client("route53")
    for region in REGIONS:
        namer = config.namer(env, region)
        bucket = namer.bucket("ingest", env.account_number)
        s3 = session.client("s3", region_name=region)
        s3.create_bucket(
            Bucket=bucket,
            **({} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}),
        )
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        secret = None
        if region == WRITER:
            secret = session.client("secretsmanager", region_name=region).create_secret(
                Name=f"db-bootstrap-{os.urandom(3).hex()}", SecretString=json.dumps(MASTER)
            )["ARN"]
        for alarm_region, alarm in [(region, a) for a in ALARMS] + [("us-east-1", ALARM_ORIGIN_UNHEALTHY)]:
            session.client("cloudwatch", region_name=alarm_region).put_metric_alarm(
                AlarmName=namer.name(alarm, "alarm"),
                MetricName="CPUUtilization",
                Namespace="AWS/EC2",
                Statistic="Average",
                Period=60,
                EvaluationPeriods=1,
                Threshold=90,
                ComparisonOperator="GreaterThanThreshold",
            )
        asg = namer.name("web", "asg")
        ec2 = session.client("ec2", region_name=region)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.create_launch_template(
            LaunchTemplateName=asg, LaunchTemplateData={"ImageId": image, "InstanceType": "t4g.micro"}
        )
        session.client("autoscaling", region_name=region).create_auto_scaling_group(
            AutoScalingGroupName=asg,
            MinSize=2,
            MaxSize=2,
            AvailabilityZones=[f"{region}a"],
            LaunchTemplate={"LaunchTemplateName": asg, "Version": "$Latest"},
        )
        server = stack.enter_context(closing_server(webapp_server(session, region, secret, database[region].port)))
        emulator.stand_ins.webapps[(ACCOUNT, region)] = (webapp.PORT, server.server_address[1])
        origin = env.regional_origin_domain(region)
        check = route53.create_health_check(
            CallerReference=f"{region}-{os.urandom(4).hex()}",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": origin,
                "Port": 443,
                "ResourcePath": webapp.HEALTH_PATH,
                "EnableSNI": True,
                "RequestInterval": 10,
                "FailureThreshold": 3,
            },
        )["HealthCheck"]["Id"]
        route53.change_tags_for_resource(
            ResourceType="healthcheck",
            ResourceId=check,
            AddTags=[{"Key": "Name", "Value": namer.name(HEALTH_CHECK_SERVICE)}],
        )
        emulator.stand_ins.endpoints[origin] = front_address
        outputs[f"dev-{region}"] = {
            "ingest_bucket_name": bucket,
            "db_role": "writer" if region == WRITER else "replica",
            **({"db_bootstrap_secret_arn": secret} if secret else {}),
            "asg_name": asg,
            "db_endpoint": f"dev-{region}-db-a1.c0abc.{region}.rds.amazonaws.com:5432",
            "alb_dns_name": f"dev-{region}-alb-a1-42.{region}.elb.amazonaws.com",
        }
    return outputs


class closing_server:
    def __init__(self, server):
        self.server = server

    def __enter__(self):
        return self.server

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stack():
    from contextlib import ExitStack

    with ExitStack() as opened:
        yield opened


def run_ingest_function(session, buckets, stop):
    """Stands in for the S3 notification: runs the real handler on every new incoming/ object."""
    handler = load_handler()
    topic = session.client("sns", region_name="us-east-1").create_topic(Name="errors")["TopicArn"]
    seen = set()
    while not stop.is_set():
        for region, bucket in buckets:
            s3 = session.client("s3", region_name=region)
            ingest = handler.Ingest(
                handler.Settings(
                    {"ERROR_TOPIC_ARN": topic, "MAX_BYTES": "100000", "ALLOWED_TYPES": "application/json"}
                ),
                s3=s3,
                sns=session.client("sns", region_name="us-east-1"),
            )
            for item in s3.list_object_versions(Bucket=bucket, Prefix="incoming/").get("Versions", []):
                if item["VersionId"] in seen:
                    continue
                seen.add(item["VersionId"])
                handler.handle(
                    {
                        "Records": [
                            {
                                "eventSource": "aws:s3",
                                "eventName": "ObjectCreated:Put",
                                "s3": {
                                    "bucket": {"name": bucket},
                                    "object": {"key": item["Key"], "versionId": item["VersionId"]},
                                },
                            }
                        ]
                    },
                    "smoke",
                    ingest,
                )
        time.sleep(0.2)


def smoke_run(config, session, outputs, front, **kwargs):
    address, context = front
    settings = {"resolve": {VIEWER: address}, "context": context, "timeout": 30, "poll": 0.2, **kwargs}
    return {c.name: c for c in Smoke(config, config.environments["dev"], REGIONS, outputs, session, **settings).run()}


DATABASE = "{region}: database (/ready on an instance, SSM)"
HEALTH = "{region}: Route 53 health check"
VIEWER_CHECK = f"https://{VIEWER}{webapp.HEALTH_PATH} (CloudFront)"


def test_a_working_environment_passes_and_the_probes_are_cleaned_up(
    default_config, aws_env, database, front, emulator, stack
):
    outputs = deployed(aws_env, default_config, database, emulator, front[0], stack)
    stop = threading.Event()
    buckets = [(r, outputs[f"dev-{r}"]["ingest_bucket_name"]) for r in REGIONS]
    worker = threading.Thread(target=run_ingest_function, args=(aws_env, buckets, stop), daemon=True)
    worker.start()
    try:
        checks = smoke_run(default_config, aws_env, outputs, front)
    finally:
        stop.set()
        worker.join(5)
    failed = [(c.name, c.detail) for c in checks.values() if not c.ok]
    assert not failed, failed
    assert len(checks) == 4 * len(REGIONS) + 1
    writer, replica = (checks[DATABASE.format(region=r)].detail for r in (WRITER, REPLICA))
    assert writer.startswith("writer, as the stack says; i-"), writer
    assert json.loads(writer.split(f"{webapp.READY_PATH} 200 ", 1)[1]) == {
        "status": "ready",
        "checks": {"database": "ok"},
        "role": "writer",
        "lag_seconds": None,
    }, writer
    assert re.match(r"replica, as the stack says; lag \d+(\.\d+)? s; i-", replica), replica
    body = json.loads(replica.split(f"{webapp.READY_PATH} 200 ", 1)[1])
    assert body["role"] == "replica" and isinstance(body["lag_seconds"], int | float), body
    for region in REGIONS:
        assert "healthy for 3 of 3 checkers" in checks[HEALTH.format(region=region)].detail
        alarms = checks[f"{region}: alarms"].detail
        assert alarms.startswith(f"{len(ALARMS)} alarms present, and dev-{region}-origin-unhealthy-a1 in us-east-1")
    for region, bucket in buckets:
        versions = aws_env.client("s3", region_name=region).list_object_versions(Bucket=bucket)
        assert not versions.get("Versions") and not versions.get("DeleteMarkers"), "probe objects removed"


def test_a_broken_environment_fails_with_one_line_reasons(default_config, aws_env, database, front, emulator, stack):
    outputs = deployed(aws_env, default_config, database, emulator, front[0], stack)
    emulator.stand_ins.webapps[(ACCOUNT, "us-east-1")] = (webapp.PORT, free_port())  # the webapp is down
    broken = stack.enter_context(
        closing_server(
            webapp_server(aws_env, "us-west-2", None, free_port())  # the database is down
        )
    )
    emulator.stand_ins.webapps[(ACCOUNT, "us-west-2")] = (webapp.PORT, broken.server_address[1])
    del emulator.stand_ins.endpoints["us-west-2.origin.dev.example.com"]  # the health checkers get no answer
    HealthFront.statuses[VIEWER] = 502  # CloudFront finds no healthy origin
    aws_env.client("cloudwatch", region_name="us-east-1").delete_alarms(
        AlarmNames=["dev-us-east-1-alb-5xx-a1", "dev-us-east-1-origin-unhealthy-a1"]
    )
    checks = smoke_run(default_config, aws_env, outputs, front, timeout=0.5, poll=0.1)
    for check in checks.values():
        assert "\n" not in check.detail and len(check.detail) <= 300, check
    assert not checks["us-east-1: ingest"].ok and "no manifest" in checks["us-east-1: ingest"].detail
    down = checks[DATABASE.format(region="us-east-1")]
    assert not down.ok and "Failed (exit 7)" in down.detail and "curl: (7)" in down.detail, down
    no_db = checks[DATABASE.format(region="us-west-2")]
    assert not no_db.ok and f"{webapp.READY_PATH} answered 503" in no_db.detail, no_db
    assert checks[HEALTH.format(region="us-east-1")].ok
    unhealthy = checks[HEALTH.format(region="us-west-2")]
    assert not unhealthy.ok and "is unhealthy: 3 of 3 checkers fail" in unhealthy.detail, unhealthy
    assert checks["us-east-1: alarms"].detail == (
        "missing alarms: dev-us-east-1-alb-5xx-a1, dev-us-east-1-origin-unhealthy-a1 (us-east-1, the hosted zone's "
        "account)"
    )
    assert checks["us-west-2: alarms"].ok
    viewer = checks[VIEWER_CHECK]
    assert not viewer.ok and viewer.detail == "CloudFront answered HTTP 502, expected 200: no healthy origin?"


def hanging_server(stack):
    """Accepts connections and never answers (a stuck webapp)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stack.callback(listener.close)
    return listener.getsockname()[1]


def test_an_ssm_command_that_times_out_on_the_instance(
    default_config, aws_env, database, front, emulator, stack, monkeypatch
):
    outputs = deployed(aws_env, default_config, database, emulator, front[0], stack)
    emulator.stand_ins.webapps[(ACCOUNT, "us-east-1")] = (webapp.PORT, hanging_server(stack))
    monkeypatch.setattr(smoke, "COMMAND_SECONDS", 1)  # the agent's executionTimeout ends the script
    probe = Smoke(default_config, default_config.environments["dev"], REGIONS, outputs, aws_env, timeout=20, poll=0.2)
    with pytest.raises(
        smoke.SmokeFailure,
        match=r"^SSM command \S+ on i-\w+ TimedOut \(exit -1\): "
        r"execution timed out after 1 s$",
    ):
        probe.ready("us-east-1", outputs["dev-us-east-1"])


def test_an_ssm_command_still_running_at_the_deadline(default_config, aws_env, database, front, emulator, stack):
    outputs = deployed(aws_env, default_config, database, emulator, front[0], stack)
    emulator.stand_ins.webapps[(ACCOUNT, "us-east-1")] = (webapp.PORT, hanging_server(stack))
    probe = Smoke(default_config, default_config.environments["dev"], REGIONS, outputs, aws_env, timeout=0.5, poll=0.1)
    with pytest.raises(smoke.SmokeFailure, match=r"still InProgress after 0 s: is the SSM agent online\?"):
        probe.ready("us-east-1", outputs["dev-us-east-1"])


def test_no_running_instance_and_no_health_check(default_config, aws_env, database, front, emulator, stack):
    outputs = deployed(aws_env, default_config, database, emulator, front[0], stack)
    autoscaling = aws_env.client("autoscaling", region_name="us-east-1")
    asg = outputs["dev-us-east-1"]["asg_name"]
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=asg, MinSize=0, MaxSize=0, DesiredCapacity=0)
    probe = Smoke(default_config, default_config.environments["dev"], REGIONS, outputs, aws_env, timeout=5, poll=0.1)
    with pytest.raises(smoke.SmokeFailure, match=rf"^no running in-service instance in Auto Scaling group {asg}: "):
        probe.ready("us-east-1", outputs["dev-us-east-1"])
    route53 = aws_env.client("route53")
    for item in route53.list_health_checks()["HealthChecks"]:
        route53.delete_health_check(HealthCheckId=item["Id"])
    with pytest.raises(
        smoke.SmokeFailure,
        match=r"^no Route 53 health check tagged "
        r"Name=dev-us-east-1-origin-health-a1 ",
    ):
        probe.health_check("us-east-1")


def test_smoke_never_connects_to_a_load_balancer_or_database(
    default_config, aws_env, database, front, emulator, stack, monkeypatch
):
    """Operators have no route to them: any attempt would time out against a correct deployment.
    Every load balancer, origin and database name is pointed (--resolve) at a trap that counts
    connections, and every name lookup and connect in this process is recorded."""
    outputs = deployed(aws_env, default_config, database, emulator, front[0], stack)
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(8)
    trap.settimeout(0.2)
    stack.callback(trap.close)
    env = default_config.environments["dev"]
    forbidden = {env.origin_domain} | {env.regional_origin_domain(r) for r in REGIONS}
    for values in outputs.values():
        forbidden |= {values["alb_dns_name"], values["db_endpoint"].rpartition(":")[0]}
    looked_up, connected = [], []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, *a, **k: looked_up.append(host) or real_getaddrinfo(host, *a, **k)
    )
    monkeypatch.setattr(
        socket.socket, "connect", lambda self, address: connected.append(address) or real_connect(self, address)
    )
    address, context = front
    resolve = {VIEWER: address, **{name: trap.getsockname() for name in forbidden}}
    checks = Smoke(
        default_config, env, REGIONS, outputs, aws_env, resolve=resolve, context=context, timeout=0.5, poll=0.1
    ).run()
    assert checks[-1].ok and checks[-1].name == VIEWER_CHECK
    assert not forbidden & set(looked_up), "smoke looked up a load balancer or database name"
    assert trap.getsockname() not in connected, "smoke connected to a load balancer or database address"
    with pytest.raises(TimeoutError):
        trap.accept()


def test_doctor_reports_each_check(default_config, aws_env, tmp_path):
    results = {c.name: c for c in doctor.run(default_config, aws_env, tmp_path)}
    assert results["Python packages"].ok and "cdktf 0.21.0" in results["Python packages"].detail
    assert results["Node.js"].ok and results["Node.js"].detail.startswith("v24")
    assert results["AWS credentials"].ok
    assert results["dev: deploy role"].ok, "moto lets the role be assumed with the external id"
    assert results["State backend"].ok
    terraform = results["Terraform"]
    assert terraform.ok or "install Terraform >= 1.10" in terraform.detail
    assert not terraform.ok or "hashicorp/aws 5.100.0 from" in terraform.detail


def test_doctor_and_smoke_on_the_command_line(aws_env, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from main import cli

    folder = tmp_path / "bin"
    folder.mkdir()
    fake = FakeTerraform(folder)
    fake.behavior["outputs"] = {
        f"dev-{r}": {
            "ingest_bucket_name": "missing-bucket",
            "db_role": "writer" if r == WRITER else "replica",
            "db_endpoint": f"127.0.0.1:{free_port()}",
        }
        for r in REGIONS
    }
    fake.save()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    doctor_run = CliRunner().invoke(cli, ["doctor"])
    assert "Python packages" in doctor_run.stdout and "State backend" in doctor_run.stdout
    assert doctor_run.exit_code in (0, 1) and "Traceback" not in doctor_run.output
    smoke_run = CliRunner().invoke(cli, ["smoke", "--env", "dev", "--timeout", "1", "--out", str(tmp_path / "out")])
    assert smoke_run.exit_code == 1, smoke_run.output
    assert "FAIL" in smoke_run.stdout and "us-east-1: ingest" in smoke_run.stdout
    assert [s for s, step in fake.steps() if step == "output"] == ["dev-us-east-1", "dev-us-west-2"]


def test_smoke_acts_in_the_environment_account_through_the_providers_role(aws_env, default_config, monkeypatch):
    import boto3

    monkeypatch.delenv("AWS_DEFAULT_REGION")  # an operator's shell may have none

    from ops.access import environment_session

    env = default_config.environments["staging"]
    session = environment_session(default_config, env, boto3.Session())
    identity = session.client("sts", region_name="us-east-1").get_caller_identity()
    assert identity["Account"] == env.account_number
    assert f":assumed-role/{default_config.provider_role_name(env)}/" in identity["Arn"]


def test_smoke_finds_the_health_checks_by_the_name_the_stacks_tag_them_with(synthesized):
    """ops/smoke.py cannot import modules/dns_failover.py (cdktf) to share the service name, so this
    keeps the two in step: every synthesized health check is tagged with the name smoke looks for."""
    from support.tfjson import resources

    config = synthesized.config
    found = 0
    for stack_name, stack in synthesized.stacks.items():
        for body in resources(stack, "aws_route53_health_check").values():
            env_name, _, region = stack_name.partition("-")
            env = config.environments[env_name]
            assert body["tags"]["Name"] == config.namer(env, region).name(HEALTH_CHECK_SERVICE), stack_name
            found += 1
    assert found >= 2


def test_a_cancelling_command_is_waited_for_not_taken_as_its_outcome(default_config):
    """`Cancelling` is not a final state of GetCommandInvocation: smoke waits for the outcome."""

    class Fake:
        def __init__(self):
            self.statuses = ["InProgress", "Cancelling", "Cancelled"]

        def client(self, service, region_name):
            return self

        def describe_auto_scaling_groups(self, AutoScalingGroupNames):
            return {"AutoScalingGroups": [{"Instances": [{"InstanceId": "i-0abc", "LifecycleState": "InService"}]}]}

        def describe_instances(self, InstanceIds, Filters):
            return {"Reservations": [{"Instances": [{"InstanceId": "i-0abc"}]}]}

        def send_command(self, **kwargs):
            return {"Command": {"CommandId": "c-1"}}

        def get_command_invocation(self, CommandId, InstanceId):
            return {"Status": self.statuses.pop(0), "StandardOutputContent": "", "ResponseCode": -1}

    fake = Fake()
    probe = Smoke(
        default_config, default_config.environments["dev"], REGIONS, {}, fake, timeout=60, sleep=lambda seconds: None
    )
    with pytest.raises(smoke.SmokeFailure, match=r"^SSM command c-1 on i-0abc Cancelled "):
        probe.ready("us-east-1", {"asg_name": "dev-web", "db_role": "writer"})
    assert not fake.statuses, "every status was read up to the final one"


def test_a_role_other_than_the_stacks_db_role_fails(default_config, aws_env, database, front, emulator, stack):
    """After a failover the stacks do not know of (or a stale output), smoke says which region's
    database contradicts db_role; the regions that agree still pass."""
    outputs = deployed(aws_env, default_config, database, emulator, front[0], stack)
    outputs[f"dev-{REPLICA}"]["db_role"] = "writer"
    probe = Smoke(default_config, default_config.environments["dev"], REGIONS, outputs, aws_env, timeout=20, poll=0.1)
    assert probe.ready(WRITER, outputs[f"dev-{WRITER}"]).startswith("writer, as the stack says")
    with pytest.raises(
        smoke.SmokeFailure, match=r"^i-\w+: the database is a replica but the stack's db_role is writer: "
    ):
        probe.ready(REPLICA, outputs[f"dev-{REPLICA}"])
    outputs[f"dev-{WRITER}"]["db_role"] = "replica"
    with pytest.raises(smoke.SmokeFailure, match=r"the database is a writer but the stack's db_role is replica"):
        probe.ready(WRITER, outputs[f"dev-{WRITER}"])
    del outputs[f"dev-{WRITER}"]["db_role"]
    with pytest.raises(smoke.SmokeFailure, match=r"^the stack has no output 'db_role'"):
        probe.ready(WRITER, outputs[f"dev-{WRITER}"])


def test_the_writer_region_is_probed_first_so_its_instances_create_the_role(
    default_config, aws_env, front, emulator, stack
):
    """A fresh deployment: the application's role does not exist yet, the writer's webapp creates
    it with the bootstrap secret and the replica gets it by replication. Given the replica first,
    smoke still asks the writer first, so a fresh deployment passes."""
    servers = stack.enter_context(writer_and_replica())
    outputs = deployed(aws_env, default_config, servers, emulator, front[0], stack)
    checks = Smoke(
        default_config,
        default_config.environments["dev"],
        list(reversed(REGIONS)),
        outputs,
        aws_env,
        resolve={VIEWER: front[0]},
        context=front[1],
        timeout=20,
        poll=0.1,
    ).run()
    names = [c.name for c in checks]
    assert names.index(DATABASE.format(region=WRITER)) < names.index(DATABASE.format(region=REPLICA))
    by_name = {c.name: c for c in checks}
    assert by_name[DATABASE.format(region=WRITER)].ok, by_name[DATABASE.format(region=WRITER)]
    assert by_name[DATABASE.format(region=REPLICA)].ok, by_name[DATABASE.format(region=REPLICA)]


@pytest.mark.parametrize(
    ("body", "expected", "answer"),
    [
        ('{"status": "ready", "role": "writer", "lag_seconds": null}', "writer", "writer, as the stack says"),
        ('{"role": "replica", "lag_seconds": 0.25}', "replica", "replica, as the stack says; lag 0.25 s"),
        ('{"role": "replica", "lag_seconds": null}', "replica", "replica, as the stack says; lag unknown"),
    ],
)
def test_the_role_and_lag_are_read_from_the_ready_body(body, expected, answer):
    assert smoke.database_role("i-1", body, expected).startswith(answer)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"status": "ready", "checks": {"database": "ok"}}', "names no database role"),
        ("not json", "names no database role"),
        ('{"role": "primary"}', "names no database role"),
        ('{"role": "replica", "lag_seconds": "soon"}', "lag_seconds is not a number"),
    ],
)
def test_a_ready_body_without_a_usable_role_fails(body, message):
    with pytest.raises(smoke.SmokeFailure, match=message):
        smoke.database_role("i-1", body, "replica")


@pytest.mark.parametrize(("checking", "expected"), [(2, "HTTP 200"), (50, "HTTP 503")])
def test_the_probe_asks_again_while_a_check_is_in_progress(checking, expected):
    """/ready answers "checking" when a check in progress (the start-up warm-up's) outlasts its
    bounded wait; the instance's probe asks again instead of reporting that as the region's answer, and gives up
    after READY_TRIES with the last answer."""
    import subprocess
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked = []

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            busy = len(asked) <= checking
            body = json.dumps(
                {"status": "not ready" if busy else "ready", "checks": {"database": "checking" if busy else "ok"}}
            )
            self.send_response(503 if busy else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = smoke.ready_script(server.server_address[1], tries=4)
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected
    assert len(asked) == min(checking + 1, 4) and set(asked) == {webapp.READY_PATH}


def test_the_probe_retries_fit_in_the_command_timeout():
    """Every "checking" answer comes at once, so the tries cost a second each; one slow answer is
    cut off by curl. The agent must not end the script first."""
    assert smoke.READY_TRIES * 1 + smoke.CURL_SECONDS < smoke.COMMAND_SECONDS
    assert f"--max-time {smoke.CURL_SECONDS} " in smoke.ready_script()
