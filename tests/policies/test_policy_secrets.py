"""Secret rules: secret-looking Vercel variables are sensitive, nothing secret is NEXT_PUBLIC_,
production secrets stay out of previews, GitHub variables carry no secrets, debug is off outside dev;
and the value classifier behind them, table-tested."""

from __future__ import annotations

import random
import string
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from policy_harness import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_STRING_VALUE,
    Findings,
    config_for,
    run_resource_policy,
    secret,
    urn,
)
from pulumi_policy import ResourceValidationPolicy
from resource_shapes import ANON_JWT, DATABASE_URL, SERVICE_ROLE_JWT, jwt, vercel_variable

from policies.common import GITHUB_ENV_VARIABLE, VERCEL_ENV_VAR
from policies.secrets import (
    debug_off_outside_dev,
    jwt_claims,
    no_secret_in_public_variable,
    production_secrets_stay_in_production,
    secret_values_not_plain,
    secret_variables_are_sensitive,
    value_looks_secret,
)

VAR_URN = urn(VERCEL_ENV_VAR, "chefchatz-var")
GH_VAR_URN = urn(GITHUB_ENV_VARIABLE, "chefchatz-var")
OPENAI_KEY = "sk-proj-" + "x" * 48
ANTHROPIC_KEY = "sk-ant-api03-" + "y" * 40
GITHUB_TOKEN = "ghp_" + "z" * 36


def _access_key_id(prefix: str) -> str:
    """A fresh AWS-shaped access key id (never a real or documented one)."""
    return prefix + "".join(random.Random(prefix).choices(string.ascii_uppercase + string.digits, k=16))


def _private_key_pem(encoding: serialization.PrivateFormat) -> str:
    """A private key generated for the test run, in the given PEM format."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, encoding, serialization.NoEncryption()).decode()


AWS_KEY_ID = _access_key_id("AKIA")
AWS_SESSION_KEY_ID = _access_key_id("ASIA")


def check(
    policy: ResourceValidationPolicy,
    props: dict[str, Any],
    *,
    stack: str = "prod",
    resource_type: str = VERCEL_ENV_VAR,
    **config: Any,
) -> Findings:
    return run_resource_policy(
        policy, resource_type, props, stack=stack, name="chefchatz-var", config=config_for(policy, **config)
    )


def variable(key: str, value: Any, sensitive: bool = False, targets: Any = ("production",)) -> dict[str, Any]:
    return vercel_variable(key, value, sensitive=sensitive, targets=targets)


# --- value_looks_secret / jwt_claims (pure) -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (ANON_JWT, None),
        (SERVICE_ROLE_JWT, "a JWT with role 'service_role'"),
        (jwt({"sub": "1234"}), "a JWT with role None"),
        (OPENAI_KEY, "a credential-shaped value"),
        ("sk-" + "a" * 48, "a credential-shaped value"),
        (ANTHROPIC_KEY, "a credential-shaped value"),
        (GITHUB_TOKEN, "a credential-shaped value"),
        ("github_pat_" + "A" * 40, "a credential-shaped value"),
        (DATABASE_URL, "a credential-shaped value"),
        ("postgres://postgres:hunter2@db.abcdefghijklmnop.supabase.co:5432/postgres", "a credential-shaped value"),
        ("rediss://default:pw@chefchatz.upstash.io:6379", "a credential-shaped value"),
        ("redis://:hunter2@cache.internal:6379", "a credential-shaped value"),
        ("sb_secret_" + "N" * 32, "a credential-shaped value"),
        (AWS_KEY_ID, "a credential-shaped value"),
        (AWS_SESSION_KEY_ID, "a credential-shaped value"),
        (_private_key_pem(serialization.PrivateFormat.TraditionalOpenSSL), "a credential-shaped value"),
        (_private_key_pem(serialization.PrivateFormat.PKCS8), "a credential-shaped value"),
        # Plain values: no credential in them.
        ("https://abcdefghijklmnop.supabase.co", None),
        ("sb_publishable_" + "P" * 32, None),
        ("postgres://db.example.com:5432/postgres", None),
        ("https://user@example.com/path", None),
        ("production", None),
        ("false", None),
        ("sk-short", None),
        ("AKIA-not-an-id", None),
        ("eyJhbGciOiJIUzI1NiJ9.not-base64!.sig", None),
        ("", None),
        (None, None),
        (42.0, None),
    ],
)
def test_value_looks_secret_by_shape(value: Any, reason: str | None) -> None:
    assert value_looks_secret(value) == reason, f"value_looks_secret({value!r})"


def test_jwt_claims_reads_the_payload_of_a_supabase_key() -> None:
    assert jwt_claims(ANON_JWT) == {"iss": "supabase", "ref": "abcdefghijklmnop", "role": "anon", "iat": 1700000000}
    assert (jwt_claims(SERVICE_ROLE_JWT) or {}).get("role") == "service_role"


@pytest.mark.parametrize(
    "value",
    [
        "not.a.jwt",
        "eyJ.only-two",
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig",
        "eyJhbGciOiJIUzI1NiJ9.WzEsMl0.sig",
        "a.b.c.d",
    ],
    ids=["no-eyJ-header", "two-parts", "payload-not-json", "payload-a-list", "four-parts"],
)
def test_jwt_claims_is_none_for_anything_but_a_jwt_object(value: str) -> None:
    assert jwt_claims(value) is None, f"jwt_claims({value!r})"


# --- secret-variables-are-sensitive ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "sensitive"),
    [
        ("OPENAI_API_KEY", OPENAI_KEY, True),
        ("DATABASE_URL", DATABASE_URL, True),
        ("NEXT_PUBLIC_SUPABASE_ANON_KEY", ANON_JWT, False),
        ("NEXT_PUBLIC_SUPABASE_URL", "https://abcdefghijklmnop.supabase.co", False),
        ("NEXT_PUBLIC_APP_ENV", "production", False),
    ],
)
def test_secret_looking_variables_are_sensitive_and_public_ones_may_be_plain(
    key: str, value: str, sensitive: bool
) -> None:
    assert check(secret_variables_are_sensitive, variable(key, value, sensitive)) == []


@pytest.mark.parametrize(
    "key",
    [
        "OPENAI_API_KEY",
        "SUPABASE_SERVICE_ROLE_KEY",
        "STRIPE_SECRET",
        "VERCEL_TOKEN",
        "DB_PASSWORD",
        "SENTRY_DSN",
        "DATABASE_URL",
        "REDIS_URL",
        "GOOGLE_CREDENTIALS",
        "private_signing_material",
    ],
)
def test_variable_named_like_a_secret_must_be_sensitive(key: str) -> None:
    findings = check(secret_variables_are_sensitive, variable(key, "placeholder", False))
    findings.expect(f"variable {key} must be sensitive: its name marks a secret", on=VAR_URN)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("SUPPORT_CONTACT", DATABASE_URL, "a credential-shaped value"),
        ("NEXT_PUBLIC_SUPABASE_ANON_KEY", SERVICE_ROLE_JWT, "a JWT with role 'service_role'"),
        ("LLM_PROVIDER", ANTHROPIC_KEY, "a credential-shaped value"),
    ],
)
def test_variable_whose_value_looks_secret_must_be_sensitive(key: str, value: str, reason: str) -> None:
    findings = check(secret_variables_are_sensitive, variable(key, value, False))
    findings.expect(f"variable {key} must be sensitive: its value is {reason}", on=VAR_URN)


def test_secret_values_arrive_unwrapped_from_their_secret_signature() -> None:
    """The engine sends `[secret]` inputs wrapped; CrossGuard hands rules the plaintext."""
    findings = check(secret_variables_are_sensitive, variable("SUPPORT_CONTACT", secret(DATABASE_URL), False))
    findings.expect("its value is a credential-shaped value", on=VAR_URN)


def test_variable_without_a_sensitive_flag_is_not_sensitive() -> None:
    props = variable("OPENAI_API_KEY", OPENAI_KEY)
    del props["sensitive"]
    check(secret_variables_are_sensitive, props).expect("variable OPENAI_API_KEY must be sensitive", on=VAR_URN)
    plain = variable("NEXT_PUBLIC_APP_ENV", "production")
    del plain["sensitive"]
    assert check(secret_variables_are_sensitive, plain) == []


def test_public_variable_list_is_configurable() -> None:
    props = variable("NEXT_PUBLIC_MAPS_KEY", "pk.public-browser-key", False)
    check(secret_variables_are_sensitive, props).expect("its name marks a secret")
    allowed = [*config_for(secret_variables_are_sensitive)["publicVariables"], "NEXT_PUBLIC_MAPS_KEY"]
    assert check(secret_variables_are_sensitive, props, publicVariables=allowed) == []


def test_sensitive_variable_computed_at_deploy_time_passes() -> None:
    """A sensitive variable is fine whatever its value, so an unknown value decides nothing."""
    assert check(secret_variables_are_sensitive, variable("OPENAI_API_KEY", UNKNOWN_STRING_VALUE, True)) == []


@pytest.mark.parametrize(
    ("key", "path", "unknown"),
    [
        ("SUPPORT_CONTACT", "value", UNKNOWN_STRING_VALUE),
        ("OPENAI_API_KEY", "sensitive", UNKNOWN_BOOLEAN_VALUE),
        ("OPENAI_API_KEY", "key", UNKNOWN_STRING_VALUE),
    ],
)
def test_sensitivity_unknown_at_preview_is_reported(key: str, path: str, unknown: str) -> None:
    props = variable(key, "placeholder", False)
    props[path] = unknown
    check(secret_variables_are_sensitive, props).expect_unverifiable(on=VAR_URN, path=path)


def test_sensitivity_rule_ignores_other_resources() -> None:
    props = {"variableName": "OPENAI_API_KEY", "value": OPENAI_KEY}
    assert check(secret_variables_are_sensitive, props, resource_type=GITHUB_ENV_VARIABLE) == []


# --- no-secret-in-public-variable -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("NEXT_PUBLIC_SUPABASE_ANON_KEY", ANON_JWT),
        ("NEXT_PUBLIC_SUPABASE_URL", "https://abcdefghijklmnop.supabase.co"),
        ("NEXT_PUBLIC_FEATURE_DEBUG", "false"),
        ("OPENAI_API_KEY", OPENAI_KEY),
    ],
)
def test_browser_variables_carry_no_secrets(key: str, value: str) -> None:
    assert check(no_secret_in_public_variable, variable(key, value)) == []


def test_supabase_service_role_key_never_ships_to_the_browser() -> None:
    findings = check(no_secret_in_public_variable, variable("NEXT_PUBLIC_SUPABASE_ANON_KEY", SERVICE_ROLE_JWT, True))
    findings.expect(
        "NEXT_PUBLIC_SUPABASE_ANON_KEY is inlined into the browser bundle but its value is "
        "a JWT with role 'service_role'",
        on=VAR_URN,
    )


def test_supabase_secret_api_key_never_ships_to_the_browser() -> None:
    """Supabase's newer API keys: `sb_publishable_...` is public, `sb_secret_...` bypasses RLS."""
    props = variable("NEXT_PUBLIC_SUPABASE_ANON_KEY", "sb_secret_" + "N" * 32)
    check(no_secret_in_public_variable, props).expect("its value is a credential-shaped value", on=VAR_URN)
    assert check(no_secret_in_public_variable, variable("NEXT_PUBLIC_SUPABASE_ANON_KEY", "sb_publishable_abc")) == []


def test_browser_variable_named_like_a_secret_is_refused_even_if_sensitive() -> None:
    findings = check(no_secret_in_public_variable, variable("NEXT_PUBLIC_STRIPE_SECRET_KEY", "placeholder", True))
    findings.expect("NEXT_PUBLIC_STRIPE_SECRET_KEY is inlined into the browser bundle but its name marks a secret")


def test_browser_variable_holding_an_api_key_is_refused() -> None:
    findings = check(no_secret_in_public_variable, variable("NEXT_PUBLIC_AI_LIMITS", ANTHROPIC_KEY))
    findings.expect(
        "NEXT_PUBLIC_AI_LIMITS is inlined into the browser bundle but its value is a credential-shaped value"
    )


def test_public_exceptions_are_configurable() -> None:
    props = variable("NEXT_PUBLIC_SUPABASE_ANON_KEY", ANON_JWT)
    check(no_secret_in_public_variable, props, publicVariables=[]).expect("its name marks a secret", on=VAR_URN)


@pytest.mark.parametrize(("path", "unknown"), [("value", UNKNOWN_STRING_VALUE), ("key", UNKNOWN_STRING_VALUE)])
def test_browser_variable_unknown_at_preview_is_reported(path: str, unknown: str) -> None:
    props = variable("NEXT_PUBLIC_SUPABASE_ANON_KEY", ANON_JWT)
    props[path] = unknown
    check(no_secret_in_public_variable, props).expect_unverifiable(on=VAR_URN, path=path)


# --- production-secrets-stay-in-production --------------------------------------------------------


def test_production_secrets_reach_only_production_deployments() -> None:
    assert check(production_secrets_stay_in_production, variable("OPENAI_API_KEY", OPENAI_KEY, True)) == []
    plain = variable("NEXT_PUBLIC_APP_ENV", "production", False, ["production", "preview"])
    assert check(production_secrets_stay_in_production, plain) == []


@pytest.mark.parametrize(
    ("targets", "leaked"),
    [
        (["production", "preview"], "['preview']"),
        (["production", "preview", "development"], "['preview', 'development']"),
    ],
)
def test_production_secret_reaching_previews_is_refused(targets: list[str], leaked: str) -> None:
    findings = check(production_secrets_stay_in_production, variable("OPENAI_API_KEY", OPENAI_KEY, True, targets))
    findings.expect(f"production secret OPENAI_API_KEY also reaches {leaked}", on=VAR_URN)


def test_other_stacks_may_share_secrets_with_previews() -> None:
    props = variable("OPENAI_API_KEY", OPENAI_KEY, True, ["production", "preview"])
    assert check(production_secrets_stay_in_production, props, stack="staging") == []
    check(production_secrets_stay_in_production, props, stack="staging", productionStacks=["prod", "staging"]).expect(
        "also reaches ['preview']"
    )


def test_production_variable_without_a_sensitive_flag_is_not_a_secret() -> None:
    props = variable("NEXT_PUBLIC_APP_ENV", "production", False, ["production", "preview"])
    del props["sensitive"]
    assert check(production_secrets_stay_in_production, props) == []


@pytest.mark.parametrize(("path", "unknown"), [("targets", UNKNOWN_ARRAY_VALUE), ("sensitive", UNKNOWN_BOOLEAN_VALUE)])
def test_secret_targets_unknown_at_preview_are_reported(path: str, unknown: str) -> None:
    props = variable("OPENAI_API_KEY", OPENAI_KEY, True)
    props[path] = unknown
    check(production_secrets_stay_in_production, props).expect_unverifiable(on=VAR_URN, path=path)


# --- secret-values-not-plain ----------------------------------------------------------------------


def gh_variable(name: str, value: Any) -> dict[str, Any]:
    return {"repository": "chefchatz", "environment": "production", "variableName": name, "value": value}


def gh(props: dict[str, Any]) -> Findings:
    return check(secret_values_not_plain, props, resource_type=GITHUB_ENV_VARIABLE)


@pytest.mark.parametrize(
    ("name", "value"),
    [("APP_URL", "https://chefchatz.com"), ("HEALTH_CHECK_INTERVAL", "30s"), ("STACK", "prod")],
)
def test_github_variables_hold_only_plain_settings(name: str, value: str) -> None:
    assert gh(gh_variable(name, value)) == []


@pytest.mark.parametrize("name", ["VERCEL_TOKEN", "PULUMI_ACCESS_TOKEN", "SUPABASE_DB_PASSWORD", "DATABASE_URL"])
def test_github_variable_named_like_a_secret_must_be_a_secret(name: str) -> None:
    gh(gh_variable(name, "placeholder")).expect(
        f"GitHub Actions variable {name} is stored and shown in plain text, but its name marks a secret", on=GH_VAR_URN
    )


@pytest.mark.parametrize("value", [GITHUB_TOKEN, DATABASE_URL, SERVICE_ROLE_JWT, AWS_KEY_ID])
def test_github_variable_holding_a_credential_must_be_a_secret(value: str) -> None:
    gh(gh_variable("BACKUP_SOURCE", value)).expect("BACKUP_SOURCE is stored and shown in plain text, but its value is")


def test_github_variable_computed_from_another_resource_is_judged_by_its_name() -> None:
    """Documented choice: a value unknown at preview is another resource's id or ARN (e.g.
    VERCEL_PROJECT_ID), not something the program typed; the name still decides."""
    assert gh(gh_variable("VERCEL_PROJECT_ID", UNKNOWN_STRING_VALUE)) == []
    gh(gh_variable("VERCEL_TOKEN", UNKNOWN_STRING_VALUE)).expect("its name marks a secret", on=GH_VAR_URN)


def test_github_variable_name_unknown_at_preview_is_reported() -> None:
    gh(gh_variable(UNKNOWN_STRING_VALUE, "x")).expect_unverifiable(on=GH_VAR_URN)


def test_plain_input_rule_ignores_vercel_variables() -> None:
    assert check(secret_values_not_plain, variable("OPENAI_API_KEY", OPENAI_KEY, True)) == []


# --- debug-off-outside-dev ------------------------------------------------------------------------


def debug(value: Any, stack: str, **config: Any) -> Findings:
    return check(debug_off_outside_dev, variable("NEXT_PUBLIC_FEATURE_DEBUG", value), stack=stack, **config)


@pytest.mark.parametrize("value", ["false", "0", "", " False "])
def test_debug_is_off_in_production(value: str) -> None:
    assert debug(value, "prod") == []


def test_debug_may_be_on_in_dev() -> None:
    assert debug("true", "dev") == []


@pytest.mark.parametrize(
    ("value", "shown", "stack"), [("true", "true", "prod"), ("1", "1", "staging"), (" TRUE", "true", "prod")]
)
def test_debug_on_outside_dev_is_refused(value: str, shown: str, stack: str) -> None:
    debug(value, stack).expect(
        f"debug is '{shown}' in stack '{stack}'; it may be on only in ['dev']",
        on=urn(VERCEL_ENV_VAR, "chefchatz-var", stack),
    )


def test_development_stacks_are_configurable() -> None:
    assert debug("true", "staging", developmentStacks=["dev", "staging"]) == []
    debug("true", "dev", developmentStacks=[]).expect("debug is 'true' in stack 'dev'")


def test_other_variables_are_not_debug_flags() -> None:
    assert check(debug_off_outside_dev, variable("NEXT_PUBLIC_FEATURE_ANALYTICS", "true")) == []


@pytest.mark.parametrize(("path", "unknown"), [("value", UNKNOWN_STRING_VALUE), ("key", UNKNOWN_STRING_VALUE)])
def test_debug_flag_unknown_at_preview_is_reported(path: str, unknown: str) -> None:
    props = variable("NEXT_PUBLIC_FEATURE_DEBUG", "false")
    props[path] = unknown
    check(debug_off_outside_dev, props).expect_unverifiable(on=VAR_URN, path=path)
