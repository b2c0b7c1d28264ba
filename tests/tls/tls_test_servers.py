"""Real TLS servers on 127.0.0.1 for the tls-check tests, with certificates from a trustme CA.

A plain module (not conftest) so test modules can import it by its unique name.

Leaf certificates are built with `cryptography` and signed by the trustme CA's key rather than with
``trustme.CA.issue_cert``: trustme marks subjectAltName critical while also setting a subject, which the
CA/Browser Forum baseline requirements (7.1.2.7.12) forbid and which the verifier sslyze 6 uses
(cryptography's webpki policy) rejects. The leaves here are shaped like Let's Encrypt's: CN=<name>,
non-critical SAN, serverAuth only.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TEST_ISSUER_ORG = "ChefChatz Test CA"
HOST = "localhost"


@dataclass(frozen=True)
class Pki:
    ca: trustme.CA
    ca_file: Path


def issue_leaf(
    ca: trustme.CA,
    directory: Path,
    *names: str,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_type: str = "rsa",
) -> tuple[Path, Path]:
    """Write a leaf certificate for ``names`` signed by ``ca``; returns (certificate path, key path)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey), type(ca_key)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    key = rsa.generate_private_key(65537, 2048) if key_type == "rsa" else ec.generate_private_key(ec.SECP256R1())
    key_usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=key_type == "rsa",
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=60))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    stem = f"{names[0]}-{cert.serial_number:x}"
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def server_context(
    cert_and_key: tuple[Path, Path],
    ciphers: str = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
    minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A server context; TLS 1.3 stays on with its own (all allowed) suites, as on any modern server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert_and_key)
    ctx.minimum_version = minimum
    ctx.set_ciphers(ciphers)
    return ctx


class TlsServer:
    """Accepts connections on 127.0.0.1, completes (or fails) the handshake on its own thread, closes.

    sslyze opens several connections at once and hundreds in total, one per cipher suite it tries.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.handshakes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"tls-server-{self.port}")

    def __enter__(self) -> TlsServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._acceptor.join(timeout=5)
        self._listener.close()
        for worker in self._workers:
            worker.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=self._handshake, args=(conn,), daemon=True)
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
            worker.start()

    def _handshake(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            with self._context.wrap_socket(conn, server_side=True), self._lock:
                self.handshakes += 1
        except (OSError, ssl.SSLError):
            pass  # a refused protocol or suite is exactly what sslyze is probing for
        finally:
            conn.close()


ServeFn = Callable[[ssl.SSLContext], TlsServer]
