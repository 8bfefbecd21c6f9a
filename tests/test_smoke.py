"""D4: the smoke test against moto in server mode (AWS_ENDPOINT_URL, the standard setting), a real
local PostgreSQL and a local HTTPS server, so the same code runs against AWS."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from test_ingest_handler import load_handler
from test_readiness import Postgres, free_port

import webapp
from ops import doctor
from ops.smoke import ALARMS, Smoke

REGIONS = ["us-east-1", "us-west-2"]
NAMES = ["app.dev.example.com", "us-east-1.origin.dev.example.com", "us-west-2.origin.dev.example.com"]


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):
    aws_server = moto_endpoint
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{aws_server}/moto-api/reset", method="POST"))  # a clean account
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.Session()


@pytest.fixture(scope="module")
def database():
    server = Postgres()
    server.start()
    server.sql("CREATE ROLE app_admin LOGIN PASSWORD 'rds-managed'")
    server.sql("CREATE DATABASE app OWNER app_admin")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=smoke",
                    "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in NAMES),
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            status = 200 if self.path == webapp.HEALTH_PATH else 404
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = ssl.create_default_context(cafile=str(cert))
    yield {name: ("127.0.0.1", server.server_address[1]) for name in NAMES}, client
    server.shutdown()


def deployed(session, config, database):
    """What a deploy leaves behind, per region: the ingest bucket, the RDS secret, the alarms."""
    env = config.environments["dev"]
    outputs = {}
    for region in REGIONS:
        namer = config.namer(env, region)
        bucket = namer.bucket("ingest", env.account_id)
        s3 = session.client("s3", region_name=region)
        s3.create_bucket(Bucket=bucket, **({} if region == "us-east-1" else
                                           {"CreateBucketConfiguration": {"LocationConstraint": region}}))
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        secret = session.client("secretsmanager", region_name=region).create_secret(
            Name=f"rds-{region}-{os.urandom(3).hex()}",
            SecretString=json.dumps({"username": "app_admin", "password": "rds-managed"}))["ARN"]
        cloudwatch = session.client("cloudwatch", region_name=region)
        for alarm in ALARMS:
            cloudwatch.put_metric_alarm(AlarmName=namer.name(alarm, "alarm"), MetricName="CPUUtilization",
                                        Namespace="AWS/EC2", Statistic="Average", Period=60, EvaluationPeriods=1,
                                        Threshold=90, ComparisonOperator="GreaterThanThreshold")
        outputs[f"dev-{region}"] = {"ingest_bucket_name": bucket, "db_secret_arn": secret,
                                    "db_endpoint": f"127.0.0.1:{database.port}"}
    return outputs


def run_ingest_function(session, buckets, stop):
    """Stands in for the S3 notification: runs the real handler on every new incoming/ object."""
    handler = load_handler()
    topic = session.client("sns", region_name="us-east-1").create_topic(Name="errors")["TopicArn"]
    seen = set()
    while not stop.is_set():
        for region, bucket in buckets:
            s3 = session.client("s3", region_name=region)
            ingest = handler.Ingest(handler.Settings({"ERROR_TOPIC_ARN": topic, "MAX_BYTES": "100000",
                                                      "ALLOWED_TYPES": "application/json"}), s3=s3,
                                    sns=session.client("sns", region_name="us-east-1"))
            for item in s3.list_object_versions(Bucket=bucket, Prefix="incoming/").get("Versions", []):
                if item["VersionId"] in seen:
                    continue
                seen.add(item["VersionId"])
                handler.handle({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {
                    "bucket": {"name": bucket}, "object": {"key": item["Key"], "versionId": item["VersionId"]}}}]},
                    "smoke", ingest)
        time.sleep(0.2)


def test_a_working_environment_passes_and_the_probes_are_cleaned_up(default_config, aws_env, database,
                                                                     https_server):
    resolve, context = https_server
    outputs = deployed(aws_env, default_config, database)
    stop = threading.Event()
    buckets = [(r, outputs[f"dev-{r}"]["ingest_bucket_name"]) for r in REGIONS]
    worker = threading.Thread(target=run_ingest_function, args=(aws_env, buckets, stop), daemon=True)
    worker.start()
    try:
        checks = Smoke(default_config, default_config.environments["dev"], REGIONS, outputs, aws_env,
                       resolve=resolve, context=context, timeout=30, poll=0.2).run()
    finally:
        stop.set()
        worker.join(5)
    failed = [(c.name, c.detail) for c in checks if not c.ok]
    assert not failed, failed
    assert len(checks) == 4 * len(REGIONS) + 1
    for region, bucket in buckets:
        versions = aws_env.client("s3", region_name=region).list_object_versions(Bucket=bucket)
        assert not versions.get("Versions") and not versions.get("DeleteMarkers"), "probe objects removed"


def test_a_broken_environment_fails_with_reasons(default_config, aws_env, database, https_server):
    resolve, context = https_server
    outputs = deployed(aws_env, default_config, database)
    outputs["dev-us-west-2"]["db_endpoint"] = f"127.0.0.1:{free_port()}"  # database down
    aws_env.client("cloudwatch", region_name="us-east-1").delete_alarms(AlarmNames=["dev-us-east-1-alb-5xx-a1"])
    resolve = dict(resolve)
    del resolve["app.dev.example.com"]  # the viewer name does not resolve here
    checks = {c.name: c for c in Smoke(default_config, default_config.environments["dev"], REGIONS, outputs, aws_env,
                                       resolve=resolve, context=context, timeout=0.5, poll=0.1).run()}
    assert not checks["us-east-1: ingest"].ok and "no manifest" in checks["us-east-1: ingest"].detail
    assert not checks["us-west-2: database"].ok and "unreachable" in checks["us-west-2: database"].detail
    assert checks["us-east-1: database"].ok
    assert not checks["us-east-1: alarms"].ok and "dev-us-east-1-alb-5xx-a1" in checks["us-east-1: alarms"].detail
    assert checks["us-west-2: alarms"].ok
    viewer = checks[f"https://app.dev.example.com{webapp.HEALTH_PATH}"]
    assert not viewer.ok


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
    from test_ops import FakeTerraform
    from typer.testing import CliRunner

    from main import cli

    folder = tmp_path / "bin"
    folder.mkdir()
    fake = FakeTerraform(folder)
    fake.behavior["outputs"] = {f"dev-{r}": {"ingest_bucket_name": "missing-bucket", "db_secret_arn": "missing",
                                              "db_endpoint": f"127.0.0.1:{free_port()}"} for r in REGIONS}
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

    from ops.smoke import environment_session

    env = default_config.environments["staging"]
    session = environment_session(default_config, env, boto3.Session())
    identity = session.client("sts", region_name="us-east-1").get_caller_identity()
    assert identity["Account"] == env.account_id
    assert f":assumed-role/{default_config.provider_role_name(env)}/platform-smoke" in identity["Arn"]
