"""`migrate rehearse` applies files as `supabase db push` (CLI v2.104.0) does, on a real PostgreSQL server.

One pgx batch per file (``pkg/migration/file.go``), ``RESET ALL`` before each (``apply.go``), the
CLI's statement splitter (``pkg/parser``), and Supabase's `postgres` role, which is not a superuser.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from ops.migrate.role import MIGRATION_ROLE

from .conftest import CliResult, report_of, write_migrations

Cli = Callable[..., CliResult]

EVENTS_WITH_ROWS = """\
    CREATE TABLE public.events (id bigint PRIMARY KEY, kind text);
    INSERT INTO public.events SELECT g, 'view' FROM generate_series(1, 1000) AS g;
    """


def rehearse(run_cli: Cli, root: Path, scratch_url: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("rehearse", "--migrations", str(root), "--scratch-url", scratch_url, "--json")
    return result.exit_code, report_of(result)


def statuses(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["file"], m["status"]) for m in report["migrations"]]


def query(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def recorded(dsn: str) -> dict[str, list[str]]:
    rows = query(dsn, "SELECT version, statements FROM supabase_migrations.schema_migrations ORDER BY version")
    return {str(version): list(statements) for version, statements in rows}


# ------------------------------------------------------------------------ one batch per file (item 1)


def test_a_file_that_is_one_create_index_concurrently_applies_as_db_push_applies_it(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    root = write_migrations(
        tmp_path,
        {
            "001_events.sql": EVENTS_WITH_ROWS,
            "002_events_kind.sql": "CREATE INDEX CONCURRENTLY events_kind ON public.events (kind);\n",
        },
    )
    code, report = rehearse(run_cli, root, scratch_url)
    assert statuses(report) == [("001_events.sql", "applied"), ("002_events_kind.sql", "applied")], report["problems"]
    assert query(scratch_url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.events_kind'::regclass") == [
        (True,)
    ]
    assert recorded(scratch_url)["002"] == ["CREATE INDEX CONCURRENTLY events_kind ON public.events (kind)"]
    # The index is built without blocking writes: no blocking lock is reported.
    assert report["migrations"][1]["locks"] == []
    # squawk still asks for its own file's lock_timeout etc.; none of its findings is an error.
    assert code == 0, report["problems"]


def test_create_index_concurrently_after_another_statement_fails_and_the_file_rolls_back(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    root = write_migrations(
        tmp_path,
        {
            "001_events.sql": EVENTS_WITH_ROWS,
            "002_tags.sql": """\
                CREATE TABLE public.tags (id bigint PRIMARY KEY, name text);
                CREATE INDEX CONCURRENTLY events_kind ON public.events (kind);
                """,
        },
    )
    code, report = rehearse(run_cli, root, scratch_url)
    assert code == 1
    assert statuses(report) == [("001_events.sql", "applied"), ("002_tags.sql", "failed")]
    error = report["migrations"][1]["error"]
    # 25001 active_sql_transaction: "... cannot be executed within a pipeline" (the server's words vary by minor).
    assert (error["statement"], error["sqlstate"]) == (2, "25001"), error
    assert query(scratch_url, "SELECT to_regclass('public.tags') IS NULL") == [(True,)]
    assert list(recorded(scratch_url)) == ["001"]


def test_a_statement_that_commits_on_its_own_stays_when_a_later_statement_of_its_file_fails(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    root = write_migrations(
        tmp_path,
        {
            "001_events.sql": EVENTS_WITH_ROWS,
            "002_index_then_error.sql": """\
                CREATE INDEX CONCURRENTLY events_kind ON public.events (kind);
                SELECT 1 / 0;
                """,
        },
    )
    code, report = rehearse(run_cli, root, scratch_url)
    assert code == 1
    assert statuses(report) == [("001_events.sql", "applied"), ("002_index_then_error.sql", "failed")]
    error = report["migrations"][1]["error"]
    assert (error["statement"], error["sqlstate"], error["message"]) == (2, "22012", "division by zero")
    # As under `db push`: the index was committed before the error, the history row was not.
    assert query(scratch_url, "SELECT to_regclass('public.events_kind') IS NOT NULL") == [(True,)]
    assert list(recorded(scratch_url)) == ["001"]


def test_each_statement_of_a_batch_is_timed(tmp_path: Path, scratch_url: str, run_cli: Cli) -> None:
    root = write_migrations(tmp_path, {"001_slow.sql": "SELECT pg_sleep(0.2);\nSELECT 1;\n"})
    code, report = rehearse(run_cli, root, scratch_url)
    assert code == 0, report["problems"]
    (slow,) = report["migrations"]
    assert len(slow["statement_seconds"]) == 2
    assert slow["statement_seconds"][0] >= 0.2 > slow["statement_seconds"][1]
    assert slow["seconds"] >= sum(slow["statement_seconds"])


# --------------------------------------------------------------------------- RESET ALL (item 2)


def test_settings_a_file_changes_are_reset_before_the_next_file(tmp_path: Path, scratch_url: str, run_cli: Cli) -> None:
    root = write_migrations(
        tmp_path,
        {
            # As `supabase db pull` output starts, plus timeouts a careful migration sets.
            "001_pulled.sql": """\
                SELECT pg_catalog.set_config('search_path', '', false);
                SET statement_timeout = '50ms';
                SET lock_timeout = '10ms';
                CREATE TABLE public.profiles (id bigint PRIMARY KEY);
                """,
            "002_unqualified.sql": """\
                CREATE TABLE recipes (id bigint PRIMARY KEY);
                SELECT pg_sleep(0.1);
                DO $$ BEGIN
                  IF current_setting('lock_timeout') <> '0' THEN
                    RAISE EXCEPTION 'lock_timeout leaked: %', current_setting('lock_timeout');
                  END IF;
                END $$;
                """,
        },
    )
    code, report = rehearse(run_cli, root, scratch_url)
    assert statuses(report) == [("001_pulled.sql", "applied"), ("002_unqualified.sql", "applied")], report["problems"]
    assert code == 0
    assert query(scratch_url, "SELECT to_regclass('public.recipes') IS NOT NULL") == [(True,)]


def test_a_file_that_leaves_a_role_set_fails_at_its_own_history_row_as_under_db_push(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    # RESET ALL does not reset the role (PostgreSQL marks "role" GUC_NO_RESET_ALL), and the file's
    # history row is inserted in its batch, after its statements: as the role the file left set.
    owner = f"app_owner_{uuid.uuid4().hex[:8]}"
    root = write_migrations(
        tmp_path,
        {"001_owner.sql": f"CREATE ROLE {owner};\nGRANT {owner} TO current_user;\nSET ROLE {owner};\n"},
    )
    code, report = rehearse(run_cli, root, scratch_url)
    assert code == 1
    error = report["migrations"][0]["error"]
    assert (error["statement"], error["sqlstate"]) == (4, "42501"), error
    assert error["message"] == "permission denied for schema supabase_migrations"
    assert error["sql"].startswith("INSERT INTO supabase_migrations.schema_migrations(version, name, statements)")
    assert query(scratch_url, "SELECT count(*) FROM pg_roles WHERE rolname = %s", owner) == [(0,)]


# ------------------------------------------------------------------ Supabase's postgres role (item 10)


def test_migrations_run_as_a_role_shaped_like_supabases_postgres_which_is_not_a_superuser(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    reader = f"report_reader_{uuid.uuid4().hex[:8]}"
    root = write_migrations(
        tmp_path,
        {
            # What Supabase's postgres may do: create roles, tables, row-level security, trusted extensions.
            "001_schema.sql": f"""\
                CREATE EXTENSION IF NOT EXISTS pgcrypto;
                CREATE ROLE {reader} NOLOGIN;
                CREATE TABLE public.notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), body text);
                ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
                GRANT SELECT ON public.notes TO {reader};
                """,
            # What it may not (supabase.com/docs/guides/database/postgres/roles-superuser).
            "002_copy_from_program.sql": "COPY public.notes (body) FROM PROGRAM 'echo hello';\n",
        },
    )
    code, report = rehearse(run_cli, root, scratch_url)
    assert code == 1
    assert report["role"] == {
        "name": MIGRATION_ROLE,
        "superuser": False,
        "createdb": True,
        "createrole": True,
        "replication": True,
        "bypassrls": True,
        "member_of": report["role"]["member_of"],
    }
    assert {"pg_monitor", "pg_read_all_data", "pg_signal_backend"} <= set(report["role"]["member_of"])
    assert statuses(report) == [("001_schema.sql", "applied"), ("002_copy_from_program.sql", "failed")]
    error = report["migrations"][1]["error"]
    assert error["sqlstate"] == "42501" and "pg_execute_server_program" in error["message"], error
    assert query(scratch_url, "SELECT tableowner FROM pg_tables WHERE tablename = 'notes'") == [(MIGRATION_ROLE,)]


def test_the_role_is_a_member_of_the_api_roles_as_supabases_postgres_is(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    # Supabase's postgres is a member of anon, authenticated and service_role WITH ADMIN OPTION: a
    # migration may hand an API role to another role, or set default privileges for one of them.
    # The scratch server of the pipeline creates the three roles; roles are cluster-wide, so create
    # them here only if another test has not.
    with psycopg.connect(scratch_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        for name in ("anon", "authenticated", "service_role"):
            with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                conn.execute(f"CREATE ROLE {name} NOLOGIN")
    reader = f"api_reader_{uuid.uuid4().hex[:8]}"
    root = write_migrations(
        tmp_path,
        {
            "001_api_roles.sql": f"""\
                CREATE ROLE {reader} NOLOGIN;
                GRANT anon TO {reader};
                ALTER DEFAULT PRIVILEGES FOR ROLE service_role IN SCHEMA public GRANT SELECT ON TABLES TO anon;
                """,
        },
    )
    code, report = rehearse(run_cli, root, scratch_url)
    assert code == 0, report["migrations"][0].get("error")
    assert {"anon", "authenticated", "service_role"} <= set(report["role"]["member_of"])
    assert statuses(report) == [("001_api_roles.sql", "applied")]
