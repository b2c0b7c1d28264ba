"""Find the rows that differ between two copies of a table without loading either copy.

Rows are put in buckets by a hash of their primary key, computed in SQL on each side, and each
bucket is compared by a hash of its rows; only the rows of buckets whose hashes differ are looked
at one by one. A key lands in the same bucket on both servers whatever their collations: nothing
is ordered or range-compared by key. (Ranges cut in one server's key order and hashed in the
other's never agree when the orders differ, as text keys do under ICU `en-US` and `C.UTF-8`:
every range differed, was split again, and so on without end.) Bucket numbers are integers, and
every text value is hashed as its bytes (`COLLATE "C"`), so even a nondeterministic
(case-insensitive) collation neither merges two keys nor hides a change of case.

How rows are hashed, and what that costs, is `ops.reconcile.hashing`'s to say.

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

The command's own start costs 0.15-0.19 s before any of this, and leaving 0.02 s after (importing
psycopg 0.09-0.10 s, typer 0.03 s; typer 0.29 built a pydantic TypeAdapter per option, 0.08 s more,
so requirements/main.in keeps it below 0.29; setuptools' editable-install import finder took 0.015 s
of every start, so `./dev` installs the checkout as a plain path): nothing left to import lazily
there. JIT compilation
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
import math
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from ops.reconcile.catalog import Table
from ops.reconcile.hashing import SESSION_SETTINGS, TableSql

Key = tuple[str, ...]  # a primary key as the text form of each key column
Row = tuple[Any, ...]
T = TypeVar("T")

MAX_BITS = 62  # bucket numbers stay non-negative bigints
FIRST_PASS_MAX_BITS = 20  # at most ~1M buckets in the first pass (past 64M rows, buckets grow)
M64 = (1 << 64) - 1  # a bigint's 64 bits, as Python reads them signed
MAX_PIECE_BITS = 5  # a row hash shifted by up to 31 keeps 33 of its bits (`pinpoint`)
SPLIT_MAX_BITS = 16  # at most 65,536 pieces per differing bucket in one pass

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
        apart = [dict.fromkeys(pin.pieces, 0) for pin in pins]  # per pin: piece -> its one-sided rows' XOR

        def tally(rows: Iterable[Row]) -> None:  # (key hash, key..., row hash) rows found on one side only
            for row in rows:
                for pin, seen in zip(pins, apart, strict=True):
                    piece = row[0] & pin.mask
                    if piece in seen:
                        seen[piece] ^= row[-1] & M64

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
            for pin, seen in zip(pins, apart, strict=True)
            for piece, rows_apart in pin.pieces.items()
            if seen[piece] != rows_apart
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
