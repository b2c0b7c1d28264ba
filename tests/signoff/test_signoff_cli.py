"""`chefchatz signoff` end to end on prod: no evidence (exit 1, every item shown), full evidence (exit 0).

The stacks are planned once per session (`plans`); the command is handed those real plans instead of
planning the same three stacks again in every test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from signoff_evidence import REPO_ROOT, Evidence, write_full_evidence
from typer.testing import CliRunner

from ops.plan import StackPlan
from ops.signoff import checks as so

# What the offline plan alone proves. "Production environment ready" and "Development environment
# validated" also need a drift report: the plan shows an environment configured, not deployed.
OFFLINE_ITEMS = {
    (so.IMPLEMENTATION, "Development environment configured"),
    (so.IMPLEMENTATION, "Backup strategy implemented"),
    (so.IMPLEMENTATION, "SSL certificates configured"),
    (so.IMPLEMENTATION, "Environment variables secured"),
    (so.SIGNOFF, "Production environment secured"),
    (so.SIGNOFF, "CI/CD pipeline approved"),
    (so.SIGNOFF, "Security measures approved"),
    (so.SIGNOFF, "Documentation completed"),
}


@pytest.fixture
def cached_plans(plans: dict[str, StackPlan], monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Serve the session's real plans to `signoff`; records which stacks it asked for."""
    asked: list[list[str]] = []

    def planner(project_dir: Path, stacks: list[str]) -> list[StackPlan]:
        assert project_dir == REPO_ROOT
        asked.append(list(stacks))
        return [plans[s] for s in stacks]

    monkeypatch.setattr(so, "run_plan", planner)
    return asked


def run(cli_app: Any, *args: str) -> Any:
    # Wide enough that no command in the text report is wrapped inside its table cell.
    return CliRunner().invoke(cli_app, ["signoff", "--project-dir", str(REPO_ROOT), *args], env={"COLUMNS": "500"})


def test_prod_without_evidence_lists_all_20_items_and_exits_1(
    cli_app: Any, cached_plans: list[list[str]], tmp_path: Path
) -> None:
    result = run(cli_app, "--stack", "prod", "--format", "json", "--evidence-dir", str(tmp_path / "none"))
    assert result.exit_code == so.EXIT_NOT_VERIFIED, result.output
    assert cached_plans == [["prod", "dev", "staging"]]
    report = json.loads(result.output)
    assert report["stack"] == "prod" and report["verified"] is False
    items = {(i["list"], i["item"]): i for i in report["items"]}
    assert len(report["items"]) == 20 and len(items) == 20
    for key in OFFLINE_ITEMS:
        assert items[key]["status"] == "verified", items[key]
        assert items[key]["evidence"] and not items[key]["needs"], items[key]
    for key, item in items.items():
        if key in OFFLINE_ITEMS:
            continue
        assert item["status"] == "unverified", item
        assert item["needs"] and all(str(tmp_path / "none") in n or "docs/" in n for n in item["needs"]), item


def test_prod_text_report_shows_every_item_with_what_it_needs(
    cli_app: Any, cached_plans: list[list[str]], tmp_path: Path
) -> None:
    evidence = tmp_path / "ev"
    result = run(cli_app, "--stack", "prod", "--evidence-dir", str(evidence))
    assert result.exit_code == 1
    for _, item, _ in so.CHECKLIST:
        assert item in result.output, item
    assert "chefchatz drill --bucket chefchatz-prod-database-backups --stack prod --rto 15m" in result.output
    assert f"chefchatz tls-check www.chefchatz.com --platform-exception vercel --json > {evidence}" in result.output
    assert f"To produce the missing evidence:\n 1. mkdir -p {evidence}\n" in result.output
    assert (
        "chefchatz rollback now --project-id chefchatz-staging --team-id team_0000000000000000chefchatz "
        "--reason 'rollback drill' "
        f"--audit-file {evidence}/rollback-audit.jsonl"
    ) in result.output
    assert "NO PROCEEDING" in result.output


def test_prod_with_full_evidence_is_verified_and_exits_0(
    cli_app: Any,
    cached_plans: list[list[str]],
    plans: dict[str, StackPlan],
    evidence: Evidence,
    deploy_workflow: str,
    junit_reports: dict[str, Path],
) -> None:
    write_full_evidence(evidence, plans, deploy_workflow, junit_reports["passing"])
    result = run(cli_app, "--stack", "prod", "--format", "json", "--evidence-dir", str(evidence.directory))
    report = json.loads(result.output)
    not_verified = [i for i in report["items"] if i["status"] != "verified"]
    assert not not_verified, json.dumps(not_verified, indent=2)
    assert report["verified"] is True and result.exit_code == so.EXIT_VERIFIED


def test_markdown_report_has_a_table_per_list_and_marks_a_failure(
    cli_app: Any,
    cached_plans: list[list[str]],
    plans: dict[str, StackPlan],
    evidence: Evidence,
    deploy_workflow: str,
    junit_reports: dict[str, Path],
) -> None:
    write_full_evidence(evidence, plans, deploy_workflow, junit_reports["failing"])
    result = run(cli_app, "--stack", "prod", "--format", "markdown", "--evidence-dir", str(evidence.directory))
    assert result.exit_code == 1
    assert "### Implementation Verification" in result.output and "### Sign-off Checklist" in result.output
    assert "| CI/CD pipeline tested | ❌ failed |" in result.output
    assert "19/20 verified" in result.output


def test_an_explicit_test_report_is_read(
    cli_app: Any, cached_plans: list[list[str]], tmp_path: Path, junit_reports: dict[str, Path]
) -> None:
    result = run(
        cli_app,
        "--stack",
        "prod",
        "--format",
        "json",
        "--evidence-dir",
        str(tmp_path),
        "--test-report",
        str(junit_reports["passing"]),
    )
    items = {i["item"]: i for i in json.loads(result.output)["items"] if i["list"] == so.IMPLEMENTATION}
    assert any("2 tests, 0 failures" in e for e in items["CI/CD pipeline tested"]["evidence"]), items


def test_an_unknown_stack_is_a_usage_error(cli_app: Any, cached_plans: list[list[str]]) -> None:
    result = run(cli_app, "--stack", "qa")
    assert result.exit_code == so.EXIT_USAGE
    assert cached_plans == []
