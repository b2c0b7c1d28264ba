"""Each sign-off check with passing, failing and missing evidence (evidence in the real commands' shapes)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
import typer
from signoff_evidence import REPO_ROOT, Evidence
from typer.main import get_command

from ops import backup as backuplib
from ops.plan import StackPlan, Violation
from ops.signoff import checks as so
from ops.signoff.cli import registered_commands
from ops.tls import check as tlscheck
from policies.pack import POLICIES

VERIFIED, FAILED, UNVERIFIED = so.Status.VERIFIED, so.Status.FAILED, so.Status.UNVERIFIED


def with_violation(plan: StackPlan, policy: str, enforcement: str = "mandatory") -> StackPlan:
    urn = f"urn:pulumi:{plan.stack}::chefchatz::aws:s3/bucket:Bucket::chefchatz-{plan.stack}-x"
    return dataclasses.replace(plan, violations=[*plan.violations, Violation(policy, enforcement, urn, "broken")])


# --- combining ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([VERIFIED, VERIFIED], VERIFIED),
        ([VERIFIED, UNVERIFIED], UNVERIFIED),
        ([UNVERIFIED, FAILED, VERIFIED], FAILED),
        ([], UNVERIFIED),
    ],
)
def test_an_item_is_as_good_as_its_worst_check(statuses: list[so.Status], expected: so.Status) -> None:
    findings = [so.Finding(s, f"e{n}", "" if s is VERIFIED else f"n{n}") for n, s in enumerate(statuses)]
    result = so.combine(so.SIGNOFF, "Backup system operational", findings)
    assert result.status is expected, result
    assert len(result.needs) == sum(s is not VERIFIED for s in statuses) or not statuses, result


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (dt.timedelta(hours=7), "7h"),
        (dt.timedelta(hours=25), "25h"),
        (dt.timedelta(minutes=15), "15m"),
        (dt.timedelta(minutes=90), "1h30m"),
        (dt.timedelta(0), "0s"),
    ],
)
def test_durations_are_written_as_the_backup_tool_reads_them(delta: dt.timedelta, text: str) -> None:
    assert so.duration_text(delta) == text
    if delta:
        assert backuplib.parse_duration(text) == delta


def test_the_checklist_has_both_spec_lists_with_ten_items_each() -> None:
    spec = (REPO_ROOT / "docs" / "signoff.md").read_text()
    for name in (so.IMPLEMENTATION, so.SIGNOFF):
        items = [item for list_name, item, _ in so.CHECKLIST if list_name == name]
        assert len(items) == 10, (name, items)
        for item in items:
            assert item in spec, f"docs/signoff.md does not document {item!r}"


def test_markdown_quotes_commands_without_nesting_backticks() -> None:
    results = [
        so.combine(so.IMPLEMENTATION, "Production environment ready", [so.failed("x | y", "fix; `chefchatz plan`")]),
        so.combine(so.SIGNOFF, "Backup system operational", [so.unverified("missing a", "chefchatz drill --json")]),
    ]
    text = so.to_markdown("prod", results)
    assert "| Production environment ready | ❌ failed | x \\| y | fix; `chefchatz plan` |" in text
    assert "| Backup system operational | ⚠️ unverified | missing a | `chefchatz drill --json` |" in text
    assert "0/2 verified" in text and "NO PROCEEDING" in text


# --- plan and policies -----------------------------------------------------------------------------------


def test_a_clean_plan_verifies_the_environment(plans: dict[str, StackPlan]) -> None:
    finding = so.check_plan(plans["prod"], "prod")
    assert finding.status is VERIFIED, finding
    evaluated = f"{len(POLICIES)} policies evaluated"
    assert "0 mandatory violations" in finding.evidence and evaluated in finding.evidence


def test_a_mandatory_violation_fails_the_environment(plans: dict[str, StackPlan]) -> None:
    finding = so.check_plan(with_violation(plans["dev"], "https-only"), "dev")
    assert finding.status is FAILED and "https-only" in finding.evidence, finding


def test_a_configuration_error_fails_and_a_missing_stack_is_unverified() -> None:
    broken = StackPlan("staging", config_error="stack 'staging': 1 configuration problem(s):\n  - x")
    assert so.check_plan(broken, "staging").status is FAILED
    missing = so.check_plan(None, "staging")
    assert missing.status is UNVERIFIED and "Pulumi.staging.yaml" in missing.needs


def test_a_disabled_policy_fails_the_plan(plans: dict[str, StackPlan]) -> None:
    fewer = dataclasses.replace(plans["prod"], policies_evaluated=len(POLICIES) - 1)
    finding = so.check_plan(fewer, "prod")
    assert finding.status is FAILED and f"{len(POLICIES) - 1} of {len(POLICIES)}" in finding.evidence, finding


@pytest.mark.parametrize(
    ("stack", "available", "needed"),
    [
        ("prod", ["dev", "prod", "staging"], ["prod", "dev", "staging"]),
        ("staging", ["dev", "prod", "staging"], ["staging", "dev", "prod"]),
        ("dev", ["dev", "staging"], ["dev", "staging"]),
    ],
)
def test_every_signoff_plans_the_three_environments(stack: str, available: list[str], needed: list[str]) -> None:
    assert so.stacks_needed(stack, available) == needed


def test_a_crashing_program_fails_every_plan_item(tmp_path: Path) -> None:
    def crashing(project_dir: Path, stacks: list[str]) -> list[StackPlan]:
        raise RuntimeError("offline run of stack 'prod' failed (exit 1):\nTypeError: boom")

    inputs = so.gather(REPO_ROOT, "prod", tmp_path, {}, planner=crashing)
    results = {r.item: r for r in so.evaluate(inputs) if r.list_name == so.IMPLEMENTATION}
    for item in ("Development environment configured", "Production environment ready", "Backup strategy implemented"):
        assert results[item].status is FAILED, results[item]
        assert "offline run of stack 'prod' failed" in results[item].evidence[0], results[item]


def test_unreadable_stack_settings_fail_the_backup_items(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    with (tmp_path / "Pulumi.prod.yaml").open("a") as handle:
        handle.write("  chefchatz:drRtoo: 15m\n")

    def config_error(project_dir: Path, stacks: list[str]) -> list[StackPlan]:
        return [StackPlan(s, config_error=f"stack '{s}': configuration problem") for s in stacks]

    inputs = so.gather(tmp_path, "prod", tmp_path / "evidence", {}, planner=config_error)
    assert inputs.settings is None and "chefchatz:drRtoo" in (inputs.settings_error or "")
    results = {r.item: r for r in so.evaluate(inputs) if r.list_name == so.SIGNOFF}
    backups = results["Backup system operational"]
    assert backups.status is FAILED and any("settings unreadable" in e for e in backups.evidence), backups


def test_backup_policies_pass_on_prod_and_a_backup_violation_fails_them(plans: dict[str, StackPlan]) -> None:
    assert so.check_policies(plans["prod"], "prod", so.BACKUP_POLICIES, "backups").status is VERIFIED
    broken = with_violation(plans["prod"], "rpo-achievable")
    finding = so.check_policies(broken, "prod", so.BACKUP_POLICIES, "backups")
    assert finding.status is FAILED and "rpo-achievable" in finding.evidence, finding
    # Another area's violation does not fail the backups item.
    other = with_violation(plans["prod"], "https-only")
    assert so.check_policies(other, "prod", so.BACKUP_POLICIES, "backups").status is VERIFIED


def test_advisory_findings_count_only_where_any_enforcement_is_asked(plans: dict[str, StackPlan]) -> None:
    advisory = with_violation(plans["prod"], "secret-values-not-plain", "advisory")
    assert so.check_policies(advisory, "prod", so.SECRET_POLICIES, "secrets").status is VERIFIED
    strict = so.check_policies(advisory, "prod", so.SECURITY_POLICIES, "security", any_enforcement=True)
    assert strict.status is FAILED and "[advisory]" in strict.evidence, strict


@pytest.mark.parametrize(
    ("ago", "status", "text"),
    [
        (dt.timedelta(hours=1), VERIFIED, "x"),
        (dt.timedelta(days=7, seconds=1), UNVERIFIED, "x: older than 7d"),
        (dt.timedelta(minutes=-3), VERIFIED, "x"),
        (dt.timedelta(hours=-2), FAILED, "x: dated 2h in the future"),
    ],
)
def test_evidence_must_be_recent_and_not_from_the_future(ago: dt.timedelta, status: so.Status, text: str) -> None:
    now = dt.datetime(2026, 11, 27, 6, 0, tzinfo=dt.UTC)
    finding = so.fresh("x", now - ago, now, dt.timedelta(days=7), "redo it")
    assert (finding.status, finding.evidence) == (status, text)
    assert finding.needs == ("" if status is VERIFIED else "redo it")


def test_a_drill_of_a_backup_dated_in_the_future_fails(evidence: Evidence) -> None:
    path = evidence.drill(backup_age=dt.timedelta(days=-3))
    finding = so.check_drill(path, FIFTEEN_MINUTES, evidence.now, "drill")
    assert finding.status is FAILED and "in the future" in finding.evidence, finding


# --- workflows and the migration pipeline ----------------------------------------------------------------

UNPINNED = """
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
"""


def test_every_own_and_managed_workflow_passes_the_rules(plans: dict[str, StackPlan]) -> None:
    managed = so.managed_files(plans.values())
    assert any("deploy-production.yml" in label for label in managed), sorted(managed)
    finding = so.check_workflows(so.repository_workflows(REPO_ROOT), managed)
    assert finding.status is VERIFIED, finding


def test_an_unpinned_action_fails_the_pipeline(plans: dict[str, StackPlan]) -> None:
    own = {**so.repository_workflows(REPO_ROOT), ".github/workflows/new.yml": UNPINNED}
    finding = so.check_workflows(own, so.managed_files(plans.values()))
    assert finding.status is FAILED and "action-not-pinned" in finding.evidence and "new.yml" in finding.evidence


def test_no_managed_workflows_fails_the_pipeline() -> None:
    finding = so.check_workflows(so.repository_workflows(REPO_ROOT), {})
    assert finding.status is FAILED and "RepositoryFile" in finding.evidence


def test_generated_deploy_jobs_back_up_before_migrating(plans: dict[str, StackPlan]) -> None:
    finding = so.check_migration_pipeline(so.managed_files(plans.values()))
    assert finding.status is VERIFIED, finding


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        (["pnpm supabase db push", "chefchatz backup db --bucket b", "vercel deploy --prebuilt"], "without a"),
        (["vercel deploy --prebuilt --prod"], "deploys without running migrations"),
        (["chefchatz backup db --bucket b", "vercel deploy --prebuilt", "supabase db push"], "deploys before"),
    ],
)
def test_a_migration_without_a_backup_first_fails(steps: list[str], problem: str) -> None:
    body = "\n".join(f"      - run: {step}" for step in steps)
    text = f"on: push\npermissions: {{}}\njobs:\n  deploy:\n    runs-on: ubuntu-24.04\n    steps:\n{body}\n"
    finding = so.check_migration_pipeline({"app:.github/workflows/deploy.yml": text})
    assert finding.status is FAILED and problem in finding.evidence, finding


# --- test report -------------------------------------------------------------------------------------------


def test_a_passing_junit_report_verifies(junit_reports: dict[str, Path], now: dt.datetime) -> None:
    finding = so.check_test_report(junit_reports["passing"], now)
    assert finding.status is VERIFIED and "2 tests, 0 failures, 0 errors" in finding.evidence, finding


def test_a_failing_junit_report_fails(junit_reports: dict[str, Path], now: dt.datetime) -> None:
    finding = so.check_test_report(junit_reports["failing"], now)
    assert finding.status is FAILED and "1 failures" in finding.evidence, finding


def test_a_missing_stale_or_empty_junit_report_is_not_verified(
    junit_reports: dict[str, Path], tmp_path: Path, now: dt.datetime
) -> None:
    missing = so.check_test_report(tmp_path / "junit.xml", now)
    assert missing.status is UNVERIFIED and "--junitxml" in missing.needs
    stale = so.check_test_report(junit_reports["passing"], now + dt.timedelta(days=8))
    assert stale.status is UNVERIFIED and "older than 7d" in stale.evidence
    empty = tmp_path / "empty.xml"
    empty.write_text('<testsuites><testsuite name="pytest" tests="0" failures="0" errors="0"/></testsuites>')
    assert so.check_test_report(empty, now).status is FAILED
    garbage = tmp_path / "garbage.xml"
    garbage.write_text("not xml <")
    assert so.check_test_report(garbage, now).status is FAILED


# --- deploy run (migrations, staging tested) -------------------------------------------------------------


def test_a_recent_staging_deploy_with_successful_migrations_verifies(evidence: Evidence, deploy_workflow: str) -> None:
    path = evidence.deploy_run(deploy_workflow)
    finding = so.check_deploy_run(path, "deploy (staging)", evidence.now, "gh ...", so.MIGRATION_STEPS)
    assert finding.status is VERIFIED and "Database migrations succeeded" in finding.evidence, finding
    whole = so.check_deploy_run(path, "deploy (staging)", evidence.now, "gh ...", whole_job=True)
    assert whole.status is VERIFIED, whole


def test_a_failed_migration_step_fails(evidence: Evidence, deploy_workflow: str) -> None:
    path = evidence.deploy_run(deploy_workflow, failing_step="Database migrations")
    finding = so.check_deploy_run(path, "deploy (staging)", evidence.now, "gh ...", so.MIGRATION_STEPS)
    assert finding.status is FAILED and "Database migrations concluded 'failure'" in finding.evidence, finding


def test_a_failed_rollback_watch_fails_staging_tested_but_not_migrations(
    evidence: Evidence, deploy_workflow: str
) -> None:
    watch_step = next(
        line.split("name: ", 1)[1] for line in deploy_workflow.splitlines() if "name: Rollback watch" in line
    )
    path = evidence.deploy_run(deploy_workflow, failing_step=watch_step)
    assert so.check_deploy_run(path, "deploy (staging)", evidence.now, "", so.MIGRATION_STEPS).status is VERIFIED
    whole = so.check_deploy_run(path, "deploy (staging)", evidence.now, "", whole_job=True)
    assert whole.status is FAILED and "concluded 'failure'" in whole.evidence, whole


def test_an_old_or_missing_deploy_run_is_unverified(evidence: Evidence, deploy_workflow: str) -> None:
    missing = so.check_deploy_run(evidence.directory / "deploy-run.json", "deploy (staging)", evidence.now, "gh run")
    assert missing.status is UNVERIFIED and missing.needs == "gh run"
    path = evidence.deploy_run(deploy_workflow, ago=dt.timedelta(days=20))
    old = so.check_deploy_run(path, "deploy (staging)", evidence.now, "gh", so.MIGRATION_STEPS)
    assert old.status is UNVERIFIED and "older than 14d" in old.evidence, old


def test_a_run_without_the_staging_job_fails(evidence: Evidence, deploy_workflow: str) -> None:
    path = evidence.deploy_run(deploy_workflow)
    finding = so.check_deploy_run(path, "deploy (qa)", evidence.now, "gh", so.MIGRATION_STEPS)
    assert finding.status is FAILED and "no job 'deploy (qa)'" in finding.evidence


# --- rollback drill ----------------------------------------------------------------------------------------


def test_a_recent_verified_rollback_verifies(evidence: Evidence) -> None:
    path = evidence.rollback()
    finding = so.check_rollback_audit(path, evidence.now, "chefchatz rollback now ...")
    assert finding.status is VERIFIED and "dpl_new111 -> dpl_old000" in finding.evidence, finding


def test_a_failed_newest_rollback_fails(evidence: Evidence) -> None:
    evidence.rollback(ago=dt.timedelta(days=5))
    path = evidence.rollback("failed", ago=dt.timedelta(days=1), error="no earlier deployment")
    finding = so.check_rollback_audit(path, evidence.now, "chefchatz rollback now ...")
    assert finding.status is FAILED and "no earlier deployment" in finding.evidence, finding


def test_an_old_missing_or_empty_rollback_log_is_unverified(evidence: Evidence) -> None:
    missing = so.check_rollback_audit(evidence.directory / "rollback-audit.jsonl", evidence.now, "run it")
    assert missing.status is UNVERIFIED and missing.needs == "run it"
    evidence.rollback("notified", ago=dt.timedelta(days=1))
    only_notified = so.check_rollback_audit(evidence.directory / "rollback-audit.jsonl", evidence.now, "x")
    assert only_notified.status is UNVERIFIED and "no rollback attempt" in only_notified.evidence
    path = evidence.rollback(ago=dt.timedelta(days=45))
    old = so.check_rollback_audit(path, evidence.now, "x")
    assert old.status is UNVERIFIED and "older than 30d" in old.evidence


# --- backups and the drill ---------------------------------------------------------------------------------

SIX_HOURS = dt.timedelta(hours=6)
DB_BUCKET = "chefchatz-prod-database-backups"


def test_a_fresh_passing_backup_verification_verifies(evidence: Evidence) -> None:
    path = evidence.backup_verify("db")
    finding = so.check_backup_verification(path, "db", DB_BUCKET, SIX_HOURS, evidence.now, "verify")
    assert finding.status is VERIFIED and "checksums ok" in finding.evidence and "PITR on" in finding.evidence


def test_a_corrupt_or_stale_backup_fails_its_verification(evidence: Evidence) -> None:
    path = evidence.backup_verify("db", problems=["chefchatz-prod-database-backups/db/x: sha256 mismatch"])
    finding = so.check_backup_verification(path, "db", DB_BUCKET, SIX_HOURS, evidence.now, "verify")
    assert finding.status is FAILED and "sha256 mismatch" in finding.evidence


def test_the_error_object_of_backup_verify_fails(evidence: Evidence) -> None:
    path = evidence.write_json("backup-verify-db.json", {"ok": False, "error": "AccessDenied", "exit_code": 2})
    finding = so.check_backup_verification(path, "db", DB_BUCKET, SIX_HOURS, evidence.now, "verify")
    assert finding.status is FAILED and "AccessDenied" in finding.evidence


def test_a_verification_of_another_bucket_or_with_a_loose_max_age_fails(evidence: Evidence) -> None:
    other = evidence.backup_verify("db", bucket="chefchatz-staging-database-backups")
    assert so.check_backup_verification(other, "db", DB_BUCKET, SIX_HOURS, evidence.now, "v").status is FAILED
    loose = evidence.backup_verify("db", max_age=dt.timedelta(days=30))
    finding = so.check_backup_verification(loose, "db", DB_BUCKET, SIX_HOURS, evidence.now, "v")
    assert finding.status is FAILED and "looser" in finding.evidence, finding


def test_an_old_verification_or_none_is_unverified(evidence: Evidence) -> None:
    path = evidence.backup_verify("db", verified_ago=dt.timedelta(hours=8))
    old = so.check_backup_verification(path, "db", DB_BUCKET, SIX_HOURS, evidence.now, "v")
    assert old.status is UNVERIFIED and "older than 7h" in old.evidence, old
    nowhere = evidence.directory / "nope.json"
    missing = so.check_backup_verification(nowhere, "db", DB_BUCKET, SIX_HOURS, evidence.now, "v")
    assert missing.status is UNVERIFIED


FIFTEEN_MINUTES = dt.timedelta(minutes=15)


def test_a_recent_drill_within_the_rto_verifies(evidence: Evidence) -> None:
    finding = so.check_drill(evidence.drill(), FIFTEEN_MINUTES, evidence.now, "drill")
    assert finding.status is VERIFIED and "2 tables matched" in finding.evidence, finding


def test_a_drill_over_the_rto_or_against_a_looser_rto_fails(evidence: Evidence) -> None:
    slow = so.check_drill(evidence.drill(seconds=1200.0), FIFTEEN_MINUTES, evidence.now, "drill")
    assert slow.status is FAILED and "over the RTO" in slow.evidence, slow
    loose = evidence.drill(seconds=1200.0, rto=dt.timedelta(minutes=30))
    finding = so.check_drill(loose, FIFTEEN_MINUTES, evidence.now, "drill")
    assert finding.status is FAILED and "looser than the stack's RTO 15m" in finding.evidence, finding


def test_a_drill_with_a_table_mismatch_fails(evidence: Evidence) -> None:
    path = evidence.drill(problems=["table public.recipes: manifest 5400, restored 5300 (mismatch)"])
    finding = so.check_drill(path, FIFTEEN_MINUTES, evidence.now, "drill")
    assert finding.status is FAILED and "mismatch" in finding.evidence


def test_a_drill_that_compared_no_tables_fails(evidence: Evidence) -> None:
    data = evidence.drill_result().to_json()
    data["tables"] = []
    path = evidence.write_json("drill.json", data)
    finding = so.check_drill(path, FIFTEEN_MINUTES, evidence.now, "drill")
    assert finding.status is FAILED and "no tables" in finding.evidence


def test_a_drill_of_an_old_backup_or_no_drill_is_unverified(evidence: Evidence) -> None:
    old = so.check_drill(evidence.drill(backup_age=dt.timedelta(days=9)), FIFTEEN_MINUTES, evidence.now, "d")
    assert old.status is UNVERIFIED and "older than 7d" in old.evidence
    missing = so.check_drill(evidence.directory / "drill-none.json", FIFTEEN_MINUTES, evidence.now, "d")
    assert missing.status is UNVERIFIED and missing.needs == "d"


# --- TLS and health -------------------------------------------------------------------------------------------


def test_a_fresh_passing_tls_report_verifies(evidence: Evidence) -> None:
    finding = so.check_tls_report(evidence.tls("chefchatz.com"), "chefchatz.com", evidence.now, "tls-check")
    assert finding.status is VERIFIED and "expiry" in finding.evidence, finding


def test_a_certificate_close_to_expiry_fails_tls(evidence: Evidence) -> None:
    path = evidence.tls("chefchatz.com", days_left=5)
    finding = so.check_tls_report(path, "chefchatz.com", evidence.now, "tls-check")
    assert finding.status is FAILED and "expiry" in finding.evidence and "renewal is failing" in finding.evidence


def test_a_report_of_another_host_fails_and_an_old_one_is_unverified(evidence: Evidence) -> None:
    path = evidence.tls("staging.chefchatz.com")
    assert so.check_tls_report(path, "chefchatz.com", evidence.now, "t").status is FAILED
    old = evidence.now - dt.timedelta(days=8)
    os.utime(path, (old.timestamp(), old.timestamp()))
    stale = so.check_tls_report(path, "staging.chefchatz.com", evidence.now, "t")
    assert stale.status is UNVERIFIED and "older than 7d" in stale.evidence


def test_live_tls_uses_the_checker_and_reports_an_unreachable_host(evidence: Evidence) -> None:
    assert so.check_tls_live("chefchatz.com", evidence.tls_report, "tls").status is VERIFIED

    def unreachable(host: str) -> tlscheck.TlsReport:
        raise tlscheck.TlsCheckError(f"cannot connect to {host}:443 over TLS: refused")

    finding = so.check_tls_live("chefchatz.com", unreachable, "tls")
    assert finding.status is FAILED and "cannot connect" in finding.evidence


def test_a_recent_healthy_watch_verifies_monitoring(evidence: Evidence) -> None:
    path = evidence.watch("prod", "https://chefchatz.com")
    finding = so.check_watch(path, ["chefchatz.com", "www.chefchatz.com"], evidence.now, "watch")
    assert finding.status is VERIFIED and "4 probes" in finding.evidence, finding


def test_a_watch_that_rolled_back_or_of_another_host_fails(evidence: Evidence) -> None:
    rolled = evidence.watch("prod", "https://chefchatz.com", action="rolled-back")
    assert so.check_watch(rolled, ["chefchatz.com"], evidence.now, "w").status is FAILED
    other = evidence.watch("prod", "https://chefchatz-abc123.vercel.app")
    finding = so.check_watch(other, ["chefchatz.com"], evidence.now, "w")
    assert finding.status is FAILED and "not a domain of this stack" in finding.evidence


def test_an_old_watch_is_unverified(evidence: Evidence) -> None:
    path = evidence.watch("prod", "https://chefchatz.com", last_interval_ago=dt.timedelta(days=9))
    assert so.check_watch(path, ["chefchatz.com"], evidence.now, "w").status is UNVERIFIED


# --- documentation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "commands"),
    [
        ("run `chefchatz backup verify --kind db --json`", {"backup verify"}),
        ("```bash\nchefchatz drill --bucket b\n```", {"drill"}),
        (
            "```\nchefchatz rollback now --id x\nchefchatz tls-check chefchatz.com\n```",
            {"rollback now", "tls-check chefchatz"},
        ),
        ("the chefchatz tool of `chefchatz-infra`, `https://x/chefchatz/y`", set()),
        ("```\nx && chefchatz signoff --stack prod\n```", {"signoff"}),
    ],
)
def test_commands_named_in_documents_are_found(text: str, commands: set[str]) -> None:
    assert so.documented_commands(text) == commands


def test_the_runbooks_name_only_real_commands(cli_app: typer.Typer) -> None:
    commands = registered_commands(get_command(cli_app))
    assert {"signoff", "backup verify", "drill", "rollback now", "tls-check"} <= set(commands)
    finding = so.check_documentation(REPO_ROOT, commands)
    assert finding.status is VERIFIED, finding


def test_a_runbook_naming_a_missing_command_fails(cli_app: typer.Typer, tmp_path: Path) -> None:
    commands = registered_commands(get_command(cli_app))
    shutil.copytree(REPO_ROOT / "docs", tmp_path / "docs")
    shutil.copy(REPO_ROOT / "README.md", tmp_path / "README.md")
    with (tmp_path / "docs" / "restore.md").open("a") as handle:
        handle.write("\nThen run `chefchatz restore everything --now`.\n")
    finding = so.check_documentation(tmp_path, commands)
    assert finding.status is FAILED and "chefchatz restore everything" in finding.evidence, finding
    (tmp_path / "docs" / "disaster-recovery.md").unlink()
    missing = so.check_documentation(tmp_path, commands)
    assert missing.status is FAILED and "docs/disaster-recovery.md" in missing.evidence


def test_a_command_without_an_example_fails_documentation(cli_app: typer.Typer) -> None:
    commands = registered_commands(get_command(cli_app))
    commands["drill"] = "Restore drill."
    finding = so.check_documentation(REPO_ROOT, commands)
    assert finding.status is FAILED and "drill" in finding.evidence
