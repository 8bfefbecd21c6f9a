"""A small, production-quality HTTP service (standard library only).

- GET/HEAD HEALTH_PATH: 200 {"status": "ok"} while the process is healthy (the load balancer's
  and Route 53's probe).
- GET/HEAD READY_PATH: 200 when the database answers, otherwise 503 with the reason; a check that
  fails unexpectedly is a 503 too ("check failed (<error type>)", the traceback in the log).
- GET/HEAD /: which environment and region answered (how a smoke test sees failover).
- Unknown paths 404, known paths with another method 405 (with Allow), malformed requests 400,
  oversized bodies 413; every error is a JSON body, never a stack trace. Unexpected exceptions
  are logged server-side with their traceback and answered with 500.
- One JSON object per log line on stdout (journald keeps them), including an access log.
- Under load: a listen backlog of net.core.somaxconn, TCP_NODELAY and one write per response
  (bench/webapp_load.py measures it: `make bench-web`).

Run: `python3 -m webapp.server` (WEBAPP_HOST, WEBAPP_PORT, WEBAPP_ENVIRONMENT, WEBAPP_REGION).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from webapp import HEALTH_PATH, PORT, READY_PATH, SERVICE
from webapp.database import DatabaseCheck, from_environment

MAX_BODY = 64 * 1024  # nothing here accepts a body; read and discard small ones, refuse large ones
ALLOWED = "GET, HEAD"


def log(level: str, message: str, **fields: Any) -> None:
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level, "service": SERVICE,
              "msg": message}
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
    timeout = 15  # seconds a client may take to send its request (slow-client protection)
    # A response's headers and body collect in this buffer and leave in one write when the request
    # is done: two small writes on a keep-alive connection, with Nagle's algorithm on, wait for the
    # client's delayed ACK (40 ms) before the body goes out.
    wbufsize = 64 * 1024
    error_content_type = "application/json"

    # set by make_server
    database: DatabaseCheck
    identity: dict[str, str]

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def setup(self) -> None:
        super().setup()
        # Each response is complete when written: nothing gains from Nagle's coalescing.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._started = time.monotonic()

    # ------------------------------------------------------------------ routing

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
                self._reply(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "method not allowed", "allow": ALLOWED},
                            send_body, headers={"Allow": ALLOWED})
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
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "chunked request bodies are not accepted"}, True,
                        close=True)
            return False
        raw = self.headers.get("Content-Length")
        if raw is None:
            return True
        if not raw.strip().isdigit():
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "invalid Content-Length"}, True, close=True)
            return False
        length = int(raw)
        if length > MAX_BODY:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "request body too large"}, True, close=True)
            return False
        if length:
            self.rfile.read(length)
        return True

    # ------------------------------------------------------------------ endpoints

    def _health(self) -> tuple[HTTPStatus, dict[str, Any]]:
        return HTTPStatus.OK, {"status": "ok"}

    def _ready(self) -> tuple[HTTPStatus, dict[str, Any]]:
        try:
            ok, detail = self.database.check()
        except Exception as exc:  # a broken check is "not ready" with a reason, never a 500
            log("error", "readiness check failed", traceback=traceback.format_exc())
            ok, detail = False, f"check failed ({type(exc).__name__})"
        status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
        return status, {"status": "ready" if ok else "not ready", "checks": {"database": detail}}

    def _index(self) -> tuple[HTTPStatus, dict[str, Any]]:
        return HTTPStatus.OK, {"service": SERVICE, **self.identity}

    # ------------------------------------------------------------------ responses

    def _reply(self, status: HTTPStatus, payload: dict[str, Any], send_body: bool, close: bool = False,
               headers: Mapping[str, str] | None = None) -> None:
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
        log("info", "request", method=getattr(self, "command", None), path=getattr(self, "path", None),
            status=status, duration_ms=round((time.monotonic() - self._started) * 1000, 2),
            client=self.client_address[0])

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


class Server(ThreadingHTTPServer):
    request_queue_size = listen_backlog()
    daemon_threads = True  # a connection's thread never holds up shutdown

    def handle_error(self, request: Any, client_address: Any) -> None:
        """An exception that escaped the handler: a JSON log line, not a traceback on stderr.
        A client that resets its connection is routine under load, not an error."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log("info", "client disconnected", client=client_address[0], reason=type(error).__name__)
        else:
            log("error", "unhandled exception", client=client_address[0], traceback=traceback.format_exc())


def make_server(host: str, port: int, database: DatabaseCheck, identity: dict[str, str]) -> Server:
    handler = type("BoundHandler", (Handler,), {"database": database, "identity": identity})
    return Server((host, port), handler)


def main(environ: Mapping[str, str] = os.environ) -> int:
    host = environ.get("WEBAPP_HOST", "0.0.0.0")  # noqa: S104 (behind the load balancer, SG-restricted)
    raw_port = environ.get("WEBAPP_PORT", str(PORT))
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        log("error", "WEBAPP_PORT must be a TCP port number (1-65535)", value=raw_port)
        return 2
    identity = {"environment": environ.get("WEBAPP_ENVIRONMENT", "unknown"),
                "region": environ.get("WEBAPP_REGION", "unknown")}
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
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
