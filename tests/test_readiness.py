"""R11: the webapp's readiness path against a real PostgreSQL (TLS only): IAM database
authentication (the token signed locally, checked against botocore's), the bootstrap of the
application's role with the master credentials from a Secrets Manager served by moto, and the
database's role and lag on a real streaming standby, before and after its promotion.
`.ci/run` installs Debian's PostgreSQL when the machine lacks it.

Runs twice: here, and on Amazon Linux 2023's Python 3.9 (tests/test_runtimes_real.py, which
passes its moto server in WEBAPP_TEST_MOTO_ENDPOINT), so it needs only pytest and boto3."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.session
import pytest
from support.postgres import free_port, postgres_with_database, promote, select, standby_of, wait_for
from support.webapp_server import request, running

from webapp import aws, database

REGION = "us-east-1"
NOW = datetime.datetime(2026, 5, 4, 3, 2, 1, tzinfo=datetime.timezone.utc)
MASTER, MASTER_PASSWORD = "master", "master-password"
USER = "webapp"  # config/facts.py DATABASE_APP_USER (the tests also run where config/ is not importable)


def token_for(port, user=USER):
    """The token the webapp signs at NOW with the test credentials: the role's password here,
    since a plain PostgreSQL does not validate IAM tokens as RDS does."""
    return aws.db_auth_token("127.0.0.1", port, user, REGION, aws.Credentials("testing", "testing"), NOW)


@pytest.fixture(scope="module")
def postgres():
    """The writer: database `app` owned by the master user (CREATEROLE, as on RDS), the
    application's role already there with the token as its password, and a table to write to."""
    with postgres_with_database(MASTER, MASTER_PASSWORD) as server:
        server.sql(f"ALTER ROLE {MASTER} CREATEROLE")
        server.sql("CREATE ROLE rds_iam")  # RDS's role for IAM logins (absent from a plain server)
        server.sql(f"CREATE ROLE {USER} LOGIN PASSWORD '{token_for(server.port)}'")
        server.sql("CREATE TABLE IF NOT EXISTS writes (at timestamptz)")
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
    """What the writer's region sets (stacks/regional.py), pointed at the test server and moto."""
    client, endpoint = secrets
    name = "bootstrap-" + os.urandom(4).hex()
    secret = json.dumps({"username": MASTER, "password": MASTER_PASSWORD})
    arn = client.create_secret(Name=name, SecretString=secret)["ARN"]
    return {
        "PATH": os.environ["PATH"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "WEBAPP_AWS_ENDPOINT_URL": endpoint,
        "WEBAPP_REGION": REGION,
        "WEBAPP_DB_BOOTSTRAP_SECRET_ARN": arn,
        "WEBAPP_DB_HOST": "127.0.0.1",
        "WEBAPP_DB_PORT": str(postgres.port),
        "WEBAPP_DB_NAME": "app",
        "WEBAPP_DB_USER": USER,
    }


def writer_check(environ, **kwargs):
    return database.PostgresCheck(environ, now=lambda: NOW, **kwargs)


def test_the_writer_reports_writer_connecting_with_an_iam_token(environ):
    assert isinstance(database.from_environment(environ), database.PostgresCheck)
    assert writer_check(environ).status() == database.Status(True, "ok", "writer", None)


def test_ready_over_http_with_the_role(environ):
    with running(writer_check(environ)) as (port, _):
        response, data = request(port, "GET", "/ready")
    assert response.status == 200
    assert json.loads(data) == {"status": "ready", "checks": {"database": "ok"}, "role": "writer", "lag_seconds": None}


def test_the_token_is_what_botocore_signs():
    """Same credentials, same clock (botocore's own, read back from its token): the same token."""
    for session_token in (None, "session/token+=="):
        session = botocore.session.get_session()
        session.set_credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token)
        client = session.create_client("rds", region_name="eu-west-1")
        host = "app.abc123.eu-west-1.rds.amazonaws.com"
        expected = client.generate_db_auth_token(host, 5432, USER, Region="eu-west-1")
        signed_at = parse_qs(urlsplit("https://" + expected).query)["X-Amz-Date"][0]
        now = datetime.datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        creds = aws.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token)
        assert aws.db_auth_token(host, 5432, USER, "eu-west-1", creds, now) == expected
    assert "X-Amz-Expires=900&" in expected and "X-Amz-Security-Token=session%2Ftoken%2B%3D%3D&" in expected


def test_the_bootstrap_creates_the_role_once_and_idempotently(environ, postgres, monkeypatch):
    """A role the writer does not have yet: created with LOGIN, rds_iam and CONNECT, by the
    master credentials read once per process; running it again (another instance) changes nothing."""
    user = "fresh_" + os.urandom(3).hex()
    environ["WEBAPP_DB_USER"] = user
    reads = []
    original = aws.get_secret_string
    monkeypatch.setattr(aws, "get_secret_string", lambda *a: reads.append(a[0]) or original(*a))
    check = writer_check(environ)
    assert check.status() == database.Status(False, "authentication failed")  # no token password: not RDS
    assert select(postgres, f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{user}'") == "t"
    assert select(postgres, f"SELECT pg_has_role('{user}', 'rds_iam', 'member')") == "t"
    assert select(postgres, f"SELECT has_database_privilege('{user}', 'app', 'CONNECT')") == "t"
    postgres.sql(f"ALTER ROLE {user} PASSWORD '{token_for(postgres.port, user)}'")
    assert check.status().ok
    assert reads == [environ["WEBAPP_DB_BOOTSTRAP_SECRET_ARN"]], "once per process"
    assert writer_check(environ).status() == database.Status(True, "ok", "writer"), "again: no error"
    assert (
        select(
            postgres,
            f"SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = '{user}'",
        )
        == "1"
    )


def test_a_failed_bootstrap_is_a_clear_not_ready(environ, secrets, monkeypatch):
    client, _ = secrets
    environ["WEBAPP_DB_USER"] = "never_" + os.urandom(3).hex()
    secret = json.dumps({"username": MASTER, "password": "wrong-master-password"})
    client.put_secret_value(SecretId=environ["WEBAPP_DB_BOOTSTRAP_SECRET_ARN"], SecretString=secret)
    with running(writer_check(environ)) as (port, logs):
        response, data = request(port, "GET", "/ready")
    assert response.status == 503
    assert json.loads(data)["checks"] == {"database": "bootstrap failed: authentication failed"}
    assert "wrong-master-password" not in data.decode() + logs.getvalue()


def test_a_missing_bootstrap_secret_is_a_clear_not_ready(environ):
    environ["WEBAPP_DB_USER"] = "never_" + os.urandom(3).hex()
    environ["WEBAPP_DB_BOOTSTRAP_SECRET_ARN"] += "-gone"
    ok, detail = writer_check(environ).check()
    assert not ok and detail.startswith(
        "bootstrap failed: master credentials unavailable: Secrets Manager refused the request"
    )


def test_a_failed_bootstrap_does_not_block_a_role_that_connects(environ, secrets):
    """The role came by replication or from an earlier instance: a Secrets Manager outage is no
    reason to take the writer's instances out of service."""
    environ["WEBAPP_DB_BOOTSTRAP_SECRET_ARN"] += "-gone"
    assert writer_check(environ).status() == database.Status(True, "ok", "writer")


def test_without_a_bootstrap_secret_no_secret_is_read(environ, monkeypatch):
    del environ["WEBAPP_DB_BOOTSTRAP_SECRET_ARN"]
    monkeypatch.setattr(aws, "get_secret_string", lambda *a: pytest.fail("read a secret"))
    assert writer_check(environ).status() == database.Status(True, "ok", "writer")


def test_a_refused_token_is_signed_again_once(environ):
    tokens = iter(["expired-token", token_for(int(environ["WEBAPP_DB_PORT"]))])
    check = writer_check(environ, token=lambda: next(tokens))
    assert check.status().ok, "the refused token is replaced"


def test_a_host_that_is_down_is_a_clear_not_ready(environ):
    del environ["WEBAPP_DB_BOOTSTRAP_SECRET_ARN"]
    environ["WEBAPP_DB_PORT"] = str(free_port())
    ok, detail = writer_check(environ).check()
    assert not ok and detail.startswith("unreachable: ")
    assert "X-Amz-Signature" not in detail


def test_the_connection_is_tls(environ):
    environ["WEBAPP_DB_SSLMODE"] = "disable"  # the server admits hostssl only
    ok, detail = writer_check(environ).check()
    assert not ok and "unreachable" in detail


def test_the_query_runs_read_only(environ, monkeypatch):
    """The check's session is read-only: it could not write even if its query tried to."""
    del environ["WEBAPP_DB_BOOTSTRAP_SECRET_ARN"]
    recorded = {}
    original = subprocess.run

    def spy(args, **kwargs):
        recorded.update(kwargs["env"])
        return original(args, **kwargs)

    monkeypatch.setattr(database.subprocess, "run", spy)
    assert writer_check(environ).check() == (True, "ok")
    assert recorded["PGOPTIONS"] == "-c default_transaction_read_only=on"
    assert recorded["PGSSLMODE"] == "require" and recorded["PGUSER"] == USER
    assert recorded["PGPASSWORD"] == token_for(int(environ["WEBAPP_DB_PORT"]))
    done = original(
        ["psql", "-X", "-w", "-tAc", "CREATE TABLE nope (id int)"], env=recorded, capture_output=True, text=True
    )
    assert done.returncode != 0 and "read-only transaction" in done.stderr


def replica_lsns(standby):
    return select(standby, "SELECT pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()")


def test_a_standby_reports_replica_and_its_lag_then_writer_once_promoted(environ, postgres):
    """A real streaming standby: replica with lag 0 while it has replayed all it received, a
    positive lag while replay trails, 0 again once it caught up, and writer after promotion;
    ready throughout. The role and its password arrived by replication."""
    with standby_of(postgres) as standby:
        environ["WEBAPP_DB_PORT"] = str(standby.port)
        primary_token = token_for(postgres.port)  # the replicated password (a token for the primary)
        check = writer_check(environ, token=lambda: primary_token)  # the standby is read-only: no bootstrap
        select(postgres, "INSERT INTO writes VALUES (now()) RETURNING 1")
        wait_for(lambda: select(standby, "SELECT count(*) FROM writes") != "0", "the standby to replay")
        assert check.status() == database.Status(True, "ok", "replica", 0.0)
        with running(check) as (port, _):
            response, data = request(port, "GET", "/ready")
        assert response.status == 200
        assert json.loads(data) == {
            "status": "ready",
            "checks": {"database": "ok"},
            "role": "replica",
            "lag_seconds": 0,
        }

        select(standby, "SELECT pg_wal_replay_pause()")
        time.sleep(1.2)
        select(postgres, "INSERT INTO writes VALUES (now()) RETURNING 1")
        wait_for(lambda: replica_lsns(standby) == "f", "WAL received but not replayed")
        lagging = check.status()
        assert lagging.ok and lagging.role == "replica" and lagging.lag_seconds >= 1.0, lagging

        select(standby, "SELECT pg_wal_replay_resume()")
        wait_for(lambda: replica_lsns(standby) == "t", "the standby to catch up")
        assert check.status() == database.Status(True, "ok", "replica", 0.0)

        promote(standby)
        wait_for(lambda: select(standby, "SELECT pg_is_in_recovery()") == "f", "the promotion")
        assert check.status() == database.Status(True, "ok", "writer", None)


def test_a_replica_lag_is_never_negative():
    assert database.parse_status("t|-0.004") == database.Status(True, "ok", "replica", 0.0)
    assert database.parse_status("t|") == database.Status(True, "ok", "replica", None)
    assert database.parse_status("f|") == database.Status(True, "ok", "writer", None)
    assert not database.parse_status("nonsense").ok


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        ({}, "not configured"),
        ({"WEBAPP_DB_HOST": "db"}, "misconfigured: WEBAPP_DB_NAME, WEBAPP_DB_USER, WEBAPP_REGION missing"),
        (
            {"WEBAPP_DB_HOST": "db", "WEBAPP_DB_NAME": "app", "WEBAPP_DB_USER": "Web App", "WEBAPP_REGION": "r"},
            "misconfigured: WEBAPP_DB_USER must be a lower-case PostgreSQL role name",
        ),
        (
            {
                "WEBAPP_DB_HOST": "db",
                "WEBAPP_DB_NAME": "app",
                "WEBAPP_DB_USER": "webapp",
                "WEBAPP_REGION": "r",
                "WEBAPP_DB_PORT": "x",
            },
            "misconfigured: WEBAPP_DB_PORT must be a port number",
        ),
    ],
)
def test_incomplete_settings_report_what_is_missing(environment, reason):
    assert database.from_environment(environment).check() == (False, reason)


def test_a_secret_that_is_not_rds_json_is_a_clear_error():
    for bad in ("not json", "[]", '{"username": "a"}'):
        with pytest.raises(aws.AwsError, match="not RDS credentials JSON"):
            aws.parse_credentials(bad)


def test_a_token_needs_a_host_and_a_region():
    with pytest.raises(aws.AwsError, match="needs the database host and its region"):
        aws.db_auth_token("", 5432, USER, REGION, aws.Credentials("a", "b"), NOW)


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
