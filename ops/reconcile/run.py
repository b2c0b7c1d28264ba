"""One reconciliation run: check the schemas, compare every keyed table, optionally apply lost rows."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

import psycopg
from psycopg import conninfo

from ops.reconcile.apply import advance_sequences, apply_batch, fetch_rows
from ops.reconcile.catalog import ReconcileInputError, Table, fk_order, load_tables, schema_problems, select_tables
from ops.reconcile.compare import Comparer, Key, pin_session
from ops.reconcile.report import CONFLICT_VERSIONS, Conflict, Report, TableReport

DEFAULT_BATCH_ROWS = 1000
MIN_SERVER_VERSION = 140000  # hash_record_extended (the range hash) is new in PostgreSQL 14


def describe(dsn: str) -> str:
    """`user@host:port/dbname` of a DSN: enough to recognise a database, never its password."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    host = params.get("host") or "localhost"
    return f"{params.get('user') or ''}@{host}:{params.get('port') or 5432}/{params.get('dbname') or ''}".lstrip("@")


@contextmanager
def _connect(dsn: str, flag: str, *, autocommit: bool, read_only: bool) -> Iterator[psycopg.Connection[Any]]:
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10, application_name="chefchatz reconcile")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        # libpq may repeat the password-bearing URL in its message: name the database ourselves.
        raise ReconcileInputError(
            f"{flag}: cannot connect to {describe(dsn)}: {reason.replace(dsn, describe(dsn))}"
        ) from None
    with conn:
        if conn.info.server_version < MIN_SERVER_VERSION:
            raise ReconcileInputError(
                f"{flag}: {describe(dsn)} runs PostgreSQL {conn.info.server_version // 10000}; "
                "reconcile needs 14 or newer (hash_record_extended)"
            )
        pin_session(conn)
        if not autocommit:
            # Each table is compared inside one snapshot per side (REPEATABLE READ), so the range
            # hashes and the rows fetched afterwards describe the same state of the table.
            conn.autocommit = False
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = read_only
        yield conn


def reconcile(
    source_url: str,
    target_url: str,
    *,
    schema: str = "public",
    tables: Sequence[str] = (),
    apply: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Report:
    """Compare `schema` between --from and --to; with `apply`, insert the rows --to lost.

    Raises ReconcileInputError (exit 2) for an unreachable database, an unknown table or a schema
    mismatch (every mismatching column named) before any row is read.
    """
    if batch_rows < 1:
        raise ReconcileInputError(f"--batch-rows must be at least 1, got {batch_rows}")
    started = time.monotonic()
    report = Report(describe(source_url), describe(target_url), schema, apply)
    with ExitStack() as stack:

        def open_side(url: str, flag: str) -> tuple[psycopg.Connection[Any], dict[str, Table]]:
            conn = stack.enter_context(_connect(url, flag, autocommit=False, read_only=True))
            found = load_tables(conn, schema)
            conn.commit()
            return conn, found

        # Both sides at once: to a distant server, connecting (TLS) and reading the catalog are
        # round trips, each side's as long as the other's. --from's error first, if both fail.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile-open") as pool:
            sides = [pool.submit(open_side, source_url, "--from"), pool.submit(open_side, target_url, "--to")]
            (source, source_tables), (target, target_tables) = (side.result() for side in sides)
        writer = stack.enter_context(_connect(target_url, "--to", autocommit=True, read_only=False)) if apply else None
        if not source_tables and not target_tables:
            raise ReconcileInputError(f"--schema: no tables in schema {schema!r} on either side")
        names = select_tables(source_tables.keys() | target_tables.keys(), schema, list(tables))
        problems = schema_problems(source_tables, target_tables, names)
        if problems:
            raise ReconcileInputError("schema mismatch between --from and --to:\n  " + "\n  ".join(problems))
        keyed = [n for n in names if source_tables[n].key]
        report.skipped = [
            {"table": n, "reason": "no primary key: rows cannot be matched, table not compared"}
            for n in names
            if not source_tables[n].key
        ]
        for name in fk_order({n: source_tables[n].parents for n in keyed}):
            report.tables.append(_reconcile_table(source, target, writer, source_tables[name], batch_rows))
    report.seconds = time.monotonic() - started
    return report


def _reconcile_table(
    source: psycopg.Connection[Any],
    target: psycopg.Connection[Any],
    writer: psycopg.Connection[Any] | None,
    table: Table,
    batch_rows: int,
) -> TableReport:
    started = time.monotonic()
    result = TableReport(table.qualified, table.key)
    comparer = Comparer(source, target, table)
    pending: list[Key] = []

    def flush() -> None:
        assert writer is not None
        batch = apply_batch(source, writer, comparer.sql, pending)
        result.applied += batch.inserted
        result.rejected += [{"key": result.key_dict(r.key), "error": r.error} for r in batch.rejected]
        pending.clear()

    try:
        for diff in comparer.differences():
            result.lost += len(diff.lost)
            result.only_in_to += len(diff.only_in_to)
            result.conflicts += len(diff.conflicts)
            result.sample("lost", diff.lost)
            result.sample("only_in_to", diff.only_in_to)
            result.sample("conflicts", diff.conflicts)
            room = CONFLICT_VERSIONS - len(result.conflict_versions)
            if diff.conflicts and room > 0:
                keys = diff.conflicts[:room]
                ours, theirs = comparer.on_both(functools.partial(fetch_rows, table_sql=comparer.sql, keys=keys))
                result.conflict_versions += [Conflict(result.key_dict(k), ours.get(k), theirs.get(k)) for k in keys]
            if writer is not None:
                for key in diff.lost:
                    pending.append(key)
                    if len(pending) >= batch_rows:
                        flush()
        if writer is not None and pending:
            flush()
        if writer is not None and result.applied:
            result.sequences_advanced = advance_sequences(writer, comparer.sql)
    finally:
        comparer.close()
        source.commit()
        target.commit()
    result.passes = comparer.stats.passes
    result.buckets_compared = comparer.stats.buckets
    result.buckets_differing = comparer.stats.differing
    result.buckets_pinpointed = comparer.stats.pinpointed
    result.rows_fetched = comparer.stats.rows_fetched
    result.seconds = time.monotonic() - started
    return result
