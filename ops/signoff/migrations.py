"""Evidence that database migrations work: the managed pipeline backs up, rehearses and migrates in order,
a real deploy run did so, and the rehearsal report shows the migrations applied on the stack's data."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.app_workflows import default_environments
from ops.signoff.evidence import (
    DEFAULT_MAX_AGE,
    Finding,
    age_text,
    as_mapping,
    failed,
    fresh,
    load_evidence,
    parse_time,
    unverified,
    verified,
)

# The name components/app_pipeline/deploy.py gives the staging deploy job (`deploy (<environment>)`).
STAGING_DEPLOY_JOB = "deploy (staging)"
# The GitHub environments whose deploy jobs rehearse migrations before `db push`.
REHEARSING_ENVIRONMENTS = frozenset(e.github_environment for e in default_environments() if e.rehearse_migrations)

MIGRATION = re.compile(r"\bsupabase\s+db\s+push\b")
PRE_MIGRATION_BACKUP = re.compile(r"\bchefchatz\s+backup\s+db\b")
VERCEL_DEPLOY = re.compile(r"\bvercel\s+deploy\b")
REHEARSAL = re.compile(r"\bchefchatz\s+migrate\s+rehearse\b")
MIGRATION_STEPS = ("Pre-migration backup", "Migration rehearsal on the pre-migration backup", "Database migrations")


def _steps_of(job: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    steps = job.get("steps")
    return [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []


def check_migration_pipeline(managed: Mapping[str, str]) -> Finding:
    """Every job that runs migrations backs the database up first and deploys only after them; the
    staging and production jobs rehearse the migrations on that backup before `db push`."""
    migrating: list[str] = []
    rehearsing: dict[str, str] = {}  # job -> its GitHub environment
    problems: list[str] = []
    for label, text in managed.items():
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # reported by check_workflows
        jobs = document.get("jobs") if isinstance(document, dict) else None
        for job_id, job in (jobs or {}).items():
            if not isinstance(job, dict):
                continue
            runs = [str(s.get("run", "")) for s in _steps_of(job)]
            where = f"{label} job {job_id}"
            migration = next((i for i, run in enumerate(runs) if MIGRATION.search(run)), None)
            deploy = next((i for i, run in enumerate(runs) if VERCEL_DEPLOY.search(run)), None)
            if migration is None:
                if deploy is not None:
                    problems.append(f"{where} deploys without running migrations first")
                continue
            migrating.append(where)
            backup = next((i for i, run in enumerate(runs) if PRE_MIGRATION_BACKUP.search(run)), None)
            if backup is None or backup > migration:
                problems.append(f"{where} migrates without a `chefchatz backup db` before it")
            rehearsal = next((i for i, run in enumerate(runs) if REHEARSAL.search(run)), None)
            environment = _job_environment(job)
            if environment is not None and environment in REHEARSING_ENVIRONMENTS:
                rehearsing[where] = environment
                if rehearsal is None or rehearsal > migration or (backup is not None and rehearsal < backup):
                    problems.append(
                        f"{where} migrates without a `chefchatz migrate rehearse` between the backup and `db push`"
                    )
            if deploy is not None and deploy < migration:
                problems.append(f"{where} deploys before migrating")
    if problems:
        return failed("; ".join(problems), "fix the deploy jobs in components/app_workflows.py")
    if not migrating:
        return failed(
            "no managed workflow runs database migrations (`supabase db push`)",
            "the app's deploy pipeline must migrate each environment's database",
        )
    missing = sorted(REHEARSING_ENVIRONMENTS - set(rehearsing.values()))
    if missing:
        return failed(
            f"no managed deploy job of environment(s) {', '.join(missing)} rehearses its migrations",
            "fix the deploy jobs in components/app_workflows.py",
        )
    return verified(
        f"{len(migrating)} deploy jobs: pre-migration backup -> `supabase db push` -> deploy; "
        f"{len(rehearsing)} of them ({', '.join(sorted(REHEARSING_ENVIRONMENTS))}) rehearse the migrations first"
    )


def _job_environment(job: Mapping[str, Any]) -> str | None:
    """The GitHub environment a job deploys to (`environment: name` or `environment: {name: ...}`)."""
    environment = job.get("environment")
    if isinstance(environment, dict):
        environment = environment.get("name")
    return environment if isinstance(environment, str) else None


def check_migration_rehearsal(
    path: Path,
    stack: str,
    now: dt.datetime,
    needs: str,
    *,
    backup_required: bool = True,
    max_age: dt.timedelta = DEFAULT_MAX_AGE["migration_rehearsal"],
) -> Finding:
    """``migrate rehearse --report``: ok, this stack's, applied on a restored backup, recent enough.

    A lint-only run, or one on an empty database where the stack has backups to restore, shows the
    migrations parse, not that they work on the stack's data: it is not evidence.
    """
    data, problem = load_evidence(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict) or data.get("kind") != "migration-rehearsal":
        return failed(f"{path}: not a `chefchatz migrate rehearse` report", needs)
    finished = parse_time(data.get("finished_at"))
    if finished is None:
        return failed(f"{path}: no finished_at", needs)
    if data.get("stack") != stack:
        return failed(f"{path}: a rehearsal for stack {data.get('stack')!r}, not {stack!r}", needs)
    summary = as_mapping(data.get("summary"))
    source = as_mapping(data.get("source"))
    on = f"backup {source.get('backup_id')}" if source.get("type") == "backup" else f"a {source.get('type')} database"
    head = (
        f"rehearsal on {on}: {summary.get('applied', 0)}/{summary.get('pending', 0)} pending migrations applied, "
        f"{summary.get('warnings', 0)} warnings ({age_text(now - finished)})"
    )
    if data.get("ok") is not True:
        problems = data.get("problems")
        listed = "; ".join(map(str, problems[:3])) if isinstance(problems, list) else ""
        return failed(f"{head}: {listed or 'not ok'}", f"fix the migrations; then {needs}")
    if data.get("lint_only") or source.get("type") not in ("backup", "empty"):
        return unverified(f"{head}: the migrations were only linted, not applied", needs)
    if backup_required and source.get("type") != "backup":
        return unverified(f"{head}: not on a restored backup of the stack's data", needs)
    return fresh(head, finished, now, max_age, needs)


def deploy_run_needs(path: Path, repository: str) -> str:
    return (
        f"run=$(gh run list --repo {repository} --workflow deploy.yml --branch main --status completed --limit 1 "
        f"--json databaseId --jq '.[0].databaseId') && gh run view \"$run\" --repo {repository} "
        f"--json conclusion,createdAt,headSha,jobs,url,workflowName > {path}"
    )


def check_deploy_run(
    path: Path,
    job_name: str,
    now: dt.datetime,
    needs: str,
    required_steps: Sequence[str] = (),
    whole_job: bool = False,
    max_age: dt.timedelta = DEFAULT_MAX_AGE["deploy_run"],
) -> Finding:
    """A GitHub Actions run (``gh run view --json ...jobs``) of the app's deploy workflow.

    With ``required_steps`` those steps of ``job_name`` must have succeeded; with ``whole_job`` the
    job itself (every step, including the rollback watch) must have succeeded.
    """
    data, problem = load_evidence(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
        return failed(f"{path}: not `gh run view --json ...,jobs` output (no jobs list)", needs)
    created = parse_time(data.get("createdAt"))
    if created is None:
        return failed(f"{path}: no createdAt", needs)
    url = data.get("url") or "run"
    job = next((j for j in data["jobs"] if isinstance(j, dict) and j.get("name") == job_name), None)
    if job is None:
        names = ", ".join(str(j.get("name")) for j in data["jobs"] if isinstance(j, dict))
        return failed(f"{path}: {url} has no job {job_name!r} (jobs: {names or 'none'})", needs)
    head = f"{url} ({age_text(now - created)}, {str(data.get('headSha', ''))[:12]})"
    if whole_job and job.get("conclusion") != "success":
        return failed(f"{head}: job {job_name!r} concluded {job.get('conclusion')!r}", needs)
    steps = {str(s.get("name")): s for s in _steps_of(job)}
    for step in required_steps:
        if step not in steps:
            return failed(f"{head}: job {job_name!r} has no step {step!r}", needs)
        if steps[step].get("conclusion") != "success":
            return failed(f"{head}: {job_name} / {step} concluded {steps[step].get('conclusion')!r}", needs)
    what = "succeeded" if whole_job else f"{' and '.join(required_steps)} succeeded"
    return fresh(f"{head}: {job_name} {what}", created, now, max_age, needs)
