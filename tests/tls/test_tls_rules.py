"""The tls-check decisions as tables of cases: no network, no sslyze."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from ops.tls import check as tlscheck
from ops.tls.check import CertificateFacts, CipherException, ScanFacts, TlsCheckError, TlsPolicy

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
MODERN = {"SSL 2.0": (), "SSL 3.0": (), "TLS 1.0": (), "TLS 1.1": ()}


def cert(
    *,
    days: float = 60,
    orgs: tuple[str, ...] = ("Let's Encrypt",),
    trusted: bool = True,
    error: str | None = None,
) -> CertificateFacts:
    return CertificateFacts(
        names=("chefchatz.com",),
        issuer_organizations=orgs,
        issuer=f"CN=R11,O={orgs[0] if orgs else ''},C=US",
        not_after=NOW + dt.timedelta(days=days),
        trust_store="Mozilla",
        trusted=trusted,
        validation_error=error,
    )


@pytest.mark.parametrize(
    ("accepted", "passed", "detail_part"),
    [
        ({**MODERN, "TLS 1.2": ("ECDHE-RSA-AES128-GCM-SHA256",), "TLS 1.3": ()}, True, "TLS 1.2 accepted"),
        ({**MODERN, "TLS 1.2": (), "TLS 1.3": ("TLS_AES_128_GCM_SHA256",)}, True, "TLS 1.3 accepted"),
        ({**MODERN, "TLS 1.0": ("AES128-SHA",), "TLS 1.2": ("AES128-SHA",)}, False, "TLS 1.0 accepted"),
        ({**MODERN, "TLS 1.1": ("AES128-SHA",), "TLS 1.3": ("X",)}, False, "TLS 1.1 accepted"),
        ({**MODERN, "SSL 3.0": ("RC4-SHA",), "TLS 1.2": ("X",)}, False, "SSL 3.0 accepted"),
        ({**MODERN, "TLS 1.2": (), "TLS 1.3": ()}, False, "neither TLS 1.2 nor TLS 1.3 accepted"),
    ],
)
def test_protocols_require_tls12_or_13_and_refuse_legacy_versions(
    accepted: dict[str, tuple[str, ...]], passed: bool, detail_part: str
) -> None:
    result = tlscheck.evaluate_protocols(accepted, {})
    assert (result.passed, detail_part in result.detail) == (passed, True), result


def test_protocol_that_could_not_be_tested_fails_with_the_reason() -> None:
    accepted = {**MODERN, "TLS 1.2": ("ECDHE-RSA-AES128-GCM-SHA256",)}
    del accepted["TLS 1.0"]
    result = tlscheck.evaluate_protocols(accepted, {"TLS 1.0": "ConnectionError: reset"})
    assert not result.passed
    assert "could not test TLS 1.0: ConnectionError: reset" in result.detail


def test_allowed_set_is_spec_preferred_plus_mozilla_intermediate_tls12() -> None:
    assert set(tlscheck.SPEC_PREFERRED_CIPHERS) <= tlscheck.ALLOWED_TLS12_CIPHERS
    assert {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    } == tlscheck.ALLOWED_TLS12_CIPHERS


LEGACY_EDGE = CipherException("legacy-edge", "fixed list of a test platform", frozenset({"ECDHE-RSA-AES128-SHA"}))


@pytest.mark.parametrize(
    ("accepted", "exceptions", "passed", "detail_parts"),
    [
        (["ECDHE-RSA-AES128-GCM-SHA256"], [], True, ["allowed: ECDHE-RSA-AES128-GCM-SHA256"]),
        (["DHE-RSA-CHACHA20-POLY1305"], [], True, ["allowed: DHE-RSA-CHACHA20-POLY1305"]),
        (["ECDHE-RSA-AES128-GCM-SHA256", "AES128-SHA"], [], False, ["not allowed: AES128-SHA"]),
        (["ECDHE-RSA-AES128-SHA"], [], False, ["not allowed: ECDHE-RSA-AES128-SHA"]),
        (
            ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA"],
            [LEGACY_EDGE],
            True,
            ["allowed by exception legacy-edge (fixed list of a test platform): ECDHE-RSA-AES128-SHA"],
        ),
        (
            ["ECDHE-RSA-AES128-SHA", "AES256-SHA"],
            [LEGACY_EDGE],
            False,
            ["not allowed: AES256-SHA", "allowed by exception legacy-edge"],
        ),
        (
            ["ECDHE-RSA-AES128-GCM-SHA256"],
            [LEGACY_EDGE],
            True,
            ["exception legacy-edge configured, allowed nothing beyond the standard set"],
        ),
        ([], [], True, ["no TLS 1.2 suites accepted"]),
    ],
)
def test_ciphers_outside_the_allowed_set_fail_unless_an_explicit_exception_names_them(
    accepted: list[str], exceptions: list[CipherException], passed: bool, detail_parts: list[str]
) -> None:
    result, _ = tlscheck.evaluate_ciphers(accepted, exceptions)
    assert result.passed is passed, result
    for part in detail_parts:
        assert part in result.detail, result


def test_vercel_exception_is_vercels_documented_list_and_never_waives_cbc_suites() -> None:
    vercel = tlscheck.platform_exception("Vercel")
    assert vercel.ciphers == tlscheck.VERCEL_DOCUMENTED_TLS12_CIPHERS
    assert "vercel.com/docs/cdn-security/encryption" in vercel.reason
    result, by_exception = tlscheck.evaluate_ciphers(["ECDHE-RSA-AES128-SHA"], [vercel])
    assert not result.passed
    assert by_exception == {}
    assert "exception vercel configured, allowed nothing beyond the standard set" in result.detail


@pytest.mark.parametrize(
    ("accepted", "passed"),
    [
        (["ECDHE-ECDSA-AES128-GCM-SHA256"], True),
        (["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"], True),
        (["ECDHE-RSA-AES256-GCM-SHA384"], False),
        ([], True),  # TLS 1.3 only: the spec's preferred suites are TLS 1.2 suites
    ],
)
def test_one_of_the_specs_preferred_ciphers_is_accepted_when_tls12_is_offered(
    accepted: list[str], passed: bool
) -> None:
    assert tlscheck.evaluate_preferred_cipher(accepted).passed is passed


@pytest.mark.parametrize(
    ("orgs", "expected", "passed"),
    [
        (("Let's Encrypt",), "Let's Encrypt", True),
        (("let's encrypt ",), "Let's Encrypt", True),
        (("Not Let's Encrypt Inc",), "Let's Encrypt", False),
        (("DigiCert Inc",), "Let's Encrypt", False),
        ((), "Let's Encrypt", False),
    ],
)
def test_issuer_organization_must_equal_the_configured_one(orgs: tuple[str, ...], expected: str, passed: bool) -> None:
    result = tlscheck.evaluate_issuer([cert(orgs=orgs)], expected)
    assert result.passed is passed, result


@pytest.mark.parametrize(
    ("days", "min_days", "passed", "detail_part"),
    [
        (60, 21, True, "60 day(s) left"),
        (21, 21, True, "21 day(s) left"),
        (20.9, 21, False, "20 day(s) left"),
        (10, 21, False, "below the 21-day threshold: renewal is failing"),
        (0.5, 0, True, "0 day(s) left"),
        (-3, 21, False, "expired 3 day(s) ago"),
    ],
)
def test_expiry_needs_at_least_min_days_whole_days_left(
    days: float, min_days: int, passed: bool, detail_part: str
) -> None:
    result = tlscheck.evaluate_expiry([cert(days=days)], min_days, NOW)
    assert result.passed is passed, result
    assert detail_part in result.detail, result


def lived(days_left: float, lifetime: int) -> CertificateFacts:
    """A certificate issued `lifetime` days before it expires, `days_left` from now."""
    facts = cert(days=days_left)
    return dataclasses.replace(facts, not_before=facts.not_after - dt.timedelta(days=lifetime))


@pytest.mark.parametrize(
    ("left", "lifetime", "passed", "detail_part"),
    [
        # Let's Encrypt today: 90 days, renewed at 30 left; the floor stays 21.
        (22, 90, True, "21-day threshold (7/30 of its 90-day lifetime)"),
        (20, 90, False, "below the 21-day threshold"),
        # From February 2027: 64 days, renewed at ~21 left; a fixed 21 would fail a healthy host.
        (20, 64, True, "14-day threshold"),
        (13, 64, False, "below the 14-day threshold"),
        # From February 2028: 45 days, renewed at 15 left.
        (14, 45, True, "10-day threshold"),
        (9, 45, False, "below the 10-day threshold"),
        # Six-day certificates: at least a day.
        (1, 6, True, "1-day threshold"),
    ],
)
def test_the_default_expiry_floor_is_relative_to_the_certificates_lifetime(
    left: float, lifetime: int, passed: bool, detail_part: str
) -> None:
    result = tlscheck.evaluate_expiry([lived(left, lifetime)], None, NOW)
    assert result.passed is passed, result
    assert detail_part in result.detail, result


def test_a_90_day_certificate_that_ends_a_second_short_still_has_a_21_day_floor() -> None:
    # Let's Encrypt's notAfter is notBefore + 90 days - 1 second.
    facts = dataclasses.replace(cert(days=22), not_before=NOW + dt.timedelta(days=22 - 90, seconds=1))
    assert tlscheck.min_days_for(facts) == 21


def test_an_explicit_min_days_holds_whatever_the_lifetime() -> None:
    assert not tlscheck.evaluate_expiry([lived(14, 45)], 21, NOW).passed
    assert tlscheck.evaluate_expiry([lived(14, 45)], 14, NOW).passed


def test_the_relative_floor_judges_each_certificate_by_its_own_lifetime() -> None:
    # A 45-day certificate with 12 days left is healthy; a 90-day one with 20 left is not.
    result = tlscheck.evaluate_expiry([lived(12, 45), lived(20, 90)], None, NOW)
    assert not result.passed and "20 day(s) left" in result.detail, result


def test_expiry_is_decided_by_the_soonest_expiring_deployment() -> None:
    result = tlscheck.evaluate_expiry([cert(days=80), cert(days=5)], 21, NOW)
    assert not result.passed
    assert "5 day(s) left" in result.detail


def test_untrusted_certificate_fails_naming_store_error_and_certificate_names() -> None:
    facts = ScanFacts("chefchatz.com", 443, {}, certificates=(cert(trusted=False, error="bad chain"),))
    result = tlscheck.evaluate_certificate(facts)
    assert not result.passed
    assert "trust store 'Mozilla': bad chain; certificate names: chefchatz.com" in result.detail


def test_report_fails_every_certificate_check_when_no_certificate_could_be_read() -> None:
    facts = ScanFacts(
        "chefchatz.com",
        443,
        {**MODERN, "TLS 1.2": ("ECDHE-RSA-AES128-GCM-SHA256",), "TLS 1.3": ()},
        certificate_error="ConnectionResetError",
    )
    report = tlscheck.evaluate(facts, TlsPolicy(), NOW)
    assert report.failed_checks == ("certificate", "issuer", "expiry")


def test_report_json_has_host_port_named_checks_and_overall_verdict() -> None:
    facts = ScanFacts(
        "chefchatz.com",
        443,
        {**MODERN, "TLS 1.2": ("ECDHE-RSA-AES128-GCM-SHA256",), "TLS 1.3": ("TLS_AES_128_GCM_SHA256",)},
        certificates=(cert(),),
    )
    data = tlscheck.evaluate(facts, TlsPolicy(), NOW).to_dict()
    assert data["host"] == "chefchatz.com" and data["port"] == 443 and data["passed"] is True
    assert [c["name"] for c in data["checks"]] == [
        "protocols",
        "ciphers",
        "preferred-cipher",
        "certificate",
        "issuer",
        "expiry",
    ]
    assert all(set(c) == {"name", "passed", "detail"} for c in data["checks"])


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("chefchatz.com", ("chefchatz.com", 443)),
        ("localhost:8443", ("localhost", 8443)),
        ("[::1]:8443", ("::1", 8443)),
        ("::1", ("::1", 443)),
        ("127.0.0.1", ("127.0.0.1", 443)),
    ],
)
def test_target_is_host_with_optional_port(target: str, expected: tuple[str, int]) -> None:
    assert tlscheck.parse_target(target) == expected


@pytest.mark.parametrize("target", ["", "https://chefchatz.com", "host:0", "host:70000", "host:x", ":443", "[::1"])
def test_malformed_target_is_a_usage_error(target: str) -> None:
    with pytest.raises(TlsCheckError):
        tlscheck.parse_target(target)


def test_allow_cipher_accepts_openssl_or_iana_names_and_rejects_unknown_ones() -> None:
    exc = tlscheck.command_line_exception(["ecdhe-rsa-aes128-sha", "TLS_RSA_WITH_AES_256_CBC_SHA"])
    assert exc is not None and exc.ciphers == {"ECDHE-RSA-AES128-SHA", "AES256-SHA"}
    assert tlscheck.command_line_exception([]) is None
    with pytest.raises(TlsCheckError, match="ECDHE-RSA-AES128-NOPE"):
        tlscheck.command_line_exception(["ECDHE-RSA-AES128-NOPE"])


def test_unknown_platform_exception_names_the_known_ones() -> None:
    with pytest.raises(TlsCheckError, match="known: vercel"):
        tlscheck.platform_exception("heroku")


def test_policy_rejects_negative_threshold_and_empty_issuer() -> None:
    with pytest.raises(TlsCheckError):
        TlsPolicy(min_days=-1)
    with pytest.raises(TlsCheckError):
        TlsPolicy(issuer_organization=" ")
