"""`restore db --target-shape supabase`: a full dump restored into a new Supabase project, application only.

`ops.backup.toc` decides which entries go in; this module reads the target and runs pg_restore on the
verified local copy of the archive (both layouts: `pg_restore --list`/`--use-list` needs random
access, so a single-stream backup is decompressed to the scratch directory first), in three passes,
each with `--exit-on-error`, each error naming its entry:

1. the application's schema objects (`--section=pre-data`, one transaction);
2. the rows of the `auth`/`storage` tables, parents before children (the project's foreign keys are
   live), one transaction, one job;
3. the application's rows, then its indexes, constraints, triggers and policies
   (`--section=data --section=post-data`, `--jobs N` for a directory-layout backup).

Never `--clean`: nothing of the project is dropped. The target is read first and refused (exit 2,
nothing written) unless it is a new project's database (`ops.backup.toc.plan_supabase_restore`).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from typing import Any

import psycopg
from psycopg import sql

from ops.backup.errors import BackupError, UsageError
from ops.backup.postgres import connect, describe_dsn, pg_env, run_pg_restore, sql_errors, user_tables
from ops.backup.toc import (
    DATA_SCHEMAS,
    SupabasePlan,
    TargetFacts,
    TocEntry,
    is_internal_schema,
    parse_toc,
    plan_supabase_restore,
)

__all__ = ["SupabaseRestore", "check_supabase_target", "read_target_facts", "restore_into_supabase"]

_PLATFORM_RELATIONS_SQL = """
SELECT n.nspname, c.relname, c.relkind,
       c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, 'SELECT') AS readable
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('r', 'p', 'S')
"""
_PLATFORM_TRIGGERS_SQL = """
SELECT n.nspname, c.relname, t.tgname
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND n.nspname = ANY(%(schemas)s)
"""
_PLATFORM_POLICIES_SQL = "SELECT schemaname, tablename, policyname FROM pg_policies WHERE schemaname = ANY(%(schemas)s)"
_PLATFORM_INDEXES_SQL = "SELECT schemaname, indexname FROM pg_indexes WHERE schemaname = ANY(%(schemas)s)"
_PLATFORM_FOREIGN_KEYS_SQL = """
SELECT cn.nspname || '.' || c.relname, pn.nspname || '.' || p.relname
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE k.contype = 'f' AND cn.nspname = ANY(%(schemas)s) AND pn.nspname = ANY(%(schemas)s)
"""


def read_target_facts(conn: psycopg.Connection[Any]) -> TargetFacts:
    """What `plan_supabase_restore` needs to know of the target, read as the restoring role."""
    params = {"schemas": list(DATA_SCHEMAS)}
    row = conn.execute("SELECT current_user").fetchone()
    schemas = frozenset(str(r[0]) for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall())
    tables: set[str] = set()
    sequences: set[str] = set()
    filled: set[str] = set()
    for schema, name, kind, readable in conn.execute(_PLATFORM_RELATIONS_SQL, params).fetchall():
        qualified = f"{schema}.{name}"
        if kind == "S":
            sequences.add(qualified)
            continue
        tables.add(qualified)
        query = sql.SQL("SELECT EXISTS (SELECT FROM {}.{})").format(sql.Identifier(schema), sql.Identifier(name))
        if readable and (has_rows := conn.execute(query).fetchone()) and has_rows[0]:
            filled.add(qualified)
    return TargetFacts(
        role=str(row[0]) if row else "",
        schemas=schemas,
        extensions=frozenset(str(r[0]) for r in conn.execute("SELECT extname FROM pg_extension").fetchall()),
        member_of=frozenset(
            str(r[0])
            for r in conn.execute(
                "SELECT rolname FROM pg_roles "
                "WHERE rolname <> current_user AND pg_has_role(current_user, oid, 'MEMBER')"
            ).fetchall()
        ),
        app_tables=tuple(f"{s}.{n}" for s, n, _, _ in user_tables(conn) if not is_internal_schema(s)),
        platform_tables=frozenset(tables),
        filled_tables=frozenset(filled),
        platform_sequences=frozenset(sequences),
        triggers=frozenset((str(s), str(t), str(n)) for s, t, n in conn.execute(_PLATFORM_TRIGGERS_SQL, params)),
        policies=frozenset((str(s), str(t), str(n)) for s, t, n in conn.execute(_PLATFORM_POLICIES_SQL, params)),
        indexes=frozenset((str(s), str(n)) for s, n in conn.execute(_PLATFORM_INDEXES_SQL, params)),
        foreign_keys=frozenset((str(c), str(p)) for c, p in conn.execute(_PLATFORM_FOREIGN_KEYS_SQL, params)),
    )


def _refuse(target_url: str, refusals: list[str]) -> UsageError:
    return UsageError(
        f"refusing to restore into {describe_dsn(target_url)} (--target-shape supabase): "
        + "; ".join(refusals)
        + " (nothing was written)"
    )


def check_supabase_target(target_url: str) -> None:
    """Refuse, before any download, a target that is no Supabase project or whose application schemas hold tables."""
    with connect(target_url) as conn, sql_errors("reading the target", target_url):
        facts = read_target_facts(conn)
    refusals = plan_supabase_restore([], facts).refusals
    if refusals:
        raise _refuse(target_url, refusals)


@dataclasses.dataclass
class SupabaseRestore:
    restored_entries: int
    platform_tables: list[str]  # the auth/storage tables whose rows were loaded, in load order
    skipped: dict[str, int]  # reason -> entries left out
    not_restored: list[str]


def _list_entries(pg_restore: str, archive: str) -> list[TocEntry]:
    proc = subprocess.run(
        [pg_restore, "--list", archive], stdin=subprocess.DEVNULL, capture_output=True, env=pg_env(None), check=False
    )
    if proc.returncode != 0:
        raise BackupError(f"pg_restore --list failed with exit code {proc.returncode}: {proc.stderr.decode().strip()}")
    return parse_toc(proc.stdout.decode("utf-8", "replace"))


def _write_list(path: str, entries: list[TocEntry]) -> str:
    with open(path, "w") as fh:
        fh.writelines(entry.line + "\n" for entry in entries)
    return path


def restore_into_supabase(
    pg_restore: str,
    archive: str,
    archive_format: str,
    workdir: str,
    target_url: str,
    conninfo: str,
    password: str | None,
    jobs: int,
    no_acl: bool = False,
) -> SupabaseRestore:
    """Restore the application of the local `archive` ("custom" or "directory") into a new project's database."""
    entries = _list_entries(pg_restore, archive)
    with connect(target_url) as conn, sql_errors("reading the target", target_url):
        facts = read_target_facts(conn)
    plan: SupabasePlan = plan_supabase_restore(entries, facts)
    if plan.refusals:
        raise _refuse(target_url, plan.refusals)
    app_list = _write_list(os.path.join(workdir, "application.list"), plan.app)
    data_list = _write_list(os.path.join(workdir, "platform-data.list"), plan.platform_data)
    base = [pg_restore, "--no-owner", "--exit-on-error", "--no-password", "--verbose", f"--dbname={conninfo}"]
    base.append(f"--format={archive_format}")
    if no_acl:
        base.append("--no-acl")
    where = describe_dsn(target_url)
    run_pg_restore(
        [*base, "--single-transaction", "--section=pre-data", f"--use-list={app_list}", archive],
        target_url,
        password,
        f"pg_restore of the application's schema into {where}",
    )
    if plan.platform_data:
        run_pg_restore(
            [*base, "--single-transaction", f"--use-list={data_list}", archive],
            target_url,
            password,
            f"pg_restore of the auth and storage rows into {where}",
        )
    parallel = [f"--jobs={jobs}"] if archive_format == "directory" and jobs > 1 else []
    run_pg_restore(
        [*base, *parallel, "--section=data", "--section=post-data", f"--use-list={app_list}", archive],
        target_url,
        password,
        f"pg_restore of the application's rows and indexes into {where}",
    )
    return SupabaseRestore(
        restored_entries=len(plan.app) + len(plan.platform_data),
        platform_tables=[f"{e.schema}.{e.tag}" for e in plan.platform_data if e.kind == "TABLE DATA"],
        skipped=plan.skipped_counts(),
        not_restored=plan.not_restored,
    )
