"""Loopback stand-ins for what an emulator cannot run: the TLS front of the load balancers and
CloudFront, and the webapp process the instances would run.

`TlsFront` terminates HTTPS for every name routed to it with a certificate from a throw-away CA
(made here with `cryptography`; the CA file is what SSL_CERT_FILE points clients at) and forwards
each request, by its Host name, to a backend on loopback, as the ALB and CloudFront do.
`Process` starts a program, waits for the port it reports listening on, and stops it.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def issue(folder: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A CA and a leaf certificate for `names`: (ca.pem, cert.pem, key.pem), valid for a day."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "e2e throw-away CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(leaf_key))
    os.chmod(paths[2], 0o600)
    return paths


class _Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[str, int]

    def do_GET(self) -> None:
        self._forward("GET")

    def do_HEAD(self) -> None:
        self._forward("HEAD")

    def _forward(self, method: str) -> None:
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        port = self.routes.get(host)
        if port is None:
            self.send_error(421, f"no route for {host!r}")
            return
        upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            upstream.request(method, self.path, headers={"Host": host, "X-Forwarded-Proto": "https"})
            reply = upstream.getresponse()
            body = reply.read()
        except OSError as exc:
            self.send_error(502, f"backend {port} failed: {exc}")
            return
        finally:
            upstream.close()
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # the smoke test reports; keep quiet
        pass


class TlsFront:
    """HTTPS on 127.0.0.1 for the routed names: `route()` every name, then `start()`."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.routes: dict[str, int] = {}
        self.port = 0
        self.ca_file = folder / "ca.pem"
        self._server: ThreadingHTTPServer | None = None

    def route(self, name: str, port: int) -> None:
        if self._server is not None:
            raise RuntimeError("route every name before start(): the certificate names them all")
        self.routes[name.lower()] = port

    def names(self) -> list[str]:
        return sorted(self.routes)

    def __enter__(self) -> TlsFront:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        ca, cert, key = issue(self.folder, self.names())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        handler = type("Proxy", (_Proxy,), {"routes": self.routes})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.ca_file = ca
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Process:
    """A program that logs JSON lines, one of them with `port` once it listens; yields that port."""

    def __init__(self, command: list[str], cwd: Path, log: Path, env: dict[str, str], timeout: float = 30):
        self.command, self.cwd, self.log, self.env, self.timeout = command, cwd, log, env, timeout
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> int:
        out = self.log.open("w")
        self._process = subprocess.Popen(
            self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("port"), int):
                    return record["port"]
            if self._process.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"{' '.join(self.command)} did not report a port: see {self.log}")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
