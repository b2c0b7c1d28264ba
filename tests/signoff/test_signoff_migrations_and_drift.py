"""Sign-off evidence of issue 12: the migration rehearsal report and the drift report.

"Database migrations working / verified" need a rehearsal on a restored backup of the stack's data;
"ready / operational / validated" need a fresh drift report without changes - the offline plan alone
shows an environment configured.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from signoff_evidence import REPO_ROOT, Evidence, write_full_evidence
from typer.testing import CliRunner

from ops.plan import StackPlan
from ops.signoff import checks as so

VERIFIED, FAILED, UNVERIFIED = so.Status.VERIFIED, so.Status.FAILED, so.Status.UNVERIFIED
NEEDS = "gh run download ..."


# --- the rehearsal report ----------------------------------------------------------------------------------


def test_a_fresh_rehearsal_on_a_restored_backup_verifies(evidence: Evidence) -> None:
    finding = so.check_migration_rehearsal(evidence.rehearsal(stack="prod"), "prod", evidence.now, NEEDS)
    assert finding.status is VERIFIED, finding
    assert "rehearsal on backup " in finding.evidence and "1/1 pending migrations applied" in finding.evidence


def test_a_rehearsal_with_a_failed_migration_fails_naming_it(evidence: Evidence) -> None:
    path = evidence.rehearsal(failure='relation "public.recipes" does not exist')
    finding = so.check_migration_rehearsal(path, "prod", evidence.now, NEEDS)
    assert finding.status is FAILED and "20261202090000_broken.sql failed" in finding.evidence, finding


@pytest.mark.parametrize(
    ("kwargs", "stack", "status", "text"),
    [
        ({"ago": dt.timedelta(days=15)}, "prod", UNVERIFIED, "older than 14d"),
        ({"ago": -dt.timedelta(days=1)}, "prod", FAILED, "in the future"),
        ({"stack": "staging"}, "prod", FAILED, "for stack 'staging', not 'prod'"),
        ({"source": "empty"}, "prod", UNVERIFIED, "not on a restored backup"),
        ({"source": "none", "lint_only": True}, "prod", UNVERIFIED, "only linted"),
    ],
)
def test_an_old_foreign_or_data_less_rehearsal_is_no_evidence(
    evidence: Evidence, kwargs: dict[str, Any], stack: str, status: so.Status, text: str
) -> None:
    finding = so.check_migration_rehearsal(evidence.rehearsal(**kwargs), stack, evidence.now, NEEDS)
    assert finding.status is status and text in finding.evidence, finding


def test_an_empty_database_rehearsal_is_enough_where_the_stack_has_no_backups(evidence: Evidence) -> None:
    path = evidence.rehearsal(stack="dev", source="empty")
    finding = so.check_migration_rehearsal(path, "dev", evidence.now, NEEDS, backup_required=False)
    assert finding.status is VERIFIED and "rehearsal on a empty database" in finding.evidence, finding


def test_a_missing_or_foreign_report_is_not_a_rehearsal(evidence: Evidence) -> None:
    missing = so.check_migration_rehearsal(evidence.directory / "migration-rehearsal.json", "prod", evidence.now, NEEDS)
    assert missing.status is UNVERIFIED and missing.needs == NEEDS
    other = evidence.write_json("migration-rehearsal.json", {"ok": True, "finished_at": "2026-12-01T00:00:00Z"})
    assert so.check_migration_rehearsal(other, "prod", evidence.now, NEEDS).status is FAILED


def test_the_pipeline_check_wants_a_rehearsal_between_backup_and_db_push_in_staging_and_production(
    plans: dict[str, StackPlan],
) -> None:
    managed = so.managed_files(plans.values())
    assert so.check_migration_pipeline(managed).status is VERIFIED
    broken = {
        label: text.replace("chefchatz migrate rehearse", "echo skipped") if "deploy-production" in label else text
        for label, text in managed.items()
    }
    finding = so.check_migration_pipeline(broken)
    assert finding.status is FAILED and "deploy-production" in finding.evidence, finding
    assert "without a `chefchatz migrate rehearse`" in finding.evidence


# --- the drift report ---------------------------------------------------------------------------------------


def test_a_fresh_report_without_changes_verifies_the_environment(evidence: Evidence) -> None:
    finding = so.check_drift_report(evidence.drift("prod"), "prod", evidence.now, NEEDS)
    assert finding.status is VERIFIED and "no changes, every policy passed (2 resources)" in finding.evidence


@pytest.mark.parametrize(
    ("kwargs", "status", "text"),
    [
        (
            {"changes": 2, "exit_code": 255},
            FAILED,
            "drifted, 2 resources differ: update drifted-0 (bucket: update); update drifted-1 (bucket: update)",
        ),
        ({"exit_code": 255}, FAILED, "exited 255 (a policy failed or the preview errored)"),
        ({"ago": dt.timedelta(days=3)}, UNVERIFIED, "older than 2d"),
        ({"ago": -dt.timedelta(hours=1)}, FAILED, "in the future"),
    ],
)
def test_drift_a_failed_policy_or_a_stale_report_is_not_ready(
    evidence: Evidence, kwargs: dict[str, Any], status: so.Status, text: str
) -> None:
    finding = so.check_drift_report(evidence.drift("prod", **kwargs), "prod", evidence.now, NEEDS)
    assert finding.status is status and text in finding.evidence, finding


PLAIN_PREVIEW = "pulumi preview --expect-no-changes --policy-pack policies"


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (PLAIN_PREVIEW, "without --refresh: a preview without --refresh compares the program with Pulumi's recorded"),
        (
            "pulumi preview --stack prod --expect-no-changes --policy-pack policies --json --non-interactive",
            "without --refresh",
        ),
        ("pulumi preview --stack prod --refresh --expect-no-changes --json", "without --policy-pack"),
        ("pulumi preview --stack staging --refresh --expect-no-changes --policy-pack policies", "another stack"),
        ("pulumi preview --stack=staging --refresh --expect-no-changes --policy-pack policies", "another stack"),
        ("pulumi preview -s staging --refresh --expect-no-changes --policy-pack=policies", "another stack"),
        ("pulumi preview --refresh --expect-no-changes --policy-pack policies", "names no stack"),
        ("pulumi preview --stack prod --refresh=false --expect-no-changes --policy-pack policies", "refresh off"),
        ("pulumi refresh --preview-only --expect-no-changes", "not a `pulumi preview`"),
        ("", "records no command"),
    ],
    ids=[
        "plain-preview",
        "plain-preview-with-stack",
        "no-policies",
        "other-stack",
        "other-stack-equals",
        "other-stack-short",
        "no-stack",
        "refresh-false",
        "refresh-command",
        "none",
    ],
)
def test_a_report_of_anything_but_a_refresh_preview_is_not_evidence(evidence: Evidence, command: str, why: str) -> None:
    # Clean in every other way: exit 0, no changes, fresh. Without --refresh that only says the program
    # matches Pulumi's recorded state; a reviewer removed in GitHub's UI would not show.
    path = evidence.drift("prod", command=command or None)
    if not command:
        report = json.loads(path.read_text())
        del report["command"]
        path = evidence.write_json("drift-prod.json", report)
    finding = so.check_drift_report(path, "prod", evidence.now, NEEDS)
    assert finding.status is UNVERIFIED, finding
    assert f"{path} is not evidence: " in finding.evidence and why in finding.evidence, finding
    assert "no changes" not in finding.evidence


def test_a_report_without_its_drift_list_is_not_evidence(evidence: Evidence) -> None:
    report = evidence.drift_report("prod")
    del report["drift"]
    path = evidence.write_json("drift-prod.json", report)
    finding = so.check_drift_report(path, "prod", evidence.now, NEEDS)
    assert finding.status is UNVERIFIED and "lists no drifted resources" in finding.evidence, finding


def test_a_report_of_another_stack_or_without_resources_proves_nothing(evidence: Evidence) -> None:
    report = evidence.drift_report("staging")
    path = evidence.write_json("drift-prod.json", report)
    assert so.check_drift_report(path, "prod", evidence.now, NEEDS).status is FAILED
    report = evidence.drift_report("prod")
    report["preview"] = {}
    path = evidence.write_json("drift-prod.json", report)
    finding = so.check_drift_report(path, "prod", evidence.now, NEEDS)
    assert finding.status is FAILED and "listed no resources" in finding.evidence


# --- end to end: `chefchatz signoff --stack prod` -----------------------------------------------------------

ENVIRONMENT_ITEMS = {
    (so.IMPLEMENTATION, "Staging environment operational"): "staging",
    (so.IMPLEMENTATION, "Production environment ready"): "prod",
    (so.SIGNOFF, "Development environment validated"): "dev",
}
MIGRATION_ITEMS = {(so.IMPLEMENTATION, "Database migrations working"), (so.SIGNOFF, "Database migrations verified")}


@pytest.fixture
def full_evidence(
    plans: dict[str, StackPlan], evidence: Evidence, deploy_workflow: str, junit_reports: dict[str, Path]
) -> Evidence:
    write_full_evidence(evidence, plans, deploy_workflow, junit_reports["passing"])
    return evidence


@pytest.fixture
def served_plans(plans: dict[str, StackPlan], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(so, "run_plan", lambda project_dir, stacks: [plans[s] for s in stacks])


def signoff(cli_app: Any, evidence: Evidence) -> tuple[int, dict[tuple[str, str], dict[str, Any]], str]:
    result = CliRunner().invoke(
        cli_app,
        [
            "signoff",
            "--project-dir",
            str(REPO_ROOT),
            "--stack",
            "prod",
            "--format",
            "json",
            "--evidence-dir",
            str(evidence.directory),
        ],
    )
    report = json.loads(result.output)
    items = {(i["list"], i["item"]): i for i in report["items"]}
    done = sum(i["status"] == "verified" for i in report["items"])
    return result.exit_code, items, f"{done}/{len(report['items'])}"


def test_prod_with_every_report_fresh_and_clean_is_20_of_20(
    cli_app: Any, served_plans: None, full_evidence: Evidence
) -> None:
    code, items, score = signoff(cli_app, full_evidence)
    assert (code, score) == (so.EXIT_VERIFIED, "20/20"), [i for i in items.values() if i["status"] != "verified"]
    for key in MIGRATION_ITEMS:
        assert any("rehearsal on backup" in e for e in items[key]["evidence"]), items[key]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_drifting_stack_fails_its_environment_item_and_only_that(
    cli_app: Any, served_plans: None, full_evidence: Evidence, stack: str
) -> None:
    full_evidence.drift(stack, changes=1, exit_code=255)
    code, items, score = signoff(cli_app, full_evidence)
    assert (code, score) == (so.EXIT_NOT_VERIFIED, "19/20")
    (key,) = [k for k, s in ENVIRONMENT_ITEMS.items() if s == stack]
    assert items[key]["status"] == "failed", items[key]
    assert "drifted, 1 resources differ: update drifted-0 (bucket: update)" in " ".join(items[key]["evidence"])
    assert f"Drift: stack {stack}" in " ".join(items[key]["needs"])


def test_without_drift_reports_the_environments_are_only_configured(
    cli_app: Any, served_plans: None, full_evidence: Evidence
) -> None:
    for stack in ("dev", "staging", "prod"):
        (full_evidence.directory / f"drift-{stack}.json").unlink()
    code, items, score = signoff(cli_app, full_evidence)
    assert (code, score) == (so.EXIT_NOT_VERIFIED, "17/20")
    assert items[(so.IMPLEMENTATION, "Development environment configured")]["status"] == "verified"
    for key, stack in ENVIRONMENT_ITEMS.items():
        assert items[key]["status"] == "unverified", items[key]
        assert f"stack {stack} is configured (offline plan), not shown deployed" in " ".join(items[key]["evidence"])
        assert f"--name drift-{stack} --dir {full_evidence.directory}" in " ".join(items[key]["needs"])


def test_a_plain_preview_report_leaves_prod_unverified_and_names_the_report(
    cli_app: Any, served_plans: None, full_evidence: Evidence
) -> None:
    path = full_evidence.drift("prod", command=PLAIN_PREVIEW)
    code, items, score = signoff(cli_app, full_evidence)
    assert (code, score) == (so.EXIT_NOT_VERIFIED, "19/20")
    item = items[(so.IMPLEMENTATION, "Production environment ready")]
    evidence = " ".join(item["evidence"])
    assert item["status"] == "unverified" and f"{path} is not evidence" in evidence, item
    assert f"`{PLAIN_PREVIEW}`" in evidence, item


def test_a_failed_rehearsal_fails_both_migration_items(
    cli_app: Any, served_plans: None, full_evidence: Evidence
) -> None:
    full_evidence.rehearsal(stack="prod", failure='column "rating" contains null values')
    code, items, score = signoff(cli_app, full_evidence)
    assert (code, score) == (so.EXIT_NOT_VERIFIED, "18/20")
    for key in MIGRATION_ITEMS:
        assert items[key]["status"] == "failed" and "contains null values" in " ".join(items[key]["evidence"])


@pytest.mark.parametrize(
    "command",
    [
        "pulumi preview --stack prod --refresh --expect-no-changes --policy-pack policies --json --non-interactive",
        "pulumi preview --stack=prod --refresh --expect-no-changes --policy-pack=policies",
        "pulumi preview -s prod --refresh=true --expect-no-changes --policy-pack policies",
    ],
)
def test_a_refresh_preview_of_the_stack_is_evidence_however_its_flags_are_written(command: str) -> None:
    from ops.signoff.drift import drift_command_problem

    assert drift_command_problem(command, "prod") is None
