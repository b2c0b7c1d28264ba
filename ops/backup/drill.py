"""`chefchatz drill`: restore into a fresh scratch database, check it against the manifest, time it
against the RTO, publish the result."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import time
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from ops.backup.aws import s3_client
from ops.backup.catalog import resolve_backup
from ops.backup.errors import BackupError, NoBackupError, TargetRefusedError, UsageError
from ops.backup.layout import Kind, Location
from ops.backup.metrics import (
    METRIC_DRILL_MAX_DATABASE_BYTES,
    METRIC_DRILL_SECONDS,
    METRIC_DRILL_SUCCEEDED,
    METRIC_DRILL_THROUGHPUT,
    publish_metric,
)
from ops.backup.postgres import connect, count_rows, describe_dsn, redact, split_dsn, sql_errors, user_tables
from ops.backup.restore import RestoreResult, TargetShape, restore_database
from ops.backup.supabase_shape import build_platform_from_archive, parse_extension, shape_database
from ops.backup.timing import format_duration
from ops.backup.toc import keeps_table

__all__ = [
    "DEFAULT_BUDGET",
    "ESTIMATE_SLACK_ROWS",
    "ESTIMATE_TOLERANCE",
    "SCRATCH_NAME",
    "DrillResult",
    "TableCheck",
    "compare_table_counts",
    "recreate_scratch_database",
    "restore_scale",
    "run_drill",
]

# Accepted drift between a restored table and its pg_class.reltuples estimate before we warn.

ESTIMATE_TOLERANCE = 0.2
ESTIMATE_SLACK_ROWS = 1000


@dataclasses.dataclass(frozen=True)
class TableCheck:
    table: str
    expected: int | None
    expected_is_exact: bool
    restored: int | None
    status: str  # "ok" | "mismatch" | "missing" | "drift" | "unchecked"

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "missing")


def compare_table_counts(manifest_tables: list[dict[str, Any]], restored: dict[str, int]) -> list[TableCheck]:
    """Check restored row counts against the manifest.

    Exact counts must match exactly; a table that is missing fails. Estimates (reltuples) only
    produce a "drift" warning when far off, and tables never analysed (reltuples -1) are unchecked.
    """
    checks: list[TableCheck] = []
    for entry in manifest_tables:
        name = f"{entry['schema']}.{entry['name']}"
        exact = entry.get("exact_row_count")
        estimate = entry.get("row_estimate")
        got = restored.get(name)
        if got is None:
            checks.append(
                TableCheck(name, exact if exact is not None else estimate, exact is not None, None, "missing")
            )
        elif exact is not None:
            checks.append(TableCheck(name, exact, True, got, "ok" if got == exact else "mismatch"))
        elif estimate is None or estimate < 0:
            checks.append(TableCheck(name, None, False, got, "unchecked"))
        else:
            allowed = max(ESTIMATE_SLACK_ROWS, ESTIMATE_TOLERANCE * estimate)
            checks.append(TableCheck(name, estimate, False, got, "ok" if abs(got - estimate) <= allowed else "drift"))
    return checks


SCRATCH_NAME = re.compile(r"(scratch|drill)", re.I)


# The region-failover runbook's share of the 15-minute RTO for the database restore
# (docs/disaster-recovery.md): the rest goes to deciding, DNS and the application.
DEFAULT_BUDGET = dt.timedelta(minutes=8)


def restore_scale(database_bytes: int, restore_seconds: float, budget: dt.timedelta) -> tuple[float, int]:
    """(bytes per second, largest database restorable within `budget`) from one timed restore.

    Linear in size: a restore's time is dominated by copying rows and building indexes, both
    proportional to the data; the drill's own fixed costs (start-up, metadata) make the estimate
    conservative for bigger databases."""
    throughput = database_bytes / max(restore_seconds, 1e-3)
    return throughput, int(throughput * budget.total_seconds())


@dataclasses.dataclass
class DrillResult:
    ok: bool
    backup_id: str | None
    scratch: str
    seconds: float
    rto_seconds: float
    within_rto: bool
    restore: dict[str, Any] | None
    tables: list[dict[str, Any]]
    problems: list[str]
    warnings: list[str]
    failover: dict[str, Any] | None = None  # the failover rehearsal (`--failover`), when asked for
    # What the scratch database stood in for: "plain" PostgreSQL, or a new "supabase" project
    # (`ops.backup.supabase_shape`, restored into as its non-superuser `postgres`).
    target_shape: str = TargetShape.PLAIN.value
    # The scale this drill proves (issue 22): bytes of database restored per second, and the largest
    # database that rate restores within the restore budget (the runbook's share of the RTO).
    budget_seconds: float = DEFAULT_BUDGET.total_seconds()
    database_bytes: int | None = None
    throughput_bytes_per_second: float | None = None
    max_database_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recreate_scratch_database(scratch_url: str) -> None:
    """Drop and create the scratch database. Guarded: its name must contain "scratch" or "drill"."""
    params = pg_conninfo.conninfo_to_dict(scratch_url)
    dbname = str(params.get("dbname") or "")
    if not SCRATCH_NAME.search(dbname):
        raise UsageError(
            f"scratch database name {dbname!r} must contain 'scratch' or 'drill': the drill drops and recreates it"
        )
    maintenance = pg_conninfo.make_conninfo(scratch_url, dbname="postgres")
    with connect(maintenance, autocommit=True) as conn:
        ident = sql.Identifier(dbname)
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        except psycopg.Error as exc:
            raise BackupError(f"cannot recreate scratch database {dbname!r}: {redact(str(exc), scratch_url)}") from None


def run_drill(
    location: Location,
    scratch_url: str,
    rto: dt.timedelta,
    *,
    stack: str = "default",
    backup_id: str = "latest",
    s3: Any = None,
    cloudwatch: Any = None,
    failover: bool = False,
    budget: dt.timedelta = DEFAULT_BUDGET,
    jobs: int | None = None,
    scratch_dir: str | None = None,
    target_shape: TargetShape = TargetShape.PLAIN,
    extensions: tuple[str, ...] = (),
) -> DrillResult:
    """Restore a backup into a fresh scratch database, check it against the manifest, time it vs the RTO.

    With `target_shape` SUPABASE the scratch database is first given the shape of a new Supabase
    project (`ops.backup.supabase_shape`: platform schemas, roles, event trigger, publication), its
    `auth`/`storage`/`supabase_functions` tables are built from the backup itself once it is verified
    (production's GoTrue and Storage version; not part of the timed restore), and the restore connects
    as the stand-in for its non-superuser `postgres`, as a region failover's restore does; only the
    tables that restore loads are checked (`ops.backup.toc.keeps_table`). A target the restore refuses
    is a failed drill. `extensions` ("NAME" or "NAME:SCHEMA"): those production enabled beyond a new
    project's, enabled in the stand-in first, as the runbook enables them in the new project.

    With `failover`, then rehearse a failover on the restored database (`ops.reconcile`): a copy
    loses some rows, `reconcile --apply` must bring them back and a second run find nothing.
    The rehearsal is not part of the timed restore.

    The scale: the backed-up database's size (from the manifest; the restored copy's size for
    backups that do not record it) over the restore's time, and the largest database that rate
    restores within `budget`; both are published beside RestoreDrillSeconds.
    """
    s3 = s3 if s3 is not None else s3_client()
    split_dsn(scratch_url)
    problems: list[str] = []
    warnings: list[str] = []
    checks: list[TableCheck] = []
    restore: RestoreResult | None = None
    manifest: dict[str, Any] | None = None
    database_bytes: int | None = None
    throughput: float | None = None
    max_bytes: int | None = None
    supabase = target_shape is TargetShape.SUPABASE
    enabled = tuple(parse_extension(value) for value in extensions)
    recreate_scratch_database(scratch_url)
    dbname = str(pg_conninfo.conninfo_to_dict(scratch_url)["dbname"])
    restore_url = shape_database(scratch_url, dbname, enabled, platform_tables=False) if supabase else scratch_url
    prepare = functools.partial(build_platform_from_archive, scratch_url, dbname) if supabase else None
    clock = time.monotonic()
    try:
        manifest = resolve_backup(location, Kind.DB, backup_id, s3=s3)
        restore = restore_database(
            location,
            restore_url,
            backup_id=manifest["backup_id"],
            # A plain scratch database has none of production's roles: skip ACLs, the data is what we
            # check. The Supabase shape has the API roles the application grants to: keep them.
            no_acl=not supabase,
            jobs=jobs,
            scratch_dir=scratch_dir,
            s3=s3,
            target_shape=target_shape,
            prepare_target=prepare,
        )
    except NoBackupError as exc:
        problems.append(str(exc))
    except TargetRefusedError as exc:
        # The backup does not restore into a new project as it stands: the rehearsal failed.
        problems.append(f"restore refused: {exc}")
    except BackupError as exc:
        if isinstance(exc, UsageError):
            raise
        problems.append(f"restore failed: {exc}")
    seconds = round(time.monotonic() - clock - (restore.prepare_seconds if restore else 0.0), 3)
    if restore is not None and manifest is not None:
        with connect(scratch_url) as conn, sql_errors("counting restored rows", scratch_url):
            restored = {f"{s}.{n}": count_rows(conn, s, n) for s, n, _, _ in user_tables(conn)}
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        database_bytes = restore.database_bytes if restore.database_bytes is not None else int(row[0] if row else 0)
        throughput, max_bytes = restore_scale(database_bytes, seconds, budget)
        expected = [t for t in manifest["tables"] if not supabase or keeps_table(t["schema"], t["name"])]
        checks = compare_table_counts(expected, restored)
        warnings += restore.warnings
        for check in checks:
            if check.failed:
                problems.append(
                    f"table {check.table}: manifest {check.expected}, restored {check.restored} ({check.status})"
                )
            elif check.status == "drift":
                warnings.append(f"table {check.table}: restored {check.restored} rows, estimate was {check.expected}")
    rehearsal = None
    if failover and restore is not None:
        from ops.reconcile import ReconcileInputError, rehearse_failover  # imported only by drills that rehearse

        try:
            rehearsal = rehearse_failover(scratch_url)
            problems += rehearsal.problems
        except ReconcileInputError as exc:
            problems.append(f"failover rehearsal: {exc}")
    within = restore is not None and seconds <= rto.total_seconds()
    if restore is not None and not within:
        problems.append(
            f"restore took {format_duration(dt.timedelta(seconds=seconds))}, over the RTO of {format_duration(rto)}"
        )
    ok = not problems
    published: list[tuple[str, float, str]] = [
        (METRIC_DRILL_SECONDS, seconds, "Seconds"),
        (METRIC_DRILL_SUCCEEDED, int(ok), "Count"),
    ]
    if max_bytes is not None and throughput is not None:
        published += [
            (METRIC_DRILL_THROUGHPUT, throughput, "Bytes/Second"),
            (METRIC_DRILL_MAX_DATABASE_BYTES, max_bytes, "Bytes"),
        ]
    for name, value, unit in published:
        warning = publish_metric(cloudwatch, name, value, {"Stack": stack}, unit)
        if warning:
            warnings.append(warning)
    return DrillResult(
        ok=ok,
        backup_id=manifest["backup_id"] if manifest else None,
        scratch=describe_dsn(scratch_url),
        seconds=seconds,
        rto_seconds=rto.total_seconds(),
        within_rto=within,
        restore=restore.to_json() if restore else None,
        tables=[dataclasses.asdict(c) for c in checks],
        problems=problems,
        warnings=warnings,
        failover=rehearsal.to_json() if rehearsal else None,
        target_shape=target_shape.value,
        budget_seconds=budget.total_seconds(),
        database_bytes=database_bytes,
        throughput_bytes_per_second=round(throughput, 1) if throughput is not None else None,
        max_database_bytes=max_bytes,
    )
