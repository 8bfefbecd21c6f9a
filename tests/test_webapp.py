"""F7/F14: the application the instances run, over real HTTP on loopback.

Runs twice: here, and on Amazon Linux 2023's Python 3.9 (tests/test_runtimes_real.py), so it
uses only pytest and the standard library. That the target groups and health checks probe
HEALTH_PATH on PORT is asserted on the synthesized stacks in tests/test_alb.py, tests/test_compute.py and
tests/test_dns_failover.py.
"""

from __future__ import annotations

import io
import json
import re
import socket
import threading
from contextlib import redirect_stderr, redirect_stdout
from http.client import HTTPConnection

import pytest
from support.webapp_server import request, running

import webapp
from webapp import server
from webapp.database import DatabaseCheck, NotConfigured, Status


class Exploding(DatabaseCheck):
    def check(self):
        raise RuntimeError("secret detail that must not leak")


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


def test_the_health_path_answers_200():
    with running() as (port, _):
        response, data = request(port, "GET", webapp.HEALTH_PATH)
    assert response.status == 200
    assert json.loads(data) == {"status": "ok"}
    assert response.getheader("Content-Type") == "application/json"


def test_readiness_reports_the_database_as_not_configured():
    with running() as (port, _):
        response, data = request(port, "GET", webapp.READY_PATH)
    assert response.status == 503
    assert json.loads(data) == {"status": "not ready", "checks": {"database": "not configured"}}


class Answering(DatabaseCheck):
    def __init__(self, status):
        self.answer = status

    def status(self):
        return self.answer


@pytest.mark.parametrize(
    ("answer", "code", "body"),
    [
        (Status(True, "ok", "writer"), 200, {"role": "writer", "lag_seconds": None}),
        (Status(True, "ok", "replica", 2.5), 200, {"role": "replica", "lag_seconds": 2.5}),
        (Status(True, "ok", "replica", None), 200, {"role": "replica", "lag_seconds": None}),
        (Status(False, "unreachable: timeout"), 503, {}),
    ],
)
def test_readiness_carries_the_database_role_and_lag(answer, code, body):
    """What `failover` and `smoke` read: role and lag_seconds, top level, once the database
    answered; a replica, lagging or not, is ready."""
    with running(Answering(answer)) as (port, _):
        response, data = request(port, "GET", webapp.READY_PATH)
    assert response.status == code
    expected = {"status": "ready" if answer.ok else "not ready", "checks": {"database": answer.detail}, **body}
    assert json.loads(data) == expected


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


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /health HTTP/9.9\r\n\r\n", 505),
        (b"GET http://evil.example/health HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET //evil.example/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", (400, 404)),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n", 400),  # isdigit(), not int()
        (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 431),
    ],
)
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


def test_a_readiness_check_that_raises_is_not_ready_with_a_reason_never_a_500():
    """Whatever goes wrong inside the check (a bug, an API the interpreter lacks), /ready answers
    503 with a reason the load balancer and an operator can read; the traceback goes to the log."""
    with running(Exploding()) as (port, logs):
        response, data = request(port, "GET", webapp.READY_PATH)
        assert request(port, "GET", webapp.HEALTH_PATH)[0].status == 200
    assert response.status == 503
    assert json.loads(data) == {"status": "not ready", "checks": {"database": "check failed (RuntimeError)"}}
    assert b"secret detail" not in data
    errors = [json.loads(line) for line in logs.getvalue().splitlines() if '"level": "error"' in line]
    assert errors and "secret detail" in errors[0]["traceback"]


def test_an_unexpected_exception_is_a_500_without_details_and_is_logged(monkeypatch):
    def explode(self):
        raise RuntimeError("secret detail that must not leak")

    monkeypatch.setattr(server.Handler, "_index", explode)
    with running() as (port, logs):
        response, data = request(port, "GET", "/")
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


# ---------------------------------------------------------------------- under load


def test_a_burst_of_connections_waits_in_the_listen_queue_instead_of_being_dropped():
    """100 clients connect and send their request while the server is not yet accepting: all are
    queued by the kernel and all answered. socketserver's default backlog of 5 drops the SYNs
    beyond it, and those clients stall for a second or more (their connect times out here)."""
    logs = io.StringIO()
    with redirect_stdout(logs):
        srv = server.make_server("127.0.0.1", 0, NotConfigured(), {"environment": "dev", "region": "us-east-1"})
        port = srv.server_address[1]
        clients = []
        thread = threading.Thread(target=srv.serve_forever, daemon=True)
        try:
            try:
                for _ in range(100):
                    clients.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError as exc:
                pytest.fail(
                    f"connection {len(clients) + 1} of 100 was not queued ({exc}): the listen backlog is too small"
                )
            for sock in clients:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            thread.start()
            for sock in clients:
                sock.settimeout(10)
                assert read_one_response(sock)[0] == 200
        finally:
            for sock in clients:
                sock.close()
            if thread.is_alive():
                srv.shutdown()
            srv.server_close()


def read_one_response(sock: socket.socket, data: bytes = b"") -> tuple[int, bytes, int]:
    """(status, body, recv calls) of one response with a Content-Length."""
    calls = 0
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        calls += 1
        assert chunk, "the server closed the connection before a response"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        calls += 1
        assert chunk, "the server closed the connection mid-body"
        body += chunk
    return int(head.split(b" ", 2)[1]), body, calls


def test_each_response_leaves_in_one_write_with_nagle_off(monkeypatch):
    """Headers and body in one segment, on a socket with TCP_NODELAY: on a keep-alive connection
    a separate body write waits for the client's delayed ACK (about 40 ms on Linux)."""
    nodelay = []
    setup = server.Handler.setup

    def spy(self):
        setup(self)
        nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(server.Handler, "setup", spy)
    with running() as (port, _), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for path in [webapp.HEALTH_PATH, webapp.READY_PATH, "/", "/nope"] * 5:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            _, body, calls = read_one_response(sock)
            assert json.loads(body) and calls == 1, f"{path}: the response arrived in {calls} pieces"
    assert nodelay and all(nodelay), "TCP_NODELAY is set on every accepted connection"


def test_many_concurrent_keep_alive_clients_are_all_answered():
    """200 clients at once, each with several requests on one connection: every request answered."""
    results: list[int] = []
    failures: list[str] = []

    def client(port: int) -> None:
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=30)
            for _ in range(5):
                conn.request("GET", webapp.HEALTH_PATH)
                response = conn.getresponse()
                response.read()
                results.append(response.status)
            conn.close()
        except OSError as exc:
            failures.append(repr(exc))

    with running() as (port, _):
        threads = [threading.Thread(target=client, args=(port,)) for _ in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not failures, failures[:3]
    assert results == [200] * 1000


def test_a_client_that_disconnects_is_a_log_line_not_a_traceback(monkeypatch):
    """Under load clients reset connections mid-request: a JSON log line, nothing on stderr."""

    def gone(self):
        raise ConnectionResetError("peer reset")

    monkeypatch.setattr(server.Handler, "parse_request", gone)
    stderr = io.StringIO()
    with redirect_stderr(stderr), running() as (port, logs):
        assert raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n") == b""
        monkeypatch.undo()
        assert request(port, "GET", webapp.HEALTH_PATH)[0].status == 200
    assert stderr.getvalue() == ""
    records = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert {"msg": "client disconnected", "reason": "ConnectionResetError"}.items() <= records[0].items()


def test_idle_keep_alive_connections_hold_no_thread():
    """A thread per connection let hundreds of busy threads fight over the interpreter lock (the
    timeouts at 400 connections); idle connections now wait in epoll and a fixed pool serves."""
    with running() as (port, _):
        # Threads other tests left behind may end meanwhile: compare identities, not a count.
        baseline = set(threading.enumerate())
        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(100)]
        try:
            for sock in clients:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            for sock in clients:
                assert read_one_response(sock)[0] == 200
            started = set(threading.enumerate()) - baseline
            assert not started, f"100 open keep-alive connections, no new threads: {started}"
            for sock in clients:  # and each is still usable
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_one_response(sock)[0] == 200
        finally:
            for sock in clients:
                sock.close()


def test_pipelined_requests_are_all_answered_in_order():
    with running() as (port, _), socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200", b"404", b"200"]


def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(monkeypatch):
    monkeypatch.setattr(server, "IDLE_TIMEOUT", 0)
    with running() as (port, _), socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_one_response(sock)[0] == 200
        assert sock.recv(1) == b"", "the server closed the idle connection"


class Blocking(DatabaseCheck):
    """A database that does not answer until released."""

    def __init__(self):
        self.entered, self.release, self.calls = threading.Event(), threading.Event(), 0

    def check(self):
        self.calls += 1
        self.entered.set()
        self.release.wait(30)
        return True, "ok"


def wait_until(condition, seconds=10.0):
    pause = threading.Event()
    for _ in range(int(seconds / 0.01)):
        if condition():
            return True
        pause.wait(0.01)
    return condition()


def test_a_slow_database_never_holds_up_the_health_path(monkeypatch):
    """/ready is public (through CloudFront) and workers are few: while one check waits on the
    database, at most READY_WAITERS other /ready callers wait for it, the rest get "checking" at
    once, and /health keeps answering."""
    monkeypatch.setattr(server, "READY_TTL", 600)  # the answer is reused however slow this machine is
    monkeypatch.setattr(server, "READY_WAIT", 600)  # waiters hold their worker until the database answers
    database = Blocking()
    with running(database) as (port, _):
        first: list = []
        waiting = threading.Thread(target=lambda: first.append(request(port, "GET", webapp.READY_PATH)))
        waiting.start()
        flood_answers: list = []
        flood = [
            threading.Thread(target=lambda: flood_answers.append(request(port, "GET", webapp.READY_PATH)))
            for _ in range(3 * server.WORKERS)
        ]
        try:
            assert database.entered.wait(10)
            for thread in flood:
                thread.start()
            wait_until(lambda: len(flood_answers) >= len(flood) - server.READY_WAITERS)
            turned_away = list(flood_answers)
            assert len(turned_away) == len(flood) - server.READY_WAITERS
            for response, data in turned_away:
                assert response.status == 503
                assert json.loads(data)["checks"] == {"database": "checking"}
            assert request(port, "GET", webapp.HEALTH_PATH)[0].status == 200
        finally:
            database.release.set()
            waiting.join()
            for thread in flood:
                thread.join()
        assert first[0][0].status == 200
        waited = flood_answers[len(turned_away) :]
        assert [response.status for response, _ in waited] == [200] * server.READY_WAITERS, "waiters got the answer"
        assert request(port, "GET", webapp.READY_PATH)[0].status == 200, "the answer is reused"
    assert database.calls == 1


def test_a_caller_during_a_check_gets_its_answer_when_it_comes_within_ready_wait():
    """The start-up warm-up runs the first check; a probe arriving meanwhile (smoke's, the load
    balancer's) used to be told "checking" and counted as not ready. It now waits for that answer."""
    database = Blocking()
    readiness = server.Readiness(database)
    warm_up = threading.Thread(target=readiness.check)
    warm_up.start()
    answers: list = []
    try:
        assert database.entered.wait(10)
        probe = threading.Thread(target=lambda: answers.append(readiness.check()))
        probe.start()
        assert wait_until(lambda: readiness.waiting == 1), "the probe waits for the check in progress"
        database.release.set()
        probe.join()
    finally:
        database.release.set()
        warm_up.join()
    assert answers == [(True, "ok")] and database.calls == 1 and readiness.waiting == 0


def test_a_caller_whose_wait_runs_out_is_told_checking(monkeypatch):
    monkeypatch.setattr(server, "READY_WAIT", 0.05)
    database = Blocking()
    readiness = server.Readiness(database)
    warm_up = threading.Thread(target=readiness.check)
    warm_up.start()
    try:
        assert database.entered.wait(10)
        assert readiness.check() == (False, "checking")
        assert readiness.waiting == 0
    finally:
        database.release.set()
        warm_up.join()
    assert database.calls == 1


def test_a_stale_readiness_answer_is_not_reused_while_a_new_check_runs(monkeypatch):
    """While a check runs, an answer older than READY_TTL says nothing about the database now."""
    monkeypatch.setattr(server, "READY_WAIT", 0.05)
    now = [0.0]
    database = Blocking()
    database.release.set()
    readiness = server.Readiness(database, clock=lambda: now[0])
    assert readiness.check() == (True, "ok")
    now[0] = 1000.0
    database.release.clear()
    database.entered.clear()
    checking = threading.Thread(target=readiness.check)
    checking.start()
    try:
        assert database.entered.wait(10)
        assert readiness.check() == (False, "checking")
    finally:
        database.release.set()
        checking.join()
    assert readiness.check() == (True, "ok") and database.calls == 2


def test_slow_clients_hold_no_worker():
    """Clients that trickle their request (a body, or even the request line) used to hold a
    worker each for up to 15 s per read: WORKERS of them silenced HEALTH_PATH. Requests are now
    buffered whole before a worker sees them."""
    with running() as (port, _):
        slow = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2 * server.WORKERS)]
        try:
            for n, sock in enumerate(slow):
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx" if n % 2 else b"GET /hea")
            with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:  # generous: a loopback answer
                probe.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_one_response(probe)[0] == 200
            for n, sock in enumerate(slow):  # the trickled requests, once whole, are served
                sock.sendall(b"x" * 999 if n % 2 else b"lth HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_one_response(sock)[0] == (405 if n % 2 else 200)
        finally:
            for sock in slow:
                sock.close()


def test_a_request_not_sent_in_time_is_answered_408_and_closed(monkeypatch):
    monkeypatch.setattr(server, "REQUEST_TIMEOUT", 0)  # checked once a second
    with running() as (port, _), socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nx")
        assert read_one_response(sock)[0] == 408
        assert sock.recv(1) == b""


def test_expect_100_continue_is_answered_before_the_body_is_sent():
    """A client that waits for 100 Continue before its body (curl does, for larger bodies) used
    to wait forever: http.server buffered the 100 and never sent it before reading the body."""
    with running() as (port, _), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            interim += sock.recv(1)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        assert read_one_response(sock)[0] == 200, "one final response, no second 100"
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi")
        assert read_one_response(sock)[0] == 200, "a body sent without waiting gets no 100"


def test_a_request_sent_one_byte_at_a_time_is_served():
    """The end of the headers may span reads: the watcher's scan resumes where it stopped."""
    with running() as (port, _), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(2):
            for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok":
                sock.sendall(bytes([byte]))
            assert read_one_response(sock)[0] == 200


class Sequence(DatabaseCheck):
    """Answers from a list, one per check (the last one repeats)."""

    def __init__(self, *answers: Status) -> None:
        self.answers, self.calls = list(answers), 0

    def status(self) -> Status:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


def test_the_database_is_checked_at_start_until_it_answers():
    """The writer's first check creates the application's role the replicas need; nothing but an
    operator calls /ready, so the service checks by itself at start, retrying while the database
    is still coming up, and stops once it answered."""
    database = Sequence(Status(False, "unreachable"), Status(False, "unreachable"), Status(True, "ok", "writer"))
    slept = []
    clock = iter(range(0, 1000, 10))  # past READY_TTL between checks, so each one reaches the database
    readiness = server.Readiness(database, clock=lambda: next(clock))
    with redirect_stdout(io.StringIO()) as out:
        assert server.warm_up(readiness, attempts=5, interval=7.0, sleep=slept.append) is True
    assert database.calls == 3 and slept == [7.0, 7.0]
    assert '"msg": "database ready at start"' in out.getvalue()


def test_the_start_check_gives_up_with_the_reason():
    database = Sequence(Status(False, "bootstrap failed: no secret"))
    clock = iter(range(0, 1000, 10))
    readiness = server.Readiness(database, clock=lambda: next(clock))
    with redirect_stdout(io.StringIO()) as out:
        assert server.warm_up(readiness, attempts=3, interval=1.0, sleep=lambda _s: None) is False
    assert database.calls == 3
    line = json.loads(out.getvalue().splitlines()[-1])
    assert line["msg"] == "database not ready at start" and line["detail"] == "bootstrap failed: no secret"
