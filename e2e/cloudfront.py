"""CloudFront policy APIs that moto 5.2.5 does not route (it answers HTTP 404 for them).

- Response headers policies (create, get, get config, update, delete, list), stored per account.
  The configuration is kept as the XML the client sent and echoed back, so the AWS provider reads
  exactly what it wrote (no perpetual diff); `Id`, `LastModifiedTime` and the `ETag` header are
  ours. Update and delete demand the current ETag in `If-Match`, like CloudFront.
- AWS-managed cache and origin-request policies (list, get): read-only, the ones
  `data.aws_cloudfront_cache_policy` / `data.aws_cloudfront_origin_request_policy` look up by name.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

from werkzeug.wrappers import Request, Response

PREFIX = "/2020-05-31/"
NS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"
_CONFIG = re.compile(rb"<ResponseHeadersPolicyConfig[\s>].*</ResponseHeadersPolicyConfig>", re.S)


def _xml(body: str, status: int = 200, etag: str | None = None) -> Response:
    headers = {"ETag": etag} if etag else {}
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>\n{body}', status, headers, content_type="text/xml")


def error(status: int, code: str, message: str) -> Response:
    """CloudFront's REST-XML error shape (`ErrorResponse/Error/Code`), which the SDKs map to typed errors."""
    return _xml(
        f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>",
        status,
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _etag() -> str:
    return "E" + secrets.token_hex(7).upper()


def _name_of(config: bytes) -> str:
    root = ET.fromstring(config)  # noqa: S314 - a request from the local test client, not untrusted input
    return next((child.text or "" for child in root if child.tag.rsplit("}", 1)[-1] == "Name"), "")


@dataclass
class _Policy:
    id: str
    etag: str
    modified: str
    config: bytes  # the <ResponseHeadersPolicyConfig> element as received

    def xml(self) -> str:
        return (
            f'<ResponseHeadersPolicy xmlns="{NS}"><Id>{self.id}</Id><LastModifiedTime>{self.modified}'
            f"</LastModifiedTime>{self.config.decode()}</ResponseHeadersPolicy>"
        )


class ResponseHeadersPolicies:
    """Response headers policies per account; `handle` answers a request under
    `/2020-05-31/response-headers-policy` (or returns None for any other path)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_account: dict[str, dict[str, _Policy]] = {}

    def handle(self, request: Request, account: str) -> Response | None:
        parts = request.path.removeprefix(PREFIX).strip("/").split("/")
        if parts[0] != "response-headers-policy" or len(parts) > 3:
            return None
        with self._lock:
            policies = self._by_account.setdefault(account, {})
            if len(parts) == 1:
                if request.method == "POST":
                    return self._create(policies, request.get_data())
                if request.method == "GET":
                    return self._list(policies, request.args.get("Type"))
                return None
            policy = policies.get(parts[1])
            if policy is None:
                return error(404, "NoSuchResponseHeadersPolicy", "The response headers policy does not exist.")
            if len(parts) == 3:
                return _xml(policy.config.decode(), etag=policy.etag) if parts[2] == "config" else None
            if request.method == "GET":
                return _xml(policy.xml(), etag=policy.etag)
            if request.method in ("PUT", "DELETE"):
                if_match = request.headers.get("If-Match")
                if not if_match:
                    return error(400, "InvalidIfMatchVersion", "The If-Match version is missing or not valid.")
                if if_match != policy.etag:
                    return error(412, "PreconditionFailed", "The If-Match version does not match the current one.")
                if request.method == "DELETE":
                    del policies[policy.id]
                    return Response(status=204)
                config = _CONFIG.search(request.get_data())
                if config is None:
                    return error(400, "MalformedInput", "ResponseHeadersPolicyConfig is missing.")
                policy.config, policy.etag, policy.modified = config.group(0), _etag(), _now()
                return _xml(policy.xml(), etag=policy.etag)
            return None

    @staticmethod
    def _create(policies: dict[str, _Policy], body: bytes) -> Response:
        config = _CONFIG.search(body)
        if config is None:
            return error(400, "MalformedInput", "ResponseHeadersPolicyConfig is missing.")
        name = _name_of(config.group(0))
        if any(_name_of(p.config) == name for p in policies.values()):
            return error(409, "ResponseHeadersPolicyAlreadyExists", f"A policy named {name} already exists.")
        policy = _Policy(str(uuid.uuid4()), _etag(), _now(), config.group(0))
        policies[policy.id] = policy
        response = _xml(policy.xml(), 201, policy.etag)
        response.headers["Location"] = f"https://cloudfront.amazonaws.com{PREFIX}response-headers-policy/{policy.id}"
        return response

    @staticmethod
    def _list(policies: dict[str, _Policy], kind: str | None) -> Response:
        items = [] if kind == "managed" else list(policies.values())
        summaries = "".join(
            f"<ResponseHeadersPolicySummary><Type>custom</Type>{p.xml()}</ResponseHeadersPolicySummary>" for p in items
        )
        return _xml(
            f'<ResponseHeadersPolicyList xmlns="{NS}"><MaxItems>100</MaxItems><Quantity>{len(items)}</Quantity>'
            f"<Items>{summaries}</Items></ResponseHeadersPolicyList>"
        )


# AWS-managed policies: (id, name, configuration body without the name). The ids are AWS's own.
_NONE = (
    "<HeadersConfig><HeaderBehavior>none</HeaderBehavior></HeadersConfig><CookiesConfig><CookieBehavior>none"
    "</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>none</QueryStringBehavior>"
    "</QueryStringsConfig>"
)
_ALL = (
    "<CookiesConfig><CookieBehavior>all</CookieBehavior></CookiesConfig><QueryStringsConfig><QueryStringBehavior>"
    "all</QueryStringBehavior></QueryStringsConfig>"
)


def _cache(ttls: tuple[int, int, int], compress: bool) -> str:
    flag = str(compress).lower()
    return (
        f"<DefaultTTL>{ttls[0]}</DefaultTTL><MaxTTL>{ttls[1]}</MaxTTL><MinTTL>{ttls[2]}</MinTTL>"
        f"<ParametersInCacheKeyAndForwardedToOrigin><EnableAcceptEncodingGzip>{flag}</EnableAcceptEncodingGzip>"
        f"<EnableAcceptEncodingBrotli>{flag}</EnableAcceptEncodingBrotli>{_NONE}"
        "</ParametersInCacheKeyAndForwardedToOrigin>"
    )


MANAGED = {
    "cache-policy": [
        ("658327ea-f89d-4fab-a63d-7e88639e58f6", "Managed-CachingOptimized", _cache((86400, 31536000, 1), True)),
        ("4135ea2d-6df8-44a3-9df3-4b5a84be39ad", "Managed-CachingDisabled", _cache((0, 0, 0), False)),
    ],
    "origin-request-policy": [
        (
            "216adef6-5c7f-47e4-b989-5492eafa07d3",
            "Managed-AllViewer",
            f"<HeadersConfig><HeaderBehavior>allViewer</HeaderBehavior></HeadersConfig>{_ALL}",
        ),
        (
            "b689b0a8-53d0-40ab-baf2-68738e2966ac",
            "Managed-AllViewerExceptHostHeader",
            "<HeadersConfig><HeaderBehavior>allExcept</HeaderBehavior><Headers><Quantity>1</Quantity><Items><Name>host"
            f"</Name></Items></Headers></HeadersConfig>{_ALL}",
        ),
    ],
}
_MANAGED_ETAG = "EMANAGED000001"
_MANAGED_TIME = "2020-06-01T00:00:00.000Z"


def managed_policy(request: Request) -> Response | None:
    """List and get the AWS-managed cache and origin-request policies (read-only; custom ones: none)."""
    parts = request.path.removeprefix(PREFIX).strip("/").split("/")
    if (
        parts[0] not in MANAGED
        or request.method != "GET"
        or len(parts) > 3
        or (len(parts) == 3 and parts[2] != "config")
    ):
        return None
    element = "CachePolicy" if parts[0] == "cache-policy" else "OriginRequestPolicy"
    xmlns = f' xmlns="{NS}"'

    def config(name: str, body: str, ns: str = "") -> str:
        return f"<{element}Config{ns}><Comment>{name}</Comment><Name>{name}</Name>{body}</{element}Config>"

    def policy(policy_id: str, name: str, body: str, ns: str = "") -> str:
        return (
            f"<{element}{ns}><Id>{policy_id}</Id><LastModifiedTime>{_MANAGED_TIME}</LastModifiedTime>"
            f"{config(name, body)}</{element}>"
        )

    if len(parts) == 1:
        items = [] if request.args.get("Type") == "custom" else MANAGED[parts[0]]
        summaries = "".join(f"<{element}Summary><Type>managed</Type>{policy(*p)}</{element}Summary>" for p in items)
        return _xml(
            f"<{element}List{xmlns}><MaxItems>100</MaxItems><Quantity>{len(items)}</Quantity>"
            f"<Items>{summaries}</Items></{element}List>"
        )
    found = next((p for p in MANAGED[parts[0]] if p[0] == parts[1]), None)
    if found is None:
        return error(404, f"NoSuch{element}", f"The {parts[0].replace('-', ' ')} does not exist.")
    policy_id, name, body = found
    text = config(name, body, xmlns) if len(parts) == 3 else policy(policy_id, name, body, xmlns)
    return _xml(text, etag=_MANAGED_ETAG)
