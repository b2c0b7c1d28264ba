"""`chefchatz migrate rehearse`: a thin typer layer over :mod:`ops.migrate`.

Exit codes: 0 every pending migration applied with no error-level finding; 1 a migration failed, a
finding or a held lock is at error level, the migration history would stop `db push`, or the backup
could not be restored; 2 bad input (named flag, file or value); 3 an internal error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from ops import ExitStatus
from ops import backup as backups
from ops import migrate as lib

migrate_app = typer.Typer(help="Database migrations: rehearse them on a restored copy first.", no_args_is_help=True)


def _fail(as_json: bool, message: str, code: int) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message, "exit_code": code}, indent=2))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@migrate_app.command("rehearse")
def rehearse(
    migrations: Annotated[
        Path,
        typer.Option(
            "--migrations",
            show_default=False,
            help="The Supabase migrations directory (or the app repository root holding supabase/migrations).",
        ),
    ],
    scratch_url: Annotated[
        str | None,
        typer.Option(
            "--scratch-url",
            envvar="CHEFCHATZ_SCRATCH_URL",
            show_default=False,
            help="DSN of a scratch database; its name must contain 'scratch' or 'drill' (it is dropped and recreated).",
        ),
    ] = None,
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket",
            show_default=False,
            help="Backup bucket to restore from; without it the rehearsal starts from an empty database.",
        ),
    ] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Key prefix inside the bucket.")] = "",
    backup_id: Annotated[
        str, typer.Option("--backup-id", help="A backup id from `backup list`, or 'latest'.")
    ] = "latest",
    lint_only: Annotated[
        bool, typer.Option("--lint-only", help="Only lint every migration file; no database needed.")
    ] = False,
    lock_budget: Annotated[
        str,
        typer.Option(
            "--lock-budget",
            help="Longest a migration may hold a lock that blocks the app on a table with rows (ms, s, m).",
        ),
    ] = lib.DEFAULT_LOCK_BUDGET,
    stack: Annotated[
        str | None,
        typer.Option("--stack", envvar="CHEFCHATZ_STACK", show_default=False, help="Stack the report is evidence for."),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", show_default=False, help="Also write the JSON report to this file."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report on stdout instead of text.")] = False,
) -> None:
    """Rehearse the pending migrations on a restored copy before `supabase db push` runs them.

    Restores a backup (checksum verified first) into a scratch database - or, without --bucket,
    starts from an empty one - and applies the pending migrations of the directory as the Supabase
    CLI's `db push` (v2.104.0) would: refused whole when the history is out of order, RESET ALL
    before each file, each file split by the CLI's parser and sent with its history row as one
    pipeline (one implicit transaction), as a role shaped like Supabase's `postgres` (not a
    superuser). The first failing file stops the push. Reports per migration: applied or the error,
    durations, the locks it held on tables with rows, and squawk's findings. Exit 1 when a
    migration fails, the push would be refused, a finding is at error level, or a lock that blocks
    the app is held longer than --lock-budget.

    Example:

        chefchatz migrate rehearse --migrations supabase/migrations --stack prod \\
            --scratch-url postgresql://postgres@127.0.0.1:5432/chefchatz_scratch \\
            --bucket chefchatz-prod-database-backups --backup-id latest --report rehearsal.json
    """
    if lint_only and bucket:
        _fail(as_json, "--lint-only lints files only: drop --bucket (a restore needs a database)", 2)
    try:
        location = backups.Location(bucket, prefix) if bucket else None
        result = lib.rehearse(
            migrations,
            scratch_url=scratch_url,
            location=location,
            backup_id=backup_id,
            lint_only=lint_only,
            lock_budget=lock_budget,
            stack=stack,
        )
    except lib.MigrationInputError as exc:
        _fail(as_json, str(exc), 2)
    except backups.BackupError as exc:
        _fail(as_json, str(exc), exc.exit_code)
    document = result.to_json()
    if report is not None:
        try:
            report.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(as_json, f"cannot write --report {str(report)!r}: {exc.strerror}", 2)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        _print(result, document)
    if not result.ok:
        raise typer.Exit(ExitStatus.FAILED)


def _print(result: lib.Rehearsal, document: dict[str, Any]) -> None:
    source = result.source
    origin = {
        "backup": (
            f"backup {source.get('backup_id')} (verified in {source.get('verify_seconds')}s, "
            f"restored in {source.get('restore_seconds')}s)"
        ),
        "empty": "an empty database",
        "none": "no database (lint only)",
    }[source["type"]]
    summary = document["summary"]
    if result.role:
        origin += f" as {result.role['name']}" + ("" if result.role["superuser"] else " (not a superuser)")
    typer.echo(
        f"rehearsal on {origin}: {summary['pending']} pending, {summary['applied']} applied, "
        f"{summary['failed']} failed, {summary['not_run']} not run ({result.already_applied} already applied)"
    )
    for migration in result.migrations:
        took = f" {migration.seconds:.3f}s" if migration.seconds is not None else ""
        typer.echo(f"  {migration.status:8} {migration.file}{took}")
        if migration.error:
            typer.echo(f"           statement {migration.error['statement']}: {migration.error['message']}")
        for lock in migration.locks:
            rows = "with rows" if lock.had_rows else "empty"
            typer.echo(
                f"           [{lock.level}] lock {lock.mode} on {lock.table} ({rows}; blocks {lock.blocks}) "
                f"held {lock.held_seconds:.3f}s from statement {lock.statement}"
            )
        for finding in migration.findings:
            where = f":{finding.line}" if finding.line else ""
            typer.echo(f"           [{finding.level}] {finding.rule}{where}: {finding.message}")
    for name in result.skipped_files:
        typer.echo(f"warning: skipped {name} (not <version>_<name>.sql; `supabase db push` skips it too)", err=True)
    for problem in result.problems:
        typer.echo(f"FAILED: {problem}", err=True)
    if result.ok:
        typer.echo("OK")


def register(app: typer.Typer) -> None:
    """Add `migrate` to the chefchatz app."""
    app.add_typer(migrate_app, name="migrate")
