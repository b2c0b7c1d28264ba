"""Find the rows that differ between two copies of a table without loading either copy.

Rows are put in buckets by a hash of their primary key, computed in SQL on each side, and each
bucket is compared by a hash of its rows; only the rows of buckets whose hashes differ are looked
at one by one. A key lands in the same bucket on both servers whatever their collations: nothing
is ordered or range-compared by key. (Ranges cut in one server's key order and hashed in the
other's never agree when the orders differ, as text keys do under ICU `en-US` and `C.UTF-8`:
every range differed, was split again, and so on without end.) Bucket numbers are integers, and
every text value is hashed as its bytes (`COLLATE "C"`), so even a nondeterministic
(case-insensitive) collation neither merges two keys nor hides a change of case.

A row's key hash and row hash combine each column's own 64-bit seeded hash function (the ones
hash partitioning relies on, so PostgreSQL keeps them stable across versions and platforms; see
`key_hash`, `row_terms`, `int8_hash` and `ROW_HASH`). A row's bucket at `bits` is the low `bits`
bits of its key hash `k`; its row hash is a hash of `k` XOR `x`, the XOR of its other columns'
hashes (the key hash stands for the key columns). `TableSql` names `k` and `x` in a subquery, so
each is computed once per row: PostgreSQL evaluates an expression as often as it is written, and
the row hash used to write every column's hash twice. The bucket hash is `count(*)` plus
`bit_xor(row hash)`. Figures below are single runs (best of 5 to 11, interleaved) on a shared
2-core machine, over the benchmark's 1M-row tables, per side:
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

Passes, each one sequential scan per side with both servers working at once (`Comparer._both`):
1. every row is hashed into 2^b buckets of about `bucket_rows` rows (b from the planner's row
   estimate of the larger side): one hash aggregate, where ordering the rows by key (index scan
   and running window, the range comparison's first pass) took 1.2 s. More, smaller buckets cost
   the aggregate more than they save the fetch: at 0.1 % differences (990 buckets differing),
   8,192 / 16,384 / 32,768 / 65,536 buckets took 0.42 / 0.43 / 0.56 / 0.70 s for the first pass
   and 0.25 / 0.18 / 0.15 / 0.13 s for the fetch (with the rows read) before pieces were named
   (below); four more XORs per bucket, to tell which sixteenth of a bucket differs, cost 0.14 s.
   One more does the work of five: each bucket also XORs every row hash shifted left by the row's
   piece, the next 5 bits of its key hash (`piece_bits`). When every differing row of a bucket lies
   in one of its 32 pieces (most buckets, at 0.1 % differences: they hold one differing row), the
   two sides' shifted XORs are their plain XORs shifted by that piece's number, which `pinpoint`
   reads, and only that piece's rows are fetched. The aggregate costs about 0.02 s; the fetch
   over the benchmark's 1M-row tables now reads 23k (key, hash) pairs where it read 119k and takes
   0.12-0.16 s where it took 0.22-0.30 s, and buckets grew to 128 rows, as the fetch no longer
   grows with them: a whole table's comparison in 0.74 s where it took 0.80 s at 64 rows and 0.91 s
   before pieces (`cooks`; `messages` 0.68 / 0.78 / 0.87 s; medians of 15 and 9, interleaved);
2. while differing buckets hold many rows, they are split by more bits of the same key hash into
   pieces of about `piece_rows` rows, in a scan that hashes only the rows of those buckets;
3. last, the rows of every differing bucket and piece are fetched as (key hash, key, row hash)
   (`Comparer._compare_rows`), every row's key hash computed once however many bits the buckets
   and pieces are at, unless listing them at one would take over `MAX_PIECES_LISTED` numbers
   (`TableSql._in_any`): unsorted, each server sending its rows as its scan finds them while the
   client drops every row as soon as the other side has sent the same one, so the comparing
   overlaps the scanning instead of waiting for a sort (server 0.13 s per side for 60k rows of 1M
   where sorting them took 0.15 s and sent nothing until done; the whole fetch 0.20-0.25 s where it
   took 0.27-0.30 s). What is held unmatched is the differing rows plus the lag between the two
   scans, which meet rows in much the same order when one copy was restored from the other (each
   scan starts at the table's first page: `synchronize_seqscans` is off). Past `stream_rows`
   unmatched rows (copies stored in very different orders, or more rows differing than that) the
   unsorted fetch is given up, its scan wasted, and the rows are fetched in key hash order instead,
   `aligned_blocks` pairing the two sides a block at a time; when the first passes already show
   more differing rows than half of `stream_rows` (a row per differing bucket, or the two sides'
   counts apart), the sorted fetch is the only one tried. Memory stays bounded either way. A
   named piece is then checked against its rows: those found on one side only must XOR to what
   its bucket's hashes said; when not (an accident of `pinpoint`), the bucket's other pieces are
   compared in one more pass.
`next_pass` decides between fetching and splitting. The passes are a loop: nothing recurses,
whatever the data. Each pass's rows are streamed from server-side cursors, in binary (60k rows
read in 0.022-0.031 s, 0.032-0.041 s as text), the next block of each side fetched while this one
is compared (the sorted fetch after its first block: 0.075-0.12 s, 0.09-0.16 s one block after
the other); blocks are compared as sets, not a row or a bucket at a time. Memory holds a few
blocks and the differing rows, never every bucket of the table.

The command's own start costs 0.17-0.21 s before any of this (importing psycopg 0.09 s, typer
0.03 s; typer 0.29 built a pydantic TypeAdapter per option, 0.08 s more, so requirements/main.in
keeps it below 0.29): nothing left to import lazily there. JIT compilation
with optimization but without inlining (`PLANNER_SETTINGS`) makes the first pass over the
benchmark's 1M-row `cooks` 0.06 s faster (0.43-0.44 s to 0.37-0.38 s, the 28 ms of compiling
included; best of 5, twice) and the whole table's comparison 0.1-0.15 s faster with the unsorted
fetch above; inlining too took 57 ms to compile for no more speed, and at 250k rows compiling costs
more than it saves (0.100 s to 0.110 s), so only plans costing over 50,000 (the first pass over
~550k rows of `cooks`) are compiled. The fetch pass and a split pass cost as much by the
planner's count, but hash only the rows of a few buckets: compiled, the fetch over `cooks` took
13 ms to compile for no faster run (0.112 s either way, best of 9), so every pass after the first
is planned without JIT (`AFTER_FIRST_PASS`, for the rest of the table's transaction). (With every
default, inlining included, JIT had saved nothing over the whole comparison, and the tool had
turned it off; it now leaves `jit` itself as the server has it, on unless an operator turned it
off, and only sets when to compile.)
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from ops.reconcile.catalog import Column, Table

Key = tuple[str, ...]  # a primary key as the text form of each key column
Row = tuple[Any, ...]
T = TypeVar("T")

MAX_BITS = 62  # bucket numbers stay non-negative bigints
KEY_SEED = 1 << 31  # the key hash's seeds; the columns' are 1, 2, 3...: all distinct and below 2^32 (`int8_hash`)
FIRST_PASS_MAX_BITS = 20  # at most ~1M buckets in the first pass (past 64M rows, buckets grow)
M64 = (1 << 64) - 1  # a bigint's 64 bits, as Python reads them signed
MAX_PIECES_LISTED = 1 << 16  # bucket numbers in one fetch's list (`TableSql._in_any`)
MAX_PIECE_BITS = 5  # a row hash shifted by up to 31 keeps 33 of its bits (`pinpoint`)
SPLIT_MAX_BITS = 16  # at most 65,536 pieces per differing bucket in one pass

# The text form of values must be the same on both sides (see the module docstring); these are
# PostgreSQL's defaults except the time zone, which is per server or role and often differs.
SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}


# Settings of the comparison itself, not of the values' text.
PLANNER_SETTINGS = {
    # Where the server compiles queries (`jit`, on by default up to PostgreSQL 18; an operator's off
    # stays off): optimized, never inlined, and only a pass big enough to repay the compiling
    # (figures in the module docstring).
    "jit_above_cost": "50000",
    "jit_optimize_above_cost": "50000",
    "jit_inline_above_cost": "-1",
    # Every cursor here is read to its end: plan for all rows, not for the first tenth.
    "cursor_tuple_fraction": "1",
    # A sequential scan of a table bigger than a quarter of shared_buffers starts where another scan
    # of it is (or stopped: a LIMIT query, an abandoned unsorted fetch), and so returns its rows
    # rotated; the unsorted fetch relies on both servers' scans meeting rows in storage order.
    "synchronize_seqscans": "off",
}

# The passes after the first filter the table down to the rows of a few buckets before hashing
# them: compiling them costs more than it saves (module docstring). SET LOCAL: until the table's
# transaction ends; the next table's first pass is compiled again.
AFTER_FIRST_PASS = sql.SQL("SET LOCAL jit_above_cost = -1")


def pin_session(conn: psycopg.Connection[Any]) -> None:
    """Every setting in one statement: one round trip to a distant server, not seven."""
    settings = {**SESSION_SETTINGS, **PLANNER_SETTINGS}
    conn.execute(
        sql.SQL("SELECT {}").format(sql.SQL(", ").join(sql.SQL("set_config(%s, %s, false)") for _ in settings)),
        [part for item in settings.items() for part in item],
    )


@dataclass
class LeafDiff:
    """The outcome of comparing the rows of some buckets one by one."""

    lost: list[Key]  # in --from only: written before the failure, missing from the recovered copy
    only_in_to: list[Key]  # in --to only: written after the failover (or deleted on --from)
    conflicts: list[Key]  # on both sides with different contents


@dataclass
class CompareStats:
    passes: int = 0  # scans of the table, per side
    buckets: int = 0  # buckets compared by hash (every pass)
    differing: int = 0  # of those, buckets whose hashes differed
    pinpointed: int = 0  # of those, buckets whose differing rows all lie in one piece the hashes named
    pinpoints_missed: int = 0  # of those, pieces whose rows did not hold all of the bucket's differences
    rows_fetched: int = 0  # (key, hash) pairs fetched for row-by-row comparison, both sides
    unsorted_fetches: int = 0  # last passes read unsorted to the end (`Comparer._streamed`)
    abandoned_fetches: int = 0  # of those begun, given up for the sorted fetch


@dataclass
class Pins:
    """The pinpointed pieces of one pass's buckets at `bits`: piece number (at bits + piece_bits) ->
    the XOR of the row hashes of the bucket's differing rows, as its two sides' hashes told."""

    bits: int
    piece_bits: int
    pieces: dict[int, int]

    @property
    def mask(self) -> int:
        return (1 << (self.bits + self.piece_bits)) - 1

    def rest_of(self, piece: int) -> list[int]:
        """The other pieces of the piece's bucket."""
        bucket, ours = piece & ((1 << self.bits) - 1), piece >> self.bits
        return [bucket | j << self.bits for j in range(1 << self.piece_bits) if j != ours]


def classify(source: dict[Key, int], target: dict[Key, int]) -> LeafDiff:
    """Sort the keys of some buckets into lost / only-in-to / conflict by their row hashes."""
    return LeafDiff(
        lost=[k for k in source if k not in target],
        only_in_to=[k for k in target if k not in source],
        conflicts=[k for k, h in source.items() if k in target and target[k] != h],
    )


def aligned_blocks(ours: Iterable[list[Row]], theirs: Iterable[list[Row]]) -> Iterator[tuple[list[Row], list[Row]]]:
    """Two streams of blocks of rows ordered by their first column, re-cut into pairs of blocks that
    hold the same values of that column on both sides (a value is never cut across two pairs).

    Each pair ends below the smaller of the two sides' last values read so far, so a side holds at
    most one block beyond what was paired; the blocks are compared as sets, never a row at a time.
    """
    streams = [iter(ours), iter(theirs)]
    held: list[list[Row]] = [[], []]
    done = [False, False]
    while True:
        for side in (0, 1):
            while not done[side] and (not held[side] or held[side][-1][0] == held[side][0][0]):
                block = next(streams[side], None)
                if block:
                    held[side] += block
                else:
                    done[side] = True
        open_ends = [held[side][-1][0] for side in (0, 1) if not done[side]]
        if not open_ends:
            yield held[0], held[1]
            return
        end = min(open_ends)
        cut = [bisect.bisect_left(rows, end, key=_first) for rows in held]
        yield held[0][: cut[0]], held[1][: cut[1]]
        held = [held[0][cut[0] :], held[1][cut[1] :]]


_first, _count = itemgetter(0), itemgetter(1)
_NO_ROWS = (0, 0, 0)  # count, row hash XOR and shifted XOR of a bucket a side has no row in


def next_pass(
    differing: Sequence[tuple[int, int, int]],
    *,
    bits: int,
    split_before: bool,
    table_rows: int,
    bucket_rows: int,
    piece_rows: int,
    pass_cost: int,
) -> tuple[list[int], list[int], int]:
    """Of the differing buckets (bucket, rows in --from, rows in --to) at `bits`: which to fetch row
    by row, which to split in another pass, and that pass's bits.

    A bucket is fetched when one side has no row there (every row differs), when it is small
    (`piece_rows`; after a split, up to `bucket_rows`: only a stale row estimate leaves pieces
    that large) or when no bit is left. The others are split into pieces of about `piece_rows`
    rows, unless their rows number fewer than `table_rows / pass_cost` (both sides counted):
    fetching them then costs less than another pass over the table.
    """
    small = bucket_rows if split_before else piece_rows
    fetch: list[int] = []
    big: list[tuple[int, int, int]] = []
    for bucket, n, m in differing:
        if min(n, m) == 0 or max(n, m) <= small or bits == MAX_BITS:
            fetch.append(bucket)
        else:
            big.append((bucket, n, m))
    if sum(n + m for _, n, m in big) * pass_cost <= table_rows:
        return fetch + [b for b, _, _ in big], [], bits
    largest = max(max(n, m) for _, n, m in big)
    return fetch, [b for b, _, _ in big], split_bits(bits, largest, piece_rows)


def pinpoint(rows_apart: int, shifted_apart: int, pieces: int) -> int | None:
    """The piece (of 2^`pieces` per bucket) that holds every row differing in a bucket, if one does.

    `rows_apart` is the XOR of the bucket's two sides' row hash XORs (`x`: the XOR of the differing
    rows' row hashes, both versions of a conflict), `shifted_apart` the same of each row hash shifted
    left by its piece number (`p`; `TableSql.bucket_hashes`). Shifting is linear in XOR, so when
    every differing row lies in piece r, p = x << r (r is where their lowest set bits are apart);
    rows in two or more pieces give p = x << r for no r but by an accident: below 2^-32, at worst
    for rows in the last two pieces only (their shifts leave the fewest bits to compare), far less
    as a rule. The rows fetched then show it (`Comparer._compare_rows`). None then, or when the
    differences shifted out of 64 bits (p = 0): the bucket's rows are fetched whole.
    """
    x, p = rows_apart & M64, shifted_apart & M64
    if pieces == 0 or x == 0 or p == 0:
        return None
    piece = _trailing_zeros(p) - _trailing_zeros(x)
    if 0 <= piece < 1 << pieces and (x << piece) & M64 == p:
        return piece
    return None


def _trailing_zeros(value: int) -> int:
    return (value & -value).bit_length() - 1


def first_pass_bits(estimated_rows: float, bucket_rows: int) -> int:
    """Bits of the first pass: 2^bits buckets of at most `bucket_rows` rows each, as estimated."""
    if estimated_rows <= bucket_rows:
        return 0
    return min(FIRST_PASS_MAX_BITS, math.ceil(math.log2(estimated_rows / bucket_rows)))


def split_bits(bits: int, largest: int, piece_rows: int) -> int:
    """Bits of the next pass: the largest differing bucket cut into pieces of about `piece_rows` rows."""
    more = math.ceil(math.log2(largest / piece_rows)) if largest > piece_rows else 1
    return min(MAX_BITS, bits + max(1, min(SPLIT_MAX_BITS, more)))


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
    return sql.SQL("{}({}, {})").format(
        sql.Identifier("pg_catalog", column.hash_function), value, sql.Literal(seed)
    )

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


_cursor_ids = itertools.count()


@dataclass
class Comparer:
    """Compares one table between `source` (--from) and `target` (--to); yields differences as found."""

    source: psycopg.Connection[Any]
    target: psycopg.Connection[Any]
    table: Table
    bucket_rows: int = 128  # rows per bucket of the first pass: a 0.1 % difference leaves most buckets equal
    piece_rows: int = 4  # a differing bucket is split into pieces of about this many rows...
    # ...unless the differing buckets hold fewer rows than the table's divided by this. At 1M rows
    # with 0.1 % differences (120k rows in differing buckets) fetching them directly and splitting
    # first took the same time (0.82 s, best of 5): one pass costs about what 1 row in 8 does. With
    # today's cheaper passes, at 128-row buckets (229k rows in differing buckets) splitting first
    # (0.28-0.30 s, then 0.13 s to fetch) and fetching directly (0.45 s) both took 0.80 s in all.
    pass_cost: int = 8
    # The first pass names, in a bucket whose differing rows all lie in one of its 2^piece_bits pieces
    # (by the next bits of the key hash), that piece (`pinpoint`): only its rows are fetched.
    piece_bits: int = 5
    itersize: int = 4096  # rows per fetch from a server-side cursor
    leaf_batch_rows: int = 16384  # (key, hash) pairs per LeafDiff of the sorted fetch (the unsorted one: one)
    # Rows the unsorted fetch may hold unmatched before it gives way to the sorted one (`_streamed`):
    # a (key hash, key, row hash) row of a 40-character key takes ~250 bytes in a set, so ~16 MiB.
    stream_rows: int = 65536
    stats: CompareStats = field(default_factory=CompareStats)

    def __post_init__(self) -> None:
        if not 0 <= self.piece_bits <= MAX_PIECE_BITS:
            raise ValueError(f"piece_bits must be 0 to {MAX_PIECE_BITS}, got {self.piece_bits}")
        self.sql = TableSql(self.table)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile")

    def close(self) -> None:
        self._pool.shutdown()

    def on_both(self, query: Callable[[psycopg.Connection[Any]], T]) -> tuple[T, T]:
        """`query` on --from and on --to at once: one round trip's wait, not two."""
        ours, theirs = (self._pool.submit(query, conn) for conn in (self.source, self.target))
        return ours.result(), theirs.result()

    def differences(self) -> Iterator[LeafDiff]:
        estimates = [self._pool.submit(self.sql.estimated_rows, conn) for conn in (self.source, self.target)]
        bits = first_pass_bits(max(e.result() for e in estimates), self.bucket_rows)
        within: tuple[int, list[int]] | None = None  # the first pass reads every row
        table_rows = 0
        fetch: list[tuple[int, list[int]]] = []  # (bits, buckets) whose rows are compared one by one, last
        differ_at_least = 0  # rows of those buckets that must differ: one a bucket, or its two sides' count apart
        pins: list[Pins] = []  # the pinpointed pieces, to check against the rows fetched
        while True:
            differing: list[tuple[int, int, int]] = []
            pinned: dict[int, int] = {}  # piece (at bits + pieces) holding a bucket's differing rows -> their XOR
            pieces = min(self.piece_bits, MAX_BITS - bits)
            rows = [0, 0]
            for ours, theirs in self._both(*self.sql.bucket_hashes(bits, within, pieces)):
                rows[0] += sum(map(_count, ours))
                rows[1] += sum(map(_count, theirs))
                a, b = set(ours), set(theirs)
                mine, other = {r[0]: r[1:] for r in a - b}, {r[0]: r[1:] for r in b - a}
                self.stats.buckets += len(b) + len(mine) - len(mine.keys() & other.keys())
                for bucket in sorted(mine.keys() | other.keys()):
                    (n, x, p), (m, y, q) = mine.get(bucket, _NO_ROWS), other.get(bucket, _NO_ROWS)
                    piece = pinpoint(x ^ y, p ^ q, pieces)
                    if piece is None:
                        differing.append((bucket, n, m))
                    else:
                        pinned[bucket | piece << bits] = (x ^ y) & M64
                        differ_at_least += max(1, abs(n - m))
            self.stats.differing += len(differing) + len(pinned)
            self.stats.pinpointed += len(pinned)
            if pinned:
                fetch.append((bits + pieces, list(pinned)))
                pins.append(Pins(bits, pieces, pinned))
            if within is None:
                table_rows = max(rows)
            leaves, split, next_bits = next_pass(
                differing,
                bits=bits,
                split_before=within is not None,
                table_rows=table_rows,
                bucket_rows=self.bucket_rows,
                piece_rows=self.piece_rows,
                pass_cost=self.pass_cost,
            )
            if leaves:
                fetch.append((bits, leaves))
                counts = {bucket: (n, m) for bucket, n, m in differing}
                differ_at_least += sum(max(1, abs(n - m)) for n, m in map(counts.__getitem__, leaves))
            if within is None and (split or leaves or pinned):  # passes follow: they hash a few buckets' rows
                self.on_both(lambda conn: conn.execute(AFTER_FIRST_PASS))
            if not split:
                break
            within, bits = (bits, split), next_bits
        if fetch:
            yield from self._compare_rows(fetch, differ_at_least, pins)

    def _both(self, query: sql.Composed, params: list[Any]) -> Iterator[tuple[list[Row], list[Row]]]:
        """One pass on both databases at once, as pairs of blocks of rows holding the same buckets
        (the rows come in bucket order, and `aligned_blocks` pairs them)."""
        with self._streams(query, params) as streams:
            yield from aligned_blocks(*streams)

    @contextmanager
    def _streams(self, query: sql.Composed, params: list[Any]) -> Iterator[list[Generator[list[Row], None, None]]]:
        """One pass on both databases at once: each side's rows as a stream of blocks.

        Each side's query runs to its first rows in a worker thread, so both servers scan at the
        same time; the rest is read through server-side cursors, a block at a time. On leaving, a
        fetch still under way ends before its cursor closes.
        """
        self.stats.passes += 1
        with ExitStack() as stack:
            cursors = [
                stack.enter_context(conn.cursor(name=f"reconcile_{next(_cursor_ids)}", binary=True))
                for conn in (self.source, self.target)
            ]

            def start(cursor: psycopg.ServerCursor[Any]) -> list[Row]:
                cursor.execute(query, params)
                return cursor.fetchmany(self.itersize)

            firsts = [self._pool.submit(start, cursor) for cursor in cursors]
            try:
                streams = [self._blocks(cursor, first.result()) for cursor, first in zip(cursors, firsts, strict=True)]
            finally:  # one side failing: the other's query ends before its cursor closes
                wait(firsts)
            try:
                yield streams
            finally:
                for stream in streams:
                    stream.close()

    def _blocks(self, cursor: psycopg.ServerCursor[Any], first: list[Row]) -> Generator[list[Row], None, None]:
        """A cursor's rows a block at a time, the next block fetched (in a worker) while this one is
        compared: both servers send, and the client reads, at the same time."""
        block = first
        while block:
            following = self._pool.submit(cursor.fetchmany, self.itersize) if len(block) == self.itersize else None
            try:
                yield block
            finally:  # never leave a fetch running on a cursor about to be closed
                if following is not None:
                    wait([following])
            block = following.result() if following is not None else []

    def _compare_rows(
        self, buckets: list[tuple[int, list[int]]], differ_at_least: int, pins: Sequence[Pins] = ()
    ) -> Iterator[LeafDiff]:
        """The rows of the buckets compared one by one: unsorted while the two sides' rows match up
        as they arrive, sorted when they do not, or when the rows known to differ would already fill
        half of what the unsorted fetch may hold (it would likely be given up, a scan wasted).

        Last, each pinpointed piece is checked: the row hashes of its rows found on one side only
        must XOR to what its bucket's hashes said all of the bucket's differing rows XOR to. Were
        they not (differing rows in other pieces too, taken for one piece by an accident of
        `pinpoint`), the rest of the bucket is compared in one more pass."""
        apart = {id(pin): dict.fromkeys(pin.pieces, 0) for pin in pins}

        def tally(rows: Iterable[Row]) -> None:  # (key hash, key..., row hash) rows found on one side only
            for row in rows:
                for pin in pins:
                    piece = row[0] & pin.mask
                    if piece in pin.pieces:
                        apart[id(pin)][piece] ^= row[-1] & M64

        if differ_at_least <= self.stream_rows // 2:
            unmatched = self._streamed(buckets)
            if unmatched is not None:
                tally(itertools.chain(*unmatched))
                ours, theirs = ({row[1:-1]: row[-1] for row in sorted(side)} for side in unmatched)
                if ours or theirs:
                    yield classify(ours, theirs)
                buckets = []
        if buckets:
            yield from self._sorted(buckets, tally)
        rest = [
            (pin.bits + pin.piece_bits, pin.rest_of(piece))
            for pin in pins
            for piece, rows_apart in pin.pieces.items()
            if apart[id(pin)][piece] != rows_apart
        ]
        if rest:
            self.stats.pinpoints_missed += len(rest)
            yield from self._compare_rows(rest, len(rest))

    def _streamed(self, buckets: list[tuple[int, list[int]]]) -> tuple[set[Row], set[Row]] | None:
        """Each side's rows of the buckets found nowhere on the other side, read in the order each
        server's scan finds them (no sort: the client compares while the servers scan); None once
        more than `stream_rows` rows wait for their match, as when the two copies store their rows
        in very different orders: memory stays bounded and the sorted fetch takes over.

        A (key hash, key, row hash) row read on both sides is equal and is dropped as soon as its
        second copy arrives, so what is held is the rows that differ plus the lag between the scans.
        """
        unmatched: tuple[set[Row], set[Row]] = (set(), set())
        fetched = 0
        with closing(self._interleaved(*self.sql.row_hashes(buckets, ordered=False))) as blocks:
            for side, block in blocks:
                fetched += len(block)
                rows, other = set(block), unmatched[1 - side]
                matched = rows & other
                other -= matched
                unmatched[side].update(rows - matched)
                if len(unmatched[0]) + len(unmatched[1]) > self.stream_rows:
                    self.stats.rows_fetched += fetched
                    self.stats.abandoned_fetches += 1
                    return None  # closing the blocks closes both cursors: the servers stop scanning
        self.stats.rows_fetched += fetched
        self.stats.unsorted_fetches += 1
        return unmatched

    def _interleaved(self, query: sql.Composed, params: list[Any]) -> Generator[tuple[int, list[Row]], None, None]:
        """One pass on both databases at once, as (side, block) in turns, in whatever order each
        server sends its rows; each side's next block is fetched while this one is compared."""
        with self._streams(query, params) as streams:
            live = [0, 1]
            while live:
                for side in list(live):
                    block = next(streams[side], None)
                    if block is None:
                        live.remove(side)
                    else:
                        yield side, block

    def _sorted(
        self, buckets: list[tuple[int, list[int]]], tally: Callable[[Iterable[Row]], None]
    ) -> Iterator[LeafDiff]:
        # Only the rows that differ are kept: a (key hash, key, row hash) row found on both sides is equal.
        ours: dict[Key, int] = {}
        theirs: dict[Key, int] = {}
        for from_rows, to_rows in self._both(*self.sql.row_hashes(buckets)):
            self.stats.rows_fetched += len(from_rows) + len(to_rows)
            a, b = set(from_rows), set(to_rows)
            tally(a ^ b)
            # In key hash order, as the unsorted fetch reports them: the same sample keys either way.
            ours.update((r[1:-1], r[-1]) for r in sorted(a - b))
            theirs.update((r[1:-1], r[-1]) for r in sorted(b - a))
            if len(ours) + len(theirs) >= self.leaf_batch_rows:
                yield classify(ours, theirs)
                ours, theirs = {}, {}
        if ours or theirs:
            yield classify(ours, theirs)
