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

The checks live beside this module, one module per kind of evidence (``evidence`` holds what they share,
``report`` renders the results); this module holds the checklist: which checks prove each item, and
the inputs they read. Every name the checks' modules define is importable from here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.app_workflows import default_environments
from ops.plan import StackPlan, load_stack_settings, run_plan
from ops.signoff.documentation import DOCUMENTS, check_document, check_documentation, documented_commands
from ops.signoff.domains import check_tls_live, check_tls_report, check_watch
from ops.signoff.drift import DRIFT_FLAGS, check_drift_report, drift_command_problem, drift_needs
from ops.signoff.evidence import (
    BACKUP_SLACK,
    DEFAULT_MAX_AGE,
    EVIDENCE_FILES,
    FUTURE_TOLERANCE,
    IMPLEMENTATION,
    SIGNOFF,
    Finding,
    ItemResult,
    Status,
    age_text,
    combine,
    duration_text,
    failed,
    file_time,
    fresh,
    parse_time,
    unverified,
    verified,
)
from ops.signoff.migrations import (
    MIGRATION,
    MIGRATION_STEPS,
    PRE_MIGRATION_BACKUP,
    REHEARSAL,
    REHEARSING_ENVIRONMENTS,
    STAGING_DEPLOY_JOB,
    VERCEL_DEPLOY,
    check_deploy_run,
    check_migration_pipeline,
    check_migration_rehearsal,
    deploy_run_needs,
)
from ops.signoff.pipeline import check_test_report, check_workflows, managed_files, repository_workflows
from ops.signoff.plans import (
    APPROVAL_POLICIES,
    BACKUP_POLICIES,
    MONITORING_POLICIES,
    PIPELINE_POLICIES,
    SECRET_POLICIES,
    SECURITY_POLICIES,
    TLS_POLICIES,
    check_plan,
    check_policies,
    plan_domains,
    policy_names,
)
from ops.signoff.recovery import check_backup_verification, check_drill, check_rollback_audit
from ops.signoff.report import (
    EXIT_NOT_VERIFIED,
    EXIT_USAGE,
    EXIT_VERIFIED,
    all_verified,
    exit_code,
    to_json,
    to_markdown,
)
from policies.pack import POLICIES

if TYPE_CHECKING:
    from components.settings import Settings

__all__ = [
    "APPROVAL_POLICIES",
    "BACKUP_POLICIES",
    "BACKUP_SLACK",
    "CHECKLIST",
    "DEFAULT_MAX_AGE",
    "DEVELOPMENT",
    "DOCUMENTS",
    "DRIFT_FLAGS",
    "ENVIRONMENT_STACKS",
    "EVIDENCE_FILES",
    "EXIT_NOT_VERIFIED",
    "EXIT_USAGE",
    "EXIT_VERIFIED",
    "FUTURE_TOLERANCE",
    "IMPLEMENTATION",
    "MIGRATION",
    "MIGRATION_STEPS",
    "MONITORING_POLICIES",
    "PIPELINE_POLICIES",
    "PRE_MIGRATION_BACKUP",
    "PRODUCTION",
    "REHEARSAL",
    "REHEARSING_ENVIRONMENTS",
    "SECRET_POLICIES",
    "SECURITY_POLICIES",
    "SIGNOFF",
    "STAGING",
    "STAGING_DEPLOY_JOB",
    "TLS_POLICIES",
    "VERCEL_DEPLOY",
    "Check",
    "Finding",
    "Inputs",
    "ItemResult",
    "Status",
    "age_text",
    "all_verified",
    "check_backup_verification",
    "check_deploy_run",
    "check_document",
    "check_documentation",
    "check_drift_report",
    "check_drill",
    "check_migration_pipeline",
    "check_migration_rehearsal",
    "check_plan",
    "check_policies",
    "check_rollback_audit",
    "check_test_report",
    "check_tls_live",
    "check_tls_report",
    "check_watch",
    "check_workflows",
    "combine",
    "deploy_run_needs",
    "documented_commands",
    "drift_command_problem",
    "drift_needs",
    "duration_text",
    "evaluate",
    "exit_code",
    "failed",
    "file_time",
    "fresh",
    "gather",
    "managed_files",
    "parse_time",
    "plan_domains",
    "policy_names",
    "repository_workflows",
    "stacks_needed",
    "to_json",
    "to_markdown",
    "unverified",
    "verified",
]

# The stacks the checklist's environment items name (Pulumi.<stack>.yaml).
DEVELOPMENT, STAGING, PRODUCTION = "dev", "staging", "prod"
ENVIRONMENT_STACKS = (DEVELOPMENT, STAGING, PRODUCTION)


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
