"""What an instance runs at boot: the webapp, delivered as an asset rendered into user data.

The webapp package is bundled at synth time into a deterministic tar.gz (sorted entries, fixed
timestamps and owners, so synth output stays byte-identical) and embedded base64-encoded in a
shell script that uses Amazon Linux 2023 packages only, installs a hardened systemd unit that
restarts on failure, and starts it. EC2 caps user data at 16 KB; synth fails clearly beyond it.
"""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
from pathlib import Path

from cdktf import Fn, Token

import webapp

WEBAPP_DIR = Path(webapp.__file__).resolve().parent
INSTALL_DIR = "/opt/webapp"
USER_DATA_LIMIT = 16 * 1024
# The service uses the standard library; psql (postgresql15) runs its read-only readiness query.
PACKAGES = ("python3", "postgresql15")


def bundle() -> bytes:
    """webapp/*.py as a reproducible tar.gz (no __pycache__, no timestamps)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(WEBAPP_DIR.glob("*.py")):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"webapp/{path.name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


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


def render(environment: dict[str, str]) -> str:
    """The boot script; `environment` becomes /etc/webapp.env. Values are plain words or
    Terraform references (resolved at plan time, e.g. the database endpoint)."""
    for key, value in environment.items():
        if not key.isidentifier() or (not Token.is_unresolved(value) and any(c in value for c in "\n'\"$`\\ ")):
            raise ValueError(f"user data environment {key}={value!r}: plain values only")
    env_lines = "\n".join(f"{k}={v}" for k, v in sorted(environment.items()))
    payload = base64.b64encode(bundle()).decode()
    script = f"""#!/bin/bash
# Installs and starts the {webapp.SERVICE} service (rendered by modules/userdata.py).
set -euo pipefail
dnf install -y {" ".join(PACKAGES)}
id {webapp.SERVICE} >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin {webapp.SERVICE}
install -d -o root -g root -m 0755 {INSTALL_DIR}
base64 -d <<'BUNDLE' | tar -xz --no-same-owner -C {INSTALL_DIR}
{payload}
BUNDLE
cat > /etc/{webapp.SERVICE}.env <<'ENV'
{env_lines}
ENV
cat > /etc/systemd/system/{webapp.SERVICE}.service <<'UNIT'
{unit_file()}UNIT
systemctl daemon-reload
systemctl enable --now {webapp.SERVICE}.service
"""
    if len(script.encode()) > USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(script.encode())} bytes; EC2 allows {USER_DATA_LIMIT}")
    return script


def encoded(environment: dict[str, str]) -> str:
    """Base64, as launch templates take it: encoded here when every value is known at synth
    time, by Terraform's base64encode when the script holds references."""
    script = render(environment)
    if any(Token.is_unresolved(v) for v in environment.values()):
        return Fn.base64encode(script)
    return base64.b64encode(script.encode()).decode()
