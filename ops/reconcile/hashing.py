"""The SQL that hashes a table's rows on each side of a comparison (`ops.reconcile.compare`): the
key hash that puts a row in its bucket, the row hash that tells two versions of it apart, and the
queries of the comparison's passes (`TableSql`).

A row's key hash and row hash combine each column's own 64-bit seeded hash function (the ones
hash partitioning relies on, so PostgreSQL keeps them stable across versions and platforms; see
`key_hash`, `row_terms`, `int8_hash` and `ROW_HASH`). A row's bucket at `bits` is the low `bits`
bits of its key hash `k`; its row hash is a hash of `k` XOR `x`, the XOR of its other columns'
hashes (the key hash stands for the key columns). `TableSql` names `k` and `x` in a subquery, so
each is computed once per row: PostgreSQL evaluates an expression as often as it is written, and
the row hash used to write every column's hash twice. The bucket hash is `count(*)` plus
`bit_xor(row hash)` (and the XOR of row hashes shifted by their piece, which names the piece
holding a bucket's differences: `ops.reconcile.compare.pinpoint`). Figures below are single runs
(best of 5 to 11, interleaved) on a shared 2-core machine, over the benchmark's 1M-row tables, per side:
- The first pass took 0.83 s (`messages`) and 0.85 s (`cooks`) with the columns hashed twice and
  0.34-0.37 s now. Of that, reading the rows is 0.055 s, hashing them 0.14 s (the key, four
  columns, the row hash), grouping them into 16,384 buckets 0.09-0.11 s whatever the aggregates
  (without `count(*)`: the same), and naming `k` and `x` a level below the aggregate, which then
  reads a bucket and a row hash, 0.02-0.04 s less than computing both as its group key and argument.
  Earlier: `hash_record_extended(ROW(...))` 0.33 s, the row's text form hashed 1.2 s, `md5` of
  every row's text about 9 s: converting every column to text is what costs. A changed row goes
  unnoticed only if its 64-bit hash collides (2^-64).
- A NULL column contributes a mark of its own and a value its hash, so NULL <-> '' or NULL <-> 0
  changes the row hash. Built-in hashes that cannot tell some values apart (float and numeric
  return the seed for 0, NaN and ±Infinity; jsonb for [] and {}, and it ignores where nested arrays
  end) are replaced by the column's text: numeric 1.0 and 1.00 therefore differ (a change of scale
  survives a dump and restore, so it is a real difference). A bigint is hashed in one call with
  its value also in the seed, as `hashint8extended` folds its value to 32 bits but mixes a seed in
  whole (0.012 s beyond the scan, 0.018 s in two halves), then hashed once more so that it can
  never cancel a 32-bit type's term (`int8_hash`); the row hash is `k # x` as the seed of hashing a constant.
  The other 64-bit types whose built-in hash folds to 32 bits as int8's does (timestamp, timestamptz,
  time, timetz, interval, pg_lsn, xid8) are hashed through their binary send form in hex, every bit
  of the value (`_SEND_HASHED`: a timestamptz is UTC microseconds, so one instant written in two
  time zones is equal; interval's tells '1 day' from '24:00:00', which its hash does not): 0.08 s per
  1M timestamps beyond the scan, where their text (the review's first mend) took 0.16 s and made the
  first pass of a table with one timestamp column 15 % slower.
- Types without an extended hash function of their own (json, geometric types, arrays, ranges...;
  an extension's, such as citext's, which ignores case) and enums (which hash as an OID that
  differs between databases) are hashed through their text form, whose output `SESSION_SETTINGS`
  pins on both connections.
- XOR does not depend on row order (no sort) and stays a 64-bit integer. Rows never cancel out:
  every row holds its own key, so no two rows of a table hash alike except by a 2^-64 accident;
  each row hash is a hash of `k # x`, so values that trade rows inside a bucket change it. Columns
  are seeded by their place in name order, so values that trade columns change it too, and column
  order that differs between the two databases is not a difference. The key hash has seeds of its
  own, all seeds are distinct and below 2^32 (why: `int8_hash`), and the key hash is hashed again
  into the row hash, so a row's bucket says nothing about its row hash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from ops.reconcile.catalog import Column, Table

KEY_SEED = 1 << 31  # the key hash's seeds; the columns' are 1, 2, 3...: all distinct and below 2^32 (`int8_hash`)
MAX_PIECES_LISTED = 1 << 16  # bucket numbers in one fetch's list (`TableSql._in_any`)

# The text form of values must be the same on both sides (see the module docstring); these are
# PostgreSQL's defaults except the time zone, which is per server or role and often differs.
SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}


# Built-in hashes that cannot tell some different values apart: float8/float4/numeric return the seed
# for 0, NaN and ±Infinity (so NaN and Infinity hash alike), and jsonb's returns it for [] and {} and
# ignores where nested arrays and objects end: such columns are hashed through their text (pinned by
# SESSION_SETTINGS). int8's folds the value to 32 bits before hashing (0 and (5 << 32) | 5 hash alike):
# it is hashed by `int8_hash`.
_TEXT_HASHED = frozenset({"hashfloat4extended", "hashfloat8extended", "hash_numeric_extended", "jsonb_hash_extended"})

# The 64-bit types whose built-in hash is int8's fold (timestamp, time and pg_lsn call
# hashint8extended; interval folds its span and hashes '1 day' as '24:00:00', '1 mon' as '30 days';
# timetz likewise; timestamptz and xid8 hash as timestamp and bigint) are hashed through their binary
# send form, written in hex: every bit of the value, in network byte order, the same on every
# platform and server version (integer date-times since PostgreSQL 10; `timestamptz` as UTC
# microseconds, so one instant written in two time zones is equal; interval as microseconds, days and
# months apart). 0.08 s per 1M timestamps beyond the scan, where their text took 0.16 s.
_SEND_HASHED = {
    "timestamp": "timestamp_send",
    "timestamptz": "timestamptz_send",
    "time": "time_send",
    "timetz": "timetz_send",
    "interval": "interval_send",
    "pg_lsn": "pg_lsn_send",
    "xid8": "xid8send",
}


def int8_hash(value: sql.Composable, seed: int) -> sql.Composable:
    """A bigint's 64-bit hash that depends on all 64 bits: hashint8extended folds its value to 32 bits
    but mixes its seed in whole, so the value is also in the seed. `value` appears twice: pass a
    column or a name, never an expression to compute.

    Two bigint columns' inner hashes could only be equal if their values differed by exactly the XOR
    of their seeds and also folded alike; with every seed below 2^32 and distinct, values that differ
    by the XOR of two seeds never fold alike. But the inner hash is hash_uint32_extended(fold(v), v # s),
    the very function a 32-bit type's term is (hashint4extended(w, s'): int4, date, oid...), and for
    v = s # s', w = fold(v) the two are equal: two such pairs cancel out of a row ((a, b, c, d) =
    (3, 3, 7, 7) and (5, 1, 1, 5) hashed alike). So the inner hash is hashed once more as the seed of
    hashing 0 (a bijection of all 64 bits): equal to a 32-bit type's term only for a value whose hash
    is that column's seed, a preimage no data finds but by a 2^-64 accident.
    """
    return sql.SQL("pg_catalog.hashint4extended(0, pg_catalog.hashint8extended({0}, {0} # {1}))").format(
        value, sql.Literal(seed)
    )


def column_hash(column: Column, seed: int) -> sql.Composable:
    """A column's 64-bit hash with `seed` (NULL for NULL): text as its bytes, types without a trustworthy
    hash as their text. Every function is named with its schema: a function of the same name on the
    search path that takes a domain exactly (`public.timestamptz_send(instant)`) would otherwise be
    chosen over the built-in one."""
    value: sql.Composable = sql.Identifier("t", column.name)
    if column.base_type in _SEND_HASHED:
        return sql.SQL("pg_catalog.hashtextextended(pg_catalog.encode({}({}), 'hex') COLLATE \"C\", {})").format(
            sql.Identifier("pg_catalog", _SEND_HASHED[column.base_type]), value, sql.Literal(seed)
        )
    # No built-in hash of the type itself (an extension's, such as citext's, which ignores case, or one
    # declared on a sibling type: timestamptz and xid8 hash as timestamp and bigint, folded): text.
    if not column.hash_function or column.hash_function in _TEXT_HASHED:
        return sql.SQL('pg_catalog.hashtextextended({}::text COLLATE "C", {})').format(value, sql.Literal(seed))
    if column.collatable:
        value = sql.SQL('{} COLLATE "C"').format(value)
    if column.hash_function == "hashint8extended":
        return int8_hash(value, seed)
    return sql.SQL("{}({}, {})").format(sql.Identifier("pg_catalog", column.hash_function), value, sql.Literal(seed))


# What a NULL column contributes: not the seed, which some hashes return for real values.
_NULL_MARK = 0x2545F4914F6CDD1D


def key_hash(columns: Sequence[Column]) -> sql.Composable:
    """The primary key's 64-bit hash: its columns' hashes (never NULL), each with a seed of its own, XORed."""
    return sql.SQL(" # ").join(column_hash(c, KEY_SEED + i) for i, c in enumerate(columns))


def row_terms(columns: Sequence[Column], key: Sequence[str]) -> sql.Composable:
    """The XOR of the hashes of the columns outside the key: each seeded by its place among all the
    columns in name order (so values that trade columns differ), NULL as a mark of its own."""
    named = sorted(columns, key=lambda c: c.name)
    parts = [
        sql.SQL("coalesce({}, {})").format(column_hash(c, 1 + i), sql.Literal(_NULL_MARK ^ (1 + i)))
        for i, c in enumerate(named)
        if c.name not in key
    ]
    return sql.SQL(" # ").join(parts) if parts else sql.Literal(0)


# The row hash, over the names the inner query gives the key hash and the XOR of the other columns:
# the key hash stands for the key's columns, and the XOR is hashed once more, all 64 bits of it (as
# the seed of hashing a constant), so that rows XORed together in a bucket do not hide values that
# trade rows. Two rows hash alike only if their k # x are equal: a 2^-64 accident.
ROW_HASH = sql.SQL("pg_catalog.hashint4extended(0, k # x)")


class TableSql:
    """The SQL of one table, built once; identifiers are quoted by psycopg.

    Every query hashes in a subquery that names each row's key hash `k` and its other columns' XOR
    `x` once, and combines them outside it: PostgreSQL evaluates an expression as often as it is
    written, and the row hash needs both (figures in the module docstring).
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.relation = sql.Identifier(table.schema, table.name)
        # Its own rows only: a table that inherits from it (traditional inheritance) is compared on its
        # own, and would otherwise also be read here, its rows twice over. A partitioned table holds
        # none of its own: its rows are its partitions'.
        self.rows = self.relation if table.partitioned else sql.SQL("ONLY {}").format(self.relation)
        keys = [sql.Identifier("t", k) for k in table.key]
        self.key_row = sql.SQL("({})").format(sql.SQL(", ").join(keys))
        self.key_text = sql.SQL(", ").join(sql.SQL("{}::text").format(k) for k in keys)
        self.key_types = [sql.SQL(table.column(k).type) for k in table.key]  # format_type(): valid SQL
        self.key_hash = key_hash([table.column(k) for k in table.key])
        self.row_terms = row_terms(table.columns, table.key)

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

    def estimated_rows(self, conn: psycopg.Connection[Any]) -> float:
        """The planner's row estimate (from statistics, or the table's size when never analyzed)."""
        row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM {} t").format(self.rows)).fetchone()
        assert row is not None
        plan = json.loads(row[0]) if isinstance(row[0], str) else row[0]
        return float(plan[0]["Plan"]["Plan Rows"])

    def _in_buckets(self, bits: int) -> sql.Composable:
        return sql.SQL("(({}) & {}) = ANY(%s::bigint[])").format(self.key_hash, sql.Literal((1 << bits) - 1))

    def _hashed(self, where: sql.Composable, *more: sql.Composable) -> sql.Composable:
        """Each row of `t` (`where` filters them) as k, `more`..., x; OFFSET 0 keeps the planner from
        pulling the expressions up into the query around it, where they would be written twice."""
        return sql.SQL("SELECT {} AS k, {}{} AS x FROM {} t {} OFFSET 0").format(
            self.key_hash,
            sql.SQL("").join(sql.SQL("{}, ").format(m) for m in more),
            self.row_terms,
            self.rows,
            where,
        )

    def bucket_hashes(
        self, bits: int, within: tuple[int, Sequence[int]] | None, pieces: int = 0
    ) -> tuple[sql.Composed, list[Any]]:
        """(bucket, count, hash, shifted hash) of every non-empty bucket at `bits`, in bucket order;
        `within`: only the rows of these buckets at fewer bits (a split). The shifted hash XORs each
        row hash shifted left by the row's piece of its bucket, the next `pieces` bits of its key hash
        (`pinpoint`); with no pieces it is not computed (0)."""
        where: sql.Composable = sql.SQL("")
        params: list[Any] = []
        if within is not None:
            where, params = sql.SQL("WHERE {}").format(self._in_buckets(within[0])), [list(within[1])]
        shifted = sql.SQL("bit_xor(h << s)" if pieces else "0::bigint")
        # The subqueries also keep the planner to a hash aggregate: it cannot know that the buckets
        # are few, and would otherwise sort whole rows to group them (measured 1.0 s, 0.5 s so). The
        # aggregate reads a bucket and a row hash computed below it: 0.04 s less per 1M rows than
        # computing them from k and x as its group key and argument (the shift is computed there too).
        query = sql.SQL(
            "SELECT b, count(*), bit_xor(h), {}"
            " FROM (SELECT k & {} AS b, ((k >> {}) & {})::int4 AS s, {} AS h FROM ({}) s OFFSET 0) s2"
            " GROUP BY b ORDER BY b"
        ).format(
            shifted,
            sql.Literal((1 << bits) - 1),
            sql.Literal(bits),
            sql.Literal((1 << pieces) - 1),
            ROW_HASH,
            self._hashed(where),
        )
        return query, params

    def row_hashes(
        self, buckets: Sequence[tuple[int, Sequence[int]]], *, ordered: bool = True
    ) -> tuple[sql.Composed, list[Any]]:
        """(key hash, key..., row hash) of every row of the buckets, as (bits, bucket numbers): in key
        hash order, so that both sides' rows pair a block at a time (`aligned_blocks`), or with
        `ordered=False` as the scan finds them (`Comparer._streamed`)."""
        names = [sql.Identifier(f"key{j}") for j in range(len(self.table.key))]
        where, params = self._in_any(buckets)
        inner = self._hashed(
            sql.SQL("WHERE {}").format(where),
            *(
                sql.SQL("{}::text AS {}").format(sql.Identifier("t", k), n)
                for k, n in zip(self.table.key, names, strict=True)
            ),
        )
        query = sql.SQL("SELECT k, {}, {} FROM ({}) s{}").format(
            sql.SQL(", ").join(names), ROW_HASH, inner, sql.SQL(" ORDER BY k" if ordered else "")
        )
        return query, params

    def _in_any(self, buckets: Sequence[tuple[int, Sequence[int]]]) -> tuple[sql.Composable, list[Any]]:
        """The key hash in any of the buckets, given at several bits (whole buckets and pinpointed
        pieces; each bits once, see `bits_lists`): when the coarser buckets' pieces at the finest bits
        are few, they are listed there, and one hashed ANY tests each row's key hash, computed once
        (0.119 s for the benchmark's 1M-row `cooks` where a test per bits, each computing it again,
        took 0.163); otherwise every row is tested against the coarsest bits first, and only the
        rows of those buckets against each bits' list."""
        lists = bits_lists(buckets)
        finest, coarsest = max(lists), min(lists)
        if sum(len(numbers) << (finest - bits) for bits, numbers in lists.items()) <= MAX_PIECES_LISTED:
            pieces = [n | j << bits for bits, ns in lists.items() for j in range(1 << (finest - bits)) for n in ns]
            return self._in_buckets(finest), [pieces]
        coarse = sorted({n & ((1 << coarsest) - 1) for numbers in lists.values() for n in numbers})
        each = sql.SQL(" OR ").join(self._in_buckets(bits) for bits in lists)
        return sql.SQL("{} AND ({})").format(self._in_buckets(coarsest), each), [coarse, *lists.values()]


def bits_lists(buckets: Iterable[tuple[int, Sequence[int]]]) -> dict[int, list[int]]:
    """Bucket numbers by their bits, each bits once: a pass can fetch whole buckets and the pieces
    of others at the bits of an earlier pass, and the rest of missed pieces come one list each."""
    lists: dict[int, list[int]] = {}
    for bits, numbers in buckets:
        lists.setdefault(bits, []).extend(numbers)
    return lists
