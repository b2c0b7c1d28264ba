"""Resource inputs shaped like those `components/*.py` register (camelCase, as `chefchatz plan
--format json` shows them), editable per test, and whole stacks of them.

A `StackPlan` maps resource names to planned resources; tests change one input with `set` (a dotted
path, `DELETE` to remove a key) or drop resources, then turn the plan into `PolicyResource`s.
Components are not imported: pulumi_aws alone takes seconds to import and the suite must stay fast.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from policy_harness import UNKNOWN_STRING_VALUE, options, resource, urn
from pulumi_policy import PolicyResource, PolicyResourceOptions

from policies.common import (
    ALARM,
    BUCKET,
    BUCKET_POLICY,
    ENCRYPTION,
    GITHUB_DEPLOY_POLICY,
    GITHUB_ENV_VARIABLE,
    GITHUB_ENVIRONMENT,
    GITHUB_FILE,
    GITHUB_RULESET,
    HEALTH_CHECK,
    LIFECYCLE,
    OBJECT_LOCK,
    PUBLIC_ACCESS_BLOCK,
    REPLICATION,
    SCHEDULE,
    VERCEL_DOMAIN,
    VERCEL_ENV_VAR,
    VERSIONING,
)
from policies.protection import STATEFUL_TYPES

# Stand-in GitHub team ids (the offline plan's look-up range); numbers, as the provider takes them.
TECH_LEAD_TEAM = 990_000_001
PRODUCT_OWNER_TEAM = 990_000_002

SHA = "3d3c42e5aac5ba805825da76410c181273ba90b1"


class _Delete:
    """Sentinel for `StackPlan.set`: remove the key."""


DELETE = _Delete()


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned-looking JWT with these claims (the rules read the payload, never the signature)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


ANON_JWT = jwt({"iss": "supabase", "ref": "abcdefghijklmnop", "role": "anon", "iat": 1700000000})
SERVICE_ROLE_JWT = jwt({"iss": "supabase", "ref": "abcdefghijklmnop", "role": "service_role", "iat": 1700000000})
DATABASE_URL = "postgresql://postgres.abcdefghijklmnop:s3cretpassw0rd@aws-0-us-east-1.pooler.supabase.com:6543/postgres"


def set_path(props: dict[str, Any], path: str, value: Any) -> None:
    """props["a"]["b"] = value for path "a.b" (list indexes as numbers); DELETE removes the key."""
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in path.split(".")]
    target: Any = props
    for key in keys[:-1]:
        target = target[key]
    if isinstance(value, _Delete):
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


@dataclass
class Planned:
    type: str
    props: dict[str, Any]
    # property -> names of the planned resources it was computed from (e.g. alarm dimensions)
    depends: dict[str, list[str]] = field(default_factory=dict)
    # names of the planned resources it waits for (`depends_on`)
    after: list[str] = field(default_factory=list)
    delete_before_replace: bool | None = None
    protect: bool = False

    def opts(self) -> PolicyResourceOptions:
        return options(delete_before_replace=self.delete_before_replace, protect=self.protect)


class StackPlan(dict[str, Planned]):
    def __init__(self, stack: str) -> None:
        super().__init__()
        self.stack = stack

    def add(
        self,
        name: str,
        resource_type: str,
        props: dict[str, Any],
        *,
        after: Iterable[str] = (),
        delete_before_replace: bool | None = None,
        **depends: list[str],
    ) -> StackPlan:
        # As `naming.stateful` registers them: production's stateful resources are protected.
        protect = self.stack == "prod" and resource_type in STATEFUL_TYPES
        self[name] = Planned(resource_type, props, dict(depends), list(after), delete_before_replace, protect)
        return self

    def set(self, name: str, path: str, value: Any) -> StackPlan:
        assert name in self, f"no planned resource {name}; have {sorted(self)}"
        set_path(self[name].props, path, value)
        return self

    def drop(self, *names: str) -> StackPlan:
        for name in names:
            assert name in self, f"no planned resource {name}; have {sorted(self)}"
            del self[name]
        return self

    def of_type(self, resource_type: str) -> list[str]:
        return [name for name, planned in self.items() if planned.type == resource_type]

    def merged(self, *others: StackPlan) -> StackPlan:
        plan = StackPlan(self.stack)
        for source in (self, *others):
            for name, planned in source.items():
                plan[name] = copy.deepcopy(planned)
        return plan

    def resources(self) -> list[PolicyResource]:
        built: dict[str, PolicyResource] = {}
        for name, planned in self.items():
            deps = {key: [built[d] for d in names if d in built] for key, names in planned.depends.items()}
            built[name] = resource(
                planned.type,
                name,
                planned.props,
                stack=self.stack,
                property_dependencies=deps,
                after=[built[d] for d in planned.after if d in built],
                opts=planned.opts(),
            )
        return list(built.values())

    def urn_of(self, name: str) -> str:
        return urn(self[name].type, name, self.stack)


# --- web app (Vercel) ----------------------------------------------------------------------------


def vercel_variable(key: str, value: Any, *, sensitive: bool, targets: Iterable[str]) -> dict[str, Any]:
    return {
        "key": key,
        "value": value,
        "sensitive": sensitive,
        "targets": list(targets),
        "teamId": "chefchatz",
        "projectId": "prj_chefchatz",
    }


def web_plan(stack: str = "prod", domain: str = "chefchatz.com") -> StackPlan:
    production = stack == "prod"
    public_targets = ["production", "preview"] if production else ["production", "preview", "development"]
    secret_targets = ["production"] if production else ["production", "preview"]
    plan = StackPlan(stack)
    variables = [
        ("NEXT_PUBLIC_SUPABASE_URL", "https://abcdefghijklmnop.supabase.co", False),
        ("NEXT_PUBLIC_SUPABASE_ANON_KEY", ANON_JWT, False),
        ("NEXT_PUBLIC_APP_ENV", "production" if production else stack, False),
        ("NEXT_PUBLIC_FEATURE_DEBUG", "false" if production else "true", False),
        ("DATABASE_URL", DATABASE_URL, True),
        ("REDIS_URL", "rediss://default:r3dispassw0rd@chefchatz.upstash.io:6379", True),
        ("ANTHROPIC_API_KEY", "sk-ant-api03-" + "a" * 40, True),
        ("OPENAI_API_KEY", "sk-proj-" + "b" * 40, True),
    ]
    for key, value, sensitive in variables:
        targets = secret_targets if sensitive else public_targets
        plan.add(
            f"chefchatz-{stack}-web-env-{key.lower().replace('_', '-')}",
            VERCEL_ENV_VAR,
            vercel_variable(key, value, sensitive=sensitive, targets=targets),
            delete_before_replace=True,
        )
    domains = [domain, f"www.{domain}"] if production else [domain]
    for name in domains:
        plan.add(
            f"chefchatz-{stack}-web-domain-{name.replace('.', '-')}",
            VERCEL_DOMAIN,
            {"teamId": "chefchatz", "projectId": "prj_chefchatz", "domain": name},
        )
    return plan


# --- GitHub (components/repository.py) -----------------------------------------------------------


def github_environment(environment: str, *teams: int) -> dict[str, Any]:
    return {
        "repository": "chefchatz",
        "environment": environment,
        "reviewers": [{"teams": list(teams)}] if teams else None,
        "preventSelfReview": bool(teams),
        "canAdminsBypass": False,
        "deploymentBranchPolicy": {"protectedBranches": False, "customBranchPolicies": True},
    }


def deployment_policy(environment: str, *, branch: str | None = None, tag: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"repository": "chefchatz", "environment": environment}
    if branch is not None:
        props["branchPattern"] = branch
    if tag is not None:
        props["tagPattern"] = tag
    return props


def main_ruleset() -> dict[str, Any]:
    return {
        "name": "default-branch",
        "repository": "chefchatz",
        "target": "branch",
        "enforcement": "active",
        "conditions": {"refName": {"includes": ["~DEFAULT_BRANCH"], "excludes": []}},
        "bypassActors": [],
        "rules": {
            "deletion": True,
            "nonFastForward": True,
            "pullRequest": {
                "requiredApprovingReviewCount": 2,
                "requireCodeOwnerReview": True,
                "dismissStaleReviewsOnPush": True,
                "requireLastPushApproval": True,
                "requiredReviewThreadResolution": True,
                "requiredReviewers": [
                    {"minimumApprovals": 1, "filePatterns": ["*"], "reviewer": {"id": team, "type": "Team"}}
                    for team in (TECH_LEAD_TEAM, PRODUCT_OWNER_TEAM)
                ],
            },
            "requiredStatusChecks": {
                "strictRequiredStatusChecksPolicy": True,
                "requiredChecks": [{"context": c} for c in ("test", "build", "policy-gate")],
            },
        },
    }


def tag_ruleset() -> dict[str, Any]:
    return {
        "name": "release-tags",
        "repository": "chefchatz",
        "target": "tag",
        "enforcement": "active",
        "conditions": {"refName": {"includes": ["refs/tags/v*"], "excludes": []}},
        "bypassActors": [],
        "rules": {"deletion": True, "nonFastForward": True, "update": True},
    }


# The spec's values as components/environment.py carries them to the pipeline (policies/floors.py).
SPEC_PIPELINE_VARIABLES = {
    "RELEASE_APPROVERS": "tech-lead,product-owner",
    "ROLLBACK_ERROR_RATE": "1%",
    "ROLLBACK_RESPONSE_TIME": "1000ms",
    "ROLLBACK_FAILED_TRANSACTIONS": "0.1%",
    "ROLLBACK_NOTIFICATIONS": "email:oncall@chefchatz.com,slack:#chefchatz-releases",
    "HEALTH_CHECK_PATH": "/api/health",
    "HEALTH_CHECK_INTERVAL": "30s",
    "HEALTH_CHECK_TIMEOUT": "5s",
    "ROLLBACK_CONSECUTIVE": "2",
    "TLS_PROVIDER": "letsencrypt",
    "TLS_AUTO_RENEW": "true",
    "TLS_MINIMUM_VERSION": "TLS1.2",
    "TLS_CIPHERS": "ECDHE-ECDSA-AES128-GCM-SHA256,ECDHE-RSA-AES128-GCM-SHA256",
}


def github_plan(stack: str = "prod") -> StackPlan:
    """prod: two chained gates (tech-lead, then product-owner on `production`), refs main and v*,
    and the repository-wide rules; other stacks: one ungated environment named after the stack."""
    plan = StackPlan(stack)
    prefix = f"chefchatz-{stack}-github"
    if stack == "prod":
        gates = [("production-tech-lead", TECH_LEAD_TEAM), ("production", PRODUCT_OWNER_TEAM)]
    else:
        gates = [(stack, 0)]
    for environment, team in gates:
        props = github_environment(environment, *([team] if team else []))
        plan.add(f"{prefix}-env-{environment}", GITHUB_ENVIRONMENT, props)
        plan.add(
            f"{prefix}-env-{environment}-branch-main",
            GITHUB_DEPLOY_POLICY,
            deployment_policy(environment, branch="main"),
        )
        if stack == "prod":
            plan.add(
                f"{prefix}-env-{environment}-tag-v", GITHUB_DEPLOY_POLICY, deployment_policy(environment, tag="v*")
            )
    deploy_environment = gates[-1][0]
    carried = (("APP_URL", "https://chefchatz.com"), ("STACK", stack), ("VERCEL_ORG_ID", "chefchatz"))
    for key, value in (*carried, *SPEC_PIPELINE_VARIABLES.items()):
        plan.add(
            f"{prefix}-var-{key.lower().replace('_', '-')}",
            GITHUB_ENV_VARIABLE,
            {"repository": "chefchatz", "environment": deploy_environment, "variableName": key, "value": value},
        )
    if stack == "prod":
        plan.add(f"{prefix}-main-rules", GITHUB_RULESET, main_ruleset())
        plan.add(f"{prefix}-release-tag-rules", GITHUB_RULESET, tag_ruleset())
        plan.add(
            f"{prefix}-file-github-workflows-ci-yml",
            GITHUB_FILE,
            {"repository": "chefchatz", "file": ".github/workflows/ci.yml", "content": SAFE_WORKFLOW, "branch": "x"},
        )
    return plan


SAFE_WORKFLOW = f"""\
name: ci
on: pull_request
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@{SHA} # v4
        with:
          persist-credentials: false
      - run: make test
"""


# --- backups (components/backups.py) -------------------------------------------------------------


def tls_only_policy(bucket_name: str) -> str:
    resources = [f"arn:aws:s3:::{bucket_name}", f"arn:aws:s3:::{bucket_name}/*"]
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": resources}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "DenyInsecureTransport", **deny, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {"Sid": "DenyTlsBelow12", **deny, "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
            ],
        }
    )


BACKUP_SPEC = {"database": ("cron(0 */6 * * ? *)", 30, 7), "assets": ("cron(0 3 * * ? *)", 90, 25)}


SPEC_RECOVERY_TAGS = {
    "dr-rpo": "1h",
    "dr-rto": "15m",
    "dr-database-failover": "automatic",
    "dr-region-failover": "manual",
    "dr-data-reconciliation": "automated",
}
BACKUP_IMAGE = "ghcr.io/chefchatz/chefchatz-infra:0.1.0@sha256:" + "0" * 64


def replication_policy(source: str, replica: str) -> dict[str, Any]:
    """The replication role's S3 rights, as components/backups.py writes them."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                "Resource": f"arn:aws:s3:::{source}",
            },
            {
                "Effect": "Allow",
                "Action": [
                    "s3:GetObjectVersionForReplication",
                    "s3:GetObjectVersionAcl",
                    "s3:GetObjectVersionTagging",
                    "s3:GetObjectRetention",
                    "s3:GetObjectLegalHold",
                ],
                "Resource": f"arn:aws:s3:::{source}/*",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ReplicateObject", "s3:ReplicateTags"],
                "Resource": f"arn:aws:s3:::{replica}/*",
            },
        ],
    }


def backups_plan(stack: str = "prod", *, pitr: bool = True) -> StackPlan:
    """Both backup buckets, hardened; Object Lock and replication in prod; schedules and freshness alarms."""
    production = stack == "prod"
    plan = StackPlan(stack)
    prefix = f"chefchatz-{stack}-backups"
    for kind, (expression, retention_days, alarm_hours) in BACKUP_SPEC.items():
        bucket_name = f"chefchatz-{stack}-{kind}-backups"
        tags = {
            "stack": stack,
            "backup-kind": kind,
            "backup-retention": f"{retention_days}d",
            "backup-type": "incremental" if kind == "database" else "full",
        }
        if kind == "database":
            tags["pitr"] = "enabled" if pitr else "disabled"
            tags.update(SPEC_RECOVERY_TAGS)
        plan.add(
            f"{prefix}-{kind}-bucket",
            BUCKET,
            {
                "bucket": bucket_name,
                "region": "us-east-1",
                "objectLockEnabled": production,
                "forceDestroy": False,
                "tags": tags,
            },
        )
        plan.add(
            f"{prefix}-{kind}-versioning",
            VERSIONING,
            {"bucket": bucket_name, "versioningConfiguration": {"status": "Enabled"}},
        )
        plan.add(
            f"{prefix}-{kind}-encryption",
            ENCRYPTION,
            {
                "bucket": bucket_name,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:k"},
                        "bucketKeyEnabled": True,
                    }
                ],
            },
        )
        plan.add(
            f"{prefix}-{kind}-public-access-block",
            PUBLIC_ACCESS_BLOCK,
            {
                "bucket": bucket_name,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        )
        plan.add(
            f"{prefix}-{kind}-tls-only", BUCKET_POLICY, {"bucket": bucket_name, "policy": tls_only_policy(bucket_name)}
        )
        plan.add(
            f"{prefix}-{kind}-lifecycle",
            LIFECYCLE,
            {
                "bucket": bucket_name,
                "rules": [
                    {
                        "id": "retention",
                        "status": "Enabled",
                        "filter": {"prefix": ""},
                        "expiration": {"days": retention_days},
                        "noncurrentVersionExpiration": {"noncurrentDays": retention_days},
                    }
                ],
            },
        )
        if production:
            replica_name = f"{bucket_name}-replica"
            plan.add(
                f"{prefix}-{kind}-replica-bucket",
                BUCKET,
                {
                    "bucket": replica_name,
                    "region": "us-west-2",
                    "objectLockEnabled": True,
                    "tags": {"backup-replica-of": kind},
                },
            )
            plan.add(
                f"{prefix}-{kind}-replica-versioning",
                VERSIONING,
                {"bucket": replica_name, "region": "us-west-2", "versioningConfiguration": {"status": "Enabled"}},
            )
            plan.add(
                f"{prefix}-{kind}-object-lock",
                OBJECT_LOCK,
                {
                    "bucket": bucket_name,
                    "objectLockEnabled": "Enabled",
                    "rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": retention_days}},
                },
            )
            plan.add(f"{prefix}-replication-role", "aws:iam/role:Role", {"assumeRolePolicy": "{}"})
            plan.add(
                f"{prefix}-{kind}-replication-policy",
                "aws:iam/rolePolicy:RolePolicy",
                {"role": UNKNOWN_STRING_VALUE, "policy": json.dumps(replication_policy(bucket_name, replica_name))},
                role=[f"{prefix}-replication-role"],
            )
            plan.add(
                f"{prefix}-{kind}-replication-keys",
                "aws:iam/rolePolicy:RolePolicy",
                {"role": UNKNOWN_STRING_VALUE, "policy": UNKNOWN_STRING_VALUE},
                role=[f"{prefix}-replication-role"],
            )
            plan.add(
                f"{prefix}-{kind}-replication",
                REPLICATION,
                {
                    "bucket": bucket_name,
                    "role": UNKNOWN_STRING_VALUE,
                    "rules": [
                        {
                            "id": "region-failover",
                            "status": "Enabled",
                            "destination": {"bucket": f"arn:aws:s3:::{replica_name}"},
                        }
                    ],
                },
                after=[f"{prefix}-{kind}-versioning", f"{prefix}-{kind}-replica-versioning"],
                role=[f"{prefix}-replication-role"],
            )
        plan.add(
            f"{prefix}-{kind}-schedule",
            SCHEDULE,
            {
                "name": f"chefchatz-{stack}-backup-{kind}",
                "scheduleExpression": expression,
                "scheduleExpressionTimezone": "UTC",
                "state": "ENABLED",
                "flexibleTimeWindow": {"mode": "OFF"},
            },
        )
        plan.add(
            f"{prefix}-{kind}-freshness",
            ALARM,
            {
                "name": f"chefchatz-{stack}-{kind}-backup-stale",
                "namespace": "ChefChatz/Backups",
                "metricName": "BackupSucceeded",
                "dimensions": {"Stack": stack, "Kind": kind},
                "statistic": "Sum",
                "period": 3600,
                "evaluationPeriods": alarm_hours,
                "threshold": 1,
                "comparisonOperator": "LessThanThreshold",
                "treatMissingData": "breaching",
                "alarmActions": [f"arn:aws:sns:us-east-1:123456789012:chefchatz-{stack}-alerts"],
            },
        )
    plan.add(
        f"{prefix}-task",
        "aws:ecs/taskDefinition:TaskDefinition",
        {"family": f"chefchatz-{stack}-backup", "tags": {"stack": stack, "backup-image": BACKUP_IMAGE}},
    )

    def capacity_metric(query_id: str, name: str, stat: str) -> dict[str, Any]:
        metric = {"namespace": "ChefChatz/Backups", "metricName": name, "dimensions": {"Stack": stack}}
        return {"id": query_id, "metric": {**metric, "period": 604800, "stat": stat}}

    plan.add(
        f"{prefix}-restore-capacity",
        ALARM,
        {
            "name": f"chefchatz-{stack}-restore-capacity",
            "metricQueries": [
                capacity_metric("m_size", "DatabaseSizeBytes", "Maximum"),
                capacity_metric("m_capacity", "RestoreDrillMaxDatabaseBytes", "Minimum"),
                {"id": "used", "expression": "100 * m_size / m_capacity", "returnData": True},
            ],
            "evaluationPeriods": 1,
            "threshold": 80,
            "comparisonOperator": "GreaterThanThreshold",
            "treatMissingData": "missing",
            "alarmActions": [f"arn:aws:sns:us-east-1:123456789012:chefchatz-{stack}-alerts"],
        },
    )
    return plan


def database_backups_plan(stack: str = "prod", *, pitr: bool = True) -> StackPlan:
    """A stack with a database (its DATABASE_URL variable, which is how the rules see one) and its backups."""
    plan = backups_plan(stack, pitr=pitr)
    name = f"chefchatz-{stack}-web-env-database-url"
    plan[name] = web_plan(stack)[name]
    return plan


# --- monitoring (components/monitoring.py) -------------------------------------------------------


def monitoring_plan(stack: str = "prod", domains: Iterable[str] = ("chefchatz.com", "www.chefchatz.com")) -> StackPlan:
    """Per domain: an HTTPS health check and its health and p95/p99 latency alarms, tied to the check
    through the `dimensions` property dependency (the check's id is unknown before it exists)."""
    plan = StackPlan(stack)
    prefix = f"chefchatz-{stack}-monitoring"
    plan.add(
        f"{prefix}-alerts-oncall",
        "aws:sns/topicSubscription:TopicSubscription",
        {"protocol": "email", "endpoint": "oncall@chefchatz.com", "topic": "arn:t"},
    )
    for domain in domains:
        slug = domain.replace(".", "-")
        check = f"{prefix}-health-{slug}"
        plan.add(
            check,
            HEALTH_CHECK,
            {
                "type": "HTTPS",
                "fqdn": domain,
                "port": 443,
                "resourcePath": "/api/health",
                "requestInterval": 30,
                "failureThreshold": 2,
                "measureLatency": True,
                "enableSni": True,
                "regions": ["us-east-1", "us-west-1", "eu-west-1"],
            },
        )
        common = {
            "namespace": "AWS/Route53",
            # The health check's id: unknown until the check exists, as in a first preview.
            "dimensions": {"HealthCheckId": UNKNOWN_STRING_VALUE},
            "alarmActions": [UNKNOWN_STRING_VALUE],
            "okActions": [UNKNOWN_STRING_VALUE],
        }
        plan.add(
            f"{prefix}-unhealthy-{slug}",
            ALARM,
            {
                **copy.deepcopy(common),
                "metricName": "HealthCheckStatus",
                "statistic": "Minimum",
                "period": 60,
                "evaluationPeriods": 1,
                "threshold": 1,
                "comparisonOperator": "LessThanThreshold",
                "treatMissingData": "breaching",
            },
            dimensions=[check],
        )
        for percentile, threshold in (("p95", 200), ("p99", 500)):
            plan.add(
                f"{prefix}-latency-{percentile}-{slug}",
                ALARM,
                {
                    **copy.deepcopy(common),
                    "metricName": "TimeToFirstByte",
                    "statistic": {"p95": "Average", "p99": "Maximum"}[percentile],
                    "period": 300,
                    "evaluationPeriods": 3,
                    "threshold": threshold,
                    "comparisonOperator": "GreaterThanThreshold",
                    "tags": {
                        "slo-objective": percentile,
                        "slo-apdex": "0.99",
                        "slo-apdex-threshold": "200ms",
                        "slo-error-budget-percent": "0.1",
                        "slo-error-budget-window": "30d",
                    },
                },
                dimensions=[check],
            )
    return plan


# --- SLOs on real traffic ------------------------------------------------------------------------

SLO_ALERTS = (
    ("burn-1h-5m", 3600, 300, 0.0144),
    ("burn-6h-30m", 21600, 1800, 0.006),
    ("burn-3d-6h", 259200, 21600, 0.001),
)


def _error_rate_queries(period: int) -> list[dict[str, Any]]:
    def metric(query_id: str, name: str) -> dict[str, Any]:
        return {
            "id": query_id,
            "returnData": False,
            "metric": {
                "namespace": "ChefChatz/SLO",
                "metricName": name,
                "dimensions": {"Stack": "prod"},
                "period": period,
                "stat": "Sum",
            },
        }

    return [
        metric("n", "ServerErrors"),
        metric("d", "Requests"),
        {"id": "ratio", "expression": "IF(d >= 100, n / d, 0)", "returnData": True},
    ]


def slo_plan(stack: str = "prod") -> StackPlan:
    """The drain (its endpoint and project unknown before the receiver and project exist), the
    long/short error-rate alarms and their notifying composites, and the dashboard."""
    plan = StackPlan(stack)
    prefix = f"chefchatz-{stack}-slo"
    plan.add(
        f"{prefix}-drain",
        "vercel:index/logDrain:LogDrain",
        {
            "name": prefix,
            "teamId": "chefchatz",
            "deliveryFormat": "ndjson",
            "endpoint": UNKNOWN_STRING_VALUE,
            "environments": ["production"],
            "sources": ["lambda", "edge", "static", "external", "redirect"],
            "projectIds": [UNKNOWN_STRING_VALUE],
            "secret": "[offline placeholder for secret chefchatz:sloDrainSecret]",
        },
    )
    for alert, long_s, short_s, threshold in SLO_ALERTS:
        for window, period in (("long", long_s), ("short", short_s)):
            plan.add(
                f"{prefix}-{alert}-{window}",
                ALARM,
                {
                    "name": f"{prefix}-{alert}-{window}",
                    "metricQueries": _error_rate_queries(period),
                    "evaluationPeriods": 1,
                    "threshold": threshold,
                    "comparisonOperator": "GreaterThanThreshold",
                    "treatMissingData": "notBreaching",
                },
            )
        plan.add(
            f"{prefix}-{alert}",
            "aws:cloudwatch/compositeAlarm:CompositeAlarm",
            {
                "alarmName": f"{prefix}-{alert}",
                "alarmRule": f'ALARM("{prefix}-{alert}-long") AND ALARM("{prefix}-{alert}-short")',
                "alarmActions": [UNKNOWN_STRING_VALUE],
                "okActions": [UNKNOWN_STRING_VALUE],
            },
        )
    body = {
        "widgets": [
            {"type": "metric", "properties": {"metrics": [["ChefChatz/SLO", name, "Stack", stack]]}}
            for name in ("Requests", "ServerErrors", "Latency", "ApdexSatisfied", "ApdexTolerating")
        ]
    }
    plan.add(
        f"{prefix}-dashboard",
        "aws:cloudwatch/dashboard:Dashboard",
        {"dashboardName": prefix, "dashboardBody": json.dumps(body)},
    )
    return plan


def rollout_plan(stack: str = "prod") -> StackPlan:
    """The web app's rolling release (rolloutStages [5, 25, 50, 100]); the project id is unknown at preview."""
    return StackPlan(stack).add(
        f"chefchatz-{stack}-app-web-rolling-release",
        "vercel:index/projectRollingRelease:ProjectRollingRelease",
        {
            "projectId": UNKNOWN_STRING_VALUE,
            "teamId": "chefchatz",
            "advancementType": "manual-approval",
            "stages": [{"targetPercentage": p} for p in (5, 25, 50, 100)],
        },
    )


def prod_plan() -> StackPlan:
    """The whole production stack as the rules see it."""
    return web_plan("prod").merged(
        github_plan("prod"), backups_plan("prod"), monitoring_plan("prod"), slo_plan("prod"), rollout_plan("prod")
    )
