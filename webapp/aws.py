"""What the service needs from AWS, with the standard library: the IAM database authentication
token it connects with (signed locally: no call to any region, so a replica region can connect
while the writer's region is down), and Secrets Manager GetSecretValue (the master credentials,
read once in the writer's region to create the application's database role).

Amazon Linux 2023 ships no AWS SDK for the system Python, and the service must install only
OS packages; so requests are signed here with Signature Version 4 (tests check the signer
against AWS's published example, and the token against botocore's generate_db_auth_token).
Credentials come from the environment (local runs, tests) or from the instance profile through
IMDSv2 (a session token first, hop limit 1).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

IMDS = "http://169.254.169.254"
TIMEOUT = 3
DB_TOKEN_EXPIRES = 900  # seconds: the longest an RDS authentication token may live


class AwsError(Exception):
    """A failed AWS call; the message is safe to log (never a secret value)."""


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def credentials(environ: Mapping[str, str], imds: str = IMDS) -> Credentials:
    if environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY"):
        return Credentials(
            environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"], environ.get("AWS_SESSION_TOKEN")
        )
    try:
        token_request = urllib.request.Request(  # noqa: S310 (http IMDS)
            f"{imds}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
        )
        with urllib.request.urlopen(token_request, timeout=TIMEOUT) as response:  # noqa: S310 (fixed URL)
            token = response.read().decode()
        headers = {"X-aws-ec2-metadata-token": token}
        base = f"{imds}/latest/meta-data/iam/security-credentials/"
        with urllib.request.urlopen(urllib.request.Request(base, headers=headers), timeout=TIMEOUT) as response:  # noqa: S310
            role = response.read().decode().splitlines()[0]
        with urllib.request.urlopen(urllib.request.Request(base + role, headers=headers), timeout=TIMEOUT) as r:  # noqa: S310
            data = json.loads(r.read())
        return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data.get("Token"))
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise AwsError(f"no AWS credentials: instance metadata unavailable ({type(exc).__name__})") from None


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    creds: Credentials,
    region: str,
    service: str,
    now: datetime.datetime,
) -> dict[str, str]:
    """Headers for a SigV4-signed request (adds x-amz-date, the token and Authorization)."""
    parts = urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = amz_date
    if creds.token:
        signed["x-amz-security-token"] = creds.token
    names = sorted(signed)
    query = "&".join(
        sorted(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
            for k, _, v in (pair.partition("=") for pair in parts.query.split("&") if pair)
        )
    )
    canonical = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{creds.secret_key}".encode(), date), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in signed.items() if k != "host"}
    out["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return out


def _quote(value: str) -> str:
    return quote(value, safe="-_.~")


def presign(url: str, creds: Credentials, region: str, service: str, now: datetime.datetime, expires: int) -> str:
    """`url` with SigV4 query-string authentication (the signature travels in the URL, signing
    only the host header), laid out as botocore lays it out: the operation's parameters, then
    X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders (-Security-Token), -Signature."""
    parts = urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    params = [(k, v) for k, _, v in (pair.partition("=") for pair in parts.query.split("&") if pair)]
    params += [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{creds.access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if creds.token:
        params.append(("X-Amz-Security-Token", creds.token))
    query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in params)
    canonical = "\n".join(
        [
            "GET",
            quote(parts.path or "/", safe="/-_.~"),
            "&".join(sorted(f"{_quote(k)}={_quote(v)}" for k, v in params)),
            f"host:{parts.netloc}\n",
            "host",
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{creds.secret_key}".encode(), amz_date[:8]), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}?{query}&X-Amz-Signature={signature}"


def db_auth_token(
    host: str, port: int | str, user: str, region: str, creds: Credentials, now: datetime.datetime
) -> str:
    """An IAM database authentication token: the password for `user` at `host:port` for
    DB_TOKEN_EXPIRES seconds (what botocore's generate_db_auth_token returns). Signed locally
    for the `rds-db` service in `region`, the database's region: the role needs rds-db:connect."""
    if not host or not region:
        raise AwsError("an authentication token needs the database host and its region")
    url = f"https://{host}:{port}/?Action=connect&DBUser={_quote(user)}"
    return presign(url, creds, region, "rds-db", now, DB_TOKEN_EXPIRES)[len("https://") :]


def get_secret_string(secret_id: str, region: str, environ: Mapping[str, str]) -> str:
    """SecretString of `secret_id` (WEBAPP_AWS_ENDPOINT_URL overrides the endpoint, for tests)."""
    endpoint = environ.get("WEBAPP_AWS_ENDPOINT_URL") or f"https://secretsmanager.{region}.amazonaws.com"
    if not endpoint.startswith(("https://", "http://")):
        raise AwsError("WEBAPP_AWS_ENDPOINT_URL must be an http(s) URL")
    body = json.dumps({"SecretId": secret_id}).encode()
    headers = {"content-type": "application/x-amz-json-1.1", "x-amz-target": "secretsmanager.GetSecretValue"}
    signed = sign(
        "POST",
        endpoint + "/",
        headers,
        body,
        credentials(environ),
        region,
        "secretsmanager",
        datetime.datetime.now(datetime.timezone.utc),
    )
    request = urllib.request.Request(endpoint + "/", data=body, method="POST", headers=signed)  # noqa: S310 (checked)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 (https endpoint)
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise AwsError(f"Secrets Manager refused the request ({exc.code} {_error_type(exc)})") from None
    except (OSError, ValueError) as exc:
        raise AwsError(f"Secrets Manager unreachable ({type(exc).__name__})") from None
    if "SecretString" not in payload:
        raise AwsError("the secret has no SecretString")
    return payload["SecretString"]


def _error_type(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("__type", "error")).split("#")[-1]
    except (OSError, ValueError):
        return "error"


def parse_credentials(secret: str) -> tuple[str, str]:
    """(username, password) from an RDS-managed secret's JSON."""
    try:
        data = json.loads(secret)
        return str(data["username"]), str(data["password"])
    except (ValueError, KeyError, TypeError):
        raise AwsError("the secret is not RDS credentials JSON (username, password)") from None
