"""Reading a dump's table of contents (`pg_restore --list`) for a restore into a new Supabase project.

A new Supabase project already has the platform's schemas, roles, event triggers and the
``supabase_realtime`` publication, owned by platform roles; the role a restore connects as
(`postgres`) is not a superuser. Supabase's own route (`supabase db dump`, supabase/cli v2.104.0
``pkg/migration/dump.go``, ``scripts/dump_schema.sh``, ``dump_data.sh``) therefore leaves the
platform's schemas out. This module holds those rules' names (``INTERNAL_SCHEMAS``, ``DATA_SCHEMAS``,
``EXCLUDED_DATA_TABLES``) and reads the archive's entries (`parse_toc`) and pg_restore's errors
(`failed_entry`); `ops.backup.supabase_plan` decides which entries go in.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re

from ops.backup.errors import BackupError

__all__ = [
    "ABOUT_KINDS",
    "DATA_SCHEMAS",
    "ENTRY_KINDS",
    "EXCLUDED_DATA_TABLES",
    "INTERNAL_SCHEMAS",
    "TocEntry",
    "failed_entry",
    "is_internal_schema",
    "keeps_table",
    "parse_toc",
]

# supabase/cli pkg/migration/dump.go, InternalSchemas: "Initialised by supabase/postgres image" and
# "Owned by extensions". Patterns as pg_dump reads them.
INTERNAL_SCHEMAS = (
    "information_schema",
    "pg_*",
    "_analytics",
    "_realtime",
    "_supavisor",
    "auth",
    "etl",
    "extensions",
    "pgbouncer",
    "realtime",
    "storage",
    "supabase_functions",
    "supabase_migrations",
    "cron",
    "dbdev",
    "graphql",
    "graphql_public",
    "net",
    "pgmq",
    "pgsodium",
    "pgsodium_masks",
    "pgtle",
    "repack",
    "tiger",
    "tiger_data",
    "timescaledb_*",
    "_timescaledb_*",
    "topology",
    "vault",
)
# dump.go's data dump keeps these internal schemas' data (its excludedSchemas comments them out);
# cron, net and pgmq too, which this restore leaves out: their tables belong to extensions whose
# writes `postgres` may not make (supabase/postgres 20231020085357_revoke_writes_on_cron_job_from_postgres.sql).
DATA_SCHEMAS = ("auth", "storage", "supabase_functions")
# dump_data.sh: --exclude-table for the platform's migration history.
EXCLUDED_DATA_TABLES = frozenset(
    {("auth", "schema_migrations"), ("storage", "migrations"), ("supabase_functions", "migrations")}
)

# Platform tables whose rows the platform derives from other rows, and which a newer platform version
# dropped: when the target lacks one, its rows are left out (named) rather than the restore refused.
# supabase/storage `migrations/tenant/0052-drop-not-used-indexes-and-functions.sql` drops
# storage.prefixes, the folder rows that triggers kept from storage.objects' names (0026, 0029).
DERIVED_DATA_TABLES = frozenset({("storage", "prefixes")})

# pg_restore --list prints `id; tableoid oid DESC SCHEMA TAG OWNER`, space-separated, where DESC and
# TAG may hold spaces: DESC is read against pg_dump's kinds, longest first.
ENTRY_KINDS = sorted(
    (
        "ACCESS METHOD",
        "ACL",
        "AGGREGATE",
        "BLOB",
        "BLOB METADATA",
        "BLOBS",
        "CAST",
        "CHECK CONSTRAINT",
        "COLLATION",
        "COMMENT",
        "CONSTRAINT",
        "CONVERSION",
        "DATABASE",
        "DATABASE PROPERTIES",
        "DEFAULT",
        "DEFAULT ACL",
        "DOMAIN",
        "ENCODING",
        "EVENT TRIGGER",
        "EXTENSION",
        "FK CONSTRAINT",
        "FOREIGN DATA WRAPPER",
        "FOREIGN TABLE",
        "FUNCTION",
        "INDEX",
        "INDEX ATTACH",
        "LARGE OBJECT",
        "LARGE OBJECTS",
        "MATERIALIZED VIEW",
        "MATERIALIZED VIEW DATA",
        "OPERATOR",
        "OPERATOR CLASS",
        "OPERATOR FAMILY",
        "POLICY",
        "PROCEDURAL LANGUAGE",
        "PROCEDURE",
        "PUBLICATION",
        "PUBLICATION TABLE",
        "PUBLICATION TABLES IN SCHEMA",
        "ROW SECURITY",
        "RULE",
        "SCHEMA",
        "SEARCHPATH",
        "SECURITY LABEL",
        "SEQUENCE",
        "SEQUENCE OWNED BY",
        "SEQUENCE SET",
        "SERVER",
        "SHELL TYPE",
        "STATISTICS",
        "STATISTICS DATA",
        "STDSTRINGS",
        "SUBSCRIPTION",
        "SUBSCRIPTION TABLE",
        "TABLE",
        "TABLE ATTACH",
        "TABLE DATA",
        "TEXT SEARCH CONFIGURATION",
        "TEXT SEARCH DICTIONARY",
        "TEXT SEARCH PARSER",
        "TEXT SEARCH TEMPLATE",
        "TRANSFORM",
        "TRIGGER",
        "TYPE",
        "USER MAPPING",
        "VIEW",
    ),
    key=len,
    reverse=True,
)
_LINE = re.compile(r"^(?P<id>\d+); (?P<tableoid>\d+) (?P<oid>\d+) (?P<rest>.*)$")
# Kinds whose entries name no object of their own (the comment or privileges of one: TAG is "KIND name").
ABOUT_KINDS = ("ACL", "COMMENT", "SECURITY LABEL")


@dataclasses.dataclass(frozen=True)
class TocEntry:
    dump_id: int
    kind: str
    schema: str | None
    tag: str
    owner: str
    line: str

    def __str__(self) -> str:
        where = f"{self.schema}." if self.schema else ""
        return f"{self.dump_id} {self.kind} {where}{self.tag}"


def parse_toc(listing: str) -> list[TocEntry]:
    """The entries of `pg_restore --list` output, in archive order (comment lines skipped).

    pg_restore prints names unquoted, so a schema whose name holds a space ("storage archive") cannot be
    told from the next field by splitting: the schemas the archive creates (its SCHEMA entries) are
    matched first, longest first, and only then the first word."""
    parsed = []
    for line in listing.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        match = _LINE.match(line)
        kind = next((k for k in ENTRY_KINDS if match and match["rest"].startswith(k + " ")), None)
        if match is None or kind is None:
            raise BackupError(f"pg_restore --list printed an entry this tool cannot read: {line!r}")
        parsed.append((int(match["id"]), kind, match["rest"][len(kind) + 1 :], line))
    # A SCHEMA entry is "SCHEMA - name owner"; its name may hold spaces, its owner (a role) is the last word.
    spaced = sorted(
        {rest[2:].rpartition(" ")[0] for _, kind, rest, _ in parsed if kind == "SCHEMA" and rest.startswith("- ")},
        key=len,
        reverse=True,
    )
    spaced = [name for name in spaced if " " in name]
    entries = []
    for dump_id, kind, rest, line in parsed:
        schema = next((name for name in spaced if rest.startswith(name + " ")), None)
        if schema is not None:
            rest = rest[len(schema) + 1 :]
        else:
            schema, _, rest = rest.partition(" ")
        tag, _, owner = rest.rpartition(" ")
        entries.append(TocEntry(dump_id, kind, None if schema == "-" else schema, tag, owner, line))
    return entries


def is_internal_schema(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in INTERNAL_SCHEMAS)


def keeps_table(schema: str, table: str) -> bool:
    """Whether a restore into a Supabase project loads this table's rows (the drill's row check)."""
    if not is_internal_schema(schema):
        return True
    return schema in DATA_SCHEMAS and (schema, table) not in EXCLUDED_DATA_TABLES


_FAILED_AT = re.compile(r"^pg_restore: from TOC entry (?P<entry>.+)$", re.M)
_ERROR = re.compile(r"^pg_restore: error: (?:could not execute query: )?(?P<error>.+)$", re.M)


def failed_entry(stderr: str) -> str | None:
    """The entry and error pg_restore --exit-on-error stopped at, from its stderr: "TOC entry 3418;
    2620 17356 TRIGGER auth users on_auth_user_created supabase_auth_admin: ERROR:  must be owner of …"."""
    entry = _FAILED_AT.search(stderr)
    error = _ERROR.search(stderr)
    if entry is None:
        return None
    return f"TOC entry {entry['entry'].strip()}" + (f": {error['error'].strip()}" if error else "")
