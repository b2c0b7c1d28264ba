"""A failover rehearsal on a restored scratch database: lose some writes, reconcile them back, verify.

The restore drill's scratch database plays the old primary, which kept every write. A copy of it
(CREATE DATABASE ... TEMPLATE) plays the database restored at an earlier recovery point: a few
rows of every keyed table are deleted there, as if written after the recovery point. Then
`reconcile --apply` must bring back exactly the missing rows, with no conflict, and a second run
must find nothing to do. This exercises the tool on the real schema and data every week, without
writing anywhere but the two scratch databases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import conninfo, sql

from ops.reconcile.catalog import ReconcileInputError, fk_order, load_tables
from ops.reconcile.run import reconcile

ROWS_PER_TABLE = 5  # rows "lost" per table: enough to exercise every table, cheap on any size
SCRATCH_NAME = re.compile(r"scratch|drill")  # the same guard as the restore drill's


@dataclass
class Rehearsal:
    ok: bool
    removed: dict[str, int]  # rows deleted from the copy, per table
    report: dict[str, Any] | None  # the --apply run's report
    second_run: dict[str, Any] | None  # totals of the run after it (must be all zero but only_in_to)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "removed": self.removed,
            "report": self.report,
            "second_run": self.second_run,
            "problems": self.problems,
        }


def rehearse_failover(restored_url: str, *, schema: str = "public", rows_per_table: int = ROWS_PER_TABLE) -> Rehearsal:
    dbname = str(conninfo.conninfo_to_dict(restored_url).get("dbname") or "")
    if not SCRATCH_NAME.search(dbname):
        raise ReconcileInputError(
            f"failover rehearsal: database name {dbname!r} must contain 'scratch' or 'drill' (it is copied and changed)"
        )
    copy = f"{dbname}_failover"
    copy_url = conninfo.make_conninfo(restored_url, dbname=copy)
    admin_url = conninfo.make_conninfo(restored_url, dbname="postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy)))
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(copy), sql.Identifier(dbname)))
        try:
            removed = _lose_rows(copy_url, schema, rows_per_table)
            first = reconcile(restored_url, copy_url, schema=schema, apply=True).to_json()
            second = reconcile(restored_url, copy_url, schema=schema).to_json()["totals"]
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy)))
    problems = []
    totals = first["totals"]
    if sum(removed.values()) == 0:
        problems.append(f"failover rehearsal: no row could be removed from any keyed table of schema {schema!r}")
    if totals["lost"] < sum(removed.values()):
        problems.append(f"failover rehearsal: {sum(removed.values())} rows removed, only {totals['lost']} found lost")
    if totals["conflicts"] or totals["still_missing"]:
        problems.append(
            f"failover rehearsal: {totals['conflicts']} conflict(s), {totals['still_missing']} row(s) not applied"
        )
    if second["lost"] or second["conflicts"]:
        problems.append(
            f"failover rehearsal: a second run still found {second['lost']} lost, {second['conflicts']} conflicts"
        )
    return Rehearsal(not problems, removed, first, second, problems)


def _lose_rows(dsn: str, schema: str, rows_per_table: int) -> dict[str, int]:
    """Delete a few rows per keyed table, children first; rows other rows still reference are kept."""
    removed: dict[str, int] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = load_tables(conn, schema)
        keyed = {name: t.parents for name, t in tables.items() if t.key}
        for name in reversed(fk_order(keyed)):
            table = tables[name]
            try:
                with conn.transaction():
                    removed[name] = conn.execute(
                        sql.SQL("DELETE FROM {} WHERE ctid IN (SELECT ctid FROM {} LIMIT %s)").format(
                            sql.Identifier(table.schema, table.name), sql.Identifier(table.schema, table.name)
                        ),
                        (rows_per_table,),
                    ).rowcount
            except psycopg.errors.IntegrityError:
                removed[name] = 0  # its first rows are referenced by other tables' rows
    return removed
