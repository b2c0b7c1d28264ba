"""Backup rules: every stack with a database backs it up (and its assets) as often and as long as the
spec says, the promised RPO is achievable by the mechanism actually configured, and backup storage
is hardened.

Resources are matched by the conventions of `components/backups.py`: each backup bucket carries a
`backup-kind` tag (`database` or `assets`) and, on the database bucket, `pitr` (`enabled` or
`disabled`); lifecycle rules name their bucket; schedules run `chefchatz backup <kind>` and carry the
kind in their name (`...-backup-database`, `...-backup-assets`); freshness alarms watch the
`BackupSucceeded` metric with a `Kind` dimension; the restore-capacity alarm's metric queries read
`DatabaseSizeBytes` and `RestoreDrillMaxDatabaseBytes`.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.common import (
    ALARM,
    BUCKET,
    BUCKET_POLICY,
    ENCRYPTION,
    LIFECYCLE,
    OBJECT_LOCK,
    PUBLIC_ACCESS_BLOCK,
    REPLICATION,
    SCHEDULE,
    VERCEL_ENV_VAR,
    VERSIONING,
    config_with_defaults,
    duration,
    get,
    of_type,
    stack_name,
    stack_policy,
    stack_schema,
)

KINDS = ("database", "assets")
DEFAULTS = {
    "databaseFrequency": "6h",
    "databaseRetention": "30d",
    "assetsFrequency": "24h",
    "assetsRetention": "90d",
    "rpo": "1h",
    "freshnessSlack": "1h",
    # The restore-capacity alarm fires at this % of the largest database the drill restores in budget.
    "capacityAlarmPercent": 80,
}

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def schedule_interval_seconds(expression: str) -> int:
    """Longest gap between two runs of an EventBridge Scheduler expression.

    `rate(6 hours)` -> 21600; `cron(0 */6 * * ? *)` -> 21600; `cron(30 3 * * ? *)` -> 86400.
    Raises ValueError for expressions it cannot bound (one-off `at(...)` runs never repeat).
    """
    rate = re.fullmatch(r"rate\((\d+)\s+(minutes?|hours?|days?)\)", expression.strip())
    if rate:
        return int(rate.group(1)) * _UNITS[rate.group(2)]
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)", expression.strip())
    if not cron:
        raise ValueError(f"{expression!r} is not a repeating rate(...) or cron(...) expression")
    minute, hour, day_of_month, month, day_of_week, _year = cron.groups()
    if not re.fullmatch(r"\d+", minute) or month != "*" or day_of_week not in ("?", "*"):
        raise ValueError(f"{expression!r}: only daily or hourly-step crons are understood")
    if day_of_month not in ("*", "?"):
        raise ValueError(f"{expression!r} does not run every day")
    if re.fullmatch(r"\d+", hour):
        return 86400
    step = re.fullmatch(r"(?:\*|0)/(\d+)", hour)
    if step and 24 % int(step.group(1)) == 0:
        return int(step.group(1)) * 3600
    if hour == "*":
        return 3600
    hours = sorted(int(h) for h in hour.split(",")) if re.fullmatch(r"\d+(,\d+)*", hour) else []
    if hours:
        gaps = [b - a for a, b in itertools.pairwise(hours)] + [24 - hours[-1] + hours[0]]
        return max(gaps) * 3600
    raise ValueError(f"{expression!r}: hour field {hour!r} is not understood")


def _config(args: StackValidationArgs) -> dict[str, Any]:
    return config_with_defaults(args, DEFAULTS)


def _has_database(args: StackValidationArgs) -> bool:
    return any(str(r.props["key"]) == "DATABASE_URL" for r in of_type(args.resources, VERCEL_ENV_VAR))


def _exempt(args: StackValidationArgs) -> bool:
    return stack_name(args) in (args.get_config() or {}).get("exemptStacks", ["dev"])


def _buckets(args: StackValidationArgs) -> dict[str, PolicyResource]:
    """kind -> bucket resource."""
    found: dict[str, PolicyResource] = {}
    for bucket in of_type(args.resources, BUCKET):
        kind = get(bucket.props, "tags", "backup-kind")
        if kind in KINDS:
            found[str(kind)] = bucket
    return found


def _for_bucket(args: StackValidationArgs, resource_type: str, bucket: PolicyResource) -> list[PolicyResource]:
    name = get(bucket.props, "bucket")
    return [r for r in of_type(args.resources, resource_type) if get(r.props, "bucket") == name]


def _schedules(args: StackValidationArgs, kind: str) -> list[PolicyResource]:
    return [
        s
        for s in of_type(args.resources, SCHEDULE)
        if str(get(s.props, "name", default="")).endswith(f"-backup-{kind}")
    ]


def _validate_exist(args: StackValidationArgs, report: ReportViolation) -> None:
    if not _has_database(args) or _exempt(args):
        return
    buckets = _buckets(args)
    for kind in KINDS:
        if kind not in buckets:
            report(f"stack '{stack_name(args)}' has a database but no {kind} backup bucket", None)
            continue
        if not _schedules(args, kind):
            report(f"{kind} backups have a bucket but no schedule runs them", buckets[kind].urn)
        if not _for_bucket(args, LIFECYCLE, buckets[kind]):
            report(f"{kind} backups have no lifecycle rule: retention is not enforced", buckets[kind].urn)


backups_exist_for_every_database = stack_policy(
    "backups-exist-for-every-database",
    "Every stack with a database has scheduled database and asset backups with enforced retention.",
    _validate_exist,
    schema=stack_schema(exemptStacks={"type": "array", "items": {"type": "string"}, "default": ["dev"]}),
)


def _retention_days(lifecycle: PolicyResource) -> int | None:
    days: list[int] = []
    for rule in get(lifecycle.props, "rules", default=[]) or []:
        if get(rule, "status") != "Enabled":
            continue
        value = get(rule, "expiration", "days")
        if value is not None:
            days.append(int(value))
    return min(days) if days else None


def _key(kind: str, what: str) -> str:
    """The stack config key of a backup plan value: `backupDatabaseRetention`."""
    return f"backup{kind.capitalize()}{what}"


def _validate_frequency_retention(args: StackValidationArgs, report: ReportViolation) -> None:
    if _exempt(args):
        return
    config = _config(args)
    for kind, bucket in _buckets(args).items():
        frequency = duration(config[f"{kind}Frequency"])
        retention = duration(config[f"{kind}Retention"])
        for schedule in _schedules(args, kind):
            expression = str(schedule.props["scheduleExpression"])
            try:
                interval = schedule_interval_seconds(expression)
            except ValueError as exc:
                report(f"{kind} backup schedule: {exc}", schedule.urn)
                continue
            if interval > frequency:
                report(
                    f"{kind} backups run every {interval // 3600}h ({expression}); the spec needs at least every "
                    f"{config[f'{kind}Frequency']} (chefchatz:{_key(kind, 'Frequency')} is looser than the floor "
                    f"{kind}Frequency of this policy's config)",
                    schedule.urn,
                )
            if get(schedule.props, "state", default="ENABLED") != "ENABLED":
                report(f"{kind} backup schedule is {schedule.props['state']}", schedule.urn)
        for lifecycle in _for_bucket(args, LIFECYCLE, bucket):
            days = _retention_days(lifecycle)
            if days is not None and days * 86400 < retention:
                report(
                    f"{kind} backups expire after {days} days; the spec keeps them {config[f'{kind}Retention']} "
                    f"(chefchatz:{_key(kind, 'Retention')} is looser than the floor {kind}Retention of this "
                    "policy's config)",
                    lifecycle.urn,
                )


backup_frequency_and_retention = stack_policy(
    "backup-frequency-and-retention",
    "Database backups run every 6h and are kept 30d; asset backups every 24h, kept 90d (in every stack "
    "that has backups: the spec is a floor no stack file can lower).",
    _validate_frequency_retention,
    schema=stack_schema(
        **{k: {"type": "string", "default": v} for k, v in DEFAULTS.items() if k != "rpo" and k != "freshnessSlack"},
        # Empty: dev may run without backups (backups-exist-for-every-database), but backups it has
        # keep the spec's numbers.
        exemptStacks={"type": "array", "items": {"type": "string"}, "default": []},
    ),
)


def _validate_rpo(args: StackValidationArgs, report: ReportViolation) -> None:
    if _exempt(args):
        return
    config = _config(args)
    rpo = duration(config["rpo"])
    bucket = _buckets(args).get("database")
    if bucket is None:
        return
    pitr = get(bucket.props, "tags", "pitr") == "enabled"
    if pitr:
        # Point-in-time recovery replays WAL continuously: the recovery point is minutes old.
        return
    worst = 0
    for schedule in _schedules(args, "database"):
        try:
            worst = max(worst, schedule_interval_seconds(str(schedule.props["scheduleExpression"])))
        except ValueError:
            continue
    if worst == 0 or worst > rpo:
        gap = f"{worst // 3600}h" if worst else "an unbounded time"
        report(
            f"the promised RPO is {config['rpo']}, but without point-in-time recovery the newest restorable "
            f"state can be {gap} old (database dumps alone): enable Supabase PITR or dump at least "
            f"every {config['rpo']}",
            bucket.urn,
        )


rpo_achievable = stack_policy(
    "rpo-achievable",
    "The promised recovery point objective (RPO 1h) is achievable by the configured backup mechanism.",
    _validate_rpo,
    schema=stack_schema(
        rpo={"type": "string", "default": DEFAULTS["rpo"]},
        exemptStacks={"type": "array", "items": {"type": "string"}, "default": ["dev"]},
    ),
)


def _public_access_blocked(args: StackValidationArgs, bucket: PolicyResource) -> bool:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return any(all(get(b.props, f) is True for f in flags) for b in _for_bucket(args, PUBLIC_ACCESS_BLOCK, bucket))


def _validate_storage(args: StackValidationArgs, report: ReportViolation) -> None:
    production = stack_name(args) in (args.get_config() or {}).get("productionStacks", ["prod"])
    for kind, bucket in _buckets(args).items():
        what = f"{kind} backup bucket"
        if not any(
            get(v.props, "versioningConfiguration", "status") == "Enabled"
            for v in _for_bucket(args, VERSIONING, bucket)
        ):
            report(f"{what} has no versioning: an overwrite or delete loses the backup", bucket.urn)
        kms = [
            e
            for e in _for_bucket(args, ENCRYPTION, bucket)
            for rule in get(e.props, "rules", default=[]) or []
            if str(get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm", default="")).startswith("aws:kms")
        ]
        if not kms:
            report(f"{what} is not encrypted with KMS", bucket.urn)
        if not _public_access_blocked(args, bucket):
            report(f"{what} does not block all four kinds of public access", bucket.urn)
        policies = _for_bucket(args, BUCKET_POLICY, bucket)
        if not any("aws:SecureTransport" in json.dumps(json.loads(str(p.props["policy"]))) for p in policies):
            report(f"{what} accepts requests without TLS (no TLS-only bucket policy)", bucket.urn)
        if production:
            if get(bucket.props, "objectLockEnabled") is not True or not _for_bucket(args, OBJECT_LOCK, bucket):
                report(f"production {what} has no Object Lock: backups can be deleted before they expire", bucket.urn)
            if not _for_bucket(args, REPLICATION, bucket):
                report(f"production {what} has no cross-region replica (region failover)", bucket.urn)


backup_storage_hardened = stack_policy(
    "backup-storage-hardened",
    "Backup buckets are versioned, KMS-encrypted, private and TLS-only; in production also Object "
    "Locked and replicated to a second region.",
    _validate_storage,
)


def _validate_freshness(args: StackValidationArgs, report: ReportViolation) -> None:
    if _exempt(args):
        return
    config = _config(args)
    slack = duration(config["freshnessSlack"])
    alarms = [a for a in of_type(args.resources, ALARM) if get(a.props, "metricName") == "BackupSucceeded"]
    for kind, bucket in _buckets(args).items():
        mine = [a for a in alarms if get(a.props, "dimensions", "Kind") == kind]
        if not mine:
            report(f"nothing alarms when {kind} backups stop succeeding (no freshness alarm)", bucket.urn)
            continue
        limit = duration(config[f"{kind}Frequency"]) + slack
        for alarm in mine:
            window = int(alarm.props["period"]) * int(alarm.props["evaluationPeriods"])
            if window > limit:
                report(
                    f"{kind} freshness alarm looks back {window // 3600}h; a missed backup must alarm "
                    f"within {limit // 3600}h",
                    alarm.urn,
                )
            if get(alarm.props, "treatMissingData") != "breaching":
                report(
                    f"{kind} freshness alarm treats missing data as "
                    f"{get(alarm.props, 'treatMissingData')!r}: no backup must alarm",
                    alarm.urn,
                )
            if get(alarm.props, "comparisonOperator") not in ("LessThanThreshold", "LessThanOrEqualToThreshold"):
                report(f"{kind} freshness alarm does not fire on too few successful backups", alarm.urn)
            if not len(get(alarm.props, "alarmActions", default=[]) or []):
                report(f"{kind} freshness alarm notifies nobody (no alarm actions)", alarm.urn)


backup_freshness_alarm = stack_policy(
    "backup-freshness-alarm",
    "An alarm fires when the newest successful backup is older than its frequency plus slack (the RPO monitor).",
    _validate_freshness,
    schema=stack_schema(
        freshnessSlack={"type": "string", "default": DEFAULTS["freshnessSlack"]},
        # The alarm window follows the backup frequency, so a stack that relaxes it can say so here too.
        databaseFrequency={"type": "string", "default": DEFAULTS["databaseFrequency"]},
        assetsFrequency={"type": "string", "default": DEFAULTS["assetsFrequency"]},
        exemptStacks={"type": "array", "items": {"type": "string"}, "default": ["dev"]},
    ),
)

CAPACITY_METRICS = {"DatabaseSizeBytes", "RestoreDrillMaxDatabaseBytes"}


def _capacity_metrics(alarm: PolicyResource) -> set[str]:
    queries = get(alarm.props, "metricQueries", default=[]) or []
    return {str(get(query, "metric", "metricName")) for query in queries} & CAPACITY_METRICS


def _validate_capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    config = config_with_defaults(
        args, {"capacityAlarmPercent": DEFAULTS["capacityAlarmPercent"], "productionStacks": ["prod"]}
    )
    if stack_name(args) not in config["productionStacks"]:
        return
    database = _buckets(args).get("database")
    if database is None:
        return  # no database backups: backups-exist-for-every-database says so
    limit = float(config["capacityAlarmPercent"])
    alarms = [a for a in of_type(args.resources, ALARM) if _capacity_metrics(a) == CAPACITY_METRICS]
    if not alarms:
        report(
            "nothing alarms when the database outgrows what the restore drill showed it can restore within its "
            "budget (no alarm comparing DatabaseSizeBytes with RestoreDrillMaxDatabaseBytes)",
            database.urn,
        )
    for alarm in alarms:
        threshold = float(get(alarm.props, "threshold", default=0) or 0)
        if not 0 < threshold <= limit:
            report(
                f"restore-capacity alarm fires at {threshold:g}% of the drill's restore capacity; it must fire by "
                f"{limit:g}% (chefchatz:restoreCapacityAlarmPercent), so the team acts before an incident",
                alarm.urn,
            )
        if get(alarm.props, "comparisonOperator") not in ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold"):
            report("restore-capacity alarm does not fire on a database growing past its threshold", alarm.urn)
        if not len(get(alarm.props, "alarmActions", default=[]) or []):
            report("restore-capacity alarm notifies nobody (no alarm actions)", alarm.urn)


restore_capacity_alarm = stack_policy(
    "restore-capacity-alarm",
    "In production, an alarm fires when the database passes 80% of the largest database the restore drill "
    "restores within its budget (the RTO monitor as the database grows).",
    _validate_capacity,
    schema=stack_schema(
        capacityAlarmPercent={
            "type": "number",
            "default": DEFAULTS["capacityAlarmPercent"],
            "description": "Highest allowed threshold, % of the drill's restore capacity (spec 80)",
        },
    ),
)

POLICIES = [
    backups_exist_for_every_database,
    backup_frequency_and_retention,
    rpo_achievable,
    backup_storage_hardened,
    backup_freshness_alarm,
    restore_capacity_alarm,
]
