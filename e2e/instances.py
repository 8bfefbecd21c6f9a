"""What the operator's smoke test asks of AWS that moto 5.2.5 only pretends to do, answered
against the loopback stand-ins `e2e/run.py` starts (`StandIns`, filled in by it).

- SSM Run Command: moto's SendCommand stores the command and its GetCommandInvocation always says
  "Success" with empty output; nothing runs. Here the first GetCommandInvocation of an
  `AWS-RunShellScript` command starts its script with bash on this machine, as the instance's SSM
  agent would, with the instance's loopback service port (`127.0.0.1:<port>`) pointed at the
  region's stand-in webapp; until it ends the invocation is `InProgress`, then `Success` or
  `Failed` (the exit code), or `TimedOut` after the command's `executionTimeout`. Instances of a
  region without a stand-in get `Failed`, saying so.
- Route 53 GetHealthCheckStatus: moto answers "Success" for any health check. Here a health
  check's target (its FQDN, port, path and protocol) is really requested, the way Route 53's
  checkers do (HTTPS without verifying the certificate, SNI on), through the address a stand-in
  answers that name on; no stand-in for the name, or a non-2xx/3xx answer, is a "Failure".
"""

from __future__ import annotations

import datetime
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_STATUS_PATH = re.compile(r"^/2013-04-01/healthcheck/([^/]+)/status$")
R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"
CHECKER_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1")  # three of Route 53's checker regions


def region_of(request: Request) -> str:
    """The region a SigV4 request is signed for."""
    match = _CREDENTIAL.search(request.headers.get("Authorization", ""))
    return match.group(1) if match else "us-east-1"


@dataclass
class _Run:
    status: str = "InProgress"
    code: int = -1
    stdout: str = ""
    stderr: str = ""
    started: str = field(default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat())


@dataclass
class StandIns:
    """Where the stand-ins listen: `webapps[(account, region)] = (instance port, loopback port)` and
    `endpoints[name] = (address, port)` for the names a health check may target."""

    webapps: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    endpoints: dict[str, tuple[str, int]] = field(default_factory=dict)
    _runs: dict[tuple[str, str], _Run] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- SSM ------------------------------------------------------------------------------------

    def command_invocation(self, request: Request, account: str) -> Response | None:
        """GetCommandInvocation of an AWS-RunShellScript command moto holds; None leaves it to moto."""
        from moto.ssm.models import ssm_backends

        data = request.get_data()
        request.environ["wsgi.input"] = io.BytesIO(data)  # moto reads the body again when we pass
        body = json.loads(data or b"{}")
        region = region_of(request)
        command_id, instance = body.get("CommandId", ""), body.get("InstanceId", "")
        commands = [c for c in ssm_backends[account][region]._commands if c.command_id == command_id]
        if (
            not commands
            or instance not in commands[0].instance_ids
            or commands[0].document_name != "AWS-RunShellScript"
        ):
            return None  # moto's answer: InvalidCommandId, InvocationDoesNotExist, or its own
        command = commands[0]
        with self._lock:
            run = self._runs.get((command_id, instance))
            if run is None:
                run = self._runs[(command_id, instance)] = _Run()
                threading.Thread(
                    target=self._execute,
                    args=(run, command.parameters, self.webapps.get((account, region))),
                    name=f"ssm-{command_id[:8]}",
                    daemon=True,
                ).start()
        return Response(
            json.dumps(
                {
                    "CommandId": command_id,
                    "InstanceId": instance,
                    "Comment": command.comment,
                    "DocumentName": command.document_name,
                    "PluginName": "aws:runShellScript",
                    "ResponseCode": run.code,
                    "ExecutionStartDateTime": run.started,
                    "Status": run.status,
                    "StatusDetails": run.status,
                    "StandardOutputContent": run.stdout,
                    "StandardErrorContent": run.stderr,
                    "StandardOutputUrl": "",
                    "StandardErrorUrl": "",
                }
            ),
            200,
            content_type="application/x-amz-json-1.1",
        )

    @staticmethod
    def _execute(run: _Run, parameters: dict[str, list[str]], webapp: tuple[int, int] | None) -> None:
        if webapp is None:
            run.stderr, run.code, run.status = (
                ("emulator: no stand-in webapp for this instance's region, so the command cannot run there"),
                1,
                "Failed",
            )
            return
        instance_port, loopback_port = webapp
        script = "\n".join(parameters.get("commands", [])).replace(
            f"127.0.0.1:{instance_port}", f"127.0.0.1:{loopback_port}"
        )
        limit = float((parameters.get("executionTimeout") or ["3600"])[0])
        process = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:  # the agent ends the whole script, children included
            os.killpg(process.pid, signal.SIGKILL)
            stdout, _ = process.communicate()
            run.stdout, run.stderr, run.code, run.status = (
                stdout,
                f"execution timed out after {limit:g} s",
                -1,
                "TimedOut",
            )
            return
        run.stdout, run.stderr, run.code = stdout, stderr, process.returncode
        run.status = "Success" if process.returncode == 0 else "Failed"

    # --- Route 53 -------------------------------------------------------------------------------

    def health_check_status(self, request: Request, account: str) -> Response | None:
        """GET /2013-04-01/healthcheck/<id>/status for a health check moto holds; None leaves it to moto."""
        from moto.route53.models import route53_backends

        match = _STATUS_PATH.match(request.path)
        if request.method != "GET" or not match:
            return None
        check = route53_backends[account]["aws"].health_checks.get(match.group(1))
        if check is None:
            return None  # moto's NoSuchHealthCheck
        status = self._probe(check)
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        observations = "".join(
            f"<HealthCheckObservation><Region>{region}</Region><IPAddress>127.0.0.1</IPAddress><StatusReport>"
            f"<Status>{status}</Status><CheckedTime>{now}</CheckedTime></StatusReport></HealthCheckObservation>"
            for region in CHECKER_REGIONS
        )
        return Response(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<GetHealthCheckStatusResponse xmlns="{R53_NS}">'
            f"<HealthCheckObservations>{observations}</HealthCheckObservations>"
            "</GetHealthCheckStatusResponse>",
            200,
            content_type="text/xml",
        )

    def _probe(self, check: Any) -> str:
        name = check.fqdn or check.ip_address or ""
        address = self.endpoints.get(name.lower())
        if address is None:
            return f"Failure: Connection timed out. The endpoint {name} did not answer (no stand-in for it)"
        kind = (check.type_ or "HTTP").upper()
        started = time.monotonic()
        try:
            raw = socket.create_connection(address, timeout=4)
            if kind.startswith("HTTPS"):
                context = ssl.create_default_context()
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # Route 53 does not verify
                raw = context.wrap_socket(raw, server_hostname=name if check.enable_sni else None)
            connection = http.client.HTTPConnection(name, timeout=4)
            connection.sock = raw  # already connected to the stand-in's address
            connection.request(
                "GET",
                check.resource_path or "/",
                headers={"Host": name, "User-Agent": "Amazon-Route53-Health-Check-Service (emulator)"},
            )
            reply = connection.getresponse()
            connection.close()
        except OSError as exc:
            return f"Failure: Connection to {name} failed: {exc}"
        if 200 <= reply.status < 400:
            return (
                f"Success: HTTP Status Code {reply.status}, {reply.reason} "
                f"({(time.monotonic() - started) * 1000:.0f} ms)"
            )
        return f"Failure: HTTP Status Code {reply.status}, {reply.reason}"
