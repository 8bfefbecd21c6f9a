"""F7/F14: the application the instances run, over real HTTP on loopback."""

from __future__ import annotations

import ast
import io
import json
import socket
import threading
from contextlib import contextmanager, redirect_stdout
from http.client import HTTPConnection
from pathlib import Path

import pytest
from tfjson import resources

import webapp
from webapp import server
from webapp.database import DatabaseCheck, NotConfigured

WEBAPP_DIR = Path(webapp.__file__).parent


class Exploding(DatabaseCheck):
    def check(self):
        raise RuntimeError("secret detail that must not leak")


@contextmanager
def running(database: DatabaseCheck | None = None):
    logs = io.StringIO()
    with redirect_stdout(logs):
        srv = server.make_server("127.0.0.1", 0, database or NotConfigured(),
                                 {"environment": "dev", "region": "us-east-1"})
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        thread.start()
        try:
            yield srv.server_address[1], logs
        finally:
            srv.shutdown()
            srv.server_close()


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def raw(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def status_and_body(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}


def test_the_synthesized_target_group_path_answers_200(synthesized):
    groups = [tg for stack in synthesized.stacks.values() for tg in resources(stack, "aws_lb_target_group").values()]
    assert len(groups) == 6, "one target group per regional stack"
    paths = {tg["health_check"]["path"] for tg in groups}
    ports = {tg["port"] for tg in groups}
    assert paths == {webapp.HEALTH_PATH} and ports == {webapp.PORT}
    with running() as (port, _):
        for path in paths:
            response, data = request(port, "GET", path)
            assert response.status == 200
            assert json.loads(data) == {"status": "ok"}
            assert response.getheader("Content-Type") == "application/json"


def test_readiness_reports_the_database_as_not_configured():
    with running() as (port, _):
        response, data = request(port, "GET", webapp.READY_PATH)
    assert response.status == 503
    assert json.loads(data) == {"status": "not ready", "checks": {"database": "not configured"}}


def test_index_tells_which_environment_and_region_answered():
    with running() as (port, _):
        response, data = request(port, "GET", "/?probe=1")
    assert response.status == 200
    assert json.loads(data) == {"service": "webapp", "environment": "dev", "region": "us-east-1"}


def test_unknown_paths_404_and_wrong_methods_405():
    with running() as (port, _):
        response, data = request(port, "GET", "/nope")
        assert response.status == 404 and json.loads(data) == {"error": "not found"}
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            response, data = request(port, method, webapp.HEALTH_PATH, body=b"x")
            assert response.status == 405
            assert response.getheader("Allow") == "GET, HEAD"
        response, data = request(port, "HEAD", webapp.HEALTH_PATH)
        assert response.status == 200 and data == b""


@pytest.mark.parametrize(("payload", "status"), [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /health HTTP/9.9\r\n\r\n", 505),
    (b"GET http://evil.example/health HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET //evil.example/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (400, 404)),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 431),
])
def test_malformed_requests_get_a_json_error_and_no_stack_trace(payload, status):
    with running() as (port, logs):
        response = raw(port, payload)
        code, body = status_and_body(response)
        assert code in (status if isinstance(status, tuple) else (status,)), response[:200]
        assert "error" in body
        assert b"Traceback" not in response and b"<html" not in response.lower()
        ok, _ = request(port, "GET", webapp.HEALTH_PATH)  # the server survives
        assert ok.status == 200
    for line in logs.getvalue().splitlines():
        json.loads(line)  # every log line is structured


def test_an_unexpected_exception_is_a_500_without_details_and_is_logged():
    with running(Exploding()) as (port, logs):
        response, data = request(port, "GET", webapp.READY_PATH)
    assert response.status == 500
    assert json.loads(data) == {"error": "internal error"}
    assert b"secret detail" not in data
    errors = [json.loads(line) for line in logs.getvalue().splitlines() if '"level": "error"' in line]
    assert errors and "secret detail" in errors[0]["traceback"]


def test_access_log_is_one_json_object_per_request():
    with running() as (port, logs):
        request(port, "GET", webapp.HEALTH_PATH)
    records = [json.loads(line) for line in logs.getvalue().splitlines()]
    access = [r for r in records if r["msg"] == "request"]
    assert access and access[0]["path"] == webapp.HEALTH_PATH and access[0]["status"] == 200
    assert {"ts", "level", "service", "duration_ms"} <= set(access[0])


@pytest.mark.parametrize("port", ["http", "0", "70000", "-1"])
def test_invalid_port_setting_exits_2_with_a_clear_log(port):
    logs = io.StringIO()
    with redirect_stdout(logs):
        assert server.main({"WEBAPP_PORT": port}) == 2
    record = json.loads(logs.getvalue())
    assert record["level"] == "error" and "WEBAPP_PORT" in record["msg"]


def test_webapp_runs_on_amazon_linux_2023_python_3_9():
    """The instance's system Python is 3.9: no newer syntax in the service."""
    for path in WEBAPP_DIR.glob("*.py"):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
