"""Rehearse pending migrations on a restored copy of a database before they touch it.

``rehearse`` restores a backup (``ops.backup``: checksum verified first) into a scratch database -
or starts from an empty one - and applies the pending migrations the way the pinned Supabase CLI's
`supabase db push` does (``apps/cli-go/pkg/migration/apply.go``, ``file.go``, ``history.go`` at
v2.104.0), as a role shaped like Supabase's `postgres` (``ops.migrate.role``):

- the history is read first; versions the directory lacks, or files out of order, refuse the whole
  push before anything runs (``files.pending``);
- ``RESET ALL`` before every file, as a statement of its own;
- each file's statements, then its ``schema_migrations`` row, as one extended-protocol pipeline
  closed by a single Sync - PostgreSQL's implicit transaction, not ``BEGIN ... COMMIT``. A first
  statement that cannot run in a transaction block (``CREATE INDEX CONCURRENTLY``) runs and commits
  on its own; one after another statement fails; any error rolls back the rest of the file.

The statements of a file go out one at a time, each followed by a Flush (not a Sync) and its result
awaited: the server sees the CLI's messages in the CLI's order with the same single Sync, so the
transaction is the same, and between two statements the migrating session is paused with its locks
held. A second connection reads them from ``pg_locks`` then - no sampling race, and the statement
that took each lock is known. A lock counts when it blocks the app on a table that existed, with
rows, before the migration: ``ACCESS EXCLUSIVE`` blocks reads and writes, ``SHARE`` and stronger block
writes. It is held from the start of the statement that took it to the end of the file's
transaction (or the first pause it is no longer held); longer than the lock budget is an error. The
scratch copy has no concurrent sessions, so the time a migration would *wait* for a lock in
production is not measured - `lock_timeout` is the guard for that, and squawk flags its absence.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

import ops.migrate.lint as linter
import ops.migrate.role as migration_role
from ops import backup as backups
from ops.migrate.files import (
    SUPABASE_CLI_VERSION,
    MigrationFile,
    MigrationInputError,
    discover,
    migrations_dir,
    pending,
    read_statements,
)
from ops.migrate.pipeline import TEXT_ARRAY_OID, TEXT_OID, Pipeline, StatementError, text_array

REPORT_KIND = "migration-rehearsal"

# A lock that stops requests longer than the spec's rollback trigger (responseTime > 1000ms) turns a
# migration into a rollback: the default budget is that second.
DEFAULT_LOCK_BUDGET = "1s"

BLOCKS_READS_AND_WRITES = "reads and writes"
BLOCKS_WRITES = "writes"
BLOCKING_MODES = {
    "AccessExclusiveLock": BLOCKS_READS_AND_WRITES,
    "ExclusiveLock": BLOCKS_WRITES,
    "ShareRowExclusiveLock": BLOCKS_WRITES,
    "ShareLock": BLOCKS_WRITES,
}

_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$")
_BUDGET_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}

# `history.go`: CreateMigrationTable, one batch; its lock_timeout lasts until the first file's RESET ALL.
HISTORY_SETUP = (
    "SET lock_timeout = '4s'",
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)
LIST_MIGRATIONS = "SELECT version FROM supabase_migrations.schema_migrations ORDER BY version"
RECORD_MIGRATION = "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES($1, $2, $3)"
UNDEFINED_TABLE = "42P01"

_TABLES_SQL = """
SELECT c.oid, format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
"""
_SESSION_LOCKS_SQL = """
SELECT relation, mode FROM pg_locks
WHERE pid = %s AND locktype = 'relation' AND granted AND relation IS NOT NULL
"""


def parse_budget(text: str) -> float:
    """Seconds from ``"1s"``, ``"500ms"``, ``"2m"``; the unit is required."""
    match = _BUDGET.match(text)
    if not match:
        raise MigrationInputError(f"invalid --lock-budget {text!r}: use a number with ms, s or m, e.g. 1s or 500ms")
    return float(match.group(1)) * _BUDGET_UNITS[match.group(2)]


@dataclass(frozen=True)
class LockHeld:
    table: str
    mode: str
    blocks: str
    had_rows: bool
    statement: int  # 1-based index of the statement that took it
    held_seconds: float
    level: str  # error | warning | info

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def lock_level(had_rows: bool, held_seconds: float, budget_seconds: float) -> str:
    """error: the app would wait longer than the budget; warning: it would wait; info: empty table."""
    if not had_rows:
        return "info"
    return "error" if held_seconds > budget_seconds else "warning"


@dataclass
class MigrationResult:
    version: str
    name: str
    file: str
    status: str  # applied | failed | not-run | linted
    statements: int
    seconds: float | None = None
    error: dict[str, Any] | None = None
    locks: list[LockHeld] = field(default_factory=list)
    findings: list[linter.Finding] = field(default_factory=list)
    statement_seconds: list[float] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        out = [f"{f.rule}: {f.message}" for f in self.findings if f.level == "error"]
        out += [
            f"{lock.mode} on {lock.table} ({lock.blocks} blocked) held {lock.held_seconds:.3f}s"
            for lock in self.locks
            if lock.level == "error"
        ]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "file": self.file,
            "status": self.status,
            "statements": self.statements,
            "seconds": self.seconds,
            "statement_seconds": self.statement_seconds,
            "error": self.error,
            "locks": [lock.to_json() for lock in self.locks],
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass
class Rehearsal:
    ok: bool
    started_at: str
    finished_at: str
    seconds: float
    stack: str | None
    migrations_dir: str
    lint_only: bool
    source: dict[str, Any]
    scratch: str | None
    role: dict[str, Any] | None
    lock_budget_seconds: float
    linter: dict[str, str]
    already_applied: int
    skipped_files: list[str]
    migrations: list[MigrationResult]
    problems: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": REPORT_KIND,
            "ok": self.ok,
            "supabase_cli": SUPABASE_CLI_VERSION,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": self.seconds,
            "stack": self.stack,
            "migrations_dir": self.migrations_dir,
            "lint_only": self.lint_only,
            "source": self.source,
            "scratch": self.scratch,
            "role": self.role,
            "lock_budget_seconds": self.lock_budget_seconds,
            "linter": self.linter,
            "already_applied": self.already_applied,
            "skipped_files": self.skipped_files,
            "summary": {
                "pending": len(self.migrations),
                "applied": sum(m.status == "applied" for m in self.migrations),
                "failed": sum(m.status == "failed" for m in self.migrations),
                "not_run": sum(m.status == "not-run" for m in self.migrations),
                "errors": sum(len(m.errors) for m in self.migrations),
                "warnings": sum(
                    sum(f.level == "warning" for f in m.findings) + sum(lock.level == "warning" for lock in m.locks)
                    for m in self.migrations
                ),
            },
            "migrations": [m.to_json() for m in self.migrations],
            "problems": self.problems,
        }


def rehearse(
    directory: Path,
    *,
    scratch_url: str | None,
    location: backups.Location | None = None,
    backup_id: str = "latest",
    lint_only: bool = False,
    lock_budget: str = DEFAULT_LOCK_BUDGET,
    stack: str | None = None,
    s3: Any = None,
) -> Rehearsal:
    """Restore (or start empty), apply the pending migrations as `db push` would, lint them, report."""
    started = backups.utcnow()
    clock = time.monotonic()
    budget = parse_budget(lock_budget)
    folder = migrations_dir(directory)
    local, skipped = discover(folder)
    problems: list[str] = []
    source: dict[str, Any] = {"type": "none"}
    applied: list[str] = []
    pg_version: str | None = None
    role: dict[str, Any] | None = None

    if lint_only:
        todo = local
        results = [MigrationResult(m.version, m.name, m.file, "linted", len(read_statements(m))) for m in todo]
    else:
        if not scratch_url:
            raise MigrationInputError("--scratch-url is required unless --lint-only")
        backups.split_dsn(scratch_url)
        backup_id = backups.validate_backup_id(backup_id)
        backups.recreate_scratch_database(scratch_url)
        source, restore_problem = _restore(location, scratch_url, backup_id, s3)
        if restore_problem:
            problems.append(restore_problem)
            # Nothing to rehearse on: every migration is reported not run, and still linted.
            todo = local
            results = [_not_run(m) for m in todo]
        else:
            role_url = _prepare_role(scratch_url)
            with _connect(scratch_url) as observer, _connect(role_url) as conn:
                pg_version = _server_version(conn)
                role = migration_role.attributes(conn)
                applied = _applied_versions(conn)
                todo, refused = pending(local, applied)
                refused = refused or (_create_history_table(conn) if todo else None)
                if refused:
                    problems.append(refused)
                    results = [_not_run(m) for m in todo]
                else:
                    results = _apply_all(conn, observer, todo, budget)

    findings = linter.lint([m.path for m in todo], pg_version)
    for migration, result in zip(todo, results, strict=True):
        result.findings = findings.get(migration.path, [])

    for result in results:
        if result.status == "failed" and result.error:
            problems.append(f"{result.file} failed: {result.error['message']}")
        problems += [f"{result.file}: {error}" for error in result.errors]
    finished = backups.utcnow()
    return Rehearsal(
        ok=not problems,
        started_at=backups.isoformat(started),
        finished_at=backups.isoformat(finished),
        seconds=round(time.monotonic() - clock, 3),
        stack=stack,
        migrations_dir=str(folder),
        lint_only=lint_only,
        source=source,
        scratch=backups.describe_dsn(scratch_url) if scratch_url and not lint_only else None,
        role=role,
        lock_budget_seconds=budget,
        linter={"name": "squawk", "version": linter.squawk_version()},
        already_applied=len(applied),
        skipped_files=skipped,
        migrations=results,
        problems=problems,
    )


def _restore(
    location: backups.Location | None, scratch_url: str, backup_id: str, s3: Any
) -> tuple[dict[str, Any], str | None]:
    """Restore the backup into the scratch database: its description, and the problem if it failed."""
    if location is None:
        return {"type": "empty"}, None
    source: dict[str, Any] = {"type": "backup", "bucket": location.bucket, "prefix": location.prefix}
    try:
        # The scratch server has none of production's roles: restore without ACLs, like the drill.
        restored = backups.restore_database(location, scratch_url, backup_id=backup_id, no_acl=True, s3=s3)
    except backups.UsageError:
        raise
    except backups.BackupError as exc:
        return {**source, "backup_id": None}, f"restore of backup {backup_id!r} failed: {exc}"
    return {
        **source,
        "backup_id": restored.backup_id,
        "restored_bytes": restored.restored_bytes,
        # The checksum pass over the stored dump, then the pg_restore pass.
        "verify_seconds": restored.verify_seconds,
        "restore_seconds": restored.restore_seconds,
    }, None


def _not_run(migration: MigrationFile) -> MigrationResult:
    count = len(read_statements(migration))
    return MigrationResult(migration.version, migration.name, migration.file, "not-run", count)


def _prepare_role(scratch_url: str) -> str:
    database = str(pg_conninfo.conninfo_to_dict(scratch_url).get("dbname") or "")
    try:
        return migration_role.prepare(scratch_url, database)
    except psycopg.Error as exc:
        raise backups.BackupError(
            f"cannot prepare the migration role {migration_role.MIGRATION_ROLE!r} on "
            f"{backups.describe_dsn(scratch_url)}: {backups.redact(str(exc), scratch_url).strip()}"
        ) from None


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        # autocommit: every statement outside a batch is its own transaction, as with pgx's Exec.
        return psycopg.connect(dsn, connect_timeout=15, autocommit=True)
    except psycopg.Error as exc:
        raise backups.BackupError(
            f"cannot connect to {backups.describe_dsn(dsn)}: {backups.redact(str(exc), dsn).strip()}"
        ) from None


def _server_version(conn: psycopg.Connection[Any]) -> str:
    number = int(conn.info.server_version)  # e.g. 170002
    return f"{number // 10000}.{number % 10000}"


def _applied_versions(conn: psycopg.Connection[Any]) -> list[str]:
    """`list.go` ListRemoteMigrations: the versions in the database's order; no table, none."""
    try:
        return [str(row[0]) for row in conn.execute(LIST_MIGRATIONS)]
    except psycopg.Error as exc:
        if exc.sqlstate == UNDEFINED_TABLE:
            return []
        raise


def _create_history_table(conn: psycopg.Connection[Any]) -> str | None:
    """Create the history table as `db push` does before its first file; why it failed, if it did."""
    with Pipeline(conn) as batch:
        for statement in HISTORY_SETUP:
            if error := batch.execute(statement):
                return f"`supabase db push` would fail to create the migration table: {error.message}"
    return None


def _apply_all(
    conn: psycopg.Connection[Any], observer: psycopg.Connection[Any], todo: list[MigrationFile], budget: float
) -> list[MigrationResult]:
    results: list[MigrationResult] = []
    failed = False
    for migration in todo:
        if failed:
            results.append(_not_run(migration))
            continue
        result = apply_migration(conn, observer, migration, budget)
        results.append(result)
        failed = result.status == "failed"
    return results


def apply_migration(
    conn: psycopg.Connection[Any], observer: psycopg.Connection[Any], migration: MigrationFile, budget: float
) -> MigrationResult:
    """``RESET ALL``, then the file and its history row as one batch (`apply.go`, `file.go`).

    ``observer`` is a second session (the scratch server's superuser): it lists the tables before
    the file runs and reads the migrating session's locks while it waits between two statements.
    """
    statements = read_statements(migration)
    result = MigrationResult(migration.version, migration.name, migration.file, "applied", len(statements))
    # Settings a previous file changed (search_path, statement_timeout, ...) do not carry over.
    conn.execute("RESET ALL")
    tables = dict(observer.execute(_TABLES_SQL).fetchall())
    had_rows = {oid: _has_rows(observer, name) for oid, name in tables.items()}
    pid = conn.info.backend_pid
    taken: dict[tuple[int, str], tuple[int, float]] = {}
    released: dict[tuple[int, str], float] = {}
    clock = time.monotonic()
    with Pipeline(conn) as batch:
        for index, statement in enumerate(statements, start=1):
            began = time.monotonic()
            error = batch.execute(statement)
            result.statement_seconds.append(round(time.monotonic() - began, 3))
            if error:
                result.status = "failed"
                result.error = _error_json(error, index, statement)
                break
            held = {(oid, mode) for oid, mode in observer.execute(_SESSION_LOCKS_SQL, (pid,))}
            now = time.monotonic()
            for key in held:
                taken.setdefault(key, (index, began))
            for key in taken.keys() - held:
                released.setdefault(key, now)  # a statement that commits on its own releases them
        if result.status == "applied":
            record = [migration.version.encode(), migration.name.encode(), text_array(statements)]
            if error := batch.execute(RECORD_MIGRATION, record, [TEXT_OID, TEXT_OID, TEXT_ARRAY_OID]):
                result.status = "failed"
                result.error = _error_json(error, len(statements) + 1, RECORD_MIGRATION)
        batch.sync()
    ended = time.monotonic()
    result.seconds = round(ended - clock, 3)
    for (oid, mode), (index, began) in sorted(taken.items(), key=lambda item: item[1]):
        if oid not in tables or mode not in BLOCKING_MODES:
            continue
        held_seconds = round(released.get((oid, mode), ended) - began, 3)
        result.locks.append(
            LockHeld(
                table=tables[oid],
                mode=mode,
                blocks=BLOCKING_MODES[mode],
                had_rows=had_rows[oid],
                statement=index,
                held_seconds=held_seconds,
                level=lock_level(had_rows[oid], held_seconds, budget),
            )
        )
    return result


def _has_rows(conn: psycopg.Connection[Any], qualified: str) -> bool:
    row = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.SQL(qualified))).fetchone()
    return bool(row and row[0])


def _error_json(error: StatementError, index: int, statement: str) -> dict[str, Any]:
    return {
        "statement": index,
        "sqlstate": error.sqlstate,
        "message": error.message.strip(),
        "detail": error.detail,
        "sql": statement if len(statement) <= 500 else statement[:500] + " ...",
    }
