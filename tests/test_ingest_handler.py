"""R2, F4, F14: the ingest function's real work and error handling, against moto."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tracemalloc
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from support.handlers import load_handler

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
BUCKET = "dev-us-east-1-ingest-111111111111-a1"


handler = load_handler()


@pytest.fixture
def world(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="dev-us-east-1-errors-a1")["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="topic-tap")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        settings = handler.Settings(
            {"ERROR_TOPIC_ARN": topic, "MAX_BYTES": "1000", "ALLOWED_TYPES": "text/csv,application/json"}
        )
        ingest = handler.Ingest(settings, s3=s3, sns=sns)

        def messages():
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(m["Body"])["Message"] for m in got]

        yield {"s3": s3, "ingest": ingest, "messages": messages, "topic": topic}


def upload(s3, key: str, body: bytes, content_type: str = "text/csv") -> dict:
    version = s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type)["VersionId"]
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "versionId": version, "size": len(body)}},
    }


def quoted(key: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(key, safe="/")


def test_a_valid_object_gets_a_correct_manifest(world):
    body = b"id,name\n1,alpha\n"
    record = upload(world["s3"], "incoming/data.csv", body)
    assert handler.handle({"Records": [record]}, "req-1", world["ingest"]) == {"status": "ok", "results": ["processed"]}
    manifest = json.loads(world["s3"].get_object(Bucket=BUCKET, Key="processed/data.csv.json")["Body"].read())
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest()
    assert manifest["size"] == len(body) and manifest["content_type"] == "text/csv"
    assert manifest["key"] == "incoming/data.csv" and manifest["version_id"] == record["s3"]["object"]["versionId"]
    assert manifest["processed_at"]


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"x" * 2000, "text/csv", "exceeds the limit of 1000"),
        (b"MZ\x90\x00", "application/x-msdownload", "is not allowed"),
    ],
)
def test_an_invalid_object_is_quarantined_and_reported(world, body, content_type, reason):
    record = upload(world["s3"], "incoming/bad.bin", body, content_type)
    assert handler.handle({"Records": [record]}, "req", world["ingest"])["results"] == ["quarantined"]
    head = world["s3"].head_object(Bucket=BUCKET, Key="quarantine/bad.bin")
    assert reason in head["Metadata"]["quarantine-reason"]
    with pytest.raises(world["s3"].exceptions.ClientError):
        world["s3"].head_object(Bucket=BUCKET, Key="incoming/bad.bin")
    versions = world["s3"].list_object_versions(Bucket=BUCKET, Prefix="incoming/bad.bin")
    assert versions.get("Versions"), "the original version is kept behind a delete marker: nothing is lost"
    (message,) = world["messages"]()
    assert "Quarantined" in message and "incoming/bad.bin" in message and reason in message


def test_the_s3_test_event_and_other_events_are_ignored(world, capsys):
    assert handler.handle(
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}, "r", world["ingest"]
    ) == {"status": "ignored"}
    record = upload(world["s3"], "incoming/x.csv", b"a")
    record["eventName"] = "ObjectRemoved:Delete"
    assert handler.handle({"Records": [record]}, "r", world["ingest"])["results"] == ["ignored"]
    outside = upload(world["s3"], "elsewhere/x.csv", b"a")
    assert handler.handle({"Records": [outside]}, "r", world["ingest"])["results"] == ["ignored"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["msg"] for line in lines][:2] == ["ignored: S3 test event", "ignored: not an object-created event"]
    assert all(line["request_id"] == "r" for line in lines)


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "text",
        42,
        {},
        {"Records": []},
        {"Records": "nope"},
        {"Records": [{}]},
        {"Records": [{"eventSource": "aws:sqs", "eventName": "x", "s3": {}}]},
        {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}]},
        {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": "oops"}]},
        {"detail-type": "Scheduled Event", "source": "aws.events"},
    ],
)
def test_malformed_events_are_rejected_cleanly(world, event, capsys):
    result = handler.handle(event, "req-9", world["ingest"])
    assert result["status"] == "rejected" and result["reason"]
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["level"] == "error" and line["msg"].startswith("rejected malformed event")
    assert "Traceback" not in line["msg"]


@pytest.mark.parametrize(
    "key",
    ["incoming/with space.csv", "incoming/ünïcødé/файл.csv", "incoming/a+b=c&d.csv", "incoming/deep/path/x%y.csv"],
)
def test_odd_keys_round_trip(world, key):
    record = upload(world["s3"], key, b"1,2\n")
    record["s3"]["object"]["key"] = quoted(key)  # S3 event keys are URL-encoded, spaces as +
    assert handler.handle({"Records": [record]}, "r", world["ingest"])["results"] == ["processed"]
    manifest = json.loads(
        world["s3"].get_object(Bucket=BUCKET, Key=f"processed/{key[len('incoming/') :]}.json")["Body"].read()
    )
    assert manifest["key"] == key


def test_a_replay_does_not_duplicate_work(world):
    record = upload(world["s3"], "incoming/once.csv", b"x,y\n")
    assert handler.handle({"Records": [record]}, "r", world["ingest"])["results"] == ["processed"]
    first = world["s3"].list_object_versions(Bucket=BUCKET, Prefix="processed/once.csv.json")["Versions"]
    assert handler.handle({"Records": [record]}, "r", world["ingest"])["results"] == ["duplicate"]
    again = world["s3"].list_object_versions(Bucket=BUCKET, Prefix="processed/once.csv.json")["Versions"]
    assert len(first) == len(again) == 1
    bad = upload(world["s3"], "incoming/twice.exe", b"MZ", "application/x-msdownload")
    handler.handle({"Records": [bad]}, "r", world["ingest"])
    assert handler.handle({"Records": [bad]}, "r", world["ingest"])["results"] == ["duplicate"]
    assert len(world["messages"]()) == 1, "one report per object version"


def test_a_new_version_of_the_same_key_is_processed_again(world):
    handler.handle({"Records": [upload(world["s3"], "incoming/v.csv", b"1")]}, "r", world["ingest"])
    second = upload(world["s3"], "incoming/v.csv", b"2")
    assert handler.handle({"Records": [second]}, "r", world["ingest"])["results"] == ["processed"]


def test_a_failing_record_is_reported_and_re_raised_after_the_others(world):
    good = upload(world["s3"], "incoming/good.csv", b"1")
    missing = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": "incoming/vanished.csv", "versionId": "nope"}},
    }
    with pytest.raises(handler.RecordsFailed, match=r"1 of 2 records failed: incoming/vanished\.csv"):
        handler.handle({"Records": [missing, good]}, "r", world["ingest"])
    assert world["s3"].head_object(Bucket=BUCKET, Key="processed/good.csv.json"), "the good record still went through"
    (message,) = world["messages"]()
    assert "Ingest failed" in message and "incoming/vanished.csv" in message


def test_a_large_object_is_hashed_in_bounded_memory():
    class Endless(io.RawIOBase):
        """200 MiB of data, produced on demand."""

        def __init__(self, size):
            self.left = size

        def read(self, n=-1):
            n = self.left if n < 0 else min(n, self.left)
            self.left -= n
            return b"\x5a" * n

    size = 200 * 1024 * 1024
    tracemalloc.start()
    digest = handler.sha256_of(Endless(size))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    expected = hashlib.sha256()
    for _ in range(200):
        expected.update(b"\x5a" * 1024 * 1024)
    assert digest == expected.hexdigest()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while hashing {size}"


def test_missing_settings_fail_clearly():
    with pytest.raises(RuntimeError, match="ERROR_TOPIC_ARN, MAX_BYTES and ALLOWED_TYPES must be set"):
        handler.Settings({})


def test_the_entry_point_reads_its_settings_from_the_environment(world, monkeypatch):
    monkeypatch.setenv("ERROR_TOPIC_ARN", world["topic"])
    monkeypatch.setenv("MAX_BYTES", "1000")
    monkeypatch.setenv("ALLOWED_TYPES", "text/csv")
    record = upload(world["s3"], "incoming/entry.csv", b"1")

    class Context:
        aws_request_id = "abc"

    assert handler.handler({"Records": [record]}, Context()) == {"status": "ok", "results": ["processed"]}
    assert os.environ["MAX_BYTES"] == "1000"
