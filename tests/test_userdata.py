"""R7: modules/userdata.py, the user data that installs the webapp bundle as an asset and runs it under systemd."""

from __future__ import annotations

import base64
import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from support.stack_names import region_of
from support.synth import user_data
from support.tfjson import only

import webapp

WEBAPP_DIR = Path(webapp.__file__).parent


@pytest.mark.parametrize("name", ["dev-us-east-1", "prod-us-west-2"])
def test_user_data_installs_the_webapp_as_an_asset_and_runs_it_under_systemd(synthesized, name, tmp_path):
    script = user_data(synthesized.stacks[name])
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # valid shell
    assert "dnf install -y python3 postgresql15" in script, "Amazon Linux 2023 packages only"
    assert "pip install" not in script and "curl" not in script and "wget" not in script
    payload = script.split("<<'BUNDLE'", 1)[1].split("\n", 1)[1].split("\nBUNDLE\n", 1)[0]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(base64.b64decode(payload)))) as bundle:
        files = {m.name: bundle.extractfile(m).read() for m in bundle.getmembers()}
    sources = {f"webapp/{p.name}": p.read_bytes() for p in WEBAPP_DIR.glob("*.py")}
    assert files == sources, "the instance runs exactly the webapp/ sources"
    unit = script.split("<<'UNIT'\n", 1)[1].split("UNIT\n", 1)[0]
    assert "Restart=on-failure" in unit and "ExecStart=/usr/bin/python3 -m webapp.server" in unit
    assert "User=webapp" in unit and "NoNewPrivileges=yes" in unit
    env_file = script.split("<<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    assert f"WEBAPP_REGION={region_of(name)}" in env_file and f"WEBAPP_PORT={webapp.PORT}" in env_file
    assert "systemctl enable --now webapp.service" in script
    assert len(script.encode()) <= 16 * 1024


def test_the_bundle_in_user_data_starts_and_serves_the_health_path(synthesized, tmp_path):
    """Boot what an instance boots: extract the bundle from the synthesized user data, start it
    with the rendered environment file, probe the target group's path, stop it with SIGTERM."""
    import signal
    import socket
    import sys
    import time
    from http.client import HTTPConnection

    stack = synthesized.stacks["prod-us-east-1"]
    script = user_data(stack)
    payload = script.split("<<'BUNDLE'", 1)[1].split("\n", 1)[1].split("\nBUNDLE\n", 1)[0]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(base64.b64decode(payload)))) as bundle:
        bundle.extractall(tmp_path, filter="data")
    env_file = script.split("<<'ENV'\n", 1)[1].split("\nENV\n", 1)[0]
    environment = dict(line.split("=", 1) for line in env_file.splitlines())
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
