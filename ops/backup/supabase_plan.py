"""Which entries of a full archive a restore into a new Supabase project takes, and in what order.

`plan_supabase_restore` is a pure function of the archive's entries (`ops.backup.toc.parse_toc`),
what the archive says beyond its list (`ArchiveFacts`: the manifest's row counts, the SQL of the
entries `entries_to_render` names) and what the target holds (`TargetFacts`). Its rules follow
Supabase's own route, `supabase db dump` (supabase/cli v2.104.0 ``pkg/migration/dump.go``,
``scripts/dump_schema.sh``, ``scripts/dump_data.sh``):

- out: every entry in Supabase's internal schemas (``INTERNAL_SCHEMAS``) and on them (their ACLs,
  comments), event triggers, the ``supabase_realtime*`` publications, ``COMMENT ON EXTENSION``,
  privileges on foreign data wrappers (dump_schema.sh comments them out), default privileges of roles
  the restoring one is no member of, extensions the target has already in the same schema, and the
  platform's own triggers and indexes on the ``auth``/``storage`` tables (a trigger is the platform's
  when its function lives in ``auth`` or ``storage``, where `postgres` may not create one:
  supabase/postgres 20250421084701_revoke_admin_roles_from_postgres.sql);
- kept: the application's own schemas, whole; the rows of the ``auth``, ``storage`` and
  ``supabase_functions`` tables (dump_data.sh: "Data dump includes auth, storage, etc. for migrating to
  new project") that held rows at backup time, minus the migration tables; the application's triggers
  on those tables; its tables in ``supabase_realtime`` (`postgres` owns the publication); its policies
  on the tables of supautils' ``policy_grants`` (``POLICY_GRANTS``), in a last pass of their own;
- refused before anything is written (named): a target whose application schemas hold tables, a
  schema the dump creates that exists already, an extension the target has not enabled in the schema
  the dump has it in, a platform table the dump has rows of that the target lacks or already fills;
- reported, not restored: the application's indexes and other policies on platform tables, schemas
  added to a publication whole (``TABLES IN SCHEMA`` takes a superuser), and the rows of internal
  schemas the manifest says were not empty (e.g. a schema ``timescaledb_reports``, which Supabase's
  pattern ``timescaledb_*`` leaves out).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from ops.backup.toc import (
    ABOUT_KINDS,
    DATA_SCHEMAS,
    DERIVED_DATA_TABLES,
    ENTRY_KINDS,
    EXCLUDED_DATA_TABLES,
    TocEntry,
    is_internal_schema,
    keeps_table,
)

__all__ = [
    "POLICY_GRANTS",
    "ArchiveFacts",
    "SupabasePlan",
    "TargetFacts",
    "entries_to_render",
    "extension_schema",
    "fk_order",
    "index_definition",
    "plan_supabase_restore",
    "trigger_function_schema",
]

# supabase/postgres ansible/files/postgresql_config/supautils.conf.j2, `supautils.policy_grants`:
# the platform tables on which Supabase's `postgres` may create row-level security policies.
POLICY_GRANTS = frozenset(
    {
        "auth.audit_log_entries",
        "auth.identities",
        "auth.refresh_tokens",
        "auth.sessions",
        "auth.users",
        "realtime.messages",
        "storage.buckets",
        "storage.migrations",
        "storage.objects",
        "storage.s3_multipart_uploads",
        "storage.s3_multipart_uploads_parts",
    }
)
# The schemas of the platform services' own functions (GoTrue, Storage): `postgres` may not create
# functions there (20250421084701 revokes CREATE), so a trigger calling one is the platform's. Functions
# in `extensions` (moddatetime) or `supabase_functions` (Database Webhooks' http_request) are tools an
# application's trigger uses.
PLATFORM_FUNCTION_SCHEMAS = frozenset({"auth", "storage"})


@dataclasses.dataclass(frozen=True)
class TargetFacts:
    """What the target holds, read before anything is written (`ops.backup.supabase_restore`)."""

    role: str
    schemas: frozenset[str]
    # Enabled extensions: name -> schema.
    extensions: Mapping[str, str]
    # The roles `role` is a member of: it may set their default privileges.
    member_of: frozenset[str] = frozenset()
    # Tables of the application schemas: a new project has none.
    app_tables: tuple[str, ...] = ()
    # Tables of DATA_SCHEMAS, and those of them holding rows: "schema.table".
    platform_tables: frozenset[str] = frozenset()
    filled_tables: frozenset[str] = frozenset()
    platform_sequences: frozenset[str] = frozenset()
    # (schema, table, name) of the triggers and policies on tables of DATA_SCHEMAS, (schema, name) of
    # their indexes and the indexes' definitions (`index_definition`): what the platform made.
    triggers: frozenset[tuple[str, str, str]] = frozenset()
    policies: frozenset[tuple[str, str, str]] = frozenset()
    indexes: frozenset[tuple[str, str]] = frozenset()
    index_definitions: frozenset[str] = frozenset()
    # (child "schema.table", parent "schema.table") for foreign keys between DATA_SCHEMAS tables.
    foreign_keys: frozenset[tuple[str, str]] = frozenset()


@dataclasses.dataclass(frozen=True)
class ArchiveFacts:
    """What the archive says beyond its list."""

    # (schema, table) -> rows at backup time: the manifest's exact count, None when it was not counted
    # (a big table). A table not in it: unknown.
    row_counts: Mapping[tuple[str, str], int | None] = dataclasses.field(default_factory=dict)
    # dump id -> the SQL pg_restore renders for the entry (`pg_restore -f -`), for `entries_to_render`.
    sql: Mapping[int, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SupabasePlan:
    app: list[TocEntry]  # archive order: pre-data, then data and post-data with --jobs
    platform_data: list[TocEntry]  # foreign-key order, one transaction, triggers off
    policies: list[TocEntry]  # the application's policies on POLICY_GRANTS tables: last, one at a time
    skipped: list[tuple[TocEntry, str]]
    not_restored: list[str]  # application objects the target cannot take: reported
    refusals: list[str]  # the target is not a new project's: nothing is written

    def skipped_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, reason in self.skipped:
            counts[reason] = counts.get(reason, 0) + 1
        return dict(sorted(counts.items()))


# An SQL identifier as pg_dump writes it: quoted when it must be.
_IDENT = r'(?:"(?:[^"]|"")+"|[^\s."(;]+)'
_TRIGGER_FUNCTION = re.compile(rf"\bEXECUTE (?:FUNCTION|PROCEDURE) (?P<schema>{_IDENT})\.")
_EXTENSION_SCHEMA = re.compile(rf"^CREATE EXTENSION .*? WITH SCHEMA (?P<schema>{_IDENT})", re.M)
_INDEX = re.compile(
    rf"^CREATE (?P<unique>UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?{_IDENT} ON (?P<rest>.+?);?\s*$",
    re.M | re.S,
)


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def trigger_function_schema(sql: str) -> str | None:
    """The schema of the function a rendered CREATE TRIGGER executes (pg_dump qualifies it)."""
    match = _TRIGGER_FUNCTION.search(sql)
    return _unquote(match["schema"]) if match else None


def extension_schema(sql: str) -> str | None:
    """The schema of a rendered ``CREATE EXTENSION … WITH SCHEMA s``."""
    match = _EXTENSION_SCHEMA.search(sql)
    return _unquote(match["schema"]) if match else None


def index_definition(sql: str) -> str | None:
    """An index's definition without its name ("UNIQUE ON storage.objects USING btree (…)"), from
    pg_dump's CREATE INDEX or `pg_indexes.indexdef`: two indexes with equal ones are the same index."""
    for line in sql.splitlines():
        match = _INDEX.match(line)
        if match:
            return f"{match['unique'] or ''}ON {match['rest'].strip()}"
    return None


def _about(entry: TocEntry) -> tuple[str, str]:
    """("SCHEMA", "auth") for the ACL or comment of schema auth; ("TABLE", "users") for a table's."""
    for kind in ENTRY_KINDS:
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


def entries_to_render(entries: Iterable[TocEntry], facts: TargetFacts) -> list[TocEntry]:
    """The entries whose SQL the plan reads (`ArchiveFacts.sql`): extensions (their schema), and the
    triggers and indexes on platform tables that the target has under no such name (who made them)."""
    wanted = []
    for entry in entries:
        if entry.kind == "EXTENSION":
            wanted.append(entry)
        elif entry.schema in DATA_SCHEMAS and entry.kind == "TRIGGER":
            if (entry.schema, *_on_table(entry)) not in facts.triggers:
                wanted.append(entry)
        elif entry.schema in DATA_SCHEMAS and entry.kind == "INDEX" and (entry.schema, entry.tag) not in facts.indexes:
            wanted.append(entry)
    return wanted


def _skip_reason(entry: TocEntry, facts: TargetFacts) -> str | None:
    """Why the entry stays out (None: it is restored). Platform data, triggers, policies, extensions are
    decided by the caller."""
    if entry.kind in ("DATABASE", "DATABASE PROPERTIES"):
        return "database properties"
    if entry.kind == "EVENT TRIGGER":
        return "event trigger (superuser only)"
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
    if entry.kind in ABOUT_KINDS and entry.schema is None:
        kind, name = _about(entry)
        if kind == "EXTENSION":
            return "extension comment"
        if kind == "SCHEMA" and is_internal_schema(name):
            return "platform schema"
        if kind in ("EVENT TRIGGER", "DATABASE") or (kind == "PUBLICATION" and _is_realtime_publication(name)):
            return "platform object"
        if entry.kind == "ACL" and kind == "FOREIGN DATA WRAPPER":
            # dump_schema.sh: "do not alter foreign data wrappers owner" and the GRANT ALL … TO "postgres"
            # WITH GRANT OPTION the platform gives itself.
            return "foreign data wrapper privileges"
    if entry.schema is not None and is_internal_schema(entry.schema):
        return "platform object"
    return None


def fk_order(tables: Iterable[str], foreign_keys: Iterable[tuple[str, str]]) -> list[str]:
    """`tables` with every parent before its children (foreign keys among them), else in name order.

    A cycle (or a self-reference) cannot be ordered: its tables keep name order."""
    pending = sorted(set(tables))
    parents = {t: {p for c, p in foreign_keys if c == t and p != t and p in pending} for t in pending}
    ordered: list[str] = []
    while pending:
        ready = [t for t in pending if not (parents[t] - set(ordered))] or pending[:1]
        ordered.append(ready[0])
        pending.remove(ready[0])
    return ordered


def _rows(archive: ArchiveFacts, schema: str, table: str) -> str:
    if (schema, table) not in archive.row_counts:
        return "rows unknown: not in the manifest"
    count = archive.row_counts[(schema, table)]
    return "not counted at backup time" if count is None else f"{count} row{'s' * (count != 1)}"


def _extension(entry: TocEntry, facts: TargetFacts, archive: ArchiveFacts, plan: SupabasePlan) -> None:
    wanted = extension_schema(archive.sql.get(entry.dump_id, ""))
    enabled = facts.extensions.get(entry.tag)
    flag = f"--extension {entry.tag}" + (f":{wanted}" if wanted and wanted != "extensions" else "")
    where = f" in schema {wanted}" if wanted else ""
    if enabled is None:
        plan.refusals.append(
            f"extension {entry.tag} is not enabled in the target: enable {entry.tag}{where} first "
            f"(Database → Extensions; a drill: {flag})"
        )
    elif wanted is not None and wanted != enabled:
        plan.refusals.append(
            f"extension {entry.tag} is enabled in schema {enabled} in the target but in schema {wanted} in the "
            f"dump (the application's objects name {wanted}.…): disable it and enable {entry.tag} in schema "
            f"{wanted} (a drill: {flag})"
        )
    else:
        plan.skipped.append((entry, "extension enabled in the target"))


def _platform_entry(
    entry: TocEntry, facts: TargetFacts, archive: ArchiveFacts, plan: SupabasePlan, data: dict[str, TocEntry]
) -> None:
    """An entry of kind TABLE DATA, SEQUENCE SET, TRIGGER, POLICY or INDEX in one of DATA_SCHEMAS."""
    schema = entry.schema or ""
    name = f"{schema}.{entry.tag}"
    if entry.kind == "TABLE DATA":
        if (schema, entry.tag) in EXCLUDED_DATA_TABLES:
            plan.skipped.append((entry, "platform migration history"))
        elif archive.row_counts.get((schema, entry.tag), -1) == 0:
            # pg_dump writes a TABLE DATA entry for every table, empty ones too: nothing to load.
            plan.skipped.append((entry, "platform table empty at backup time"))
        elif name not in facts.platform_tables and (schema, entry.tag) in DERIVED_DATA_TABLES:
            plan.skipped.append((entry, "derived platform table the target's version dropped"))
            plan.not_restored.append(
                f"rows of {name} ({_rows(archive, schema, entry.tag)}): the target's Storage version has no such "
                "table (it derives folders from storage.objects' names)"
            )
        elif name not in facts.platform_tables:
            plan.refusals.append(
                f"the dump has table {name} ({_rows(archive, schema, entry.tag)}), which the target lacks"
            )
        elif name in facts.filled_tables:
            plan.refusals.append(f"{name} holds rows already in the target")
        else:
            data[name] = entry
        return
    if entry.kind == "SEQUENCE SET":
        if name in facts.platform_sequences:
            plan.platform_data.append(entry)
        else:
            plan.skipped.append((entry, "platform sequence the target lacks"))
        return
    if entry.kind == "INDEX":
        definition = index_definition(archive.sql.get(entry.dump_id, ""))
        if (schema, entry.tag) in facts.indexes or (definition and definition in facts.index_definitions):
            plan.skipped.append((entry, "platform object"))
        else:
            # Creating an index on a platform table takes its owner. It may also be one the project's newer
            # platform version dropped on purpose (storage 0064-drop-bucketid-objname-index.sql).
            plan.skipped.append((entry, "index on a platform table"))
            plan.not_restored.append(
                f"index {name} ({definition or 'definition not read'}): the target has no index with this "
                "definition; if the application made it, re-create it in the new project"
            )
        return
    table, own = _on_table(entry)
    if (schema, table, own) in facts.triggers | facts.policies:
        plan.skipped.append((entry, "platform object"))
    elif entry.kind == "TRIGGER":
        function_schema = trigger_function_schema(archive.sql.get(entry.dump_id, ""))
        if function_schema in PLATFORM_FUNCTION_SCHEMAS:
            # A trigger of the old project's GoTrue/Storage version that the new project's has not.
            plan.skipped.append((entry, "platform object"))
        elif f"{schema}.{table}" in facts.platform_tables:
            plan.app.append(entry)  # the application's trigger on a platform table: TRIGGER privilege suffices
        else:
            plan.skipped.append((entry, "application object on a platform table"))
            plan.not_restored.append(f"trigger {own!r} on {schema}.{table}: the target lacks the table")
    else:
        plan.skipped.append((entry, "application object on a platform table"))
        plan.not_restored.append(
            f"policy {own!r} on {schema}.{table}: only the table's owner may create it: re-create it in the new project"
        )


def _internal_rows(archive: ArchiveFacts) -> list[str]:
    """Internal schemas (other than the loaded tables) whose tables held rows at backup time."""
    held: dict[str, list[str]] = {}
    for (schema, table), count in sorted(archive.row_counts.items()):
        if (
            is_internal_schema(schema)
            and not keeps_table(schema, table)
            and (schema, table) not in EXCLUDED_DATA_TABLES
        ) and (count is None or count > 0):
            held.setdefault(schema, []).append(f"{table} ({_rows(archive, schema, table)})")
    return [
        f"rows of schema {schema}, a Supabase internal schema by name (supabase/cli dump.go InternalSchemas): "
        f"{', '.join(tables)}; move the application's own data out of it, or re-create it in the new project"
        for schema, tables in held.items()
    ]


def plan_supabase_restore(
    entries: list[TocEntry], facts: TargetFacts, archive: ArchiveFacts | None = None
) -> SupabasePlan:
    """Split a full archive's entries for a restore into a new Supabase project (see the module docstring)."""
    archive = archive or ArchiveFacts()
    plan = SupabasePlan(app=[], platform_data=[], policies=[], skipped=[], not_restored=[], refusals=[])
    if not {"auth", "storage"} <= facts.schemas:
        plan.refusals.append("it has no auth and storage schemas: not a Supabase project (restore without the shape)")
    if facts.app_tables:
        sample = ", ".join(facts.app_tables[:3])
        plan.refusals.append(
            f"its application schemas hold {len(facts.app_tables)} tables (e.g. {sample}): restore into a new project"
        )
    data: dict[str, TocEntry] = {}
    for entry in entries:
        schema = entry.schema or ""
        if entry.kind == "EXTENSION":
            _extension(entry, facts, archive, plan)
        # `public` is in every database; pg_dump never creates it (before PostgreSQL 15 its entry is a comment).
        elif entry.kind == "SCHEMA" and not is_internal_schema(entry.tag) and entry.tag in facts.schemas - {"public"}:
            plan.refusals.append(f"schema {entry.tag} exists already in the target")
        elif entry.kind == "POLICY" and f"{schema}.{_on_table(entry)[0]}" in POLICY_GRANTS:
            if (schema, *_on_table(entry)) in facts.policies:
                plan.skipped.append((entry, "platform object"))
            else:
                plan.policies.append(entry)
        elif schema in DATA_SCHEMAS and entry.kind in ("TABLE DATA", "SEQUENCE SET", "TRIGGER", "POLICY", "INDEX"):
            _platform_entry(entry, facts, archive, plan, data)
        elif entry.kind == "PUBLICATION TABLES IN SCHEMA" and _skip_reason(entry, facts) is None:
            # PostgreSQL 15: "must be superuser to add or set schemas" (supabase/cli leaves it to fail).
            publication, _, added = entry.tag.partition(" ")
            plan.skipped.append((entry, "publication of a whole schema (superuser only)"))
            plan.not_restored.append(
                f"publication {publication}: TABLES IN SCHEMA {added} takes a superuser: add the schema's tables "
                f"one by one in the new project (ALTER PUBLICATION {publication} ADD TABLE …)"
            )
        elif (reason := _skip_reason(entry, facts)) is None:
            plan.app.append(entry)
        else:
            plan.skipped.append((entry, reason))
            if reason == "foreign data wrapper privileges":
                plan.not_restored.append(
                    f"privileges on {_about(entry)[0].lower()} {_about(entry)[1]}: re-grant them in the new "
                    "project if the application granted any (the platform's own grant to postgres is there)"
                )
    sequences = [e for e in plan.platform_data if e.kind == "SEQUENCE SET"]
    plan.platform_data = [data[name] for name in fk_order(data, facts.foreign_keys)] + sequences
    plan.not_restored += _internal_rows(archive)
    return plan
