"""Secret-handling rules for Vercel variables and GitHub Actions variables.

CrossGuard hands resource policies plaintext values (secret markers are dropped for analysis), so
these rules judge by name and by shape of the value: a value that *looks* like a credential is
treated as one wherever it appears.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs
from pulumi_policy.proxy import UnknownValueError

from policies.common import (
    DEVELOPMENT_STACKS,
    GITHUB_ENV_VARIABLE,
    VERCEL_ENV_VAR,
    get,
    is_production,
    resource_policy,
    stack_of,
    stack_schema,
)

SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|DSN|DATABASE_URL|REDIS_URL)", re.I)

# Values shaped like credentials (provider key prefixes, private keys, URLs with passwords).
SECRET_VALUE_PATTERNS = (
    re.compile(r"^sk-(ant-|proj-)?[A-Za-z0-9_-]{16,}"),
    re.compile(r"^(ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{20,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"^[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@"),
    re.compile(r"^(AKIA|ASIA)[A-Z0-9]{16}$"),
    # Supabase's newer API keys: sb_publishable_... is public, sb_secret_... bypasses row level security.
    re.compile(r"^sb_secret_[A-Za-z0-9_-]{16,}"),
)

# Public by design: shipped to browsers, protected by row level security.
PUBLIC_VARIABLES = ["NEXT_PUBLIC_SUPABASE_ANON_KEY", "NEXT_PUBLIC_SUPABASE_URL"]


def jwt_claims(value: str) -> dict[str, Any] | None:
    """The payload of a JWT-shaped value, or None."""
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].startswith("eyJ"):
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, json.JSONDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def value_looks_secret(value: Any) -> str | None:
    """Why a value looks like a credential, or None."""
    if not isinstance(value, str):
        return None
    claims = jwt_claims(value)
    if claims is not None:
        role = claims.get("role")
        return None if role == "anon" else f"a JWT with role {role!r}"
    for pattern in SECRET_VALUE_PATTERNS:
        if pattern.search(value):
            return "a credential-shaped value"
    return None


def name_looks_secret(name: str, public: list[str]) -> bool:
    return name not in public and bool(SECRET_NAME.search(name))


def _validate_sensitive(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != VERCEL_ENV_VAR:
        return
    public = (args.get_config() or {}).get("publicVariables", PUBLIC_VARIABLES)
    key = str(args.props["key"])
    # A sensitive variable passes whatever its value, which may be unknown until deployment;
    # `sensitive` is optional in the provider, and absent is not sensitive.
    if get(args.props, "sensitive") is True:
        return
    reason = value_looks_secret(get(args.props, "value"))
    if name_looks_secret(key, public) or reason:
        why = f"its value is {reason}" if reason else "its name marks a secret"
        report(f"variable {key} must be sensitive: {why}", args.urn)


secret_variables_are_sensitive = resource_policy(
    "secret-variables-are-sensitive",
    "Every Vercel variable whose name or value looks secret is `sensitive` (unreadable after it is set).",
    _validate_sensitive,
    schema=stack_schema(publicVariables={"type": "array", "items": {"type": "string"}, "default": PUBLIC_VARIABLES}),
)


def _validate_public(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != VERCEL_ENV_VAR:
        return
    key = str(args.props["key"])
    if not key.startswith("NEXT_PUBLIC_"):
        return
    public = (args.get_config() or {}).get("publicVariables", PUBLIC_VARIABLES)
    if name_looks_secret(key, public):
        report(f"{key} is inlined into the browser bundle but its name marks a secret", args.urn)
    reason = value_looks_secret(get(args.props, "value"))
    if reason:
        report(f"{key} is inlined into the browser bundle but its value is {reason}", args.urn)


no_secret_in_public_variable = resource_policy(
    "no-secret-in-public-variable",
    "No NEXT_PUBLIC_* variable (shipped to every browser) carries a secret, e.g. a Supabase service-role key.",
    _validate_public,
    schema=stack_schema(publicVariables={"type": "array", "items": {"type": "string"}, "default": PUBLIC_VARIABLES}),
)


def _validate_production_targets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != VERCEL_ENV_VAR or not is_production(args, args.urn):
        return
    if get(args.props, "sensitive") is not True:
        return
    targets = list(args.props["targets"] or [])
    leaked = [t for t in targets if t != "production"]
    if leaked:
        report(
            f"production secret {args.props['key']} also reaches {leaked}: unreviewed preview code would read it",
            args.urn,
        )


production_secrets_stay_in_production = resource_policy(
    "production-secrets-stay-in-production",
    "In production, sensitive variables target only the production deployment, never previews.",
    _validate_production_targets,
)


def _validate_plain_inputs(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != GITHUB_ENV_VARIABLE:
        return
    name = str(args.props["variableName"])
    try:
        value = args.props["value"]
    except UnknownValueError:
        # Computed from another resource's output (an id or ARN): the program typed no value here,
        # and a provider-marked secret output would arrive as a secret, not as a plain variable.
        value = None
    reason = value_looks_secret(value)
    if SECRET_NAME.search(name) or reason:
        why = f"its value is {reason}" if reason else "its name marks a secret"
        report(f"GitHub Actions variable {name} is stored and shown in plain text, but {why}: use a secret", args.urn)


secret_values_not_plain = resource_policy(
    "secret-values-not-plain",
    "Secret values never go into plain-text inputs such as GitHub Actions variables.",
    _validate_plain_inputs,
)


def _validate_debug(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != VERCEL_ENV_VAR or args.props["key"] != "NEXT_PUBLIC_FEATURE_DEBUG":
        return
    dev = (args.get_config() or {}).get("developmentStacks", DEVELOPMENT_STACKS)
    if stack_of(args.urn) in dev:
        return
    value = str(get(args.props, "value", default="")).strip().lower()
    if value not in ("false", "0", ""):
        report(f"debug is '{value}' in stack '{stack_of(args.urn)}'; it may be on only in {dev}", args.urn)


debug_off_outside_dev = resource_policy(
    "debug-off-outside-dev",
    "The app's debug feature is off in every stack except development.",
    _validate_debug,
    schema=stack_schema(
        developmentStacks={"type": "array", "items": {"type": "string"}, "default": DEVELOPMENT_STACKS}
    ),
)

POLICIES = [
    secret_variables_are_sensitive,
    no_secret_in_public_variable,
    production_secrets_stay_in_production,
    secret_values_not_plain,
    debug_off_outside_dev,
]
