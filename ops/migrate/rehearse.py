"""Rehearse pending migrations on a restored copy of a database before they touch it.

``rehearse`` restores a backup (``ops.backup``: checksum verified first) into a scratch database -
or starts from an empty one - and applies the pending migrations the way `supabase db push` does:
in file-name order, each file in one transaction together with its row in
``supabase_migrations.schema_migrations``; the first failure is rolled back and nothing after it runs.

Locks are read from ``pg_locks`` by the migrating session itself after every statement. A relation
lock is held until the transaction ends, so this sees every lock the migration takes (a sampler on a
second connection can miss one taken and released between two samples), and which statement took it.
A lock counts when it blocks the app on a table that existed, with rows, before the migration:
``ACCESS EXCLUSIVE`` blocks reads and writes, ``SHARE`` and stronger block writes. It is held from the
start of the statement that took it to the commit; longer than the lock budget is an error. The
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
from psycopg import sql

import ops.migrate.lint as linter
from ops import backup as backups
from ops.migrate.files import MigrationFile, MigrationInputError, discover, migrations_dir, pending, split_statements

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

HISTORY_SETUP = (
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)
RECORD_MIGRATION = "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES (%s, %s, %s)"

_TABLES_SQL = """
SELECT c.oid, format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
"""
_OWN_LOCKS_SQL = """
SELECT relation, mode FROM pg_locks
WHERE pid = pg_backend_pid() AND locktype = 'relation' AND granted AND relation IS NOT NULL
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
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": self.seconds,
            "stack": self.stack,
            "migrations_dir": self.migrations_dir,
            "lint_only": self.lint_only,
            "source": self.source,
            "scratch": self.scratch,
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
    """Restore (or start empty), apply the pending migrations one transaction each, lint them, report."""
    started = backups.utcnow()
    clock = time.monotonic()
    budget = parse_budget(lock_budget)
    folder = migrations_dir(directory)
    local, skipped = discover(folder)
    problems: list[str] = []
    source: dict[str, Any] = {"type": "none"}
    applied: set[str] = set()
    pg_version: str | None = None

    if lint_only:
        todo = local
        results = [MigrationResult(m.version, m.name, m.file, "linted", _statement_count(m)) for m in todo]
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
            results = [MigrationResult(m.version, m.name, m.file, "not-run", _statement_count(m)) for m in todo]
        else:
            with _connect(scratch_url) as conn:
                pg_version = _server_version(conn)
                applied = _applied_versions(conn)
                todo, history_problems = pending(local, applied)
                problems += history_problems
                results = _apply_all(conn, todo, budget)

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


def _statement_count(migration: MigrationFile) -> int:
    return len(split_statements(migration.path.read_text(encoding="utf-8")))


def _connect(dsn: str) -> psycopg.Connection[Any]:
    try:
        # autocommit: the rehearsal opens and ends each migration's transaction itself.
        return psycopg.connect(dsn, connect_timeout=15, autocommit=True)
    except psycopg.Error as exc:
        raise backups.BackupError(
            f"cannot connect to {backups.describe_dsn(dsn)}: {backups.redact(str(exc), dsn).strip()}"
        ) from None


def _server_version(conn: psycopg.Connection[Any]) -> str:
    number = int(conn.info.server_version)  # e.g. 170002
    return f"{number // 10000}.{number % 10000}"


def _applied_versions(conn: psycopg.Connection[Any]) -> set[str]:
    for statement in HISTORY_SETUP:
        conn.execute(statement)
    return {str(row[0]) for row in conn.execute("SELECT version FROM supabase_migrations.schema_migrations")}


def _apply_all(conn: psycopg.Connection[Any], todo: list[MigrationFile], budget: float) -> list[MigrationResult]:
    results: list[MigrationResult] = []
    failed = False
    for migration in todo:
        if failed:
            count = _statement_count(migration)
            results.append(MigrationResult(migration.version, migration.name, migration.file, "not-run", count))
            continue
        result = apply_migration(conn, migration, budget)
        results.append(result)
        failed = result.status == "failed"
    return results


def apply_migration(conn: psycopg.Connection[Any], migration: MigrationFile, budget: float) -> MigrationResult:
    """One migration in one transaction with its history row; rolled back whole on the first error."""
    statements = split_statements(migration.path.read_text(encoding="utf-8"))
    result = MigrationResult(migration.version, migration.name, migration.file, "applied", len(statements))
    tables = dict(conn.execute(_TABLES_SQL).fetchall())
    had_rows = {oid: _has_rows(conn, name) for oid, name in tables.items()}
    taken: dict[tuple[int, str], tuple[int, float]] = {}
    clock = time.monotonic()
    conn.execute("BEGIN")
    try:
        for index, statement in enumerate(statements, start=1):
            began = time.monotonic()
            try:
                conn.execute(statement, prepare=False)
            except psycopg.Error as exc:
                result.status = "failed"
                result.error = _error_json(exc, index, statement)
                break
            for oid, mode in conn.execute(_OWN_LOCKS_SQL).fetchall():
                taken.setdefault((oid, mode), (index, began))
        if result.status == "applied":
            conn.execute(RECORD_MIGRATION, (migration.version, migration.name, statements))
            conn.execute("COMMIT")
        else:
            conn.execute("ROLLBACK")
    except BaseException:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        raise
    ended = time.monotonic()
    result.seconds = round(ended - clock, 3)
    for (oid, mode), (index, began) in sorted(taken.items(), key=lambda item: item[1]):
        if oid not in tables or mode not in BLOCKING_MODES:
            continue
        held = round(ended - began, 3)
        result.locks.append(
            LockHeld(
                table=tables[oid],
                mode=mode,
                blocks=BLOCKING_MODES[mode],
                had_rows=had_rows[oid],
                statement=index,
                held_seconds=held,
                level=lock_level(had_rows[oid], held, budget),
            )
        )
    return result


def _has_rows(conn: psycopg.Connection[Any], qualified: str) -> bool:
    row = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.SQL(qualified))).fetchone()
    return bool(row and row[0])


def _error_json(exc: psycopg.Error, index: int, statement: str) -> dict[str, Any]:
    diag = exc.diag
    return {
        "statement": index,
        "sqlstate": diag.sqlstate,
        "message": (diag.message_primary or str(exc)).strip(),
        "detail": diag.message_detail,
        "sql": statement if len(statement) <= 500 else statement[:500] + " ...",
    }
