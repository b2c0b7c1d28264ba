"""Backup rules: every database is backed up (database and assets), as often and as long as the spec
says (6h/30d, 24h/90d), the promised RPO is achievable by the mechanism configured, the storage is
hardened, and a freshness alarm watches it; plus the schedule reader, table-tested."""

from __future__ import annotations

from typing import Any

import pytest
from policy_harness import (
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    Findings,
    config_for,
    run_stack_policy,
)
from pulumi_policy import StackValidationPolicy
from resource_shapes import DELETE, StackPlan, database_backups_plan, web_plan

from policies.backups import (
    backup_frequency_and_retention,
    backup_freshness_alarm,
    backup_storage_hardened,
    backups_exist_for_every_database,
    restore_capacity_alarm,
    rpo_achievable,
    schedule_interval_seconds,
)

PREFIX = "chefchatz-prod-backups"
DB = {
    part: f"{PREFIX}-database-{part}"
    for part in (
        "bucket",
        "lifecycle",
        "schedule",
        "freshness",
        "versioning",
        "encryption",
        "public-access-block",
        "tls-only",
        "object-lock",
        "replication",
    )
}
ASSETS = {part: name.replace("-database-", "-assets-") for part, name in DB.items()}
DATABASE_VARIABLE = "chefchatz-prod-web-env-database-url"


def run(policy: StackValidationPolicy, plan: StackPlan, **config: Any) -> Findings:
    return run_stack_policy(policy, plan.resources(), config_for(policy, **config))


# --- schedule_interval_seconds (pure) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(30 minutes)", 1800),
        ("rate(1 hour)", 3600),
        ("rate(6 hours)", 21600),
        ("rate(1 day)", 86400),
        ("rate(2 days)", 172800),
        (" rate(6 hours) ", 21600),
        ("cron(0 * * * ? *)", 3600),
        ("cron(0 */6 * * ? *)", 21600),
        ("cron(15 0/6 * * ? *)", 21600),
        ("cron(0 */12 * * ? *)", 43200),
        ("cron(0 3 * * ? *)", 86400),
        ("cron(30 3 * * ? *)", 86400),
        ("cron(0 3 ? * * *)", 86400),
        ("cron(0 0,12 * * ? *)", 43200),
        ("cron(0 2,8,14,20 * * ? *)", 21600),
        ("cron(0 1,2,20 * * ? *)", 64800),
    ],
)
def test_schedule_interval_is_the_longest_gap_between_runs(expression: str, seconds: int) -> None:
    assert schedule_interval_seconds(expression) == seconds, expression


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("at(2026-12-01T03:00:00)", "is not a repeating rate(...) or cron(...) expression"),
        ("rate(1 week)", "is not a repeating rate(...) or cron(...) expression"),
        ("cron(0 3 * * ?)", "is not a repeating rate(...) or cron(...) expression"),
        ("0 */6 * * *", "is not a repeating rate(...) or cron(...) expression"),
        ("cron(*/5 * * * ? *)", "only daily or hourly-step crons are understood"),
        ("cron(0 3 ? * MON *)", "only daily or hourly-step crons are understood"),
        ("cron(0 3 * 1 ? *)", "only daily or hourly-step crons are understood"),
        ("cron(0 3 1 * ? *)", "does not run every day"),
        ("cron(0 */5 * * ? *)", "hour field '*/5' is not understood"),
        ("cron(0 6/6 * * ? *)", "hour field '6/6' is not understood"),
        ("cron(0 8-20 * * ? *)", "hour field '8-20' is not understood"),
    ],
)
def test_schedules_that_cannot_be_bounded_are_errors_naming_the_expression(expression: str, error: str) -> None:
    with pytest.raises(ValueError, match=r"is not|only|does not") as raised:
        schedule_interval_seconds(expression)
    assert error in str(raised.value) and repr(expression.strip()) in str(raised.value), str(raised.value)


# --- backups-exist-for-every-database --------------------------------------------------------------


def test_stack_with_a_database_has_scheduled_backups_with_retention(prod_backups: StackPlan) -> None:
    assert run(backups_exist_for_every_database, prod_backups) == []
    assert run(backups_exist_for_every_database, database_backups_plan("staging")) == []


def test_stack_without_a_database_needs_no_backups() -> None:
    plan = web_plan("staging").drop("chefchatz-staging-web-env-database-url")
    assert run(backups_exist_for_every_database, plan) == []


@pytest.mark.parametrize("kind", ["database", "assets"])
def test_database_without_a_backup_bucket_is_refused(prod_backups: StackPlan, kind: str) -> None:
    prod_backups.drop(f"{PREFIX}-{kind}-bucket")
    run(backups_exist_for_every_database, prod_backups).expect(
        f"stack 'prod' has a database but no {kind} backup bucket", on=None
    )


def test_database_with_no_backups_at_all_names_both_kinds() -> None:
    plan = web_plan("prod")
    findings = run(backups_exist_for_every_database, plan)
    assert findings.messages() == [
        "stack 'prod' has a database but no database backup bucket",
        "stack 'prod' has a database but no assets backup bucket",
    ]


@pytest.mark.parametrize("names", [DB, ASSETS], ids=["database", "assets"])
def test_backup_bucket_without_a_schedule_is_refused(prod_backups: StackPlan, names: dict[str, str]) -> None:
    prod_backups.drop(names["schedule"])
    kind = "database" if names is DB else "assets"
    run(backups_exist_for_every_database, prod_backups).expect(
        f"{kind} backups have a bucket but no schedule runs them", on=prod_backups.urn_of(names["bucket"])
    )


def test_schedule_is_matched_to_its_kind_by_name(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["schedule"], "name", "chefchatz-prod-backup-db")
    run(backups_exist_for_every_database, prod_backups).expect("database backups have a bucket but no schedule")


@pytest.mark.parametrize("names", [DB, ASSETS], ids=["database", "assets"])
def test_backup_bucket_without_lifecycle_does_not_enforce_retention(
    prod_backups: StackPlan, names: dict[str, str]
) -> None:
    prod_backups.drop(names["lifecycle"])
    run(backups_exist_for_every_database, prod_backups).expect(
        "backups have no lifecycle rule: retention is not enforced", on=prod_backups.urn_of(names["bucket"])
    )


def test_lifecycle_of_another_bucket_does_not_count(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["lifecycle"], "bucket", "chefchatz-prod-database-backups-replica")
    run(backups_exist_for_every_database, prod_backups).expect("database backups have no lifecycle rule")


def test_dev_is_exempt_from_backups_by_default() -> None:
    plan = web_plan("dev")
    assert run(backups_exist_for_every_database, plan) == []
    run(backups_exist_for_every_database, plan, exemptStacks=[]).expect(
        "stack 'dev' has a database but no database backup bucket"
    )
    staging = web_plan("staging")
    assert run(backups_exist_for_every_database, staging, exemptStacks=["dev", "staging"]) == []


@pytest.mark.parametrize(
    ("name", "path", "unknown"),
    [
        (DATABASE_VARIABLE, "key", UNKNOWN_STRING_VALUE),
        (DB["bucket"], "tags", UNKNOWN_OBJECT_VALUE),
        (DB["bucket"], "tags.backup-kind", UNKNOWN_STRING_VALUE),
        (DB["bucket"], "bucket", UNKNOWN_STRING_VALUE),
        (DB["lifecycle"], "bucket", UNKNOWN_STRING_VALUE),
        (DB["schedule"], "name", UNKNOWN_STRING_VALUE),
    ],
)
def test_backup_presence_unknown_at_preview_is_reported(
    prod_backups: StackPlan, name: str, path: str, unknown: str
) -> None:
    prod_backups.set(name, path, unknown)
    run(backups_exist_for_every_database, prod_backups).expect_unverifiable(path=path)


# --- backup-frequency-and-retention ---------------------------------------------------------------


def test_prod_backups_run_every_6h_and_24h_and_keep_30_and_90_days(prod_backups: StackPlan) -> None:
    assert run(backup_frequency_and_retention, prod_backups) == []


def test_prod_backups_keep_database_dumps_30_days(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["lifecycle"], "rules.0.expiration.days", 7)
    run(backup_frequency_and_retention, prod_backups).expect(
        "database backups expire after 7 days; the spec keeps them 30d", on=prod_backups.urn_of(DB["lifecycle"])
    )


def test_prod_backups_keep_assets_90_days(prod_backups: StackPlan) -> None:
    prod_backups.set(ASSETS["lifecycle"], "rules.0.expiration.days", 30)
    run(backup_frequency_and_retention, prod_backups).expect(
        "assets backups expire after 30 days; the spec keeps them 90d", on=prod_backups.urn_of(ASSETS["lifecycle"])
    )


def test_retention_days_arrive_as_floats(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["lifecycle"], "rules.0.expiration.days", 30.0)
    assert run(backup_frequency_and_retention, prod_backups) == []


def test_shortest_enabled_expiration_rule_decides_retention_whatever_its_prefix(prod_backups: StackPlan) -> None:
    """Conservative: prefixes are not modelled, so a short rule for `tmp/` counts against retention."""
    rules = prod_backups[DB["lifecycle"]].props["rules"]
    rules.append({"id": "tmp", "status": "Enabled", "filter": {"prefix": "tmp/"}, "expiration": {"days": 1}})
    rules.append({"id": "old", "status": "Disabled", "filter": {"prefix": ""}, "expiration": {"days": 2}})
    run(backup_frequency_and_retention, prod_backups).expect("database backups expire after 1 days")


def test_database_dumps_less_often_than_6h_are_refused(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["schedule"], "scheduleExpression", "cron(0 */12 * * ? *)")
    run(backup_frequency_and_retention, prod_backups).expect(
        "database backups run every 12h (cron(0 */12 * * ? *)); the spec needs at least every 6h",
        on=prod_backups.urn_of(DB["schedule"]),
    )


def test_asset_backups_less_often_than_daily_are_refused(prod_backups: StackPlan) -> None:
    prod_backups.set(ASSETS["schedule"], "scheduleExpression", "rate(2 days)")
    run(backup_frequency_and_retention, prod_backups).expect(
        "assets backups run every 48h (rate(2 days)); the spec needs at least every 24h"
    )


def test_disabled_backup_schedule_is_refused(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["schedule"], "state", "DISABLED")
    run(backup_frequency_and_retention, prod_backups).expect(
        "database backup schedule is DISABLED", on=prod_backups.urn_of(DB["schedule"])
    )


def test_one_off_backup_schedule_is_refused(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["schedule"], "scheduleExpression", "at(2026-12-01T03:00:00)")
    run(backup_frequency_and_retention, prod_backups).expect(
        "database backup schedule: 'at(2026-12-01T03:00:00)' is not a repeating", on=prod_backups.urn_of(DB["schedule"])
    )


def test_frequency_and_retention_are_configurable(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["schedule"], "scheduleExpression", "cron(0 */12 * * ? *)")
    prod_backups.set(DB["lifecycle"], "rules.0.expiration.days", 14)
    assert run(backup_frequency_and_retention, prod_backups, databaseFrequency="12h", databaseRetention="14d") == []


def test_dev_backups_keep_the_spec_numbers_unless_the_pack_config_exempts_dev() -> None:
    plan = database_backups_plan("dev").set(
        "chefchatz-dev-backups-database-schedule", "scheduleExpression", "rate(7 days)"
    )
    finding = run(backup_frequency_and_retention, plan).expect("database backups run every 168h")
    assert "chefchatz:backupDatabaseFrequency" in finding.message
    assert run(backup_frequency_and_retention, plan, exemptStacks=["dev"]) == []


@pytest.mark.parametrize(
    ("name", "path", "unknown"),
    [
        (DB["schedule"], "scheduleExpression", UNKNOWN_STRING_VALUE),
        (DB["schedule"], "state", UNKNOWN_STRING_VALUE),
        (DB["lifecycle"], "rules.0.expiration.days", UNKNOWN_NUMBER_VALUE),
        (DB["lifecycle"], "rules.0.status", UNKNOWN_STRING_VALUE),
    ],
)
def test_backup_frequency_unknown_at_preview_is_reported(
    prod_backups: StackPlan, name: str, path: str, unknown: str
) -> None:
    prod_backups.set(name, path, unknown)
    run(backup_frequency_and_retention, prod_backups).expect_unverifiable(path=path)


# --- rpo-achievable --------------------------------------------------------------------------------


def test_point_in_time_recovery_meets_rpo_1h(prod_backups: StackPlan) -> None:
    assert run(rpo_achievable, prod_backups) == []


def test_six_hourly_dumps_alone_cannot_meet_rpo_1h() -> None:
    plan = database_backups_plan("prod", pitr=False)
    finding = run(rpo_achievable, plan).expect(
        "the promised RPO is 1h, but without point-in-time recovery the newest restorable state can be 6h old",
        on=plan.urn_of(DB["bucket"]),
    )
    assert "enable Supabase PITR or dump at least every 1h" in finding.message


def test_hourly_dumps_without_pitr_meet_rpo_1h() -> None:
    plan = database_backups_plan("prod", pitr=False).set(DB["schedule"], "scheduleExpression", "cron(0 * * * ? *)")
    assert run(rpo_achievable, plan) == []


def test_missing_pitr_tag_means_no_point_in_time_recovery(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["bucket"], "tags.pitr", DELETE)
    run(rpo_achievable, prod_backups).expect("can be 6h old")


@pytest.mark.parametrize("change", ["drop", "at(2026-12-01T03:00:00)"], ids=["no-schedule", "one-off-schedule"])
def test_without_pitr_or_a_bounded_schedule_the_recovery_point_is_unbounded(change: str) -> None:
    plan = database_backups_plan("prod", pitr=False)
    if change == "drop":
        plan.drop(DB["schedule"])
    else:
        plan.set(DB["schedule"], "scheduleExpression", change)
    run(rpo_achievable, plan).expect("the newest restorable state can be an unbounded time old")


def test_promised_rpo_is_configurable() -> None:
    assert run(rpo_achievable, database_backups_plan("prod", pitr=False), rpo="6h") == []


def test_dev_is_exempt_from_the_rpo() -> None:
    plan = database_backups_plan("dev", pitr=False)
    assert run(rpo_achievable, plan) == []
    run(rpo_achievable, plan, exemptStacks=[]).expect("can be 6h old")


def test_rpo_without_a_database_bucket_is_left_to_backups_exist(prod_backups: StackPlan) -> None:
    prod_backups.drop(DB["bucket"])
    assert run(rpo_achievable, prod_backups) == []


@pytest.mark.parametrize(
    ("pitr", "path", "unknown"),
    [(True, "tags.pitr", UNKNOWN_STRING_VALUE), (False, "scheduleExpression", UNKNOWN_STRING_VALUE)],
)
def test_rpo_mechanism_unknown_at_preview_is_reported(pitr: bool, path: str, unknown: str) -> None:
    plan = database_backups_plan("prod", pitr=pitr)
    plan.set(DB["bucket"] if path.startswith("tags") else DB["schedule"], path, unknown)
    run(rpo_achievable, plan).expect_unverifiable(path=path)


# --- backup-storage-hardened -----------------------------------------------------------------------


def test_backup_buckets_are_versioned_encrypted_private_tls_only_locked_and_replicated(
    prod_backups: StackPlan,
) -> None:
    assert run(backup_storage_hardened, prod_backups) == []


def test_backup_buckets_outside_production_need_no_lock_or_replica() -> None:
    assert run(backup_storage_hardened, database_backups_plan("staging")) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("drop", DB["versioning"]), "database backup bucket has no versioning"),
        ((DB["versioning"], "versioningConfiguration.status", "Suspended"), "database backup bucket has no versioning"),
        ((DB["versioning"], "bucket", "some-other-bucket"), "database backup bucket has no versioning"),
        (("drop", DB["encryption"]), "database backup bucket is not encrypted with KMS"),
        (
            (DB["encryption"], "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"),
            "database backup bucket is not encrypted with KMS",
        ),
        (("drop", DB["public-access-block"]), "does not block all four kinds of public access"),
        ((DB["public-access-block"], "restrictPublicBuckets", False), "does not block all four kinds of public access"),
        ((DB["public-access-block"], "ignorePublicAcls", DELETE), "does not block all four kinds of public access"),
        (("drop", DB["tls-only"]), "accepts requests without TLS (no TLS-only bucket policy)"),
        ((DB["tls-only"], "policy", '{"Statement": []}'), "accepts requests without TLS"),
        ((DB["bucket"], "objectLockEnabled", False), "production database backup bucket has no Object Lock"),
        (("drop", DB["object-lock"]), "production database backup bucket has no Object Lock"),
        (("drop", DB["replication"]), "production database backup bucket has no cross-region replica"),
        (("drop", ASSETS["replication"]), "production assets backup bucket has no cross-region replica"),
    ],
)
def test_each_missing_hardening_of_backup_storage_is_named(
    prod_backups: StackPlan, change: tuple[str, ...], problem: str
) -> None:
    if change[0] == "drop":
        prod_backups.drop(change[1])
    else:
        name, path, value = change
        prod_backups.set(name, path, value)
    kind = "assets" if "assets" in problem else "database"
    findings = run(backup_storage_hardened, prod_backups)
    findings.expect(problem, on=prod_backups.urn_of(f"{PREFIX}-{kind}-bucket"))
    assert len(findings) == 1, findings


def test_stacks_held_to_production_storage_rules_are_configurable() -> None:
    findings = run(backup_storage_hardened, database_backups_plan("staging"), productionStacks=["prod", "staging"])
    assert sorted(set(findings.messages())) == [
        "production assets backup bucket has no Object Lock: backups can be deleted before they expire",
        "production assets backup bucket has no cross-region replica (region failover)",
        "production database backup bucket has no Object Lock: backups can be deleted before they expire",
        "production database backup bucket has no cross-region replica (region failover)",
    ]


@pytest.mark.parametrize(
    ("name", "path", "unknown"),
    [
        (DB["versioning"], "versioningConfiguration.status", UNKNOWN_STRING_VALUE),
        (DB["encryption"], "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", UNKNOWN_STRING_VALUE),
        (DB["public-access-block"], "blockPublicPolicy", UNKNOWN_STRING_VALUE),
        (DB["tls-only"], "policy", UNKNOWN_STRING_VALUE),
        (DB["bucket"], "objectLockEnabled", UNKNOWN_STRING_VALUE),
        (DB["replication"], "bucket", UNKNOWN_STRING_VALUE),
    ],
)
def test_backup_storage_unknown_at_preview_is_reported(
    prod_backups: StackPlan, name: str, path: str, unknown: str
) -> None:
    prod_backups.set(name, path, unknown)
    run(backup_storage_hardened, prod_backups).expect_unverifiable(path=path)


# --- backup-freshness-alarm -----------------------------------------------------------------------


def test_missed_backups_alarm_within_frequency_plus_one_hour(prod_backups: StackPlan) -> None:
    assert run(backup_freshness_alarm, prod_backups) == []


def test_alarm_periods_arrive_as_floats(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["freshness"], "period", 3600.0).set(DB["freshness"], "evaluationPeriods", 7.0)
    assert run(backup_freshness_alarm, prod_backups) == []


@pytest.mark.parametrize("names", [DB, ASSETS], ids=["database", "assets"])
def test_backups_without_a_freshness_alarm_are_refused(prod_backups: StackPlan, names: dict[str, str]) -> None:
    prod_backups.drop(names["freshness"])
    kind = "database" if names is DB else "assets"
    run(backup_freshness_alarm, prod_backups).expect(
        f"nothing alarms when {kind} backups stop succeeding", on=prod_backups.urn_of(names["bucket"])
    )


def test_alarm_on_another_metric_or_kind_is_no_freshness_alarm(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["freshness"], "metricName", "BackupFailed")
    prod_backups.set(ASSETS["freshness"], "dimensions.Kind", "database")
    findings = run(backup_freshness_alarm, prod_backups)
    findings.expect("nothing alarms when assets backups stop succeeding")
    assert not findings.with_text("nothing alarms when database"), "the assets alarm now watches the database"


def test_freshness_alarm_looking_back_too_long_is_refused(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["freshness"], "evaluationPeriods", 8)
    run(backup_freshness_alarm, prod_backups).expect(
        "database freshness alarm looks back 8h; a missed backup must alarm within 7h",
        on=prod_backups.urn_of(DB["freshness"]),
    )


@pytest.mark.parametrize("treatment", ["notBreaching", "missing", "ignore", DELETE])
def test_missing_backup_data_must_alarm(prod_backups: StackPlan, treatment: object) -> None:
    prod_backups.set(DB["freshness"], "treatMissingData", treatment)
    run(backup_freshness_alarm, prod_backups).expect(
        "database freshness alarm treats missing data as", on=prod_backups.urn_of(DB["freshness"])
    )


@pytest.mark.parametrize("actions", [[], DELETE])
def test_a_freshness_alarm_that_notifies_nobody_is_refused(prod_backups: StackPlan, actions: object) -> None:
    prod_backups.set(DB["freshness"], "alarmActions", actions)
    run(backup_freshness_alarm, prod_backups).expect(
        "database freshness alarm notifies nobody", on=prod_backups.urn_of(DB["freshness"])
    )


@pytest.mark.parametrize("operator", ["GreaterThanThreshold", "GreaterThanOrEqualToThreshold", DELETE])
def test_a_freshness_alarm_must_fire_on_too_few_backups(prod_backups: StackPlan, operator: object) -> None:
    prod_backups.set(DB["freshness"], "comparisonOperator", operator)
    run(backup_freshness_alarm, prod_backups).expect(
        "database freshness alarm does not fire on too few successful backups", on=prod_backups.urn_of(DB["freshness"])
    )


def test_freshness_slack_is_configurable(prod_backups: StackPlan) -> None:
    prod_backups.set(DB["freshness"], "evaluationPeriods", 8)
    assert run(backup_freshness_alarm, prod_backups, freshnessSlack="2h") == []


def test_freshness_alarm_follows_a_relaxed_backup_frequency(prod_backups: StackPlan) -> None:
    """A stack allowed 12-hourly dumps (backup-frequency-and-retention) alarms after 13h, not 7h."""
    prod_backups.set(DB["freshness"], "evaluationPeriods", 13)
    run(backup_freshness_alarm, prod_backups).expect("looks back 13h; a missed backup must alarm within 7h")
    assert run(backup_freshness_alarm, prod_backups, databaseFrequency="12h") == []


def test_dev_is_exempt_from_freshness_alarms() -> None:
    plan = database_backups_plan("dev").drop("chefchatz-dev-backups-database-freshness")
    assert run(backup_freshness_alarm, plan) == []
    run(backup_freshness_alarm, plan, exemptStacks=[]).expect("nothing alarms when database backups")


def test_unknown_health_check_ids_of_other_alarms_do_not_trip_freshness(prod: StackPlan) -> None:
    """Monitoring alarms carry unknown dimensions in a first preview; only backup alarms are read."""
    assert run(backup_freshness_alarm, prod) == []


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("metricName", UNKNOWN_STRING_VALUE),
        ("dimensions", UNKNOWN_OBJECT_VALUE),
        ("dimensions.Kind", UNKNOWN_STRING_VALUE),
        ("period", UNKNOWN_NUMBER_VALUE),
        ("evaluationPeriods", UNKNOWN_NUMBER_VALUE),
        ("treatMissingData", UNKNOWN_STRING_VALUE),
    ],
)
def test_freshness_alarm_unknown_at_preview_is_reported(prod_backups: StackPlan, path: str, unknown: str) -> None:
    prod_backups.set(DB["freshness"], path, unknown)
    run(backup_freshness_alarm, prod_backups).expect_unverifiable(path=path)


# --- restore-capacity-alarm -----------------------------------------------------------------------

CAPACITY = f"{PREFIX}-restore-capacity"


def test_production_alarms_at_80_percent_of_the_drills_restore_capacity(prod_backups: StackPlan) -> None:
    assert run(restore_capacity_alarm, prod_backups) == []


def test_production_without_a_restore_capacity_alarm_is_refused(prod_backups: StackPlan) -> None:
    prod_backups.drop(CAPACITY)
    run(restore_capacity_alarm, prod_backups).expect(
        "nothing alarms when the database outgrows what the restore drill", on=prod_backups.urn_of(DB["bucket"])
    )


def test_an_alarm_on_only_one_of_the_two_metrics_is_no_capacity_alarm(prod_backups: StackPlan) -> None:
    prod_backups.set(CAPACITY, "metricQueries.1.metric.metricName", "RestoreDrillSeconds")
    run(restore_capacity_alarm, prod_backups).expect("nothing alarms when the database outgrows")


@pytest.mark.parametrize(("threshold", "refused"), [(80, False), (70, False), (80.5, True), (95, True), (0, True)])
def test_the_capacity_threshold_may_be_tightened_never_loosened(
    prod_backups: StackPlan, threshold: float, refused: bool
) -> None:
    prod_backups.set(CAPACITY, "threshold", threshold)
    findings = run(restore_capacity_alarm, prod_backups)
    if refused:
        findings.expect(f"fires at {threshold:g}% of the drill's restore capacity", on=prod_backups.urn_of(CAPACITY))
    else:
        assert findings == []


def test_the_pack_config_can_move_the_capacity_floor(prod_backups: StackPlan) -> None:
    prod_backups.set(CAPACITY, "threshold", 90)
    assert run(restore_capacity_alarm, prod_backups, capacityAlarmPercent=90) == []


@pytest.mark.parametrize("operator", ["LessThanThreshold", DELETE])
def test_a_capacity_alarm_must_fire_on_growth(prod_backups: StackPlan, operator: object) -> None:
    prod_backups.set(CAPACITY, "comparisonOperator", operator)
    run(restore_capacity_alarm, prod_backups).expect("does not fire on a database growing past its threshold")


@pytest.mark.parametrize("actions", [[], DELETE])
def test_a_capacity_alarm_that_notifies_nobody_is_refused(prod_backups: StackPlan, actions: object) -> None:
    prod_backups.set(CAPACITY, "alarmActions", actions)
    run(restore_capacity_alarm, prod_backups).expect("restore-capacity alarm notifies nobody")


def test_outside_production_no_capacity_alarm_is_required() -> None:
    staging = database_backups_plan("staging")
    staging.drop("chefchatz-staging-backups-restore-capacity")
    assert run(restore_capacity_alarm, staging) == []


@pytest.mark.parametrize(
    ("path", "unknown"),
    [("threshold", UNKNOWN_NUMBER_VALUE), ("comparisonOperator", UNKNOWN_STRING_VALUE)],
)
def test_an_unknown_capacity_alarm_input_is_unverifiable_not_passed(
    prod_backups: StackPlan, path: str, unknown: Any
) -> None:
    prod_backups.set(CAPACITY, path, unknown)
    run(restore_capacity_alarm, prod_backups).expect_unverifiable(path=path)
