"""Ingest: validate, fingerprint and catalogue every object that lands under `incoming/` (R2, F4).

For each S3 ObjectCreated record:
- decode the key (URL encoding, `+` for spaces, unicode) and read the object's metadata;
- check its size and content type against the environment's limits (MAX_BYTES, ALLOWED_TYPES);
- valid: stream it through SHA-256 (bounded memory, whatever the size) and write a JSON manifest
  (key, size, type, sha256, version id, time) to `processed/<name>.json`;
- invalid: copy it to `quarantine/<name>` with the reason in its metadata, remove it from
  `incoming/` (a delete marker: the bucket is versioned, nothing is lost) and tell the error topic.
Replays of the same object version are recognised by the manifest's or quarantined copy's
recorded version and skipped. Other events and `s3:TestEvent` are ignored with a log line.

Errors: every record is handled on its own. A record that fails is reported to the error topic
and, after the other records are done, the invocation fails so that Lambda's asynchronous retries
and then the dead-letter queue keep the event. A malformed event is rejected with one clear log
line and no retry (retrying it cannot help). Logs are JSON lines with the request id.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from typing import Any
from urllib.parse import unquote_plus

import boto3
from botocore.exceptions import BotoCoreError, ClientError

INCOMING = "incoming/"
PROCESSED = "processed/"
QUARANTINE = "quarantine/"
CHUNK = 1024 * 1024


class MalformedEvent(ValueError):
    """The payload is not an S3 event notification."""


class RecordsFailed(RuntimeError):
    """Some records failed; raised after all records were tried, so Lambda retries the event."""


def log(level: str, message: str, request_id: str | None = None, **fields: Any) -> None:
    print(json.dumps({"level": level, "msg": message, "request_id": request_id, **fields}, default=str))


class Settings:
    def __init__(self, environ: dict[str, str]):
        self.topic_arn = environ.get("ERROR_TOPIC_ARN", "")
        self.max_bytes = int(environ.get("MAX_BYTES", "0") or 0)
        self.allowed_types = {t.strip() for t in environ.get("ALLOWED_TYPES", "").split(",") if t.strip()}
        if not self.topic_arn or self.max_bytes <= 0 or not self.allowed_types:
            raise RuntimeError("ERROR_TOPIC_ARN, MAX_BYTES and ALLOWED_TYPES must be set")


def sha256_of(stream: Any, chunk: int = CHUNK) -> str:
    """SHA-256 of a file-like object, read `chunk` bytes at a time."""
    digest = hashlib.sha256()
    while True:
        block = stream.read(chunk)
        if not block:
            return digest.hexdigest()
        digest.update(block)


def parse(event: Any) -> list[dict]:
    """The records to process; raises MalformedEvent with the reason."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"event must be a JSON object, got {type(event).__name__}")
    if event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise MalformedEvent("event has no Records list")
    parsed = []
    for index, record in enumerate(records):
        try:
            if record["eventSource"] != "aws:s3":
                raise MalformedEvent(f"record {index} is from {record['eventSource']!r}, not aws:s3")
            s3 = record["s3"]
            parsed.append(
                {
                    "event": str(record["eventName"]),
                    "bucket": str(s3["bucket"]["name"]),
                    "key": unquote_plus(str(s3["object"]["key"])),
                    "version": s3["object"].get("versionId"),
                    "size": s3["object"].get("size"),
                }
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise MalformedEvent(f"record {index} lacks {exc}") from None
    return parsed


class Ingest:
    def __init__(self, settings: Settings, s3: Any = None, sns: Any = None):
        self.settings = settings
        self.s3 = s3 or boto3.client("s3")
        self.sns = sns or boto3.client("sns")

    def process(self, record: dict, request_id: str | None) -> str:
        key, bucket = record["key"], record["bucket"]
        if not record["event"].startswith("ObjectCreated:"):
            log("info", "ignored: not an object-created event", request_id, key=key, event=record["event"])
            return "ignored"
        if not key.startswith(INCOMING) or key.endswith("/"):
            log("info", "ignored: outside incoming/", request_id, key=key)
            return "ignored"
        name = key[len(INCOMING) :]
        version = record["version"]
        if self._already_done(bucket, name, version):
            log("info", "skipped: this version was already handled", request_id, key=key, version=version)
            return "duplicate"
        head = self.s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
        size, content_type = head["ContentLength"], head.get("ContentType", "")
        reason = self._invalid(size, content_type)
        if reason:
            self._quarantine(bucket, key, name, version, reason)
            self._notify(f"Quarantined s3://{bucket}/{key}: {reason}")
            log("warning", "quarantined", request_id, key=key, reason=reason)
            return "quarantined"
        body = self.s3.get_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))["Body"]
        manifest = {
            "key": key,
            "size": size,
            "content_type": content_type,
            "sha256": sha256_of(body),
            "version_id": version,
            "processed_at": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        self.s3.put_object(
            Bucket=bucket,
            Key=f"{PROCESSED}{name}.json",
            Body=json.dumps(manifest).encode(),
            ContentType="application/json",
            Metadata={"source-version": str(version)},
        )
        log("info", "processed", request_id, key=key, sha256=manifest["sha256"], size=size)
        return "processed"

    def _invalid(self, size: int, content_type: str) -> str | None:
        if size > self.settings.max_bytes:
            return f"size {size} bytes exceeds the limit of {self.settings.max_bytes}"
        base_type = content_type.split(";")[0].strip().lower()
        if base_type not in self.settings.allowed_types:
            return f"content type {content_type or 'missing'!r} is not allowed"
        return None

    def _already_done(self, bucket: str, name: str, version: str | None) -> bool:
        for key in (f"{PROCESSED}{name}.json", f"{QUARANTINE}{name}"):
            try:
                head = self.s3.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    continue
                raise
            if head.get("Metadata", {}).get("source-version") == str(version):
                return True
        return False

    def _quarantine(self, bucket: str, key: str, name: str, version: str | None, reason: str) -> None:
        source = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
        self.s3.copy_object(
            Bucket=bucket,
            Key=f"{QUARANTINE}{name}",
            CopySource=source,
            MetadataDirective="REPLACE",
            Metadata={"quarantine-reason": reason[:1024], "source-version": str(version)},
        )
        self.s3.delete_object(Bucket=bucket, Key=key)  # a delete marker; the version itself stays

    def _notify(self, message: str) -> None:
        self.sns.publish(TopicArn=self.settings.topic_arn, Subject="ingest", Message=message[:4000])


def handle(event: Any, request_id: str | None, ingest: Ingest) -> dict:
    try:
        records = parse(event)
    except MalformedEvent as exc:
        log("error", f"rejected malformed event: {exc}", request_id)
        return {"status": "rejected", "reason": str(exc)}
    if not records:
        log("info", "ignored: S3 test event", request_id)
        return {"status": "ignored"}
    results, failures = [], []
    for record in records:
        try:
            results.append(ingest.process(record, request_id))
        except (ClientError, BotoCoreError, OSError, ValueError) as exc:
            failures.append(record["key"])
            log("error", "record failed", request_id, key=record["key"], error=f"{type(exc).__name__}: {exc}")
            try:
                ingest._notify(f"Ingest failed for s3://{record['bucket']}/{record['key']}: {type(exc).__name__}")
            except (ClientError, BotoCoreError) as notify_error:
                log("error", "could not notify the error topic", request_id, error=str(notify_error))
    if failures:
        raise RecordsFailed(f"{len(failures)} of {len(records)} records failed: {', '.join(failures)}")
    return {"status": "ok", "results": results}


def handler(event: Any, context: Any) -> dict:
    """Lambda entry point."""
    request_id = getattr(context, "aws_request_id", None)
    return handle(event, request_id, Ingest(Settings(dict(os.environ))))
