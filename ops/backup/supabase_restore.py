"""`restore db --target-shape supabase`: a full dump restored into a new Supabase project, application only.

`ops.backup.supabase_plan` decides which entries go in; this module reads the target and runs pg_restore
on the verified local copy of the archive (both layouts: `pg_restore --list`/`--use-list` needs random
access, so a single-stream backup is decompressed to the scratch directory first), in four passes,
each stopping at its first error and naming the entry:

1. the application's schema objects (`--section=pre-data`, one transaction);
2. the rows of the `auth`/`storage` tables, one transaction, as Supabase's own data restore loads them:
   under ``SET session_replication_role = replica`` (supabase/cli v2.104.0 ``scripts/dump_data.sh``),
   so the platform's triggers do not fire on rows that already hold what they would write; `postgres`
   may set it on Supabase (supabase/postgres ``supautils.conf.j2``, ``privileged_role_allowed_configs``).
   pg_restore renders the rows (`-f -`) into `psql --single-transaction -v ON_ERROR_STOP=1`, since
   pg_restore itself cannot run a statement first. Parents still load before children: a safety net;
3. the application's rows, then its indexes, constraints, triggers and policies
   (`--section=data --section=post-data`, `--jobs N` for a directory-layout backup);
4. the application's policies on the tables of supautils' ``policy_grants``, one entry at a time:
   Supabase lets `postgres` create them, a target without supautils does not. Each failure is reported
   by name and its SQL written to a file (named in the report), to paste into the new project.

Never `--clean`: nothing of the project is dropped. The target is read first and refused (exit 2,
nothing written) unless it is a new project's database (`ops.backup.supabase_plan.plan_supabase_restore`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import sql

from ops.backup.errors import BackupError, TargetRefusedError, UsageError
from ops.backup.postgres import (
    StderrTail,
    connect,
    describe_dsn,
    pg_env,
    redact,
    run_pg_restore,
    sql_errors,
    stop,
    user_tables,
)
from ops.backup.supabase_plan import (
    ArchiveFacts,
    SupabasePlan,
    TargetFacts,
    entries_to_render,
    index_definition,
    plan_supabase_restore,
)
from ops.backup.toc import DATA_SCHEMAS, TocEntry, failed_entry, is_internal_schema, parse_toc

__all__ = [
    "SupabaseRestore",
    "check_supabase_target",
    "list_entries",
    "read_target_facts",
    "render_entries",
    "restore_into_supabase",
]

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
_PLATFORM_INDEXES_SQL = "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname = ANY(%(schemas)s)"
_PLATFORM_FOREIGN_KEYS_SQL = """
SELECT cn.nspname || '.' || c.relname, pn.nspname || '.' || p.relname
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE k.contype = 'f' AND cn.nspname = ANY(%(schemas)s) AND pn.nspname = ANY(%(schemas)s)
"""
_EXTENSIONS_SQL = "SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"


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
    indexes = conn.execute(_PLATFORM_INDEXES_SQL, params).fetchall()
    return TargetFacts(
        role=str(row[0]) if row else "",
        schemas=schemas,
        extensions={str(name): str(schema) for name, schema in conn.execute(_EXTENSIONS_SQL).fetchall()},
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
        indexes=frozenset((str(s), str(n)) for s, n, _ in indexes),
        index_definitions=frozenset(d for _, _, text in indexes if (d := index_definition(str(text)))),
        foreign_keys=frozenset((str(c), str(p)) for c, p in conn.execute(_PLATFORM_FOREIGN_KEYS_SQL, params)),
    )


def _refuse(target_url: str, refusals: list[str]) -> TargetRefusedError:
    return TargetRefusedError(
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
    policies: list[str] = dataclasses.field(default_factory=list)  # pass 4: created on platform tables
    # The SQL of the policies pass 4 could not create, to paste into the new project (None: none failed).
    policies_sql: str | None = None


def list_entries(pg_restore: str, archive: str) -> list[TocEntry]:
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


_RENDERED_ENTRY = re.compile(r"^-- TOC entry (\d+) \(class", re.M)
# pg_dump 15.14+ brackets its output with psql's \restrict; dump_schema.sh comments those lines out.
_RESTRICT = re.compile(r"^\\(un)?restrict .*$", re.M)


def render_entries(
    pg_restore: str, archive: str, archive_format: str, entries: list[TocEntry], workdir: str
) -> dict[int, str]:
    """The SQL pg_restore writes for each of `entries` (dump id -> text), read without a database."""
    if not entries:
        return {}
    listing = _write_list(os.path.join(workdir, f"render-{entries[0].dump_id}.list"), entries)
    proc = subprocess.run(
        [pg_restore, "--verbose", f"--format={archive_format}", f"--use-list={listing}", "--file=-", archive],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=pg_env(None),
        check=False,
    )
    if proc.returncode != 0:
        raise BackupError(f"pg_restore -f - failed with exit code {proc.returncode}: {proc.stderr.decode().strip()}")
    text = _RESTRICT.sub(r"-- \g<0>", proc.stdout.decode("utf-8", "replace"))
    parts = _RENDERED_ENTRY.split(text)
    # [preamble, id, text, id, text, …]
    return {int(parts[i]): "-- TOC entry " + parts[i] + " (class" + parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _psql_beside(pg_restore: str) -> str:
    psql = os.path.join(os.path.dirname(pg_restore), "psql")
    if not os.access(psql, os.X_OK):
        raise UsageError(f"psql not found beside {pg_restore}: install the PostgreSQL client (it has both)")
    return psql


_PSQL_LINE = re.compile(r"^psql:<stdin>:(?P<line>\d+): (?P<error>.+)$", re.M)


def _entry_at_line(render: list[str], line: int, by_id: Mapping[int, TocEntry]) -> TocEntry | None:
    """The entry whose rendered SQL holds `line` of pg_restore's output (psql counts from 1)."""
    proc = subprocess.Popen(render, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    found: TocEntry | None = None
    in_copy = False
    try:
        for number, raw in enumerate(proc.stdout, start=1):
            if number > line:
                break
            if in_copy:
                in_copy = raw != b"\\.\n"
            elif raw.startswith(b"COPY ") and raw.rstrip().endswith(b"FROM stdin;"):
                in_copy = True
            elif match := _RENDERED_ENTRY.match(raw.decode("utf-8", "replace")):
                found = by_id.get(int(match[1]), found)
    finally:
        stop(proc)
    return found


def _load_platform_rows(
    pg_restore: str,
    archive: str,
    archive_format: str,
    data_list: str,
    entries: list[TocEntry],
    conninfo: str,
    password: str | None,
    target_url: str,
) -> None:
    """Pass 2: pg_restore -f - | psql, triggers off, one transaction (see the module docstring)."""
    what = f"loading the auth and storage rows into {describe_dsn(target_url)}"
    render = [pg_restore, "--verbose", f"--format={archive_format}", f"--use-list={data_list}", "--file=-", archive]
    psql = [
        _psql_beside(pg_restore),
        "--no-psqlrc",
        "--quiet",
        "--no-password",
        "--set=ON_ERROR_STOP=1",
        "--single-transaction",
        "--command=SET session_replication_role = replica",
        "--file=-",
        f"--dbname={conninfo}",
    ]
    env = pg_env(password)
    restore = subprocess.Popen(
        render, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert restore.stdout is not None and restore.stderr is not None
    restore_err = StderrTail(restore.stderr, (target_url, password))
    try:
        loader = subprocess.run(
            psql, stdin=restore.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False
        )
    except BaseException:
        stop(restore)
        raise
    finally:
        # psql has its own copy; once it exits, pg_restore's writes fail and it ends.
        restore.stdout.close()
    rendered = restore.wait()
    if loader.returncode != 0:
        stderr = redact(loader.stderr.decode("utf-8", "replace"), target_url, password).strip()
        match = _PSQL_LINE.search(stderr)
        entry = _entry_at_line(render, int(match["line"]), {e.dump_id: e for e in entries}) if match else None
        at = f" at TOC entry {entry.line}" if entry else ""
        first = match["error"] if match else (stderr.splitlines() or [""])[0]
        raise BackupError(f"{what} failed{at}: {first}\n{stderr}")
    if rendered != 0:
        raise BackupError(f"{what}: pg_restore -f - failed with exit code {rendered}:\n{restore_err.text()}")


def _create_policies(
    base: list[str],
    pg_restore: str,
    archive: str,
    archive_format: str,
    policies: list[TocEntry],
    workdir: str,
    report_dir: str,
    target_url: str,
    password: str | None,
) -> tuple[list[str], list[str], str | None]:
    """Pass 4: each policy on a `policy_grants` table on its own; (created, failures, SQL file of the failed)."""
    created: list[str] = []
    failures: list[str] = []
    failed: list[TocEntry] = []
    for entry in policies:
        table, _, name = entry.tag.partition(" ")
        label = f"policy {name!r} on {entry.schema}.{table}"
        listing = _write_list(os.path.join(workdir, f"policy-{entry.dump_id}.list"), [entry])
        proc = subprocess.run(
            [*base, "--single-transaction", f"--use-list={listing}", archive],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=pg_env(password),
            check=False,
        )
        if proc.returncode == 0:
            created.append(label)
            continue
        stderr = redact(proc.stderr.decode("utf-8", "replace"), target_url, password)
        at = failed_entry(stderr) or stderr.strip().splitlines()[-1]
        failures.append(f"{label}: {at.partition(': ')[2] or at}")
        failed.append(entry)
    if not failed:
        return created, failures, None
    rendered = render_entries(pg_restore, archive, archive_format, failed, workdir)
    fd, path = tempfile.mkstemp(prefix="chefchatz-supabase-policies-", suffix=".sql", dir=report_dir)
    with os.fdopen(fd, "w") as out:
        out.write("-- Policies the restore could not create: run as postgres in the new project's SQL editor.\n\n")
        out.writelines(rendered[e.dump_id].strip() + "\n\n" for e in failed if e.dump_id in rendered)
    return created, [f"{f}; its SQL, to run in the new project: {path}" for f in failures], path


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
    row_counts: Mapping[tuple[str, str], int | None] | None = None,
    report_dir: str | None = None,
) -> SupabaseRestore:
    """Restore the application of the local `archive` ("custom" or "directory") into a new project's database.

    `row_counts`: the manifest's rows per table at backup time (empty platform tables are not loaded);
    `report_dir`: where the SQL of policies pass 4 could not create is written (default: the system's
    temporary directory)."""
    entries = list_entries(pg_restore, archive)
    with connect(target_url) as conn, sql_errors("reading the target", target_url):
        facts = read_target_facts(conn)
    rendered = render_entries(pg_restore, archive, archive_format, entries_to_render(entries, facts), workdir)
    plan: SupabasePlan = plan_supabase_restore(entries, facts, ArchiveFacts(row_counts or {}, rendered))
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
        _load_platform_rows(
            pg_restore, archive, archive_format, data_list, plan.platform_data, conninfo, password, target_url
        )
    parallel = [f"--jobs={jobs}"] if archive_format == "directory" and jobs > 1 else []
    run_pg_restore(
        [*base, *parallel, "--section=data", "--section=post-data", f"--use-list={app_list}", archive],
        target_url,
        password,
        f"pg_restore of the application's rows and indexes into {where}",
    )
    created, failures, policies_sql = _create_policies(
        base,
        pg_restore,
        archive,
        archive_format,
        plan.policies,
        workdir,
        report_dir or tempfile.gettempdir(),
        target_url,
        password,
    )
    return SupabaseRestore(
        restored_entries=len(plan.app) + len(plan.platform_data) + len(created),
        platform_tables=[f"{e.schema}.{e.tag}" for e in plan.platform_data if e.kind == "TABLE DATA"],
        skipped=plan.skipped_counts(),
        not_restored=plan.not_restored + failures,
        policies=created,
        policies_sql=policies_sql,
    )
