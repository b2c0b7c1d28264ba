"""Shared helpers for the rule modules: reading inputs safely during preview, stacks, config."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

VERCEL_ENV_VAR = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
VERCEL_DOMAIN = "vercel:index/projectDomain:ProjectDomain"
VERCEL_CERTIFICATE = "vercel:index/customCertificate:CustomCertificate"
GITHUB_ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
GITHUB_DEPLOY_POLICY = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
GITHUB_RULESET = "github:index/repositoryRuleset:RepositoryRuleset"
GITHUB_ENV_VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
GITHUB_FILE = "github:index/repositoryFile:RepositoryFile"
BUCKET = "aws:s3/bucket:Bucket"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
SNS_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
LB_LISTENER = "aws:lb/listener:Listener"
CLOUDFRONT = "aws:cloudfront/distribution:Distribution"
LAMBDA_FUNCTION = "aws:lambda/function:Function"

# Stacks treated as production and as development unless the policy config says otherwise.
PRODUCTION_STACKS = ["prod"]
DEVELOPMENT_STACKS = ["dev"]


def stack_of(urn: str) -> str:
    """`urn:pulumi:prod::chefchatz::type::name` -> `prod`."""
    parts = urn.split(":", 3)
    return parts[2].split("::", 1)[0] if len(parts) > 3 and urn.startswith("urn:pulumi:") else ""


def stack_schema(**extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Config schema entries every rule understands, plus the rule's own."""
    return {
        "productionStacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": PRODUCTION_STACKS,
            "description": "Stacks held to production rules",
        },
        **extra,
    }


def config_with_defaults(
    args: ResourceValidationArgs | StackValidationArgs, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The policy's config over `defaults`: the engine fills schema defaults, direct callers may not."""
    config = dict(defaults)
    config.update({k: v for k, v in (args.get_config() or {}).items() if v is not None})
    return config


def is_production(args: ResourceValidationArgs | StackValidationArgs, urn: str) -> bool:
    return stack_of(urn) in config_with_defaults(args, {"productionStacks": PRODUCTION_STACKS})["productionStacks"]


def unknown_is_violation(
    validate: Callable[[Any, ReportViolation], None],
) -> Callable[[Any, ReportViolation], None]:
    """A value unknown during preview must not let a mandatory check pass unseen: report it.

    The SDK would otherwise turn the unknown into an *advisory* "can't run policy during preview"
    diagnostic, and the deployment would go ahead without the check ever having run. Likewise an
    input a rule cannot interpret is a finding of that rule, not a crash of the whole pack.
    """

    @functools.wraps(validate)
    def wrapper(args: Any, report: ReportViolation) -> None:
        try:
            validate(args, report)
        except UnknownValueError as exc:
            report(
                f"cannot be verified before deployment: {exc.message}; make the value known at preview time",
                getattr(args, "urn", None),
            )
        except Exception as exc:
            report(
                f"the rule could not evaluate these inputs ({type(exc).__name__}: {exc})", getattr(args, "urn", None)
            )

    return wrapper


def resource_policy(
    name: str,
    description: str,
    validate: Callable[[ResourceValidationArgs, ReportViolation], None],
    enforcement: EnforcementLevel = MANDATORY,
    schema: Mapping[str, dict[str, Any]] | None = None,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=unknown_is_violation(validate),
        enforcement_level=enforcement,
        config_schema=PolicyConfigSchema(properties=dict(schema or stack_schema())),
    )


def stack_policy(
    name: str,
    description: str,
    validate: Callable[[StackValidationArgs, ReportViolation], None],
    enforcement: EnforcementLevel = MANDATORY,
    schema: Mapping[str, dict[str, Any]] | None = None,
) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=name,
        description=description,
        validate=unknown_is_violation(validate),
        enforcement_level=enforcement,
        config_schema=PolicyConfigSchema(properties=dict(schema or stack_schema())),
    )


def of_type(resources: Iterable[PolicyResource], resource_type: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == resource_type]


def get(props: Mapping[str, Any], *path: str | int, default: Any = None) -> Any:
    """props[a][b]... with `default` for absent keys; unknown values still raise through the proxy."""
    current: Any = props
    for key in path:
        if current is None:
            return default
        try:
            current = current[key]
        except (KeyError, IndexError, TypeError):
            return default
    return current


def policy_statements(document: Any) -> list[dict[str, Any]]:
    """The statements of an IAM policy document (JSON text or parsed); IAM accepts a single statement
    object as well as a list of them."""
    parsed = json.loads(document) if isinstance(document, str) else document
    statements = parsed.get("Statement", []) if isinstance(parsed, dict) else []
    return [s for s in ([statements] if isinstance(statements, dict) else statements) if isinstance(s, dict)]


def stack_name(args: StackValidationArgs) -> str:
    for resource in args.resources:
        name = stack_of(resource.urn)
        if name:
            return name
    return ""


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%?\s*")


def seconds(text: str) -> float:
    """ "1000ms" -> 1.0, "30s" -> 30.0, "6h" -> 21600.0; raises ValueError naming the text."""
    match = _DURATION.fullmatch(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like '30s', '6h' or '30d'")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def duration(text: str) -> int:
    """ "6h" -> 21600 (whole seconds); raises ValueError naming the text."""
    return int(seconds(text))


def percent(text: str) -> float:
    """ "0.1%" (or "0.1") -> 0.1; raises ValueError naming the text."""
    match = _PERCENT.fullmatch(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a percentage like '1%'")
    return float(match.group(1))
