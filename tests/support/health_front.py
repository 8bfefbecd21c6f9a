"""An HTTPS server standing in for what Route 53's checkers and viewers reach (the regions' load
balancers, CloudFront): the webapp's health path answers `HealthFront.statuses[host]` (200 unless
set), anything else 404. Shared by the smoke and failover tests."""

from __future__ import annotations

import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import webapp


class HealthFront(BaseHTTPRequestHandler):
    statuses: ClassVar[dict[str, int]] = {}

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        status = self.statuses.get(host, 200) if self.path == webapp.HEALTH_PATH else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@contextmanager
def tls_health_front(folder: Path, names: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, int], ssl.SSLContext]]:
    """A self-signed HealthFront on 127.0.0.1 (its certificate names `names`): yields its
    (host, port) and a client context that trusts it. Statuses start empty."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    san = ["-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names)] if names else []
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [*"openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=front".split(), *san, *files],
        check=True,
        capture_output=True,
    )
    HealthFront.statuses = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), HealthFront)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield ("127.0.0.1", server.server_address[1]), ssl.create_default_context(cafile=str(cert))
    finally:
        server.shutdown()
        server.server_close()
