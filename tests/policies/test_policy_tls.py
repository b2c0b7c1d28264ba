"""TLS rules checkable before deployment: managed certificates in production, HTTPS-only probes,
endpoints and notifications, and TLS 1.2+ settings with Mozilla-intermediate ciphers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy_harness import (
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    Findings,
    config_for,
    run_resource_policy,
    urn,
)
from pulumi_policy import ResourceValidationPolicy
from resource_shapes import DELETE, HEALTH_CHECK, monitoring_plan, set_path, tls_only_policy, vercel_variable

from policies.common import BUCKET_POLICY, CLOUDFRONT, LB_LISTENER, SNS_SUBSCRIPTION, VERCEL_CERTIFICATE, VERCEL_ENV_VAR
from policies.tls import (
    https_only,
    managed_certificates_in_production,
    tls_minimum_version,
)

NAME = "chefchatz-tls"


def check(
    policy: ResourceValidationPolicy, resource_type: str, props: dict[str, Any], stack: str = "prod", **config: Any
) -> Findings:
    return run_resource_policy(
        policy, resource_type, props, stack=stack, name=NAME, config=config_for(policy, **config)
    )


def health_check(**changes: Any) -> dict[str, Any]:
    props = dict(monitoring_plan().pop("chefchatz-prod-monitoring-health-chefchatz-com").props)
    for path, value in changes.items():
        set_path(props, path, value)
    return props


# --- managed-certificates-in-production -----------------------------------------------------------

CERTIFICATE = {
    "teamId": "chefchatz",
    "certificate": "-----BEGIN CERTIFICATE-----",
    "privateKey": "k",
    "caCertificate": "",
}


def test_production_relies_on_managed_lets_encrypt_certificates() -> None:
    finding = check(managed_certificates_in_production, VERCEL_CERTIFICATE, CERTIFICATE).expect(
        "a custom certificate replaces Vercel's managed Let's Encrypt certificate", on=urn(VERCEL_CERTIFICATE, NAME)
    )
    assert "allowCustomCertificate" in finding.message, "the message says how to allow an exception"


def test_custom_certificate_in_production_is_an_explicit_exception() -> None:
    assert check(managed_certificates_in_production, VERCEL_CERTIFICATE, CERTIFICATE, allowCustomCertificate=True) == []


def test_custom_certificates_outside_production_are_allowed() -> None:
    assert check(managed_certificates_in_production, VERCEL_CERTIFICATE, CERTIFICATE, stack="staging") == []
    check(
        managed_certificates_in_production,
        VERCEL_CERTIFICATE,
        CERTIFICATE,
        stack="staging",
        productionStacks=["prod", "staging"],
    ).expect("custom certificate")


def test_managed_certificate_rule_ignores_other_resources() -> None:
    assert check(managed_certificates_in_production, VERCEL_ENV_VAR, {"key": "X"}) == []


def test_custom_certificate_with_inputs_unknown_at_preview_is_still_refused() -> None:
    """The rule needs no input of the certificate: unknown contents change nothing."""
    props = {"teamId": "chefchatz", "certificate": UNKNOWN_STRING_VALUE, "privateKey": UNKNOWN_STRING_VALUE}
    check(managed_certificates_in_production, VERCEL_CERTIFICATE, props).expect("custom certificate")


# --- https-only -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["HTTPS", "HTTPS_STR_MATCH"])
def test_health_checks_probe_over_https_with_sni(kind: str) -> None:
    assert check(https_only, HEALTH_CHECK, health_check(type=kind)) == []


@pytest.mark.parametrize("kind", ["HTTP", "HTTP_STR_MATCH", "TCP"])
def test_health_check_over_plain_http_is_refused(kind: str) -> None:
    check(https_only, HEALTH_CHECK, health_check(type=kind)).expect(
        f"health check type is {kind}: probe over HTTPS", on=urn(HEALTH_CHECK, NAME)
    )


@pytest.mark.parametrize("sni", [False, DELETE], ids=["off", "absent"])
def test_https_health_check_without_sni_is_refused(sni: object) -> None:
    props = health_check(enableSni=sni)
    check(https_only, HEALTH_CHECK, props).expect("HTTPS health check without SNI", on=urn(HEALTH_CHECK, NAME))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("NEXT_PUBLIC_SUPABASE_URL", "https://abcdefghijklmnop.supabase.co"),
        ("NEXT_PUBLIC_SUPABASE_URL", "http://localhost:54321"),
        ("NEXT_PUBLIC_SUPABASE_URL", "http://127.0.0.1:54321"),
        ("NEXT_PUBLIC_SUPABASE_URL", "http://[::1]:54321"),
        ("DATABASE_URL", "postgresql://u:p@db:5432/postgres"),
        ("NEXT_PUBLIC_HOMEPAGE", "http://chefchatz.com"),
    ],
)
def test_url_variables_point_at_https_or_loopback(key: str, value: str) -> None:
    assert check(https_only, VERCEL_ENV_VAR, vercel_variable(key, value, sensitive=False, targets=["production"])) == []


@pytest.mark.parametrize(
    "value",
    [
        "http://abcdefghijklmnop.supabase.co",
        "HTTP://abcdefghijklmnop.supabase.co",
        "http://localhost.attacker.example",
        "http://127.0.0.1.nip.io",
    ],
)
def test_url_variable_pointing_at_a_plain_http_host_is_refused(value: str) -> None:
    """Only loopback itself is exempt, not hosts whose names merely start like it."""
    props = vercel_variable("NEXT_PUBLIC_API_URL", value, sensitive=False, targets=[])
    check(https_only, VERCEL_ENV_VAR, props).expect(
        "NEXT_PUBLIC_API_URL points at a plain-http endpoint", on=urn(VERCEL_ENV_VAR, NAME)
    )


def test_url_variable_pointing_at_plain_http_is_refused() -> None:
    props = vercel_variable(
        "NEXT_PUBLIC_SUPABASE_URL", "http://abcdefghijklmnop.supabase.co", sensitive=False, targets=[]
    )
    check(https_only, VERCEL_ENV_VAR, props).expect(
        "NEXT_PUBLIC_SUPABASE_URL points at a plain-http endpoint", on=urn(VERCEL_ENV_VAR, NAME)
    )


@pytest.mark.parametrize("protocol", ["https", "email", "sqs"])
def test_notifications_are_delivered_over_https_or_other_secure_channels(protocol: str) -> None:
    assert check(https_only, SNS_SUBSCRIPTION, {"protocol": protocol, "endpoint": "x", "topic": "arn:t"}) == []


def test_notifications_over_plain_http_are_refused() -> None:
    props = {"protocol": "http", "endpoint": "http://hooks.example.com", "topic": "arn:t"}
    check(https_only, SNS_SUBSCRIPTION, props).expect("delivered over plain http", on=urn(SNS_SUBSCRIPTION, NAME))


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (HEALTH_CHECK, health_check(type=UNKNOWN_STRING_VALUE)),
        (HEALTH_CHECK, health_check(enableSni=UNKNOWN_BOOLEAN_VALUE)),
        (VERCEL_ENV_VAR, vercel_variable("APP_URL", UNKNOWN_STRING_VALUE, sensitive=False, targets=[])),
        (VERCEL_ENV_VAR, vercel_variable(UNKNOWN_STRING_VALUE, "http://x", sensitive=False, targets=[])),
        (SNS_SUBSCRIPTION, {"protocol": UNKNOWN_STRING_VALUE, "endpoint": "x"}),
    ],
    ids=["check-type", "check-sni", "url-value", "variable-key", "sns-protocol"],
)
def test_https_settings_unknown_at_preview_are_reported(resource_type: str, props: dict[str, Any]) -> None:
    check(https_only, resource_type, props).expect_unverifiable(on=urn(resource_type, NAME))


def test_unknown_value_of_a_variable_that_is_no_url_is_not_needed() -> None:
    props = vercel_variable("OPENAI_API_KEY", UNKNOWN_STRING_VALUE, sensitive=True, targets=["production"])
    assert check(https_only, VERCEL_ENV_VAR, props) == []


# --- tls-minimum-version --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
        "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
    ],
)
def test_load_balancer_listeners_use_tls12_plus_with_modern_ciphers(policy: str) -> None:
    props = {"protocol": "HTTPS", "port": 443, "sslPolicy": policy}
    assert check(tls_minimum_version, LB_LISTENER, props) == []


@pytest.mark.parametrize(
    ("protocol", "policy"),
    [
        ("HTTPS", "ELBSecurityPolicy-2016-08"),
        ("HTTPS", "ELBSecurityPolicy-TLS-1-1-2017-01"),
        ("HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06"),  # TLS 1.2 but CBC ciphers outside intermediate
        ("TLS", None),
    ],
)
def test_listener_allowing_old_tls_or_weak_ciphers_is_refused(protocol: str, policy: str | None) -> None:
    props: dict[str, Any] = {"protocol": protocol, "port": 443}
    if policy is not None:
        props["sslPolicy"] = policy
    check(tls_minimum_version, LB_LISTENER, props).expect(
        f"listener SSL policy {policy!r} allows TLS < 1.2", on=urn(LB_LISTENER, NAME)
    )


def test_plain_listeners_have_no_tls_settings_to_judge() -> None:
    assert check(tls_minimum_version, LB_LISTENER, {"protocol": "HTTP", "port": 80}) == []


def test_allowed_load_balancer_policies_are_configurable() -> None:
    props = {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}
    assert check(tls_minimum_version, LB_LISTENER, props, allowedLoadBalancerPolicies=[props["sslPolicy"]]) == []


@pytest.mark.parametrize("minimum", ["TLSv1.2_2021", "TLSv1.2_2025", "TLSv1.3_2025"])
def test_cloudfront_viewers_need_tls12_plus(minimum: str) -> None:
    props = {"enabled": True, "viewerCertificate": {"minimumProtocolVersion": minimum, "sslSupportMethod": "sni-only"}}
    assert check(tls_minimum_version, CLOUDFRONT, props) == []


@pytest.mark.parametrize("minimum", ["TLSv1", "TLSv1_2016", "TLSv1.1_2016", "TLSv1.2_2018", "TLSv1.2_2019", None])
def test_cloudfront_allowing_old_tls_is_refused(minimum: str | None) -> None:
    props: dict[str, Any] = {"enabled": True, "viewerCertificate": {"cloudfrontDefaultCertificate": True}}
    if minimum is not None:
        props["viewerCertificate"]["minimumProtocolVersion"] = minimum
    check(tls_minimum_version, CLOUDFRONT, props).expect(
        f"CloudFront minimum protocol {minimum!r} is below TLS 1.2", on=urn(CLOUDFRONT, NAME)
    )


def bucket_policy(document: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "bucket": "chefchatz-prod-database-backups",
        "policy": document if isinstance(document, str) else json.dumps(document),
    }


def test_backup_bucket_policy_denies_plain_http_and_tls_below_12() -> None:
    assert (
        check(tls_minimum_version, BUCKET_POLICY, bucket_policy(tls_only_policy("chefchatz-prod-database-backups")))
        == []
    )


def _statements(document: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = json.loads(document)["Statement"]
    return statements


def test_bucket_policy_without_secure_transport_deny_is_refused() -> None:
    statements = _statements(tls_only_policy("b"))[1:]
    findings = check(tls_minimum_version, BUCKET_POLICY, bucket_policy({"Statement": statements}))
    findings.expect("does not deny requests without TLS (aws:SecureTransport=false)", on=urn(BUCKET_POLICY, NAME))
    assert len(findings) == 1


def test_bucket_policy_allowing_secure_transport_does_not_deny_plain_http() -> None:
    statements = _statements(tls_only_policy("b"))
    statements[0]["Effect"] = "Allow"
    statements[0]["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    check(tls_minimum_version, BUCKET_POLICY, bucket_policy({"Statement": statements})).expect(
        "does not deny requests without TLS"
    )


@pytest.mark.parametrize("version", [None, "1.0", "1.1"])
def test_bucket_policy_without_tls12_floor_is_refused(version: str | None) -> None:
    statements = _statements(tls_only_policy("b"))
    if version is None:
        statements = statements[:1]
    else:
        statements[1]["Condition"]["NumericLessThan"]["s3:TlsVersion"] = version
    findings = check(tls_minimum_version, BUCKET_POLICY, bucket_policy({"Statement": statements}))
    findings.expect("does not deny TLS versions below 1.2 (s3:TlsVersion)", on=urn(BUCKET_POLICY, NAME))
    assert len(findings) == 1


def test_tls_version_floor_may_be_a_number() -> None:
    statements = _statements(tls_only_policy("b"))
    statements[1]["Condition"]["NumericLessThan"]["s3:TlsVersion"] = 1.2
    assert check(tls_minimum_version, BUCKET_POLICY, bucket_policy({"Statement": statements})) == []


def test_bucket_policy_that_is_not_json_is_refused() -> None:
    check(tls_minimum_version, BUCKET_POLICY, bucket_policy("Deny everything")).expect(
        "bucket policy is not a JSON document", on=urn(BUCKET_POLICY, NAME)
    )


def test_bucket_policy_with_a_single_statement_object_is_read() -> None:
    """IAM accepts `Statement` as one object as well as a list: judge it, do not fail to read it."""
    statement = _statements(tls_only_policy("b"))[0]
    findings = check(tls_minimum_version, BUCKET_POLICY, bucket_policy({"Statement": statement}))
    assert findings.messages() == ["bucket policy does not deny TLS versions below 1.2 (s3:TlsVersion)"]


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        (LB_LISTENER, {"protocol": "HTTPS", "sslPolicy": UNKNOWN_STRING_VALUE}),
        (LB_LISTENER, {"protocol": UNKNOWN_STRING_VALUE, "sslPolicy": "ELBSecurityPolicy-2016-08"}),
        (CLOUDFRONT, {"viewerCertificate": UNKNOWN_OBJECT_VALUE}),
        (CLOUDFRONT, {"viewerCertificate": {"minimumProtocolVersion": UNKNOWN_STRING_VALUE}}),
        (BUCKET_POLICY, {"bucket": "b", "policy": UNKNOWN_STRING_VALUE}),
    ],
    ids=["listener-policy", "listener-protocol", "cloudfront-certificate", "cloudfront-minimum", "bucket-policy"],
)
def test_tls_settings_unknown_at_preview_are_reported(resource_type: str, props: dict[str, Any]) -> None:
    check(tls_minimum_version, resource_type, props).expect_unverifiable(on=urn(resource_type, NAME))
