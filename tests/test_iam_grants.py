"""Each role's synthesized policy admits exactly the AWS calls its code makes.

The calls are not a list typed here: the real code runs (the ingest handler against moto through
boto3; an instance's boot, whose user data fetches the webapp bundle from S3, against moto; the
webapp's readiness check against a loopback stand-in of Secrets Manager, each IAM database
authentication token it signs recorded as the pseudo-call rds-db.connect) and every call it makes
is recorded; tests/support/iam_eval.py maps each call to the IAM requests AWS authorizes for it
and evaluates them against the role's synthesized policies, the bucket policy and the key policy,
with references resolved to the names the stack gives them. So:
- a grant the code needs and the policy lacks fails here (every statement is removed in turn to
  prove the check notices), including S3's rule that a missing key answers 404 only to a caller
  with s3:ListBucket on the bucket (else 403, which made every new object end in the DLQ);
- a grant no call needs fails here too (least privilege);
- a new role that runs code from this repository fails here until its code paths are exercised.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import pytest
from moto import mock_aws
from support.handlers import load_handler
from support.iam_eval import (
    Call,
    Cond,
    Deployment,
    JsonApiStandIn,
    Policy,
    Recorder,
    Request,
    Stmt,
    decide,
    ref,
    requests_for,
    unused_grants,
)
from support.stack_names import REGIONAL
from support.synth import user_data

ROOT = Path(__file__).resolve().parents[1]
# Service principals whose roles run only AWS's own code (no code from this repository).
SERVICE_ONLY = {"vpc-flow-logs.amazonaws.com", "config.amazonaws.com", "monitoring.rds.amazonaws.com"}


def deployment(synthesized, name: str) -> Deployment:
    env = synthesized.config.environments[name.split("-")[0]]
    return Deployment(synthesized.stacks[name], env.account_number)


# --------------------------------------------------------------------------------------------------
# The ingest function


def ingest_function(d: Deployment) -> tuple[str, dict]:
    (item,) = d.resources("aws_lambda_function").items()
    return item


def ingest_bucket(d: Deployment, function_logical: str) -> str:
    """The bucket whose notifications invoke the function (read from the notification, not by name)."""
    for notification in d.resources("aws_s3_bucket_notification").values():
        if any(ref(f["lambda_function_arn"])[2] == function_logical for f in notification.get("lambda_function", [])):
            return d.resolve(notification["bucket"])
    raise AssertionError("no bucket notification invokes the function")


def event(bucket: str, key: str, version: str | None) -> dict:
    obj = {"key": quote_plus(key, safe="/"), "size": 1}
    if version:
        obj["versionId"] = version
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": obj},
            }
        ]
    }


def run_ingest(d: Deployment, monkeypatch) -> tuple[str, list[Call]]:
    """Runs the real handler entry point through every path (new, replayed, invalid, replayed
    invalid, and an event without a version id, which the handler supports for unversioned
    buckets) with the synthesized environment; returns (role ARN, calls)."""
    logical, function = ingest_function(d)
    environment = {k: d.resolve(v) for k, v in function["environment"]["variables"].items()}
    bucket = ingest_bucket(d, logical)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": d.region,
        "AWS_DEFAULT_REGION": d.region,
        "MOTO_ACCOUNT_ID": d.account,
        **environment,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    handler = load_handler("ingest_handler_iam")
    recorder = Recorder()
    with mock_aws():
        setup = boto3.session.Session(region_name=d.region)
        s3 = setup.client("s3")
        location = {} if d.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": d.region}}
        s3.create_bucket(Bucket=bucket, **location)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        topic = setup.client("sns").create_topic(Name=environment["ERROR_TOPIC_ARN"].rsplit(":", 1)[1])["TopicArn"]
        assert topic == environment["ERROR_TOPIC_ARN"], "moto's topic is the synthesized one"
        good_type = environment["ALLOWED_TYPES"].split(",")[0]

        def put(key: str, content_type: str) -> str:
            return s3.put_object(Bucket=bucket, Key=key, Body=b"id\n1\n", ContentType=content_type)["VersionId"]

        good, bad = put("incoming/data 1.csv", good_type), put("incoming/bad.bin", "application/x-msdownload")
        put("incoming/plain.csv", good_type)
        previous = boto3.DEFAULT_SESSION
        boto3.setup_default_session()  # the handler's own boto3.client() calls use it
        try:
            recorder.attach(boto3.DEFAULT_SESSION._session)
            outcomes = [
                handler.handler(e, None)["results"]
                for e in (
                    event(bucket, "incoming/data 1.csv", good),
                    event(bucket, "incoming/data 1.csv", good),
                    event(bucket, "incoming/bad.bin", bad),
                    event(bucket, "incoming/bad.bin", bad),
                    event(bucket, "incoming/plain.csv", None),
                )
            ]
        finally:
            boto3.DEFAULT_SESSION = previous
    assert outcomes == [["processed"], ["duplicate"], ["quarantined"], ["duplicate"], ["processed"]], outcomes
    # What Lambda itself does with the role, from the function's configuration.
    log_group = d.resolve(function["logging_config"]["log_group"])
    platform = [
        Call("logs", "CreateLogStream", {"logGroupName": log_group}, 200),
        Call("logs", "PutLogEvents", {"logGroupName": log_group}, 200),
        Call("sqs", "SendMessage", {"QueueArn": d.resolve(function["dead_letter_config"]["target_arn"])}, 200),
    ]
    return d.resolve(function["role"]), recorder.calls + platform


@pytest.fixture(scope="module")
def ingest_runs(synthesized):
    """(deployment, role ARN, inline policies, requests) per regional stack, run once per module."""
    runs = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in REGIONAL:
            d = deployment(synthesized, name)
            principal, calls = run_ingest(d, monkeypatch)
            role_logical = ref(ingest_function(d)[1]["role"])[2]
            _, inline, _ = d.role(role_logical)
            requests = [r for c in calls for r in requests_for(c, d, principal)]
            runs[name] = (d, principal, inline, requests, calls)
    return runs


@pytest.mark.parametrize("name", REGIONAL)
def test_the_ingest_role_admits_every_call_of_the_handler(ingest_runs, name):
    d, principal, inline, requests, calls = ingest_runs[name]
    assert any(c.operation == "HeadObject" and c.status == 404 for c in calls), "the new-object path ran"
    denied = d.check(requests, principal, inline)
    assert not denied, "real AWS would refuse:\n" + "\n".join(denied)


def test_a_missing_result_answers_404_not_403(ingest_runs):
    """The defect itself: looking for processed/<name>.json before it exists needs s3:ListBucket on
    the bucket with no s3:prefix; a grant conditioned on s3:prefix answers 403 and the record fails."""
    d, principal, inline, requests, _ = ingest_runs["dev-us-east-1"]
    lookups = [r for r in requests if r.action == "s3:ListBucket" and "missing key" in r.why]
    for key in ("processed/data 1.csv.json", "quarantine/data 1.csv"):
        assert any(f"/{key} -> 404" in r.why for r in lookups), key
    assert not d.check(lookups, principal, inline)
    assert all("s3:prefix" not in r.ctx for r in lookups)


@pytest.mark.parametrize("name", REGIONAL)
def test_the_ingest_role_grants_nothing_its_code_does_not_use(ingest_runs, name):
    _, _, inline, requests, _ = ingest_runs[name]
    assert not unused_grants(inline, requests)


def test_every_ingest_statement_is_needed(ingest_runs):
    """Remove any one statement and some call is refused: the check above notices a missing grant."""
    d, principal, (policy,), requests, _ = ingest_runs["dev-us-east-1"]
    for statement in policy.statements:
        assert d.check(requests, principal, [policy.without(statement.sid)]), f"{statement.sid} is not needed"


# --------------------------------------------------------------------------------------------------
# The web instances


def web_role(d: Deployment) -> str:
    """The role of the launch template's instance profile (followed through the references)."""
    (template,) = d.resources("aws_launch_template").values()
    profile = ref(template["iam_instance_profile"]["arn"])[2]
    return ref(d.resources("aws_iam_instance_profile")[profile]["role"])[2]


def instance_environment(d: Deployment) -> dict[str, str]:
    """/etc/webapp.env as the user data writes it, references resolved."""
    (template,) = d.resources("aws_launch_template").values()
    script = template["user_data"]
    body = script.split("<<'ENV'\\n", 1)[1].split("\\nENV\\n", 1)[0]
    return dict(line.split("=", 1) for line in (d.resolve(item) for item in body.split("\\n")))


def is_writer(d: Deployment) -> bool:
    (db,) = d.resources("aws_db_instance").values()
    return "replicate_source_db" not in db


def run_boot(d: Deployment, tmp_path) -> list[Call]:
    """What the user data does with the role before the service starts: `aws s3 cp` of the bundle
    (the AWS CLI heads a single object, then gets it) against moto holding the object the stack
    uploads, checked against its SHA-256 and unpacked by modules/userdata.py's own `unpack`."""
    from modules import userdata

    (obj,) = d.resources("aws_s3_object").values()
    bucket, key = d.resolve(obj["bucket"]), obj["key"]
    recorder = Recorder()
    with mock_aws():
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=d.region
        )
        setup = session.client("s3")
        location = {} if d.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": d.region}}
        setup.create_bucket(Bucket=bucket, **location)
        setup.put_object(Bucket=bucket, Key=key, Body=base64.b64decode(obj["content_base64"]))
        recorder.attach(session._session)
        cli = session.client("s3")

        def fetch(region: str, bucket_ref: str, object_key: str) -> bytes:
            assert (d.resolve(region), d.resolve(bucket_ref), object_key) == (d.region, bucket, key)
            cli.head_object(Bucket=bucket, Key=object_key)
            return cli.get_object(Bucket=bucket, Key=object_key)["Body"].read()

        userdata.unpack(user_data(d.stack), tmp_path / "opt", fetch)
    assert (tmp_path / "opt" / "webapp" / "database.py").is_file(), "the bundle holds the webapp"
    return recorder.calls


def run_webapp(d: Deployment, tmp_path, monkeypatch) -> tuple[list[Call], tuple[bool, str]]:
    """The webapp's readiness check, the path that reads AWS, with the instance's environment:
    Secrets Manager through a loopback stand-in (answered wherever it is asked, so a replica that
    asked would show), and the signing of each IAM authentication token recorded as the
    pseudo-call rds-db.connect (signing calls no AWS API). Returns (calls, the check's answer)."""
    from webapp import aws
    from webapp.database import from_environment

    environ = instance_environment(d)
    signed: list[Call] = []
    sign = aws.db_auth_token

    def recording(host, port, user, region, creds, now):
        token = sign(host, port, user, region, creds, now)
        signed.append(Call("rds-db", "connect", {"DBHostname": host, "Port": port, "DBUsername": user}, 200))
        assert region == d.region, "signed for the database's own region"
        return token

    monkeypatch.setattr(aws, "db_auth_token", recording)
    secret = json.dumps({"username": "app_admin", "password": "not-a-real-password"})
    with JsonApiStandIn({"secretsmanager.GetSecretValue": {"SecretString": secret}}) as stand_in:
        check = from_environment(
            {
                **environ,
                "WEBAPP_AWS_ENDPOINT_URL": stand_in.url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "PATH": str(tmp_path),
            }
        )  # no psql: the bootstrap (writers) and the query stop there, after their AWS calls
        answer = check.check()
    return stand_in.calls + signed, answer


@pytest.mark.parametrize("name", REGIONAL)
def test_the_web_role_admits_exactly_the_webapps_calls(synthesized, name, tmp_path, monkeypatch):
    """Boot (the bundle) and readiness (the bootstrap secret on writers only, a token everywhere):
    every call admitted, no grant unused, and removing any statement refuses some call."""
    d = deployment(synthesized, name)
    principal, inline, _ = d.role(web_role(d))
    writer = is_writer(d)
    assert ("WEBAPP_DB_BOOTSTRAP_SECRET_ARN" in instance_environment(d)) is writer
    boot = run_boot(d, tmp_path)
    assert [(c.operation, c.status) for c in boot] == [("HeadObject", 200), ("GetObject", 200)]
    calls, answer = run_webapp(d, tmp_path, monkeypatch)
    if writer:
        assert [c.operation for c in calls] == ["GetSecretValue", "connect"]
        assert answer == (False, "bootstrap failed: psql is not installed")
    else:
        assert [c.operation for c in calls] == ["connect"], "a replica region reads no secret"
        assert answer == (False, "psql is not installed")
    requests = [r for c in boot + calls for r in requests_for(c, d, principal)]
    decrypts = {r.ctx["kms:ViaService"] for r in requests if r.action == "kms:Decrypt"}
    expected = {f"s3.{d.region}.amazonaws.com"} | ({f"secretsmanager.{d.region}.amazonaws.com"} if writer else set())
    assert decrypts == expected, "the bundle (and a writer's secret) are encrypted with the region's key"
    denied = d.check(requests, principal, inline)
    assert not denied, "real AWS would refuse:\n" + "\n".join(denied)
    assert not unused_grants(inline, requests)
    for statement in inline[0].statements:
        assert d.check(requests, principal, [inline[0].without(statement.sid)]), f"{statement.sid} is not needed"


@pytest.mark.parametrize("name", REGIONAL)
def test_the_web_role_may_connect_to_its_own_database_as_the_application_user_only(synthesized, name):
    """IAM database authentication: the token the instances sign for WEBAPP_DB_USER at
    WEBAPP_DB_HOST is admitted (rds-db:connect on that instance's resource id, in this region),
    a token for another user is not, writer and replica alike."""
    d = deployment(synthesized, name)
    principal, inline, _ = d.role(web_role(d))
    environ = instance_environment(d)

    def connect(user: str) -> list[Request]:
        params = {"DBHostname": environ["WEBAPP_DB_HOST"], "Port": environ["WEBAPP_DB_PORT"], "DBUsername": user}
        return requests_for(Call("rds-db", "connect", params, 200), d, principal)

    assert not d.check(connect(environ["WEBAPP_DB_USER"]), principal, inline)
    assert d.check(connect("app_admin"), principal, inline), "only the application user"


# --------------------------------------------------------------------------------------------------
# The class: every role that runs this repository's code is exercised above


def trusted_services(d: Deployment, logical: str) -> set[str]:
    policy = d.document(d.resources("aws_iam_role")[logical]["assume_role_policy"], logical)
    return {i for s in policy.statements for i in (s.principals or {}).get("Service", ())}


@pytest.mark.parametrize("name", [*REGIONAL, "dev-global", "prod-global"])
def test_every_role_running_repository_code_is_checked(synthesized, name):
    """Lambda functions and instances run code from this repository: each must be the one whose
    calls are recorded above. Other service roles run AWS's code only; roles trusted by accounts
    (deploy, read-only) are used by Terraform and operators, not by code shipped to AWS."""
    d = deployment(synthesized, name)
    functions = d.resources("aws_lambda_function")
    templates = d.resources("aws_launch_template")
    assert len(functions) <= 1 and len(templates) <= 1, "a new function or instance role: record its calls here"
    assert all("-ingest-" in f["function_name"] for f in functions.values()), "only the ingest handler is recorded"
    checked = {ref(f["role"])[2] for f in functions.values()} | ({web_role(d)} if templates else set())
    for logical in d.resources("aws_iam_role"):
        services = trusted_services(d, logical)
        if logical in checked:
            continue
        assert services <= SERVICE_ONLY, (
            f"{logical} is assumed by {sorted(services)}, which may run this repository's code: add its calls "
            "to tests/test_iam_grants.py, or list the service in SERVICE_ONLY if it runs only AWS's code"
        )


def test_the_mapping_refuses_unknown_operations():
    """New code calling an operation without an IAM mapping fails loudly rather than passing."""
    d = Deployment({"provider": {"aws": [{"region": "us-east-1"}]}}, "111111111111")
    with pytest.raises(NotImplementedError, match=r"no IAM mapping for s3\.ListObjectVersions"):
        requests_for(Call("s3", "ListObjectVersions", {"Bucket": "b"}, 200), d, "arn:aws:iam::111111111111:role/r")
    (listing,) = requests_for(Call("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "p/"}, 200), d, "x")
    assert (listing.action, listing.resource, listing.ctx["s3:prefix"]) == ("s3:ListBucket", "arn:aws:s3:::b", "p/")


# --------------------------------------------------------------------------------------------------
# The evaluator itself: IAM's rules as tests/support/iam_eval.py models them

ACCOUNT = "111111111111"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"


def allowed(
    statements: list[Stmt], action: str, resource: str, resource_policy: Policy | None = None, **context: str
) -> bool:
    request = Request(action, resource, tuple(sorted(context.items())), "unit test")
    return decide(request, [Policy("p", tuple(statements))], resource_policy, ROLE, ACCOUNT).allowed


def test_an_s3_prefix_condition_never_admits_a_request_without_a_prefix():
    """Today's ListResults statement: it admits a listing of processed/, never the 404 check."""
    conditioned = Stmt(
        "ListResults",
        "Allow",
        ("s3:ListBucket",),
        resources=("arn:aws:s3:::b",),
        conditions=(Cond("StringLike", "s3:prefix", ("processed/*", "quarantine/*")),),
    )
    assert allowed([conditioned], "s3:ListBucket", "arn:aws:s3:::b", **{"s3:prefix": "processed/x.json"})
    assert not allowed([conditioned], "s3:ListBucket", "arn:aws:s3:::b", **{"s3:prefix": "incoming/"})
    assert not allowed([conditioned], "s3:ListBucket", "arn:aws:s3:::b")


def test_actions_resources_and_explicit_deny():
    grant = Stmt("Read", "Allow", ("S3:Get*",), resources=("arn:aws:s3:::b/in/*",))
    assert allowed([grant], "s3:GetObject", "arn:aws:s3:::b/in/x/y")
    assert not allowed([grant], "s3:GetObject", "arn:aws:s3:::b/out/x")
    assert not allowed([grant], "s3:PutObject", "arn:aws:s3:::b/in/x")
    deny = Stmt("No", "Deny", not_actions=("s3:PutObject",), resources=("*",))
    assert not allowed([grant, deny], "s3:GetObject", "arn:aws:s3:::b/in/x")
    tls = Policy(
        "bucket",
        (
            Stmt(
                "Tls",
                "Deny",
                ("s3:*",),
                resources=("arn:aws:s3:::b/*",),
                principals={"AWS": ("*",)},
                conditions=(Cond("Bool", "aws:SecureTransport", ("false",)),),
            ),
        ),
    )
    assert allowed([grant], "s3:GetObject", "arn:aws:s3:::b/in/x", tls, **{"aws:SecureTransport": "true"})
    assert not allowed([grant], "s3:GetObject", "arn:aws:s3:::b/in/x", tls, **{"aws:SecureTransport": "false"})


@pytest.mark.parametrize(
    ("operator", "context", "expected"),
    [
        ("StringEquals", {}, False),
        ("StringNotEquals", {}, True),
        ("StringEqualsIfExists", {}, True),
        ("StringEquals", {"k": "v"}, True),
        ("StringNotEquals", {"k": "v"}, False),
        ("StringLike", {"k": "v*"}, False),
        ("ForAnyValue:StringEquals", {"k": ["x", "v"]}, True),
        ("ForAllValues:StringEquals", {"k": ["x", "v"]}, False),
        ("ForAllValues:StringEquals", {}, True),
        ("ForAnyValue:StringEquals", {}, False),
    ],
)
def test_condition_operators_and_missing_keys(operator, context, expected):
    grant = Stmt("S", "Allow", ("sns:Publish",), resources=("*",), conditions=(Cond(operator, "k", ("v",)),))
    assert allowed([grant], "sns:Publish", "arn:aws:sns:us-east-1:1:t", **context) is expected


def test_kms_needs_the_key_policy_too():
    grant = Stmt("Use", "Allow", ("kms:Decrypt",), resources=("arn:aws:kms:us-east-1:1:key/k",))
    delegates = Policy(
        "key",
        (
            Stmt(
                "Account", "Allow", ("kms:*",), resources=("*",), principals={"AWS": (f"arn:aws:iam::{ACCOUNT}:root",)}
            ),
        ),
    )
    other = Policy(
        "key",
        (
            Stmt(
                "Other", "Allow", ("kms:*",), resources=("*",), principals={"AWS": ("arn:aws:iam::222222222222:root",)}
            ),
        ),
    )
    assert allowed([grant], "kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", delegates)
    assert not allowed([], "kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", delegates)
    assert not allowed([grant], "kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", other)
    assert not allowed([grant], "kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", None)


def test_unmodelled_condition_operators_are_refused():
    grant = Stmt("S", "Allow", ("sns:Publish",), resources=("*",), conditions=(Cond("DateLessThan", "k", ("v",)),))
    with pytest.raises(NotImplementedError, match="DateLessThan"):
        allowed([grant], "sns:Publish", "t", k="2020-01-01")


# --------------------------------------------------------------------------------------------------
# AWS-managed policies: attached exactly where something that runs needs them


def managed_needs_of_function(function: dict) -> set[str]:
    """Lambda itself creates ENIs for a function in a VPC and sends its traces when tracing is active."""
    needs = set()
    if function.get("vpc_config"):
        needs.add("AWSLambdaVPCAccessExecutionRole")
    if function.get("tracing_config", {}).get("mode") == "Active":
        needs.add("AWSXRayDaemonWriteAccess")
    return needs


def managed_needs_of_instances(user_data: str) -> set[str]:
    """The SSM agent ships with Amazon Linux 2023; the CloudWatch agent runs only if user data installs it."""
    needs = {"AmazonSSMManagedInstanceCore"}
    if "amazon-cloudwatch-agent" in user_data:
        needs.add("CloudWatchAgentServerPolicy")
    return needs


@pytest.mark.parametrize("name", REGIONAL)
def test_managed_policies_follow_what_runs(synthesized, name):
    d = deployment(synthesized, name)
    (function,) = d.resources("aws_lambda_function").values()
    assert set(d.role(ref(function["role"])[2])[2]) == managed_needs_of_function(function)
    (template,) = d.resources("aws_launch_template").values()
    assert set(d.role(web_role(d))[2]) == managed_needs_of_instances(template["user_data"])
