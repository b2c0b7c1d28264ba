"""TLS rules that can be checked before deployment.

What only a live endpoint can show (negotiated protocol and ciphers, the chain actually served,
days to expiry) is checked by `chefchatz tls-check`; see README "TLS".
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.common import (
    BUCKET_POLICY,
    CLOUDFRONT,
    HEALTH_CHECK,
    LB_LISTENER,
    SNS_SUBSCRIPTION,
    VERCEL_CERTIFICATE,
    VERCEL_ENV_VAR,
    get,
    is_production,
    policy_statements,
    resource_policy,
    stack_schema,
)

# AWS security policies whose protocols are TLS 1.2+ and whose TLS 1.2 ciphers are all inside
# Mozilla's "intermediate" list (ECDHE with AES-GCM or ChaCha20 only).
ALLOWED_LB_POLICIES = [
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
]
ALLOWED_CLOUDFRONT_PROTOCOLS = ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"]


def _validate_managed_certificates(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != VERCEL_CERTIFICATE or not is_production(args, args.urn):
        return
    if not (args.get_config() or {}).get("allowCustomCertificate", False):
        report(
            "a custom certificate replaces Vercel's managed Let's Encrypt certificate, which renews itself; "
            "this one expires unless someone renews it. Allow it explicitly (allowCustomCertificate) or remove it",
            args.urn,
        )


managed_certificates_in_production = resource_policy(
    "managed-certificates-in-production",
    "Production uses managed, auto-renewed Let's Encrypt certificates; a custom certificate is an explicit exception.",
    _validate_managed_certificates,
    schema=stack_schema(allowCustomCertificate={"type": "boolean", "default": False}),
)


def _http_url(value: Any) -> bool:
    # Compare the parsed host, not a prefix: "http://localhost.example.com" is not loopback.
    if not isinstance(value, str):
        return False
    url = urlsplit(value.strip())
    return url.scheme == "http" and url.hostname not in ("localhost", "127.0.0.1", "::1")


def _validate_https_only(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    if args.resource_type == HEALTH_CHECK:
        kind = props["type"]
        if kind not in ("HTTPS", "HTTPS_STR_MATCH"):
            report(f"health check type is {kind}: probe over HTTPS", args.urn)
        elif get(props, "enableSni") is not True:
            report("HTTPS health check without SNI cannot validate a Vercel-served certificate", args.urn)
    elif args.resource_type == VERCEL_ENV_VAR:
        key = str(props["key"])
        if key.endswith("_URL") and _http_url(get(props, "value")):
            report(f"{key} points at a plain-http endpoint", args.urn)
    elif args.resource_type == SNS_SUBSCRIPTION and props["protocol"] == "http":
        report("notifications are delivered over plain http: use https", args.urn)


https_only = resource_policy(
    "https-only",
    "Endpoints, health checks and notification targets use HTTPS (with SNI).",
    _validate_https_only,
)


def _denies_insecure_transport(document: dict[str, Any]) -> tuple[bool, bool]:
    """(denies non-TLS requests, denies TLS below 1.2) for an IAM policy document."""
    secure, version = False, False
    for statement in policy_statements(document):
        if statement.get("Effect") != "Deny":
            continue
        condition = statement.get("Condition", {})
        if str(condition.get("Bool", {}).get("aws:SecureTransport", "")).lower() == "false":
            secure = True
        minimum = condition.get("NumericLessThan", {}).get("s3:TlsVersion")
        if minimum is not None and float(minimum) >= 1.2:
            version = True
    return secure, version


def _validate_minimum_version(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = args.props
    config = args.get_config() or {}
    if args.resource_type == LB_LISTENER and props["protocol"] in ("HTTPS", "TLS"):
        policy = get(props, "sslPolicy")
        allowed = config.get("allowedLoadBalancerPolicies", ALLOWED_LB_POLICIES)
        if policy not in allowed:
            report(f"listener SSL policy {policy!r} allows TLS < 1.2 or ciphers outside Mozilla intermediate", args.urn)
    elif args.resource_type == CLOUDFRONT:
        minimum = get(props, "viewerCertificate", "minimumProtocolVersion")
        if minimum not in ALLOWED_CLOUDFRONT_PROTOCOLS:
            report(f"CloudFront minimum protocol {minimum!r} is below TLS 1.2 with modern ciphers", args.urn)
    elif args.resource_type == BUCKET_POLICY:
        try:
            document = json.loads(props["policy"])
        except (TypeError, json.JSONDecodeError):
            report("bucket policy is not a JSON document", args.urn)
            return
        secure, version = _denies_insecure_transport(document)
        if not secure:
            report("bucket policy does not deny requests without TLS (aws:SecureTransport=false)", args.urn)
        if not version:
            report("bucket policy does not deny TLS versions below 1.2 (s3:TlsVersion)", args.urn)


tls_minimum_version = resource_policy(
    "tls-minimum-version",
    "TLS settings are at or above TLS 1.2 with ciphers inside Mozilla's intermediate set.",
    _validate_minimum_version,
    schema=stack_schema(
        allowedLoadBalancerPolicies={"type": "array", "items": {"type": "string"}, "default": ALLOWED_LB_POLICIES}
    ),
)

POLICIES = [managed_certificates_in_production, https_only, tls_minimum_version]
