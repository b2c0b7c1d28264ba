"""TLS verification of a live endpoint (sslyze): protocols, ciphers, chain, name, issuer, expiry.

Owns: the checks and their verdicts (`check`); `cli` is `chefchatz tls-check`.
"""

from ops.tls.check import (
    CheckResult,
    CipherException,
    TlsCheckError,
    TlsPolicy,
    TlsReport,
    check_tls,
    platform_exception,
)

__all__ = [
    "CheckResult",
    "CipherException",
    "TlsCheckError",
    "TlsPolicy",
    "TlsReport",
    "check_tls",
    "platform_exception",
]
