"""The real webapp server on a loopback port, and a plain HTTP request to it. Imported by
tests/test_webapp.py and tests/test_readiness.py, which also run on Python 3.9
(tests/test_runtimes_real.py): standard library and the webapp only."""

from __future__ import annotations

import io
import threading
from contextlib import contextmanager, redirect_stdout
from http.client import HTTPConnection

from webapp import server
from webapp.database import DatabaseCheck, NotConfigured


@contextmanager
def running(database: DatabaseCheck | None = None):
    """Yields (port, the server's captured stdout log) while the server runs in a thread."""
    logs = io.StringIO()
    with redirect_stdout(logs):
        srv = server.make_server(
            "127.0.0.1", 0, database or NotConfigured(), {"environment": "dev", "region": "us-east-1"}
        )
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
