"""The pure decisions of reconciliation, as tables of cases (no database)."""

from __future__ import annotations

import pytest

from ops.reconcile.catalog import Column, ReconcileInputError, Table, fk_order, schema_problems, select_tables
from ops.reconcile.compare import classify
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
