"""Copy lost rows from the recovered source into the live database: insert only, never overwrite.

One batch of keys is one transaction on the target: the rows are streamed from the source with
COPY into a temporary table, then inserted with `ON CONFLICT (primary key) DO NOTHING`, so a row
written meanwhile under the same key (a race with the live application) is kept, not replaced.
A batch either commits whole or not at all: a killed run leaves no half-applied batch.

When a row breaks another constraint (a unique username taken since the failover, a parent
deleted since), the batch falls back to one savepoint per row, inserts what it can and reports
each refused row with the server's message: a person decides, nothing is forced. A row refused by
a foreign key is tried again in another pass while passes bring rows in: its parent may be a lost
row of the same table staged after it. Deferrable constraints are made immediate inside each batch,
so a deferred foreign key is refused per row too instead of failing the whole batch at COMMIT; the
application's deferred constraint triggers therefore fire at the end of each statement here
(docs/disaster-recovery.md, step 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ops.reconcile.compare import Key
from ops.reconcile.hashing import TableSql

_STAGE = sql.Identifier("reconcile_stage")


@dataclass
class Rejected:
    key: Key
    error: str


@dataclass
class BatchResult:
    inserted: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def _key_arrays(keys: Sequence[Key]) -> list[list[str]]:
    return [list(column) for column in zip(*keys, strict=True)]


def fetch_rows(conn: psycopg.Connection[Any], table_sql: TableSql, keys: Sequence[Key]) -> dict[Key, Any]:
    """Each key's whole row as JSON (to show both versions of a conflict to a person)."""
    query = sql.SQL("SELECT {}, to_jsonb(t) FROM {} t WHERE {}").format(
        table_sql.key_text, table_sql.rows, table_sql.in_keys()
    )
    return {tuple(row[:-1]): row[-1] for row in conn.execute(query, _key_arrays(keys))}


def apply_batch(
    source: psycopg.Connection[Any], target: psycopg.Connection[Any], table_sql: TableSql, keys: Sequence[Key]
) -> BatchResult:
    """Insert the source's rows for `keys` into the target in one transaction (target in autocommit mode)."""
    table = table_sql.table
    # Generated columns are computed by the target itself; an insert may not name them.
    columns = sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns if not c.generated)
    # Identity columns GENERATED ALWAYS refuse explicit values unless told: the lost row's id is its key.
    overriding = sql.SQL("OVERRIDING SYSTEM VALUE ") if any(c.identity_always for c in table.columns) else sql.SQL("")
    result = BatchResult()
    with target.transaction():
        # A DEFERRABLE constraint (a deferred foreign key) would be checked only at COMMIT, after
        # the fallback below: one orphan would abort the whole batch. Checked per statement, it
        # fails the insert (or the one row's savepoint) like any other constraint.
        target.execute("SET CONSTRAINTS ALL IMMEDIATE")
        target.execute(
            sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                _STAGE, columns, table_sql.relation
            )
        )
        copy_out = sql.SQL("COPY (SELECT {} FROM {} t WHERE {}) TO STDOUT").format(
            columns, table_sql.rows, table_sql.in_keys()
        )
        with (
            source.cursor().copy(copy_out, _key_arrays(keys)) as rows_out,
            target.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(_STAGE, columns)) as rows_in,
        ):
            for block in rows_out:
                rows_in.write(block)
        keys_list = sql.SQL(", ").join(sql.Identifier(k) for k in table.key)

        def insert(where: sql.Composable) -> sql.Composed:
            return sql.SQL("INSERT INTO {} ({}) {}SELECT {} FROM {} s {} ON CONFLICT ({}) DO NOTHING").format(
                table_sql.relation, columns, overriding, columns, _STAGE, where, keys_list
            )

        try:
            with target.transaction():
                result.inserted = target.execute(insert(sql.SQL(""))).rowcount
        except psycopg.errors.IntegrityError:
            one_row = insert(sql.SQL("WHERE s.ctid = %s"))
            some_rows = insert(sql.SQL("WHERE s.ctid = ANY(%s::tid[])"))
            _apply_row_by_row(target, table_sql, one_row, some_rows, result)
    return result


def _apply_row_by_row(
    target: psycopg.Connection[Any],
    table_sql: TableSql,
    one_row: sql.Composed,
    some_rows: sql.Composed,
    result: BatchResult,
) -> None:
    """One savepoint per row, in passes: a row refused by a foreign key (23503) is tried again in the
    next pass, as its parent may be a lost row of the same table staged after it (a reply to a
    reply), until a pass inserts nothing more. Every other refusal is final at once.

    Before each further pass the waiting rows are tried together in one statement: foreign keys are
    checked at its end, so a chain staged child first goes in at once instead of one link per pass
    (a chain of N rows would otherwise cost about N^2/2 savepoints)."""
    pending = target.execute(
        sql.SQL("SELECT s.ctid, {} FROM {} s").format(
            sql.SQL(", ").join(sql.SQL("s.{}::text").format(sql.Identifier(k)) for k in table_sql.table.key), _STAGE
        )
    ).fetchall()
    while pending:
        waiting: list[tuple[Any, ...]] = []
        errors: list[str] = []
        for ctid, *key in pending:
            try:
                with target.transaction():
                    result.inserted += target.execute(one_row, (ctid,)).rowcount
            except psycopg.errors.ForeignKeyViolation as exc:
                waiting.append((ctid, *key))
                errors.append(_first_line(exc))
            except psycopg.errors.IntegrityError as exc:
                result.rejected.append(Rejected(tuple(key), _first_line(exc)))
        if len(waiting) == len(pending):  # no progress: their parents are not coming
            result.rejected += [Rejected(tuple(key), error) for (_, *key), error in zip(waiting, errors, strict=True)]
            break
        pending = waiting
        if pending and _insert_together(target, some_rows, pending, result):
            return


def _insert_together(
    target: psycopg.Connection[Any], some_rows: sql.Composed, rows: list[tuple[Any, ...]], result: BatchResult
) -> bool:
    """Insert `rows` (staging ctid first) in one statement under a savepoint; False if one is refused."""
    try:
        with target.transaction():
            result.inserted += target.execute(some_rows, ([ctid for ctid, *_ in rows],)).rowcount
    except psycopg.errors.IntegrityError:
        return False  # one of them is refused: the next pass finds which, one at a time
    return True


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


# Each column's sequence: the one it owns (serial, identity), or the one its default draws from,
# as a table that inherits from another draws from its parent's (`id bigserial` inherited: the
# child's default is nextval('parent_id_seq'), owned by the parent's column, so
# pg_get_serial_sequence says nothing for the child).
_SEQUENCES_SQL = """
SELECT a.attname, coalesce(
    pg_get_serial_sequence(a.attrelid::regclass::text, a.attname),
    (
        SELECT quote_ident(n.nspname) || '.' || quote_ident(s.relname)
        FROM pg_attrdef d
        JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
            AND dep.refclassid = 'pg_class'::regclass
        JOIN pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
        JOIN pg_namespace n ON n.oid = s.relnamespace
        WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum
        ORDER BY s.oid
        LIMIT 1
    )
)
FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def advance_sequences(target: psycopg.Connection[Any], table_sql: TableSql) -> list[str]:
    """Move each sequence that feeds the table past the largest value now in its column.

    Lost rows keep their original ids; without this, the live database would hand out those ids
    again and the application's next inserts would fail. Sequences only move forward. The largest
    value is the table's with the tables that inherit from it (and a partitioned table's, its
    partitions'): they draw from the same sequence.
    """
    table = table_sql.table
    moved: list[str] = []
    qualified = sql.Identifier(table.schema, table.name).as_string(target)
    for column, sequence in target.execute(_SEQUENCES_SQL, (qualified,)).fetchall():
        if not sequence:
            continue
        query = sql.SQL(
            "SELECT setval(%s, m) FROM (SELECT max({}) AS m FROM {}) x WHERE m > (SELECT last_value FROM {})"
        ).format(sql.Identifier(column), table_sql.relation, sql.SQL(sequence))
        if target.execute(query, (sequence,)).fetchone():
            moved.append(sequence)
    return moved
