"""An offline IAM evaluator for the synthesized policies, and the AWS calls the repository's code makes.

Why offline: moto can enforce IAM (INITIAL_NO_AUTH_ACTION_COUNT), but it does not model S3's rule
that a missing key is a 404 only for a caller with s3:ListBucket on the bucket (403 otherwise), nor
the KMS calls services make with the caller's permissions, nor key policies; so the failure that
mattered here (every new object's first lookup answered 403) cannot show there.

Three parts:
- `Resolver` turns a stack's Terraform references (`${aws_s3_bucket.x.arn}`...) into the concrete
  ARNs they will have, from the names in the synthesized JSON, so policies and code meet on real strings.
- `Recorder` captures the calls the *real* code makes (boto3 through botocore's events; the webapp's own
  SigV4 client through a loopback stand-in), and `requests_for` maps each call to the IAM requests AWS
  authorizes for it (action, resource ARN, context keys), including the requests a service makes with
  the caller's permissions (S3, SNS, SQS and Secrets Manager using a customer-managed KMS key) and
  S3's rule that a missing key is a 404 only for a caller with s3:ListBucket on the bucket. An
  operation without a mapping is an error, so new code cannot slip past.
- `decide` evaluates a request against identity policies and the resource's policy: explicit Deny
  wins; KMS needs its key policy to allow (directly or by delegating to the account's IAM policies).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from support.tfjson import jsonencoded, provider_region, providers

PARTITION = "aws"

# --------------------------------------------------------------------------------------------------
# Policies


@dataclass(frozen=True)
class Cond:
    operator: str  # as written: StringLike, ForAnyValue:StringEquals, ArnLikeIfExists...
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Stmt:
    sid: str
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    principals: dict[str, tuple[str, ...]] | None = None  # None: identity policy; {"*": ("*",)}: anyone
    conditions: tuple[Cond, ...] = ()


@dataclass(frozen=True)
class Policy:
    name: str
    statements: tuple[Stmt, ...]

    def without(self, sid: str) -> Policy:
        assert any(s.sid == sid for s in self.statements), sid
        return Policy(f"{self.name} without {sid}", tuple(s for s in self.statements if s.sid != sid))


def _tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def from_document(name: str, body: dict, resolve) -> Policy:
    """An `aws_iam_policy_document` data source body (snake_case blocks), references resolved."""
    statements = []
    for index, s in enumerate(body["statement"]):
        unsupported = {"not_principals"} & set(s)
        if unsupported:
            raise NotImplementedError(f"{name}: {sorted(unsupported)} is not modelled by tests/support/iam_eval.py")
        principals = None
        if "principals" in s:
            principals = {}
            for p in s["principals"]:
                principals.setdefault(p["type"], ())
                principals[p["type"]] += tuple(resolve(i) for i in p["identifiers"])
        statements.append(
            Stmt(
                sid=s.get("sid", f"#{index}"),
                effect=s.get("effect", "Allow"),
                actions=tuple(s.get("actions", ())),
                not_actions=tuple(s.get("not_actions", ())),
                resources=tuple(resolve(r) for r in s.get("resources", ())),
                not_resources=tuple(resolve(r) for r in s.get("not_resources", ())),
                principals=principals,
                conditions=tuple(
                    Cond(c["test"], c["variable"], tuple(resolve(v) for v in c["values"]))
                    for c in s.get("condition", ())
                ),
            )
        )
    return Policy(name, tuple(statements))


def from_json(name: str, document: dict, resolve) -> Policy:
    """A policy in IAM's JSON grammar (a key policy rendered with jsonencode), references resolved."""
    statements = []
    for index, s in enumerate(_tuple(document["Statement"])):
        if "NotPrincipal" in s:
            raise NotImplementedError(f"{name}: NotPrincipal is not modelled by tests/support/iam_eval.py")
        principal = s.get("Principal")
        principals = None
        if principal == "*":
            principals = {"AWS": ("*",)}
        elif principal is not None:
            principals = {t: tuple(resolve(i) for i in _tuple(ids)) for t, ids in principal.items()}
        conditions = tuple(
            Cond(op, key, tuple(resolve(str(v)) for v in _tuple(values)))
            for op, by_key in s.get("Condition", {}).items()
            for key, values in by_key.items()
        )
        statements.append(
            Stmt(
                sid=s.get("Sid", f"#{index}"),
                effect=s["Effect"],
                actions=_tuple(s.get("Action")),
                not_actions=_tuple(s.get("NotAction")),
                resources=tuple(resolve(r) for r in _tuple(s.get("Resource"))),
                not_resources=tuple(resolve(r) for r in _tuple(s.get("NotResource"))),
                principals=principals,
                conditions=conditions,
            )
        )
    return Policy(name, tuple(statements))


# --------------------------------------------------------------------------------------------------
# Matching and conditions


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def action_matches(pattern: str, action: str) -> bool:
    return _glob(pattern, action, ignore_case=True)  # IAM action names are case-insensitive


def arn_matches(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (the last may hold colons)."""
    if pattern == "*":
        return True
    p_parts, a_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return False
    return all(_glob(p, a) for p, a in zip(p_parts, a_parts, strict=True))


def resource_matches(pattern: str, resource: str) -> bool:
    return _glob(pattern, resource)  # case-sensitive; a `*` may span `/` and `:`


def _numeric(a: str, b: str, op: str) -> bool:
    x, y = float(a), float(b)
    return {
        "Equals": x == y,
        "NotEquals": x != y,
        "LessThan": x < y,
        "LessThanEquals": x <= y,
        "GreaterThan": x > y,
        "GreaterThanEquals": x >= y,
    }[op]


def _one(base: str, policy_value: str, context_value: str) -> bool:
    """Does one context value match one policy value under a non-negated base operator?"""
    if base == "StringEquals":
        return context_value == policy_value
    if base == "StringEqualsIgnoreCase":
        return context_value.lower() == policy_value.lower()
    if base == "StringLike":
        return _glob(policy_value, context_value)
    if base == "ArnEquals":
        return context_value == policy_value
    if base == "ArnLike":
        return arn_matches(policy_value, context_value)
    if base == "Bool":
        return context_value.lower() == policy_value.lower()
    if base.startswith("Numeric"):
        return _numeric(context_value, policy_value, base[len("Numeric") :])
    raise NotImplementedError(f"condition operator {base} is not modelled by tests/support/iam_eval.py")


NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def condition_holds(cond: Cond, context: dict[str, Any]) -> bool:
    """IAM's rules: values of one key are ORed; a missing key makes a condition false, except with
    `...IfExists`, `Null`, a negated operator (true) or `ForAllValues:` (true)."""
    operator = cond.operator
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            raise NotImplementedError(f"condition qualifier {qualifier} is not modelled")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    key = next((k for k in context if k.lower() == cond.key.lower()), None)  # keys are case-insensitive
    if operator == "Null":
        return (key is None) == (cond.values[0].lower() == "true")
    negated = operator in NEGATED
    base = NEGATED.get(operator, operator)
    if key is None:
        return if_exists or negated or qualifier == "ForAllValues"
    raw = context[key]
    values = [str(v) for v in raw] if isinstance(raw, (list, tuple)) else [str(raw)]

    def any_policy_value(v: str) -> bool:
        return any(_one(base, p, v) for p in cond.values)

    if qualifier == "ForAllValues":
        matched = all(any_policy_value(v) for v in values)
    else:  # ForAnyValue, or a single-valued key
        matched = any(any_policy_value(v) for v in values)
    return not matched if negated else matched


# --------------------------------------------------------------------------------------------------
# Requests and decisions


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: tuple[tuple[str, Any], ...]
    why: str  # the call that needs it, for failure messages

    @property
    def ctx(self) -> dict[str, Any]:
        return dict(self.context)

    def __str__(self) -> str:
        keys = ", ".join(f"{k}={v}" for k, v in self.context if not k.startswith("aws:"))
        return f"{self.action} on {self.resource}{f' [{keys}]' if keys else ''} (for {self.why})"


def statement_applies(s: Stmt, request: Request) -> bool:
    if s.actions and not any(action_matches(a, request.action) for a in s.actions):
        return False
    if s.not_actions and any(action_matches(a, request.action) for a in s.not_actions):
        return False
    if s.resources and not any(resource_matches(r, request.resource) for r in s.resources):
        return False
    if s.not_resources and any(resource_matches(r, request.resource) for r in s.not_resources):
        return False
    context = request.ctx
    return all(condition_holds(c, context) for c in s.conditions)


def _principal(s: Stmt, principal_arn: str, account: str) -> str | None:
    """How a resource-policy statement names the caller: 'direct', 'account' (delegates to IAM) or None."""
    if s.principals is None:
        return "direct"
    ids = s.principals.get("AWS", ())
    if "*" in ids or principal_arn in ids:
        return "direct"
    if f"arn:{PARTITION}:iam::{account}:root" in ids or account in ids:
        return "account"
    return None


@dataclass
class Decision:
    allowed: bool
    reason: str
    allowed_by: list[tuple[str, str]] = field(default_factory=list)  # (policy, sid) of identity Allows


def decide(
    request: Request, identity: Iterable[Policy], resource_policy: Policy | None, principal_arn: str, account: str
) -> Decision:
    identity = list(identity)
    for policy in identity:
        for s in policy.statements:
            if s.effect == "Deny" and statement_applies(s, request):
                return Decision(False, f"explicit Deny {policy.name}/{s.sid}")
    resource_grants = set()
    if resource_policy is not None:
        for s in resource_policy.statements:
            how = _principal(s, principal_arn, account)
            if how and statement_applies(s, request):
                if s.effect == "Deny":
                    return Decision(False, f"explicit Deny {resource_policy.name}/{s.sid}")
                resource_grants.add(how)
    allowed_by = [
        (p.name, s.sid) for p in identity for s in p.statements if s.effect == "Allow" and statement_applies(s, request)
    ]
    if request.action.lower().startswith("kms:"):
        # A key policy is the gate: it must allow the caller itself, or the account (then IAM decides).
        if resource_policy is None:
            return Decision(False, "no key policy known for the key", allowed_by)
        if "direct" in resource_grants or ("account" in resource_grants and allowed_by):
            return Decision(True, "allowed", allowed_by)
        if "account" not in resource_grants:
            return Decision(False, f"key policy {resource_policy.name} does not admit it", allowed_by)
        return Decision(False, "no identity policy allows it", allowed_by)
    if allowed_by or "direct" in resource_grants:
        return Decision(True, "allowed", allowed_by)
    return Decision(False, "no identity policy allows it (implicit deny)", allowed_by)


# --------------------------------------------------------------------------------------------------
# Resolving a stack's references into the values they will have


_EXPR = re.compile(r"\$\{([^{}]*)\}")


class Resolver:
    """Concrete values for `${...}` references of one stack, computed from the synthesized names."""

    def __init__(self, stack: dict, account: str):
        self.stack = stack
        self.account = account
        self.region = providers(stack)[None]["region"]

    def __call__(self, value: str) -> str:
        def one(match: re.Match) -> str:
            return self.expression(match.group(1).strip())

        resolved = _EXPR.sub(one, value)
        if "${" in resolved:
            raise ValueError(f"cannot resolve {value!r}: extend tests/support/iam_eval.py Resolver")
        return resolved

    def body(self, type_: str, name: str, data: bool = False) -> dict:
        return self.stack["data" if data else "resource"][type_][name]

    def expression(self, expr: str) -> str:
        match = re.fullmatch(r"(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z0-9_\-]+)\.(.+)", expr)
        if not match:
            raise ValueError(f"cannot resolve ${{{expr}}}: extend tests/support/iam_eval.py Resolver")
        is_data, type_, name, attribute = match.groups()
        if is_data:
            return self.data(type_, name, attribute)
        body = self.body(type_, name)
        region = provider_region(self.stack, body)
        a, p = self.account, PARTITION
        if type_ == "aws_s3_bucket":
            return {"arn": f"arn:{p}:s3:::{body['bucket']}", "id": body["bucket"], "bucket": body["bucket"]}[attribute]
        if type_ == "aws_sns_topic":
            return {
                "arn": f"arn:{p}:sns:{region}:{a}:{body['name']}",
                "id": f"arn:{p}:sns:{region}:{a}:{body['name']}",
                "name": body["name"],
            }[attribute]
        if type_ == "aws_sqs_queue":
            return {
                "arn": f"arn:{p}:sqs:{region}:{a}:{body['name']}",
                "name": body["name"],
                "url": f"https://sqs.{region}.amazonaws.com/{a}/{body['name']}",
            }[attribute]
        if type_ == "aws_cloudwatch_log_group":
            # The provider's `arn` has no trailing `:*` (provider v4+).
            return {
                "arn": f"arn:{p}:logs:{region}:{a}:log-group:{body['name']}",
                "name": body["name"],
                "id": body["name"],
            }[attribute]
        if type_ == "aws_kms_key":
            key_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{region}/{name}"))
            return {"arn": f"arn:{p}:kms:{region}:{a}:key/{key_id}", "id": key_id, "key_id": key_id}[attribute]
        if type_ == "aws_iam_role":
            return {"arn": f"arn:{p}:iam::{a}:role/{body['name']}", "name": body["name"], "id": body["name"]}[attribute]
        if type_ == "aws_db_instance":
            identifier = body.get("identifier", name)
            if attribute == "resource_id":
                # RDS's DbiResourceId (`db-` and 26 characters); one stable stand-in per instance.
                return "db-" + uuid.uuid5(uuid.NAMESPACE_URL, identifier).hex[:26].upper()
            if attribute == "address":
                return f"{identifier}.abcdefghijkl.{region}.rds.amazonaws.com"
        if type_ == "aws_secretsmanager_secret" and attribute in ("arn", "id"):
            return f"arn:{p}:secretsmanager:{region}:{a}:secret:{body['name']}-AbCdEf"
        raise ValueError(f"cannot resolve ${{{expr}}}: extend tests/support/iam_eval.py Resolver")

    def data(self, type_: str, name: str, attribute: str) -> str:
        if type_ == "aws_caller_identity" and attribute == "account_id":
            return self.account
        if type_ == "aws_partition" and attribute == "partition":
            return PARTITION
        if type_ == "aws_partition" and attribute == "dns_suffix":
            return "amazonaws.com"
        if type_ == "aws_region" and attribute in ("name", "region", "id"):
            return provider_region(self.stack, self.body(type_, name, data=True))
        if type_ == "aws_iam_policy_document" and attribute == "json":
            raise ValueError("a policy document is read with Deployment.document, not resolved as a string")
        raise ValueError(
            f"cannot resolve ${{data.{type_}.{name}.{attribute}}}: extend tests/support/iam_eval.py Resolver"
        )


# --------------------------------------------------------------------------------------------------
# One stack as deployed: roles, their policies, resource policies, which keys encrypt what


_REF = re.compile(r"^\$\{(data\.)?(aws_[a-z0-9_]+)\.([A-Za-z0-9_\-]+)\.([a-z_]+)\}$")


def ref(value: str) -> tuple[bool, str, str, str]:
    match = _REF.match(value)
    assert match, f"{value!r} is not a plain reference"
    is_data, type_, name, attribute = match.groups()
    return bool(is_data), type_, name, attribute


class Deployment:
    def __init__(self, stack: dict, account: str):
        self.stack = stack
        self.account = account
        self.resolve = Resolver(stack, account)
        self.region = self.resolve.region

    def resources(self, type_: str) -> dict[str, dict]:
        return self.stack.get("resource", {}).get(type_, {})

    def document(self, reference: str, name: str) -> Policy:
        """The policy a `${data.aws_iam_policy_document.x.json}` (or a jsonencode expression) stands for."""
        if reference.startswith("${jsonencode("):
            return from_json(name, jsonencoded(reference), self.resolve)
        is_data, type_, doc, attribute = ref(reference)
        assert is_data and type_ == "aws_iam_policy_document" and attribute == "json", reference
        return from_document(name, self.stack["data"][type_][doc], self.resolve)

    def role(self, logical: str) -> tuple[str, list[Policy], list[str]]:
        """(role ARN, inline policies, names of attached managed policies) of an aws_iam_role."""
        body = self.resources("aws_iam_role")[logical]
        arn = f"arn:{PARTITION}:iam::{self.account}:role/{body['name']}"
        inline = [
            self.document(p["policy"], p.get("name", n))
            for n, p in self.resources("aws_iam_role_policy").items()
            if ref(p["role"])[2] == logical
        ]
        managed = []
        for attachment in self.resources("aws_iam_role_policy_attachment").values():
            if ref(attachment["role"])[2] != logical:
                continue
            managed.append(self.resolve(attachment["policy_arn"]).rsplit("/", 1)[-1])  # attached by ARN
        return arn, inline, managed

    def _bucket_attachment(self, bucket: str, type_: str) -> dict | None:
        """The `type_` resource (bucket policy, encryption configuration) attached to a bucket."""
        for logical, body in self.resources("aws_s3_bucket").items():
            if body["bucket"] == bucket:
                for attachment in self.resources(type_).values():
                    if ref(attachment["bucket"])[2] == logical:
                        return attachment
        return None

    def bucket_policy(self, bucket: str) -> Policy | None:
        policy = self._bucket_attachment(bucket, "aws_s3_bucket_policy")
        return self.document(policy["policy"], f"bucket policy of {bucket}") if policy else None

    def key_policy(self, key_arn: str) -> Policy | None:
        for logical, body in self.resources("aws_kms_key").items():
            if self.resolve(f"${{aws_kms_key.{logical}.arn}}") == key_arn and "policy" in body:
                return self.document(body["policy"], f"key policy {logical}")
        return None

    def bucket_key(self, bucket: str) -> str | None:
        """The KMS key a bucket's default encryption uses (None: S3-managed keys)."""
        enc = self._bucket_attachment(bucket, "aws_s3_bucket_server_side_encryption_configuration")
        if enc is None:
            return None
        rule = enc["rule"][0]["apply_server_side_encryption_by_default"]
        return self.resolve(rule["kms_master_key_id"]) if rule["sse_algorithm"].startswith("aws:kms") else None

    def _key_of(self, type_: str, attribute: str, arn: str, key_field: str) -> str | None:
        for logical, body in self.resources(type_).items():
            if self.resolve(f"${{{type_}.{logical}.{attribute}}}") == arn and body.get(key_field):
                key = self.resolve(body[key_field])
                return key if key.startswith("arn:") else None  # alias/aws/...: an AWS-managed key
        return None

    def topic_key(self, arn: str) -> str | None:
        return self._key_of("aws_sns_topic", "arn", arn, "kms_master_key_id")

    def queue_key(self, arn: str) -> str | None:
        return self._key_of("aws_sqs_queue", "arn", arn, "kms_master_key_id")

    def secret_key(self, arn: str) -> str | None:
        return self._key_of("aws_secretsmanager_secret", "arn", arn, "kms_key_id")

    def db_resource_id(self, host: str) -> str:
        """The resource id of the stack's DB instance at `host` (its address)."""
        for logical in self.resources("aws_db_instance"):
            if self.resolve(f"${{aws_db_instance.{logical}.address}}") == host:
                return self.resolve(f"${{aws_db_instance.{logical}.resource_id}}")
        raise AssertionError(f"no DB instance of this stack has the address {host}")

    def check(self, requests: Iterable[Request], principal_arn: str, identity: list[Policy]) -> list[str]:
        """Every request that real AWS would refuse, with the reason."""
        denied = []
        for request in requests:
            resource_policy = None
            if request.action.startswith("s3:"):
                resource_policy = self.bucket_policy(request.resource.removeprefix("arn:aws:s3:::").split("/")[0])
            elif request.action.startswith("kms:"):
                resource_policy = self.key_policy(request.resource)
            decision = decide(request, identity, resource_policy, principal_arn, self.account)
            if not decision.allowed:
                denied.append(f"{request}: {decision.reason}")
        return denied


# --------------------------------------------------------------------------------------------------
# Calls, and the IAM requests each one is authorized as


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service name: s3, sns, secretsmanager...
    operation: str  # HeadObject...
    params: dict
    status: int
    error: str | None = None


def _base_context(deployment: Deployment, principal_arn: str) -> dict[str, Any]:
    return {
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": deployment.account,
        "aws:RequestedRegion": deployment.region,
    }


def _kms(
    actions: tuple[str, ...], key: str | None, service: str, d: Deployment, principal: str, why: str
) -> list[Request]:
    if key is None:
        return []
    context = {
        **_base_context(d, principal),
        "kms:ViaService": f"{service}.{d.region}.amazonaws.com",
        "kms:CallerAccount": d.account,
    }
    return [
        Request(a, key, tuple(sorted(context.items())), f"{why}, {service} using the key for the caller")
        for a in actions
    ]


def requests_for(call: Call, d: Deployment, principal: str) -> list[Request]:
    """The IAM requests AWS authorizes for one call (AWS's Service Authorization Reference)."""
    base = _base_context(d, principal)
    p = call.params
    why = f"{call.service}.{call.operation} -> {call.status}"

    def req(action: str, resource: str, **extra: Any) -> Request:
        context = {**base, **({"s3:TlsVersion": "1.3"} if action.startswith("s3:") else {}), **extra}
        return Request(action, resource, tuple(sorted(context.items())), why)

    if call.service == "s3":
        bucket = p.get("Bucket")
        bucket_arn = f"arn:{PARTITION}:s3:::{bucket}"
        key_arn = f"{bucket_arn}/{p.get('Key')}"
        kms_key = d.bucket_key(bucket)
        versioned = "VersionId" in p
        why = f"s3.{call.operation} s3://{bucket}/{p.get('Key', '')} -> {call.status}"
        if call.operation in ("HeadObject", "GetObject"):
            out = [req("s3:GetObjectVersion" if versioned else "s3:GetObject", key_arn)]
            if call.status == 404:
                # S3 tells a caller a key is missing only if it may list the bucket: the check is
                # s3:ListBucket on the bucket with no s3:prefix (the request has none); else 403.
                out.append(
                    Request(
                        "s3:ListBucket",
                        bucket_arn,
                        tuple(sorted({**base, "s3:TlsVersion": "1.3"}.items())),
                        f"{why} (a missing key is 404 only with s3:ListBucket, else 403)",
                    )
                )
            if call.operation == "GetObject" and call.status == 200:
                out += _kms(("kms:Decrypt",), kms_key, "s3", d, principal, why)
            return out
        if call.operation == "PutObject":
            out = [req("s3:PutObject", key_arn)]
            if "Tagging" in p:
                out.append(req("s3:PutObjectTagging", key_arn))
            if "ACL" in p:
                out.append(req("s3:PutObjectAcl", key_arn))
            return out + _kms(("kms:GenerateDataKey",), kms_key, "s3", d, principal, why)
        if call.operation == "CopyObject":
            source = p["CopySource"]
            if isinstance(source, str):  # botocore has already rendered it: bucket/key[?versionId=v], quoted
                path, _, query = source.partition("?versionId=")
                bucket_name, _, key = unquote(path).lstrip("/").partition("/")
                source = {"Bucket": bucket_name, "Key": key, **({"VersionId": query} if query else {})}
            source_arn = f"arn:{PARTITION}:s3:::{source['Bucket']}/{source['Key']}"
            out = [
                req("s3:GetObjectVersion" if "VersionId" in source else "s3:GetObject", source_arn),
                req("s3:PutObject", key_arn),
            ]
            if "Tagging" in p:
                out.append(req("s3:PutObjectTagging", key_arn))
            return (
                out
                + _kms(("kms:Decrypt",), d.bucket_key(source["Bucket"]), "s3", d, principal, why)
                + _kms(("kms:GenerateDataKey",), kms_key, "s3", d, principal, why)
            )
        if call.operation == "DeleteObject":
            return [req("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", key_arn)]
        if call.operation in ("ListObjectsV2", "ListObjects"):
            extra = {"s3:prefix": p["Prefix"]} if "Prefix" in p else {}
            return [req("s3:ListBucket", bucket_arn, **extra)]
    if call.service == "sns" and call.operation == "Publish":
        topic = p["TopicArn"]
        return [
            req("sns:Publish", topic),
            *_kms(("kms:GenerateDataKey", "kms:Decrypt"), d.topic_key(topic), "sns", d, principal, why),
        ]
    if call.service == "sqs" and call.operation == "SendMessage":
        queue = p["QueueArn"]
        return [
            req("sqs:SendMessage", queue),
            *_kms(("kms:GenerateDataKey", "kms:Decrypt"), d.queue_key(queue), "sqs", d, principal, why),
        ]
    if call.service == "secretsmanager" and call.operation == "GetSecretValue":
        secret = p["SecretId"]
        assert secret.startswith("arn:"), "the code names its secret by ARN (a name would need a lookup)"
        return [
            req("secretsmanager:GetSecretValue", secret),
            *_kms(("kms:Decrypt",), d.secret_key(secret), "secretsmanager", d, principal, why),
        ]
    if call.service == "rds-db" and call.operation == "connect":
        # Signing an IAM authentication token makes no AWS call; RDS authorizes the connection that
        # presents it: rds-db:connect on the instance's resource id and the database user. Record
        # the signing as this pseudo-call (DBHostname, Port, DBUsername, as boto3's
        # generate_db_auth_token takes them).
        resource_id = d.db_resource_id(p["DBHostname"])
        return [
            req(
                "rds-db:connect",
                f"arn:{PARTITION}:rds-db:{d.region}:{d.account}:dbuser:{resource_id}/{p['DBUsername']}",
            )
        ]
    if call.service == "logs" and call.operation in ("CreateLogStream", "PutLogEvents"):
        group = p["logGroupName"]
        stream = p.get("logStreamName", "stream")
        arn = f"arn:{PARTITION}:logs:{d.region}:{d.account}:log-group:{group}:log-stream:{stream}"
        return [req(f"logs:{call.operation}", arn)]
    raise NotImplementedError(
        f"no IAM mapping for {call.service}.{call.operation}: add one to "
        "tests/support/iam_eval.py requests_for (from AWS's Service Authorization Reference)"
    )


# --------------------------------------------------------------------------------------------------
# Recording the calls real code makes


class Recorder:
    """Records every botocore call of clients created from `session` after `attach`: operation,
    parameters as the code passed them, and the HTTP status AWS (here moto) answered."""

    def __init__(self):
        self.calls: list[Call] = []
        self._pending: dict[int, tuple[str, str, dict]] = {}

    def attach(self, session) -> None:
        events = session.events if hasattr(session, "events") else session.get_component("event_emitter")
        events.register("before-parameter-build", self._before)
        events.register("after-call", self._after)

    def _before(self, params, model, context, **_):
        context["iam_eval"] = id(context)
        self._pending[id(context)] = (
            model.service_model.service_name,
            model.name,
            json.loads(json.dumps({k: v for k, v in params.items() if k != "Body"}, default=str)),
        )

    def _after(self, http_response, parsed, model, context, **_):
        pending = self._pending.pop(context.get("iam_eval"), None)
        if pending is None:
            return
        service, operation, params = pending
        error = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        self.calls.append(Call(service, operation, params, http_response.status_code, error))


class JsonApiStandIn:
    """A loopback stand-in for AWS JSON-protocol APIs (X-Amz-Target), for code that signs its own
    requests with the standard library: records each call and answers from `answers`."""

    def __init__(self, answers: dict[str, dict]):
        self.answers = answers
        self.calls: list[Call] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                service, _, operation = target.partition(".")
                scope = self.headers.get("Authorization", "").split("Credential=")[-1].split(",")[0]
                signed_service = scope.split("/")[3] if scope.count("/") >= 4 else ""
                assert signed_service == service, f"signed for {signed_service!r}, calls {service!r}"
                answer = stand_in.answers.get(target)
                status = 200 if answer is not None else 400
                stand_in.calls.append(Call(service, operation, body, status))
                payload = json.dumps(answer if answer is not None else {"__type": "UnknownOperationException"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> JsonApiStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------------------------------
# Exactness: every grant is used


def unused_grants(policies: list[Policy], requests: list[Request]) -> list[str]:
    """(policy, sid, action, resource) of Allow grants no request needs: least privilege says drop them."""
    unused = []
    for policy in policies:
        for s in policy.statements:
            if s.effect != "Allow":
                continue
            for action in s.actions:
                for resource in s.resources or ("*",):
                    if not any(
                        action_matches(action, r.action)
                        and resource_matches(resource, r.resource)
                        and all(condition_holds(c, r.ctx) for c in s.conditions)
                        for r in requests
                    ):
                        unused.append(f"{policy.name}/{s.sid}: {action} on {resource}")
    return unused
