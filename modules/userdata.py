"""What an instance runs at boot: the webapp, delivered as a bundle its user data installs.

The webapp package is bundled at synth time into a deterministic tar.xz (sorted entries, fixed
timestamps and owners, so synth output stays byte-identical; xz at its strongest preset: about
5 % smaller than gzip -9). EC2 caps user data at 16,384 bytes and the sources alone, compressed
and base64-encoded, outgrew it; so the bundle is an S3 object (WebappBundle: its key carries the
bundle's SHA-256, so every change is a new object and a new launch template version), which user
data downloads with the AWS CLI that Amazon Linux 2023 ships, checks against that SHA-256 and
unpacks. The user data is then a few hundred bytes plus the environment, whatever the webapp's
size. Embedding the bundle in user data (`render` without a location) stays for small bundles and
tools that boot the webapp without S3; it fails clearly beyond the limit. The script uses Amazon
Linux 2023 packages only, installs a hardened systemd unit that restarts on failure, and starts it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import lzma
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdktf import Fn, Token
from constructs import Construct

import webapp
from config.naming import Namer
from modules import aws
from modules.bucket import SecureBucket

WEBAPP_DIR = Path(webapp.__file__).resolve().parent
INSTALL_DIR = "/opt/webapp"
USER_DATA_LIMIT = 16 * 1024
# The service uses the standard library; psql (postgresql15) runs its read-only readiness query;
# xz unpacks the bundle and the AWS CLI (awscli-2) fetches it. All are Amazon Linux 2023 packages.
PACKAGES = ("python3", "postgresql15", "xz", "awscli-2")
BUNDLE_PREFIX = "webapp/"  # the bundle's key: webapp/<sha256>.tar.xz
DOWNLOAD = "/run/webapp-bundle.tar.xz"


def bundle() -> bytes:
    """webapp/*.py as a reproducible tar.xz (no __pycache__, no timestamps). Every regional stack
    embeds the same bundle and xz at its strongest preset costs about 40 ms, so the result is kept
    per process for the files' exact bytes (`_compressed`): any edit compresses again."""
    sources = tuple((path.name, path.read_bytes()) for path in sorted(WEBAPP_DIR.glob("*.py")))
    return _compressed(sources)


@functools.lru_cache(maxsize=4)
def _compressed(sources: tuple[tuple[str, bytes], ...]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sources:
            info = tarfile.TarInfo(f"webapp/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return lzma.compress(raw.getvalue(), check=lzma.CHECK_CRC64, preset=9 | lzma.PRESET_EXTREME)


@dataclass(frozen=True)
class BundleLocation:
    """Where user data fetches the bundle: `s3://bucket/key`, checked against `sha256`."""

    bucket: str  # the bucket's name (may be a token)
    key: str
    sha256: str
    region: str  # the bucket's region (the instance's)


@dataclass(frozen=True)
class WebappBundleProps:
    namer: Namer
    region: str
    # a bucket of the region that nothing expires: the upload names its `bucket` attribute, so it
    # waits for the bucket, and the readers' grant comes from the bucket (`grant_read`)
    bucket: SecureBucket


class WebappBundle(Construct):
    """The bundle as an S3 object. Exposes `object`, `location` (for `encoded`) and `statements`
    for the instance role, which the bucket grants (`SecureBucket.grant_read`): s3:GetObject on
    exactly this object, and kms:Decrypt of the bucket's key through S3 in this region when it
    has one. Whoever may write to the bucket can only stop a boot, not change what runs: user
    data checks the SHA-256 it was rendered with."""

    def __init__(self, scope: Construct, construct_id: str, props: WebappBundleProps):
        super().__init__(scope, construct_id)
        data = bundle()
        digest = hashlib.sha256(data).hexdigest()
        key = f"{BUNDLE_PREFIX}{digest}.tar.xz"
        bucket_name = props.bucket.bucket.bucket
        kms_key = props.bucket.props.kms_key
        self.object = aws.s3_object.S3Object(
            self,
            "object",
            bucket=bucket_name,
            key=key,
            content_base64=base64.b64encode(data).decode(),
            content_type="application/x-xz",
            # Encrypted as the bucket would, stated here so an upload racing the bucket's encryption
            # configuration is never stored with S3's own key.
            server_side_encryption="aws:kms" if kms_key else "AES256",
            kms_key_id=kms_key.arn if kms_key else None,
            tags=props.namer.resource_tags("webapp-bundle"),
        )
        self.location = BundleLocation(bucket_name, key, digest, props.region)
        self.statements = props.bucket.grant_read(key, "WebappBundle", props.region)


def unit_file() -> str:
    return f"""[Unit]
Description={webapp.SERVICE} HTTP service
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={webapp.SERVICE}
Group={webapp.SERVICE}
EnvironmentFile=/etc/{webapp.SERVICE}.env
Environment=PYTHONPATH={INSTALL_DIR} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ExecStart=/usr/bin/python3 -m webapp.server
Restart=on-failure
RestartSec=2
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX

[Install]
WantedBy=multi-user.target
"""


def install_commands(location: BundleLocation | None) -> str:
    """The lines that put the bundle under INSTALL_DIR: downloaded and checked, or embedded."""
    unpack = f"tar -xJ --no-same-owner -C {INSTALL_DIR}"
    if location is None:
        payload = base64.b64encode(bundle()).decode()
        return f"base64 -d <<'BUNDLE' | {unpack}\n{payload}\nBUNDLE"
    return "\n".join(
        [
            f"aws s3 cp --only-show-errors --region {location.region} s3://{location.bucket}/{location.key} {DOWNLOAD}",
            f"echo '{location.sha256}  {DOWNLOAD}' | sha256sum --check --quiet",
            f"{unpack} -f {DOWNLOAD}",
            f"rm -f {DOWNLOAD}",
        ]
    )


def render(environment: dict[str, str], location: BundleLocation | None = None) -> str:
    """The boot script; `environment` becomes /etc/webapp.env. Values are plain words or
    Terraform references (resolved at plan time, e.g. the database endpoint). With `location`
    the bundle is fetched from S3, else embedded."""
    for key, value in environment.items():
        if not key.isidentifier() or (not Token.is_unresolved(value) and any(c in value for c in "\n'\"$`\\ ")):
            raise ValueError(f"user data environment {key}={value!r}: plain values only")
    env_lines = "\n".join(f"{k}={v}" for k, v in sorted(environment.items()))
    script = f"""#!/bin/bash
# Installs and starts the {webapp.SERVICE} service (rendered by modules/userdata.py).
set -euo pipefail
dnf install -y {" ".join(PACKAGES)}
id {webapp.SERVICE} >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin {webapp.SERVICE}
install -d -o root -g root -m 0755 {INSTALL_DIR}
{install_commands(location)}
cat > /etc/{webapp.SERVICE}.env <<'ENV'
{env_lines}
ENV
cat > /etc/systemd/system/{webapp.SERVICE}.service <<'UNIT'
{unit_file()}UNIT
systemctl daemon-reload
systemctl enable --now {webapp.SERVICE}.service
"""
    size = len(script.encode())
    if size > USER_DATA_LIMIT:
        how = "" if location else ": deliver the bundle from S3 (WebappBundle, then encoded(..., location))"
        raise ValueError(f"user data is {size} bytes; EC2 allows {USER_DATA_LIMIT}{how}")
    return script


def encoded(environment: dict[str, str], location: BundleLocation | None = None) -> str:
    """Base64, as launch templates take it: encoded here when every value is known at synth
    time, by Terraform's base64encode when the script holds references."""
    script = render(environment, location)
    unresolved = [*environment.values(), *((location.bucket, location.region) if location else ())]
    if any(Token.is_unresolved(v) for v in unresolved):
        return Fn.base64encode(script)
    return base64.b64encode(script.encode()).decode()


def unpack(script: str, into: Path, fetch: Callable[[str, str, str], bytes] | None = None) -> dict[str, str]:
    """What an instance does with `script`, for tools that boot the webapp elsewhere (e2e/run.py,
    tests): the bundle (embedded, or from `fetch(region, bucket, key)` after the same SHA-256
    check) extracted under `into`; returns the environment file's settings."""
    env_file = re.search(r"<<'ENV'\n(.*?)\nENV\n", script, re.S)
    embedded = re.search(r"<<'BUNDLE'[^\n]*\n(.*?)\nBUNDLE\n", script, re.S)
    remote = re.search(r"--region (\S+) s3://([^/\s]+)/(\S+) .*?echo '([0-9a-f]{64}) ", script, re.S)
    if env_file is None or not (embedded or remote):
        raise ValueError("the user data holds no webapp bundle or environment file")
    if embedded:
        data = base64.b64decode(embedded.group(1))
    else:
        if fetch is None:
            raise ValueError(f"the bundle is s3://{remote.group(2)}/{remote.group(3)}: pass fetch to download it")
        data = fetch(remote.group(1), remote.group(2), remote.group(3))
        if hashlib.sha256(data).hexdigest() != remote.group(4):
            raise ValueError("the downloaded bundle does not match the SHA-256 in the user data")
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(data)), mode="r") as tar:
        tar.extractall(into, filter="data")
    return dict(line.split("=", 1) for line in env_file.group(1).splitlines() if "=" in line)
