"""What is compared: the tables of a schema, their columns and primary keys, and the order to fill them.

Read from the PostgreSQL catalog on each side. The pure functions here (`schema_problems`,
`fk_order`, `select_tables`) decide; `load_tables` only reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg


class ReconcileInputError(Exception):
    """Bad input: an unreachable database, an unknown table, or schemas that do not match (exit 2)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(): "numeric(3,2)", "timestamp with time zone", ...
    generated: bool  # GENERATED ALWAYS AS (...) STORED: computed by the server, never inserted
    identity_always: bool  # GENERATED ALWAYS AS IDENTITY: insert needs OVERRIDING SYSTEM VALUE
    collatable: bool = False  # text-like: hashed under COLLATE "C" (its bytes), whatever its own collation
    hash_function: str | None = None  # the type's built-in extended hash (hashint8extended...), if any
    base_type: str = ""  # the built-in type (a domain's base type) as pg_catalog names it ("timestamptz"), or ""


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # primary-key columns in index order; () when the table has none
    parents: frozenset[str]  # qualified names of the tables its foreign keys reference
    # A partitioned table holds no rows itself: it is read with its partitions. An ordinary table is
    # read alone (`ONLY`), not with the tables that inherit from it, which are compared on their own.
    partitioned: bool = False
    partitions: frozenset[str] = frozenset()  # a partitioned table's leaf partitions, qualified

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


_TABLES_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind = 'p'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""
# The hash function: the type (a domain's base type) has a default hash operator class with an
# extended (64-bit, seeded) support function; its name when it is built in (pg_catalog) and takes the
# type itself, '' otherwise (an extension's, or one declared on a sibling type: timestamptz hashes
# with timestamp_hash_extended), NULL without one. Arrays, ranges and composites are not looked into,
# and enums are excluded on purpose (an enum value hashes as its label's OID, which differs between
# two databases that hold the same labels). Every column without a name here is hashed through its
# text form (`ops.reconcile.hashing.column_hash`).
_COLUMNS_SQL = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> '', a.attidentity = 'a',
       a.attcollation <> 0,
       (
           SELECT CASE WHEN pn.nspname = 'pg_catalog' AND pp.proargtypes[0] = b.oid THEN pp.proname ELSE '' END
           FROM pg_opclass oc
           JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
           JOIN pg_amproc p ON p.amprocfamily = oc.opcfamily AND p.amprocnum = 2 AND p.amproclefttype = oc.opcintype
           JOIN pg_proc pp ON pp.oid = p.amproc
           JOIN pg_namespace pn ON pn.oid = pp.pronamespace
           WHERE oc.opcdefault
             AND oc.opcintype = b.oid
           LIMIT 1
       ),
       CASE WHEN b.typnamespace = 'pg_catalog'::regnamespace THEN b.typname::text ELSE '' END
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""
_KEYS_SQL = """
SELECT i.indrelid, a.attname
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = ANY(%s) AND i.indisprimary
ORDER BY i.indrelid, k.ord
"""
_PARTITIONS_SQL = """
SELECT p.root, n.nspname || '.' || c.relname
FROM unnest(%s::oid[]) AS p(root)
CROSS JOIN LATERAL pg_partition_tree(p.root) AS t
JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE t.isleaf AND t.relid <> p.root
"""
_PARENTS_SQL = """
SELECT c.conrelid, pn.nspname || '.' || p.relname
FROM pg_constraint c
JOIN pg_class p ON p.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE c.contype = 'f' AND c.conrelid = ANY(%s)
"""


def load_tables(conn: psycopg.Connection[Any], schema: str) -> dict[str, Table]:
    """Every ordinary or partitioned table of `schema` (partitions are read through their parent)."""
    rows = conn.execute(_TABLES_SQL, (schema,)).fetchall()
    oids = [oid for oid, _, _, _ in rows]
    columns: dict[int, list[Column]] = {oid: [] for oid in oids}
    for oid, name, type_, generated, identity, collatable, function, base in conn.execute(_COLUMNS_SQL, (oids,)):
        columns[oid].append(Column(name, type_, generated, identity, collatable, function or None, base))
    keys: dict[int, list[str]] = {oid: [] for oid in oids}
    for oid, name in conn.execute(_KEYS_SQL, (oids,)):
        keys[oid].append(name)
    parents: dict[int, set[str]] = {oid: set() for oid in oids}
    for oid, parent in conn.execute(_PARENTS_SQL, (oids,)):
        parents[oid].add(parent)
    partitions: dict[int, set[str]] = {oid: set() for oid in oids}
    for oid, partition in conn.execute(_PARTITIONS_SQL, ([oid for oid, _, _, p in rows if p],)):
        partitions[oid].add(partition)
    return {
        f"{nsp}.{rel}": Table(
            nsp, rel, tuple(columns[oid]), tuple(keys[oid]), frozenset(parents[oid]), p, frozenset(partitions[oid])
        )
        for oid, nsp, rel, p in rows
    }


def select_tables(available: Iterable[str], schema: str, wanted: list[str]) -> list[str]:
    """The qualified names to reconcile: all of `available`, or the `--tables` asked for (each must exist)."""
    names = sorted(available)
    if not wanted:
        return names
    chosen: list[str] = []
    unknown: list[str] = []
    for item in (part.strip() for value in wanted for part in value.split(",")):
        if not item:
            continue
        qualified = item if "." in item else f"{schema}.{item}"
        (chosen if qualified in names else unknown).append(qualified)
    if unknown:
        raise ReconcileInputError(
            f"--tables: {', '.join(unknown)} not found in schema {schema!r} of --from "
            f"(tables there: {', '.join(names) or 'none'})"
        )
    return list(dict.fromkeys(chosen))


def schema_problems(source: Mapping[str, Table], target: Mapping[str, Table], names: Iterable[str]) -> list[str]:
    """Every difference that makes rows incomparable, one line per table or column.

    Column ORDER, defaults, nullability and constraints other than the primary key do not change
    what a row holds, so they are not problems; a column present on one side only, a different
    type or a different primary key are.
    """
    problems: list[str] = []
    partition_of = [{p: t.qualified for t in side.values() for p in t.partitions} for side in (source, target)]
    for name in names:
        a, b = source.get(name), target.get(name)
        if a is None or b is None:
            here, there = ("--to", "--from") if a is None else ("--from", "--to")
            root = partition_of[0 if a is None else 1].get(name)
            if root:  # detached on one side only: there its rows are `root`'s, here a table's of its own
                problems.append(f"{name}: a table of its own in {here}, a partition of {root} in {there}")
            else:
                problems.append(f"{name}: table exists only in {here}")
            continue
        a_cols = {c.name: c for c in a.columns}
        b_cols = {c.name: c for c in b.columns}
        for col in sorted(a_cols.keys() | b_cols.keys()):
            if col not in b_cols:
                problems.append(f"{name}.{col}: column only in --from ({a_cols[col].type})")
            elif col not in a_cols:
                problems.append(f"{name}.{col}: column only in --to ({b_cols[col].type})")
            elif a_cols[col].type != b_cols[col].type:
                problems.append(f"{name}.{col}: type {a_cols[col].type} in --from, {b_cols[col].type} in --to")
            elif a_cols[col].base_type != b_cols[col].base_type:
                # A domain of one name over two types: the values would be cast silently on one side
                # (timestamp <-> timestamptz, time -> interval) and compared as equal.
                problems.append(
                    f"{name}.{col}: type {a_cols[col].type} is a domain over "
                    f"{a_cols[col].base_type or 'a non-built-in type'} in --from, over "
                    f"{b_cols[col].base_type or 'a non-built-in type'} in --to"
                )
        if a.key != b.key:
            problems.append(
                f"{name}: primary key ({', '.join(a.key) or 'none'}) in --from, ({', '.join(b.key) or 'none'}) in --to"
            )
        for side, other, flag, other_flag in ((a, target, "--from", "--to"), (b, source, "--to", "--from")):
            for partition in sorted(side.partitions & other.keys()):
                problems.append(
                    f"{name}: its partition {partition} in {flag} is a table of its own in {other_flag}:"
                    " its rows would be compared as rows of one side only"
                )
        if a.partitioned != b.partitioned:
            # Its rows are read with the partitions on one side and alone (ONLY) on the other: one
            # reading would miss rows or take another table's.
            where = "--from" if a.partitioned else "--to"
            problems.append(f"{name}: a partitioned table in {where} only (an ordinary table on the other side)")
    return problems


def fk_order(parents: Mapping[str, Iterable[str]]) -> list[str]:
    """Tables ordered so that every table comes after the tables its foreign keys reference.

    Parents outside the mapping (another schema, not selected) and self-references do not
    constrain the order. A foreign-key cycle is broken at its first table by name: a lost row
    there may be refused by its constraint, and is then reported as rejected, never forced.
    """
    pending = {name: {p for p in ps if p in parents and p != name} for name, ps in parents.items()}
    order: list[str] = []
    while pending:
        ready = sorted(name for name, ps in pending.items() if not ps)
        if not ready:
            ready = [min(pending)]
        for name in ready:
            del pending[name]
            for ps in pending.values():
                ps.discard(name)
        order.extend(ready)
    return order
