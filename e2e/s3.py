"""S3 object requests that moto 5.2.5 gets wrong in ways that stop the stacks' own flows.

Bucket policies with transport conditions. moto checks a bucket's policy on object requests
(GetObject, PutObject, DeleteObject, and each key of DeleteObjects) but evaluates only
`StringEquals` conditions and treats every other condition as met. The usual statements

    Deny s3:* if {"Bool": {"aws:SecureTransport": "false"}}
    Deny s3:* if {"NumericLessThan": {"s3:TlsVersion": "1.2"}}

therefore deny every object request (HTTP 403): uploads, a Lambda's writes, and the object deletes
of a bucket's `force_destroy`. `permission` replaces `FakeBucket.get_permission`: a statement whose
conditions are all about transport is judged for a request over TLS 1.3 (what every SDK uses against
AWS) and dropped when they do not hold; everything else is left to moto.

Delete markers. Once a bucket's versioning is suspended (Terraform destroys `aws_s3_bucket_versioning`
before the bucket), moto deletes a key with all its versions and calls `dispose()` on each, which its
`FakeDeleteMarker` lacks: AttributeError, HTTP 500, and `force_destroy` retries for many minutes.
`dispose_delete_marker` is that missing method (a marker holds no data to release).

Event notifications. moto URL-encodes the whole key, slashes too (`incoming%2Fa.txt`; AWS sends
`incoming/a.txt`), and leaves out the `versionId` and `sequencer` AWS adds: a handler that
recognises replays by version sees none. `event_like_aws` wraps moto's event builder to add them.
"""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

# The request context of an SDK call to AWS over HTTPS
TLS_REQUEST = {"aws:securetransport": "true", "s3:tlsversion": "1.3"}
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "NumericEquals": operator.eq,
    "NumericNotEquals": operator.ne,
    "NumericLessThan": operator.lt,
    "NumericLessThanEquals": operator.le,
    "NumericGreaterThan": operator.gt,
    "NumericGreaterThanEquals": operator.ge,
}


def _matches(condition_operator: str, actual: str, expected: str) -> bool | None:
    name = condition_operator.removesuffix("IfExists")
    if name == "Bool":
        return actual == str(expected).lower()
    if name in _NUMERIC:
        return _NUMERIC[name](float(actual), float(expected))
    return None


def transport_condition_holds(condition: dict[str, dict[str, Any]]) -> bool | None:
    """Whether a TLS 1.3 request meets this Condition block; None when it is not only about transport."""
    results = []
    for condition_operator, pairs in condition.items():
        for key, expected in pairs.items():
            actual = TLS_REQUEST.get(key.lower())
            if actual is None:
                return None
            found = [
                _matches(condition_operator, actual, value)
                for value in (expected if isinstance(expected, list) else [expected])
            ]
            if None in found:
                return None
            results.append(any(found))
    return all(results)


def permission(bucket: Any, action: str, resource: str) -> Any:
    """`FakeBucket.get_permission` without the statements whose transport conditions a TLS request fails."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if bucket.policy is None:
        return PermissionResult.NEUTRAL
    policy = json.loads(bucket.policy)
    statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
    kept = [s for s in statements if "Condition" not in s or transport_condition_holds(s["Condition"]) is not False]
    return IAMPolicy(json.dumps({**policy, "Statement": kept})).is_action_permitted(action, resource)


def dispose_delete_marker(marker: Any, garbage: bool = False) -> None:
    """`FakeDeleteMarker.dispose`: nothing to release (`FakeKey.dispose` closes the object's buffer)."""


def event_like_aws(build: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """moto's `_get_s3_event(event_name, bucket, key, notification_id)`, with the key encoded as AWS does
    and the object's `versionId` (versioned buckets) and a `sequencer`."""

    def wrapper(event_name: Any, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event = build(event_name, bucket, key, notification_id)
        for record in event["Records"]:
            found = record["s3"]["object"]
            found["key"] = quote_plus(key.name, safe="/")
            version = getattr(key, "version_id", None)
            if bucket.is_versioned and version and version != "null":
                found["versionId"] = str(version)
            found["sequencer"] = f"{time.time_ns():018X}"
        return event

    return wrapper
