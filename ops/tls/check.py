"""Live TLS verification of a deployed host against the spec's "SSL Configuration".

The spec promises Let's Encrypt certificates with auto-renewal, TLS 1.2 as the minimum version and the
preferred ciphers ECDHE-ECDSA-AES128-GCM-SHA256 / ECDHE-RSA-AES128-GCM-SHA256. This module turns those
promises into named checks:

- ``protocols``: SSL 2.0/3.0, TLS 1.0 and 1.1 refused; TLS 1.2 or 1.3 accepted.
- ``ciphers``: every accepted TLS 1.2 suite is in the allowed set (or in an explicit, reported exception).
- ``preferred-cipher``: at least one of the spec's two preferred suites is accepted when TLS 1.2 is offered.
- ``certificate``: the chain is trusted and valid for the host name (sslyze's path validation).
- ``issuer``: the leaf's issuer organization (O=) is the configured one.
- ``expiry``: days until the leaf expires are at least the threshold.

The work is split in two so the rules can be tested without a network: :func:`scan` asks sslyze and
returns plain :class:`ScanFacts`; :func:`evaluate` is a pure function from facts and a :class:`TlsPolicy`
to a :class:`TlsReport`. :func:`check_tls` does both and is what other commands (sign-off) call.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommand,
    ScanCommandAttemptStatusEnum,
    ScanCommandsExtraArguments,
    Scanner,
    ServerHostnameCouldNotBeResolved,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanStatusEnum,
)
from sslyze.plugins.openssl_cipher_suites.cipher_suites import CipherSuitesRepository
from sslyze.server_connectivity import TlsVersionEnum

from policies.ciphers import MOZILLA_INTERMEDIATE_TLS12_CIPHERS, SPEC_PREFERRED_CIPHERS

ALLOWED_TLS12_CIPHERS: frozenset[str] = frozenset(SPEC_PREFERRED_CIPHERS + MOZILLA_INTERMEDIATE_TLS12_CIPHERS)

# ACME clients renew when a third of a certificate's lifetime is left (Let's Encrypt's 90-day certificates at
# 30 days; certbot's and Vercel's managed renewal follow the same window). A healthy auto-renewal therefore never
# shows less than about a third; below 21 of 90 days (7/30 of the lifetime) renewal has been failing for over a
# week, the point to page a human while there is still time to fix it. The floor is relative because the
# lifetime is shrinking: Let's Encrypt issues 64-day certificates from February 2027 and 45-day ones from
# February 2028 ("Decreasing Certificate Lifetimes to 45 Days"), where a fixed 21 days would fail healthy hosts.
RENEWAL_FAILING_FRACTION = 7 / 30
DEFAULT_MIN_DAYS = 21  # for a 90-day certificate; see min_days_for
DEFAULT_ISSUER_ORGANIZATION = "Let's Encrypt"

REFUSED_PROTOCOLS: tuple[str, ...] = ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1")
ACCEPTABLE_PROTOCOLS: tuple[str, ...] = ("TLS 1.2", "TLS 1.3")

_PROTOCOL_SCANS: dict[str, ScanCommand] = {
    "SSL 2.0": ScanCommand.SSL_2_0_CIPHER_SUITES,
    "SSL 3.0": ScanCommand.SSL_3_0_CIPHER_SUITES,
    "TLS 1.0": ScanCommand.TLS_1_0_CIPHER_SUITES,
    "TLS 1.1": ScanCommand.TLS_1_1_CIPHER_SUITES,
    "TLS 1.2": ScanCommand.TLS_1_2_CIPHER_SUITES,
    "TLS 1.3": ScanCommand.TLS_1_3_CIPHER_SUITES,
}

# sslyze always adds its bundled stores (Mozilla, Apple, Android, Java, Windows) to a supplied CA file.
# Browsers are the clients of a web app, so without --ca-file the Mozilla store decides; with --ca-file the
# operator has said which roots to trust and only that file decides.
DEFAULT_TRUST_STORE = "Mozilla"


class TlsCheckError(Exception):
    """The check could not run (bad input, unknown name, unreachable host): not a verdict on the host."""


@dataclass(frozen=True)
class CipherException:
    """An explicit, named permission to accept TLS 1.2 suites outside the allowed set.

    Every suite it allows is shown in the report as "allowed by exception <name>"; nothing is waived silently.
    """

    name: str
    reason: str
    ciphers: frozenset[str]


# What Vercel documents for its CDN ("Encryption and TLS", https://vercel.com/docs/cdn-security/encryption,
# last updated 2026-03-05): TLS 1.2 and 1.3 only, a fixed list that projects cannot change, "strong ciphers
# with forward secrecy ... the recommended configuration from Mozilla". Its TLS 1.2 suites are listed here.
# All of them are already in ALLOWED_TLS12_CIPHERS, so today the exception admits nothing extra; it exists so
# a Vercel-hosted domain is checked against Vercel's published list, and so a suite Vercel documents in future
# shows up as an exception rather than as a failure nobody can fix. Undocumented suites (CBC ones, say) still
# fail: an exception is never a blanket waiver.
VERCEL_DOCUMENTED_TLS12_CIPHERS: frozenset[str] = frozenset(
    {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES256-GCM-SHA384",
    }
)

PLATFORM_EXCEPTIONS: Mapping[str, CipherException] = {
    "vercel": CipherException(
        name="vercel",
        reason="Vercel's edge serves a fixed cipher list (vercel.com/docs/cdn-security/encryption)",
        ciphers=VERCEL_DOCUMENTED_TLS12_CIPHERS,
    ),
}


def platform_exception(name: str) -> CipherException:
    """The registered platform exception called ``name`` (case-insensitive)."""
    try:
        return PLATFORM_EXCEPTIONS[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(PLATFORM_EXCEPTIONS))
        raise TlsCheckError(f"unknown platform exception {name!r}; known: {known}") from None


def _tls12_cipher_names() -> dict[str, str]:
    """Every TLS 1.2 suite sslyze can test, by OpenSSL and by IANA name, mapped to the OpenSSL name."""
    names: dict[str, str] = {}
    for suite in CipherSuitesRepository.get_all_cipher_suites(TlsVersionEnum.TLS_1_2):
        names[suite.openssl_name.upper()] = suite.openssl_name
        names[suite.name.upper()] = suite.openssl_name
    return names


def command_line_exception(cipher_names: Iterable[str]) -> CipherException | None:
    """An exception for suites allowed with ``--allow-cipher`` (OpenSSL or IANA names), or None if none."""
    known = _tls12_cipher_names()
    allowed: set[str] = set()
    unknown: list[str] = []
    for raw in cipher_names:
        openssl_name = known.get(raw.strip().upper())
        if openssl_name is None:
            unknown.append(raw)
        else:
            allowed.add(openssl_name)
    if unknown:
        raise TlsCheckError(f"unknown TLS 1.2 cipher suite(s): {', '.join(unknown)}")
    if not allowed:
        return None
    return CipherException(name="--allow-cipher", reason="allowed on the command line", ciphers=frozenset(allowed))


@dataclass(frozen=True)
class TlsPolicy:
    """What the host must satisfy. Defaults are the spec's promises."""

    # None: relative to each certificate's lifetime (min_days_for); a number: that many days, whatever the lifetime.
    min_days: int | None = None
    issuer_organization: str = DEFAULT_ISSUER_ORGANIZATION
    exceptions: tuple[CipherException, ...] = ()

    def __post_init__(self) -> None:
        if self.min_days is not None and self.min_days < 0:
            raise TlsCheckError(f"min_days must be >= 0, got {self.min_days}")
        if not self.issuer_organization.strip():
            raise TlsCheckError("issuer organization must not be empty")


@dataclass(frozen=True)
class CertificateFacts:
    """One certificate deployment as the server presented it and as sslyze validated it."""

    names: tuple[str, ...]
    issuer_organizations: tuple[str, ...]
    issuer: str
    not_after: dt.datetime
    trust_store: str
    trusted: bool
    validation_error: str | None
    not_before: dt.datetime | None = None


@dataclass(frozen=True)
class ScanFacts:
    """What a scan observed, free of sslyze types so decisions can be tested with plain values."""

    host: str
    port: int
    accepted_suites: Mapping[str, tuple[str, ...]]
    protocol_errors: Mapping[str, str] = field(default_factory=dict)
    certificates: tuple[CertificateFacts, ...] = ()
    certificate_error: str | None = None


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class TlsReport:
    host: str
    port: int
    checks: tuple[CheckResult, ...]
    allowed_by_exception: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return tuple(check.name for check in self.checks if not check.passed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks],
            "passed": self.passed,
        }


def parse_target(target: str) -> tuple[str, int]:
    """Split ``HOST[:PORT]`` (``[v6]:PORT`` for IPv6) into host and port; the port defaults to 443."""
    text = target.strip()
    if not text:
        raise TlsCheckError("target is empty; expected HOST[:PORT]")
    if "://" in text:
        raise TlsCheckError(f"target {target!r} looks like a URL; expected HOST[:PORT]")
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            raise TlsCheckError(f"target {target!r} has an unclosed '['")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise TlsCheckError(f"target {target!r}: expected ':PORT' after ']'")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    elif text.count(":") > 1:
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise TlsCheckError(f"target {target!r} is not HOST[:PORT]") from None
    if not host:
        raise TlsCheckError(f"target {target!r} has no host")
    if not port_text:
        return host, 443
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise TlsCheckError(f"target {target!r}: port must be 1-65535, got {port_text!r}")
    return host, int(port_text)


# ---------------------------------------------------------------------------------------------------------
# Decisions: pure functions of observed facts.
# ---------------------------------------------------------------------------------------------------------


def evaluate_protocols(accepted: Mapping[str, Sequence[str]], errors: Mapping[str, str]) -> CheckResult:
    """Legacy protocols refused, TLS 1.2 or 1.3 accepted; a protocol that could not be tested fails."""
    problems = [f"could not test {name}: {errors[name]}" for name in _PROTOCOL_SCANS if name in errors]
    offered_legacy = [name for name in REFUSED_PROTOCOLS if accepted.get(name)]
    offered_modern = [name for name in ACCEPTABLE_PROTOCOLS if accepted.get(name)]
    if offered_legacy:
        problems.append(f"{', '.join(offered_legacy)} accepted (must be refused)")
    if not offered_modern:
        problems.append("neither TLS 1.2 nor TLS 1.3 accepted")
    if problems:
        return CheckResult("protocols", False, "; ".join(problems))
    return CheckResult("protocols", True, f"{' and '.join(offered_modern)} accepted; SSL 2.0/3.0, TLS 1.0/1.1 refused")


def classify_tls12_suites(
    accepted: Sequence[str], exceptions: Sequence[CipherException]
) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """Split accepted TLS 1.2 suites into (allowed, allowed by exception name, not allowed)."""
    allowed: list[str] = []
    by_exception: dict[str, list[str]] = {}
    rejected: list[str] = []
    for suite in accepted:
        if suite in ALLOWED_TLS12_CIPHERS:
            allowed.append(suite)
            continue
        granting = next((exc for exc in exceptions if suite in exc.ciphers), None)
        if granting is None:
            rejected.append(suite)
        else:
            by_exception.setdefault(granting.name, []).append(suite)
    return allowed, by_exception, rejected


def evaluate_ciphers(
    accepted_tls12: Sequence[str], exceptions: Sequence[CipherException]
) -> tuple[CheckResult, dict[str, tuple[str, ...]]]:
    """Every accepted TLS 1.2 suite allowed, either by the standard set or by a named exception."""
    allowed, by_exception, rejected = classify_tls12_suites(accepted_tls12, exceptions)
    parts: list[str] = []
    if rejected:
        parts.append(f"not allowed: {', '.join(sorted(rejected))}")
    if allowed:
        parts.append(f"allowed: {', '.join(sorted(allowed))}")
    for exc in exceptions:
        granted = by_exception.get(exc.name)
        if granted:
            parts.append(f"allowed by exception {exc.name} ({exc.reason}): {', '.join(sorted(granted))}")
        else:
            parts.append(f"exception {exc.name} configured, allowed nothing beyond the standard set")
    if not accepted_tls12:
        parts.insert(0, "no TLS 1.2 suites accepted")
    result = CheckResult("ciphers", not rejected, "; ".join(parts))
    return result, {name: tuple(sorted(suites)) for name, suites in by_exception.items()}


def evaluate_preferred_cipher(accepted_tls12: Sequence[str]) -> CheckResult:
    """When TLS 1.2 is offered, at least one of the spec's preferred suites must be among those accepted."""
    offered = [suite for suite in SPEC_PREFERRED_CIPHERS if suite in accepted_tls12]
    if offered:
        return CheckResult("preferred-cipher", True, f"accepted: {', '.join(offered)}")
    if not accepted_tls12:
        return CheckResult("preferred-cipher", True, "TLS 1.2 not offered; the preferred suites are TLS 1.2 suites")
    return CheckResult(
        "preferred-cipher", False, f"neither {' nor '.join(SPEC_PREFERRED_CIPHERS)} accepted over TLS 1.2"
    )


def evaluate_certificate(facts: ScanFacts) -> CheckResult:
    """Each deployed chain is trusted by the chosen store and valid for the host name."""
    if facts.certificate_error:
        return CheckResult("certificate", False, f"could not analyse the certificate: {facts.certificate_error}")
    if not facts.certificates:
        return CheckResult("certificate", False, "the server presented no certificate")
    problems = []
    for cert in facts.certificates:
        if not cert.trusted:
            names = ", ".join(cert.names) or "(none)"
            problems.append(
                f"not valid for {facts.host} with trust store {cert.trust_store!r}: "
                f"{cert.validation_error}; certificate names: {names}; issuer: {cert.issuer}"
            )
    if problems:
        return CheckResult("certificate", False, " | ".join(problems))
    stores = sorted({cert.trust_store for cert in facts.certificates})
    return CheckResult("certificate", True, f"chain valid for {facts.host} (trust store {', '.join(stores)})")


def evaluate_issuer(certificates: Sequence[CertificateFacts], expected_organization: str) -> CheckResult:
    """The leaf's issuer organization (O=) equals the configured one, ignoring case and surrounding space."""
    if not certificates:
        return CheckResult("issuer", False, "no certificate to check")
    wanted = expected_organization.strip().casefold()
    wrong = [
        cert.issuer
        for cert in certificates
        if wanted not in {org.strip().casefold() for org in cert.issuer_organizations}
    ]
    if wrong:
        return CheckResult("issuer", False, f"issuer organization is not {expected_organization!r}: {'; '.join(wrong)}")
    return CheckResult("issuer", True, f"issued by {expected_organization!r} ({certificates[0].issuer})")


def days_left(not_after: dt.datetime, now: dt.datetime) -> int:
    """Whole days until ``not_after`` (a certificate expiring in 23 h has 0 left); negative once expired."""
    return (not_after - now) // dt.timedelta(days=1)


def min_days_for(certificate: CertificateFacts) -> int:
    """The days a healthy renewal always leaves this certificate: 7/30 of its lifetime (21 of 90, 14 of
    64, 10 of 45), at least 1; 21 when the lifetime is unknown."""
    if certificate.not_before is None:
        return DEFAULT_MIN_DAYS
    # Whole days: a 90-day certificate's validity ends a second short of 90 days (RFC 5280 counts both ends).
    lifetime = round((certificate.not_after - certificate.not_before) / dt.timedelta(days=1))
    return max(1, int(lifetime * RENEWAL_FAILING_FRACTION))


def evaluate_expiry(certificates: Sequence[CertificateFacts], min_days: int | None, now: dt.datetime) -> CheckResult:
    """Every leaf has at least its threshold of whole days left: ``min_days``, or relative to its lifetime."""
    if not certificates:
        return CheckResult("expiry", False, "no certificate to check")
    expired = [c for c in certificates if c.not_after <= now]
    if expired:
        soonest = min(expired, key=lambda cert: cert.not_after)
        when = soonest.not_after.strftime("%Y-%m-%d %H:%M UTC")
        ago = (now - soonest.not_after) // dt.timedelta(days=1)
        return CheckResult("expiry", False, f"expired {ago} day(s) ago ({when})")

    def threshold(cert: CertificateFacts) -> int:
        return min_days if min_days is not None else min_days_for(cert)

    def described(cert: CertificateFacts) -> str:
        if min_days is not None or cert.not_before is None:
            return f"{threshold(cert)}-day threshold"
        lifetime = round((cert.not_after - cert.not_before) / dt.timedelta(days=1))
        return f"{threshold(cert)}-day threshold (7/30 of its {lifetime}-day lifetime)"

    short = [c for c in certificates if days_left(c.not_after, now) < threshold(c)]
    soonest = min(short or certificates, key=lambda cert: cert.not_after)
    when = soonest.not_after.strftime("%Y-%m-%d %H:%M UTC")
    left = days_left(soonest.not_after, now)
    if short:
        return CheckResult(
            "expiry",
            False,
            f"{left} day(s) left ({when}), below the {described(soonest)}: renewal is failing",
        )
    return CheckResult("expiry", True, f"{left} day(s) left ({when}), {described(soonest)}")


def evaluate(facts: ScanFacts, policy: TlsPolicy, now: dt.datetime | None = None) -> TlsReport:
    """Turn scan facts into the named checks of the report."""
    moment = now or dt.datetime.now(dt.UTC)
    accepted_tls12 = list(facts.accepted_suites.get("TLS 1.2", ()))
    ciphers, by_exception = evaluate_ciphers(accepted_tls12, policy.exceptions)
    cipher_checks = [ciphers, evaluate_preferred_cipher(accepted_tls12)]
    if "TLS 1.2" in facts.protocol_errors:
        reason = f"could not test TLS 1.2 suites: {facts.protocol_errors['TLS 1.2']}"
        cipher_checks = [CheckResult(check.name, False, reason) for check in cipher_checks]
    checks = (
        evaluate_protocols(facts.accepted_suites, facts.protocol_errors),
        *cipher_checks,
        evaluate_certificate(facts),
        evaluate_issuer(facts.certificates, policy.issuer_organization),
        evaluate_expiry(facts.certificates, policy.min_days, moment),
    )
    return TlsReport(facts.host, facts.port, checks, by_exception)


# ---------------------------------------------------------------------------------------------------------
# Observation: the only part that talks to the network (through sslyze).
# ---------------------------------------------------------------------------------------------------------


def _leaf_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return tuple(dns + ips)


def _certificate_facts(deployment: Any, store_name: str, ca_file: Path | None) -> CertificateFacts:
    leaf: x509.Certificate = deployment.received_certificate_chain[0]
    if ca_file is None:
        chosen = [r for r in deployment.path_validation_results if r.trust_store.name == store_name]
    else:
        chosen = [r for r in deployment.path_validation_results if r.trust_store.path == ca_file]
    if not chosen:
        raise TlsCheckError(f"sslyze reported no validation against trust store {store_name!r}")
    validation = chosen[0]
    error = validation.validation_error
    if not validation.was_validation_successful:
        chain = deployment.received_certificate_chain
        error = f"{error}{_missing_anchor_hint(chain, validation.trust_store.path)}"
    return CertificateFacts(
        names=_leaf_names(leaf),
        issuer_organizations=tuple(
            str(attr.value) for attr in leaf.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        ),
        issuer=leaf.issuer.rfc4514_string(),
        not_after=leaf.not_valid_after_utc,
        not_before=leaf.not_valid_before_utc,
        trust_store=store_name,
        trusted=validation.was_validation_successful,
        validation_error=error,
    )


def _missing_anchor_hint(chain: Sequence[x509.Certificate], store_path: Path) -> str:
    """Say so in plain words when no root in the store even has the name the chain points at.

    cryptography reports an unknown root as "candidates exhausted", which does not tell an operator that the
    certificate simply comes from a CA the store does not hold.
    """
    top = chain[-1]
    names_in_store = {root.subject for root in x509.load_pem_x509_certificates(store_path.read_bytes())}
    if top.subject in names_in_store or top.issuer in names_in_store:
        return ""
    return f" (no certificate in the trust store is named {top.issuer.rfc4514_string()})"


def _error_text(attempt: Any) -> str:
    if attempt.error_trace is not None:
        return "".join(attempt.error_trace.format_exception_only()).strip()
    return str(attempt.error_reason)


def scan(host: str, port: int = 443, ca_file: Path | None = None, timeout_seconds: int = 5) -> ScanFacts:
    """Ask sslyze which protocols and suites the server accepts and how its certificate validates.

    Raises :class:`TlsCheckError` when the host cannot be resolved or reached over TLS at all.
    """
    ca_path = ca_file.resolve() if ca_file is not None else None
    extra = ScanCommandsExtraArguments()
    if ca_path is not None:
        try:
            extra = ScanCommandsExtraArguments(certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca_path))
        except ValueError as error:
            raise TlsCheckError(str(error)) from None
    try:
        location = ServerNetworkLocation(hostname=host, port=port)
    except ServerHostnameCouldNotBeResolved as error:
        raise TlsCheckError(f"cannot resolve {host}: {error}") from None
    request = ServerScanRequest(
        server_location=location,
        network_configuration=ServerNetworkConfiguration(
            tls_server_name_indication=location.hostname, network_timeout=timeout_seconds
        ),
        scan_commands={ScanCommand.CERTIFICATE_INFO, *_PROTOCOL_SCANS.values()},
        scan_commands_extra_arguments=extra,
    )
    scanner = Scanner()
    scanner.queue_scans([request])
    (result,) = list(scanner.get_results())
    if result.scan_status == ServerScanStatusEnum.ERROR_NO_CONNECTIVITY or result.scan_result is None:
        trace = result.connectivity_error_trace
        reason = "".join(trace.format_exception_only()).strip() if trace else "no connectivity"
        raise TlsCheckError(f"cannot connect to {host}:{port} over TLS: {reason}")
    outcome = result.scan_result

    accepted: dict[str, tuple[str, ...]] = {}
    errors: dict[str, str] = {}
    for protocol, command in _PROTOCOL_SCANS.items():
        attempt = getattr(outcome, command.value)
        if attempt.status == ScanCommandAttemptStatusEnum.COMPLETED and attempt.result is not None:
            suites = attempt.result.accepted_cipher_suites
            accepted[protocol] = tuple(suite.cipher_suite.openssl_name for suite in suites)
        else:
            errors[protocol] = _error_text(attempt)

    store_name = "Supplied CA file" if ca_path is not None else DEFAULT_TRUST_STORE
    cert_attempt = outcome.certificate_info
    certificates: tuple[CertificateFacts, ...] = ()
    certificate_error = None
    if cert_attempt.status == ScanCommandAttemptStatusEnum.COMPLETED and cert_attempt.result is not None:
        certificates = tuple(
            _certificate_facts(deployment, store_name, ca_path)
            for deployment in cert_attempt.result.certificate_deployments
        )
    else:
        certificate_error = _error_text(cert_attempt)
    return ScanFacts(host, port, accepted, errors, certificates, certificate_error)


def check_tls(
    host: str,
    port: int = 443,
    policy: TlsPolicy | None = None,
    ca_file: Path | None = None,
    now: dt.datetime | None = None,
) -> TlsReport:
    """Scan ``host:port`` and evaluate it against ``policy`` (the spec's defaults when omitted)."""
    return evaluate(scan(host, port, ca_file), policy or TlsPolicy(), now)
