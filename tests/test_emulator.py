"""The e2e emulator (moto server + responders) over real HTTP with boto3: each responder does what the
AWS provider needs, per account, and would fail without it (moto alone: 404, not implemented, Docker).
Offline, no Terraform. Every test works in accounts of its own: moto's state is process-wide."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from e2e.emulator import RESPONDERS, Emulator, describe
from e2e.seed import ROUTE53_HEALTHCHECKS, client, seed

DEFAULT_ACCOUNT = "123456789012"
SECURITY_HEADERS = {
    "Name": "security-headers",
    "Comment": "HSTS, nosniff",
    "SecurityHeadersConfig": {
        "StrictTransportSecurity": {
            "Override": True,
            "IncludeSubdomains": True,
            "Preload": True,
            "AccessControlMaxAgeSec": 63072000,
        },
        "ContentTypeOptions": {"Override": True},
        "FrameOptions": {"Override": True, "FrameOption": "DENY"},
    },
}


@pytest.fixture(scope="module")
def emulator():
    with Emulator() as running:
        yield running


@pytest.fixture(scope="module")
def url(emulator):
    return emulator.url


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_responders_are_documented():
    assert len(RESPONDERS) >= 4 and all(r.api and r.why and r.what for r in RESPONDERS)
    assert all(r.api in describe() for r in RESPONDERS)


def test_response_headers_policies_per_account(url):
    cf, other = client(url, "cloudfront", "210000000001"), client(url, "cloudfront", "210000000002")
    created = cf.create_response_headers_policy(ResponseHeadersPolicyConfig=SECURITY_HEADERS)
    policy_id, etag = created["ResponseHeadersPolicy"]["Id"], created["ETag"]
    assert created["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"] == SECURITY_HEADERS

    got = cf.get_response_headers_policy(Id=policy_id)
    assert got["ETag"] == etag and got["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"] == SECURITY_HEADERS
    assert cf.get_response_headers_policy_config(Id=policy_id)["ResponseHeadersPolicyConfig"] == SECURITY_HEADERS
    listed = cf.list_response_headers_policies(Type="custom")["ResponseHeadersPolicyList"]
    assert [s["ResponseHeadersPolicy"]["Id"] for s in listed["Items"]] == [policy_id]
    with pytest.raises(ClientError) as excinfo:
        cf.create_response_headers_policy(ResponseHeadersPolicyConfig=SECURITY_HEADERS)
    assert error_code(excinfo) == "ResponseHeadersPolicyAlreadyExists"

    # another account neither sees it nor collides with its name
    with pytest.raises(ClientError) as excinfo:
        other.get_response_headers_policy(Id=policy_id)
    assert error_code(excinfo) == "NoSuchResponseHeadersPolicy"
    assert other.list_response_headers_policies()["ResponseHeadersPolicyList"]["Quantity"] == 0

    changed = {**SECURITY_HEADERS, "Comment": "changed"}
    with pytest.raises(ClientError) as excinfo:
        cf.update_response_headers_policy(Id=policy_id, IfMatch="E-STALE", ResponseHeadersPolicyConfig=changed)
    assert error_code(excinfo) == "PreconditionFailed"
    updated = cf.update_response_headers_policy(Id=policy_id, IfMatch=etag, ResponseHeadersPolicyConfig=changed)
    assert updated["ETag"] != etag
    assert (
        cf.get_response_headers_policy(Id=policy_id)["ResponseHeadersPolicy"]["ResponseHeadersPolicyConfig"]["Comment"]
        == "changed"
    )

    with pytest.raises(ClientError) as excinfo:
        cf.delete_response_headers_policy(Id=policy_id, IfMatch=etag)  # the old ETag
    assert error_code(excinfo) == "PreconditionFailed"
    cf.delete_response_headers_policy(Id=policy_id, IfMatch=updated["ETag"])
    with pytest.raises(ClientError) as excinfo:
        cf.get_response_headers_policy(Id=policy_id)
    assert error_code(excinfo) == "NoSuchResponseHeadersPolicy"


def test_managed_cache_and_origin_request_policies_by_name(url):
    """What data.aws_cloudfront_cache_policy / _origin_request_policy do: list, find the name, get by id."""
    cf = client(url, "cloudfront", "210000000003")
    cache = {
        s["CachePolicy"]["CachePolicyConfig"]["Name"]: s["CachePolicy"]["Id"]
        for s in cf.list_cache_policies(Type="managed")["CachePolicyList"]["Items"]
    }
    assert cache["Managed-CachingDisabled"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    got = cf.get_cache_policy(Id=cache["Managed-CachingOptimized"])
    assert got["ETag"] and got["CachePolicy"]["CachePolicyConfig"]["DefaultTTL"] == 86400
    origin = {
        s["OriginRequestPolicy"]["OriginRequestPolicyConfig"]["Name"]: s["OriginRequestPolicy"]["Id"]
        for s in cf.list_origin_request_policies()["OriginRequestPolicyList"]["Items"]
    }
    config = cf.get_origin_request_policy(Id=origin["Managed-AllViewerExceptHostHeader"])["OriginRequestPolicy"][
        "OriginRequestPolicyConfig"
    ]
    assert config["HeadersConfig"] == {"HeaderBehavior": "allExcept", "Headers": {"Quantity": 1, "Items": ["host"]}}


def test_budget_subscribers_tags_and_update(url):
    account = "210000000004"
    budgets = client(url, "budgets", account)
    notification = {
        "NotificationType": "FORECASTED",
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": 80.0,
        "ThresholdType": "PERCENTAGE",
    }
    subscribers = [{"SubscriptionType": "EMAIL", "Address": "ops@example.com"}]
    budget = {
        "BudgetName": "monthly",
        "BudgetType": "COST",
        "TimeUnit": "MONTHLY",
        "BudgetLimit": {"Amount": "10", "Unit": "USD"},
    }
    budgets.create_budget(
        AccountId=account,
        Budget=budget,
        ResourceTags=[{"Key": "Project", "Value": "webapp"}],
        NotificationsWithSubscribers=[{"Notification": notification, "Subscribers": subscribers}],
    )

    stored = budgets.describe_notifications_for_budget(AccountId=account, BudgetName="monthly")["Notifications"]
    found = budgets.describe_subscribers_for_notification(
        AccountId=account, BudgetName="monthly", Notification=stored[0]
    )
    assert found["Subscribers"] == subscribers
    with pytest.raises(ClientError) as excinfo:
        budgets.describe_subscribers_for_notification(
            AccountId=account, BudgetName="monthly", Notification={**notification, "Threshold": 99.0}
        )
    assert error_code(excinfo) == "NotFoundException"

    arn = f"arn:aws:budgets::{account}:budget/monthly"
    assert budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"] == [{"Key": "Project", "Value": "webapp"}]
    budgets.tag_resource(ResourceARN=arn, ResourceTags=[{"Key": "Owner", "Value": "platform"}])
    budgets.untag_resource(ResourceARN=arn, ResourceTagKeys=["Project"])
    assert budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"] == [{"Key": "Owner", "Value": "platform"}]

    budgets.update_budget(AccountId=account, NewBudget={**budget, "BudgetLimit": {"Amount": "20", "Unit": "USD"}})
    described = budgets.describe_budget(AccountId=account, BudgetName="monthly")["Budget"]
    assert described["BudgetLimit"]["Amount"] == "20"
    assert (
        budgets.describe_subscribers_for_notification(AccountId=account, BudgetName="monthly", Notification=stored[0])[
            "Subscribers"
        ]
        == subscribers
    )


def test_seed_zone_in_dns_account_and_prefix_lists_per_account_region_idempotently(url):
    dns, workload = "210000000005", "210000000006"
    places = [(workload, "us-east-1"), (workload, "us-west-2"), (dns, "us-east-1")]
    first = seed(url, dns_account=dns, domain="seed.example.com", accounts_regions=places)
    again = seed(url, dns_account=dns, domain="seed.example.com", accounts_regions=places)
    assert all(line.endswith("created") for line in first if "route53-healthchecks" in line or "hosted zone" in line)
    assert all(line.endswith("present") for line in again) and len(again) == len(first) == 1 + 2 * len(places)

    def zones(account: str | None) -> list[str]:
        return [z["Name"] for z in client(url, "route53", account).list_hosted_zones()["HostedZones"]]

    # assumed-role keys select the role's account: the zone is there, not in moto's default account
    assert zones(dns) == ["seed.example.com."]
    assert "seed.example.com." not in zones(None) and zones(workload) == []

    for account, region in places:
        ec2 = client(url, "ec2", account, region)
        for name in (ROUTE53_HEALTHCHECKS.format(region=region), "com.amazonaws.global.cloudfront.origin-facing"):
            lists = ec2.describe_managed_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [name]}])[
                "PrefixLists"
            ]
            assert len(lists) == 1, (account, region, name)
            entries = ec2.get_managed_prefix_list_entries(PrefixListId=lists[0]["PrefixListId"])["Entries"]
            assert lists[0]["AddressFamily"] == "IPv4" and len(entries) >= 2
    other_region = client(url, "ec2", dns, "us-west-2").describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [ROUTE53_HEALTHCHECKS.format(region="us-west-2")]}]
    )
    assert other_region["PrefixLists"] == []


def tls_only(bucket: str, *extra: dict) -> str:
    resources = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "s3:*", "Resource": resources}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {**deny, "Sid": "DenyInsecureTransport", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {**deny, "Sid": "DenyTlsBelow12", "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
                *extra,
            ],
        }
    )


def test_tls_only_bucket_policy_admits_object_requests_and_other_denials_hold(url):
    s3 = client(url, "s3", "210000000009")
    s3.create_bucket(Bucket="emulator-tls-only")
    s3.put_bucket_policy(
        Bucket="emulator-tls-only",
        Policy=tls_only(
            "emulator-tls-only",
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::emulator-tls-only/secret/*",
            },
        ),
    )
    s3.put_object(Bucket="emulator-tls-only", Key="open/a.txt", Body=b"a")
    s3.put_object(Bucket="emulator-tls-only", Key="secret/b.txt", Body=b"b")
    assert s3.get_object(Bucket="emulator-tls-only", Key="open/a.txt")["Body"].read() == b"a"
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket="emulator-tls-only", Key="secret/b.txt")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    deleted = s3.delete_objects(
        Bucket="emulator-tls-only", Delete={"Objects": [{"Key": "open/a.txt"}, {"Key": "secret/b.txt"}]}
    )
    assert not deleted.get("Errors") and len(deleted["Deleted"]) == 2


def test_versions_and_delete_markers_of_a_suspended_bucket_can_be_deleted(url):
    """What force_destroy does after Terraform removed the bucket's versioning resource."""
    s3 = client(url, "s3", "210000000010")
    s3.create_bucket(Bucket="emulator-versions")
    s3.put_bucket_versioning(Bucket="emulator-versions", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="emulator-versions", Key="incoming/a.txt", Body=b"a")
    s3.delete_object(Bucket="emulator-versions", Key="incoming/a.txt")  # a delete marker
    s3.put_bucket_versioning(Bucket="emulator-versions", VersioningConfiguration={"Status": "Suspended"})
    listed = s3.list_object_versions(Bucket="emulator-versions")
    every = [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])
    ]
    assert len(every) == 2
    deleted = s3.delete_objects(Bucket="emulator-versions", Delete={"Objects": every})
    assert not deleted.get("Errors")
    s3.delete_bucket(Bucket="emulator-versions")


HANDLER = """
import json, os, time, boto3
from urllib.parse import unquote_plus

def main(event, context):
    account = boto3.client("sts").get_caller_identity()["Account"]
    for record in event.get("Records", []):
        bucket, found = record["s3"]["bucket"]["name"], record["s3"]["object"]
        boto3.client("s3").put_object(
            Bucket=bucket, Key="processed/" + unquote_plus(found["key"]).rsplit("/", 1)[-1],
            Body=json.dumps({"account": account, "greeting": os.environ["GREETING"], "key": found["key"],
                             "version": found.get("versionId")}))
    print("records:", len(event.get("Records", [])))
    return {"account": account, "function": context.function_name,
            "remaining": context.get_remaining_time_in_millis() > 0}

def slow(event, context):
    time.sleep(10)
"""


def make_function(url: str, account: str, name: str, handler: str, timeout: int) -> str:
    role = client(url, "iam", account).create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", HANDLER)
    return client(url, "lambda", account).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler=handler,
        Timeout=timeout,
        Code={"ZipFile": package.getvalue()},
        Environment={"Variables": {"GREETING": "hello"}},
    )["FunctionArn"]


def test_lambda_runs_on_s3_events_without_docker_in_its_own_account(url):
    account = "210000000007"
    arn = make_function(url, account, "ingest", "app.main", timeout=30)
    lam, s3 = client(url, "lambda", account), client(url, "s3", account)

    invoked = lam.invoke(FunctionName="ingest", Payload=b"{}")
    assert "FunctionError" not in invoked
    assert json.loads(invoked["Payload"].read()) == {"account": account, "function": "ingest", "remaining": True}

    s3.create_bucket(Bucket="emulator-ingest")
    # as the stacks' ingest bucket: versioned, TLS only
    s3.put_bucket_versioning(Bucket="emulator-ingest", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_policy(Bucket="emulator-ingest", Policy=tls_only("emulator-ingest"))
    lam.add_permission(
        FunctionName="ingest",
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::emulator-ingest",
    )
    only_incoming = {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}}
    s3.put_bucket_notification_configuration(
        Bucket="emulator-ingest",
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"], "Filter": only_incoming}
            ]
        },
    )
    s3.put_object(Bucket="emulator-ingest", Key="elsewhere/b.txt", Body=b"not for the function")
    version = s3.put_object(Bucket="emulator-ingest", Key="incoming/a b.txt", Body=b"data")["VersionId"]

    deadline, written = time.monotonic() + 60, None
    while written is None and time.monotonic() < deadline:
        try:
            written = json.loads(s3.get_object(Bucket="emulator-ingest", Key="processed/a b.txt")["Body"].read())
        except s3.exceptions.NoSuchKey:
            time.sleep(0.2)
    # the function ran in its account, with its environment, and got the event AWS would send
    assert written == {"account": account, "greeting": "hello", "key": "incoming/a+b.txt", "version": version}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="emulator-ingest")["Contents"]]
    assert "processed/b.txt" not in keys  # the prefix filter held


def test_lambda_timeout_is_a_function_error(url):
    account = "210000000008"
    make_function(url, account, "slow", "app.slow", timeout=1)
    started = time.monotonic()
    invoked = client(url, "lambda", account).invoke(FunctionName="slow", Payload=b"{}")
    assert time.monotonic() - started < 8
    assert invoked["FunctionError"] == "Handled"
    assert "Task timed out after 1.00 seconds" in json.loads(invoked["Payload"].read())["errorMessage"]


class _Answer(BaseHTTPRequestHandler):
    """A stand-in webapp / health-check target: every GET answers `status` with the path in the body."""

    status = 200

    def do_GET(self):
        body = f"{self.path} from {self.headers.get('Host')}".encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def answering():
    servers = []

    def start(status: int) -> int:
        server = ThreadingHTTPServer(("127.0.0.1", 0), type("Answer", (_Answer,), {"status": status}))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _invocation(ssm, command_id: str, instance: str) -> dict:
    for _ in range(100):
        result = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
        if result["Status"] != "InProgress":
            return result
        time.sleep(0.1)
    raise AssertionError(f"{command_id} still InProgress")


def test_ssm_run_command_runs_the_script_against_the_regions_stand_in_webapp(emulator, url, answering):
    """moto alone: every invocation 'Success' with empty output. Here the script really runs, with the
    instance's loopback service port pointed at the region's stand-in."""
    account, region = "210000000020", "us-west-2"
    ec2, ssm = client(url, "ec2", account, region), client(url, "ssm", account, region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]

    def run(script: str, limit: int = 10) -> dict:
        command = ssm.send_command(
            InstanceIds=[instance],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": [script], "executionTimeout": [str(limit)]},
        )["Command"]["CommandId"]
        return _invocation(ssm, command, instance)

    probe = "curl --silent --show-error http://127.0.0.1:8080/ready"
    nowhere = run(probe)
    assert nowhere["Status"] == "Failed" and "no stand-in webapp" in nowhere["StandardErrorContent"]

    emulator.stand_ins.webapps[(account, region)] = (8080, answering(200))
    try:
        done = run(probe)
        assert done["Status"] == "Success" and done["ResponseCode"] == 0
        assert done["StandardOutputContent"] == "/ready from 127.0.0.1:" + str(
            emulator.stand_ins.webapps[(account, region)][1]
        )
        failed = run("echo to stderr >&2; exit 3")
        assert (failed["Status"], failed["ResponseCode"], failed["StandardErrorContent"]) == (
            "Failed",
            3,
            "to stderr\n",
        )
        timed_out = run("echo started; sleep 5", limit=1)
        assert timed_out["Status"] == "TimedOut" and timed_out["StandardOutputContent"] == "started\n"
        assert "timed out after 1 s" in timed_out["StandardErrorContent"]
    finally:
        emulator.stand_ins.webapps.clear()
    with pytest.raises(ClientError) as excinfo:
        ssm.get_command_invocation(CommandId="00000000-0000-0000-0000-000000000000", InstanceId=instance)
    assert error_code(excinfo) == "InvalidCommandId"  # moto's own answer for what it does not hold


def test_route53_health_check_status_requests_the_target_at_its_stand_in(emulator, url, answering):
    """moto alone: 'Success' for every health check. Here the target is requested at its stand-in."""
    route53 = client(url, "route53", "210000000021")

    def status(name: str) -> list[str]:
        check = route53.create_health_check(
            CallerReference=name,
            HealthCheckConfig={"Type": "HTTP", "FullyQualifiedDomainName": name, "Port": 80, "ResourcePath": "/health"},
        )
        observations = route53.get_health_check_status(HealthCheckId=check["HealthCheck"]["Id"])
        return [o["StatusReport"]["Status"] for o in observations["HealthCheckObservations"]]

    try:
        emulator.stand_ins.endpoints["up.origin.example.com"] = ("127.0.0.1", answering(200))
        emulator.stand_ins.endpoints["sick.origin.example.com"] = ("127.0.0.1", answering(503))
        up = status("up.origin.example.com")
        assert len(up) == 3 and all(s.startswith("Success: HTTP Status Code 200") for s in up)
        sick = status("sick.origin.example.com")
        assert all(s.startswith("Failure: HTTP Status Code 503") for s in sick)
        unknown = status("gone.origin.example.com")
        assert all(s.startswith("Failure:") and "no stand-in" in s for s in unknown)
    finally:
        emulator.stand_ins.endpoints.clear()
    with pytest.raises(ClientError) as excinfo:
        route53.get_health_check_status(HealthCheckId="00000000-0000-0000-0000-000000000000")
    assert error_code(excinfo) == "NoSuchHealthCheck"


# --- RDS: one database per environment (a writer and its replicas) ------------------------------

WEST = "us-west-2"


def subnet_group(url: str, account: str, region: str) -> str:
    """A DB subnet group named after its region, as the stacks name theirs."""
    ec2 = client(url, "ec2", account, region)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{region}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in enumerate("ab")
    ]
    name = f"webapp-dev-{region}-db"
    client(url, "rds", account, region).create_db_subnet_group(
        DBSubnetGroupName=name, DBSubnetGroupDescription="database subnets", SubnetIds=subnets
    )
    return name


def writer_and_replica(url: str, account: str, **writer: object) -> tuple[dict, dict]:
    """A writer in us-east-1 and its replica in us-west-2, each in its region's subnet group."""
    east, west = client(url, "rds", account), client(url, "rds", account, WEST)
    source = east.create_db_instance(
        DBInstanceIdentifier="writer",
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername="dbadmin",
        DBSubnetGroupName=subnet_group(url, account, "us-east-1"),
        EnableCloudwatchLogsExports=["postgresql"],
        Tags=[{"Key": "Name", "Value": "writer"}],
        **writer,
    )["DBInstance"]
    replica = west.create_db_instance_read_replica(
        DBInstanceIdentifier="replica",
        SourceDBInstanceIdentifier=source["DBInstanceArn"],
        DBInstanceClass="db.t4g.micro",
        DBSubnetGroupName=subnet_group(url, account, WEST),
        Tags=[{"Key": "Name", "Value": "replica"}],
    )["DBInstance"]
    return source, replica


def instance(url: str, account: str, region: str, identifier: str) -> dict:
    return client(url, "rds", account, region).describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]


def test_cross_region_replica_lives_in_its_region_with_an_identity_of_its_own(url):
    """moto alone: DBSubnetGroupNotFoundFault (the replica's subnet group looked up in the source's
    region), one DbiResourceId for every instance, the source's tags and lists shared."""
    account = "210000000030"
    source, replica = writer_and_replica(url, account, MasterUserPassword="not-a-secret-1")
    assert replica["DBSubnetGroup"]["DBSubnetGroupName"] == f"webapp-dev-{WEST}-db"
    assert replica["AvailabilityZone"].startswith(WEST)
    assert replica["DBInstanceArn"].startswith(f"arn:aws:rds:{WEST}:{account}:db:replica")
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == source["DBInstanceArn"]
    assert instance(url, account, "us-east-1", "writer")["ReadReplicaDBInstanceIdentifiers"] == [
        replica["DBInstanceArn"]
    ]
    # the IAM policy of rds-db:connect names each database by its DbiResourceId
    ids = {source["DbiResourceId"], replica["DbiResourceId"]}
    assert len(ids) == 2 and all(len(i) == 29 and i.startswith("db-") and i[3:].isupper() for i in ids)
    west = client(url, "rds", account, WEST)
    assert west.list_tags_for_resource(ResourceName=replica["DBInstanceArn"])["TagList"] == [
        {"Key": "Name", "Value": "replica"}
    ]
    west.modify_db_instance(
        DBInstanceIdentifier="replica",
        CloudwatchLogsExportConfiguration={"EnableLogTypes": ["upgrade"]},
    )
    assert instance(url, account, "us-east-1", "writer")["EnabledCloudwatchLogsExports"] == ["postgresql"]
    assert client(url, "rds", account).list_tags_for_resource(ResourceName=source["DBInstanceArn"])["TagList"] == [
        {"Key": "Name", "Value": "writer"}
    ]
    with pytest.raises(ClientError) as excinfo:
        west.create_db_instance_read_replica(
            DBInstanceIdentifier="replica", SourceDBInstanceIdentifier=source["DBInstanceArn"]
        )
    assert error_code(excinfo) == "DBInstanceAlreadyExists"


def test_replica_of_a_source_with_an_rds_managed_password_is_refused_as_on_aws(url):
    """moto alone accepts it (and the replica shares, and on deletion deletes, the source's secret)."""
    account = "210000000031"
    with pytest.raises(ClientError) as excinfo:
        writer_and_replica(url, account, ManageMasterUserPassword=True)
    assert error_code(excinfo) == "InvalidParameterValue"
    assert "ManageMasterUserPassword is enabled is not supported" in str(excinfo.value)


def test_performance_insights_settings_are_returned(url):
    """moto alone drops them: the plan after every apply would turn Performance Insights on again."""
    rds = client(url, "rds", "210000000032")
    created = rds.create_db_instance(
        DBInstanceIdentifier="insights",
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20,
        MasterUsername="dbadmin",
        MasterUserPassword="not-a-secret-1",
        EnablePerformanceInsights=True,
        PerformanceInsightsKMSKeyId="arn:aws:kms:us-east-1:210000000032:key/insights",
    )["DBInstance"]
    assert created["PerformanceInsightsEnabled"] is True
    assert created["PerformanceInsightsRetentionPeriod"] == 7  # AWS's default
    assert created["PerformanceInsightsKMSKeyId"] == "arn:aws:kms:us-east-1:210000000032:key/insights"
    rds.modify_db_instance(DBInstanceIdentifier="insights", EnablePerformanceInsights=False)
    assert instance(url, "210000000032", "us-east-1", "insights")["PerformanceInsightsEnabled"] is False


def test_promotion_makes_the_replica_standalone_on_both_sides(url):
    """moto alone: the promoted replica still names its source and the source still lists it, so
    Terraform would plan replicate_source_db back and a failover could not see it done."""
    account = "210000000033"
    writer_and_replica(url, account, MasterUserPassword="not-a-secret-1")
    west = client(url, "rds", account, WEST)
    promoted = west.promote_read_replica(DBInstanceIdentifier="replica", BackupRetentionPeriod=7)["DBInstance"]
    assert promoted["DBInstanceStatus"] == "modifying"  # as on AWS: a caller has to wait for it
    assert "ReadReplicaSourceDBInstanceIdentifier" not in promoted
    assert instance(url, account, "us-east-1", "writer")["ReadReplicaDBInstanceIdentifiers"] == []
    deadline = time.monotonic() + 10
    while instance(url, account, WEST, "replica")["DBInstanceStatus"] != "available":
        assert time.monotonic() < deadline, "the promoted instance never became available"
        time.sleep(0.2)
    assert instance(url, account, WEST, "replica")["BackupRetentionPeriod"] == 7
    with pytest.raises(ClientError) as excinfo:
        west.promote_read_replica(DBInstanceIdentifier="replica")
    assert error_code(excinfo) == "InvalidDBInstanceState"
    # the promoted instance is deleted like any other; the old source is untouched
    west.delete_db_instance(DBInstanceIdentifier="replica", SkipFinalSnapshot=True)
    assert instance(url, account, "us-east-1", "writer")["DBInstanceStatus"] == "available"


def test_cross_region_replica_can_be_deleted_and_deleting_a_source_promotes_its_replicas(url):
    """moto alone: deleting a cross-region replica is HTTP 500 (list.remove of its identifier where its
    ARN was stored), which `terraform destroy` retries until it gives up."""
    account = "210000000034"
    source, _ = writer_and_replica(url, account, MasterUserPassword="not-a-secret-1")
    east, west = client(url, "rds", account), client(url, "rds", account, WEST)
    west.delete_db_instance(DBInstanceIdentifier="replica", SkipFinalSnapshot=True)
    assert instance(url, account, "us-east-1", "writer")["ReadReplicaDBInstanceIdentifiers"] == []
    assert west.describe_db_instances()["DBInstances"] == []

    again = west.create_db_instance_read_replica(
        DBInstanceIdentifier="again", SourceDBInstanceIdentifier=source["DBInstanceArn"]
    )["DBInstance"]
    east.delete_db_instance(DBInstanceIdentifier="writer", SkipFinalSnapshot=True)
    left = instance(url, account, WEST, "again")
    assert "ReadReplicaSourceDBInstanceIdentifier" not in left and left["DbiResourceId"] == again["DbiResourceId"]
    west.delete_db_instance(DBInstanceIdentifier="again", SkipFinalSnapshot=True)


def test_get_random_password_for_the_ephemeral_master_password(url):
    """What Terraform's ephemeral aws_secretsmanager_random_password calls (moto's own responder)."""
    secrets = client(url, "secretsmanager", "210000000035")
    password = secrets.get_random_password(PasswordLength=40, ExcludePunctuation=True)["RandomPassword"]
    assert len(password) == 40 and password.isalnum()


def test_global_cluster_switchover_failover_and_removal_from_any_region(url):
    """moto alone: no FailoverGlobalCluster or SwitchoverGlobalCluster (not implemented), and
    RemoveFromGlobalCluster outside us-east-1 silently keeps the member."""
    account = "210000000036"
    east, west = client(url, "rds", account), client(url, "rds", account, WEST)
    aurora = {"Engine": "aurora-postgresql", "EngineVersion": "16.4", "GlobalClusterIdentifier": "webapp-dev"}
    west.create_global_cluster(GlobalClusterIdentifier="webapp-dev", Engine="aurora-postgresql", EngineVersion="16.4")
    primary = east.create_db_cluster(
        DBClusterIdentifier="east", MasterUsername="dbadmin", MasterUserPassword="not-a-secret-1", **aurora
    )["DBCluster"]["DBClusterArn"]
    secondary = west.create_db_cluster(DBClusterIdentifier="west", **aurora)["DBCluster"]["DBClusterArn"]

    def writers() -> dict[str, bool]:
        (found,) = west.describe_global_clusters()["GlobalClusters"]
        return {m["DBClusterArn"]: m["IsWriter"] for m in found["GlobalClusterMembers"]}

    assert writers() == {primary: True, secondary: False}
    switched = west.switchover_global_cluster(GlobalClusterIdentifier="webapp-dev", TargetDbClusterIdentifier=secondary)
    assert {m["DBClusterArn"]: m["IsWriter"] for m in switched["GlobalCluster"]["GlobalClusterMembers"]} == {
        primary: False,
        secondary: True,
    }
    assert writers() == {primary: False, secondary: True}
    east.failover_global_cluster(
        GlobalClusterIdentifier="webapp-dev", TargetDbClusterIdentifier=primary, AllowDataLoss=True
    )
    assert writers() == {primary: True, secondary: False}
    with pytest.raises(ClientError) as excinfo:
        east.switchover_global_cluster(GlobalClusterIdentifier="webapp-dev", TargetDbClusterIdentifier=primary)
    assert error_code(excinfo) == "InvalidParameterValue"  # already the writer
    with pytest.raises(ClientError) as excinfo:
        east.failover_global_cluster(GlobalClusterIdentifier="nowhere", TargetDbClusterIdentifier=primary)
    assert error_code(excinfo) == "GlobalClusterNotFoundFault"

    # what destroying the stacks does: each region removes its cluster, then the global cluster goes
    west.remove_from_global_cluster(GlobalClusterIdentifier="webapp-dev", DbClusterIdentifier=secondary)
    assert writers() == {primary: True}
    with pytest.raises(ClientError) as excinfo:
        west.remove_from_global_cluster(GlobalClusterIdentifier="webapp-dev", DbClusterIdentifier=secondary)
    assert error_code(excinfo) == "InvalidParameterValue"
    west.delete_db_cluster(DBClusterIdentifier="west", SkipFinalSnapshot=True)
    east.remove_from_global_cluster(GlobalClusterIdentifier="webapp-dev", DbClusterIdentifier=primary)
    east.delete_db_cluster(DBClusterIdentifier="east", SkipFinalSnapshot=True)
    west.delete_global_cluster(GlobalClusterIdentifier="webapp-dev")
    assert east.describe_global_clusters()["GlobalClusters"] == []


def test_replica_lag_is_absent_until_published(url):
    """moto has no RDS metrics: GetMetricStatistics answers no datapoints (to be read as unknown, not
    0); a test that needs a lag publishes AWS/RDS ReplicaLag itself."""
    cloudwatch = client(url, "cloudwatch", "210000000037", WEST)
    dimensions = [{"Name": "DBInstanceIdentifier", "Value": "webapp-dev-us-west-2-db"}]

    def lag() -> list[float]:
        now = time.time()
        found = cloudwatch.get_metric_statistics(
            Namespace="AWS/RDS",
            MetricName="ReplicaLag",
            Dimensions=dimensions,
            StartTime=now - 300,
            EndTime=now + 60,
            Period=60,
            Statistics=["Maximum"],
        )
        return [point["Maximum"] for point in found["Datapoints"]]

    assert lag() == []
    cloudwatch.put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[{"MetricName": "ReplicaLag", "Dimensions": dimensions, "Value": 42.0, "Unit": "Seconds"}],
    )
    assert lag() == [42.0]


def test_revoking_a_rule_id_the_group_no_longer_has_answers_as_aws_does(url):
    """The AWS provider deletes security-group rules by id and takes InvalidSecurityGroupRuleId.NotFound
    as "already gone"; moto said InvalidPermission.NotFound, so a retried revoke failed a destroy."""
    ec2 = client(url, "ec2", region="us-west-2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    web, db = (ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in ("web", "db"))
    to_db = [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": db}]}]
    from_web = [{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": web}]}]
    egress = ec2.authorize_security_group_egress(GroupId=web, IpPermissions=to_db)["SecurityGroupRules"][0]
    ingress = ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=from_web)["SecurityGroupRules"][0]
    for revoke, group, rule in (
        (ec2.revoke_security_group_egress, web, egress["SecurityGroupRuleId"]),
        (ec2.revoke_security_group_ingress, db, ingress["SecurityGroupRuleId"]),
    ):
        revoke(GroupId=group, SecurityGroupRuleIds=[rule])  # a known id is revoked as before
        with pytest.raises(ClientError) as again:
            revoke(GroupId=group, SecurityGroupRuleIds=[rule])
        assert error_code(again) == "InvalidSecurityGroupRuleId.NotFound"
    ec2.authorize_security_group_egress(GroupId=web, IpPermissions=to_db)
    ec2.revoke_security_group_egress(GroupId=web, IpPermissions=to_db)  # by permission: moto's own path
