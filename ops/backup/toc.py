"""Which entries of a dump's table of contents a restore into a new Supabase project takes, and in what order.

A new Supabase project already has the platform's schemas, roles, event triggers and the
``supabase_realtime`` publication, owned by platform roles; the role a restore connects as
(`postgres`) is not a superuser. A full restore of a project's dump therefore stops at the first
platform object it has to drop or create. Supabase's own route (`supabase db dump`, supabase/cli
``pkg/migration/dump.go`` and ``scripts/dump_schema.sh``, ``dump_data.sh``) leaves those out; this
module does the same to the entries of one full archive (`pg_restore --list`), decided by
`plan_supabase_restore`, a pure function of the archive's entries and what the target holds:

- out: every entry in Supabase's internal schemas (``INTERNAL_SCHEMAS``, dump.go's
  ``InternalSchemas``) and on them (their ACLs, comments), event triggers, the ``supabase_realtime``
  publications, ``COMMENT ON EXTENSION``, default privileges of roles the restoring one is no member of,
  and extensions the target has already (the schema dump's ``CREATE EXTENSION IF NOT EXISTS``);
- kept: the application's own schemas, whole; the data of the `auth`, `storage` and
  `supabase_functions` tables (dump_data.sh's "Data dump includes auth, storage, etc. for migrating
  to new project"), minus their migration tables, loaded into the project's tables in foreign-key
  order (the project's foreign keys are live; `SET session_replication_role` is superuser-only
  without Supabase's supautils); triggers the application put on those tables (the project does not
  have them); the application's tables in ``supabase_realtime`` (`postgres` owns the publication);
- refused before anything is written (named): a target whose application schemas hold tables, a
  schema the dump creates that exists already, an extension the target has not enabled, a platform
  table whose data the dump holds but the target lacks or already fills;
- reported, not restored: row-level security policies the application put on platform tables (on
  Supabase `postgres` may create them only through supautils' ``policy_grants``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable

from ops.backup.errors import BackupError

__all__ = [
    "DATA_SCHEMAS",
    "EXCLUDED_DATA_TABLES",
    "INTERNAL_SCHEMAS",
    "SupabasePlan",
    "TargetFacts",
    "TocEntry",
    "failed_entry",
    "is_internal_schema",
    "keeps_table",
    "parse_toc",
    "plan_supabase_restore",
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

# pg_restore --list prints `id; tableoid oid DESC SCHEMA TAG OWNER`, space-separated, where DESC and
# TAG may hold spaces: DESC is read against pg_dump's kinds, longest first.
_KINDS = sorted(
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
_ABOUT = ("ACL", "COMMENT", "SECURITY LABEL")


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
    """The entries of `pg_restore --list` output, in archive order (comment lines skipped)."""
    entries = []
    for line in listing.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        match = _LINE.match(line)
        kind = next((k for k in _KINDS if match and match["rest"].startswith(k + " ")), None)
        if match is None or kind is None:
            raise BackupError(f"pg_restore --list printed an entry this tool cannot read: {line!r}")
        schema, _, rest = match["rest"][len(kind) + 1 :].partition(" ")
        tag, _, owner = rest.rpartition(" ")
        entries.append(TocEntry(int(match["id"]), kind, None if schema == "-" else schema, tag, owner, line))
    return entries


def is_internal_schema(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in INTERNAL_SCHEMAS)


def keeps_table(schema: str, table: str) -> bool:
    """Whether a restore into a Supabase project loads this table's rows (the drill's row check)."""
    if not is_internal_schema(schema):
        return True
    return schema in DATA_SCHEMAS and (schema, table) not in EXCLUDED_DATA_TABLES


@dataclasses.dataclass(frozen=True)
class TargetFacts:
    """What the target holds, read before anything is written (`ops.backup.supabase_restore`)."""

    role: str
    schemas: frozenset[str]
    extensions: frozenset[str]
    # The roles `role` is a member of: it may set their default privileges.
    member_of: frozenset[str] = frozenset()
    # Tables of the application schemas: a new project has none.
    app_tables: tuple[str, ...] = ()
    # Tables of DATA_SCHEMAS, and those of them holding rows: "schema.table".
    platform_tables: frozenset[str] = frozenset()
    filled_tables: frozenset[str] = frozenset()
    platform_sequences: frozenset[str] = frozenset()
    # (schema, table, name) of the triggers and policies on tables of DATA_SCHEMAS, (schema, name) of
    # their indexes: what the platform made, as opposed to what the application added.
    triggers: frozenset[tuple[str, str, str]] = frozenset()
    policies: frozenset[tuple[str, str, str]] = frozenset()
    indexes: frozenset[tuple[str, str]] = frozenset()
    # (child "schema.table", parent "schema.table") for foreign keys between DATA_SCHEMAS tables.
    foreign_keys: frozenset[tuple[str, str]] = frozenset()


@dataclasses.dataclass
class SupabasePlan:
    app: list[TocEntry]  # archive order: pre-data, then data and post-data with --jobs
    platform_data: list[TocEntry]  # foreign-key order, one job
    skipped: list[tuple[TocEntry, str]]
    not_restored: list[str]  # application objects the target cannot take: reported
    refusals: list[str]  # the target is not a new project's: nothing is written

    def skipped_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, reason in self.skipped:
            counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items()))


def _about(entry: TocEntry) -> tuple[str, str]:
    """("SCHEMA", "auth") for the ACL or comment of schema auth; ("TABLE", "users") for a table's."""
    for kind in _KINDS:
        if entry.tag.startswith(kind + " "):
            return kind, entry.tag[len(kind) + 1 :].strip('"')
    return "", entry.tag


def _on_table(entry: TocEntry) -> tuple[str, str]:
    """A trigger's or policy's table and name: its tag is "table name" (names may hold spaces)."""
    table, _, name = entry.tag.partition(" ")
    return table, name


def _is_realtime_publication(name: str) -> bool:
    # dump_schema.sh: CREATE PUBLICATION "supabase_realtime" and ALTER PUBLICATION "supabase_realtime_…".
    return name == "supabase_realtime" or name.startswith("supabase_realtime_")


def _skip_reason(entry: TocEntry, facts: TargetFacts) -> str | None:
    """Why the entry stays out (None: it is restored). Platform data and triggers are decided by the caller."""
    if entry.kind in ("DATABASE", "DATABASE PROPERTIES"):
        return "database properties"
    if entry.kind == "EVENT TRIGGER":
        return "event trigger (superuser only)"
    if entry.kind == "EXTENSION":
        return "extension enabled in the target"
    if entry.kind == "PUBLICATION" and _is_realtime_publication(entry.tag):
        return "platform publication"
    if entry.kind == "DEFAULT ACL" and entry.owner != facts.role and entry.owner not in facts.member_of:
        return "default privileges of another role"
    if entry.kind == "SCHEMA" and is_internal_schema(entry.tag):
        return "platform schema"
    if entry.kind in ("PUBLICATION TABLE", "PUBLICATION TABLES IN SCHEMA"):
        # An application table in `supabase_realtime` stays: `postgres` owns that publication.
        publication = entry.tag.split(" ", 1)[0]
        if publication != "supabase_realtime" and _is_realtime_publication(publication):
            return "platform publication"
    if entry.kind in _ABOUT and entry.schema is None:
        kind, name = _about(entry)
        if kind == "EXTENSION":
            return "extension comment"
        if kind == "SCHEMA" and is_internal_schema(name):
            return "platform schema"
        if kind in ("EVENT TRIGGER", "DATABASE") or (kind == "PUBLICATION" and _is_realtime_publication(name)):
            return "platform object"
    if entry.schema is not None and is_internal_schema(entry.schema):
        return "platform object"
    return None


def fk_order(tables: Iterable[str], foreign_keys: Iterable[tuple[str, str]]) -> list[str]:
    """`tables` with every parent before its children (foreign keys among them), else in name order.

    A cycle (or a self-reference) cannot be ordered: its tables keep name order, and a row that needs a
    later one fails, named, like any other error."""
    pending = sorted(set(tables))
    parents = {t: {p for c, p in foreign_keys if c == t and p != t and p in pending} for t in pending}
    ordered: list[str] = []
    while pending:
        ready = [t for t in pending if not (parents[t] - set(ordered))] or pending[:1]
        ordered.append(ready[0])
        pending.remove(ready[0])
    return ordered


def plan_supabase_restore(entries: list[TocEntry], facts: TargetFacts) -> SupabasePlan:
    """Split a full archive's entries for a restore into a new Supabase project (see the module docstring)."""
    plan = SupabasePlan(app=[], platform_data=[], skipped=[], not_restored=[], refusals=[])
    if not {"auth", "storage"} <= facts.schemas:
        plan.refusals.append("it has no auth and storage schemas: not a Supabase project (restore without the shape)")
    if facts.app_tables:
        sample = ", ".join(facts.app_tables[:3])
        plan.refusals.append(
            f"its application schemas hold {len(facts.app_tables)} tables (e.g. {sample}): restore into a new project"
        )
    data: dict[str, TocEntry] = {}
    sequences: list[TocEntry] = []
    for entry in entries:
        schema = entry.schema or ""
        if entry.kind == "EXTENSION" and entry.tag not in facts.extensions:
            plan.refusals.append(
                f"extension {entry.tag} is not enabled in the target: enable it in the project first "
                f"(Database → Extensions; a drill: --extension {entry.tag})"
            )
            continue
        # `public` is in every database; pg_dump never creates it (before PostgreSQL 15 its entry is a comment).
        if entry.kind == "SCHEMA" and not is_internal_schema(entry.tag) and entry.tag in facts.schemas - {"public"}:
            plan.refusals.append(f"schema {entry.tag} exists already in the target")
            continue
        if schema in DATA_SCHEMAS and entry.kind in ("TABLE DATA", "SEQUENCE SET", "TRIGGER", "POLICY", "INDEX"):
            name = f"{schema}.{entry.tag}"
            if entry.kind == "TABLE DATA" and (schema, entry.tag) in EXCLUDED_DATA_TABLES:
                plan.skipped.append((entry, "platform migration history"))
            elif entry.kind == "TABLE DATA" and name not in facts.platform_tables:
                plan.refusals.append(f"the dump holds rows of {name}, which the target lacks")
            elif entry.kind == "TABLE DATA" and name in facts.filled_tables:
                plan.refusals.append(f"{name} holds rows already in the target")
            elif entry.kind == "TABLE DATA":
                data[name] = entry
            elif entry.kind == "SEQUENCE SET" and name in facts.platform_sequences:
                sequences.append(entry)
            elif entry.kind == "SEQUENCE SET":
                plan.skipped.append((entry, "platform sequence the target lacks"))
            elif (schema, entry.tag) in facts.indexes or (schema, *_on_table(entry)) in facts.triggers | facts.policies:
                plan.skipped.append((entry, "platform object"))
            elif entry.kind == "TRIGGER" and f"{schema}.{_on_table(entry)[0]}" in facts.platform_tables:
                plan.app.append(entry)  # the application's trigger on a platform table: TRIGGER privilege suffices
            else:
                # Creating an index or a policy on a platform table takes its owner (or supautils).
                table, name = ("", entry.tag) if entry.kind == "INDEX" else _on_table(entry)
                what = f"{schema}.{name}" if entry.kind == "INDEX" else f"{name!r} on {schema}.{table}"
                plan.skipped.append((entry, "application object on a platform table"))
                plan.not_restored.append(f"{entry.kind.lower()} {what}: re-create it in the new project")
            continue
        reason = _skip_reason(entry, facts)
        if reason is None:
            plan.app.append(entry)
        else:
            plan.skipped.append((entry, reason))
    plan.platform_data = [data[name] for name in fk_order(data, facts.foreign_keys)] + sequences
    return plan


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
