"""End to end: `chefchatz plan` runs the real program of every stack offline and gates it with the
policy pack; weakening any production guarantee makes it fail naming the policy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops.plan import StackPlan, Violation, exit_code, run_plans
from ops.plan.markdown import LIMIT, MARKER, to_markdown

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def chefchatz(*args: str, cwd: Path = ROOT) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "ops", *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=300
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def project_copy(tmp: Path) -> Path:
    """A copy of the Pulumi project (program, components, stack files) to weaken."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp / name)
    shutil.copytree(ROOT / "components", tmp / "components", ignore=shutil.ignore_patterns("__pycache__"))
    # Not a git checkout: pin the tool commit the app's pipeline installs, as a user would.
    set_config(tmp, "prod", "opsToolCommit", "0123456789abcdef0123456789abcdef01234567")
    return tmp


def set_config(project: Path, stack: str, key: str, value: str) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    lines = [line for line in path.read_text().splitlines() if not line.strip().startswith(f"chefchatz:{key}:")]
    lines.append(f"  chefchatz:{key}: {value}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def plan_all() -> Run:
    return chefchatz("plan", "--stack", "all", "--format", "json")


def resources(run: Run, stack: str) -> list[dict[str, Any]]:
    (entry,) = [s for s in run.json["stacks"] if s["stack"] == stack]
    return entry["resources"]


def of_type(items: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    return [r for r in items if r["type"].endswith(suffix)]


# --- the committed stacks ----------------------------------------------------------------------------


def test_committed_stacks_pass_the_gate_and_say_how_many_policies_ran(plan_all):
    assert plan_all.code == 0, plan_all.stdout[-3000:] + plan_all.stderr[-3000:]
    for entry in plan_all.json["stacks"]:
        assert entry["violations"] == [], entry["stack"]
        assert entry["policiesEvaluated"] >= 20, entry["stack"]


def test_prod_plan_has_the_project_both_domains_all_six_variables_the_gates_and_the_main_rules(plan_all):
    prod = resources(plan_all, "prod")
    assert len(of_type(prod, "vercel:index/project:Project")) == 1
    domains = {d["inputs"]["domain"]: d["inputs"] for d in of_type(prod, "projectDomain:ProjectDomain")}
    assert set(domains) == {"chefchatz.com", "www.chefchatz.com"}
    assert domains["www.chefchatz.com"]["redirectStatusCode"] == 308
    variables = {v["inputs"]["key"]: v["inputs"] for v in of_type(prod, "ProjectEnvironmentVariable")}
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "DATABASE_URL", "REDIS_URL"):
        assert variables[key]["sensitive"] is True, key
        assert variables[key]["value"] == "[secret]", key
    for key in ("NEXT_PUBLIC_SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_ANON_KEY"):
        assert key in variables
    envs = {e["inputs"]["environment"]: e["inputs"] for e in of_type(prod, "RepositoryEnvironment")}
    assert set(envs) == {"production-tech-lead", "production", "release"}
    gates = {name: env for name, env in envs.items() if name.startswith("production")}
    assert "tech-lead" in json.dumps(gates["production-tech-lead"]["reviewers"])
    assert "product-owner" in json.dumps(gates["production"]["reviewers"])
    rulesets = {r["inputs"]["name"] for r in of_type(prod, "RepositoryRuleset")}
    assert "default-branch" in rulesets
    assert of_type(prod, "route53/healthCheck:HealthCheck") and of_type(prod, "scheduler/schedule:Schedule")
    files = {f["inputs"]["file"] for f in of_type(prod, "RepositoryFile")}
    assert {".github/CODEOWNERS", ".github/workflows/deploy-production.yml"} <= files


@pytest.mark.parametrize(("stack", "domain"), [("dev", "dev.chefchatz.com"), ("staging", "staging.chefchatz.com")])
def test_dev_and_staging_have_their_own_project_and_domain_and_no_repository_rules(plan_all, stack, domain):
    items = resources(plan_all, stack)
    (project,) = of_type(items, "vercel:index/project:Project")
    assert project["inputs"]["name"] == f"chefchatz-{stack}"
    assert [d["inputs"]["domain"] for d in of_type(items, "projectDomain:ProjectDomain")] == [domain]
    assert not of_type(items, "RepositoryRuleset")


def test_no_secret_value_appears_in_plan_output(plan_all):
    text = chefchatz("plan", "--stack", "prod").stdout
    for output in (plan_all.stdout, text):
        assert "offline placeholder for secret" not in output
    for entry in plan_all.json["stacks"]:
        assert "chefchatz:databaseUrl" in entry["secretPlaceholders"]


def test_the_tree_is_printed_like_a_preview_with_counts(plan_all):
    del plan_all
    run = chefchatz("plan", "--stack", "dev")
    assert run.code == 0
    assert "+ vercel:index/project:Project" in run.stdout
    assert "Resources: + " in run.stdout and "Policies: " in run.stdout and "evaluated" in run.stdout


def test_unknown_stack_is_a_usage_error():
    run = chefchatz("plan", "--stack", "qa")
    assert run.code == 2 and "unknown stack 'qa'" in run.stderr


def test_prod_measures_its_slos_on_real_traffic_and_other_stacks_do_not(plan_all):
    prod = resources(plan_all, "prod")
    (drain,) = of_type(prod, "vercel:index/logDrain:LogDrain")
    assert drain["inputs"]["secret"] == "[secret]"
    assert drain["inputs"]["environments"] == ["production"]
    (receiver,) = of_type(prod, "aws:lambda/function:Function")
    assert receiver["inputs"]["handler"] == "ops.slo.receiver.handler"
    assert receiver["inputs"]["environment"]["variables"]["DRAIN_SECRET"] == "[secret]"
    # Its URL is public: a flood of unsigned requests can scale it only this far (sloDrainConcurrency).
    assert receiver["inputs"]["reservedConcurrentExecutions"] == 10
    composites = of_type(prod, "aws:cloudwatch/compositeAlarm:CompositeAlarm")
    assert len(composites) == 3 and all(c["inputs"]["alarmActions"] for c in composites)
    assert len(of_type(prod, "aws:cloudwatch/dashboard:Dashboard")) == 1
    for stack in ("dev", "staging"):
        assert not of_type(resources(plan_all, stack), "vercel:index/logDrain:LogDrain"), stack


def test_prod_rolls_out_through_a_rolling_release_and_other_stacks_do_not(plan_all):
    (release,) = of_type(resources(plan_all, "prod"), "vercel:index/projectRollingRelease:ProjectRollingRelease")
    assert release["inputs"]["advancementType"] == "manual-approval"
    assert [s["targetPercentage"] for s in release["inputs"]["stages"]] == [5, 25, 50, 100]
    for stack in ("dev", "staging"):
        assert not of_type(resources(plan_all, stack), "projectRollingRelease:ProjectRollingRelease"), stack


# --- weakened copies of prod -----------------------------------------------------------------------

WEAKENINGS: dict[str, tuple[str, str, str]] = {
    # name: (config key, weakened value, policy that must stop it)
    "one-approval-gate-removed": ("releaseApprovals", "[tech-lead]", "production-needs-every-approver"),
    "database-retention-7-days": ("backupDatabaseRetention", "7d", "backup-frequency-and-retention"),
    "database-dumps-every-12h": ("backupDatabaseFrequency", "12h", "backup-frequency-and-retention"),
    "assets-kept-30-days": ("backupAssetsRetention", "30d", "backup-frequency-and-retention"),
    "no-point-in-time-recovery": ("backupPointInTimeRecovery", "false", "rpo-achievable"),
    "backups-off": ("backupsEnabled", "false", "backups-exist-for-every-database"),
    "debug-on-in-prod": ("featureDebug", "true", "debug-off-outside-dev"),
    "rules-not-owned": ("githubOwnsRepositoryRules", "false", "default-branch-rules-owner"),
    "unhealthy-after-3": ("healthCheckUnhealthyThreshold", "3", "production-domains-monitored"),
    "p95-alarm-at-300ms": ("sloP95", "300ms", "slo-alarms"),
    "error-budget-1-percent": ("sloErrorBudget", "1%", "slo-burn-rate-alarms"),
    "rollout-off": ("rolloutStages", "[]", "rolling-release-in-production"),
    "rollout-one-stage-before-100": ("rolloutStages", "[50, 100]", "rolling-release-in-production"),
}


def _weakened_secret(project: Path) -> None:
    path = project / "components" / "environment.py"
    text = path.read_text()
    weakened = text.replace('secret("REDIS_URL"', 'public("REDIS_URL"')
    assert weakened != text
    path.write_text(weakened)


@pytest.fixture(scope="session")
def weakened_projects(tmp_path_factory) -> dict[str, Path]:
    jobs: dict[str, Path] = {}
    for name, (key, value, _) in WEAKENINGS.items():
        project = project_copy(tmp_path_factory.mktemp(name))
        set_config(project, "prod", key, value)
        jobs[name] = project
    secret = project_copy(tmp_path_factory.mktemp("secret-made-public"))
    _weakened_secret(secret)
    jobs["secret-made-public"] = secret
    combined = project_copy(tmp_path_factory.mktemp("issue-example"))
    set_config(combined, "prod", "releaseApprovals", "[tech-lead]")
    set_config(combined, "prod", "backupDatabaseRetention", "7d")
    _weakened_secret(combined)
    jobs["issue-example"] = combined
    # Without the drain a canary cannot be judged: with the rollout on, settings refuse it (exit 2);
    # with the rollout off as well, the policies name both missing guarantees.
    drain_off = project_copy(tmp_path_factory.mktemp("slo-drain-off"))
    set_config(drain_off, "prod", "sloDrainEnabled", "false")
    jobs["slo-drain-off"] = drain_off
    drain_and_rollout_off = project_copy(tmp_path_factory.mktemp("slo-drain-and-rollout-off"))
    set_config(drain_and_rollout_off, "prod", "sloDrainEnabled", "false")
    set_config(drain_and_rollout_off, "prod", "rolloutStages", "[]")
    jobs["slo-drain-and-rollout-off"] = drain_and_rollout_off
    return jobs


@pytest.fixture(scope="session")
def weakened_plans(weakened_projects) -> dict[str, StackPlan]:
    """Every weakened copy's prod stack, planned and gated in one batch (the library `chefchatz plan` calls)."""
    plans = run_plans([(project, "prod") for project in weakened_projects.values()])
    return dict(zip(weakened_projects, plans, strict=True))


def _policies(plan: StackPlan) -> set[str]:
    return {v.policy for v in plan.mandatory_violations}


# The weakened copies are planned once, on one worker (see `./dev test`: --dist loadgroup).
weakened_group = pytest.mark.xdist_group("plan-weakened")


@weakened_group
@pytest.mark.parametrize("name", sorted(WEAKENINGS))
def test_weakening_a_production_guarantee_in_the_stack_file_fails_naming_the_policy(weakened_plans, name):
    plan = weakened_plans[name]
    policy = WEAKENINGS[name][2]
    assert exit_code([plan]) == 1, f"{name}: {plan.config_error}"
    assert policy in _policies(plan), f"{name}: {plan.violations}"


@weakened_group
def test_turning_the_slo_drain_off_in_production_is_blocked(weakened_plans):
    alone = weakened_plans["slo-drain-off"]
    assert exit_code([alone]) == 2, alone.violations
    assert "chefchatz:sloDrainEnabled" in (alone.config_error or "")
    with_rollout_off = weakened_plans["slo-drain-and-rollout-off"]
    assert exit_code([with_rollout_off]) == 1, with_rollout_off.config_error
    assert {"slo-drain-in-production", "rolling-release-in-production"} <= _policies(with_rollout_off)


@weakened_group
def test_a_secret_made_non_sensitive_fails_naming_the_policy(weakened_plans):
    plan = weakened_plans["secret-made-public"]
    assert exit_code([plan]) == 1
    assert "secret-variables-are-sensitive" in _policies(plan)


@weakened_group
def test_the_issue_example_fails_with_all_three_policy_names_end_to_end(weakened_projects, weakened_plans):
    """Through the command itself: exit 1, the JSON names all three policies, as the batch does."""
    run = chefchatz(
        "plan", "--stack", "prod", "--format", "json", "--project-dir", str(weakened_projects["issue-example"])
    )
    assert run.code == 1, run.stderr[-2000:]
    named = {v["policy"] for v in run.json["stacks"][0]["violations"] if v["enforcement"] == "mandatory"}
    expected = {"production-needs-every-approver", "secret-variables-are-sensitive", "backup-frequency-and-retention"}
    assert expected <= named
    assert named == _policies(weakened_plans["issue-example"])


def test_invalid_configuration_exits_2_naming_every_bad_key(tmp_path):
    project = project_copy(tmp_path)
    set_config(project, "staging", "environment", "produktion")
    set_config(project, "staging", "sloApdex", '"2"')
    run = chefchatz("plan", "--stack", "staging", "--format", "json", "--project-dir", str(project))
    assert run.code == 2
    error = run.json["stacks"][0]["configError"]
    assert "chefchatz:environment" in error and "chefchatz:sloApdex" in error and "stack 'staging'" in error


# --- the pull-request comment ----------------------------------------------------------------------


def test_markdown_is_the_pull_request_comment_with_a_marker_and_a_summary_table():
    run = chefchatz("plan", "--stack", "prod", "--format", "markdown")
    assert run.code == 0
    assert run.stdout.startswith(MARKER)
    assert "| `prod` |" in run.stdout and "✅ pass" in run.stdout and "<details>" in run.stdout


def test_markdown_never_exceeds_the_comment_limit_and_says_when_it_truncated():
    violations = [Violation("rule-x", "mandatory", f"urn:pulumi:prod::p::t::r{i}", "x" * 500) for i in range(400)]
    plans = [StackPlan(stack, resources=[], violations=list(violations), policies_evaluated=21) for stack in ("a", "b")]
    text = to_markdown(plans)
    assert len(text) <= LIMIT
    assert "Truncated" in text and "| `a` |" in text and "| `b` |" in text
