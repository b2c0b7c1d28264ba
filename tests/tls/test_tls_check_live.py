"""check_tls against real TLS servers on 127.0.0.1, scanned by sslyze (issue 5: good, TLS 1.0, weak cipher,
expired, wrong name, untrusted issuer, near expiry, platform exception)."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
import trustme
from tls_test_servers import HOST, TEST_ISSUER_ORG, Pki, ServeFn, issue_leaf, server_context

from ops.tls import check as tlscheck
from ops.tls.check import CipherException, TlsPolicy, TlsReport

# sslyze loads its bundled trust stores, some of whose old roots have negative serial numbers.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

POLICY = TlsPolicy(issuer_organization=TEST_ISSUER_ORG)


def detail(report: TlsReport, name: str) -> str:
    return next(check.detail for check in report.checks if check.name == name)


def test_good_config_tls12_plus_with_ecdhe_aes_gcm_passes_every_check(pki: Pki, serve: ServeFn, tmp_path) -> None:
    server = serve(server_context(issue_leaf(pki.ca, tmp_path, HOST)))
    report = tlscheck.check_tls(HOST, server.port, POLICY, pki.ca_file)
    assert report.passed, report.to_dict()
    assert "TLS 1.2 and TLS 1.3 accepted" in detail(report, "protocols")
    assert "ECDHE-RSA-AES128-GCM-SHA256" in detail(report, "preferred-cipher")
    assert server.handshakes > 0


def test_good_ecdsa_config_offering_the_ecdsa_preferred_cipher_passes(pki: Pki, serve: ServeFn, tmp_path) -> None:
    leaf = issue_leaf(pki.ca, tmp_path, HOST, key_type="ecdsa")
    server = serve(server_context(leaf, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"))
    report = tlscheck.check_tls(HOST, server.port, POLICY, pki.ca_file)
    assert report.passed, report.to_dict()
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in detail(report, "preferred-cipher")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1 is deprecated:DeprecationWarning")
def test_tls10_enabled_fails_protocols(pki: Pki, serve: ServeFn, tmp_path) -> None:
    # OpenSSL 3 refuses TLS 1.0 at the default security level; level 0 lets the server offer it.
    context = server_context(
        issue_leaf(pki.ca, tmp_path, HOST), ciphers="DEFAULT:@SECLEVEL=0", minimum=ssl.TLSVersion.TLSv1
    )
    server = serve(context)
    report = tlscheck.check_tls(HOST, server.port, POLICY, pki.ca_file)
    assert "protocols" in report.failed_checks
    assert "TLS 1.0, TLS 1.1 accepted (must be refused)" in detail(report, "protocols")


def test_weak_cipher_rsa_key_exchange_cbc_fails_ciphers(pki: Pki, serve: ServeFn, tmp_path) -> None:
    leaf = issue_leaf(pki.ca, tmp_path, HOST)
    server = serve(server_context(leaf, ciphers="ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA"))
    report = tlscheck.check_tls(HOST, server.port, POLICY, pki.ca_file)
    assert report.failed_checks == ("ciphers",)
    assert "not allowed: AES128-SHA" in detail(report, "ciphers")


def test_server_without_the_specs_preferred_ciphers_fails_preferred_cipher(pki: Pki, serve: ServeFn, tmp_path) -> None:
    server = serve(server_context(issue_leaf(pki.ca, tmp_path, HOST), ciphers="ECDHE-RSA-AES256-GCM-SHA384"))
    report = tlscheck.check_tls(HOST, server.port, POLICY, pki.ca_file)
    assert report.failed_checks == ("preferred-cipher",)


def test_expired_certificate_fails_certificate_and_expiry(pki: Pki, serve: ServeFn, tmp_path) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = issue_leaf(
        pki.ca, tmp_path, HOST, not_before=now - dt.timedelta(days=90), not_after=now - dt.timedelta(days=3)
    )
    server = serve(server_context(leaf))
    report = tlscheck.check_tls(HOST, server.port, POLICY, pki.ca_file)
    assert report.failed_checks == ("certificate", "expiry")
    assert "expired 3 day(s) ago" in detail(report, "expiry")


def test_certificate_for_another_name_fails_certificate(pki: Pki, serve: ServeFn, tmp_path) -> None:
    server = serve(server_context(issue_leaf(pki.ca, tmp_path, "wrong.example")))
    report = tlscheck.check_tls(HOST, server.port, POLICY, pki.ca_file)
    assert report.failed_checks == ("certificate",)
    assert "not valid for localhost" in detail(report, "certificate")
    assert "certificate names: wrong.example" in detail(report, "certificate")


def test_certificate_from_a_ca_outside_the_trust_store_fails_even_with_the_right_issuer_name(
    pki: Pki, serve: ServeFn, tmp_path
) -> None:
    impostor = trustme.CA(organization_name=TEST_ISSUER_ORG, key_type=trustme.KeyType.RSA)
    server = serve(server_context(issue_leaf(impostor, tmp_path, HOST)))
    report = tlscheck.check_tls(HOST, server.port, POLICY, pki.ca_file)
    assert report.failed_checks == ("certificate",)
    assert "trust store 'Supplied CA file'" in detail(report, "certificate")
    assert "no certificate in the trust store is named" in detail(report, "certificate")


def test_certificate_with_10_days_left_fails_expiry_at_21_and_passes_at_10(pki: Pki, serve: ServeFn, tmp_path) -> None:
    now = dt.datetime.now(dt.UTC)
    leaf = issue_leaf(pki.ca, tmp_path, HOST, not_after=now + dt.timedelta(days=10, hours=1))
    server = serve(server_context(leaf))
    facts = tlscheck.scan(HOST, server.port, pki.ca_file)
    strict = tlscheck.evaluate(facts, TlsPolicy(min_days=21, issuer_organization=TEST_ISSUER_ORG))
    assert strict.failed_checks == ("expiry",)
    assert "10 day(s) left" in detail(strict, "expiry")
    relaxed = tlscheck.evaluate(facts, TlsPolicy(min_days=10, issuer_organization=TEST_ISSUER_ORG))
    assert relaxed.passed, relaxed.to_dict()


def test_default_issuer_lets_encrypt_fails_for_another_ca_and_names_the_real_issuer(
    pki: Pki, serve: ServeFn, tmp_path
) -> None:
    server = serve(server_context(issue_leaf(pki.ca, tmp_path, HOST)))
    report = tlscheck.check_tls(HOST, server.port, TlsPolicy(), pki.ca_file)
    assert report.failed_checks == ("issuer",)
    assert f"O={TEST_ISSUER_ORG}" in detail(report, "issuer")


def test_platform_exception_allows_its_suites_and_reports_them_as_allowed_by_exception(
    pki: Pki, serve: ServeFn, tmp_path
) -> None:
    edge = CipherException("legacy-edge", "test platform's fixed list", frozenset({"ECDHE-RSA-AES128-SHA"}))
    leaf = issue_leaf(pki.ca, tmp_path, HOST)
    server = serve(server_context(leaf, ciphers="ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA"))
    facts = tlscheck.scan(HOST, server.port, pki.ca_file)

    without = tlscheck.evaluate(facts, POLICY)
    assert without.failed_checks == ("ciphers",)

    with_exception = tlscheck.evaluate(facts, TlsPolicy(issuer_organization=TEST_ISSUER_ORG, exceptions=(edge,)))
    assert with_exception.passed, with_exception.to_dict()
    assert with_exception.allowed_by_exception == {"legacy-edge": ("ECDHE-RSA-AES128-SHA",)}
    assert "allowed by exception legacy-edge" in detail(with_exception, "ciphers")


def test_closed_port_is_reported_as_unreachable_not_as_a_verdict(pki: Pki) -> None:
    with pytest.raises(tlscheck.TlsCheckError, match=r"cannot connect to localhost:\d+"):
        tlscheck.check_tls(HOST, _closed_port(), POLICY, pki.ca_file)


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_without_ca_file_the_mozilla_store_decides_so_a_private_ca_is_untrusted(
    pki: Pki, serve: ServeFn, tmp_path
) -> None:
    server = serve(server_context(issue_leaf(pki.ca, tmp_path, HOST)))
    report = tlscheck.check_tls(HOST, server.port, POLICY)
    assert report.failed_checks == ("certificate",)
    assert "trust store 'Mozilla'" in detail(report, "certificate")
