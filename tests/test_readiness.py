"""R11: the webapp's readiness path against a real PostgreSQL (TLS only) and a Secrets Manager
served by moto. `.ci/run` installs Debian's PostgreSQL when the machine lacks it.

Runs twice: here, and on Amazon Linux 2023's Python 3.9 (tests/test_runtimes_real.py, which
passes its moto server in WEBAPP_TEST_MOTO_ENDPOINT), so it needs only pytest and boto3."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest
from support.postgres import free_port, postgres_with_database
from support.webapp_server import request, running

from webapp import aws, database

REGION = "us-east-1"


@pytest.fixture(scope="module")
def postgres():
    with postgres_with_database("app", "first-password") as server:
        yield server


@pytest.fixture
def secrets(request):
    endpoint = os.environ.get("WEBAPP_TEST_MOTO_ENDPOINT") or request.getfixturevalue("moto_endpoint")
    client = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client, endpoint


@pytest.fixture
def environ(postgres, secrets):
    client, endpoint = secrets
    name = "db-" + os.urandom(4).hex()
    arn = client.create_secret(Name=name, SecretString=json.dumps({"username": "app", "password": "first-password"}))[
        "ARN"
    ]
    return {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "WEBAPP_AWS_ENDPOINT_URL": endpoint,
        "WEBAPP_REGION": REGION,
        "WEBAPP_DB_SECRET_ARN": arn,
        "WEBAPP_DB_HOST": "127.0.0.1",
        "WEBAPP_DB_PORT": str(postgres.port),
        "WEBAPP_DB_NAME": "app",
    }


def test_ready_when_the_database_answers_over_tls(environ):
    check = database.from_environment(environ)
    assert isinstance(check, database.PostgresCheck)
    assert check.check() == (True, "ok")


def test_ready_over_http(environ):
    with running(database.from_environment(environ)) as (port, _):
        response, data = request(port, "GET", "/ready")
    assert response.status == 200
    assert json.loads(data) == {"status": "ready", "checks": {"database": "ok"}}


def test_a_wrong_password_is_a_clear_not_ready(environ, secrets):
    client, _ = secrets
    client.put_secret_value(
        SecretId=environ["WEBAPP_DB_SECRET_ARN"], SecretString=json.dumps({"username": "app", "password": "wrong"})
    )
    assert database.from_environment(environ).check() == (False, "authentication failed")


def test_a_host_that_is_down_is_a_clear_not_ready(environ):
    environ["WEBAPP_DB_PORT"] = str(free_port())
    ok, detail = database.from_environment(environ).check()
    assert not ok and detail.startswith("unreachable: ")
    assert "first-password" not in detail


def test_a_missing_secret_is_a_clear_not_ready(environ):
    environ["WEBAPP_DB_SECRET_ARN"] = environ["WEBAPP_DB_SECRET_ARN"] + "-gone"
    ok, detail = database.from_environment(environ).check()
    assert not ok and detail.startswith("credentials unavailable: Secrets Manager refused the request")


def test_rotation_is_picked_up_without_a_restart(environ, postgres, secrets):
    client, _ = secrets
    check = database.from_environment(environ)
    assert check.check() == (True, "ok")  # caches first-password
    postgres.sql("ALTER ROLE app PASSWORD 'second-password'")
    client.put_secret_value(
        SecretId=environ["WEBAPP_DB_SECRET_ARN"],
        SecretString=json.dumps({"username": "app", "password": "second-password"}),
    )
    try:
        assert check.check() == (True, "ok"), "the rejected cached password is fetched again"
    finally:
        postgres.sql("ALTER ROLE app PASSWORD 'first-password'")


def test_the_connection_is_tls(environ):
    environ["WEBAPP_DB_SSLMODE"] = "disable"  # the server admits hostssl only
    ok, detail = database.from_environment(environ).check()
    assert not ok and "unreachable" in detail


def test_the_query_runs_read_only(environ, monkeypatch):
    """The session is read-only: the check could not write even if its query tried to."""
    recorded = {}
    original = subprocess.run

    def spy(args, **kwargs):
        recorded.update(kwargs["env"])
        return original(args, **kwargs)

    monkeypatch.setattr(database.subprocess, "run", spy)
    assert database.from_environment(environ).check() == (True, "ok")
    assert recorded["PGOPTIONS"] == "-c default_transaction_read_only=on"
    assert recorded["PGSSLMODE"] == "require"
    done = original(
        ["psql", "-X", "-w", "-tAc", "CREATE TABLE nope (id int)"], env=recorded, capture_output=True, text=True
    )
    assert done.returncode != 0 and "read-only transaction" in done.stderr


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        ({}, "not configured"),
        ({"WEBAPP_DB_SECRET_ARN": "arn"}, "misconfigured: WEBAPP_DB_HOST, WEBAPP_DB_NAME, WEBAPP_REGION missing"),
    ],
)
def test_incomplete_settings_report_what_is_missing(environment, reason):
    assert database.from_environment(environment).check() == (False, reason)


def test_a_secret_that_is_not_rds_json_is_a_clear_error():
    for bad in ("not json", "[]", '{"username": "a"}'):
        with pytest.raises(aws.AwsError, match="not RDS credentials JSON"):
            aws.parse_credentials(bad)


def test_sigv4_matches_the_aws_documented_example():
    """AWS's published Signature Version 4 example (IAM ListUsers, 2015-08-30)."""
    creds = aws.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    headers = aws.sign(
        "GET",
        "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        b"",
        creds,
        "us-east-1",
        "iam",
        datetime.datetime(2015, 8, 30, 12, 36, 0, tzinfo=datetime.timezone.utc),
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )


def test_instance_credentials_come_from_imdsv2():
    seen = []

    class Imds(BaseHTTPRequestHandler):
        def do_PUT(self):
            seen.append(("PUT", self.path, self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")))
            self._send("token-123")

        def do_GET(self):
            seen.append(("GET", self.path, self.headers.get("X-aws-ec2-metadata-token")))
            if self.path.endswith("/security-credentials/"):
                self._send("web-role")
            else:
                self._send(json.dumps({"AccessKeyId": "AKIA", "SecretAccessKey": "s3cr3t", "Token": "tok"}))

        def _send(self, body):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Imds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        creds = aws.credentials({}, imds=f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
    assert creds == aws.Credentials("AKIA", "s3cr3t", "tok")
    assert seen[0] == ("PUT", "/latest/api/token", "21600")
    assert all(token == "token-123" for method, _, token in seen[1:])


def test_no_credentials_is_a_clear_error():
    with pytest.raises(aws.AwsError, match="no AWS credentials"):
        aws.credentials({}, imds=f"http://127.0.0.1:{free_port()}")
