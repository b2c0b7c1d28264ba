"""Typed stack settings: the spec's values per stack, and one error naming every bad key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.settings import (
    FIELDS,
    SECRET_KEYS,
    Settings,
    SettingsError,
    database_url_problem,
    fargate_size_problem,
    format_duration,
    load_settings,
    missing_secrets,
    parse_duration,
    parse_percent,
    secret_problems,
    secrets_hint,
    standin_problems,
)
from ops.plan import StackConfigError, load_project, load_stack_config

ROOT = Path(__file__).resolve().parent.parent


def raw_config(stack: str) -> dict[str, str]:
    """The strings the Pulumi CLI would hand the program for a stack (project prefix removed)."""
    config = load_stack_config(load_project(ROOT), stack)
    return {k.split(":", 1)[1]: v for k, v in config.values.items() if k.startswith("chefchatz:")}


def settings_for(stack: str, **overrides: str) -> Settings:
    raw = {k: v for k, v in raw_config(stack).items() if k not in SECRET_KEYS}
    raw.update(overrides)
    return load_settings("chefchatz", stack, raw, "us-east-1")


# --- the spec's values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "url", "database", "debug", "analytics", "ai_limits"),
    [
        ("dev", "dev.chefchatz.com", "chefchatz-dev", True, False, "relaxed"),
        ("staging", "staging.chefchatz.com", "chefchatz-staging", False, True, "production"),
        ("prod", "chefchatz.com", "chefchatz-prod", False, True, "production"),
    ],
)
def test_each_stack_carries_the_spec_environment_interface(stack, url, database, debug, analytics, ai_limits):
    env = settings_for(stack).environment
    assert (env.domain, env.database_name) == (url, database)
    assert (env.features.debug, env.features.analytics, env.features.ai_limits) == (debug, analytics, ai_limits)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shared_spec_values_hold_in_every_stack(stack):
    s = settings_for(stack)
    assert s.release.versioning == "semantic" and s.release.changelog is True
    assert s.release.approvals == ("tech-lead", "product-owner") and s.release.schedule == "bi-weekly"
    assert (s.rollback.error_rate_percent, s.rollback.response_time_ms, s.rollback.failed_transactions_percent) == (
        1.0,
        1000.0,
        0.1,
    )
    assert s.rollback.automatic is True and s.rollback.data_integrity == "preserved" and s.rollback.notifications
    assert (s.health.path, s.health.interval_s, s.health.timeout_s, s.health.unhealthy_threshold) == (
        "/api/health",
        30,
        5,
        2,
    )
    assert (s.performance.apdex, s.performance.p95_ms, s.performance.p99_ms) == (0.99, 200, 500)
    assert (s.performance.error_budget_percent, s.performance.error_budget_window_s) == (0.1, 30 * 86400)
    assert (s.tls.provider, s.tls.auto_renew, s.tls.minimum_version) == ("letsencrypt", True, "TLS1.2")
    assert s.tls.preferred_ciphers == ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256")
    db, assets = s.backups.database, s.backups.assets
    assert (db.frequency_s, db.retention_days, db.type) == (6 * 3600, 30, "incremental")
    assert (assets.frequency_s, assets.retention_days, assets.type) == (24 * 3600, 90, "full")
    dr = s.disaster_recovery
    assert (dr.rpo_s, dr.rto_s) == (3600, 15 * 60)
    assert (dr.database_failover, dr.region_failover, dr.data_reconciliation) == ("automatic", "manual", "automated")


def test_only_prod_owns_the_repository_rules():
    assert settings_for("prod").platform.owns_repository_rules is True
    assert settings_for("dev").platform.owns_repository_rules is False
    assert settings_for("staging").platform.owns_repository_rules is False


def test_stack_files_hold_only_what_differs_from_the_project_defaults():
    declarations = load_project(ROOT).declarations
    for stack in ("dev", "staging", "prod"):
        values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        for key, value in values.items():
            name = key.split(":", 1)[1]
            default = declarations[name].get("default")
            assert value != default, f"Pulumi.{stack}.yaml repeats the project default of {key}: {value!r}"


def test_no_secret_value_is_committed_in_any_stack_file():
    for stack in ("dev", "staging", "prod"):
        text = (ROOT / f"Pulumi.{stack}.yaml").read_text()
        for key in SECRET_KEYS:
            assert f"chefchatz:{key}" not in text, f"Pulumi.{stack}.yaml holds secret {key}"


def test_pulumi_yaml_declares_every_key_the_program_reads_with_type_and_description():
    declarations = load_project(ROOT).declarations
    assert set(declarations) == set(FIELDS) | set(SECRET_KEYS)
    for key, declaration in declarations.items():
        assert declaration.get("type") in ("string", "boolean", "integer", "array"), key
        assert declaration.get("description"), f"{key} has no description"
        if key in SECRET_KEYS:
            assert declaration.get("secret") is True and "default" not in declaration, key


# --- units -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5s", 5),
        ("1000ms", 1),
        ("15m", 900),
        ("1h", 3600),
        ("6h", 21600),
        ("30d", 2592000),
        ("> 1000ms", 1),
    ],
)
def test_durations_are_read_in_the_spec_notation(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "6 hours", "h", "-5s", "1w", ""])
def test_bad_durations_are_rejected_with_the_text(text):
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "value"), [("1%", 1.0), ("0.1%", 0.1), ("> 1%", 1.0), ("100%", 100.0)])
def test_percentages_are_read_in_the_spec_notation(text, value):
    assert parse_percent(text) == value


@pytest.mark.parametrize("text", ["1", "abc%", "101%", "-1%"])
def test_bad_percentages_are_rejected(text):
    with pytest.raises(ValueError):
        parse_percent(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (3600, "1h"), (21600, "6h"), (2592000, "30d"), (0.5, "500ms")]
)
def test_durations_print_back_in_the_spec_notation(seconds, text):
    assert format_duration(seconds) == text


# --- invalid configuration: one error, every bad key ---------------------------------------------------

INVALID = [
    ("environment", "produktion", "environment", "development"),
    ("domain", "Chefchatz.COM", "domain", "DNS hostname"),
    ("domain", "not a host", "domain", "DNS hostname"),
    ("databaseName", "Chefchatz Prod", "databaseName", "must match"),
    ("featureDebug", "yes", "featureDebug", "boolean"),
    ("featureAiLimits", "unlimited", "featureAiLimits", "relaxed"),
    ("nodeVersion", "18", "nodeVersion", "must match"),
    # The Vercel CLI takes a VERCEL_ORG_ID without `team_` as a user id: every deploy would fail.
    ("vercelTeamId", "chefchatz", "vercelTeamId", "starts with 'team_'"),
    ("vercelTeamId", "team_", "vercelTeamId", "Team ID"),
    ("supabaseUrl", "http://chefchatz.supabase.co", "supabaseUrl", "https://"),
    ("releaseApprovals", "tech-lead", "releaseApprovals", "list"),
    ("releaseApprovals", '["Tech Lead"]', "releaseApprovals", "team slug"),
    ("releaseApprovals", '["tech-lead", "tech-lead"]', "releaseApprovals", "twice"),
    ("releaseSchedule", "fortnightly", "releaseSchedule", "bi-weekly"),
    ("rollbackErrorRate", "one percent", "rollbackErrorRate", "percentage"),
    ("rollbackResponseTime", "1000", "rollbackResponseTime", "duration"),
    ("rollbackNotifications", '["pager"]', "rollbackNotifications", "email:ADDRESS"),
    ("healthCheckInterval", "30", "healthCheckInterval", "duration"),
    ("healthCheckUnhealthyThreshold", "two", "healthCheckUnhealthyThreshold", "integer"),
    ("healthCheckUnhealthyThreshold", "0", "healthCheckUnhealthyThreshold", "greater than or equal to 1"),
    ("sloApdex", "1.5", "sloApdex", "less than or equal to 1"),
    ("tlsMinimumVersion", "TLS1.0", "tlsMinimumVersion", "TLS1.2"),
    ("tlsMinimumVersion", "TLS1.3", "tlsMinimumVersion", "cannot turn TLS 1.2 off"),
    ("tlsPreferredCiphers", '["rc4 md5"]', "tlsPreferredCiphers", "cipher suite"),
    ("backupDatabaseFrequency", "often", "backupDatabaseFrequency", "duration"),
    ("backupDatabaseType", "differential", "backupDatabaseType", "incremental"),
    ("backupReplicaRegion", "mars-1", "backupReplicaRegion", "must match"),
    ("drDatabaseFailover", "sometimes", "drDatabaseFailover", "automatic"),
    ("drRto", "quick", "drRto", "duration"),
    ("rolloutStages", "[5, 25, 50]", "rolloutStages", "ending at 100"),
    ("rolloutStages", "[50, 25, 100]", "rolloutStages", "strictly increasing"),
    ("rolloutStages", '["5%", "100%"]', "rolloutStages", "list of integers"),
    ("rolloutStepDuration", "30s", "rolloutStepDuration", "greater than or equal to 60"),
]


@pytest.mark.parametrize(("key", "value", "named", "hint"), INVALID, ids=[f"{k}={v}" for k, v, _, _ in INVALID])
def test_invalid_value_error_names_the_key_the_stack_and_the_allowed_values(key, value, named, hint):
    with pytest.raises(SettingsError) as caught:
        settings_for("prod", **{key: value})
    message = str(caught.value)
    assert "stack 'prod'" in message
    assert f"chefchatz:{named}" in message, message
    assert hint in message, message


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        settings_for("staging", environment="qa", featureDebug="maybe", sloP95="fast", backupAssetsType="zip")
    assert len(caught.value.problems) == 4
    for key in ("environment", "featureDebug", "sloP95", "backupAssetsType"):
        assert f"chefchatz:{key}" in str(caught.value)


def test_cross_field_checks_name_both_keys():
    with pytest.raises(SettingsError, match=r"healthCheckTimeout \(30s\) must be shorter than healthCheckInterval"):
        settings_for("prod", healthCheckTimeout="30s")
    with pytest.raises(SettingsError, match=r"sloP95 \(900ms\) cannot be above sloP99 \(500ms\)"):
        settings_for("prod", sloP95="900ms")


def test_the_supabase_url_must_belong_to_the_project_ref():
    with pytest.raises(SettingsError, match=r"supabaseUrl \(https://other\w+\.supabase\.co\) is not the URL"):
        settings_for("prod", supabaseUrl="https://otherprojectref0000000.supabase.co")
    with pytest.raises(SettingsError, match="chefchatz:supabaseProjectRef"):
        settings_for("prod", supabaseProjectRef="chefchatz-prod")


def test_the_committed_stand_ins_are_named_so_pulumi_up_refuses_them():
    problems = standin_problems(settings_for("prod"))
    assert [p.split(":")[1] for p in problems] == ["vercelTeamId", "backupImage"], problems
    real = settings_for(
        "prod",
        vercelTeamId="team_a1B2c3D4e5F6g7H8i9J0k1L2",
        backupImage="ghcr.io/chefchatz/chefchatz-infra:0.1.0@sha256:" + "ab" * 32,
    )
    assert standin_problems(real) == []


def test_a_vercel_team_id_is_accepted():
    settings = settings_for("prod", vercelTeamId="team_a1B2c3D4e5F6g7H8i9J0k1L2")
    assert settings.platform.vercel_team_id == "team_a1B2c3D4e5F6g7H8i9J0k1L2"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:pw@db.chefchatzprodproject.supabase.co:5432/postgres",
        "postgres://postgres:pw@db.chefchatzprodproject.supabase.co/postgres?sslmode=require",
    ],
)
def test_supabases_ipv6_only_direct_connection_is_refused_without_echoing_the_password(url):
    problem = database_url_problem(url)
    assert problem is not None and "chefchatz:databaseUrl" in problem and "session pooler" in problem
    assert "postgres.chefchatzprodproject" in problem and "pw" not in problem.replace("password", "")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres.chefchatzprodproject:pw@aws-0-us-east-1.pooler.supabase.com:5432/postgres",
        "postgresql://app:pw@10.0.0.5:5432/chefchatz",
        "[offline placeholder for secret chefchatz:databaseUrl]",
        "",
    ],
)
def test_ipv4_reachable_database_urls_pass(url):
    assert database_url_problem(url) is None


def test_prod_rolls_out_in_stages_and_other_stacks_deploy_at_once():
    assert (settings_for("prod").rollout.stages, settings_for("prod").rollout.step_s) == ((5, 25, 50, 100), 600.0)
    assert settings_for("dev").rollout.stages == () and settings_for("staging").rollout.stages == ()


def test_a_rollout_needs_the_slo_drain_that_judges_it():
    with pytest.raises(SettingsError, match="chefchatz:rolloutStages needs chefchatz:sloDrainEnabled"):
        settings_for("prod", sloDrainEnabled="false")


def test_the_stack_owning_the_rules_needs_the_release_app():
    with pytest.raises(SettingsError, match="chefchatz:releaseAppClientId must be set in the stack that owns"):
        settings_for("prod", releaseAppClientId="")


def test_missing_and_unknown_keys_are_reported():
    raw = {k: v for k, v in raw_config("dev").items() if k not in SECRET_KEYS and k != "domain"}
    raw["domian"] = "dev.chefchatz.com"
    with pytest.raises(SettingsError) as caught:
        load_settings("chefchatz", "dev", raw, "us-east-1")
    assert "chefchatz:domain: missing" in str(caught.value)
    assert "chefchatz:domian: unknown key" in str(caught.value)


def test_missing_secrets_error_lists_every_key_and_the_command_that_fixes_it():
    missing = missing_secrets({"openaiApiKey"})
    assert "openaiApiKey" not in missing and len(missing) == len(SECRET_KEYS) - 1
    error = SettingsError("prod", secret_problems(missing), secrets_hint("prod", missing))
    for key in missing:
        assert f"pulumi config set --secret --stack prod chefchatz:{key} '<value>'" in str(error)
    assert "Pulumi ESC" in str(error)


def test_a_stack_file_with_a_plain_text_secret_or_an_undeclared_key_is_refused(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    with (tmp_path / "Pulumi.dev.yaml").open("a") as handle:
        handle.write("  chefchatz:openaiApiKey: sk-live-plaintext\n  chefchatz:featureDebg: true\n")
    with pytest.raises(StackConfigError) as caught:
        load_stack_config(load_project(tmp_path), "dev")
    assert "chefchatz:openaiApiKey: is a secret but is stored in plain text" in str(caught.value)
    assert "chefchatz:featureDebg: not declared in Pulumi.yaml" in str(caught.value)
    assert "sk-live-plaintext" not in str(caught.value)


def test_a_wrongly_typed_value_is_refused_like_the_cli_does(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    text = (tmp_path / "Pulumi.dev.yaml").read_text().replace("featureDebug: true", "featureDebug: 'on'")
    (tmp_path / "Pulumi.dev.yaml").write_text(text)
    with pytest.raises(StackConfigError, match=r"chefchatz:featureDebug: expected boolean, got 'on'"):
        load_stack_config(load_project(tmp_path), "dev")


# --- the restore host ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpu", "memory", "problem"),
    [
        (2048, 8192, None),
        (1024, 2048, None),
        (4096, 30720, None),
        (16384, 122880, None),
        (2048, 2048, "2048 MiB is not a Fargate memory size for 2048 CPU units (allowed: 4096-16384 MiB)"),
        (8192, 18432, "18432 MiB is not a Fargate memory size for 8192 CPU units (allowed: 16384-61440 MiB)"),
        (3072, 8192, "3072 CPU units is not a Fargate size"),
    ],
)
def test_the_restore_host_must_be_a_fargate_size(cpu: int, memory: int, problem: str | None) -> None:
    found = fargate_size_problem(cpu, memory)
    assert found == problem if problem is None else found is not None and found.startswith(problem), found


def test_the_restore_host_and_capacity_alarm_come_from_stack_config_with_every_bad_key_named() -> None:
    settings = settings_for("prod")
    assert (settings.backups.restore_task.cpu, settings.backups.restore_task.memory) == (2048, 8192)
    assert (settings.backups.restore_task.storage_gib, settings.backups.capacity_alarm_percent) == (100, 80)
    with pytest.raises(SettingsError) as caught:
        settings_for("prod", restoreTaskStorage="500", restoreCapacityAlarmPercent="120")
    assert [p.split(":")[1] for p in caught.value.problems] == ["restoreTaskStorage", "restoreCapacityAlarmPercent"]
    with pytest.raises(SettingsError) as caught:
        settings_for("prod", restoreTaskMemory="2048")
    assert caught.value.problems == [
        "chefchatz:restoreTaskCpu and chefchatz:restoreTaskMemory: 2048 MiB is not a Fargate memory size for "
        "2048 CPU units (allowed: 4096-16384 MiB)"
    ]
