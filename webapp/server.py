"""A small, production-quality HTTP service (standard library only).

- GET/HEAD HEALTH_PATH: 200 {"status": "ok"} while the process is healthy (the load balancer's
  and Route 53's probe).
- GET/HEAD READY_PATH: 200 when the database answers, otherwise 503 with the reason; a check that
  fails unexpectedly is a 503 too ("check failed (<error type>)", the traceback in the log). One
  check at a time, its answer reused for READY_TTL seconds (see Readiness). Once the database
  answered, the body also says its role and lag (`failover` and `smoke` read them):
  {"status": "ready", "checks": {"database": "ok"}, "role": "replica", "lag_seconds": 0.25};
  role is "writer" or "replica", lag_seconds a number of seconds on a replica (null on the
  writer, or on a replica that has replayed nothing yet). A lagging replica is still ready.
- GET/HEAD /: which environment and region answered (how a smoke test sees failover).
- Unknown paths 404, known paths with another method 405 (with Allow), malformed requests 400,
  oversized bodies 413; every error is a JSON body, never a stack trace. Unexpected exceptions
  are logged server-side with their traceback and answered with 500.
- One JSON object per log line on stdout (journald keeps them), including an access log.
- Under load: a listen backlog of net.core.somaxconn, TCP_NODELAY and one write per response
  (bench/webapp_load.py measures it: `make bench-web`). Slow clients hold no thread (see Server).

Run: `python3 -m webapp.server` (WEBAPP_HOST, WEBAPP_PORT, WEBAPP_ENVIRONMENT, WEBAPP_REGION).
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import urlsplit

from webapp import HEALTH_PATH, PORT, READY_PATH, SERVICE
from webapp.database import DatabaseCheck, Status, from_environment

MAX_BODY = 64 * 1024  # nothing here accepts a body; read and discard small ones, refuse large ones
MAX_HEAD = 64 * 1024  # request line and headers
REQUEST_TIMEOUT = 15  # seconds from a request's first byte to its last (slow-client protection)
ALLOWED = "GET, HEAD"
# An idle keep-alive connection is closed after this long. Longer than the load balancer's idle
# timeout (modules/alb.py; tests/test_webapp_keepalive.py keeps them in step), as AWS advises: a
# target that closes first races the load balancer's next request on that connection (a 502).
IDLE_TIMEOUT = 75
WORKERS = 16  # threads serving requests; idle connections hold none
READY_TTL = 2.0  # seconds a readiness answer is reused
READY_WAIT = 1.0  # seconds a /ready caller waits for a check already in progress
READY_WAITERS = WORKERS // 4  # callers allowed to wait at once: the other workers stay free


class Readiness:
    """The database check behind READY_PATH: one at a time, its answer reused for READY_TTL s.
    /ready is public (via CloudFront) and workers are few: callers must never all wait on a slow
    database, or HEALTH_PATH (the load balancer's probe) goes unanswered. While a check runs, up to
    READY_WAITERS callers wait for its answer, each at most READY_WAIT s (a prompt database answers
    them all: the start-up warm-up's first check no longer turns the first probe away); the others,
    and a waiter whose wait runs out, get "checking". A check that raises is "not ready" with the
    error's type, never a 500.
    """

    def __init__(self, database: DatabaseCheck, clock: Callable[[], float] = time.monotonic) -> None:
        self.database, self.clock = database, clock
        self._lock = threading.Condition()
        self._running = False
        self._answer: Status | None = None
        self._at = 0.0
        self._finished = 0  # checks completed: a waiter knows the one it waited for has answered
        self.waiting = 0  # callers waiting for the check in progress (at most READY_WAITERS)

    def check(self) -> tuple[bool, str]:
        status = self.status()
        return status.ok, status.detail

    def status(self) -> Status:
        with self._lock:
            if self._answer and self.clock() - self._at < READY_TTL:
                return self._answer
            if self._running:  # not an older answer: the database may have gone since
                return self._wait_for_running_check()
            self._running = True
        answer = Status(False, "check failed")
        try:
            answer = Status(*self.database.status())
        except Exception as exc:  # a broken check is "not ready" with a reason, never a 500
            log("error", "readiness check failed", traceback=traceback.format_exc())
            answer = Status(False, f"check failed ({type(exc).__name__})")
        finally:
            with self._lock:
                self._answer, self._at, self._running = answer, self.clock(), False
                self._finished += 1
                self._lock.notify_all()
        return answer

    def _wait_for_running_check(self) -> Status:
        """Called holding the lock while another caller's check runs: its answer, if it comes
        within READY_WAIT s and a waiting place is free, else "checking"."""
        if self.waiting >= READY_WAITERS:
            return Status(False, "checking")
        waited_for = self._finished
        self.waiting += 1
        try:
            self._lock.wait_for(lambda: self._finished != waited_for, timeout=READY_WAIT)
        finally:
            self.waiting -= 1
        if self._finished != waited_for and self._answer is not None:
            return self._answer
        return Status(False, "checking")


def log(level: str, message: str, **fields: Any) -> None:
    record = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "level": level,
        "service": SERVICE,
        "msg": message,
    }
    record.update(fields)
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    server_version = SERVICE
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # Errors found before the version is parsed still get a status line and headers (http.server
    # would otherwise answer them HTTP/0.9-style: a bare body).
    default_request_version = "HTTP/1.0"
    timeout = REQUEST_TIMEOUT  # for writes: reads never block (the watcher buffers whole requests)
    # Headers and body leave in one write: with Nagle on, a second small write on a keep-alive
    # connection waits for the client's delayed ACK (40 ms).
    wbufsize = 64 * 1024

    # set by make_server
    readiness: Readiness
    identity: dict[str, str]

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def __init__(self, request: socket.socket, client_address: Any, server: Server) -> None:
        """One per connection, serving nothing on creation (unlike socketserver's handlers)."""
        self.request, self.client_address, self.server = request, client_address, server
        self.setup()

    def setup(self) -> None:
        self.connection = self.request
        # Each response is complete when written: nothing gains from Nagle's coalescing.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.wfile = self.connection.makefile("wb", self.wbufsize)
        self.rfile, self.buf, self.end, self.scanned, self.error, self.eof = io.BytesIO(), bytearray(), 0, 0, 0, False
        self.since = self._started = time.monotonic()  # idle since, or since this request began

    def receive(self) -> bool | None:
        """Non-blocking: True when a request is whole (or an error due), None when finished."""
        self.connection.settimeout(0)
        try:
            while len(self.buf) < MAX_HEAD + MAX_BODY + 4 and not self.eof:
                data = self.connection.recv(65536)
                if not self.buf:
                    self.since = time.monotonic()
                self.buf += data
                self.eof = not data
        except BlockingIOError:
            pass
        except OSError:
            return None
        return self.complete() or (None if self.eof else False)

    def complete(self) -> bool:
        """Whether the buffer starts with a whole request: headers, then Content-Length bytes
        (none when it is absent, malformed or too large: serve_one refuses those and closes).
        Each byte is scanned once, however the client splits its request."""
        if not self.end:
            head = self.buf.find(b"\r\n\r\n", self.scanned, MAX_HEAD)
            if head < 0:
                self.scanned = max(0, len(self.buf) - 3)
                if len(self.buf) >= MAX_HEAD:
                    self.error = 431 if b"\r\n" in self.buf[:MAX_HEAD] else 414
                return bool(self.error)
            headers = bytes(self.buf[:head])
            size = re.search(rb"\r\ncontent-length:[ \t]*([0-9]+)[ \t]*(?:\r|$)", headers, re.I)
            self.end = head + 4 + (int(size[1]) if size and int(size[1]) <= MAX_BODY else 0)
            if (
                len(self.buf) < self.end
                and headers.split(b"\r\n", 1)[0].endswith(b" HTTP/1.1")
                and re.search(rb"\r\nexpect:[ \t]*100-continue", headers, re.I)
            ):
                try:  # the client waits for this before it sends the body
                    self.connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")
                except OSError:
                    pass
        return len(self.buf) >= self.end

    def serve_one(self) -> bool:
        """Answer the buffered request; True while the connection stays open."""
        self.connection.settimeout(self.timeout)
        self._started, self.close_connection = self.since, True
        if self.error:
            self.command = self.path = None
            self.request_version, self.requestline = self.default_request_version, ""
            self.send_error(self.error)
        else:
            self.rfile = io.BytesIO(self.buf[: self.end])
            del self.buf[: self.end]
            self.end = self.scanned = 0
            self.since = time.monotonic()
            self.handle_one_request()  # answers malformed requests itself
        self.wfile.flush()
        return not self.close_connection

    def handle_expect_100(self) -> bool:
        return True  # complete() answered it, or the body came without waiting

    def do_GET(self) -> None:
        self._handle(send_body=True)

    def do_HEAD(self) -> None:
        self._handle(send_body=False)

    def _wrong_method(self) -> None:
        self._handle(send_body=True, method_allowed=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_CONNECT = _wrong_method

    def _handle(self, send_body: bool, method_allowed: bool = True) -> None:
        self._started = time.monotonic()
        try:
            path = self._path()
            if path is None:
                self._reply(HTTPStatus.BAD_REQUEST, {"error": "malformed request target"}, send_body, close=True)
                return
            if not self._consume_body():
                return
            route = {HEALTH_PATH: self._health, READY_PATH: self._ready, "/": self._index}.get(path)
            if route is None:
                self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"}, send_body)
            elif not method_allowed:
                self._reply(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    {"error": "method not allowed", "allow": ALLOWED},
                    send_body,
                    headers={"Allow": ALLOWED},
                )
            else:
                status, payload = route()
                self._reply(status, payload, send_body)
        except ConnectionError:  # the client went away mid-response: nobody to answer
            self.close_connection = True
        except Exception:  # never a stack trace to the client; always one in the log
            log("error", "unhandled exception", path=getattr(self, "path", None), traceback=traceback.format_exc())
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}, send_body, close=True)

    def _path(self) -> str | None:
        if not self.path.startswith("/") or self.path.startswith("//"):
            return None  # absolute-form, authority-form, "*" or a scheme-relative path
        try:
            return urlsplit(self.path).path
        except ValueError:
            return None

    def _consume_body(self) -> bool:
        """Keep the connection usable: read a small body, refuse a large or unreadable one."""
        if self.headers.get("Transfer-Encoding"):
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "chunked request bodies are not accepted"}, True, close=True)
            return False
        raw = self.headers.get("Content-Length")
        if raw is None:
            return True
        if not re.fullmatch("[0-9]+", raw.strip()):  # not isdigit(): "\xb2" is a digit int() refuses
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "invalid Content-Length"}, True, close=True)
            return False
        length = int(raw)
        if length > MAX_BODY:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "request body too large"}, True, close=True)
            return False
        if length:
            self.rfile.read(length)
        return True

    def _health(self) -> tuple[HTTPStatus, dict[str, Any]]:
        return HTTPStatus.OK, {"status": "ok"}

    def _ready(self) -> tuple[HTTPStatus, dict[str, Any]]:
        answer = self.readiness.status()
        status = HTTPStatus.OK if answer.ok else HTTPStatus.SERVICE_UNAVAILABLE
        body: dict[str, Any] = {"status": "ready" if answer.ok else "not ready", "checks": {"database": answer.detail}}
        if answer.role:
            body.update(role=answer.role, lag_seconds=answer.lag_seconds)
        return status, body

    def _index(self) -> tuple[HTTPStatus, dict[str, Any]]:
        return HTTPStatus.OK, {"service": SERVICE, **self.identity}

    def _reply(
        self,
        status: HTTPStatus,
        payload: dict[str, Any],
        send_body: bool,
        close: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        body = (json.dumps(payload) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (malformed request line, bad version, huge headers...): JSON,
        no HTML, no details beyond the reason phrase."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self.close_connection = True
        self.send_response(code, message)
        body = (json.dumps({"error": phrase.lower()}) + "\n").encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        status = int(code) if str(code).isdigit() else code
        # A request rejected while parsing has no command or path yet.
        log(
            "info",
            "request",
            method=getattr(self, "command", None),
            path=getattr(self, "path", None),
            status=status,
            duration_ms=round((time.monotonic() - self._started) * 1000, 2),
            client=self.client_address[0],
        )

    def log_message(self, format: str, *args: Any) -> None:
        log("warning", format % args, client=self.client_address[0])


def listen_backlog() -> int:
    """The kernel's ceiling for a listen queue (net.core.somaxconn; 4096 on current Linux).
    socketserver's default of 5 drops connection attempts as soon as a burst outpaces accept(),
    and each dropped SYN costs its client a one-second retransmission."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return max(128, int(f.read()))
    except (OSError, ValueError):
        return max(128, socket.SOMAXCONN)


class Server(HTTPServer):
    """Connections wait in epoll, holding no thread; one thread reads what arrives without
    blocking, and a connection with a whole request joins a first-in-first-out queue that WORKERS
    threads serve. A worker never waits on a client (blocking reads let 16 clients trickling
    bodies hold every worker: HEALTH_PATH went dark); a request has REQUEST_TIMEOUT in all (408).

    Not a thread per connection: hundreds of threads contend for the interpreter lock, which has
    no fairness (timeouts at 400 concurrent connections in a load test), and idle ones hold a thread each. Epoll
    is one-shot: only the thread that holds a connection re-arms it. Linux only, like the instances.
    """

    request_queue_size = listen_backlog()

    def __init__(self, address: tuple[str, int], handler: type[Handler]) -> None:
        super().__init__(address, handler)
        self._ready: queue.SimpleQueue[Handler | None] = queue.SimpleQueue()  # connections with a request
        self._armed: dict[int, Handler] = {}  # by file descriptor: connections waiting in epoll
        self._epoll = select.epoll()
        self._stop_read, self._stop_write = os.pipe()  # wakes the watcher at server_close
        self._epoll.register(self._stop_read, select.EPOLLIN)
        self._stopping = False
        self._threads = [threading.Thread(target=self._watch, name="connections", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"worker-{n}", daemon=True) for n in range(WORKERS)]
        for thread in self._threads:
            thread.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        """A new connection (from serve_forever's accept): it waits for its first request."""
        connection = self.RequestHandlerClass(request, client_address, self)
        self._armed[request.fileno()] = connection
        self._epoll.register(request.fileno(), select.EPOLLIN | select.EPOLLONESHOT)

    def _watch(self) -> None:
        """Read what arrives; queue whole requests; close connections idle past IDLE_TIMEOUT."""
        swept = time.monotonic()
        while not self._stopping:
            for fd, _ in self._epoll.poll(1.0):
                if fd == self._stop_read:
                    return
                connection = self._armed.get(fd)
                if connection is None:
                    continue
                whole = connection.receive()
                if whole is False:
                    self._arm(fd)
                elif self._armed.pop(fd, None) is connection:
                    self._ready.put(connection) if whole else self._close(connection)
            now = time.monotonic()
            if now - swept >= 1:
                swept = now
                for fd, connection in list(self._armed.items()):
                    late = now - connection.since > (REQUEST_TIMEOUT if connection.buf else IDLE_TIMEOUT)
                    if late and self._armed.pop(fd, None) is connection:
                        if connection.buf:  # a request begun and not finished in time
                            connection.error = HTTPStatus.REQUEST_TIMEOUT
                            self._ready.put(connection)
                        else:
                            self._close(connection)

    def _arm(self, fd: int) -> bool:
        try:
            self._epoll.modify(fd, select.EPOLLIN | select.EPOLLONESHOT)
            return True
        except (OSError, ValueError):  # the server is closing
            return False

    def _work(self) -> None:
        while True:
            connection = self._ready.get()
            if connection is None:
                return
            try:
                keep = connection.serve_one()
            except Exception:  # what escaped the handler: logged, the connection closed
                self.handle_error(connection.request, connection.client_address)
                keep = False
            if keep and connection.complete():
                self._ready.put(connection)  # pipelined: back of the queue, behind those already waiting
            elif keep and not connection.eof and not self._stopping:
                fd = connection.request.fileno()
                self._armed[fd] = connection
                if not self._arm(fd) and self._armed.pop(fd, None) is connection:
                    self._close(connection)
            else:
                self._close(connection)

    def _close(self, connection: Handler) -> None:
        try:
            self._epoll.unregister(connection.request.fileno())
        except (OSError, ValueError):
            pass
        try:
            connection.finish()
        except OSError:
            pass
        self.shutdown_request(connection.request)

    def server_close(self) -> None:
        """Stop the workers and close every connection (after shutdown() stopped accepting)."""
        super().server_close()
        self._stopping = True
        for _ in range(WORKERS):
            self._ready.put(None)
        os.write(self._stop_write, b"\0")
        self._threads[0].join(timeout=5)
        for connection in list(self._armed.values()):
            self._close(connection)
        self._armed.clear()
        self._epoll.close()
        os.close(self._stop_read)
        os.close(self._stop_write)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """An exception that escaped the handler: a JSON log line, not a traceback on stderr.
        A client that resets its connection is routine under load, not an error."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log("info", "client disconnected", client=client_address[0], reason=type(error).__name__)
        else:
            log("error", "unhandled exception", client=client_address[0], traceback=traceback.format_exc())


WARM_UP_ATTEMPTS = 40  # ~10 minutes at WARM_UP_INTERVAL: a new writer may still be starting
WARM_UP_INTERVAL = 15.0


def warm_up(
    readiness: Readiness,
    attempts: int = WARM_UP_ATTEMPTS,
    interval: float = WARM_UP_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Check the database at start, until it answers (or `attempts` run out), without waiting for a
    caller of READY_PATH: on the writer the first check creates the application's role, which the
    replica regions need (it reaches them by replication), and nothing but an operator calls
    /ready (the load balancer and Route 53 probe HEALTH_PATH)."""
    for attempt in range(1, attempts + 1):
        status = readiness.status()
        if status.ok:
            log("info", "database ready at start", attempt=attempt)
            return True
        if attempt < attempts:
            sleep(interval)
    log("warning", "database not ready at start", detail=status.detail, attempts=attempts)
    return False


def make_server(host: str, port: int, database: DatabaseCheck, identity: dict[str, str]) -> Server:
    handler = type("BoundHandler", (Handler,), {"readiness": Readiness(database), "identity": identity})
    return Server((host, port), handler)


def main(environ: Mapping[str, str] = os.environ) -> int:
    host = environ.get("WEBAPP_HOST", "0.0.0.0")  # noqa: S104 (behind the load balancer, SG-restricted)
    raw_port = environ.get("WEBAPP_PORT", str(PORT))
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        log("error", "WEBAPP_PORT must be a TCP port number (1-65535)", value=raw_port)
        return 2
    identity = {
        "environment": environ.get("WEBAPP_ENVIRONMENT", "unknown"),
        "region": environ.get("WEBAPP_REGION", "unknown"),
    }
    try:
        server = make_server(host, int(raw_port), from_environment(environ), identity)
    except OSError as exc:
        log("error", "cannot listen", host=host, port=raw_port, reason=str(exc))
        return 1

    def stop(signum: int, _frame: Any) -> None:
        log("info", "stopping", signal=signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log("info", "listening", host=host, port=server.server_address[1], health_path=HEALTH_PATH, **identity)
    threading.Thread(target=warm_up, args=(server.RequestHandlerClass.readiness,), daemon=True).start()
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
