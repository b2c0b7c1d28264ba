"""The generated deploy jobs rehearse the migrations on the pre-migration backup before `db push`."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components.app_workflows import REHEARSAL_REPORT, UPLOAD_ARTIFACT, AppPipelineArgs, app_workflow_files

from .conftest import CHEFCHATZ_REQUIREMENT
from .test_app_workflows import load, step_index

REHEARSING = [
    ("deploy.yml", "deploy-staging", "staging", "staging"),
    ("deploy-production.yml", "deploy-production", "prod", "production"),
]


def deploy_job(files: dict[str, str], workflow: str, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = load(files[f".github/workflows/{workflow}"])["jobs"][job_id]
    return job


@pytest.mark.parametrize(("workflow", "job_id", "stack", "name"), REHEARSING)
def test_staging_and_production_rehearse_on_the_fresh_backup_before_db_push(
    app_files: dict[str, str], workflow: str, job_id: str, stack: str, name: str
) -> None:
    job = deploy_job(app_files, workflow, job_id)
    backup = step_index(job, "chefchatz backup db")
    scratch = step_index(job, "Scratch PostgreSQL")
    rehearsal = step_index(job, "chefchatz migrate rehearse")
    keep = step_index(job, "Keep the migration rehearsal report")
    migrate = step_index(job, "supabase db push")
    assert backup < scratch < rehearsal < keep < migrate, (backup, scratch, rehearsal, keep, migrate)
    run = " ".join(job["steps"][rehearsal]["run"].split())
    assert run == (
        'chefchatz migrate rehearse \\ --migrations "supabase/migrations" \\ '
        f"--stack {stack} \\ "
        '--scratch-url "postgresql://postgres@/chefchatz_scratch?host=${RUNNER_TEMP}" \\ '
        '--bucket "$BACKUP_BUCKET" \\ --backup-id latest \\ '
        f"--report {REHEARSAL_REPORT}"
    )
    # The migrations step keeps its default `if: success()`: a failed rehearsal stops `db push`.
    assert "if" not in job["steps"][migrate]


@pytest.mark.parametrize(("workflow", "job_id", "stack", "name"), REHEARSING)
def test_the_rehearsal_report_is_kept_as_an_artifact_even_when_the_rehearsal_fails(
    app_files: dict[str, str], workflow: str, job_id: str, stack: str, name: str
) -> None:
    job = deploy_job(app_files, workflow, job_id)
    keep = job["steps"][step_index(job, "Keep the migration rehearsal report")]
    assert keep["uses"].startswith(f"{UPLOAD_ARTIFACT.repository}@{UPLOAD_ARTIFACT.sha}")
    assert keep["if"] == "${{ !cancelled() }}"
    assert keep["with"] == {
        "name": f"migration-rehearsal-{name}",
        "path": REHEARSAL_REPORT,
        "if-no-files-found": "warn",
        "retention-days": "30",
    }


@pytest.mark.parametrize(("workflow", "job_id", "stack", "name"), REHEARSING)
def test_the_scratch_server_listens_on_a_socket_only_and_has_no_password(
    app_files: dict[str, str], workflow: str, job_id: str, stack: str, name: str
) -> None:
    job = deploy_job(app_files, workflow, job_id)
    script = job["steps"][step_index(job, "Scratch PostgreSQL")]["run"]
    assert "listen_addresses=''" in script and "--auth=trust" in script
    install = job["steps"][step_index(job, "Install the chefchatz tool")]["run"]
    assert '"postgresql-${POSTGRES_MAJOR}"' in install  # the server, not only the client


def test_dev_migrates_without_a_rehearsal_because_its_backups_may_be_off(app_files: dict[str, str]) -> None:
    job = deploy_job(app_files, "deploy.yml", "deploy-dev")
    assert not any("migrate rehearse" in step.get("run", "") for step in job["steps"])
    install = job["steps"][step_index(job, "Install the chefchatz tool")]["run"]
    assert '"postgresql-client-${POSTGRES_MAJOR}"' in install


def test_the_migrations_directory_is_configurable(app_args: AppPipelineArgs) -> None:
    files = app_workflow_files(dataclasses.replace(app_args, migrations_dir="db/migrations"))
    job = deploy_job(files, "deploy.yml", "deploy-staging")
    assert '--migrations "db/migrations"' in job["steps"][step_index(job, "migrate rehearse")]["run"]


@pytest.mark.parametrize("value", ["/etc", "../other/migrations", "supabase migrations", "a;b", ""])
def test_a_migrations_directory_outside_the_repository_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=f"migrations_dir {value!r}"):
        AppPipelineArgs(chefchatz_requirement=CHEFCHATZ_REQUIREMENT, migrations_dir=value)
