"""`chefchatz reconcile`: a thin layer over `ops.reconcile.reconcile`.

Exit codes: 0 nothing left to reconcile, 1 conflicts or lost rows still missing, 2 bad input
(unreachable database, unknown table, schema mismatch named per column).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ops import ExitStatus


def reconcile(
    source_url: Annotated[
        str,
        typer.Option(
            "--from",
            envvar="RECONCILE_FROM_URL",
            show_default=False,
            help="DSN of the recovered source: the old primary or a later point-in-time copy (read only).",
        ),
    ],
    target_url: Annotated[
        str,
        typer.Option(
            "--to",
            envvar="RECONCILE_TO_URL",
            show_default=False,
            help="DSN of the live database the application writes to since the failover.",
        ),
    ],
    schema: Annotated[str, typer.Option("--schema", help="Schema to reconcile.")] = "public",
    tables: Annotated[
        list[str] | None,
        typer.Option(
            "--tables",
            show_default=False,
            help="Only these tables (repeat the flag or separate by commas; default: every table of the schema).",
        ),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Insert the lost rows into --to (never deletes, never overwrites)."),
    ] = False,
    report_file: Annotated[
        Path | None,
        typer.Option("--report", show_default=False, help="Also write the full JSON report to this file."),
    ] = None,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", help="Lost rows inserted per transaction with --apply.")
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report on stdout instead of text.")] = False,
) -> None:
    """Reconcile data after a failover: find the rows the live database lost, and bring them back.

    Compares every table with a primary key between --from (the recovered old primary) and --to
    (the live database) by hashes of buckets of rows (a row's bucket is a hash of its primary
    key, so the two servers' collations need not match), fetching rows only where a bucket
    differs. Each differing key is lost (only in --from), only in --to (written after the
    failover) or a conflict (different on both sides). Without --apply it only reports; with
    --apply it inserts the lost rows, parents before children, one transaction per batch, and
    never deletes or overwrites: conflicts go to a person with both versions in the report.
    Tables without a primary key are listed and skipped. A second run after --apply finds
    nothing to do. Exit 0 nothing left to reconcile, 1 conflicts or lost rows still missing,
    2 bad input (unreachable database, schema mismatch named per column). Prefer the
    RECONCILE_FROM_URL / RECONCILE_TO_URL variables to passwords on the command line.

    Example:

        chefchatz reconcile --from "$OLD_DATABASE_URL" --to "$DATABASE_URL" \\
            --report reconcile-$(date +%F).json --apply
    """
    from ops.reconcile import ReconcileInputError
    from ops.reconcile import reconcile as run

    try:
        if report_file is not None and not report_file.resolve().parent.is_dir():
            raise ReconcileInputError(f"--report: directory {report_file.resolve().parent} does not exist")
        report = run(source_url, target_url, schema=schema, tables=tables or [], apply=apply, batch_rows=batch_rows)
    except ReconcileInputError as exc:
        if as_json:
            typer.echo(json.dumps({"ok": False, "exit_code": 2, "error": str(exc)}, indent=2))
        else:
            typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(ExitStatus.BAD_INPUT) from None
    document = report.to_json()
    if report_file is not None:
        report_file.write_text(json.dumps(document, indent=2, default=str) + "\n")
    typer.echo(json.dumps(document, indent=2, default=str) if as_json else report.to_text())
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    """Add `reconcile` to the chefchatz app."""
    app.command("reconcile")(reconcile)
