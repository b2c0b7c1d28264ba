"""`chefchatz rollback now` against the Vercel stand-in: the happy path, API failures, idempotence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROJECT = "prj_chefchatz"
ROLLBACK_PATH = r"^/v1/projects/prj_chefchatz/rollback/"


def now(*extra: str) -> list[str]:
    return ["now", "--project-id", PROJECT, "--verify-poll", "0.02s", "--json", *extra]


def test_rollback_now_points_production_at_the_previous_ready_deployment(project: Any, run: Any) -> None:
    result = run(*now("--reason", "checkout 500s"))
    assert result.exit_code == 4, result.output
    out = result.json
    assert (out["action"], out["from_deployment"], out["to_deployment"], out["verified"]) == (
        "rolled-back",
        "dpl_bad",
        "dpl_prev",
        True,
    ), out
    (post,) = project.rollback_posts
    assert post.query == {"description": "checkout 500s"}, post.query
    assert project.calls("GET", r"^/v7/deployments$")[0].query == {
        "projectId": PROJECT,
        "target": "production",
        "state": "READY",
        "limit": "20",
    }


def test_rollback_now_twice_rolls_back_once(project: Any, run: Any) -> None:
    first = run(*now())
    second = run(*now())
    assert (first.exit_code, second.exit_code) == (4, 4), second.output
    assert second.json["action"] == "already-rolled-back", second.json
    assert "already on rollback target dpl_prev" in second.json["message"], second.json["message"]
    assert len(project.rollback_posts) == 1


def test_audit_file_alone_prevents_a_second_rollback(project: Any, run: Any, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.write_text(
        "not json, a torn line\n"
        + json.dumps(
            {
                "action": "rolled-back",
                "project_id": PROJECT,
                "from_deployment": "dpl_bad",
                "to_deployment": "dpl_prev",
                "time": "2026-01-01T00:00:00+00:00",
                "actor": "ci",
            }
        )
        + "\n"
    )
    result = run(*now("--deployment-id", "dpl_bad", "--audit-file", str(audit)))
    assert result.exit_code == 4, result.output
    assert "audit log records a rollback" in result.json["message"], result.json
    assert project.rollback_posts == []


@pytest.mark.parametrize(
    ("method", "path", "status", "fragments"),
    [
        ("GET", r"^/v9/projects/", 401, ["401", "VERCEL_TOKEN was not accepted"]),
        ("POST", ROLLBACK_PATH, 403, ["403", "--team-id"]),
        ("POST", ROLLBACK_PATH, 409, ["409", "already in progress"]),
        ("POST", ROLLBACK_PATH, 422, ["422", "not be eligible"]),
        ("GET", r"^/v7/deployments$", 404, ["404", "check the project id"]),
    ],
    ids=["401", "403", "409", "422", "404"],
)
def test_api_errors_fail_with_a_clear_reason(
    project: Any,
    run: Any,
    webhook: Any,
    tmp_path: Path,
    method: str,
    path: str,
    status: int,
    fragments: list[str],
) -> None:
    project.inject(method, path, status)
    audit = tmp_path / "audit.jsonl"
    result = run(*now("--notify", webhook.url, "--audit-file", str(audit)))
    assert result.exit_code == 1, result.output
    for fragment in fragments:
        assert fragment in result.json["error"], (fragment, result.json["error"])
    assert json.loads(audit.read_text())["action"] == "failed"
    text = webhook.received[0]["text"]
    assert "could not roll back" in text and "chefchatz rollback now --project-id prj_chefchatz" in text, text
    assert project.projects[PROJECT]["production"] == "dpl_bad"


def test_rejected_token_is_named_and_never_printed(project: Any, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERCEL_TOKEN", "wrong-token-abc")
    result = run(*now())
    assert result.exit_code == 1, result.output
    assert "403 forbidden: Not authorized" in result.json["error"], result.json
    assert "wrong-token-abc" not in result.output


def test_server_error_is_retried_then_succeeds(project: Any, run: Any) -> None:
    project.inject("POST", ROLLBACK_PATH, 500)
    result = run(*now())
    assert result.exit_code == 4, result.output
    assert [r.status for r in project.rollback_posts] == [500, 201]


def test_accepted_rollback_answered_with_5xx_is_not_repeated(project: Any, run: Any) -> None:
    # Vercel accepted the first POST but the answer was lost as a 502; the retry meets 409 (job running).
    project.inject("POST", ROLLBACK_PATH, 502, passthrough=True)
    project.pending_polls = 3
    result = run(*now())
    assert result.exit_code == 4, result.output
    assert [r.status for r in project.rollback_posts] == [502, 409]
    assert result.json["verified"] is True


def test_rate_limit_waits_for_retry_after(project: Any, run: Any) -> None:
    project.inject(
        "GET",
        r"^/v7/deployments$",
        429,
        body={"error": {"code": "rate_limited", "message": "The rate limit of 100 exceeded"}},
        headers={"Retry-After": "1"},
    )
    result = run(*now())
    assert result.exit_code == 4, result.output
    first, second = project.calls("GET", r"^/v7/deployments$")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.95, f"retried after {second.at - first.at:.2f}s, Retry-After was 1s"


def test_persistent_server_errors_fail_after_retries(project: Any, run: Any) -> None:
    project.inject("GET", r"^/v9/projects/", 503, times=10, headers={"Retry-After": "0"})
    result = run(*now())
    assert result.exit_code == 1, result.output
    assert len(project.calls("GET", r"^/v9/projects/")) == 5, "five attempts, then a clear failure"
    assert "503" in result.json["error"] and "after retries" in result.json["error"], result.json


def test_no_earlier_deployment_is_a_clear_error(vercel: Any, run: Any) -> None:
    vercel.add_project("prj_new", "new-app")
    vercel.add_deployment("dpl_first", "prj_new", 1_000, "new-app-1.vercel.app", production=True)
    vercel.add_deployment("dpl_failed", "prj_new", 500, "new-app-0.vercel.app", state="ERROR")
    result = run("now", "--project-id", "prj_new", "--json")
    assert result.exit_code == 1, result.output
    assert result.json["error"].startswith("no earlier deployment: project prj_new"), result.json
    assert vercel.rollback_posts == []


def test_earlier_deployment_on_a_later_page_is_found(vercel: Any, run: Any) -> None:
    vercel.add_project("prj_busy", "busy")
    vercel.add_deployment("dpl_good", "prj_busy", 100, "busy-good.vercel.app")
    vercel.add_deployment("dpl_now", "prj_busy", 500, "busy-now.vercel.app", production=True)
    for n in range(25):  # newer production builds that were staged, never promoted: page one holds no target
        vercel.add_deployment(f"dpl_staged{n}", "prj_busy", 1_000 + n, f"busy-s{n}.vercel.app")
    result = run("now", "--project-id", "prj_busy", "--verify-poll", "0.02s", "--json")
    assert result.exit_code == 4, result.output
    assert result.json["to_deployment"] == "dpl_good"
    pages = vercel.calls("GET", r"^/v7/deployments$")
    assert [p.query.get("until") for p in pages] == [None, "1005"], [p.query for p in pages]


def test_rollback_vercel_reports_failed_is_an_error(project: Any, run: Any) -> None:
    project.final_job_status = "failed"
    result = run(*now())
    assert result.exit_code == 1, result.output
    assert "reports the rollback of prj_chefchatz to dpl_prev failed" in result.json["error"], result.json


def test_unconfirmed_rollback_times_out_as_an_error(project: Any, run: Any) -> None:
    project.pending_polls = 10_000
    result = run(*now("--verify-timeout", "0.2s"))
    assert result.exit_code == 1, result.output
    assert "not confirmed within 0.2s (last seen: job pending)" in result.json["error"], result.json


def test_team_projects_need_the_team_id(vercel: Any, run: Any) -> None:
    vercel.add_project("prj_team", "team-app", team_id="team_chef")
    vercel.add_deployment("dpl_a", "prj_team", 1_000, "team-a.vercel.app")
    vercel.add_deployment("dpl_b", "prj_team", 2_000, "team-b.vercel.app", production=True)
    without = run("now", "--project-id", "prj_team", "--json")
    assert without.exit_code == 1 and "404" in without.json["error"], without.output
    before = len(vercel.requests)
    with_team = run("now", "--project-id", "prj_team", "--team-id", "team_chef", "--verify-poll", "0.02s", "--json")
    assert with_team.exit_code == 4, with_team.output
    later = vercel.requests[before:]
    assert later and all(r.query.get("teamId") == "team_chef" for r in later), later


def test_missing_token_is_a_usage_error(project: Any, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VERCEL_TOKEN")
    result = run(*now())
    assert result.exit_code == 2, result.output
    assert "VERCEL_TOKEN is not set" in result.output


def test_every_rollback_command_is_documented_with_an_example(run: Any) -> None:
    for command in ("watch", "now"):
        result = run(command, "--help")
        assert result.exit_code == 0, result.output
        for fragment in ("Example", "Exit codes", "VERCEL_TOKEN", "--json"):
            assert fragment in result.output, (command, fragment)


def test_rollback_is_registered_in_the_chefchatz_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ops", "rollback", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "watch" in result.stdout and "now" in result.stdout, result.stdout
