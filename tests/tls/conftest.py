"""Fixtures for the tls-check tests: one test CA per session, servers stopped after each test."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme
from tls_test_servers import TEST_ISSUER_ORG, Pki, ServeFn, TlsServer


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA(organization_name=TEST_ISSUER_ORG, key_type=trustme.KeyType.RSA)
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Pki(ca, ca_file)


@pytest.fixture
def serve() -> Iterator[ServeFn]:
    """Start servers for one test; all are stopped when it ends."""
    servers: list[TlsServer] = []

    def start(context: ssl.SSLContext) -> TlsServer:
        server = TlsServer(context).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
