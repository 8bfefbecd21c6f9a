"""R7: modules/userdata.py, the user data that installs the webapp bundle (an S3 object it
downloads and checks) and runs it under systemd; EC2's 16,384-byte limit on every stack."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import lzma
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from support.stack_names import REGIONAL, region_of
from support.synth import user_data
from support.tfjson import only, resources

import webapp
from modules import userdata

WEBAPP_DIR = Path(webapp.__file__).parent
SOURCES = {f"webapp/{p.name}": p.read_bytes() for p in WEBAPP_DIR.glob("*.py")}


def bundle_object(stack) -> dict:
    """The stack's aws_s3_object holding the bundle."""
    (body,) = [b for b in resources(stack, "aws_s3_object").values() if b["key"].startswith(userdata.BUNDLE_PREFIX)]
    return body


def fetch_from(stack):
    """What `aws s3 cp` returns on the instance: the object the stack uploads (checked to be the
    one the user data names)."""

    def fetch(region, bucket, key):
        body = bundle_object(stack)
        assert (bucket, key) == (body["bucket"], body["key"]) and region == region_of_stack(stack)
        return base64.b64decode(body["content_base64"])

    return fetch


def region_of_stack(stack) -> str:
    return stack["provider"]["aws"][0]["region"]


def files_of(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(lzma.decompress(data))) as bundle:
        return {m.name: bundle.extractfile(m).read() for m in bundle.getmembers()}


@pytest.mark.parametrize("name", REGIONAL)
def test_every_stacks_user_data_fits_ec2s_limit_with_room_to_grow(synthesized, name):
    """The real rendered script of every regional stack, its references at their longest: the
    database endpoint (an RDS host name) and the bucket name resolve to at most 255 characters."""
    script = user_data(synthesized.stacks[name])
    worst = re.sub(r"\$\{[^}]*\}", "x" * 255, script)
    assert len(worst.encode()) <= userdata.USER_DATA_LIMIT // 2, "half the limit: room for the environment to grow"


@pytest.mark.parametrize("name", ["dev-us-east-1", "prod-us-west-2"])
def test_user_data_downloads_the_bundle_checks_it_and_runs_it_under_systemd(synthesized, name):
    stack = synthesized.stacks[name]
    script = user_data(stack)
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # valid shell
    assert "dnf install -y python3 postgresql15 xz awscli-2" in script, "Amazon Linux 2023 packages only"
    assert "pip install" not in script and "curl" not in script and "wget" not in script
    body = bundle_object(stack)
    data = base64.b64decode(body["content_base64"])
    digest = hashlib.sha256(data).hexdigest()
    assert body["key"] == f"webapp/{digest}.tar.xz", "a new object (and launch template) for every change"
    download = f"aws s3 cp --only-show-errors --region {region_of(name)} s3://{body['bucket']}/{body['key']} "
    assert download in script
    assert f"echo '{digest}  {userdata.DOWNLOAD}' | sha256sum --check --quiet" in script, "checked before use"
    assert script.index("sha256sum") < script.index("tar -xJ")
    assert files_of(data) == SOURCES, "the instance runs exactly the webapp/ sources, unstripped"
    unit = script.split("<<'UNIT'\n", 1)[1].split("UNIT\n", 1)[0]
    assert "Restart=on-failure" in unit and "ExecStart=/usr/bin/python3 -m webapp.server" in unit
    assert "User=webapp" in unit and "NoNewPrivileges=yes" in unit
    env_file = script.split("<<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    assert f"WEBAPP_REGION={region_of(name)}" in env_file and f"WEBAPP_PORT={webapp.PORT}" in env_file
    assert "systemctl enable --now webapp.service" in script


@pytest.mark.parametrize("name", ["dev-us-east-1", "prod-us-west-2"])
def test_the_instance_role_reads_exactly_the_bundle(synthesized, name):
    """s3:GetObject on the bundle's own key, nothing wider, in the web role's policy."""
    stack = synthesized.stacks[name]
    body = bundle_object(stack)

    def bucket_name(ref: str) -> str:  # a name, or ${aws_s3_bucket.X.arn|bucket|id}
        found = re.fullmatch(r"\$\{aws_s3_bucket\.([^.]+)\.(?:arn|bucket|id)\}", ref)
        return resources(stack, "aws_s3_bucket")[found[1]]["bucket"] if found else ref

    (role_policy,) = [p for p in resources(stack, "aws_iam_role_policy").values() if "web" in p["role"]]
    document = role_policy["policy"].removeprefix("${data.aws_iam_policy_document.").removesuffix(".json}")
    statements = stack["data"]["aws_iam_policy_document"][document]["statement"]
    reads = [s for s in statements if any(a.startswith("s3:") for a in s["actions"])]
    (read,) = reads
    (resource,) = read["resources"]
    bucket, _, key = resource.partition("}/") if resource.startswith("${") else resource.partition("/")
    assert read["actions"] == ["s3:GetObject"] and key == body["key"]
    assert bucket_name(bucket + "}" if bucket.startswith("${") else bucket) == bucket_name(body["bucket"])


def test_the_bundle_is_reproducible_and_xz():
    first = userdata.bundle()
    userdata._compressed.cache_clear()  # compressed again, not the per-process copy
    assert userdata.bundle() == first
    assert userdata.bundle().startswith(b"\xfd7zXZ\x00")
    assert files_of(userdata.bundle()) == SOURCES


def test_the_bundle_kept_per_process_follows_every_edit(tmp_path, monkeypatch):
    monkeypatch.setattr(userdata, "WEBAPP_DIR", tmp_path)
    (tmp_path / "server.py").write_text("print(1)\n")
    before = userdata.bundle()
    (tmp_path / "server.py").write_text("print(2)\n")
    after = userdata.bundle()
    assert before != after and files_of(after) == {"webapp/server.py": b"print(2)\n"}


def test_an_embedded_bundle_beyond_the_limit_fails_clearly(monkeypatch):
    monkeypatch.setattr(userdata, "bundle", lambda: os.urandom(13000))  # incompressible
    with pytest.raises(ValueError, match=r"EC2 allows 16384: deliver the bundle from S3"):
        userdata.render({"WEBAPP_REGION": "us-east-1"})


def test_unpack_refuses_a_bundle_that_does_not_match_its_checksum(tmp_path):
    location = userdata.BundleLocation("bucket", "webapp/x.tar.xz", "0" * 64, "us-east-1")
    script = userdata.render({"WEBAPP_REGION": "us-east-1"}, location)
    with pytest.raises(ValueError, match="does not match the SHA-256"):
        userdata.unpack(script, tmp_path, lambda *_: userdata.bundle())
    with pytest.raises(ValueError, match="pass fetch"):
        userdata.unpack(script, tmp_path)
    with pytest.raises(ValueError, match="no webapp bundle"):
        userdata.unpack("#!/bin/bash\necho hi\n", tmp_path)


def test_the_bundle_from_user_data_starts_and_serves_the_health_path(synthesized, tmp_path):
    """Boot what an instance boots: fetch and extract the bundle the synthesized user data names,
    start it with the rendered environment file, probe the target group's path, stop it with SIGTERM."""
    import signal
    import socket
    import sys
    import time
    from http.client import HTTPConnection

    stack = synthesized.stacks["prod-us-east-1"]
    script = user_data(stack)
    environment = userdata.unpack(script, tmp_path, fetch_from(stack))
    environment = {k: v for k, v in environment.items() if "${" not in v}  # references: not resolvable here
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment.update(WEBAPP_PORT=str(port), WEBAPP_HOST="127.0.0.1", PYTHONPATH=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.server"], env=environment, cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        path = only(stack, "aws_lb_target_group")[1]["health_check"]["path"]
        for _ in range(50):
            try:
                conn = HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", path)
                response = conn.getresponse()
                body = json.loads(response.read())
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        assert response.status == 200 and body == {"status": "ok"}
        conn.request("GET", "/")
        assert json.loads(conn.getresponse().read())["region"] == "us-east-1"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0, "stops cleanly on SIGTERM (systemd stop)"
    first = json.loads(process.stdout.readline())
    assert first["msg"] == "listening" and first["environment"] == "prod"


def test_a_small_bundle_can_still_be_embedded(tmp_path, monkeypatch):
    """Without a location the bundle travels in the script (tools, tests), unpacked the same way."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("webapp/__init__.py")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"#\n"))
    monkeypatch.setattr(userdata, "bundle", lambda: lzma.compress(raw.getvalue()))
    script = userdata.render({"WEBAPP_REGION": "us-east-1"})
    assert "base64 -d <<'BUNDLE' | tar -xJ --no-same-owner -C /opt/webapp" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    assert userdata.unpack(script, tmp_path) == {"WEBAPP_REGION": "us-east-1"}
    assert (tmp_path / "webapp" / "__init__.py").read_text() == "#\n"
