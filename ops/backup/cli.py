"""`chefchatz backup ...`, `chefchatz restore db` and `chefchatz drill`: a thin layer over `ops.backup`.

Exit codes: 0 ok, 1 a check or operation failed (stale, corrupt, no backup, pg_dump failed...),
2 usage or configuration error (bad value, missing credentials, credentials rejected).
AWS configuration is the standard one: credential chain, AWS_REGION, AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from ops import ExitStatus

if TYPE_CHECKING:
    from ops.backup import BackupError, Kind, Layout, Location, TargetShape

# The library behind ops.backup (boto3, psycopg, zstandard: ~0.5 s and ~50 MiB) is imported by the commands that use
# it, so the other chefchatz commands do not pay for it at start-up.

backup_app = typer.Typer(
    help="Back up the database and Storage assets to S3; list and verify backups.", no_args_is_help=True
)
restore_app = typer.Typer(help="Restore a verified backup.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of text.")]
BucketOpt = Annotated[
    str,
    typer.Option("--bucket", envvar="CHEFCHATZ_BACKUP_BUCKET", help="Backup bucket name.", show_default=False),
]
PrefixOpt = Annotated[
    str,
    typer.Option(
        "--prefix",
        envvar="CHEFCHATZ_BACKUP_PREFIX",
        help="Key prefix inside the bucket (e.g. the stack name).",
    ),
]
StackOpt = Annotated[
    str,
    typer.Option(
        "--stack",
        envvar="CHEFCHATZ_STACK",
        help="Stack name: the `Stack` dimension of the published metrics.",
    ),
]
BackupIdOpt = Annotated[str, typer.Option("--backup-id", help="A backup id from `backup list`, or 'latest'.")]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        min=1,
        show_default=False,
        help=(
            "Parallel jobs (pg_dump/pg_restore --jobs; a backup compresses this many chunks at once and "
            "uploads up to twice as many, a restore downloads this many); default: the host's cores."
        ),
    ),
]
ScratchOpt = Annotated[
    str | None,
    typer.Option(
        "--scratch-dir",
        envvar="CHEFCHATZ_SCRATCH_DIR",
        show_default=False,
        help="Local directory for the dump's files (default: the system's temporary directory).",
    ),
]

TargetShapeOpt = Annotated[
    str,
    typer.Option(
        "--target-shape",
        help="plain: a PostgreSQL database, the whole dump; supabase: a new Supabase project, the application "
        "only (its auth and storage rows included; never the project's own schemas, roles or event triggers).",
    ),
]

# Default freshness: the schedule's frequency plus an hour of slack for the backup's own run time.
DEFAULT_MAX_AGE = {"db": "7h", "assets": "25h"}


def _fail(as_json: bool, exc: BackupError) -> NoReturn:
    message = str(exc)
    if as_json:
        typer.echo(json.dumps({"ok": False, "error": message, "exit_code": exc.exit_code}, indent=2))
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(exc.exit_code)


def _run(as_json: bool, action: Callable[[], Any]) -> Any:
    from ops.backup import BackupError

    try:
        return action()
    except BackupError as exc:
        _fail(as_json, exc)


def _location(as_json: bool, bucket: str, prefix: str) -> Location:
    from ops.backup import Location

    result: Location = _run(as_json, lambda: Location(bucket, prefix))
    return result


def _kind(as_json: bool, value: str) -> Kind:
    from ops.backup import Kind, UsageError

    try:
        return Kind(value)
    except ValueError:
        _fail(as_json, UsageError(f"invalid --kind {value!r}: expected 'db' or 'assets'"))


def _layout(as_json: bool, value: str) -> Layout:
    from ops.backup import Layout, UsageError

    try:
        return Layout(value)
    except ValueError:
        _fail(as_json, UsageError(f"invalid --layout {value!r}: expected 'directory' or 'stream'"))


def _target_shape(as_json: bool, value: str) -> TargetShape:
    from ops.backup import TargetShape, UsageError

    try:
        return TargetShape(value)
    except ValueError:
        _fail(as_json, UsageError(f"invalid --target-shape {value!r}: expected 'plain' or 'supabase'"))


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


def _table_names(excluded: list[dict[str, str]]) -> str:
    return ", ".join(e["table"] for e in excluded)


def _human_size(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@backup_app.command("db")
def backup_db(
    bucket: BucketOpt,
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url",
            envvar="DATABASE_URL",
            show_default=False,
            help="libpq URL or key=value DSN of the database to dump.",
        ),
    ],
    prefix: PrefixOpt = "",
    stack: StackOpt = "default",
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="directory: pg_dump --jobs N, one zstd object per file (restores in parallel); "
            "stream: one zstd stream, no local disk (restores on one core).",
        ),
    ] = "directory",
    jobs: JobsOpt = None,
    scratch_dir: ScratchOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dump the database into S3 (zstd, sha256 per object), then write the manifest last.

    The directory layout (default) runs `pg_dump --format=directory --jobs N` and stores each file
    as its own object while pg_dump writes it; each file leaves the scratch directory once stored.
    The stream layout pipes `pg_dump --format=custom` into one object with no temporary file. Memory
    stays bounded either way. After success the metrics ChefChatz/Backups BackupSucceeded (Stack,
    Kind=database), which feeds the freshness alarm, and DatabaseSizeBytes (Stack) are published.
    Prefer DATABASE_URL (or PGPASSWORD) over a password in the command line.

    Before dumping, what pg_dump would read and the role may not is found: Supabase platform tables
    (its migration tables, which Supabase's `postgres` may not read) are left out and listed in the
    manifest (dump.excluded_tables); anything else, e.g. an application table without SELECT, fails
    the backup (exit 1) naming each one and the privilege it lacks, before anything is stored.

    Example:

        DATABASE_URL=postgresql://backup@db.example.com:5432/postgres \\
        chefchatz backup db --bucket chefchatz-prod-database-backups --stack prod
    """
    from ops import backup as backups

    location = _location(as_json, bucket, prefix)
    chosen = _layout(as_json, layout)
    result = _run(
        as_json,
        lambda: backups.backup_database(
            database_url, location, stack=stack, layout=chosen, jobs=jobs, scratch_dir=scratch_dir
        ),
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _warn(result.warnings)
        if result.excluded_tables:
            typer.echo(
                f"left out {len(result.excluded_tables)} platform table(s) the role may not read: "
                f"{_table_names(result.excluded_tables)} (manifest: dump.excluded_tables)"
            )
        typer.echo(
            f"backup {result.backup_id} complete ({result.layout} layout, {result.jobs} jobs): "
            f"{_human_size(result.size_bytes)} dumped, {_human_size(result.stored_bytes)} stored in "
            f"{result.objects} object(s) in {result.seconds:.1f}s\n"
            f"  manifest s3://{result.bucket}/{result.manifest_key} (sha256 of every object)"
        )


@backup_app.command("assets")
def backup_assets(
    bucket: BucketOpt,
    source_endpoint: Annotated[
        str,
        typer.Option(
            "--source-endpoint",
            envvar="SOURCE_S3_ENDPOINT",
            show_default=False,
            help="S3 endpoint of Supabase Storage, https://<ref>.supabase.co/storage/v1/s3.",
        ),
    ],
    source_bucket: Annotated[
        str, typer.Option("--source-bucket", show_default=False, help="Supabase Storage bucket to copy.")
    ],
    source_access_key: Annotated[
        str | None,
        typer.Option(
            "--source-access-key",
            envvar="SOURCE_AWS_ACCESS_KEY_ID",
            show_default=False,
            help="Supabase Storage S3 access key id (default: $SOURCE_AWS_ACCESS_KEY_ID).",
        ),
    ] = None,
    source_secret_key: Annotated[
        str | None,
        typer.Option(
            "--source-secret-key",
            envvar="SOURCE_AWS_SECRET_ACCESS_KEY",
            show_default=False,
            help="Its secret (default: $SOURCE_AWS_SECRET_ACCESS_KEY; prefer the variable).",
        ),
    ] = None,
    source_region: Annotated[
        str | None,
        typer.Option(
            "--source-region",
            envvar="SOURCE_S3_REGION",
            show_default=False,
            help="The Supabase project's region, which Storage's S3 endpoint signs for (default: $SOURCE_S3_REGION).",
        ),
    ] = None,
    prefix: PrefixOpt = "",
    stack: StackOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Copy a Supabase Storage bucket into the backup bucket (full copy, manifest last).

    The manifest lists every key with its size and sha256. Source credentials are separate from
    the AWS ones: SOURCE_AWS_ACCESS_KEY_ID / SOURCE_AWS_SECRET_ACCESS_KEY (Storage > S3 access keys).

    Example:

        chefchatz backup assets --source-endpoint https://abcd.supabase.co/storage/v1/s3 \\
            --source-region eu-central-1 --source-bucket recipe-images --bucket chefchatz-prod-assets-backups
    """
    from ops import backup as backups

    location = _location(as_json, bucket, prefix)
    result = _run(
        as_json,
        lambda: backups.backup_assets(
            source_endpoint,
            source_bucket,
            location,
            source_access_key=source_access_key,
            source_secret_key=source_secret_key,
            source_region=source_region,
            stack=stack,
        ),
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _warn(result.warnings)
        typer.echo(
            f"assets backup {result.backup_id} complete: {result.objects} objects, "
            f"{_human_size(result.size_bytes)} in {result.seconds:.1f}s\n"
            f"  manifest s3://{result.bucket}/{result.manifest_key}"
        )


@backup_app.command("list")
def backup_list(
    bucket: BucketOpt,
    prefix: PrefixOpt = "",
    kind: Annotated[str | None, typer.Option("--kind", help="db or assets (default: both).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List backups, oldest first, complete or not.

    Only backups with a manifest are complete; the others are shown as incomplete and never count
    for verify, restore or the drill.

    Example:

        chefchatz backup list --bucket chefchatz-prod-database-backups --kind db --json
    """
    from ops import backup as backups

    location = _location(as_json, bucket, prefix)
    kinds = [_kind(as_json, kind)] if kind else [_kind(as_json, "db"), _kind(as_json, "assets")]
    entries = _run(as_json, lambda: [e for k in kinds for e in backups.list_backups(location, k)])
    if as_json:
        typer.echo(
            json.dumps(
                {"ok": True, "bucket": bucket, "prefix": prefix, "backups": [e.to_json() for e in entries]},
                indent=2,
            )
        )
        return
    if not entries:
        typer.echo(f"no backups in s3://{bucket}/{prefix}")
        return
    for e in entries:
        state = "complete" if e.complete else f"INCOMPLETE ({e.note})"
        left_out = f"  left out: {_table_names(e.excluded_tables)}" if e.excluded_tables else ""
        typer.echo(f"{e.kind:<7} {e.backup_id}  {_human_size(e.stored_bytes):>10}  {state}{left_out}")


@backup_app.command("verify")
def backup_verify(
    bucket: BucketOpt,
    prefix: PrefixOpt = "",
    kind: Annotated[str, typer.Option("--kind", help="db or assets.")] = "db",
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age",
            help="Oldest acceptable newest backup, e.g. 6h (default: 7h for db, 25h for assets).",
            show_default=False,
        ),
    ] = None,
    supabase_project_ref: Annotated[
        str | None,
        typer.Option(
            "--supabase-project-ref",
            show_default=False,
            help="Also confirm point-in-time recovery is enabled for this Supabase project "
            "(needs SUPABASE_ACCESS_TOKEN; SUPABASE_API_URL overrides the API address).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check that the newest complete backup exists, is fresh and is intact.

    Fresh: not older than --max-age. Intact: every stored byte is downloaded again (streamed) and
    must match the manifest's sha256. Exit 1 when there is none, it is stale or corrupt, or when
    Supabase point-in-time recovery is off (with --supabase-project-ref).

    Example:

        chefchatz backup verify --bucket chefchatz-prod-database-backups --max-age 6h \\
            --supabase-project-ref abcdefghijklmnopqrst
    """
    from ops import backup as backups

    location = _location(as_json, bucket, prefix)
    which = _kind(as_json, kind)
    age = _run(as_json, lambda: backups.parse_duration(max_age or DEFAULT_MAX_AGE[which.value]))
    result = _run(
        as_json,
        lambda: backups.verify_latest(
            location,
            which,
            age,
            supabase_project_ref=supabase_project_ref,
            supabase_token=os.environ.get("SUPABASE_ACCESS_TOKEN"),
            supabase_api_url=os.environ.get("SUPABASE_API_URL"),
        ),
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        if result.backup_id:
            typer.echo(
                f"newest {result.kind} backup: {result.backup_id} (finished {result.finished_at}, "
                f"{backups.format_duration(dt.timedelta(seconds=result.age_seconds or 0))} ago), "
                f"{_human_size(result.checked_bytes)} re-verified"
            )
        if result.excluded_tables:
            typer.echo(
                f"left out of the dump: {_table_names(result.excluded_tables)} (platform tables the backup's role "
                "may not read)"
            )
        if result.pitr is not None:
            typer.echo(f"supabase {result.pitr['project_ref']}: pitr_enabled={result.pitr['pitr_enabled']}")
        for problem in result.problems:
            typer.echo(f"FAILED: {problem}", err=True)
        if result.ok:
            typer.echo("OK")
    if not result.ok:
        raise typer.Exit(ExitStatus.FAILED)


@restore_app.command("db")
def restore_db(
    bucket: BucketOpt,
    target_url: Annotated[
        str,
        typer.Option(
            "--target-url",
            show_default=False,
            help="DSN of the database to restore into (password via PGPASSWORD).",
        ),
    ],
    backup_id: BackupIdOpt = "latest",
    prefix: PrefixOpt = "",
    clean: Annotated[
        bool,
        typer.Option(
            "--clean",
            help="Allow a non-empty target: drop the dumped objects first (pg_restore --clean --if-exists). "
            "Plain targets only.",
        ),
    ] = False,
    target_shape: TargetShapeOpt = "plain",
    jobs: JobsOpt = None,
    scratch_dir: ScratchOpt = None,
    pipe: Annotated[
        bool,
        typer.Option(
            "--pipe",
            help="Directory layout: once S3's stored checksums vouch for every object, pipe the big tables "
            "into pg_restore as they download instead of downloading everything into --scratch-dir first "
            "(AWS S3 only: it verifies checksums on upload; docs/restore.md).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Restore a database backup after verifying every object's checksum.

    Every stored object is checked against the manifest's sha256 BEFORE the target is touched; a
    target with user tables is refused unless --clean. A directory-layout backup is downloaded,
    verified and decompressed in parallel into --scratch-dir, which must hold the decompressed dump
    (checked first: exit 2 before any download), then restored by `pg_restore --jobs N`; with --pipe
    (AWS S3), every object's stored sha256 (computed by S3 on upload) is compared with the manifest
    first, then pg_restore reads the big tables through named pipes as they download, each object
    hashed before it enters a pipe, and --scratch-dir holds only the small files. A single-stream
    backup streams through one pg_restore.

    Into a new Supabase project (region failover), pass --target-shape supabase: the application's
    schemas, its data and the auth and storage rows are restored; the project's own schemas, roles,
    event triggers and publication are left alone, and nothing is dropped. A target whose
    application schemas hold tables, or that lacks an extension the dump uses (in the dump's
    schema), is refused (exit 2, named) before anything is written; a plain restore into a Supabase
    project is refused the same way. Both layouts: a single-stream backup is decompressed into
    --scratch-dir first. Policies on auth/storage tables the project does not let the restore create
    are warned about by name; their SQL is written to a file in --scratch-dir, named in the warning.

    Example:

        PGPASSWORD=... chefchatz restore db --bucket chefchatz-prod-database-backups \\
            --backup-id latest --target-shape supabase \\
            --target-url postgresql://postgres.abcdefghijklmnopqrst@aws-0-us-west-1.pooler.supabase.com:5432/postgres
    """
    from ops import backup as backups

    location = _location(as_json, bucket, prefix)
    shape = _target_shape(as_json, target_shape)
    result = _run(
        as_json,
        lambda: backups.restore_database(
            location,
            target_url,
            backup_id=backups.validate_backup_id(backup_id),
            clean=clean,
            jobs=jobs,
            scratch_dir=scratch_dir,
            target_shape=shape,
            pipe=pipe,
        ),
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _warn(result.warnings)
        if result.supabase is not None:
            skipped = sum(result.supabase["skipped"].values())
            typer.echo(
                f"supabase target: {result.supabase['restored_entries']} archive entries restored, {skipped} "
                f"platform entries left out; auth/storage rows: {', '.join(result.supabase['platform_tables']) or '-'}"
            )
        typer.echo(
            f"restored {result.backup_id} ({result.layout} layout, {result.jobs} jobs) into {result.target} in "
            f"{result.seconds:.1f}s (verified before pg_restore in {result.verify_seconds:.1f}s, "
            f"pg_restore {result.restore_seconds:.1f}s)"
        )


def drill(
    bucket: BucketOpt,
    scratch_url: Annotated[
        str,
        typer.Option(
            "--scratch-url",
            show_default=False,
            help="DSN of a scratch database; its name must contain 'scratch' or 'drill' (it is dropped and recreated).",
        ),
    ],
    rto: Annotated[str, typer.Option("--rto", help="Recovery time objective to meet.")] = "15m",
    budget: Annotated[
        str,
        typer.Option(
            "--budget",
            help="The restore's share of the RTO (the region-failover runbook's 8 minutes): the drill states "
            "the largest database its restore rate brings back within it.",
        ),
    ] = "8m",
    jobs: JobsOpt = None,
    scratch_dir: ScratchOpt = None,
    backup_id: BackupIdOpt = "latest",
    prefix: PrefixOpt = "",
    stack: StackOpt = "default",
    failover: Annotated[
        bool,
        typer.Option(
            "--failover",
            help="Then rehearse a failover on the restored copy: lose rows in a copy, `reconcile --apply` them back.",
        ),
    ] = False,
    target_shape: Annotated[
        str,
        typer.Option(
            "--target-shape",
            help="plain: restore into plain PostgreSQL; supabase: first give the scratch database the shape of a "
            "new Supabase project (platform schemas, roles, event trigger, publication; creates the roles on the "
            "scratch server) and restore as a non-superuser `postgres`, as a region failover does.",
        ),
    ] = "plain",
    extension: Annotated[
        list[str] | None,
        typer.Option(
            "--extension",
            show_default=False,
            help="With --target-shape supabase: NAME or NAME:SCHEMA (default schema extensions), an extension "
            "production enabled beyond a new project's (pgcrypto, uuid-ossp), enabled in the stand-in first as "
            "the runbook enables it in the new project. Repeatable.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Restore drill: prove the newest backup restores, and how long it takes.

    Restores into a fresh scratch database, compares row counts with the manifest, times it
    against the RTO and publishes RestoreDrillSeconds and RestoreDrillSucceeded (namespace
    ChefChatz/Backups, dimension Stack). Exit 1 when the restore fails, a table does not match,
    or the RTO is exceeded. It also states the scale it proves: restore throughput (the backed-up
    database's size over the restore's time) and the largest database that rate restores within
    --budget, published as RestoreDrillThroughput and RestoreDrillMaxDatabaseBytes. With
    --failover it then rehearses a failover on the restored data (docs/disaster-recovery.md,
    step 6): the JSON output's `failover.report` is the reconciliation report of the drill.
    With --target-shape supabase it rehearses the region-failover restore: into a stand-in for a
    new Supabase project whose auth and storage tables are built from the backup itself, as its
    non-superuser `postgres` (`target_shape` in the JSON output); a backup the restore refuses
    (e.g. an extension not enabled: --extension NAME[:SCHEMA]) is a failed drill (exit 1).

    Example:

        chefchatz drill --bucket chefchatz-prod-database-backups --rto 15m --stack prod \\
            --target-shape supabase --extension citext \\
            --scratch-url postgresql://postgres@127.0.0.1:5432/chefchatz_drill
    """
    from ops import backup as backups

    location = _location(as_json, bucket, prefix)
    shape = _target_shape(as_json, target_shape)
    target = _run(as_json, lambda: backups.parse_duration(rto))
    share = _run(as_json, lambda: backups.parse_duration(budget))
    result = _run(
        as_json,
        lambda: backups.run_drill(
            location,
            scratch_url,
            target,
            stack=stack,
            backup_id=backups.validate_backup_id(backup_id),
            failover=failover,
            budget=share,
            jobs=jobs,
            scratch_dir=scratch_dir,
            target_shape=shape,
            extensions=tuple(extension or ()),
        ),
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _warn(result.warnings)
        typer.echo(
            f"drill of {result.backup_id or '-'} into {result.scratch} ({result.target_shape} target): "
            f"{result.seconds:.1f}s "
            f"(RTO {backups.format_duration(target)}), {len(result.tables)} tables checked"
        )
        if result.max_database_bytes is not None and result.throughput_bytes_per_second is not None:
            typer.echo(
                f"restore rate {_human_size(int(result.throughput_bytes_per_second))}/s: the largest database "
                f"restorable within {backups.format_duration(share)} is about {_human_size(result.max_database_bytes)}"
                f" (this one: {_human_size(result.database_bytes)})"
            )
        if result.failover is not None:
            applied, second = result.failover["report"]["totals"]["applied"], result.failover["second_run"]
            typer.echo(
                f"failover rehearsal: {sum(result.failover['removed'].values())} rows lost in a copy, {applied} "
                f"reconciled back; a second run found {second['lost']} lost, {second['conflicts']} conflicts"
            )
        for problem in result.problems:
            typer.echo(f"FAILED: {problem}", err=True)
        if result.ok:
            typer.echo("OK")
    if not result.ok:
        raise typer.Exit(ExitStatus.FAILED)


def register(app: typer.Typer) -> None:
    """Add `backup`, `restore` and `drill` to the chefchatz app."""
    app.add_typer(backup_app, name="backup")
    app.add_typer(restore_app, name="restore")
    app.command("drill")(drill)
