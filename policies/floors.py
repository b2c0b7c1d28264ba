"""The spec as a floor: every value of the spec a stack can set is held here, on the resource that
carries it, and a stack file may tighten it but never loosen it.

Each policy's config defaults to the spec's values, so only the pack's config (reviewed by its
owners; `pulumi preview --policy-pack-config FILE`, `chefchatz plan --policy-pack-config FILE`) can
lower a floor. A finding names the `chefchatz:` key, the stack's value and the floor.

Where each value is read (set by `components/environment.py`):
- release approvers, rollback triggers and targets, health-check settings, TLS settings: the
  variables of the stack's GitHub deploy environment, which the app's pipeline reads (the rollback
  guard takes its triggers and probe settings from them);
- health-check path, interval and threshold also on the Route 53 health checks themselves;
- p95/p99: the latency alarms' thresholds; apdex and the error budget: tags of those alarms;
- backup type and PITR: tags of the backup buckets; RPO, RTO and failover modes: tags of the
  database backup bucket; the replica region: the buckets' `region`; the backup image: a tag of the
  backup task definition (its container definitions are unknown before the first deployment).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.ciphers import MOZILLA_INTERMEDIATE_TLS12_CIPHERS, SPEC_PREFERRED_CIPHERS
from policies.common import (
    ALARM,
    BUCKET,
    DEVELOPMENT_STACKS,
    GITHUB_ENV_VARIABLE,
    HEALTH_CHECK,
    LAMBDA_FUNCTION,
    VERCEL_ENV_VAR,
    config_with_defaults,
    get,
    of_type,
    percent,
    seconds,
    stack_name,
    stack_policy,
    stack_schema,
)

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"

# The policy config defaults are JSON arrays.
MOZILLA_INTERMEDIATE_TLS12 = list(MOZILLA_INTERMEDIATE_TLS12_CIPHERS)
SPEC_CIPHERS = list(SPEC_PREFERRED_CIPHERS)
NOTIFICATION_TARGET = re.compile(r"email:[^@\s]+@[^@\s]+\.[a-z]{2,}|slack:#[a-z0-9_-]+")
# How automated a recovery step is: more automation is the stronger promise (faster, no one paged).
AUTOMATION = {"manual": 0, "automatic": 1, "automated": 1}
TLS_VERSIONS = {"TLS1.2": 2, "TLS1.3": 3}


# --- comparisons: True when the stack's value is looser than the floor ----------------------------


def _milliseconds(value: Any) -> float:
    """A latency as a number of ms: an alarm threshold (a number) or text like '1000ms' or '1s'."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return seconds(str(value)) * 1000


def above(parse: Callable[[Any], float]) -> Callable[[Any, Any], bool]:
    return lambda value, floor: parse(value) > parse(floor)


def below(parse: Callable[[Any], float]) -> Callable[[Any, Any], bool]:
    return lambda value, floor: parse(value) < parse(floor)


def differs(value: Any, floor: Any) -> bool:
    return str(value) != str(floor)


def less_automated(value: Any, floor: Any) -> bool:
    return AUTOMATION[str(value)] < AUTOMATION[str(floor)]


def older_tls(value: Any, floor: Any) -> bool:
    return TLS_VERSIONS[str(value)] < TLS_VERSIONS[str(floor)]


def turned_off(value: Any, floor: Any) -> bool:
    return bool(floor) and str(value).lower() not in ("true", "enabled")


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return [str(item) for item in value]


def misses_any(value: Any, floor: Any) -> bool:
    return bool(set(_as_list(floor)) - set(_as_list(value)))


def outside(value: Any, floor: Any) -> bool:
    return bool(set(_as_list(value)) - set(_as_list(floor)))


def _difference(value: Any, floor: Any, weaker: Callable[[Any, Any], bool]) -> str:
    """For list floors, which entries make the value looser: missing ones, or ones not allowed."""
    if weaker is misses_any:
        return f"; missing: {', '.join(sorted(set(_as_list(floor)) - set(_as_list(value))))}"
    if weaker is outside:
        return f"; not allowed: {', '.join(sorted(set(_as_list(value)) - set(_as_list(floor))))}"
    return ""


def fewer(value: Any, floor: Any) -> bool:
    return len(_as_list(value)) < int(floor)


@dataclass(frozen=True)
class Floor:
    """One spec value: its property in the policy's config (default: the spec), its stack key."""

    prop: str
    key: str
    default: Any
    weaker: Callable[[Any, Any], bool]
    what: str
    schema_type: str = "string"

    def schema(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": self.schema_type, "default": self.default, "description": self.what}
        if self.schema_type == "array":
            entry["items"] = {"type": "string"}
        return entry


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value) if value != "" else "(empty)"


def check(
    policy: str,
    floor: Floor,
    value: Any,
    config: Mapping[str, Any],
    urn: str | None,
    report: ReportViolation,
    shown: str | None = None,
) -> None:
    """Report when `value` is looser than the configured floor, naming key, value and floor."""
    limit = config[floor.prop]
    try:
        weaker = floor.weaker(value, limit)
    except (ValueError, KeyError, TypeError):
        report(
            f"chefchatz:{floor.key} is {shown or _shown(value)!r}, which {policy} cannot compare with its floor "
            f"{_shown(limit)!r} ({floor.what})",
            urn,
        )
        return
    if weaker:
        report(
            f"chefchatz:{floor.key} is {shown or _shown(value)!r} in this stack, looser than the floor "
            f"{_shown(limit)!r} ({floor.what}{_difference(value, limit, floor.weaker)}). A stack may only "
            f"tighten it; lowering the floor is a change to the policy pack config ({policy}.{floor.prop}), "
            "reviewed by its owners",
            urn,
        )


def floor_policy(
    name: str,
    description: str,
    floors: tuple[Floor, ...],
    values: Callable[[StackValidationArgs, dict[str, Any], ReportViolation], Iterator[tuple[str, Any, str | None]]],
    extra_schema: Mapping[str, dict[str, Any]] | None = None,
) -> Any:
    """A stack policy holding `floors`: `values` yields (floor prop, the stack's value, urn)."""
    by_prop = {f.prop: f for f in floors}
    defaults = {f.prop: f.default for f in floors}

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        config = config_with_defaults(args, defaults)
        for prop, value, urn in values(args, config, report):
            check(name, by_prop[prop], value, config, urn, report)

    schema = stack_schema(**{f.prop: f.schema() for f in floors}, **(extra_schema or {}))
    return stack_policy(name, description, validate, schema=schema)


# --- where the values live ------------------------------------------------------------------------


def pipeline_variables(args: StackValidationArgs) -> dict[str, PolicyResource]:
    """The stack's GitHub deploy-environment variables by name."""
    return {str(r.props["variableName"]): r for r in of_type(args.resources, GITHUB_ENV_VARIABLE)}


def _from_variables(
    mapping: Mapping[str, str],
) -> Callable[[StackValidationArgs, dict[str, Any], ReportViolation], Iterator[tuple[str, Any, str | None]]]:
    """Values read from pipeline variables; `mapping` is floor prop -> variable name."""

    def values(
        args: StackValidationArgs, config: dict[str, Any], report: ReportViolation
    ) -> Iterator[tuple[str, Any, str | None]]:
        variables = pipeline_variables(args)
        for prop, variable in mapping.items():
            if variable not in variables:
                report(f"no GitHub environment variable {variable} carries {prop}: the floor cannot be checked", None)
                continue
            yield prop, variables[variable].props["value"], variables[variable].urn

    return values


# --- release approvals ----------------------------------------------------------------------------

APPROVERS = Floor(
    "approvers",
    "releaseApprovals",
    ["tech-lead", "product-owner"],
    misses_any,
    "every team must approve a production release",
    "array",
)

release_approver_floor = floor_policy(
    "release-approver-floor",
    "Releases are approved by every team of the spec (tech-lead AND product-owner); a stack may add teams.",
    (APPROVERS,),
    _from_variables({"approvers": "RELEASE_APPROVERS"}),
)


# --- features outside development -----------------------------------------------------------------

FEATURE_FLOORS = (
    Floor("aiLimits", "featureAiLimits", "production", differs, "production AI limits outside dev"),
    Floor("analytics", "featureAnalytics", True, turned_off, "analytics on outside dev", "boolean"),
)
_FEATURE_VARIABLES = {"NEXT_PUBLIC_AI_LIMITS": "aiLimits", "NEXT_PUBLIC_FEATURE_ANALYTICS": "analytics"}


def _feature_values(
    args: StackValidationArgs, config: dict[str, Any], report: ReportViolation
) -> Iterator[tuple[str, Any, str | None]]:
    # The spec gives staging and production the same features; only development relaxes them.
    if stack_name(args) in config.get("developmentStacks", DEVELOPMENT_STACKS):
        return
    for variable in of_type(args.resources, VERCEL_ENV_VAR):
        prop = _FEATURE_VARIABLES.get(str(variable.props["key"]))
        if prop:
            yield prop, variable.props["value"], variable.urn


feature_floors = floor_policy(
    "feature-floors",
    "Outside development the app runs with production AI limits and analytics on, as the spec's "
    "staging and production environments do (debug: debug-off-outside-dev).",
    FEATURE_FLOORS,
    _feature_values,
    extra_schema={"developmentStacks": {"type": "array", "items": {"type": "string"}, "default": DEVELOPMENT_STACKS}},
)


# --- rollback triggers and notification targets ---------------------------------------------------

ROLLBACK_FLOORS = (
    Floor("errorRate", "rollbackErrorRate", "1%", above(percent), "roll back above a 1% error rate"),
    Floor("responseTime", "rollbackResponseTime", "1000ms", above(_milliseconds), "roll back above 1000ms"),
    Floor("failedTransactions", "rollbackFailedTransactions", "0.1%", above(percent), "roll back above 0.1% failures"),
    Floor(
        "minimumNotificationTargets",
        "rollbackNotifications",
        1,
        fewer,
        "someone must be told about a rollback",
        "integer",
    ),
)


def _rollback_values(
    args: StackValidationArgs, config: dict[str, Any], report: ReportViolation
) -> Iterator[tuple[str, Any, str | None]]:
    found = _from_variables(
        {
            "errorRate": "ROLLBACK_ERROR_RATE",
            "responseTime": "ROLLBACK_RESPONSE_TIME",
            "failedTransactions": "ROLLBACK_FAILED_TRANSACTIONS",
            "minimumNotificationTargets": "ROLLBACK_NOTIFICATIONS",
        }
    )(args, config, report)
    for prop, value, urn in found:
        if prop == "minimumNotificationTargets":
            for target in _as_list(value):
                if not NOTIFICATION_TARGET.fullmatch(target):
                    report(f"chefchatz:rollbackNotifications: {target!r} is not email:ADDRESS or slack:#channel", urn)
        yield prop, value, urn


rollback_trigger_floors = floor_policy(
    "rollback-trigger-floors",
    "Rollback triggers are no looser than the spec (error rate 1%, response time 1000ms, failed "
    "transactions 0.1%) and at least one valid notification target is told.",
    ROLLBACK_FLOORS,
    _rollback_values,
)


# --- health checks --------------------------------------------------------------------------------

HEALTH_FLOORS = (
    Floor("path", "healthCheckPath", "/api/health", differs, "the spec's health endpoint"),
    Floor("interval", "healthCheckInterval", "30s", above(seconds), "probe at least every 30s"),
    Floor("timeout", "healthCheckTimeout", "5s", above(seconds), "time out after 5s at most"),
    Floor(
        "unhealthyThreshold",
        "healthCheckUnhealthyThreshold",
        2,
        above(float),
        "unhealthy after 2 failed probes at most",
        "integer",
    ),
)


def _health_values(
    args: StackValidationArgs, config: dict[str, Any], report: ReportViolation
) -> Iterator[tuple[str, Any, str | None]]:
    yield from _from_variables(
        {
            "path": "HEALTH_CHECK_PATH",
            "interval": "HEALTH_CHECK_INTERVAL",
            "timeout": "HEALTH_CHECK_TIMEOUT",
            "unhealthyThreshold": "ROLLBACK_CONSECUTIVE",
        }
    )(args, config, report)
    for check_resource in of_type(args.resources, HEALTH_CHECK):
        yield "path", get(check_resource.props, "resourcePath"), check_resource.urn
        yield "interval", f"{float(get(check_resource.props, 'requestInterval', default=30)):g}s", check_resource.urn
        yield "unhealthyThreshold", get(check_resource.props, "failureThreshold", default=3), check_resource.urn


health_check_floors = floor_policy(
    "health-check-floors",
    "Health checks probe /api/health at least every 30s, time out within 5s and call the app "
    "unhealthy after at most 2 failures (pipeline guard and Route 53).",
    HEALTH_FLOORS,
    _health_values,
)


# --- performance objectives -----------------------------------------------------------------------

PERFORMANCE_FLOORS = (
    Floor("apdex", "sloApdex", 0.99, below(float), "apdex target 0.99", "number"),
    Floor("p95", "sloP95", "200ms", above(_milliseconds), "p95 within 200ms"),
    Floor("p99", "sloP99", "500ms", above(_milliseconds), "p99 within 500ms"),
    # Apdex T above the p95 objective would count as "satisfied" requests the p95 objective calls slow,
    # and make the 0.99 apdex target meaningless.
    Floor("apdexThreshold", "sloApdexThreshold", "200ms", above(_milliseconds), "apdex T at most the p95 objective"),
    Floor("errorBudget", "sloErrorBudget", "0.1%", above(percent), "monthly error budget 0.1%"),
    Floor("errorBudgetWindow", "sloErrorBudgetWindow", "30d", above(seconds), "error budget window 30d"),
)
_SLO_TAGS = {
    "apdex": "slo-apdex",
    "apdexThreshold": "slo-apdex-threshold",
    "errorBudget": "slo-error-budget-percent",
    "errorBudgetWindow": "slo-error-budget-window",
}


def _performance_values(
    args: StackValidationArgs, config: dict[str, Any], report: ReportViolation
) -> Iterator[tuple[str, Any, str | None]]:
    alarms = [a for a in of_type(args.resources, ALARM) if get(a.props, "metricName") == "TimeToFirstByte"]
    if not alarms:
        report(f"stack '{stack_name(args)}' has no latency alarm carrying its SLOs: the floors cannot be checked", None)
    p95s: list[float] = []
    thresholds: list[tuple[float, str | None]] = []
    for alarm in alarms:
        percentile = get(alarm.props, "tags", "slo-objective")
        if percentile in ("p95", "p99"):
            if percentile == "p95":
                p95s.append(float(alarm.props["threshold"]))
            yield str(percentile), alarm.props["threshold"], alarm.urn
        for prop, tag in _SLO_TAGS.items():
            value = get(alarm.props, "tags", tag)
            if value is None:
                report(f"latency alarm has no tag {tag}: the {prop} floor cannot be checked", alarm.urn)
                continue
            if prop == "apdexThreshold":
                thresholds.append((_milliseconds(value), alarm.urn))
            yield prop, value, alarm.urn
    # Where T takes effect: the SLO receiver counts satisfied and tolerating requests with it.
    for function in of_type(args.resources, LAMBDA_FUNCTION):
        threshold = get(function.props, "environment", "variables", "APDEX_T_MS")
        if threshold is not None:
            thresholds.append((float(threshold), function.urn))
            yield "apdexThreshold", f"{threshold}ms", function.urn
    # Whatever the floors, T above the stack's own p95 objective counts as satisfied what p95 calls slow.
    if p95s:
        objective = min(p95s)
        for value, urn in thresholds:
            if value > objective:
                report(
                    f"chefchatz:sloApdexThreshold is {value:g}ms, above this stack's p95 objective "
                    f"(chefchatz:sloP95, {objective:g}ms): apdex would count as satisfied requests the p95 "
                    "objective calls slow",
                    urn,
                )


performance_objective_floors = floor_policy(
    "performance-objective-floors",
    "Performance objectives are no looser than the spec: apdex 0.99 with T at most the p95 objective, "
    "p95 200ms, p99 500ms, error budget "
    "0.1% per 30d (alarm thresholds and the alarms' SLO tags).",
    PERFORMANCE_FLOORS,
    _performance_values,
)


# --- TLS ------------------------------------------------------------------------------------------

TLS_FLOORS = (
    Floor("provider", "tlsProvider", "letsencrypt", differs, "managed Let's Encrypt certificates"),
    Floor("autoRenew", "tlsAutoRenew", True, turned_off, "certificates renew automatically", "boolean"),
    Floor("minimumVersion", "tlsMinimumVersion", "TLS1.2", older_tls, "TLS 1.2 at least"),
    Floor("requiredCiphers", "tlsPreferredCiphers", SPEC_CIPHERS, misses_any, "the spec's two suites", "array"),
    Floor(
        "allowedCiphers",
        "tlsPreferredCiphers",
        MOZILLA_INTERMEDIATE_TLS12,
        outside,
        "only forward-secret AEAD suites of Mozilla intermediate",
        "array",
    ),
)

tls_floors = floor_policy(
    "tls-floors",
    "TLS settings are no looser than the spec: Let's Encrypt, auto-renewed, TLS 1.2 at least, the "
    "spec's two cipher suites and nothing outside Mozilla intermediate's TLS 1.2 list.",
    TLS_FLOORS,
    _from_variables(
        {
            "provider": "TLS_PROVIDER",
            "autoRenew": "TLS_AUTO_RENEW",
            "minimumVersion": "TLS_MINIMUM_VERSION",
            "requiredCiphers": "TLS_CIPHERS",
            "allowedCiphers": "TLS_CIPHERS",
        }
    ),
)


# --- backups and disaster recovery ----------------------------------------------------------------


def _backup_buckets(args: StackValidationArgs) -> dict[str, PolicyResource]:
    return {
        str(get(b.props, "tags", "backup-kind")): b
        for b in of_type(args.resources, BUCKET)
        if get(b.props, "tags", "backup-kind") in ("database", "assets")
    }


BACKUP_FLOORS = (
    Floor("databaseType", "backupDatabaseType", "incremental", differs, "database: dumps plus PITR"),
    Floor("assetsType", "backupAssetsType", "full", differs, "assets: full copies"),
    Floor(
        "pointInTimeRecovery",
        "backupPointInTimeRecovery",
        True,
        turned_off,
        "point-in-time recovery on",
        "boolean",
    ),
)


def _backup_values(
    args: StackValidationArgs, config: dict[str, Any], report: ReportViolation
) -> Iterator[tuple[str, Any, str | None]]:
    for kind, bucket in _backup_buckets(args).items():
        yield f"{kind}Type", get(bucket.props, "tags", "backup-type", default=""), bucket.urn
        if kind == "database":
            yield "pointInTimeRecovery", get(bucket.props, "tags", "pitr", default=""), bucket.urn


backup_plan_floors = floor_policy(
    "backup-plan-floors",
    "Backups are of the spec's kind: incremental database backups with point-in-time recovery, full "
    "asset copies (frequency and retention: backup-frequency-and-retention).",
    BACKUP_FLOORS,
    _backup_values,
)

RECOVERY_FLOORS = (
    Floor("rpo", "drRpo", "1h", above(seconds), "recovery point objective 1h"),
    Floor("rto", "drRto", "15m", above(seconds), "recovery time objective 15m"),
    Floor("databaseFailover", "drDatabaseFailover", "automatic", less_automated, "automatic database failover"),
    Floor("regionFailover", "drRegionFailover", "manual", less_automated, "region failover at least manual"),
    Floor("dataReconciliation", "drDataReconciliation", "automated", less_automated, "automated data reconciliation"),
)
_RECOVERY_TAGS = {
    "rpo": "dr-rpo",
    "rto": "dr-rto",
    "databaseFailover": "dr-database-failover",
    "regionFailover": "dr-region-failover",
    "dataReconciliation": "dr-data-reconciliation",
}


def _recovery_values(
    args: StackValidationArgs, config: dict[str, Any], report: ReportViolation
) -> Iterator[tuple[str, Any, str | None]]:
    bucket = _backup_buckets(args).get("database")
    if bucket is None:
        return  # no backups in this stack: backups-exist-for-every-database decides whether that is allowed
    for prop, tag in _RECOVERY_TAGS.items():
        value = get(bucket.props, "tags", tag)
        if value is None:
            report(f"database backup bucket has no tag {tag}: the {prop} floor cannot be checked", bucket.urn)
            continue
        yield prop, value, bucket.urn


disaster_recovery_floors = floor_policy(
    "disaster-recovery-floors",
    "Disaster-recovery objectives are no looser than the spec: RPO 1h, RTO 15m, automatic database "
    "failover, manual (or automatic) region failover, automated data reconciliation.",
    RECOVERY_FLOORS,
    _recovery_values,
)


def _production(args: StackValidationArgs) -> bool:
    return stack_name(args) in config_with_defaults(args, {"productionStacks": ["prod"]})["productionStacks"]


def _validate_replica_region(args: StackValidationArgs, report: ReportViolation) -> None:
    if not _production(args):
        return
    primaries = _backup_buckets(args)
    for replica in of_type(args.resources, BUCKET):
        kind = get(replica.props, "tags", "backup-replica-of")
        if kind not in primaries:
            continue
        primary_region = get(primaries[str(kind)].props, "region")
        region = get(replica.props, "region")
        if primary_region is None or region is None:
            report(f"{kind} backups and their replica must state their regions (region)", replica.urn)
        elif region == primary_region:
            report(
                f"chefchatz:backupReplicaRegion is {region!r}, the primary's own region: a region outage "
                "takes both copies (choose another region)",
                replica.urn,
            )


backup_replica_in_another_region = stack_policy(
    "backup-replica-in-another-region",
    "Production backup replicas live in another region than the backups they copy.",
    _validate_replica_region,
)


def _validate_image_pinned(args: StackValidationArgs, report: ReportViolation) -> None:
    if not _production(args):
        return
    for task in of_type(args.resources, TASK_DEFINITION):
        image = get(task.props, "tags", "backup-image")
        if image is None:
            continue
        if "@sha256:" not in str(image):
            report(
                f"chefchatz:backupImage is {image!r}: production runs an image pinned by digest "
                "(NAME@sha256:DIGEST), so a re-pushed tag cannot change what restores your data",
                task.urn,
            )


backup_image_pinned_in_production = stack_policy(
    "backup-image-pinned-in-production",
    "Production backup tasks run an image pinned by digest (@sha256:).",
    _validate_image_pinned,
)

POLICIES = [
    release_approver_floor,
    feature_floors,
    rollback_trigger_floors,
    health_check_floors,
    performance_objective_floors,
    tls_floors,
    backup_plan_floors,
    disaster_recovery_floors,
    backup_replica_in_another_region,
    backup_image_pinned_in_production,
]
