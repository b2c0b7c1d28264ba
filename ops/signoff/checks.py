"""The spec's "Implementation Verification" and "Sign-off Checklist" as checked evidence.

Every item of both lists maps to one or more *checks*; a check reads evidence and returns a
:class:`Finding` that is ``verified`` (the evidence is there and proves the point), ``failed`` (the
evidence is there and disproves it) or ``unverified`` (the evidence is missing, stale or needs live
access; ``needs`` then names the command to run and where to save its output). An item is as good as
its worst check: failed beats unverified beats verified. Nothing is asserted: an item with no evidence is
never verified.

Evidence comes from three places:

- **offline, always checked**: the offline plan of the stacks (``ops.plan.run_plan``: the real program
  under mocks, and the real policy pack over it), every workflow file of this repository and every one
  the program commits to the app repository (``policies.workflows.workflow_violations``), the runbooks in
  ``docs/`` against the registered ``chefchatz`` commands;
- **evidence files** in the evidence directory (default ``.chefchatz/evidence/<stack>``, git-ignored),
  written by the real commands (file names in ``EVIDENCE_FILES``);
- **live**, only with ``live=True``: the TLS check of every domain of the stack (``ops.tls``).

=============================================  ====================================================================
Item                                           Evidence (all must hold)
=============================================  ====================================================================
IV  Development environment configured         dev plan: configuration valid, every policy evaluated, 0 mandatory
                                               violations
IV  Staging environment operational            staging plan clean; ``watch-staging.json``: a healthy
                                               ``rollback watch`` of a staging domain, newest interval <= 7 d old;
                                               ``drift-staging.json``: no drift (see below)
IV  Production environment ready               prod plan clean (configuration, all policies, 0 mandatory);
                                               ``drift-prod.json``: no drift
IV  CI/CD pipeline tested                      ``junit.xml``: tests > 0, 0 failures/errors, <= 7 d old; every
                                               workflow (ours + managed app ones) has 0 ``workflow_violations``
IV  Database migrations working                managed app pipeline: every job that migrates backs up first and
                                               deploys after, staging and production rehearse in between;
                                               ``deploy-run.json``: the staging deploy job's pre-migration
                                               backup, rehearsal and migrations steps succeeded, <= 14 d old;
                                               ``migration-rehearsal.json`` (``migrate rehearse --report``, the
                                               deploy's artifact): ok, the stack's, on a restored backup (an
                                               empty database only where the stack's backups are off), <= 14 d
IV  Rollback procedures tested                 ``rollback-audit.jsonl``: newest rollback attempt is a verified
                                               ``rolled-back``, <= 30 d old
IV  Backup strategy implemented                the stack's plan passes every backups policy
IV  SSL certificates configured                the stack's plan passes every TLS policy
IV  Environment variables secured              the stack's plan passes every secrets policy (config files hold no
                                               plain-text secret: a config error fails)
IV  Monitoring integration verified            the stack's plan passes every monitoring policy;
                                               ``watch-<stack>.json``: a healthy watch of a stack domain, <= 7 d
SO  Development environment validated          dev plan clean; ``drift-dev.json``: no drift
SO  Staging environment tested                 ``deploy-run.json``: the whole staging deploy job (build, backup,
                                               migrations, deploy, rollback watch) succeeded, <= 14 d old
SO  Production environment secured             prod's plan passes every secrets, TLS and approvals policy
                                               with 0 violations at any enforcement level
SO  CI/CD pipeline approved                    prod (which owns the repository rules and the managed workflows)
                                               passes the approvals and pipelines policies; 0 ``workflow_violations``
SO  Database migrations verified               as "Database migrations working"
SO  Rollback procedures tested                 as IV; plus ``docs/rollback.md`` exists
SO  Backup system operational                  ``backup-verify-db.json`` / ``backup-verify-assets.json``: ok, the
                                               stack's bucket, ``--max-age`` no looser than frequency + 1 h,
                                               verified within that age; ``drill.json``: ok, within the stack's
                                               RTO (``--rto`` no looser), restored a backup <= 7 d old
SO  SSL configuration verified                 every domain of the stack: ``tls-<domain>.json`` (``tls-check
                                               --json``) passed and <= 7 d old, or with ``live`` a live check
SO  Security measures approved                 0 violations of any policy (any enforcement) on the stack; every
                                               policy of the pack evaluated; 0 ``workflow_violations``
SO  Documentation completed                    README and runbooks present; every ``chefchatz`` command they
                                               name exists; every registered command's help has an example
=============================================  ====================================================================

"No drift" (``drift-<stack>.json``, the artifact of ``.github/workflows/drift.yml``): ``pulumi preview
--refresh --expect-no-changes --policy-pack policies`` against the real stack exited 0 and found no
resource that differs, <= 2 d old. Only a *refresh* preview reads the clouds back: a report of a plain
preview (or one that does not record its command, as before) compared the program with Pulumi's
recorded state only, and is not evidence. The offline plan alone shows an environment *configured*;
only the drift report shows it deployed as configured (*ready*, *operational*, *validated*).

Freshness: a backup verification records the backup's ``finished_at`` and its ``age_seconds`` at
verification time, so the verification's own time is their sum. A drill's JSON has no time of its own,
but a drill restores an existing backup, so it ran after that backup's id time: a drill whose backup is
<= 7 days old is itself <= 7 days old. ``tls-check --json`` reports carry no time; their file's
modification time is used. Evidence dated more than a few minutes in the future fails.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from components.app_workflows import default_environments
from ops import ExitStatus
from ops import backup as backuplib
from ops.plan import DocumentError, StackPlan, load_json, load_stack_settings, read_document, run_plan
from policies import approvals, monitoring, pipelines, secrets, tls
from policies import backups as backup_policies
from policies.pack import POLICIES
from policies.workflows import workflow_violations

if TYPE_CHECKING:
    from components.settings import Settings

IMPLEMENTATION = "Implementation Verification"
SIGNOFF = "Sign-off Checklist"

EXIT_VERIFIED = ExitStatus.OK
EXIT_NOT_VERIFIED = ExitStatus.FAILED
EXIT_USAGE = ExitStatus.BAD_INPUT

EVIDENCE_FILES = {
    "test_report": "junit.xml",
    "deploy_run": "deploy-run.json",
    "rollback_audit": "rollback-audit.jsonl",
    "backup_verify": "backup-verify-{kind}.json",
    "drill": "drill.json",
    "tls": "tls-{host}.json",
    "watch": "watch-{stack}.json",
    "migration_rehearsal": "migration-rehearsal.json",
    "drift": "drift-{stack}.json",
}

# How old evidence may be. Defaults say why: tests and TLS scans are cheap, so weekly; a drill is the
# weekly exercise the RTO depends on; a rollback drill is monthly; a deploy run every two weeks is the
# slowest the bi-weekly release train allows.
DEFAULT_MAX_AGE = {
    "test_report": dt.timedelta(days=7),
    "deploy_run": dt.timedelta(days=14),
    "rollback": dt.timedelta(days=30),
    "drill": dt.timedelta(days=7),
    "tls": dt.timedelta(days=7),
    "watch": dt.timedelta(days=7),
    # A rehearsal runs with every staging/production deploy: as old as the deploy run may be.
    "migration_rehearsal": dt.timedelta(days=14),
    # The drift workflow runs daily; two days tolerates one late or failed scheduled run.
    "drift": dt.timedelta(days=2),
}
# A backup verification may be as old as one backup period plus the time a backup itself takes.
BACKUP_SLACK = dt.timedelta(hours=1)
# Clocks of CI runners and laptops drift a little; more than this in the future is not a real time.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)

DOCUMENTS = (
    "README.md",
    "docs/rollback.md",
    "docs/restore.md",
    "docs/disaster-recovery.md",
    "docs/releases.md",
    "docs/pipelines.md",
    "docs/health-contract.md",
    "docs/signoff.md",
    "docs/migrations.md",
)

# The stacks the checklist's environment items name (Pulumi.<stack>.yaml).
DEVELOPMENT, STAGING, PRODUCTION = "dev", "staging", "prod"
ENVIRONMENT_STACKS = (DEVELOPMENT, STAGING, PRODUCTION)
# The name components/app_workflows.py gives the staging deploy job (`deploy (<environment>)`).
STAGING_DEPLOY_JOB = "deploy (staging)"
# The GitHub environments whose deploy jobs rehearse migrations before `db push`.
REHEARSING_ENVIRONMENTS = frozenset(e.github_environment for e in default_environments() if e.rehearse_migrations)

MIGRATION = re.compile(r"\bsupabase\s+db\s+push\b")
PRE_MIGRATION_BACKUP = re.compile(r"\bchefchatz\s+backup\s+db\b")
VERCEL_DEPLOY = re.compile(r"\bvercel\s+deploy\b")
REHEARSAL = re.compile(r"\bchefchatz\s+migrate\s+rehearse\b")
MIGRATION_STEPS = ("Pre-migration backup", "Migration rehearsal on the pre-migration backup", "Database migrations")


class Status(StrEnum):
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    FAILED = "failed"


_RANK = {Status.VERIFIED: 0, Status.UNVERIFIED: 1, Status.FAILED: 2}


@dataclass(frozen=True)
class Finding:
    """What one check found: the evidence it read, and (unless verified) what is needed."""

    status: Status
    evidence: str
    needs: str = ""


def verified(evidence: str) -> Finding:
    return Finding(Status.VERIFIED, evidence)


def failed(evidence: str, needs: str) -> Finding:
    return Finding(Status.FAILED, evidence, needs)


def unverified(evidence: str, needs: str) -> Finding:
    return Finding(Status.UNVERIFIED, evidence, needs)


@dataclass(frozen=True)
class ItemResult:
    list_name: str
    item: str
    status: Status
    evidence: list[str]
    needs: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "item": self.item,
            "status": str(self.status),
            "evidence": self.evidence,
            "needs": self.needs,
        }


def combine(list_name: str, item: str, findings: Sequence[Finding]) -> ItemResult:
    """An item is as good as its worst check; with no check at all it is unverified."""
    if not findings:
        return ItemResult(list_name, item, Status.UNVERIFIED, [], ["no check is defined for this item"])
    status = max((f.status for f in findings), key=_RANK.__getitem__)
    return ItemResult(
        list_name,
        item,
        status,
        [f.evidence for f in findings if f.evidence],
        [f.needs for f in findings if f.needs and f.status is not Status.VERIFIED],
    )


# --- time helpers ------------------------------------------------------------------------------------


def parse_time(text: Any) -> dt.datetime | None:
    """An ISO 8601 time (``Z`` accepted) as an aware UTC datetime; naive times are taken as UTC."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def duration_text(delta: dt.timedelta) -> str:
    """`7h`, `25h`, `15m`, `1h30m`: what `backup verify --max-age` and `drill --rto` accept."""
    total = int(delta.total_seconds())
    parts = []
    for unit, seconds in (("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, seconds)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def age_text(delta: dt.timedelta) -> str:
    if delta < dt.timedelta(0):
        return f"{duration_text(-delta)} in the future"
    if delta >= dt.timedelta(days=2):
        return f"{delta.days}d ago"
    return f"{duration_text(delta)} ago"


def fresh(summary: str, when: dt.datetime, now: dt.datetime, max_age: dt.timedelta, needs: str) -> Finding:
    """Verified while ``when`` is at most ``max_age`` ago; evidence dated in the future proves nothing."""
    if when - now > FUTURE_TOLERANCE:
        return failed(f"{summary}: dated {age_text(now - when)}", needs)
    if now - when > max_age:
        limit = f"{max_age.days}d" if max_age % dt.timedelta(days=1) == dt.timedelta(0) else duration_text(max_age)
        return unverified(f"{summary}: older than {limit}", needs)
    return verified(summary)


def file_time(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def _load_json(path: Path, needs: str) -> tuple[Any, Finding | None]:
    if not path.is_file():
        return None, unverified(f"missing {path}", needs)
    try:
        return load_json(read_document(path), str(path)), None
    except DocumentError as exc:
        return None, failed(f"{exc}", needs)


# --- offline: plan and policies -------------------------------------------------------------------------


def policy_names(policies: Iterable[Any]) -> tuple[str, ...]:
    return tuple(p.name for p in policies)


BACKUP_POLICIES = policy_names(backup_policies.POLICIES)
TLS_POLICIES = policy_names(tls.POLICIES)
SECRET_POLICIES = policy_names(secrets.POLICIES)
MONITORING_POLICIES = policy_names(monitoring.POLICIES)
APPROVAL_POLICIES = policy_names(approvals.POLICIES)
PIPELINE_POLICIES = policy_names(pipelines.POLICIES)
SECURITY_POLICIES = SECRET_POLICIES + TLS_POLICIES + APPROVAL_POLICIES


def _plan_unusable(plan: StackPlan | None, stack: str, error: str | None = None) -> Finding | None:
    needs = f"fix the configuration, then check with `chefchatz plan --stack {stack}`"
    if error:
        return failed(f"the offline plan could not run: {error.strip().splitlines()[0]}", needs)
    if plan is None:
        return unverified(f"no offline plan of stack {stack}", f"add Pulumi.{stack}.yaml; then {needs}")
    if plan.config_error:
        first = plan.config_error.strip().splitlines()[0]
        return failed(f"stack {stack}: configuration error: {first}", needs)
    if not plan.policy_pack:
        return unverified(f"the plan of stack {stack} was made without the policy pack", needs)
    return None


def check_plan(
    plan: StackPlan | None, stack: str, expected_policies: int = len(POLICIES), error: str | None = None
) -> Finding:
    """The stack's configuration is valid, every policy ran, and none mandatory is violated.

    ``error`` is why the offline plan could not run at all (the program crashed), if it could not.
    """
    problem = _plan_unusable(plan, stack, error)
    if problem or plan is None:
        return problem or unverified(f"no plan of {stack}", f"chefchatz plan --stack {stack}")
    resources = sum(1 for r in plan.resources if r["type"] != "pulumi:pulumi:Stack")
    if plan.policies_evaluated < expected_policies:
        return failed(
            f"stack {stack}: only {plan.policies_evaluated} of {expected_policies} policies evaluated "
            "(a policy is disabled)",
            f"re-enable every policy, then `chefchatz plan --stack {stack}`",
        )
    mandatory = plan.mandatory_violations
    if mandatory:
        listed = "; ".join(f"{v.policy} on {v.urn.rsplit('::', 1)[-1] or 'the stack'}" for v in mandatory[:5])
        return failed(
            f"stack {stack}: {len(mandatory)} mandatory policy violation(s): {listed}",
            f"fix them; `chefchatz plan --stack {stack}` shows each with its message",
        )
    advisory = len(plan.violations)
    return verified(
        f"plan of {stack}: {resources} resources, {plan.policies_evaluated} policies evaluated "
        f"({plan.policy_pack}), 0 mandatory violations" + (f", {advisory} advisory" if advisory else "")
    )


def check_policies(
    plan: StackPlan | None,
    stack: str,
    names: Sequence[str],
    label: str,
    any_enforcement: bool = False,
    error: str | None = None,
) -> Finding:
    """None of the named policies (one area of the pack) reports a violation on the stack's plan."""
    problem = _plan_unusable(plan, stack, error)
    if problem or plan is None:
        return problem or unverified(f"no plan of {stack}", f"chefchatz plan --stack {stack}")
    if not names:
        return unverified(f"the policy pack has no {label} policies", f"add {label} policies to policies/")
    hits = [v for v in plan.violations if v.policy in names and (any_enforcement or v.enforcement == "mandatory")]
    if hits:
        listed = "; ".join(f"[{v.enforcement}] {v.policy}: {v.message.splitlines()[0]}" for v in hits[:5])
        return failed(
            f"stack {stack}: {len(hits)} {label} policy violation(s): {listed}",
            f"fix them; `chefchatz plan --stack {stack}` shows each in full",
        )
    listed = f" ({', '.join(names)})" if len(names) <= 5 else ""
    if len(names) == 1:
        return verified(f"{stack}: the {label} policy passes{listed}")
    return verified(f"{stack}: all {len(names)} {label} policies pass{listed}")


# --- offline: workflows -----------------------------------------------------------------------------------


def managed_files(plans: Iterable[StackPlan]) -> dict[str, str]:
    """Workflow files the program commits to the app repository (``github.RepositoryFile`` contents)."""
    files: dict[str, str] = {}
    for plan in plans:
        for resource in plan.resources:
            if resource["type"] != "github:index/repositoryFile:RepositoryFile":
                continue
            props = resource["properties"]
            path, content = props.get("file"), props.get("content")
            if isinstance(path, str) and isinstance(content, str) and path.startswith(".github/workflows/"):
                files[f"app:{path} ({plan.stack})"] = content
    return files


def repository_workflows(project_dir: Path) -> dict[str, str]:
    directory = project_dir / ".github" / "workflows"
    paths = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]) if directory.is_dir() else []
    return {str(p.relative_to(project_dir)): p.read_text(encoding="utf-8") for p in paths}


def check_workflows(own: Mapping[str, str], managed: Mapping[str, str]) -> Finding:
    """Every workflow of this repository and every managed app workflow has no rule violation."""
    if not own:
        return failed("no workflow files in .github/workflows/", "add this repository's CI workflows")
    if not managed:
        return failed(
            "no stack commits the app's workflow files (no github.RepositoryFile under .github/workflows/)",
            "wire components.app_workflows into the Repository component of the stack that owns the rules",
        )
    found = []
    for label, text in {**own, **managed}.items():
        found.extend(workflow_violations(label, text))
    if found:
        listed = "; ".join(str(v) for v in found[:5])
        return failed(
            f"{len(found)} workflow violation(s): {listed}",
            "fix the workflow (own files) or components/app_workflows.py (managed files)",
        )
    return verified(
        f"{len(own)} own + {len(managed)} managed workflow files: 0 violations of "
        "pinned actions, top-level permissions, production environments, untrusted input"
    )


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


# --- evidence: migration rehearsal and drift ------------------------------------------------------------


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
    data, problem = _load_json(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict) or data.get("kind") != "migration-rehearsal":
        return failed(f"{path}: not a `chefchatz migrate rehearse` report", needs)
    finished = parse_time(data.get("finished_at"))
    if finished is None:
        return failed(f"{path}: no finished_at", needs)
    if data.get("stack") != stack:
        return failed(f"{path}: a rehearsal for stack {data.get('stack')!r}, not {stack!r}", needs)
    summary = _mapping(data.get("summary"))
    source = _mapping(data.get("source"))
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


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def drift_needs(path: Path, stack: str) -> str:
    return (
        f"run=$(gh run list --workflow drift.yml --status completed --limit 1 --json databaseId "
        f"--jq '.[0].databaseId') && gh run download \"$run\" --name drift-{stack} --dir {path.parent}"
    )


# The flags that make a drift report evidence: the resources are read back from the clouds first
# (`--refresh`), any difference fails the run (`--expect-no-changes`), and the policies run too.
DRIFT_FLAGS = ("--refresh", "--expect-no-changes", "--policy-pack")


def drift_command_problem(command: Any, stack: str) -> str | None:
    """Why the command a drift report records is not a refresh preview of ``stack``, else None."""
    if not isinstance(command, str) or not command.strip():
        return "it records no command (a report from before drift detection refreshed)"
    words = command.split()
    if words[:2] != ["pulumi", "preview"]:
        return f"it records `{command}`, not a `pulumi preview`"
    missing = [flag for flag in DRIFT_FLAGS if flag not in words]
    if missing:
        return (
            f"it records `{command}`, without {' '.join(missing)}: a preview without --refresh compares the "
            "program with Pulumi's recorded state, not with the cloud"
        )
    if "--stack" in words and words[words.index("--stack") + 1 :][:1] != [stack]:
        return f"it records `{command}`, a preview of another stack"
    return None


def _drift_entry(entry: dict[str, Any]) -> str:
    """``update production (reviewers[0].users[1]: delete, ...)``: the resource, then what differs."""
    name = str(entry.get("urn", "")).rsplit("::", 1)[-1]
    listed = entry.get("properties")
    properties = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    details = ", ".join(f"{p.get('path')}: {p['kind']}" if p.get("kind") else str(p.get("path")) for p in properties)
    return f"{entry.get('op')} {name}" + (f" ({details})" if details else "")


def check_drift_report(
    path: Path, stack: str, now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["drift"]
) -> Finding:
    """The drift workflow's report: `pulumi preview --refresh --expect-no-changes --policy-pack policies`
    on the real stack exited 0 and found nothing that differs (the clouds are what the program says),
    recently. A report of any other command is not evidence."""
    data, problem = _load_json(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict) or data.get("kind") != "drift-report":
        return failed(f"{path}: not a drift report (.github/workflows/drift.yml)", needs)
    if data.get("stack") != stack:
        return failed(f"{path}: a report for stack {data.get('stack')!r}, not {stack!r}", needs)
    not_refresh = drift_command_problem(data.get("command"), stack)
    if not_refresh:
        return unverified(
            f"{path} is not evidence: {not_refresh}; only a refresh preview shows the environment as deployed",
            needs,
        )
    checked = parse_time(data.get("checked_at"))
    if checked is None:
        return failed(f"{path}: no checked_at", needs)
    drift = data.get("drift")
    if not isinstance(drift, list):
        return unverified(f"{path} is not evidence: it lists no drifted resources (`drift`)", needs)
    listed_steps = _mapping(data.get("preview")).get("steps")
    steps = [s for s in listed_steps if isinstance(s, dict)] if isinstance(listed_steps, list) else []
    changes = [entry for entry in drift if isinstance(entry, dict)]
    head = f"pulumi preview --refresh of stack {stack} ({age_text(now - checked)}, {data.get('run_url', 'no run url')})"
    fix = f"see the open `Drift: stack {stack}` issue; reconcile (`pulumi up` or fix the program); then {needs}"
    if changes:
        listed = "; ".join(_drift_entry(entry) for entry in changes[:5])
        more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
        return failed(f"{head}: drifted, {len(changes)} resources differ: {listed}{more}", fix)
    if data.get("exit_code") != 0:
        return failed(f"{head}: exited {data.get('exit_code')} (a policy failed or the preview errored)", fix)
    if not steps:
        return failed(f"{head}: the preview listed no resources", needs)
    return fresh(f"{head}: no changes, every policy passed ({len(steps)} resources)", checked, now, max_age, needs)


# --- evidence: test report --------------------------------------------------------------------------------


def check_test_report(path: Path, now: dt.datetime, max_age: dt.timedelta = DEFAULT_MAX_AGE["test_report"]) -> Finding:
    """A JUnit XML report (``pytest --junitxml``) with tests, none failed or in error, recent enough."""
    needs = f".venv/bin/pytest -q --junitxml={path}"
    if not path.is_file():
        return unverified(f"missing {path}", needs)
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own CI's report
    except ET.ParseError as exc:
        return failed(f"{path} is not JUnit XML ({exc})", needs)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuite", "testsuites"):
        return failed(f"{path}: root element <{root.tag}> is not <testsuites> or <testsuite>", needs)

    def total(attribute: str) -> int:
        return sum(int(s.get(attribute, "0") or 0) for s in suites)

    tests, failures, errors, skipped = total("tests"), total("failures"), total("errors"), total("skipped")
    times = [t for t in (parse_time(s.get("timestamp")) for s in suites) if t is not None]
    when = min(times) if times else file_time(path)
    summary = (
        f"{path.name}: {tests} tests, {failures} failures, {errors} errors, {skipped} skipped ({age_text(now - when)})"
    )
    if tests == 0:
        return failed(f"{summary}: no tests ran", needs)
    if failures or errors:
        return failed(summary, f"fix the failing tests, then {needs}")
    return fresh(summary, when, now, max_age, needs)


# --- evidence: the app's deploy run (migrations) ----------------------------------------------------------


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
    data, problem = _load_json(path, needs)
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


# --- evidence: rollback drill -----------------------------------------------------------------------------


def check_rollback_audit(
    path: Path, now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["rollback"]
) -> Finding:
    """The newest rollback attempt in a ``rollback now/watch --audit-file`` log is a verified rollback."""
    from ops.rollback import read_audit

    if not path.is_file():
        return unverified(f"missing {path}", needs)
    attempts = [r for r in read_audit(path) if r.get("action") in ("rolled-back", "failed")]
    if not attempts:
        return unverified(f"{path}: no rollback attempt recorded", needs)
    newest = max(attempts, key=lambda r: parse_time(r.get("time")) or dt.datetime.min.replace(tzinfo=dt.UTC))
    when = parse_time(newest.get("time"))
    if when is None:
        return failed(f"{path}: newest record has no time", needs)
    what = (
        f"{newest.get('project_id')}: {newest.get('from_deployment')} -> {newest.get('to_deployment')} "
        f"by {newest.get('actor')} ({age_text(now - when)})"
    )
    if newest.get("action") != "rolled-back" or newest.get("verified") is not True:
        return failed(f"rollback of {what} failed: {newest.get('error')}", f"see docs/rollback.md; then {needs}")
    return fresh(f"verified rollback {what}", when, now, max_age, needs)


# --- evidence: backups and the restore drill --------------------------------------------------------------


def check_backup_verification(
    path: Path, kind: str, bucket: str | None, frequency: dt.timedelta, now: dt.datetime, needs: str
) -> Finding:
    """``backup verify --json``: ok, the stack's bucket, a max age no looser than frequency + slack, recent."""
    data, problem = _load_json(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict):
        return failed(f"{path}: not `chefchatz backup verify --json` output", needs)
    if "error" in data and data.get("ok") is False and "kind" not in data:
        return failed(f"{path}: backup verify failed: {data['error']}", needs)
    allowed = frequency + BACKUP_SLACK
    if data.get("kind") != kind:
        return failed(f"{path}: verifies kind {data.get('kind')!r}, not {kind!r}", needs)
    if bucket and data.get("bucket") != bucket:
        return failed(f"{path}: bucket {data.get('bucket')!r} is not this stack's {kind} bucket {bucket!r}", needs)
    if not data.get("ok"):
        problems = "; ".join(str(p) for p in data.get("problems") or []) or "not ok"
        return failed(f"{path}: {problems}", needs)
    finished, age = parse_time(data.get("finished_at")), data.get("age_seconds")
    if finished is None or not isinstance(age, int | float):
        return failed(f"{path}: no finished_at/age_seconds", needs)
    max_age = data.get("max_age_seconds")
    if not isinstance(max_age, int | float) or max_age > allowed.total_seconds():
        return failed(
            f"{path}: verified with --max-age {max_age}s, looser than the {kind} frequency + slack "
            f"({duration_text(allowed)})",
            needs,
        )
    verified_at = finished + dt.timedelta(seconds=age)
    summary = (
        f"{kind} backup {data.get('backup_id')} in {data.get('bucket')}: checksums ok, "
        f"{data.get('checked_bytes')} bytes, verified {age_text(now - verified_at)}"
    )
    if data.get("pitr") is not None:
        summary += f", PITR {'on' if data['pitr'].get('pitr_enabled') else 'off'}"
    return fresh(summary, verified_at, now, allowed, needs)


def check_drill(
    path: Path, rto: dt.timedelta, now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["drill"]
) -> Finding:
    """``drill --json``: ok, every table matched, within the stack's RTO, of a backup <= ``max_age`` old."""
    data, problem = _load_json(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict):
        return failed(f"{path}: not `chefchatz drill --json` output", needs)
    if "error" in data and data.get("ok") is False and "rto_seconds" not in data:
        return failed(f"{path}: the drill failed: {data['error']}", needs)
    if not data.get("ok"):
        problems = "; ".join(str(p) for p in data.get("problems") or []) or "not ok"
        return failed(f"{path}: drill failed: {problems}", needs)
    seconds, target = data.get("seconds"), data.get("rto_seconds")
    if not isinstance(seconds, int | float) or not isinstance(target, int | float):
        return failed(f"{path}: no seconds/rto_seconds", needs)
    if target > rto.total_seconds():
        return failed(
            f"{path}: drilled against --rto {duration_text(dt.timedelta(seconds=target))}, "
            f"looser than the stack's RTO {duration_text(rto)}",
            needs,
        )
    if not data.get("within_rto") or seconds > rto.total_seconds():
        return failed(f"{path}: restore took {seconds:g}s, over the RTO of {rto.total_seconds():g}s", needs)
    backup_time = backuplib.backup_id_time(str(data.get("backup_id") or ""))
    if backup_time is None:
        return failed(f"{path}: backup_id {data.get('backup_id')!r} is not a backup id", needs)
    tables = data.get("tables") or []
    if not tables:
        return failed(f"{path}: the drill compared no tables (an empty backup proves no restore)", needs)
    summary = (
        f"drill restored {data['backup_id']} in {seconds:g}s (RTO {duration_text(rto)}), "
        f"{len(tables)} tables matched, backup {age_text(now - backup_time)}"
    )
    return fresh(summary, backup_time, now, max_age, needs)


# --- evidence: TLS and health ----------------------------------------------------------------------------


def check_tls_report(
    path: Path, host: str, now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["tls"]
) -> Finding:
    """A saved ``tls-check HOST --json`` report of ``host`` that passed, no older than ``max_age``."""
    data, problem = _load_json(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        return failed(f"{path}: not `chefchatz tls-check --json` output", needs)
    if data.get("host") != host:
        return failed(f"{path}: a report of {data.get('host')!r}, not {host!r}", needs)
    saved = file_time(path)
    verdict = _tls_verdict(host, data["checks"], f"saved {age_text(now - saved)}", needs)
    if verdict.status is not Status.VERIFIED:
        return verdict
    return fresh(verdict.evidence, saved, now, max_age, needs)


def _tls_verdict(host: str, checks: list[Any], when: str, needs: str) -> Finding:
    failing = [c for c in checks if isinstance(c, dict) and not c.get("passed")]
    names = ", ".join(str(c.get("name")) for c in checks if isinstance(c, dict))
    if not checks:
        return failed(f"TLS report of {host} has no checks", needs)
    if failing:
        listed = "; ".join(f"{c.get('name')}: {c.get('detail')}" for c in failing)
        return failed(f"TLS of {host} ({when}): {listed}", needs)
    return verified(f"TLS of {host} ({when}): {names} passed")


def check_tls_live(host: str, checker: Callable[[str], Any], needs: str) -> Finding:
    """Run the live TLS check of ``host`` now (``checker`` returns an ``ops.tls.TlsReport``)."""
    from ops.tls import TlsCheckError

    try:
        report = checker(host)
    except TlsCheckError as exc:
        return failed(f"live TLS check of {host}: {exc}", needs)
    checks = report.to_dict()["checks"]
    return _tls_verdict(host, checks, "checked live now", needs)


def check_watch(
    path: Path, domains: Sequence[str], now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["watch"]
) -> Finding:
    """``rollback watch --json``: a healthy watch of one of ``domains``, its newest interval recent."""
    data, problem = _load_json(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict) or "action" not in data:
        return failed(f"{path}: not `chefchatz rollback watch --json` output", needs)
    url = str(data.get("deployment_url") or "")
    host = re.sub(r"^https?://", "", url).split("/", 1)[0].split(":", 1)[0]
    if host not in domains:
        return failed(f"{path}: watched {url!r}, not a domain of this stack ({', '.join(domains)})", needs)
    if data["action"] != "healthy":
        why = data.get("reason") or data.get("message")
        return failed(f"{path}: watch of {url} ended {data['action']!r}: {why}", needs)
    intervals = [i for i in data.get("evidence") or [] if isinstance(i, dict)]
    times = [t for t in (parse_time(i.get("started_at")) for i in intervals) if t is not None]
    if not times:
        return failed(f"{path}: the watch recorded no probe intervals", needs)
    requests = sum(int(i.get("requests") or 0) for i in intervals)
    newest = max(times)
    summary = (
        f"healthy watch of {url}: {data.get('message')} (last interval {age_text(now - newest)}, {requests} probes)"
    )
    if requests == 0:
        return failed(f"{path}: the watch sent no probes", needs)
    return fresh(summary, newest, now, max_age, needs)


# --- offline: documentation -------------------------------------------------------------------------------

_CODE_IN_DOCS = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
_COMMAND_IN_CODE = re.compile(r"(?<![\w/.-])chefchatz((?:[ \t]+[a-z][a-z-]*)+)")


def documented_commands(text: str) -> set[str]:
    """Commands named in code (fenced blocks, inline code): ``chefchatz backup verify --json`` -> "backup verify".

    At most two words are kept (group and command); prose mentioning "the chefchatz tool" is not code.
    """
    found = set()
    for code in _CODE_IN_DOCS.findall(text):
        for match in _COMMAND_IN_CODE.finditer(code):
            found.add(" ".join(match.group(1).split()[:2]))
    return found


def check_documentation(project_dir: Path, commands: Mapping[str, str]) -> Finding:
    """Runbooks present; every ``chefchatz`` command they name exists; every command's help has an example.

    ``commands`` maps each registered command path ("backup verify", "drill") to its help text.
    """
    missing = [d for d in DOCUMENTS if not (project_dir / d).is_file()]
    if missing:
        return failed(f"missing documents: {', '.join(missing)}", "write them (see docs/signoff.md)")
    groups = {c.split()[0] for c in commands}
    unknown: list[str] = []
    for document in DOCUMENTS:
        for named in sorted(documented_commands((project_dir / document).read_text(encoding="utf-8"))):
            words = named.split()
            if named in commands or words[0] in commands or (len(words) == 1 and words[0] in groups):
                continue
            unknown.append(f"{document}: `chefchatz {named}`")
    if unknown:
        return failed(f"documents name commands that do not exist: {'; '.join(unknown)}", "fix the runbooks")
    without_example = sorted(path for path, text in commands.items() if "example" not in text.lower())
    if without_example:
        return failed(
            f"command help without an example: {', '.join(without_example)}",
            "add an Example: to each command's docstring",
        )
    return verified(f"{len(DOCUMENTS)} documents present; {len(commands)} commands, each with help and an example")


def check_document(project_dir: Path, document: str) -> Finding:
    path = project_dir / document
    if not path.is_file() or not path.read_text(encoding="utf-8").strip():
        return failed(f"{document} is missing or empty", f"write {document}")
    return verified(f"{document} present")


# --- gathering and the checklist --------------------------------------------------------------------------


def plan_domains(plan: StackPlan | None) -> list[str]:
    """The domains a stack's plan attaches to its Vercel project."""
    return [
        r["properties"]["domain"]
        for r in (plan.resources if plan else [])
        if r["type"] == "vercel:index/projectDomain:ProjectDomain" and isinstance(r["properties"].get("domain"), str)
    ]


@dataclass
class Inputs:
    """Everything the checks read for one stack; built by :func:`gather`, or directly in tests."""

    stack: str
    project_dir: Path
    evidence_dir: Path
    now: dt.datetime
    plans: dict[str, StackPlan]
    commands: dict[str, str]
    test_report: Path | None = None
    tls_checker: Callable[[str], Any] | None = None
    max_age: dict[str, dt.timedelta] = field(default_factory=lambda: dict(DEFAULT_MAX_AGE))
    settings_error: str | None = None
    settings: Settings | None = None
    plan_error: str | None = None

    def file(self, key: str, **names: str) -> Path:
        return self.evidence_dir / EVIDENCE_FILES[key].format(**names)

    def plan(self, stack: str) -> StackPlan | None:
        return self.plans.get(stack)

    @property
    def own_plan(self) -> StackPlan | None:
        return self.plans.get(self.stack)

    @property
    def domains(self) -> list[str]:
        found = plan_domains(self.own_plan)
        if not found and self.settings is not None:
            found = [self.settings.environment.domain]
        return found

    def backup_bucket(self, kind: str) -> str | None:
        """This stack's (primary, not replica) backup bucket of a kind, from its plan."""
        plan = self.own_plan
        wanted = {"db": "database", "assets": "assets"}[kind]
        for r in plan.resources if plan else []:
            tags = r["properties"].get("tags") or {}
            if r["type"] == "aws:s3/bucket:Bucket" and isinstance(tags, dict) and tags.get("backup-kind") == wanted:
                bucket = r["properties"].get("bucket")
                return bucket if isinstance(bucket, str) else None
        return None

    def vercel_project(self, stack: str) -> str:
        plan = self.plans.get(stack)
        for r in plan.resources if plan else []:
            if r["type"] == "vercel:index/project:Project" and isinstance(r["properties"].get("name"), str):
                return str(r["properties"]["name"])
        return f"chefchatz-{stack}"

    @property
    def app_repository(self) -> str:
        if self.settings is None:
            return "chefchatz/chefchatz"
        return f"{self.settings.platform.github_owner}/{self.settings.platform.app_repository}"


def stacks_needed(stack: str, available: Sequence[str]) -> list[str]:
    """The stack itself, then dev, staging and prod: the items naming an environment check its stack."""
    return [s for s in dict.fromkeys([stack, *ENVIRONMENT_STACKS]) if s in available]


def gather(
    project_dir: Path,
    stack: str,
    evidence_dir: Path,
    commands: dict[str, str],
    *,
    test_report: Path | None = None,
    tls_checker: Callable[[str], Any] | None = None,
    now: dt.datetime | None = None,
    planner: Callable[[Path, list[str]], list[StackPlan]] | None = None,
) -> Inputs:
    """Plan the stacks the checklist needs (the slow part: seconds per stack) and read the settings."""
    from ops.plan import stack_names

    stacks = stacks_needed(stack, stack_names(project_dir))
    plan_error = None
    try:
        plans = {p.stack: p for p in (planner or run_plan)(project_dir, stacks)}
    except RuntimeError as exc:  # the program itself crashed under the mocks: every plan item fails with it
        plans, plan_error = {}, str(exc)
    inputs = Inputs(
        stack=stack,
        project_dir=project_dir,
        evidence_dir=evidence_dir,
        now=now or dt.datetime.now(dt.UTC),
        plans=plans,
        commands=commands,
        test_report=test_report,
        tls_checker=tls_checker,
        plan_error=plan_error,
    )
    try:
        inputs.settings = load_stack_settings(project_dir, stack)
    except Exception as exc:  # any configuration problem is already a failed plan item; keep its text
        inputs.settings_error = str(exc)
    return inputs


# Each check: (Inputs) -> Finding. Items list their checks; a check shared by items runs once per item
# (they are cheap: the plans are computed once in `gather`).


def _plan_of(stack: str) -> Callable[[Inputs], Finding]:
    return lambda i: check_plan(i.plan(stack), stack, error=i.plan_error)


def _own_plan(i: Inputs) -> Finding:
    return check_plan(i.own_plan, i.stack, error=i.plan_error)


def _policies(
    names: Sequence[str], label: str, any_enforcement: bool = False, stack: str | None = None
) -> Callable[[Inputs], Finding]:
    """The named policies on `stack`'s plan (default: the stack being signed off)."""

    def check(i: Inputs) -> Finding:
        name = stack or i.stack
        return check_policies(i.plan(name), name, names, label, any_enforcement, i.plan_error)

    return check


def _workflows(i: Inputs) -> Finding:
    return check_workflows(repository_workflows(i.project_dir), managed_files(i.plans.values()))


def _migration_pipeline(i: Inputs) -> Finding:
    return check_migration_pipeline(managed_files(i.plans.values()))


def _test_report(i: Inputs) -> Finding:
    return check_test_report(i.test_report or i.file("test_report"), i.now, i.max_age["test_report"])


def _deploy_run(required_steps: Sequence[str], whole_job: bool) -> Callable[[Inputs], Finding]:
    def check(i: Inputs) -> Finding:
        path = i.file("deploy_run")
        return check_deploy_run(
            path,
            STAGING_DEPLOY_JOB,
            i.now,
            deploy_run_needs(path, i.app_repository),
            required_steps,
            whole_job,
            i.max_age["deploy_run"],
        )

    return check


def _rehearsal(i: Inputs) -> Finding:
    path = i.file("migration_rehearsal")
    environment = next((e for e in default_environments() if e.stack == i.stack), None)
    if environment is not None and environment.rehearse_migrations:
        workflow = "deploy-production.yml" if environment.production else "deploy.yml"
        needs = (
            f"run=$(gh run list --repo {i.app_repository} --workflow {workflow} --status completed --limit 1 "
            f"--json databaseId --jq '.[0].databaseId') && gh run download \"$run\" --repo {i.app_repository} "
            f"--name migration-rehearsal-{environment.name} --dir {path.parent}"
        )
    else:
        bucket = f" --bucket {i.backup_bucket('db')}" if i.backup_bucket("db") else ""
        needs = (
            f"chefchatz migrate rehearse --migrations supabase/migrations --stack {i.stack}{bucket} "
            f"--scratch-url postgresql://postgres@<host>:5432/chefchatz_scratch --report {path}"
        )
    backups_on = i.settings.backups.enabled if i.settings is not None else True
    return check_migration_rehearsal(
        path, i.stack, i.now, needs, backup_required=backups_on, max_age=i.max_age["migration_rehearsal"]
    )


def _drift(stack: str) -> Callable[[Inputs], Finding]:
    def check(i: Inputs) -> Finding:
        path = i.file("drift", stack=stack)
        needs = drift_needs(path, stack)
        if not path.is_file():
            return unverified(f"stack {stack} is configured (offline plan), not shown deployed: missing {path}", needs)
        return check_drift_report(path, stack, i.now, needs, i.max_age["drift"])

    return check


def _rollback(i: Inputs) -> Finding:
    path = i.file("rollback_audit")
    rehearsal = STAGING if STAGING in i.plans else i.stack
    team = f" --team-id {i.settings.platform.vercel_team_id}" if i.settings else ""
    needs = (
        f"on {rehearsal}, after a deploy: VERCEL_TOKEN=... chefchatz rollback now --project-id "
        f"{i.vercel_project(rehearsal)}{team} --reason 'rollback drill' --audit-file {path}  (docs/rollback.md)"
    )
    return check_rollback_audit(path, i.now, needs, i.max_age["rollback"])


def _settings_unreadable(i: Inputs) -> Finding:
    return failed(f"stack {i.stack}: settings unreadable: {i.settings_error}", f"chefchatz plan --stack {i.stack}")


def _backup_verification(kind: str) -> Callable[[Inputs], Finding]:
    def check(i: Inputs) -> Finding:
        settings = i.settings
        if settings is None:
            return _settings_unreadable(i)
        plan = settings.backups.database if kind == "db" else settings.backups.assets
        frequency = dt.timedelta(seconds=plan.frequency_s)
        bucket = i.backup_bucket(kind)
        if not settings.backups.enabled or bucket is None:
            return failed(f"stack {i.stack} has no {kind} backup bucket (backupsEnabled is off?)", "enable backups")
        path = i.file("backup_verify", kind=kind)
        pitr = f" --supabase-project-ref {settings.platform.supabase_project_ref}" if kind == "db" else ""
        needs = (
            f"chefchatz backup verify --kind {kind} --bucket {bucket} "
            f"--max-age {duration_text(frequency + BACKUP_SLACK)}{pitr} --json > {path}"
        )
        return check_backup_verification(path, kind, bucket, frequency, i.now, needs)

    return check


def _drill(i: Inputs) -> Finding:
    if i.settings is None:
        return _settings_unreadable(i)
    rto = dt.timedelta(seconds=i.settings.disaster_recovery.rto_s)
    path = i.file("drill")
    needs = (
        f"chefchatz drill --bucket {i.backup_bucket('db') or '<db backup bucket>'} --stack {i.stack} "
        f"--rto {duration_text(rto)} --scratch-url postgresql://drill@<host>:5432/chefchatz_drill "
        f"--json > {path}"
    )
    return check_drill(path, rto, i.now, needs, i.max_age["drill"])


def _tls_verified(i: Inputs) -> list[Finding]:
    domains = i.domains
    if not domains:
        return [failed(f"stack {i.stack} has no domains in its plan", f"chefchatz plan --stack {i.stack}")]
    findings = []
    for host in domains:
        path = i.file("tls", host=host)
        needs = f"chefchatz tls-check {host} --platform-exception vercel --json > {path}  (or signoff --live)"
        if i.tls_checker is not None:
            findings.append(check_tls_live(host, i.tls_checker, needs))
        else:
            findings.append(check_tls_report(path, host, i.now, needs, i.max_age["tls"]))
    return findings


def _watch(stack: str) -> Callable[[Inputs], Finding]:
    def check(i: Inputs) -> Finding:
        domains = plan_domains(i.plan(stack))
        path = i.file("watch", stack=stack)
        url = f"https://{domains[0]}" if domains else f"https://<{stack} domain>"
        needs = (
            f"chefchatz rollback watch --deployment-url {url} --project-id {i.vercel_project(stack)} "
            f"--no-automatic --window 2m --json > {path}"
        )
        if not domains:
            return unverified(f"no plan of stack {stack} with domains", needs)
        return check_watch(path, domains, i.now, needs, i.max_age["watch"])

    return check


def _documentation(i: Inputs) -> Finding:
    return check_documentation(i.project_dir, i.commands)


def _rollback_runbook(i: Inputs) -> Finding:
    return check_document(i.project_dir, "docs/rollback.md")


Check = Callable[[Inputs], Finding | list[Finding]]

CHECKLIST: tuple[tuple[str, str, tuple[Check, ...]], ...] = (
    (IMPLEMENTATION, "Development environment configured", (_plan_of(DEVELOPMENT),)),
    (IMPLEMENTATION, "Staging environment operational", (_plan_of(STAGING), _watch(STAGING), _drift(STAGING))),
    (IMPLEMENTATION, "Production environment ready", (_plan_of(PRODUCTION), _drift(PRODUCTION))),
    (IMPLEMENTATION, "CI/CD pipeline tested", (_test_report, _workflows)),
    (
        IMPLEMENTATION,
        "Database migrations working",
        (_migration_pipeline, _deploy_run(MIGRATION_STEPS, False), _rehearsal),
    ),
    (IMPLEMENTATION, "Rollback procedures tested", (_rollback,)),
    (IMPLEMENTATION, "Backup strategy implemented", (_policies(BACKUP_POLICIES, "backups"),)),
    (IMPLEMENTATION, "SSL certificates configured", (_policies(TLS_POLICIES, "TLS"),)),
    (IMPLEMENTATION, "Environment variables secured", (_policies(SECRET_POLICIES, "secrets"),)),
    (
        IMPLEMENTATION,
        "Monitoring integration verified",
        (_policies(MONITORING_POLICIES, "monitoring"), lambda i: _watch(i.stack)(i)),
    ),
    (SIGNOFF, "Development environment validated", (_plan_of(DEVELOPMENT), _drift(DEVELOPMENT))),
    (SIGNOFF, "Staging environment tested", (_deploy_run((), True),)),
    (
        SIGNOFF,
        "Production environment secured",
        (_policies(SECURITY_POLICIES, "security", any_enforcement=True, stack=PRODUCTION),),
    ),
    (
        SIGNOFF,
        "CI/CD pipeline approved",
        # prod owns the repository rules, the release approvals and the managed workflow files.
        (
            _policies(APPROVAL_POLICIES, "approvals", stack=PRODUCTION),
            _policies(PIPELINE_POLICIES, "pipelines", stack=PRODUCTION),
            _workflows,
        ),
    ),
    (SIGNOFF, "Database migrations verified", (_migration_pipeline, _deploy_run(MIGRATION_STEPS, False), _rehearsal)),
    (SIGNOFF, "Rollback procedures tested", (_rollback, _rollback_runbook)),
    (SIGNOFF, "Backup system operational", (_backup_verification("db"), _backup_verification("assets"), _drill)),
    (SIGNOFF, "SSL configuration verified", (_tls_verified,)),
    (
        SIGNOFF,
        "Security measures approved",
        (_own_plan, _policies(tuple(p.name for p in POLICIES), "pack", any_enforcement=True), _workflows),
    ),
    (SIGNOFF, "Documentation completed", (_documentation,)),
)


def evaluate(inputs: Inputs) -> list[ItemResult]:
    """Every item of both lists, in the spec's order."""
    results = []
    for list_name, item, checks in CHECKLIST:
        findings: list[Finding] = []
        for check in checks:
            outcome = check(inputs)
            findings.extend(outcome if isinstance(outcome, list) else [outcome])
        results.append(combine(list_name, item, findings))
    return results


def all_verified(results: Sequence[ItemResult]) -> bool:
    return bool(results) and all(r.status is Status.VERIFIED for r in results)


def exit_code(results: Sequence[ItemResult]) -> int:
    return EXIT_VERIFIED if all_verified(results) else EXIT_NOT_VERIFIED


def to_json(stack: str, results: Sequence[ItemResult]) -> dict[str, Any]:
    return {"stack": stack, "items": [r.as_json() for r in results], "verified": all_verified(results)}


def _code(text: str) -> str:
    """A command as inline code, unless it already quotes code itself (backticks cannot nest)."""
    return text if "`" in text else f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(stack: str, results: Sequence[ItemResult]) -> str:
    marks = {Status.VERIFIED: "✅ verified", Status.UNVERIFIED: "⚠️ unverified", Status.FAILED: "❌ failed"}
    done = sum(r.status is Status.VERIFIED for r in results)
    lines = [f"## Sign-off of stack `{stack}`: {done}/{len(results)} verified", ""]
    for list_name in (IMPLEMENTATION, SIGNOFF):
        lines += [f"### {list_name}", "", "| Item | Status | Evidence | Needs |", "| --- | --- | --- | --- |"]
        for r in (r for r in results if r.list_name == list_name):
            lines.append(
                f"| {_cell(r.item)} | {marks[r.status]} | {_cell('<br>'.join(r.evidence))} | "
                f"{_cell('<br>'.join(_code(n) for n in r.needs))} |"
            )
        lines.append("")
    verdict = "All items verified." if all_verified(results) else "NO PROCEEDING until all items are verified."
    lines.append(f"**{verdict}**")
    return "\n".join(lines) + "\n"
