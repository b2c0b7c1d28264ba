"""Find the rows that differ between two copies of a table without loading either copy.

Primary-key ranges are compared by a hash computed in SQL on each side; only ranges whose hashes
differ are looked at row by row. One side cuts the key space into ranges of 64 of its rows and
hashes them in the same pass (keyset order: composite and uuid keys work like serial ones); the
other side hashes the same ranges, `(key) > (lo) AND (key) <= (hi)`, one primary-key index range
scan each.

The range hash is `count(*)` plus `bit_xor(hash_record_extended(ROW(every column), 0))`:
- `hash_record_extended` combines each column's own 64-bit hash function, the ones hash
  partitioning relies on (so PostgreSQL keeps them stable across versions and platforms). Over
  the benchmark's 1M-row table it took 0.33 s, hashing the row's text form
  (`hashtextextended(ROW(...)::text, 0)`) 1.2 s and `md5(string_agg(md5(row::text), '' ORDER BY
  key))` about 9 s (single runs on a shared 2-core machine): converting every column to text is
  what costs. A changed row goes unnoticed only if its 64-bit hash collides (about 2^-64); the
  32-bit `hashtext` would miss one in ~4 billion changed rows.
- A NULL column contributes 0 to the row hash and a value its own hash, so NULL <-> '' or
  NULL <-> 0 changes the row hash. Values are compared as their type compares them: numeric
  1.0 and 1.00, or one instant written in two time zones, are equal.
- Types without an extended hash function (json, geometric types, arrays, ranges...) and enums
  (which hash as an OID that differs between databases) are hashed through their text form,
  whose output `SESSION_SETTINGS` pins on both connections.
- XOR does not depend on row order (no sort, no per-range string) and stays a 64-bit integer,
  so one pass can keep a running XOR and read any range's hash off two readings. Rows never
  cancel out: every row holds its own key, so no two rows of a table hash alike except by a
  2^-64 accident. Columns are listed by name, so column order that differs between the two
  databases is not a difference.

A range that differs and holds more than `leaf_rows` rows on either side is split again, at
boundaries taken from the side that has more rows there (so thousands of post-failover rows past
the recovered copy's last key are split like any other range); a smaller one is cut into pieces
of `sub_rows` rows the same way, and only differing pieces are compared row by row. The
splitting side streams its ranges while the other side hashes the previous batch in a worker
thread, so the two servers work at the same time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from ops.reconcile.catalog import Table

Key = tuple[str, ...]  # a primary key as the text form of each key column
T = TypeVar("T")

# The text form of values must be the same on both sides (see the module docstring); these are
# PostgreSQL's defaults except the time zone, which is per server or role and often differs.
SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}


def pin_session(conn: psycopg.Connection[Any]) -> None:
    for name, value in SESSION_SETTINGS.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))
    # The planner costs a batch of 1024 short range scans like 1024 x its row estimate, which
    # crosses jit_above_cost: compiling then takes longer than the query it speeds up.
    conn.execute("SELECT set_config('jit', 'off', false)")


@dataclass(frozen=True)
class KeyRange:
    """Keys k with lo < k <= hi; None means unbounded on that side."""

    lo: Key | None
    hi: Key | None


@dataclass
class LeafDiff:
    """The outcome of comparing some ranges row by row."""

    lost: list[Key]  # in --from only: written before the failure, missing from the recovered copy
    only_in_to: list[Key]  # in --to only: written after the failover (or deleted on --from)
    conflicts: list[Key]  # on both sides with different contents


@dataclass
class CompareStats:
    ranges: int = 0  # ranges compared by hash (every level)
    differing: int = 0  # of those, ranges whose hashes differed
    rows_fetched: int = 0  # (key, hash) pairs fetched for row-by-row comparison, both sides


def classify(source: Mapping[Key, int], target: Mapping[Key, int]) -> LeafDiff:
    """Sort the keys of one set of ranges into lost / only-in-to / conflict by their row hashes."""
    return LeafDiff(
        lost=[k for k in source if k not in target],
        only_in_to=[k for k in target if k not in source],
        conflicts=[k for k, h in source.items() if k in target and target[k] != h],
    )


class TableSql:
    """The SQL fragments of one table, built once; identifiers are quoted by psycopg."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.relation = sql.Identifier(table.schema, table.name)
        keys = [sql.Identifier("t", k) for k in table.key]
        self.key_row = sql.SQL("({})").format(sql.SQL(", ").join(keys))
        self.key_order = sql.SQL(", ").join(keys)
        self.key_text = sql.SQL(", ").join(sql.SQL("{}::text").format(k) for k in keys)
        self.key_types = [sql.SQL(table.column(k).type) for k in table.key]  # format_type(): valid SQL
        self.row_hash = sql.SQL("hash_record_extended(ROW({}), 0)").format(
            sql.SQL(", ").join(
                sql.Identifier("t", c.name) if c.hashable else sql.SQL("{}::text").format(sql.Identifier("t", c.name))
                for c in sorted(table.columns, key=lambda c: c.name)
            )
        )

    def casts(self, names: Sequence[sql.Composable]) -> sql.Composable:
        """`(name0::type0, name1::type1, ...)`: text values turned back into key values."""
        return sql.SQL("({})").format(
            sql.SQL(", ").join(sql.SQL("{}::{}").format(n, t) for n, t in zip(names, self.key_types, strict=True))
        )

    def in_keys(self) -> sql.Composable:
        """`(key) IN (...)` for a list of keys passed as one text array per key column."""
        n = len(self.table.key)
        names = [sql.Identifier("u", f"k{j}") for j in range(n)]
        return sql.SQL("{} IN (SELECT {} FROM unnest({}) AS u({}))").format(
            self.key_row,
            sql.SQL(", ").join(sql.SQL("{}::{}").format(c, t) for c, t in zip(names, self.key_types, strict=True)),
            sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in range(n)),
            sql.SQL(", ").join(sql.Identifier(f"k{j}") for j in range(n)),
        )

    def per_range(
        self,
        conn: psycopg.Connection[Any],
        ranges: Sequence[KeyRange],
        inner: Callable[[sql.Composable], sql.Composable],
        order: sql.Composable | None = None,
    ) -> list[list[tuple[Any, ...]]]:
        """Run `inner(where)` (a SELECT over `t`) once per range, in as few statements as possible.

        Ranges of the same shape (bounded below, above, both, neither) go into one statement that
        joins the list of bounds LATERALly to the table, so each range is one index range scan.
        `order` (over the columns of `inner`, as `s.<column>`) orders the rows within each range.
        """
        out: list[list[tuple[Any, ...]]] = [[] for _ in ranges]
        shapes: dict[tuple[bool, bool], list[int]] = {}
        for i, r in enumerate(ranges):
            shapes.setdefault((r.lo is not None, r.hi is not None), []).append(i)
        n = len(self.table.key)
        for (has_lo, has_hi), indexes in shapes.items():
            columns: list[str] = []
            params: list[list[str]] = []
            where: list[sql.Composable] = []
            for used, side, op in ((has_lo, "lo", ">"), (has_hi, "hi", "<=")):
                if not used:
                    continue
                names = [f"{side}{j}" for j in range(n)]
                columns += names
                params += [[getattr(ranges[i], side)[j] for i in indexes] for j in range(n)]
                where.append(
                    sql.SQL("{} {} {}").format(
                        self.key_row, sql.SQL(op), self.casts([sql.Identifier("r", c) for c in names])
                    )
                )
            body = inner(sql.SQL(" AND ").join(where) if where else sql.SQL("true"))
            if columns:
                query = sql.SQL(
                    "SELECT r.i, s.* FROM unnest({}) WITH ORDINALITY AS r({}, i) CROSS JOIN LATERAL ({}) s"
                ).format(
                    sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in columns),
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                    body,
                )
            else:
                query = sql.SQL("SELECT 1::bigint AS i, s.* FROM ({}) s").format(body)
            if order is not None:
                query = sql.SQL("{} ORDER BY 1, {}").format(query, order)
            for row in conn.execute(query, params):
                out[indexes[row[0] - 1]].append(row[1:])
        return out

    def range_hashes(self, conn: psycopg.Connection[Any], ranges: Sequence[KeyRange]) -> list[tuple[int, Any]]:
        def inner(where: sql.Composable) -> sql.Composable:
            return sql.SQL("SELECT count(*), coalesce(bit_xor({}), 0) FROM {} t WHERE {}").format(
                self.row_hash, self.relation, where
            )

        return [(int(rows[0][0]), rows[0][1]) for rows in self.per_range(conn, ranges, inner)]

    def sub_buckets(
        self, conn: psycopg.Connection[Any], ranges: Sequence[KeyRange], step: int
    ) -> list[list[tuple[Any, ...]]]:
        """For each range, (key, row number, running XOR) at every `step`-th row: `buckets` for many small ranges."""

        def inner(where: sql.Composable) -> sql.Composable:
            return sql.SQL(
                "SELECT {text}, t.reconcile_n, t.reconcile_xor FROM ("
                "SELECT {cols}, row_number() OVER w AS reconcile_n, bit_xor({hash}) OVER w AS reconcile_xor"
                " FROM {rel} t WHERE {where} WINDOW w AS (ORDER BY {order})) t "
                "WHERE t.reconcile_n %% {step} = 0"
            ).format(
                text=self.key_text,
                cols=self.key_order,
                hash=self.row_hash,
                order=self.key_order,
                rel=self.relation,
                where=where,
                step=sql.Literal(step),
            )

        return self.per_range(conn, ranges, inner, order=sql.SQL("s.reconcile_n"))

    def row_hashes(self, conn: psycopg.Connection[Any], ranges: Sequence[KeyRange]) -> dict[Key, int]:
        def inner(where: sql.Composable) -> sql.Composable:
            return sql.SQL("SELECT {}, {} FROM {} t WHERE {}").format(
                self.key_text, self.row_hash, self.relation, where
            )

        return {tuple(row[:-1]): row[-1] for rows in self.per_range(conn, ranges, inner) for row in rows}

    def buckets(
        self, conn: psycopg.Connection[Any], within: KeyRange, step: int
    ) -> Iterator[tuple[KeyRange, int, Any]]:
        """Cut `within` into ranges of `step` rows of this side, with each range's count and hash, in one pass.

        One index-order scan streamed through a server-side cursor: running totals (row number,
        cumulative XOR of the row hashes) are read at every `step`-th row, and each range's own
        count and hash follow from consecutive readings (a - b, a XOR b). The ranges cover
        `within` completely, the last one up to `within.hi`.
        """
        where: list[sql.Composable] = []
        params: list[Any] = []
        for bound, op in ((within.lo, ">"), (within.hi, "<=")):
            if bound is not None:
                where.append(
                    sql.SQL("{} {} {}").format(self.key_row, sql.SQL(op), self.casts([sql.Placeholder()] * len(bound)))
                )
                params += bound
        # One window (the default frame: with unique keys, every row is its own peer) so the
        # server runs a single WindowAgg over the index scan.
        query = sql.SQL(
            "SELECT {text}, t.reconcile_n, t.reconcile_xor FROM ("
            "SELECT {cols}, row_number() OVER w AS reconcile_n, bit_xor({hash}) OVER w AS reconcile_xor"
            " FROM {rel} t WHERE {where} WINDOW w AS (ORDER BY {order})) t "
            "WHERE t.reconcile_n %% %s = 0"
        ).format(
            text=self.key_text,
            cols=self.key_order,
            hash=self.row_hash,
            order=self.key_order,
            rel=self.relation,
            where=sql.SQL(" AND ").join(where) if where else sql.SQL("true"),
        )
        lo, rows_before, xor_before = within.lo, 0, 0
        with conn.cursor(name=f"reconcile_buckets_{next(_cursor_ids)}") as cur:
            cur.itersize = 1024
            cur.execute(query, [*params, step])
            for *key, rows, total in cur:
                yield KeyRange(lo, tuple(key)), rows - rows_before, total ^ xor_before
                lo, rows_before, xor_before = tuple(key), rows, total
        # The rest, up to `within.hi`: fewer than `step` rows here (maybe none), hashed on its own.
        tail = KeyRange(lo, within.hi)
        yield (tail, *self.range_hashes(conn, [tail])[0])


_cursor_ids = itertools.count()


@dataclass
class Comparer:
    """Compares one table between `source` (--from) and `target` (--to); yields differences as found."""

    source: psycopg.Connection[Any]
    target: psycopg.Connection[Any]
    table: Table
    chunk_rows: int = 64  # rows per range on the boundary side: small, so a 0.1 % difference touches few rows
    leaf_rows: int = 256  # a differing range this small (both sides) is not cut by a new pass
    sub_rows: int = 8  # ...but into pieces of this many rows, and only differing pieces compared row by row
    batch_ranges: int = 1024  # ranges hashed per statement
    leaf_batch_rows: int = 16384  # (key, hash) pairs fetched per statement pair
    stats: CompareStats = field(default_factory=CompareStats)

    def __post_init__(self) -> None:
        self.sql = TableSql(self.table)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile")

    def close(self) -> None:
        self._pool.shutdown()

    def _both(self, work: Callable[[psycopg.Connection[Any]], T]) -> tuple[T, T]:
        """Run `work` against both databases at once: each server does its share in parallel."""
        on_source = self._pool.submit(work, self.source)
        on_target = self._pool.submit(work, self.target)
        return on_source.result(), on_target.result()

    def differences(self) -> Iterator[LeafDiff]:
        yield from self._compare(KeyRange(None, None), self.source)

    def _compare(self, within: KeyRange, splitter: psycopg.Connection[Any]) -> Iterator[LeafDiff]:
        """Compare `within`, cut into ranges by `splitter`'s keys.

        The splitter streams its ranges with their hashes in the calling thread while the other
        side hashes the previous batch of ranges in a worker thread: both servers scan at once.
        """
        other = self.target if splitter is self.source else self.source
        pending: tuple[list[tuple[KeyRange, int, Any]], Future[list[tuple[int, Any]]]] | None = None
        batch: list[tuple[KeyRange, int, Any]] = []
        for bucket in self.sql.buckets(splitter, within, self.chunk_rows):
            batch.append(bucket)
            if len(batch) >= self.batch_ranges:
                if pending is not None:
                    yield from self._compare_batch(splitter, *pending)
                pending = batch, self._hash_on(other, [r for r, _, _ in batch])
                batch = []
        if pending is not None:
            yield from self._compare_batch(splitter, *pending)
        if batch:
            yield from self._compare_batch(splitter, batch, self._hash_on(other, [r for r, _, _ in batch]))

    def _hash_on(self, conn: psycopg.Connection[Any], ranges: list[KeyRange]) -> Future[list[tuple[int, Any]]]:
        return self._pool.submit(self.sql.range_hashes, conn, ranges)

    def _compare_batch(
        self,
        splitter: psycopg.Connection[Any],
        buckets: list[tuple[KeyRange, int, Any]],
        other_hashes: Future[list[tuple[int, Any]]],
    ) -> Iterator[LeafDiff]:
        self.stats.ranges += len(buckets)
        other = self.target if splitter is self.source else self.source
        small: list[tuple[KeyRange, psycopg.Connection[Any], int, Any]] = []
        for (r, n_split, h_split), (n_other, h_other) in zip(buckets, other_hashes.result(), strict=True):
            if n_split == n_other and h_split == h_other:
                continue
            self.stats.differing += 1
            # Cut again by the keys of the side that has more rows here.
            bigger, n, h = (splitter, n_split, h_split) if n_split >= n_other else (other, n_other, h_other)
            if max(n_split, n_other) > self.leaf_rows:
                yield from self._compare(r, bigger)
            else:
                small.append((r, bigger, n, h))
        leaves = self._narrow(small)
        for start in range(0, len(leaves), max(self.leaf_batch_rows // (2 * self.sub_rows), 1)):
            yield self._compare_rows(leaves[start : start + self.leaf_batch_rows // (2 * self.sub_rows)])

    def _narrow(self, ranges: list[tuple[KeyRange, psycopg.Connection[Any], int, Any]]) -> list[KeyRange]:
        """Cut small differing ranges into pieces of `sub_rows` rows and keep the pieces that differ.

        A 0.1 % difference touches about one row per differing range: hashing its pieces on both
        sides (three short statements per batch) and fetching rows only for the differing pieces
        moves an eighth of the (key, hash) pairs that fetching whole ranges would.
        """
        pieces: list[tuple[KeyRange, psycopg.Connection[Any], int, Any]] = []
        for cutter in (self.source, self.target):
            mine = [(r, n, h) for r, conn, n, h in ranges if conn is cutter]
            if not mine:
                continue
            readings = self.sql.sub_buckets(cutter, [r for r, _, _ in mine], self.sub_rows)
            for (r, n, h), marks in zip(mine, readings, strict=True):
                lo, rows_before, xor_before = r.lo, 0, 0
                for *key, rows, total in marks:
                    pieces.append((KeyRange(lo, tuple(key)), cutter, rows - rows_before, total ^ xor_before))
                    lo, rows_before, xor_before = tuple(key), rows, total
                pieces.append((KeyRange(lo, r.hi), cutter, n - rows_before, h ^ xor_before))
        differing: list[KeyRange] = []
        for cutter in (self.source, self.target):
            mine = [(r, n, h) for r, conn, n, h in pieces if conn is cutter]
            if not mine:
                continue
            opposite = self.target if cutter is self.source else self.source
            theirs = self.sql.range_hashes(opposite, [r for r, _, _ in mine])
            differing += [r for (r, n, h), (m, g) in zip(mine, theirs, strict=True) if (n, h) != (m, g)]
        return differing

    def _compare_rows(self, ranges: list[KeyRange]) -> LeafDiff:
        from_rows, to_rows = self._both(lambda conn: self.sql.row_hashes(conn, ranges))
        self.stats.rows_fetched += len(from_rows) + len(to_rows)
        return classify(from_rows, to_rows)
