"""Which relations pg_dump would read that the backup's role may not, decided before anything is dumped.

What a full pg_dump reads (PostgreSQL 15, checked against its pg_dump and the LOCK docs):

- every table and partition it dumps: `LOCK TABLE ... IN ACCESS SHARE MODE` (SELECT on 15; from 16
  UPDATE, DELETE, TRUNCATE or MAINTAIN allow it too), then `COPY ... TO stdout` (SELECT);
- every sequence it dumps: `SELECT last_value, is_called FROM ...` (pg_dump 18:
  `pg_get_sequence_data`, which checks SELECT too): SELECT, USAGE is not enough;
- both by schema-qualified name: USAGE on the schema;
- not extension members, except the extensions' configuration tables (`pg_extension.extconfig`), whose
  rows it copies; views and materialized views only from the catalog.

On Supabase the backup connects as `postgres`, which since supabase/postgres
``migrations/db/migrations/20250421084701_revoke_admin_roles_from_postgres.sql`` may not read
``auth.schema_migrations``, ``storage.migrations`` nor ``realtime.schema_migrations``: a full dump
stops at the first of them ("permission denied for table schema_migrations"). `plan_dump_access`
decides, a pure function of what the role lacks:

- left out (`pg_dump --exclude-table`, listed in the manifest's ``dump.excluded_tables``): relations
  in Supabase's internal schemas (`ops.backup.toc.INTERNAL_SCHEMAS`) whose rows a restore into a new
  project does not load anyway (`ops.backup.toc.keeps_table`): the platform's own state, which the
  new project has its own of (supabase/cli's data dump leaves the migration tables out too);
- refused before anything is dumped (exit 1, each named with what it lacks): everything else, i.e. the
  application's tables and sequences and the `auth`/`storage` rows a restore brings back. Leaving
  those out would lose data silently.

Not checked here: pg_dump reads with `row_security = off`, so a table whose row-level security applies
to the role stops it mid-dump with its own message (exit 1). Supabase's `postgres` has BYPASSRLS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import psycopg

from ops.backup.toc import is_internal_schema, keeps_table

__all__ = ["DumpAccess", "Unreadable", "exclude_pattern", "plan_dump_access", "read_unreadable"]


@dataclasses.dataclass(frozen=True)
class Unreadable:
    """A relation pg_dump would read that the role may not, and the privileges it lacks."""

    schema: str
    name: str
    kind: str  # "table" or "sequence"
    missing: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclasses.dataclass(frozen=True)
class DumpAccess:
    role: str
    excluded: tuple[Unreadable, ...] = ()
    refused: tuple[Unreadable, ...] = ()

    def excluded_tables(self) -> list[dict[str, str]]:
        """The manifest's `dump.excluded_tables`."""
        return [
            {
                "table": u.qualified,
                "reason": f"platform {u.kind} {self.role} may not read (lacks {', '.join(u.missing)})",
            }
            for u in self.excluded
        ]

    def exclude_args(self) -> list[str]:
        return [f"--exclude-table={exclude_pattern(u.schema, u.name)}" for u in self.excluded]

    def refusal(self, where: str) -> str | None:
        if not self.refused:
            return None
        named = "; ".join(f"{u.qualified} ({u.kind}: lacks {', '.join(u.missing)})" for u in self.refused)
        return (
            f"refusing to back up {where}: role {self.role} may not read {len(self.refused)} relation(s) that "
            f"pg_dump reads and a restore needs: {named}. Grant them to {self.role}, or back up as a role that "
            "may read them (nothing was dumped)"
        )


def exclude_pattern(schema: str, name: str) -> str:
    """A pg_dump pattern that matches exactly this one relation.

    pg_dump reads patterns as psql does: unquoted, `.` separates names, `*` and `?` are wildcards,
    other regular-expression characters keep their meaning and letters are folded to lower case.
    Inside double quotes every character is literal and `""` is one `"`."""

    def quoted(identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    return f"{quoted(schema)}.{quoted(name)}"


def plan_dump_access(role: str, unreadable: Iterable[Unreadable]) -> DumpAccess:
    """Split what the role may not read into what the backup leaves out and what it refuses (see module doc)."""
    excluded: list[Unreadable] = []
    refused: list[Unreadable] = []
    for relation in sorted(unreadable, key=lambda u: (u.schema, u.name)):
        platform_only = is_internal_schema(relation.schema) and not keeps_table(relation.schema, relation.name)
        (excluded if platform_only else refused).append(relation)
    return DumpAccess(role=role, excluded=tuple(excluded), refused=tuple(refused))


# Relations pg_dump would lock or read (see module doc), with what the current role may do to them.
# Temporary relations live in pg_temp_N schemas; pg_dump skips those and every pg_* schema.
_READS_SQL = r"""
SELECT nspname, relname, kind, schema_usage, can_select FROM (
    SELECT n.nspname, c.relname, CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END AS kind,
           has_schema_privilege(n.oid, 'USAGE') AS schema_usage,
           has_table_privilege(c.oid, 'SELECT') AS can_select
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'S')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
      AND (c.oid IN (SELECT unnest(extconfig) FROM pg_extension)
           OR NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'))
) relations
WHERE NOT (schema_usage AND can_select)
"""


def read_unreadable(conn: psycopg.Connection[Any]) -> DumpAccess:
    """Read, as the connecting role, what pg_dump would read and it may not; decide with `plan_dump_access`."""
    row = conn.execute("SELECT current_user").fetchone()
    found = []
    for schema, name, kind, schema_usage, can_select in conn.execute(_READS_SQL).fetchall():
        missing = []
        if not schema_usage:
            missing.append(f"USAGE on schema {schema}")
        if not can_select:
            missing.append(f"SELECT on {kind} {schema}.{name}")
        found.append(Unreadable(str(schema), str(name), str(kind), tuple(missing)))
    return plan_dump_access(str(row[0]) if row else "?", found)
