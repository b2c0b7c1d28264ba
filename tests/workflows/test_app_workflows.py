"""The app repository's generated pipeline: what runs, in which order, behind which gates."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import re
import shlex
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.app_workflows import (
    PINNED_ACTIONS,
    AppEnvironment,
    AppPipelineArgs,
    app_workflow_files,
    codeowners,
    default_environments,
    departure_script,
    release_cron,
    required_secrets,
    required_variables,
    train_departs,
)
from ops.rollback.settings import WatchSettings, evidence_plan

from .conftest import CHEFCHATZ_REQUIREMENT, REPO_WORKFLOWS

WORKFLOWS = (
    ".github/workflows/ci.yml",
    ".github/workflows/deploy.yml",
    ".github/workflows/deploy-production.yml",
    ".github/workflows/release-train.yml",
    ".github/workflows/release.yml",
)


def load(text: str) -> dict[str, Any]:
    # BaseLoader keeps every scalar a string and `on` a key, as GitHub reads it.
    document = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds no objects
    assert isinstance(document, dict)
    return document


def step_index(job: dict[str, Any], needle: str) -> int:
    """Index of the first step whose name or script contains `needle` (fails when none does)."""
    for i, step in enumerate(job["steps"]):
        if needle in step.get("name", "") or needle in step.get("run", ""):
            return i
    raise AssertionError(f"no step of job {job.get('name')!r} mentions {needle!r}")


def test_the_generator_returns_every_pipeline_file(app_files: dict[str, str]) -> None:
    assert sorted(app_files) == sorted([*WORKFLOWS, "release-please-config.json"])
    for path in WORKFLOWS:
        assert app_files[path].startswith("# Managed by chefchatz-infra"), path


def test_the_generator_is_pure_and_deterministic(app_args: AppPipelineArgs) -> None:
    assert app_workflow_files(app_args) == app_workflow_files(dataclasses.replace(app_args))


@pytest.mark.parametrize(
    ("workflow", "job_id"),
    [
        ("deploy.yml", "deploy-dev"),
        ("deploy.yml", "deploy-staging"),
        ("deploy-production.yml", "deploy-production"),
    ],
)
def test_each_deploy_runs_build_backup_migrate_deploy_watch_notify_in_order(
    app_files: dict[str, str], workflow: str, job_id: str
) -> None:
    job = load(app_files[f".github/workflows/{workflow}"])["jobs"][job_id]
    order = [
        step_index(job, "vercel build --prod"),
        step_index(job, "chefchatz backup db"),
        step_index(job, "supabase db push"),
        step_index(job, "vercel deploy --prebuilt --prod"),
        step_index(job, "chefchatz rollback watch"),
        step_index(job, "chefchatz tls-check"),
        step_index(job, "Notify"),
    ]
    assert order == sorted(order), f"{workflow}:{job_id} runs its stages as {order}"
    assert job["steps"][order[-1]]["if"] == "always()", "the notification must report failures too"


def test_deploys_use_the_vercel_cli_prebuilt_with_the_token_and_no_third_party_action(
    app_files: dict[str, str],
) -> None:
    allowed = {action.repository for action in PINNED_ACTIONS}
    for path in WORKFLOWS:
        for job_id, job in load(app_files[path])["jobs"].items():
            for step in job.get("steps", []):
                if "uses" in step:
                    repository = step["uses"].split("@")[0]
                    assert repository in allowed, f"{path}:{job_id} uses {repository}"
                    assert "vercel" not in repository
    production = load(app_files[".github/workflows/deploy-production.yml"])["jobs"]["deploy-production"]
    deploy = production["steps"][step_index(production, "vercel deploy")]["run"]
    assert 'vercel deploy --prebuilt --prod --token "$VERCEL_TOKEN"' in deploy
    assert production["steps"][step_index(production, "vercel deploy")]["env"] == {
        "VERCEL_TOKEN": "${{ secrets.VERCEL_TOKEN }}"
    }


@pytest.mark.parametrize(("job_id", "stack"), [("deploy-dev", "dev"), ("deploy-staging", "staging")])
def test_the_pre_migration_backup_names_its_stack(app_files: dict[str, str], job_id: str, stack: str) -> None:
    job = load(app_files[".github/workflows/deploy.yml"])["jobs"][job_id]
    backup = job["steps"][step_index(job, "chefchatz backup db")]
    assert backup["run"].strip() == (
        f'chefchatz backup db --database-url "$DATABASE_URL" --bucket "$BACKUP_BUCKET" --stack {stack}'
    )
    assert backup["env"] == {
        "DATABASE_URL": "${{ secrets.DATABASE_URL }}",
        "BACKUP_BUCKET": "${{ vars.BACKUP_BUCKET }}",
    }


def test_production_backs_up_the_prod_stack_before_migrating(app_files: dict[str, str]) -> None:
    job = load(app_files[".github/workflows/deploy-production.yml"])["jobs"]["deploy-production"]
    assert job["steps"][step_index(job, "chefchatz backup db")]["run"].strip().endswith("--stack prod")


def test_the_migration_command_is_the_configured_one(app_args: AppPipelineArgs) -> None:
    command = 'supabase db push --db-url "$DATABASE_URL" --include-all'
    files = app_workflow_files(dataclasses.replace(app_args, migration_command=command))
    job = load(files[".github/workflows/deploy.yml"])["jobs"]["deploy-dev"]
    assert job["steps"][step_index(job, "Database migrations")]["run"].strip() == command


def test_the_rollback_watch_probes_the_environment_and_uses_its_thresholds(app_files: dict[str, str]) -> None:
    job = load(app_files[".github/workflows/deploy-production.yml"])["jobs"]["deploy-production"]
    step = job["steps"][step_index(job, "chefchatz rollback watch")]
    script = step["run"]
    assert '--deployment-url "https://chefchatz.com"' in script
    assert '--health-path "/api/health"' in script
    assert '--project-id "$VERCEL_PROJECT_ID"' in script
    for flag, variable in [
        ("--consecutive", "ROLLBACK_CONSECUTIVE"),
        ("--error-rate", "ROLLBACK_ERROR_RATE"),
        ("--response-time", "ROLLBACK_RESPONSE_TIME"),
        ("--failed-transactions", "ROLLBACK_FAILED_TRANSACTIONS"),
    ]:
        assert f'{flag} "${variable}"' in script
        assert step["env"][variable] == f"${{{{ vars.{variable} }}}}"
    assert step["env"]["VERCEL_TOKEN"] == "${{ secrets.VERCEL_TOKEN }}"


def test_production_is_released_as_a_canary_that_rollout_watch_promotes_before_the_guard_watches_100_percent(
    app_files: dict[str, str],
) -> None:
    job = load(app_files[".github/workflows/deploy-production.yml"])["jobs"]["deploy-production"]
    order = [
        step_index(job, "vercel deploy --prebuilt --prod"),
        step_index(job, "AWS credentials for the SLO metrics"),
        step_index(job, "chefchatz rollout watch"),
        step_index(job, "chefchatz rollback watch"),
    ]
    assert order == sorted(order), f"production runs {order}"
    step = job["steps"][order[2]]
    script = step["run"]
    for fragment in (
        "--stack prod",
        '--project-id "$VERCEL_PROJECT_ID"',
        '--deployment-url "$DEPLOYMENT_URL"',
        '--step "$ROLLOUT_STEP_DURATION"',
        '--error-rate "$ROLLBACK_ERROR_RATE"',
        '--failed-transactions "$ROLLBACK_FAILED_TRANSACTIONS"',
    ):
        assert fragment in script, script
    assert step["env"]["DEPLOYMENT_URL"] == "${{ steps.deploy.outputs.url }}", "the canary is the deployment just made"
    assert step["env"]["ROLLOUT_STEP_DURATION"] == "${{ vars.ROLLOUT_STEP_DURATION }}"
    guard = job["steps"][order[3]]["run"]
    assert "--source metrics --stack prod" in guard, "after the rollout, real traffic judges 100 %"
    assert int(job["timeout-minutes"]) >= 120, "three watched stages and the guard need more than an hour"


@pytest.mark.parametrize("job_id", ["deploy-dev", "deploy-staging"])
def test_pre_production_deploys_at_once_and_is_watched_by_probes(app_files: dict[str, str], job_id: str) -> None:
    job = load(app_files[".github/workflows/deploy.yml"])["jobs"][job_id]
    scripts = "\n".join(str(step.get("run", "")) for step in job["steps"])
    assert "chefchatz rollout watch" not in scripts and "--source metrics" not in scripts, job_id


def test_the_rollback_watch_sends_enough_probes_for_evidence_at_the_spec_thresholds(
    app_files: dict[str, str],
) -> None:
    job = load(app_files[".github/workflows/deploy-production.yml"])["jobs"]["deploy-production"]
    script = job["steps"][step_index(job, "chefchatz rollback watch")]["run"]
    match = re.search(r"--samples (\d+)", script)
    assert match, script
    settings = WatchSettings("https://chefchatz.com", samples=int(match.group(1)))
    assert settings.problems() == [], settings.problems()
    # Enough to catch a deploy failing 30 % of its requests: 3 errors of 30 breach the spec's 1 %.
    assert evidence_plan(settings)["breach_at"]["error-rate"] <= 0.3 * settings.samples / 2, script


def test_every_deploy_runs_in_its_github_environment_with_oidc_and_least_privilege(
    app_files: dict[str, str],
) -> None:
    expected = {"deploy-dev": "dev", "deploy-staging": "staging", "deploy-production": "production"}
    jobs = {
        **load(app_files[".github/workflows/deploy.yml"])["jobs"],
        **load(app_files[".github/workflows/deploy-production.yml"])["jobs"],
    }
    for job_id, environment in expected.items():
        job = jobs[job_id]
        assert job["environment"]["name"] == environment, job_id
        assert job["permissions"] == {"contents": "read", "id-token": "write"}, job_id
        assert job["concurrency"] == {
            "group": f"environment-{environment}",
            "cancel-in-progress": "false",
            "queue": "max",
        }, job_id

        aws = job["steps"][step_index(job, "AWS credentials")]
        assert aws["with"]["role-to-assume"] == "${{ vars.BACKUP_ROLE_ARN }}"
        assert "aws-access-key-id" not in aws["with"]


@pytest.mark.parametrize("path", WORKFLOWS)
def test_no_job_shares_its_workflows_concurrency_group(app_files: dict[str, str], path: str) -> None:
    # GitHub cancels a job whose group is held by its own workflow run (a deadlock).
    workflow = load(app_files[path])
    top = workflow.get("concurrency", {}).get("group")
    for job_id, job in workflow["jobs"].items():
        assert job.get("concurrency", {}).get("group") != top or top is None, f"{path}:{job_id}"


def test_a_push_waiting_for_an_approval_never_holds_back_a_later_pushs_deploys(app_files: dict[str, str]) -> None:
    # GitHub keeps one running and one pending run per concurrency group and cancels the pending one
    # when a newer run arrives ("Using concurrency"): a workflow-wide group would drop pushes and let
    # a run waiting for a staging approval block every later dev deploy.
    text = app_files[".github/workflows/deploy.yml"]
    workflow = load(text)
    assert "skipped" not in text, "with queue: max no waiting push is skipped; the comments must say so"
    assert "concurrency" not in workflow, workflow.get("concurrency")
    groups = {job_id: job.get("concurrency", {}) for job_id, job in workflow["jobs"].items()}
    for job_id, environment in (("deploy-dev", "dev"), ("deploy-staging", "staging")):
        assert groups[job_id].get("group") == f"environment-{environment}", groups
        # Without `queue: max` GitHub keeps one pending job and cancels it for a newer one.
        assert groups[job_id].get("queue") == "max", groups


def test_staging_is_promoted_only_after_dev_passed_its_watch(app_files: dict[str, str]) -> None:
    jobs = load(app_files[".github/workflows/deploy.yml"])["jobs"]
    assert list(jobs) == ["test", "deploy-dev", "deploy-staging"]
    assert jobs["deploy-dev"]["needs"] == "test"
    assert jobs["deploy-staging"]["needs"] == "deploy-dev"
    assert "deploy-production" not in jobs, "production deploys from releases only"


def test_production_needs_the_tech_lead_gate_then_its_own_environment(app_files: dict[str, str]) -> None:
    workflow = load(app_files[".github/workflows/deploy-production.yml"])
    assert workflow["on"] == {"release": {"types": ["published"]}}
    jobs = workflow["jobs"]
    assert list(jobs) == ["test", "approve-production-tech-lead", "deploy-production"]
    gate = jobs["approve-production-tech-lead"]
    assert (gate["needs"], gate["environment"], gate["permissions"]) == ("test", "production-tech-lead", {})
    assert jobs["deploy-production"]["needs"] == "approve-production-tech-lead"
    assert jobs["deploy-production"]["environment"] == {"name": "production", "url": "https://chefchatz.com"}


def test_node_and_pnpm_are_current_and_exact(app_files: dict[str, str]) -> None:
    job = load(app_files[".github/workflows/ci.yml"])["jobs"]["test"]
    node = job["steps"][step_index(job, "Set up Node.js")]
    assert node["with"] == {"node-version": "22", "package-manager-cache": "false"}
    assert job["steps"][step_index(job, "Install pnpm")]["env"] == {"PNPM_VERSION": "12.21.0"}
    deploy = load(app_files[".github/workflows/deploy.yml"])["jobs"]["deploy-dev"]
    tools = deploy["steps"][step_index(deploy, "Install pnpm")]
    assert tools["env"] == {"PNPM_VERSION": "12.21.0", "VERCEL_CLI_VERSION": "64.0.2"}
    assert "actions/setup-node@v2" not in "".join(app_files.values())
    assert "node-version: '18'" not in "".join(app_files.values())


def test_ci_jobs_are_the_default_branchs_required_checks(app_files: dict[str, str]) -> None:
    workflow = load(app_files[".github/workflows/ci.yml"])
    # Pulumi.yaml: githubRequiredStatusChecks defaults to [test, build, policy-gate].
    assert [job["name"] for job in workflow["jobs"].values()] == ["test", "build", "policy-gate"]
    assert set(workflow["on"]) == {"pull_request", "push"}, "no pull_request_target"
    gate = workflow["jobs"]["policy-gate"]
    assert "zizmor --offline --min-severity medium .github/workflows" in gate["steps"][-1]["run"]


def test_release_pr_and_release_use_release_please_with_an_app_token(app_files: dict[str, str]) -> None:
    train = load(app_files[".github/workflows/release-train.yml"])
    release = load(app_files[".github/workflows/release.yml"])
    pr_job, release_job = train["jobs"]["release-pr"], release["jobs"]["release"]
    for job in (pr_job, release_job):
        assert job["environment"] == "release", "the App key is an environment secret"
        assert job["permissions"] == {}
        token, please = job["steps"][0], job["steps"][1]
        assert token["uses"].startswith("actions/create-github-app-token@")
        assert please["uses"].startswith("googleapis/release-please-action@")
        assert please["with"]["token"] == "${{ steps.app-token.outputs.token }}"
        assert please["with"]["config-file"] == "release-please-config.json"
    assert pr_job["steps"][1]["with"]["skip-github-release"] == "true"
    assert release_job["steps"][1]["with"]["skip-github-pull-request"] == "true"
    assert release["on"] == {"push": {"branches": ["main"]}}
    assert pr_job["if"] == "needs.departure.outputs.departs == 'true'"


def test_release_please_config_gives_semantic_versions_and_a_changelog(app_files: dict[str, str]) -> None:
    config = json.loads(app_files["release-please-config.json"])
    assert config["release-type"] == "node"
    assert config["include-v-in-tag"] is True
    package = config["packages"]["."]
    assert package["changelog-path"] == "CHANGELOG.md"
    sections = {s["type"]: s for s in package["changelog-sections"]}
    assert sections["feat"]["section"] == "Features" and sections["fix"]["section"] == "Bug Fixes"


def test_the_train_runs_weekly_because_cron_has_no_every_other_week(app_args: AppPipelineArgs) -> None:
    assert release_cron(app_args) == "0 8 * * 1"
    train = load(app_workflow_files(app_args)[".github/workflows/release-train.yml"])
    assert train["on"]["schedule"] == [{"cron": "0 8 * * 1"}]
    assert "workflow_dispatch" in train["on"]


@pytest.mark.parametrize(
    ("schedule", "day", "departs"),
    [
        ("bi-weekly", date(2026, 1, 5), True),
        ("bi-weekly", date(2026, 1, 12), False),
        ("bi-weekly", date(2026, 11, 30), False),
        ("bi-weekly", date(2026, 12, 7), True),
        # 2026 has 53 ISO weeks: week 53 and week 1 are both odd. The train still alternates.
        ("bi-weekly", date(2026, 12, 28), False),
        ("bi-weekly", date(2027, 1, 4), True),
        ("bi-weekly", date(2027, 1, 11), False),
        ("weekly", date(2026, 1, 12), True),
        ("monthly", date(2026, 12, 7), True),
        ("monthly", date(2026, 12, 14), False),
    ],
)
def test_the_train_departs_on_its_cadence(schedule: Any, day: date, departs: bool) -> None:
    assert train_departs(schedule, day, date(2026, 1, 5)) is departs


def run_departure(schedule: Any, day: date, tmp_path: Path, event: str = "schedule") -> bool:
    output = tmp_path / "output"
    output.write_text("")
    subprocess.run(
        ["bash", "-e", "-c", departure_script(schedule)],
        env={
            "TRAIN_DAY": day.isoformat(),
            "TRAIN_ANCHOR": "2026-01-05",
            "EVENT_NAME": event,
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
            "PATH": "/usr/bin:/bin",
        },
        check=True,
    )
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return values["departs"] == "true"


@pytest.mark.parametrize("schedule", ["weekly", "bi-weekly", "monthly"])
def test_the_generated_departure_step_agrees_with_the_rule_for_two_years_of_mondays(
    schedule: Any, tmp_path: Path
) -> None:
    mondays = [date(2026, 1, 5) + timedelta(weeks=n) for n in range(0, 110, 3)]
    shell = [run_departure(schedule, day, tmp_path) for day in mondays]
    python = [train_departs(schedule, day, date(2026, 1, 5)) for day in mondays]
    assert shell == python, [d.isoformat() for d, s, p in zip(mondays, shell, python, strict=True) if s != p]


def test_a_manual_dispatch_always_departs(tmp_path: Path) -> None:
    assert run_departure("bi-weekly", date(2026, 1, 12), tmp_path) is False
    assert run_departure("bi-weekly", date(2026, 1, 12), tmp_path, event="workflow_dispatch") is True


def matches(pattern: str, path: str) -> bool:
    """CODEOWNERS matching for the three pattern shapes the generator writes."""
    if pattern == "*":
        return True
    if pattern.endswith("/"):
        return ("/" + path).startswith(pattern)
    return "/" + path == pattern


def owners_of(text: str, path: str) -> list[str]:
    """GitHub's rule: the last matching line wins."""
    owners: list[str] = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            pattern, *names = line.split()
            if matches(pattern, path):
                owners = names
    return owners


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("supabase/migrations/20261127_add_recipes.sql", ["@chefchatz/tech-lead"]),
        (".github/workflows/deploy.yml", ["@chefchatz/tech-lead"]),
        ("vercel.json", ["@chefchatz/tech-lead"]),
        ("CHANGELOG.md", ["@chefchatz/tech-lead", "@chefchatz/product-owner"]),
        (".release-please-manifest.json", ["@chefchatz/tech-lead", "@chefchatz/product-owner"]),
        (".github/workflows/release-train.yml", ["@chefchatz/tech-lead", "@chefchatz/product-owner"]),
        (".github/workflows/deploy-production.yml", ["@chefchatz/tech-lead", "@chefchatz/product-owner"]),
        ("src/app/page.tsx", ["@chefchatz/engineering"]),
    ],
)
def test_codeowners_gives_infra_to_tech_lead_and_releases_to_both_teams(path: str, owners: list[str]) -> None:
    text = codeowners("chefchatz", default_owners=("@chefchatz/engineering",))
    assert owners_of(text, path) == owners


def test_codeowners_without_default_owners_leaves_app_code_unowned() -> None:
    assert owners_of(codeowners("chefchatz"), "src/app/page.tsx") == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"organization": "chef chatz"}, "organization"),
        ({"organization": "chefchatz", "tech_lead_team": "Tech Lead"}, "tech_lead_team"),
        ({"organization": "chefchatz", "default_owners": ("engineering",)}, "default_owners"),
    ],
)
def test_codeowners_rejects_names_github_would_ignore(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        codeowners(**kwargs)


def test_the_environment_contract_lists_what_the_deploy_jobs_read(
    app_files: dict[str, str], app_args: AppPipelineArgs
) -> None:
    text = app_files[".github/workflows/deploy.yml"] + app_files[".github/workflows/deploy-production.yml"]
    used_vars = set(re.findall(r"\$\{\{ vars\.([A-Z_]+) \}\}", text))
    used_secrets = set(re.findall(r"\$\{\{ secrets\.([A-Z_]+) \}\}", text))
    assert used_vars == set(required_variables(app_args))
    assert used_secrets == set(required_secrets(app_args))


def test_this_repository_and_the_generated_files_use_the_same_pins(app_files: dict[str, str]) -> None:
    pins = {a.repository: a for a in PINNED_ACTIONS}
    texts = [p.read_text() for p in sorted(REPO_WORKFLOWS.glob("*.yml"))] + list(app_files.values())
    for text in texts:
        for repository, sha, comment in re.findall(r"uses: ([\w./-]+)@(\S+)(?: # (\S+))?", text):
            action = pins.get(repository)
            assert action is not None, f"{repository} is not one of the reviewed pins"
            assert (sha, comment) == (action.sha, action.version), f"{repository}@{sha} # {comment}"


VALID = {"chefchatz_requirement": CHEFCHATZ_REQUIREMENT}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"chefchatz_requirement": "chefchatz-infra @ git+https://github.com/chefchatz/chefchatz-infra@main"},
            "chefchatz_requirement",
        ),
        ({"node_major": 8}, "node_major"),
        ({"pnpm_version": "latest"}, "pnpm_version"),
        ({"vercel_cli_version": "64"}, "vercel_cli_version"),
        ({"migration_command": "supabase db push --db-url ${{ secrets.DATABASE_URL }}"}, "migration_command"),
        ({"migration_command": "  "}, "migration_command"),
        ({"test_commands": ()}, "test_commands"),
        ({"health_path": "api/health"}, "health_path"),
        ({"rollback_window": "ten minutes"}, "rollback_window"),
        ({"rollback_samples": 1}, "rollback_samples 1: 2 to 200"),
        ({"vercel_project_id_var": "vercel-project"}, "vercel_project_id_var"),
        ({"release_schedule": "fortnightly"}, "release_schedule"),
        ({"release_weekday": 7}, "release_weekday"),
        ({"release_train_anchor": date(2026, 1, 6)}, "release_train_anchor"),
        ({"environments": default_environments()[:2]}, "exactly one must be production"),
        ({"environments": tuple(reversed(default_environments()))}, "production must come last"),
        (
            {
                "environments": (
                    *default_environments()[:2],
                    dataclasses.replace(default_environments()[2], approval_environments=()),
                )
            },
            "needs at least one approval environment",
        ),
        (
            {
                "environments": (
                    dataclasses.replace(default_environments()[0], url="http://dev.chefchatz.com"),
                    *default_environments()[1:],
                )
            },
            "url",
        ),
        (
            {
                "environments": (
                    AppEnvironment("dev", "dev", "production-tech-lead", "https://dev.chefchatz.com"),
                    *default_environments()[1:],
                )
            },
            "both a deploy and a gate",
        ),
    ],
)
def test_invalid_arguments_are_rejected_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=re.escape(field)):
        AppPipelineArgs(**{**VALID, **changes})


def test_every_invalid_argument_is_reported_at_once() -> None:
    with pytest.raises(ValueError) as error:
        AppPipelineArgs(chefchatz_requirement="x", node_major=3, health_path="health", pnpm_version="10")
    message = str(error.value)
    for field in ("chefchatz_requirement", "node_major", "health_path", "pnpm_version"):
        assert field in message, message


def test_the_tool_the_pipeline_installs_brings_its_runtime_dependencies() -> None:
    # The app's pipeline runs `pip install "chefchatz-infra @ git+...@<sha>"`: without declared
    # dependencies `chefchatz backup db` would start without boto3 or psycopg.
    declared = {
        re.split(r"[\[<>=; ]", requirement, maxsplit=1)[0].lower()
        for requirement in importlib.metadata.requires("chefchatz-infra") or []
    }
    runtime = {
        re.split(r"[\[<>=; ]", line.strip(), maxsplit=1)[0].lower()
        for line in (Path(__file__).resolve().parents[2] / "requirements/main.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert runtime and runtime <= declared, f"not declared by the package: {sorted(runtime - declared)}"


@pytest.mark.parametrize(
    ("workflow", "job_id", "domain"),
    [
        ("deploy.yml", "deploy-dev", "dev.chefchatz.com"),
        ("deploy.yml", "deploy-staging", "staging.chefchatz.com"),
        ("deploy-production.yml", "deploy-production", "chefchatz.com"),
    ],
)
def test_each_deploy_verifies_its_live_domains_tls_after_the_watch(
    app_files: dict[str, str], workflow: str, job_id: str, domain: str
) -> None:
    job = load(app_files[f".github/workflows/{workflow}"])["jobs"][job_id]
    check = step_index(job, "chefchatz tls-check")
    assert step_index(job, "chefchatz rollback watch") < check < step_index(job, "Notify")
    command = job["steps"][check]["run"]
    # The spec's checks (TLS >= 1.2, allowed ciphers, certificate, issuer, expiry) with Vercel's
    # documented cipher list as the one explicit, reported exception; any failure fails the job.
    assert shlex.split(command) == ["chefchatz", "tls-check", domain, "--platform-exception", "vercel"]
    assert "if" not in job["steps"][check] and "continue-on-error" not in job["steps"][check]


@pytest.mark.parametrize(
    ("workflow", "job_id", "guard"),
    [
        ("deploy.yml", "deploy-dev", "chefchatz rollback watch"),
        ("deploy.yml", "deploy-staging", "chefchatz rollback watch"),
        ("deploy-production.yml", "deploy-production", "chefchatz rollback watch"),
        ("deploy-production.yml", "deploy-production", "chefchatz rollout watch"),
    ],
)
def test_the_guards_notify_the_chat_webhook_and_the_stacks_alerts_topic(
    app_files: dict[str, str], workflow: str, job_id: str, guard: str
) -> None:
    """The stack's email targets subscribe to its alerts topic; the guards publish there too."""
    job = load(app_files[f".github/workflows/{workflow}"])["jobs"][job_id]
    step = job["steps"][step_index(job, guard)]
    # Space-separated, as --notify's environment variable takes them; an unset webhook secret leaves the topic.
    assert (
        step["env"]["CHEFCHATZ_ROLLBACK_NOTIFY"] == "${{ secrets.NOTIFY_WEBHOOK_URL }} sns:${{ vars.ALERTS_TOPIC_ARN }}"
    )


def test_the_build_never_sees_vercels_sensitive_placeholder_as_a_value(
    app_files: dict[str, str], tmp_path: Path
) -> None:
    # `vercel pull` writes KEY="[SENSITIVE]" for sensitive variables (vercel/vercel issue 17514) and
    # `vercel build` would load the literal. The Build step's own script runs here with a stand-in
    # `vercel` that writes such a file, then records the file the build would load.
    job = load(app_files[".github/workflows/deploy.yml"])["jobs"]["deploy-staging"]
    script = job["steps"][step_index(job, "Build (vercel build")]["run"]
    stub = (
        "vercel() {\n"
        '  if [ "$1" = pull ]; then\n'
        "    mkdir -p .vercel\n"
        "    printf '%s\\n' 'NEXT_PUBLIC_APP_ENV=\"staging\"' 'DATABASE_URL=\"[SENSITIVE]\"' "
        "'OPENAI_API_KEY=\"[SENSITIVE]\"' 'NOTE=\"the [SENSITIVE] word in a value\"' > .vercel/.env.production.local\n"
        "  else\n"
        "    cp .vercel/.env.production.local loaded-by-build\n"
        "  fi\n"
        "}\n"
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", stub + script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "VERCEL_TOKEN": "t"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = (tmp_path / "loaded-by-build").read_text().splitlines()
    assert loaded == ['NEXT_PUBLIC_APP_ENV="staging"', 'NOTE="the [SENSITIVE] word in a value"'], loaded
    assert "DATABASE_URL\nOPENAI_API_KEY" in result.stdout, "the keys left to run time are named"
    assert '[SENSITIVE]"' not in result.stdout
