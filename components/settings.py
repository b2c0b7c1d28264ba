"""Typed stack settings: the one place where stack configuration becomes validated values.

`load_settings` takes the raw configuration of one stack (the strings Pulumi hands a program, with
the project defaults of `Pulumi.yaml` already applied) and returns a frozen `Settings` object or
raises one `SettingsError` that names *every* bad key, the stack and the allowed values, before any
resource is registered. Secrets are not part of `Settings`; they are read by `read_secrets` as
`pulumi.Output` secrets, and a missing secret is reported with the exact command that fixes it.

Validation here is about *form* (types, units, allowed values). Whether a value is *safe* (for
example 7-day backup retention in production) is the policy pack's job, so that weakening a
guarantee fails the policy gate by name instead of being silently rejected as "invalid".
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NAMESPACE = "chefchatz"

EnvironmentKind = Literal["development", "staging", "production"]

SECRET_KEYS: dict[str, str] = {
    # config key -> what it becomes
    "supabaseAnonKey": "NEXT_PUBLIC_SUPABASE_ANON_KEY",
    "openaiApiKey": "OPENAI_API_KEY",
    "anthropicApiKey": "ANTHROPIC_API_KEY",
    "databaseUrl": "DATABASE_URL",
    "redisUrl": "REDIS_URL",
    "vercelDeployToken": "VERCEL_TOKEN (GitHub environment secret)",
    "notifyWebhookUrl": "NOTIFY_WEBHOOK_URL (GitHub environment secret, Slack-compatible webhook)",
    "supabaseStorageAccessKeyId": "Supabase Storage S3 access key id (asset backups)",
    "supabaseStorageSecretAccessKey": "Supabase Storage S3 secret access key (asset backups)",
    "sloDrainSecret": "signing secret of the Vercel log drain feeding the SLO receiver (when sloDrainEnabled)",
}


class SettingsError(Exception):
    """Invalid or missing configuration; the message names every problem at once."""

    def __init__(self, stack: str, problems: list[str], hint: str = "") -> None:
        self.stack = stack
        self.problems = problems
        lines = [f"stack '{stack}': {len(problems)} configuration problem(s):"]
        lines += [f"  - {p}" for p in problems]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


# --- units ---------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^\s*(?:>\s*)?(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PERCENT_RE = re.compile(r"^\s*(?:>\s*)?(\d+(?:\.\d+)?)\s*%\s*$")


def parse_duration(text: str) -> float:
    """Seconds in a duration written like the spec: "30s", "6h", "30d", "1000ms", "> 15m"."""
    match = _DURATION_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration (use a number and ms, s, m, h or d, e.g. '30s')")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_percent(text: str) -> float:
    """A percentage written like the spec ("1%", "> 0.1%") as a number of percent."""
    match = _PERCENT_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a percentage (e.g. '1%' or '0.1%')")
    value = float(match.group(1))
    if value > 100:
        raise ValueError(f"{text!r} is above 100%")
    return value


def format_duration(seconds: float) -> str:
    """The shortest spec-style spelling of a duration, for messages and plan output."""
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


# --- the model -----------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Features(_Model):
    debug: bool
    analytics: bool
    ai_limits: Literal["relaxed", "production"]


class EnvironmentSettings(_Model):
    kind: EnvironmentKind
    domain: str
    database_name: str = Field(pattern=r"^[a-z][a-z0-9-]{2,62}$")
    features: Features

    @field_validator("domain")
    @classmethod
    def _hostname(cls, value: str) -> str:
        if not re.fullmatch(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", value):
            raise ValueError(f"{value!r} is not a lower-case DNS hostname such as 'dev.chefchatz.com'")
        return value

    @model_validator(mode="after")
    def _production_serves_an_apex(self) -> EnvironmentSettings:
        # Production serves the apex and redirects www to it (components/web_app.py, domain_plan).
        if self.kind == "production" and self.domain.count(".") != 1:
            raise ValueError(
                f"chefchatz:domain: production serves an apex domain such as 'chefchatz.com', not {self.domain!r}"
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.kind == "production"

    @property
    def github_environment(self) -> str:
        """The GitHub environment the app's pipeline deploys this stack through."""
        return {"development": "dev", "staging": "staging", "production": "production"}[self.kind]


class PlatformSettings(_Model):
    # The team's id, not its slug: the Vercel CLI (`vercel pull`, VERCEL_ORG_ID) takes an org id that
    # starts with `team_` as a team and anything else as a user id, so a slug makes every deploy fail
    # "Project not found" (vercel/vercel, packages/cli/src/util/projects/link.ts).
    vercel_team_id: str
    node_version: str = Field(pattern=r"^\d{2}\.x$")
    supabase_url: str
    # Supabase project refs are 20 lower-case letters and digits.
    supabase_project_ref: str = Field(pattern=r"^[a-z0-9]{20}$")
    # The project's region (Supabase dashboard > Storage > S3 configuration): Storage's S3 endpoint checks
    # signatures made for it, not for the AWS region the backup task runs in (Supabase docs, "S3
    # Authentication": "copy the endpoint and region from the S3 configuration page").
    supabase_region: str = Field(pattern=r"^[a-z]{2}-[a-z]+-\d$")
    app_repository: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    owns_repository_rules: bool
    required_status_checks: tuple[str, ...] = Field(min_length=1)
    github_owner: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
    create_oidc_provider: bool
    ops_tool_repository: str = Field(pattern=r"^https://[^\s@]+$")
    ops_tool_commit: str = Field(pattern=r"^([0-9a-f]{40})?$")

    @field_validator("vercel_team_id")
    @classmethod
    def _team_id(cls, value: str) -> str:
        if not re.fullmatch(r"team_[A-Za-z0-9]{8,64}", value):
            raise ValueError(
                f"{value!r} is not a Vercel team id: it starts with 'team_' (Vercel dashboard: Team Settings "
                "> General > Team ID); a team slug is not accepted by the Vercel CLI as VERCEL_ORG_ID"
            )
        return value

    @field_validator("supabase_url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        if not re.fullmatch(r"https://[a-z0-9.-]+(:\d+)?/?", value):
            raise ValueError(f"{value!r} is not an https:// origin such as 'https://<ref>.supabase.co'")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _url_matches_ref(self) -> PlatformSettings:
        host = self.supabase_url.removeprefix("https://").split(":")[0]
        if host.endswith(".supabase.co") and host.removesuffix(".supabase.co") != self.supabase_project_ref:
            raise ValueError(
                f"chefchatz:supabaseUrl ({self.supabase_url}) is not the URL of chefchatz:supabaseProjectRef "
                f"({self.supabase_project_ref})"
            )
        return self


class ReleaseSettings(_Model):
    versioning: Literal["semantic"]
    # The release workflow always writes a changelog (release-please); false would change nothing
    # but the stack file's word, so it is refused rather than silently ignored.
    changelog: Literal[True]
    approvals: tuple[str, ...] = Field(min_length=1)
    schedule: Literal["weekly", "bi-weekly", "monthly"]
    app_client_id: str = Field(pattern=r"^([A-Za-z0-9.]{8,64})?$")

    @field_validator("approvals")
    @classmethod
    def _team_slugs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for slug in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,98}", slug):
                raise ValueError(f"{slug!r} is not a GitHub team slug (lower-case letters, digits, '-')")
        if len(set(value)) != len(value):
            raise ValueError(f"{list(value)} names a team twice")
        return value


class RollbackSettings(_Model):
    error_rate_percent: float
    response_time_ms: float
    failed_transactions_percent: float
    automatic: bool
    notifications: tuple[str, ...]
    data_integrity: Literal["preserved"]

    @field_validator("notifications")
    @classmethod
    def _targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for target in value:
            if not re.fullmatch(r"email:[^@\s]+@[^@\s]+\.[a-z]{2,}|slack:#[a-z0-9_-]+", target):
                raise ValueError(f"{target!r} is not 'email:ADDRESS' or 'slack:#channel'")
        return value

    @property
    def emails(self) -> tuple[str, ...]:
        return tuple(t.removeprefix("email:") for t in self.notifications if t.startswith("email:"))


# Route 53, which runs the health checks, probes every 10 s or 30 s and nothing else.
# https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html (RequestInterval)
ROUTE53_INTERVALS = (10, 30)


class HealthSettings(_Model):
    path: str = Field(pattern=r"^/[A-Za-z0-9/_.-]*$")
    interval_s: float = Field(gt=0)
    timeout_s: float = Field(gt=0)
    unhealthy_threshold: int = Field(ge=1, le=10)

    @field_validator("interval_s")
    @classmethod
    def _route53_interval(cls, value: float) -> float:
        if value not in ROUTE53_INTERVALS:
            raise ValueError(
                f"Route 53 health checks probe every 10s or 30s only, not {format_duration(value)} (allowed: 10s, 30s)"
            )
        return value

    @model_validator(mode="after")
    def _timeout_inside_interval(self) -> HealthSettings:
        if self.timeout_s >= self.interval_s:
            raise ValueError(
                f"healthCheckTimeout ({format_duration(self.timeout_s)}) must be shorter than "
                f"healthCheckInterval ({format_duration(self.interval_s)})"
            )
        return self


class PerformanceSettings(_Model):
    apdex: float = Field(gt=0, le=1)
    p95_ms: float = Field(gt=0)
    p99_ms: float = Field(gt=0)
    error_budget_percent: float = Field(gt=0, le=100)
    error_budget_window_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _p95_not_above_p99(self) -> PerformanceSettings:
        if self.p95_ms > self.p99_ms:
            raise ValueError(f"sloP95 ({self.p95_ms:g}ms) cannot be above sloP99 ({self.p99_ms:g}ms)")
        return self


class SloSettings(_Model):
    """Real-traffic SLO measurement: the Vercel log drain, its receiver, alarms and dashboard."""

    drain_enabled: bool
    # Reserved concurrency of the drain's receiver: its function URL is public (Vercel cannot sign AWS
    # requests), so a flood of unsigned requests, each answered 403, must not scale it up to the
    # account's limit and starve every other function. 1-100: a delivery carries many log lines, and a
    # function URL takes at most 10 requests a second per reserved unit; an account may reserve at most
    # its limit less 100 (AWS Lambda, "Configuring reserved concurrency").
    drain_concurrency: int = Field(default=10, ge=1, le=100)
    # None: apdex T is the p95 objective (a request slower than the p95 objective is "tolerating").
    apdex_threshold_ms: float | None = Field(default=None, gt=0)


class RolloutSettings(_Model):
    """Canary releases: a Vercel rolling release through these stages, each watched for ``step_s``."""

    # Empty: no rolling release (a deploy goes to 100 % at once and the rollback guard watches it).
    stages: tuple[int, ...] = ()
    # At least a minute: the judgements read CloudWatch sums, whose smallest period is a minute.
    step_s: float = Field(ge=60)

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        # pulumiverse-vercel ProjectRollingRelease: 2 to 10 stages, at least one before the final 100.
        if not value:
            return value
        if not 2 <= len(value) <= 10 or value[-1] != 100:
            raise ValueError(f"{list(value)} must be 2 to 10 percentages ending at 100")
        if any(not 0 < p <= 100 for p in value) or any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"{list(value)} must be percentages between 1 and 100, strictly increasing")
        return value


class TlsSettings(_Model):
    provider: Literal["letsencrypt", "custom"]
    auto_renew: bool
    minimum_version: Literal["TLS1.2", "TLS1.3"]
    preferred_ciphers: tuple[str, ...] = Field(min_length=1)

    @field_validator("minimum_version")
    @classmethod
    def _vercel_serves_tls12(cls, value: str) -> str:
        # A minimum the deploy's TLS check could never confirm is refused here, not promised.
        if value != "TLS1.2":
            raise ValueError(
                f"Vercel's edge serves TLS 1.2 and 1.3 on every domain and a project cannot turn TLS 1.2 off, "
                f"so {value} cannot be the minimum (allowed: TLS1.2)"
            )
        return value

    @field_validator("preferred_ciphers")
    @classmethod
    def _openssl_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", name):
                raise ValueError(f"{name!r} is not an OpenSSL cipher suite name")
        return value


class BackupPlan(_Model):
    frequency_s: float = Field(gt=0)
    retention_s: float = Field(gt=0)
    type: Literal["incremental", "full"]

    @field_validator("frequency_s")
    @classmethod
    def _schedulable(cls, value: float) -> float:
        # The schedule the platform can run decides what is valid; imported here because the
        # backups component pulls in the AWS provider, which plain settings checks do not need.
        from components.backups import schedule_expression

        schedule_expression(value)
        return value

    @property
    def retention_days(self) -> int:
        return int(self.retention_s // 86400)


# Fargate's CPU units and the memory (MiB) each allows (AWS ECS developer guide, "Task CPU and memory").
FARGATE_MEMORY = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}


def fargate_size_problem(cpu: int, memory: int) -> str | None:
    """Why Fargate cannot run a task of `cpu` units and `memory` MiB, or None when it can."""
    if cpu not in FARGATE_MEMORY:
        return f"{cpu} CPU units is not a Fargate size (allowed: {', '.join(map(str, FARGATE_MEMORY))})"
    allowed = FARGATE_MEMORY[cpu]
    if memory not in allowed:
        return (
            f"{memory} MiB is not a Fargate memory size for {cpu} CPU units (allowed: {allowed[0]}-{allowed[-1]} MiB)"
        )
    return None


class RestoreTaskSize(_Model):
    cpu: int
    memory: int
    # Fargate ephemeral storage: 21-200 GiB.
    storage_gib: int = Field(ge=21, le=200)

    @model_validator(mode="after")
    def _fargate_size(self) -> RestoreTaskSize:
        problem = fargate_size_problem(self.cpu, self.memory)
        if problem:
            # A cross-field check: its message names both keys (see load_settings).
            raise ValueError(f"chefchatz:restoreTaskCpu and chefchatz:restoreTaskMemory: {problem}")
        return self


class BackupSettings(_Model):
    enabled: bool
    database: BackupPlan
    assets: BackupPlan
    point_in_time_recovery: bool
    replica_region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    image: str = Field(pattern=r"^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$")
    storage_bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,62}$")
    restore_task: RestoreTaskSize
    capacity_alarm_percent: int = Field(gt=0, le=100)


class DisasterRecoverySettings(_Model):
    rpo_s: float = Field(gt=0)
    rto_s: float = Field(gt=0)
    database_failover: Literal["automatic", "manual"]
    region_failover: Literal["automatic", "manual"]
    data_reconciliation: Literal["automated", "manual"]


class Settings(_Model):
    """Everything one stack needs, validated. Secrets live in `Secrets`, never here."""

    project: str
    stack: str
    environment: EnvironmentSettings
    platform: PlatformSettings
    release: ReleaseSettings
    rollback: RollbackSettings
    health: HealthSettings
    performance: PerformanceSettings
    tls: TlsSettings
    backups: BackupSettings
    disaster_recovery: DisasterRecoverySettings
    slo: SloSettings
    rollout: RolloutSettings
    aws_region: str

    @property
    def apdex_threshold_ms(self) -> float:
        """Apdex T: `sloApdexThreshold`, or the p95 objective when that is empty."""
        return self.slo.apdex_threshold_ms or self.performance.p95_ms

    @model_validator(mode="after")
    def _release_app_for_the_rules_owner(self) -> Settings:
        if self.platform.owns_repository_rules and not self.release.app_client_id:
            raise ValueError(
                "chefchatz:releaseAppClientId must be set in the stack that owns the repository rules "
                "(githubOwnsRepositoryRules): the release workflows act as that GitHub App"
            )
        return self

    @model_validator(mode="after")
    def _rollout_reads_the_drain(self) -> Settings:
        if self.rollout.stages and not self.slo.drain_enabled:
            raise ValueError(
                "chefchatz:rolloutStages needs chefchatz:sloDrainEnabled: each stage is judged on the canary's "
                "real requests, which only the SLO drain measures"
            )
        return self


@dataclass(frozen=True)
class Secrets:
    """The stack's secret values, each a `pulumi.Output` marked secret."""

    supabase_anon_key: pulumi.Output[str]
    openai_api_key: pulumi.Output[str]
    anthropic_api_key: pulumi.Output[str]
    database_url: pulumi.Output[str]
    redis_url: pulumi.Output[str]
    vercel_deploy_token: pulumi.Output[str]
    notify_webhook_url: pulumi.Output[str]
    storage_access_key_id: pulumi.Output[str]
    storage_secret_access_key: pulumi.Output[str]
    slo_drain_secret: pulumi.Output[str]


# --- raw configuration -> model ------------------------------------------------------------------

# Each entry: config key -> (path in the model, converter). The converter turns the raw string
# Pulumi passes a program into the model's value and raises ValueError naming the bad text.


def _text(raw: str) -> str:
    return raw


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(f"{raw!r} is not a boolean (true or false)")


def _integer(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not an integer") from None


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None


def _string_list(raw: str) -> tuple[str, ...]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{raw!r} is not a list (write a YAML list)") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{raw!r} is not a list of strings")
    return tuple(value)


def _integer_list(raw: str) -> tuple[int, ...]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{raw!r} is not a list (write a YAML list of integers)") from None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{raw!r} is not a list of integers")
    return tuple(value)


def _milliseconds(raw: str) -> float:
    return parse_duration(raw) * 1000


def _optional_milliseconds(raw: str) -> float | None:
    return _milliseconds(raw) if raw.strip() else None


FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "environment": ("environment.kind", _text),
    "domain": ("environment.domain", _text),
    "databaseName": ("environment.database_name", _text),
    "featureDebug": ("environment.features.debug", _boolean),
    "featureAnalytics": ("environment.features.analytics", _boolean),
    "featureAiLimits": ("environment.features.ai_limits", _text),
    "vercelTeamId": ("platform.vercel_team_id", _text),
    "nodeVersion": ("platform.node_version", _text),
    "supabaseUrl": ("platform.supabase_url", _text),
    "supabaseProjectRef": ("platform.supabase_project_ref", _text),
    "supabaseRegion": ("platform.supabase_region", _text),
    "appRepository": ("platform.app_repository", _text),
    "githubOwnsRepositoryRules": ("platform.owns_repository_rules", _boolean),
    "githubRequiredStatusChecks": ("platform.required_status_checks", _string_list),
    "githubCreateOidcProvider": ("platform.create_oidc_provider", _boolean),
    "opsToolRepository": ("platform.ops_tool_repository", _text),
    "opsToolCommit": ("platform.ops_tool_commit", _text),
    "releaseAppClientId": ("release.app_client_id", _text),
    "releaseVersioning": ("release.versioning", _text),
    "releaseChangelog": ("release.changelog", _boolean),
    "releaseApprovals": ("release.approvals", _string_list),
    "releaseSchedule": ("release.schedule", _text),
    "rollbackErrorRate": ("rollback.error_rate_percent", parse_percent),
    "rollbackResponseTime": ("rollback.response_time_ms", _milliseconds),
    "rollbackFailedTransactions": ("rollback.failed_transactions_percent", parse_percent),
    "rollbackAutomatic": ("rollback.automatic", _boolean),
    "rollbackNotifications": ("rollback.notifications", _string_list),
    "rollbackDataIntegrity": ("rollback.data_integrity", _text),
    "healthCheckPath": ("health.path", _text),
    "healthCheckInterval": ("health.interval_s", parse_duration),
    "healthCheckTimeout": ("health.timeout_s", parse_duration),
    "healthCheckUnhealthyThreshold": ("health.unhealthy_threshold", _integer),
    "sloApdex": ("performance.apdex", _number),
    "sloP95": ("performance.p95_ms", _milliseconds),
    "sloP99": ("performance.p99_ms", _milliseconds),
    "sloErrorBudget": ("performance.error_budget_percent", parse_percent),
    "sloErrorBudgetWindow": ("performance.error_budget_window_s", parse_duration),
    "tlsProvider": ("tls.provider", _text),
    "tlsAutoRenew": ("tls.auto_renew", _boolean),
    "tlsMinimumVersion": ("tls.minimum_version", _text),
    "tlsPreferredCiphers": ("tls.preferred_ciphers", _string_list),
    "backupsEnabled": ("backups.enabled", _boolean),
    "backupDatabaseFrequency": ("backups.database.frequency_s", parse_duration),
    "backupDatabaseRetention": ("backups.database.retention_s", parse_duration),
    "backupDatabaseType": ("backups.database.type", _text),
    "backupAssetsFrequency": ("backups.assets.frequency_s", parse_duration),
    "backupAssetsRetention": ("backups.assets.retention_s", parse_duration),
    "backupAssetsType": ("backups.assets.type", _text),
    "backupPointInTimeRecovery": ("backups.point_in_time_recovery", _boolean),
    "backupReplicaRegion": ("backups.replica_region", _text),
    "backupImage": ("backups.image", _text),
    "supabaseStorageBucket": ("backups.storage_bucket", _text),
    "restoreTaskCpu": ("backups.restore_task.cpu", _integer),
    "restoreTaskMemory": ("backups.restore_task.memory", _integer),
    "restoreTaskStorage": ("backups.restore_task.storage_gib", _integer),
    "restoreCapacityAlarmPercent": ("backups.capacity_alarm_percent", _integer),
    "drRpo": ("disaster_recovery.rpo_s", parse_duration),
    "drRto": ("disaster_recovery.rto_s", parse_duration),
    "drDatabaseFailover": ("disaster_recovery.database_failover", _text),
    "drRegionFailover": ("disaster_recovery.region_failover", _text),
    "drDataReconciliation": ("disaster_recovery.data_reconciliation", _text),
    "sloDrainEnabled": ("slo.drain_enabled", _boolean),
    "sloDrainConcurrency": ("slo.drain_concurrency", _integer),
    "sloApdexThreshold": ("slo.apdex_threshold_ms", _optional_milliseconds),
    "rolloutStages": ("rollout.stages", _integer_list),
    "rolloutStepDuration": ("rollout.step_s", parse_duration),
}

_KEY_BY_PATH = {path: f"{NAMESPACE}:{key}" for key, (path, _) in FIELDS.items()}
_KEY_BY_PATH["platform.github_owner"] = "github:owner"


def _set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def _allowed_values(error: Mapping[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if "expected" in ctx:
        return f" (allowed: {ctx['expected']})"
    if "pattern" in ctx:
        return f" (must match {ctx['pattern']})"
    return ""


def load_settings(
    project: str, stack: str, raw: Mapping[str, str], aws_region: str, github_owner: str = "chefchatz"
) -> Settings:
    """Validate one stack's raw configuration (key -> string, project namespace stripped).

    Raises `SettingsError` naming every missing, unknown or invalid key at once.
    """
    problems: list[str] = []
    reported: set[str] = set()
    tree: dict[str, Any] = {"project": project, "stack": stack, "aws_region": aws_region}
    _set_path(tree, "platform.github_owner", github_owner)
    for key in sorted(set(raw) - set(FIELDS) - set(SECRET_KEYS)):
        problems.append(f"{NAMESPACE}:{key}: unknown key (not declared in Pulumi.yaml)")
    for key, (path, convert) in FIELDS.items():
        if key not in raw:
            problems.append(f"{NAMESPACE}:{key}: missing (set it in Pulumi.{stack}.yaml or give Pulumi.yaml a default)")
            reported.add(path)
            continue
        try:
            _set_path(tree, path, convert(raw[key]))
        except ValueError as exc:
            problems.append(f"{NAMESPACE}:{key}: {exc}")
            reported.add(path)
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        for error in exc.errors():
            location = ".".join(str(part) for part in error["loc"])
            if location in reported:
                continue  # already named above, with the text that failed to convert
            found = _KEY_BY_PATH.get(location)
            message = error["msg"].removeprefix("Value error, ")
            if found is None:
                # A cross-field check reports on its model; its message names the keys.
                problems.append(message)
                continue
            # The text as written in the stack file ("5m"), not the number it was converted to.
            key = found.removeprefix(f"{NAMESPACE}:")
            got = raw[key] if key in raw and FIELDS.get(key, ("", _text))[1] is not _text else error.get("input")
            problems.append(f"{found}: {message}; got {got!r}{_allowed_values(error)}")
    if problems:
        raise SettingsError(stack, problems)
    return settings


def missing_secrets(present: set[str]) -> list[str]:
    """Secret keys this stack still lacks, in declaration order.

    Every declared secret is required, as the Pulumi CLI requires every declared key without a
    default (the storage keys even where backups are off: the CLI cannot know that).
    """
    return [key for key in SECRET_KEYS if key not in present]


def secrets_hint(stack: str, missing: list[str]) -> str:
    """The exact commands (or the ESC import) that set the missing secrets."""
    commands = "\n".join(f"  pulumi config set --secret --stack {stack} {NAMESPACE}:{key} '<value>'" for key in missing)
    return (
        "Set them with:\n" + commands + "\n"
        f"or import them from a Pulumi ESC environment (add `environment: [chefchatz/{stack}]` to "
        f"Pulumi.{stack}.yaml)."
    )


def secret_problems(missing: list[str]) -> list[str]:
    return [f"{NAMESPACE}:{key}: secret not set ({SECRET_KEYS[key]})" for key in missing]


# --- reading from the Pulumi runtime -------------------------------------------------------------

# Supabase's direct connection (db.<ref>.supabase.co) is served over IPv6 only unless the project
# buys the IPv4 add-on; the backup task's network and Vercel's functions reach IPv4 only. The session
# pooler (Supavisor, port 5432, user postgres.<ref>) is the IPv4 path (Supabase docs, "Connect to your
# database": direct connection vs. session pooler).
_SUPABASE_DIRECT_HOST = re.compile(r"db\.([a-z0-9]{20})\.supabase\.co")


# Marked stand-ins in the committed configuration: a preview may show them, a deployment may not.
VERCEL_TEAM_STANDIN = "team_0000000000000000chefchatz"
_ZERO_DIGEST = "@sha256:" + "0" * 64


def standin_problems(settings: Settings) -> list[str]:
    """The marked stand-ins a real deployment would carry to the platforms (each named with its fix)."""
    problems = []
    if settings.platform.vercel_team_id == VERCEL_TEAM_STANDIN:
        problems.append(
            f"chefchatz:vercelTeamId: {VERCEL_TEAM_STANDIN} is the committed stand-in, not a team; set your "
            "Vercel team id (Team Settings > General > Team ID; docs/first-deploy.md)"
        )
    if settings.backups.enabled and settings.backups.image.endswith(_ZERO_DIGEST):
        problems.append(
            f"chefchatz:backupImage: {settings.backups.image} pins the all-zero stand-in digest; set the digest "
            "`docker push` printed for the backup image (docs/first-deploy.md)"
        )
    return problems


def database_url_problem(url: str) -> str | None:
    """Why this DATABASE_URL cannot be reached from an IPv4-only network, or None.

    Names the host, never the URL (it carries the password)."""
    host = urlsplit(url.strip()).hostname or ""
    match = _SUPABASE_DIRECT_HOST.fullmatch(host)
    if not match:
        return None
    ref = match.group(1)
    return (
        f"chefchatz:databaseUrl: {host} is Supabase's direct connection, served over IPv6 only; the backup "
        "task and Vercel's functions reach IPv4 only. Use the session pooler's URL (Supabase dashboard > "
        f"Connect > Session pooler): postgresql://postgres.{ref}:<password>@aws-<n>-<region>.pooler.supabase.com"
        ":5432/postgres"
    )


def from_pulumi() -> tuple[Settings, Secrets]:
    """Read and validate this stack's configuration from the running Pulumi program."""
    project = pulumi.get_project()
    stack = pulumi.get_stack()
    raw: dict[str, str] = {}
    present_secrets: set[str] = set()
    for key in (*FIELDS, *SECRET_KEYS):
        value = pulumi.runtime.get_config(f"{NAMESPACE}:{key}")
        if value is None:
            continue
        if key in SECRET_KEYS:
            present_secrets.add(key)
        else:
            raw[key] = value
    region = pulumi.runtime.get_config("aws:region") or "us-east-1"
    owner = pulumi.runtime.get_config("github:owner") or ""
    settings_error: SettingsError | None = None
    settings: Settings | None = None
    try:
        settings = load_settings(project, stack, raw, region, owner)
    except SettingsError as exc:
        settings_error = exc
    missing = missing_secrets(present_secrets)
    # Secrets are plain text to the program (and marked placeholders offline): checked here, never echoed.
    database_problem = database_url_problem(pulumi.runtime.get_config(f"{NAMESPACE}:databaseUrl") or "")
    if settings_error or missing or database_problem:
        problems = (
            (settings_error.problems if settings_error else [])
            + secret_problems(missing)
            + ([database_problem] if database_problem else [])
        )
        raise SettingsError(stack, problems, secrets_hint(stack, missing) if missing else "")
    assert settings is not None
    # `pulumi preview` (and the offline plan) may show the committed stand-ins; `pulumi up` refuses them
    # before any resource is registered, instead of failing half-way at the first platform that checks.
    if not pulumi.runtime.is_dry_run() and standin_problems(settings):
        raise SettingsError(stack, standin_problems(settings))
    config = pulumi.Config(NAMESPACE)
    secrets = Secrets(
        supabase_anon_key=config.require_secret("supabaseAnonKey"),
        openai_api_key=config.require_secret("openaiApiKey"),
        anthropic_api_key=config.require_secret("anthropicApiKey"),
        database_url=config.require_secret("databaseUrl"),
        redis_url=config.require_secret("redisUrl"),
        vercel_deploy_token=config.require_secret("vercelDeployToken"),
        notify_webhook_url=config.require_secret("notifyWebhookUrl"),
        storage_access_key_id=config.require_secret("supabaseStorageAccessKeyId"),
        storage_secret_access_key=config.require_secret("supabaseStorageSecretAccessKey"),
        slo_drain_secret=config.require_secret("sloDrainSecret"),
    )
    return settings, secrets
