"""Evidence files for the sign-off tests, in the shapes the real commands write, built with the real
library objects wherever that is cheap (a plain module, not conftest, so tests import it by a unique name):

- `backup-verify-*.json`, `drill.json`: `ops.backup.VerifyResult` / `DrillResult` `.to_json()`;
- `tls-*.json`: `ops.tls.check.evaluate(ScanFacts, TlsPolicy)` `.to_dict()`;
- `watch-*.json`: `ops.rollback.Outcome.as_dict()` with intervals judged by `ops.rollback.evaluate`;
- `rollback-audit.jsonl`: `ops.rollback.audit_record` appended with `append_audit`;
- `migration-rehearsal.json`: `ops.migrate.Rehearsal.to_json()` (what `migrate rehearse --report` writes);
- `drift-<stack>.json`: the report `.github/workflows/drift.yml` writes around `pulumi preview --json`
  (tests/workflows/test_drift_workflow.py runs that script and checks its output against this shape);
- `deploy-run.json`: GitHub CLI's `gh run view --json conclusion,createdAt,headSha,jobs,url,workflowName`
  shape, with the job and step names of the generated `deploy.yml` (read from the plan).

`junit.xml` comes from a real `pytest --junitxml` run (the `junit_reports` fixture).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from ops import backup as backuplib
from ops import migrate
from ops.plan import StackPlan
from ops.rollback import action as act
from ops.rollback.guard import IntervalReport
from ops.rollback.probes import IntervalMetrics, Transactions
from ops.rollback.settings import NoDataPolicy, Thresholds
from ops.rollback.verdicts import advance_streak, evaluate
from ops.signoff import checks as so
from ops.tls import check as tlscheck

REPO_ROOT = Path(__file__).resolve().parents[2]
STACKS = ["dev", "staging", "prod"]
# The rest of the command drift.yml runs after `--stack S --refresh --expect-no-changes`.
REST = "--policy-pack policies --json --non-interactive"


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


@dataclass
class Evidence:
    """Writes evidence files into one directory, each as the real command writes it."""

    directory: Path
    now: dt.datetime

    def write_json(self, name: str, data: Any) -> Path:
        path = self.directory / name
        path.write_text(json.dumps(data, indent=2))
        return path

    def verify_result(
        self,
        kind: str = "db",
        bucket: str = "chefchatz-prod-database-backups",
        backup_age: dt.timedelta = dt.timedelta(hours=2),
        verified_ago: dt.timedelta = dt.timedelta(minutes=5),
        max_age: dt.timedelta = dt.timedelta(hours=7),
        problems: list[str] | None = None,
    ) -> backuplib.VerifyResult:
        finished = self.now - verified_ago - backup_age
        return backuplib.VerifyResult(
            ok=not problems,
            kind=kind,
            bucket=bucket,
            backup_id=backuplib.new_backup_id(finished, "a1b2c3"),
            finished_at=iso(finished),
            age_seconds=round(backup_age.total_seconds(), 1),
            max_age_seconds=max_age.total_seconds(),
            checked_bytes=52_428_800,
            problems=problems or [],
            pitr={
                "project_ref": "chefchatzprod",
                "pitr_enabled": True,
                "walg_enabled": True,
                "region": "us-east-1",
                "backups": 7,
            }
            if kind == "db"
            else None,
        )

    def backup_verify(self, kind: str = "db", **kwargs: Any) -> Path:
        if kind == "assets":
            kwargs.setdefault("bucket", "chefchatz-prod-assets-backups")
            kwargs.setdefault("max_age", dt.timedelta(hours=25))
        return self.write_json(f"backup-verify-{kind}.json", self.verify_result(kind, **kwargs).to_json())

    def drill_result(
        self,
        backup_age: dt.timedelta = dt.timedelta(days=1),
        seconds: float = 312.4,
        rto: dt.timedelta = dt.timedelta(minutes=15),
        problems: list[str] | None = None,
    ) -> backuplib.DrillResult:
        backup_id = backuplib.new_backup_id(self.now - backup_age, "d4e5f6")
        restore = backuplib.RestoreResult(
            backup_id=backup_id,
            target="drill@127.0.0.1:5432/chefchatz_drill",
            clean=False,
            layout="directory",
            jobs=2,
            stored_bytes=10_485_760,
            restored_bytes=41_943_040,
            database_bytes=52_428_800,
            verify_seconds=20.1,
            restore_seconds=seconds - 20.1,
            seconds=seconds,
        )
        tables = [
            backuplib.TableCheck("public.profiles", 1200, True, 1200, "ok"),
            backuplib.TableCheck("public.recipes", 5400, True, 5400, "ok"),
        ]
        within = seconds <= rto.total_seconds()
        all_problems = list(problems or [])
        if not within:
            all_problems.append(f"restore took {seconds}s, over the RTO")
        return backuplib.DrillResult(
            ok=not all_problems,
            backup_id=backup_id,
            scratch="drill@127.0.0.1:5432/chefchatz_drill",
            seconds=seconds,
            rto_seconds=rto.total_seconds(),
            within_rto=within,
            restore=restore.to_json(),
            tables=[t.__dict__ for t in tables],
            problems=all_problems,
            warnings=[],
        )

    def drill(self, **kwargs: Any) -> Path:
        return self.write_json("drill.json", self.drill_result(**kwargs).to_json())

    def tls_report(self, host: str, days_left: int = 60, issuer: str = "Let's Encrypt") -> tlscheck.TlsReport:
        certificate = tlscheck.CertificateFacts(
            names=(host,),
            issuer_organizations=(issuer,),
            issuer=f"CN=R11,O={issuer},C=US",
            not_after=self.now + dt.timedelta(days=days_left, hours=1),
            trust_store="Mozilla",
            trusted=True,
            validation_error=None,
        )
        facts = tlscheck.ScanFacts(
            host=host,
            port=443,
            accepted_suites={
                "SSL 2.0": (),
                "SSL 3.0": (),
                "TLS 1.0": (),
                "TLS 1.1": (),
                "TLS 1.2": ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"),
                "TLS 1.3": ("TLS_AES_128_GCM_SHA256",),
            },
            certificates=(certificate,),
        )
        return tlscheck.evaluate(facts, tlscheck.TlsPolicy(), self.now)

    def tls(self, host: str, **kwargs: Any) -> Path:
        return self.write_json(f"tls-{host}.json", self.tls_report(host, **kwargs).to_dict())

    def watch_outcome(
        self, url: str, action: str = "healthy", last_interval_ago: dt.timedelta = dt.timedelta(minutes=10)
    ) -> act.Outcome:
        thresholds = Thresholds(
            error_rate=Fraction(1, 100), response_time_ms=1000.0, failed_transaction_rate=Fraction(1, 1000)
        )
        reports = []
        streak = 0
        for index in range(4):
            started = self.now - last_interval_ago - dt.timedelta(seconds=30 * (3 - index))
            metrics = IntervalMetrics(
                index=index,
                started_at=started.timestamp(),
                requests=2,
                errors=0,
                latencies_ms=(84.0, 61.0),
                health_answered=True,
                transactions=Transactions(total=4800, failed=1, window_seconds=300),
            )
            verdict = evaluate(metrics, thresholds, NoDataPolicy.BREACH)
            streak = advance_streak(streak, verdict.state)
            reports.append(IntervalReport(metrics, verdict, streak))
        return act.Outcome(
            action=action,
            project_id="chefchatz-prod",
            automatic=False,
            deployment_url=url,
            message=f"healthy: {len(reports)} intervals over 120s without 2 consecutive breaches",
            evidence=[r.as_dict() for r in reports[-2:]],
        )

    def watch(self, stack: str, url: str, **kwargs: Any) -> Path:
        return self.write_json(f"watch-{stack}.json", self.watch_outcome(url, **kwargs).as_dict())

    def rollback(
        self,
        action: str = "rolled-back",
        ago: dt.timedelta = dt.timedelta(days=3),
        error: str | None = None,
    ) -> Path:
        path = self.directory / "rollback-audit.jsonl"
        outcome = act.Outcome(
            action=action,
            project_id="chefchatz-staging",
            reason="rollback drill",
            automatic=False,
            from_deployment="dpl_new111",
            to_deployment="dpl_old000",
            verified=action == "rolled-back",
            error=error,
        )
        context = act.RollbackContext(
            project_id="chefchatz-staging", team_id="chefchatz", actor="oncall", audit_file=path
        )
        act.append_audit(path, act.audit_record(outcome, context, now=self.now - ago))
        return path

    def deploy_run(
        self,
        deploy_workflow: str,
        job: str = "deploy (staging)",
        ago: dt.timedelta = dt.timedelta(days=2),
        failing_step: str | None = None,
    ) -> Path:
        """`gh run view --json conclusion,createdAt,headSha,jobs,url,workflowName` of a Deploy run."""
        document = yaml.safe_load(deploy_workflow)
        created = self.now - ago
        jobs = []
        for number, (job_id, spec) in enumerate(document["jobs"].items(), start=1):
            steps = []
            broken = False
            for index, step in enumerate(spec["steps"], start=1):
                conclusion = "success"
                if spec.get("name", job_id) == job and step.get("name") == failing_step:
                    conclusion, broken = "failure", True
                elif broken and "if" not in step:
                    conclusion = "skipped"
                steps.append(
                    {
                        "name": step.get("name", f"step {index}"),
                        "conclusion": conclusion,
                        "status": "completed",
                        "number": index,
                    }
                )
            jobs.append(
                {
                    "name": spec.get("name", job_id),
                    "conclusion": "failure" if broken else "success",
                    "status": "completed",
                    "databaseId": 31_000_000 + number,
                    "startedAt": iso(created + dt.timedelta(minutes=number)),
                    "completedAt": iso(created + dt.timedelta(minutes=number + 5)),
                    "steps": steps,
                    "url": f"https://github.com/chefchatz/chefchatz/actions/runs/1234567/job/{31_000_000 + number}",
                }
            )
        data = {
            "conclusion": "failure" if failing_step else "success",
            "createdAt": iso(created).replace("+00:00", "Z"),
            "headSha": "0123456789abcdef0123456789abcdef01234567",
            "jobs": jobs,
            "url": "https://github.com/chefchatz/chefchatz/actions/runs/1234567",
            "workflowName": document["name"],
        }
        return self.write_json("deploy-run.json", data)

    def rehearsal_result(
        self,
        stack: str = "prod",
        ago: dt.timedelta = dt.timedelta(days=2),
        source: str = "backup",
        failure: str | None = None,
        lint_only: bool = False,
    ) -> migrate.Rehearsal:
        finished = self.now - ago
        lock = migrate.LockHeld("public.recipes", "AccessExclusiveLock", "reads and writes", True, 1, 0.004, "warning")
        applied = migrate.MigrationResult(
            "20261201090000", "recipe_servings", "20261201090000_recipe_servings.sql", "applied", 1, 0.011, None, [lock]
        )
        results = [applied]
        if failure:
            error = {"statement": 1, "sqlstate": "42P01", "message": failure, "detail": None, "sql": "ALTER TABLE x"}
            broken = migrate.MigrationResult(
                "20261202090000", "broken", "20261202090000_broken.sql", "failed", 1, 0.002, error
            )
            results.append(broken)
        origin: dict[str, Any] = {"type": source}
        if source == "backup":
            origin.update(
                bucket=f"chefchatz-{stack}-database-backups",
                prefix="",
                backup_id=backuplib.new_backup_id(finished - dt.timedelta(minutes=3), "a1b2c3"),
                restored_bytes=41_943_040,
                verify_seconds=6.1,
                restore_seconds=42.1,
            )
        return migrate.Rehearsal(
            ok=failure is None,
            started_at=iso(finished - dt.timedelta(minutes=1)),
            finished_at=iso(finished),
            seconds=60.4,
            stack=stack,
            migrations_dir="supabase/migrations",
            lint_only=lint_only,
            source=origin,
            scratch="postgres@/tmp:5432/chefchatz_scratch",
            role=None
            if lint_only
            else {
                "name": migrate.MIGRATION_ROLE,
                "superuser": False,
                "createdb": True,
                "createrole": True,
                "replication": True,
                "bypassrls": True,
            },
            lock_budget_seconds=1.0,
            linter={"name": "squawk", "version": "2.70.0"},
            already_applied=12,
            skipped_files=[],
            migrations=results,
            problems=[f"20261202090000_broken.sql failed: {failure}"] if failure else [],
        )

    def rehearsal(self, **kwargs: Any) -> Path:
        return self.write_json("migration-rehearsal.json", self.rehearsal_result(**kwargs).to_json())

    def drift_report(
        self,
        stack: str,
        ago: dt.timedelta = dt.timedelta(hours=5),
        changes: int = 0,
        exit_code: int = 0,
        command: str | None = None,
    ) -> dict[str, Any]:
        """The report drift.yml writes (tests/workflows/test_drift_workflow.py runs its script and checks
        this shape): ``changes`` resources whose ``bucket`` property differs."""
        prefix = f"urn:pulumi:{stack}::chefchatz::"
        steps: list[dict[str, Any]] = [
            {"op": "same", "urn": f"{prefix}pulumi:pulumi:Stack::chefchatz-{stack}"},
            {"op": "same", "urn": f"{prefix}chefchatz:stack:Environment::chefchatz-{stack}"},
        ]
        drift = [
            {
                "urn": f"{prefix}aws:s3/bucket:Bucket::drifted-{n}",
                "op": "update",
                "properties": [{"path": "bucket", "kind": "update"}],
            }
            for n in range(changes)
        ]
        steps += [
            {
                "op": "update",
                "urn": entry["urn"],
                "diffReasons": ["bucket"],
                "detailedDiff": {"bucket": {"kind": "update", "inputDiff": False}},
            }
            for entry in drift
        ]
        summary: dict[str, int] = {"same": 2}
        if changes:
            summary["update"] = changes
        return {
            "kind": "drift-report",
            "stack": stack,
            "checked_at": iso(self.now - ago).replace("+00:00", "Z"),
            "commit": "0123456789abcdef0123456789abcdef01234567",
            "command": command or f"pulumi preview --stack {stack} --refresh --expect-no-changes {REST}",
            "exit_code": exit_code,
            "run_url": "https://github.com/chefchatz/chefchatz-infra/actions/runs/7654321",
            "drift": drift,
            "preview": {"steps": steps, "changeSummary": summary},
            "stderr_tail": "",
        }

    def drift(self, stack: str, **kwargs: Any) -> Path:
        return self.write_json(f"drift-{stack}.json", self.drift_report(stack, **kwargs))


def write_full_evidence(evidence: Evidence, plans: dict[str, StackPlan], deploy_workflow: str, junit: Path) -> None:
    """Everything the prod checklist reads, fresh and passing."""
    (evidence.directory / "junit.xml").write_bytes(junit.read_bytes())
    evidence.deploy_run(deploy_workflow)
    evidence.rollback()
    evidence.backup_verify("db")
    evidence.backup_verify("assets")
    evidence.drill()
    for host in so.plan_domains(plans["prod"]):
        evidence.tls(host)
    evidence.watch("staging", f"https://{so.plan_domains(plans['staging'])[0]}")
    evidence.watch("prod", f"https://{so.plan_domains(plans['prod'])[0]}")
    evidence.rehearsal(stack="prod")
    for stack in STACKS:
        evidence.drift(stack)
