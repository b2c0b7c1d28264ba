"""The pure decisions of reconciliation, as tables of cases (no database)."""

from __future__ import annotations

import pytest

from ops.reconcile.catalog import Column, ReconcileInputError, Table, fk_order, schema_problems, select_tables
from ops.reconcile.compare import (
    M64,
    MAX_BITS,
    Comparer,
    Pins,
    aligned_blocks,
    classify,
    first_pass_bits,
    next_pass,
    pinpoint,
    split_bits,
)
from ops.reconcile.hashing import bits_lists
from ops.reconcile.report import Report, TableReport


@pytest.mark.parametrize(
    ("source", "target", "lost", "only_in_to", "conflicts"),
    [
        ({}, {}, [], [], []),
        ({("1",): 10}, {("1",): 10}, [], [], []),
        ({("1",): 10, ("2",): 20}, {("1",): 10}, [("2",)], [], []),
        ({("1",): 10}, {("1",): 10, ("3",): 30}, [], [("3",)], []),
        ({("1",): 10}, {("1",): 11}, [], [], [("1",)]),
        (
            {("a", "1"): 1, ("a", "2"): 2, ("b", "1"): 3},
            {("a", "2"): 2, ("b", "1"): 4, ("c", "9"): 5},
            [("a", "1")],
            [("c", "9")],
            [("b", "1")],
        ),
    ],
    ids=["empty", "equal", "lost write", "post-failover write", "conflict", "composite keys, all three"],
)
def test_each_differing_key_is_lost_only_in_to_or_a_conflict(source, target, lost, only_in_to, conflicts):
    diff = classify(source, target)
    assert (diff.lost, diff.only_in_to, diff.conflicts) == (lost, only_in_to, conflicts)


@pytest.mark.parametrize(
    ("estimated_rows", "bits"),
    [(0, 0), (64, 0), (65, 1), (10_000, 8), (1_000_000, 14), (1e12, 20)],
    ids=["empty", "one bucket's worth", "just over", "10k: 256 buckets", "1M: 16k buckets", "capped at 1M buckets"],
)
def test_the_first_pass_cuts_the_estimated_rows_into_buckets_of_at_most_64(estimated_rows, bits):
    assert first_pass_bits(estimated_rows, 64) == bits


@pytest.mark.parametrize(
    ("bits", "largest", "after"),
    [(14, 64, 18), (14, 5, 15), (14, 1, 15), (0, 1_000_000, 16), (61, 64, MAX_BITS)],
    ids=["64 rows into 16 pieces of 4", "at least one more bit", "even for one row", "16 bits at most per pass",
         "never past MAX_BITS"],
)  # fmt: skip
def test_a_split_cuts_the_largest_differing_bucket_into_pieces_of_about_4_rows(bits, largest, after):
    assert split_bits(bits, largest, 4) == after


def apart(*rows: tuple[int, int]) -> tuple[int, int]:
    """A bucket's two XORs told apart, from its differing rows as (row hash, piece): as a signed bigint each,
    as PostgreSQL sends them (a conflict is two rows: its two versions' row hashes, in the same piece)."""
    x = p = 0
    for h, piece in rows:
        x, p = x ^ h, p ^ ((h << piece) & M64)
    return x - (x >> 63 << 64), p - (p >> 63 << 64)


H1, H2, H3 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9


@pytest.mark.parametrize(
    ("rows", "piece"),
    [
        ([(H1, 7)], 7),
        ([(H1, 0)], 0),
        ([(H1, 31)], 31),
        ([(H1, 12), (H2, 12)], 12),
        ([(H1, 3), (H2, 3), (H3, 3)], 3),
        ([(H1, 3), (H2, 4)], None),
        ([(H1, 0), (H2, 31)], None),
        ([(H1, 5), (H2, 5), (H3, 6)], None),
        ([(1 << 40, 30)], None),
        ([], None),
    ],
    ids=[
        "one row",
        "piece 0",
        "the last piece",
        "a conflict's two versions",
        "three rows in one piece",
        "two pieces",
        "the first and last pieces",
        "one of three rows elsewhere",
        "shifted out of 64 bits",
        "nothing apart",
    ],
)
def test_a_bucket_is_pinpointed_to_a_piece_only_when_every_differing_row_lies_there(rows, piece):
    assert pinpoint(*apart(*rows), 5) == piece


def test_no_piece_is_named_when_pieces_are_off():
    assert pinpoint(*apart((H1, 0)), 0) is None


@pytest.mark.parametrize("piece_bits", [-1, 6])
def test_pieces_past_32_are_refused_as_their_shift_would_leave_too_few_bits(piece_bits):
    with pytest.raises(ValueError, match=f"piece_bits must be 0 to 5, got {piece_bits}"):
        Comparer(None, None, None, piece_bits=piece_bits)  # type: ignore[arg-type]


def test_bucket_lists_at_the_same_bits_are_one_list():
    assert bits_lists([(13, [1, 2]), (18, [3]), (13, [4])]) == {13: [1, 2, 4], 18: [3]}


def test_the_rest_of_a_pinpointed_bucket_is_its_other_pieces():
    pins = Pins(bits=4, piece_bits=2, pieces={0b10_0101: 0})
    assert pins.rest_of(0b10_0101) == [0b00_0101, 0b01_0101, 0b11_0101]
    assert pins.mask == 0b11_1111


SIZES = {"bucket_rows": 64, "piece_rows": 4, "pass_cost": 8}


@pytest.mark.parametrize(
    ("differing", "bits", "split_before", "table_rows", "fetch", "split", "next_bits"),
    [
        ([], 14, False, 1_000_000, [], [], 14),
        ([(1, 64, 0), (2, 0, 3)], 14, False, 1_000, [1, 2], [], 14),
        ([(1, 4, 3)], 14, False, 1_000, [1], [], 14),
        ([(1, 64, 63)], 14, False, 1_000_000, [1], [], 14),
        ([(1, 64, 63), (2, 60, 60)], 14, False, 1_000, [], [1, 2], 18),
        ([(1, 64, 0), (2, 64, 63)], 14, False, 1_000, [1], [2], 18),
        ([(1, 60, 61)], 18, True, 1_000, [1], [], 18),
        ([(1, 65, 61)], 18, True, 1_000, [], [1], 23),
        ([(1, 64, 63)], MAX_BITS, True, 1_000, [1], [], MAX_BITS),
    ],
    ids=[
        "nothing differs",
        "one side empty: every row differs, fetched",
        "small: fetched",
        "few rows for the table's size: fetched, no other pass",
        "many rows: split, 64 rows into pieces of 4",
        "split what is worth it, fetch the rest",
        "after a split: fetched up to 64 rows",
        "after a split, still larger (stale estimate): split again",
        "no bit left: fetched",
    ],
)
def test_differing_buckets_are_fetched_or_split_by_what_the_next_pass_costs(
    differing, bits, split_before, table_rows, fetch, split, next_bits
):
    assert next_pass(differing, bits=bits, split_before=split_before, table_rows=table_rows, **SIZES) == (
        fetch,
        split,
        next_bits,
    )


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ([], []),
        ([[(1, "a"), (3, "b")]], []),
        ([], [[(1, "a")], [(3, "b")]]),
        ([[(1, "a"), (1, "b")], [(3, "c"), (7, "d")]], [[(0, "w"), (3, "x")], [(7, "y"), (7, "z"), (9, "q")]]),
        ([[(5, "a"), (5, "b")], [(5, "c")], [(6, "d")]], [[(5, "x"), (6, "y")]]),
    ],
    ids=["nothing", "one side only", "the other side only", "values on one side, both sides, across blocks",
         "a run of one value longer than a block"],
)  # fmt: skip
def test_two_streams_of_blocks_ordered_by_key_are_paired_so_that_a_key_is_in_one_pair_only(ours, theirs):
    pairs = list(aligned_blocks(iter(ours), iter(theirs)))

    assert [r for a, _ in pairs for r in a] == [r for block in ours for r in block]
    assert [r for _, b in pairs for r in b] == [r for block in theirs for r in block]
    pair_of: dict[int, int] = {}
    for i, (a, b) in enumerate(pairs):
        for value, _ in a + b:
            assert pair_of.setdefault(value, i) == i, f"value {value} in pairs {pair_of[value]} and {i}: {pairs}"


@pytest.mark.parametrize(
    ("parents", "order"),
    [
        ({}, []),
        ({"p.a": set(), "p.b": set()}, ["p.a", "p.b"]),
        ({"p.likes": {"p.recipes", "p.profiles"}, "p.recipes": {"p.profiles"}, "p.profiles": set()},
         ["p.profiles", "p.recipes", "p.likes"]),
        ({"p.comments": {"p.comments", "p.recipes"}, "p.recipes": set()}, ["p.recipes", "p.comments"]),
        ({"p.recipes": {"auth.users"}}, ["p.recipes"]),
        ({"p.a": {"p.b"}, "p.b": {"p.a"}, "p.c": {"p.b"}}, ["p.a", "p.b", "p.c"]),
    ],
    ids=["none", "independent: by name", "grandchild after child after parent", "self-reference ignored",
         "parent outside the set ignored", "cycle broken at the first name, the rest still ordered"],
)  # fmt: skip
def test_tables_are_filled_parents_first(parents, order):
    assert fk_order(parents) == order


def _table(name: str, columns: dict[str, str], key: tuple[str, ...] = ("id",)) -> Table:
    return Table("public", name, tuple(Column(c, t, False, False) for c, t in columns.items()), key, frozenset())


@pytest.mark.parametrize(
    ("source", "target", "problems"),
    [
        ([_table("t", {"id": "integer", "v": "text"})], [_table("t", {"v": "text", "id": "integer"})], []),
        (
            [_table("t", {"id": "integer", "v": "text"})],
            [_table("t", {"id": "integer"})],
            ["public.t.v: column only in --from (text)"],
        ),
        (
            [_table("t", {"id": "integer"})],
            [_table("t", {"id": "bigint"})],
            ["public.t.id: type integer in --from, bigint in --to"],
        ),
        (
            [_table("t", {"id": "integer", "k": "text"})],
            [_table("t", {"id": "integer", "k": "text"}, ("id", "k"))],
            ["public.t: primary key (id) in --from, (id, k) in --to"],
        ),
        ([], [_table("t", {"id": "integer"})], ["public.t: table exists only in --to"]),
    ],
    ids=["column order is not a problem", "column on one side", "type", "primary key", "table on one side"],
)
def test_schema_problems_name_each_table_and_column(source, target, problems):
    a = {t.qualified: t for t in source}
    b = {t.qualified: t for t in target}
    assert schema_problems(a, b, sorted(a.keys() | b.keys())) == problems


@pytest.mark.parametrize(
    ("wanted", "chosen"),
    [
        ([], ["public.a", "public.b", "public.c"]),
        (["b"], ["public.b"]),
        (["c,a", "public.b"], ["public.c", "public.a", "public.b"]),
        (["a", "a"], ["public.a"]),
    ],
)
def test_tables_flag_selects_by_plain_or_qualified_name(wanted, chosen):
    assert select_tables(["public.b", "public.a", "public.c"], "public", wanted) == chosen


def test_tables_flag_names_every_unknown_table():
    with pytest.raises(ReconcileInputError, match=r"public\.x, other\.y not found"):
        select_tables(["public.a"], "public", ["x", "other.y", "a"])


@pytest.mark.parametrize(
    ("applied", "lost", "applied_rows", "conflicts", "exit_code"),
    [
        (False, 0, 0, 0, 0),
        (False, 3, 0, 0, 1),  # lost rows found, not applied: still missing
        (True, 3, 3, 0, 0),
        (True, 3, 2, 0, 1),  # one refused or raced: still missing
        (True, 0, 0, 1, 1),  # a conflict always needs a person
    ],
)
def test_exit_code_is_0_only_when_nothing_is_left_to_reconcile(applied, lost, applied_rows, conflicts, exit_code):
    table = TableReport("public.t", ("id",), lost=lost, applied=applied_rows, conflicts=conflicts, only_in_to=5)
    report = Report("a", "b", "public", applied, tables=[table])
    assert report.exit_code == exit_code
    assert report.to_json()["exit_code"] == exit_code
