"""`chefchatz migrate rehearse` on a real PostgreSQL server (and a real backup in moto)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ops import backup as backups
from ops.backup import Location
from tests.backup.conftest import TEST_PART_SIZE

from .conftest import SPEC_INITIAL_SCHEMA, CliResult, report_of, write_migrations

Cli = Callable[..., CliResult]


def history(dsn: str) -> list[tuple[str, str, list[str]]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT version, name, statements FROM supabase_migrations.schema_migrations ORDER BY version"
        ).fetchall()
    return [(str(v), str(n), list(s)) for v, n, s in rows]


def table_exists(dsn: str, name: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])


def by_file(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["file"]: m for m in report["migrations"]}


def test_the_specs_initial_schema_applies_cleanly_and_is_recorded_like_db_push(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    root = write_migrations(
        tmp_path,
        {
            "001_initial_schema.sql": SPEC_INITIAL_SCHEMA,
            "002_recipes.sql": """\
                CREATE TABLE public.recipes (
                  id uuid PRIMARY KEY DEFAULT uuid_generate_v4(),
                  author uuid NOT NULL REFERENCES public.profiles (id),
                  title text NOT NULL
                );
                """,
        },
    )
    result = run_cli("rehearse", "--migrations", str(root), "--scratch-url", scratch_url, "--json")
    report = report_of(result)
    assert result.exit_code == 0, report["problems"]
    assert report["ok"] is True and report["source"] == {"type": "empty"}
    assert [(m["file"], m["status"]) for m in report["migrations"]] == [
        ("001_initial_schema.sql", "applied"),
        ("002_recipes.sql", "applied"),
    ]
    assert all(m["seconds"] >= 0 and m["error"] is None for m in report["migrations"])
    # Only warnings from the linter (e.g. no lock_timeout), no error-level finding.
    assert all(f["level"] == "warning" for m in report["migrations"] for f in m["findings"])
    assert report["linter"]["name"] == "squawk" and report["linter"]["version"].startswith("2.")
    versions = history(scratch_url)
    assert [(v, n) for v, n, _ in versions] == [("001", "initial_schema"), ("002", "recipes")]
    # Recorded as `db push` records them: each piece as written, without its trailing semicolon.
    assert versions[0][2] == [
        '-- Example migration script\nCREATE EXTENSION IF NOT EXISTS "uuid-ossp"',
        "CREATE TABLE public.profiles (\n  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),\n"
        "  username text NOT NULL\n)",
    ]
    with psycopg.connect(scratch_url) as conn:
        row = conn.execute("INSERT INTO profiles (username) VALUES ('cook') RETURNING id").fetchone()
    assert row is not None and len(str(row[0])) == 36  # uuid_generate_v4() from uuid-ossp works


def test_a_failing_migration_is_rolled_back_and_later_ones_do_not_run(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    root = write_migrations(
        tmp_path,
        {
            "001_initial_schema.sql": SPEC_INITIAL_SCHEMA,
            "002_broken.sql": """\
                CREATE TABLE public.ratings (id bigint PRIMARY KEY);
                ALTER TABLE public.recipes ADD COLUMN rating_id bigint;
                """,
            "003_later.sql": "CREATE TABLE public.later (id bigint PRIMARY KEY);\n",
        },
    )
    result = run_cli("rehearse", "--migrations", str(root), "--scratch-url", scratch_url, "--json")
    report = report_of(result)
    assert result.exit_code == 1
    migrations = by_file(report)
    assert [m["status"] for m in report["migrations"]] == ["applied", "failed", "not-run"]
    error = migrations["002_broken.sql"]["error"]
    assert (error["statement"], error["sqlstate"]) == (2, "42P01")
    assert 'relation "public.recipes" does not exist' in error["message"]
    assert any("002_broken.sql failed" in p for p in report["problems"])
    # Rolled back whole (its first statement too), and nothing after it ran or was recorded.
    assert not table_exists(scratch_url, "public.ratings")
    assert not table_exists(scratch_url, "public.later")
    assert [v for v, _, _ in history(scratch_url)] == ["001"]


def test_a_lock_heavy_migration_on_a_table_with_rows_is_flagged_by_lint_and_by_the_locks_it_held(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    root = write_migrations(
        tmp_path,
        {
            "001_events.sql": """\
                CREATE TABLE public.events (id bigint PRIMARY KEY, kind text);
                INSERT INTO public.events SELECT g, 'view' FROM generate_series(1, 50000) AS g;
                """,
            "002_index_and_not_null.sql": """\
                CREATE INDEX events_kind ON public.events (kind);
                ALTER TABLE public.events ALTER COLUMN kind SET NOT NULL;
                """,
        },
    )
    result = run_cli(
        "rehearse", "--migrations", str(root), "--scratch-url", scratch_url, "--lock-budget", "1ms", "--json"
    )
    report = report_of(result)
    assert result.exit_code == 1
    heavy = by_file(report)["002_index_and_not_null.sql"]
    assert heavy["status"] == "applied"  # it works; it would stop the app while it runs
    rules = {f["rule"]: f["level"] for f in heavy["findings"]}
    assert rules["require-concurrent-index-creation"] == "error"
    assert rules["adding-not-nullable-field"] == "error"
    locks = {(lock["table"], lock["mode"]): lock for lock in heavy["locks"]}
    share = locks[("public.events", "ShareLock")]
    exclusive = locks[("public.events", "AccessExclusiveLock")]
    assert (share["statement"], share["blocks"], share["had_rows"], share["level"]) == (1, "writes", True, "error")
    assert (exclusive["statement"], exclusive["blocks"]) == (2, "reads and writes")
    assert share["held_seconds"] >= exclusive["held_seconds"] > 0
    # The table's own creation in 001 locked nothing that existed before: no lock is reported there.
    assert by_file(report)["001_events.sql"]["locks"] == []
    assert any("ShareLock on public.events" in p for p in report["problems"])


def test_a_brief_lock_within_the_budget_is_a_warning_and_the_rehearsal_passes(
    tmp_path: Path, scratch_url: str, run_cli: Cli
) -> None:
    root = write_migrations(
        tmp_path,
        {
            "001_initial_schema.sql": SPEC_INITIAL_SCHEMA,
            "002_first_cook.sql": "INSERT INTO public.profiles (username) VALUES ('cook');\n",
            "003_bio.sql": "ALTER TABLE public.profiles ADD COLUMN bio text;\n",
        },
    )
    result = run_cli("rehearse", "--migrations", str(root), "--scratch-url", scratch_url, "--json")
    report = report_of(result)
    assert result.exit_code == 0, report["problems"]
    (lock,) = by_file(report)["003_bio.sql"]["locks"]
    assert (lock["table"], lock["mode"], lock["had_rows"], lock["level"]) == (
        "public.profiles",
        "AccessExclusiveLock",
        True,
        "warning",
    )
    assert lock["held_seconds"] < 1.0


def test_rehearsal_restores_a_real_backup_and_applies_only_what_is_pending(
    tmp_path: Path, source_db: str, bucket: str, scratch_url: str, run_cli: Cli
) -> None:
    # Production-shaped: the seeded database with 001 already applied and recorded by `db push`.
    with psycopg.connect(source_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA supabase_migrations")
        conn.execute(
            "CREATE TABLE supabase_migrations.schema_migrations"
            " (version text PRIMARY KEY, statements text[], name text)"
        )
        conn.execute("INSERT INTO supabase_migrations.schema_migrations VALUES ('001', '{}', 'seed')")
    backup = backups.backup_database(source_db, Location(bucket, "prod"), part_size=TEST_PART_SIZE)
    root = write_migrations(
        tmp_path,
        {
            "001_seed.sql": "SELECT 1;\n",
            "002_recipe_servings.sql": "ALTER TABLE public.recipes ADD COLUMN servings integer;\n",
        },
    )
    out = tmp_path / "rehearsal.json"
    result = run_cli(
        "rehearse",
        "--migrations",
        str(root / "supabase" / "migrations"),
        "--scratch-url",
        scratch_url,
        "--bucket",
        bucket,
        "--prefix",
        "prod",
        "--stack",
        "prod",
        "--report",
        str(out),
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"rehearsal on backup {backup.backup_id}" in result.stdout and "OK" in result.stdout
    report = json.loads(out.read_text())
    assert report["kind"] == "migration-rehearsal" and report["stack"] == "prod"
    assert report["source"]["type"] == "backup" and report["source"]["backup_id"] == backup.backup_id
    assert report["source"]["restored_bytes"] > 0
    assert report["source"]["verify_seconds"] >= 0 and report["source"]["restore_seconds"] > 0
    assert report["already_applied"] == 1
    (migration,) = report["migrations"]
    assert (migration["file"], migration["status"]) == ("002_recipe_servings.sql", "applied")
    (lock,) = migration["locks"]
    assert (lock["table"], lock["mode"], lock["had_rows"]) == ("public.recipes", "AccessExclusiveLock", True)
    assert [v for v, _, _ in history(scratch_url)] == ["001", "002"]
    with psycopg.connect(scratch_url) as conn:
        row = conn.execute("SELECT count(*) FROM public.recipes WHERE servings IS NULL").fetchone()
    assert row == (300,)  # the restored rows are all there, with the new column


def backed_up_with_history(source_db: str, bucket: str, versions: list[str]) -> None:
    """A production-shaped backup: the seeded database with `versions` recorded by `db push`."""
    with psycopg.connect(source_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA supabase_migrations")
        conn.execute("CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY)")
        for version in versions:
            conn.execute("INSERT INTO supabase_migrations.schema_migrations VALUES (%s)", (version,))
    backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)


def test_a_history_the_directory_does_not_know_refuses_the_push_and_applies_nothing(
    tmp_path: Path, source_db: str, bucket: str, scratch_url: str, run_cli: Cli
) -> None:
    backed_up_with_history(source_db, bucket, ["20990101000000"])
    root = write_migrations(tmp_path, {"001_cooks.sql": "CREATE TABLE public.cooks (id bigint PRIMARY KEY);\n"})
    result = run_cli("rehearse", "--migrations", str(root), "--scratch-url", scratch_url, "--bucket", bucket, "--json")
    report = report_of(result)
    assert result.exit_code == 1
    (problem,) = report["problems"]
    assert problem.startswith("Remote migration versions not found in local migrations directory. (20990101000000)"), (
        problem
    )
    assert [m["status"] for m in report["migrations"]] == ["not-run"]
    assert not table_exists(scratch_url, "public.cooks")


def test_an_out_of_order_migration_refuses_the_whole_push_like_db_push(
    tmp_path: Path, source_db: str, bucket: str, scratch_url: str, run_cli: Cli
) -> None:
    backed_up_with_history(source_db, bucket, ["001", "003"])
    root = write_migrations(
        tmp_path,
        {
            "001_seed.sql": "SELECT 1;\n",
            "002_late.sql": "CREATE TABLE public.late (id bigint PRIMARY KEY);\n",
            "003_seen.sql": "SELECT 1;\n",
            "004_next.sql": "CREATE TABLE public.next (id bigint PRIMARY KEY);\n",
        },
    )
    result = run_cli("rehearse", "--migrations", str(root), "--scratch-url", scratch_url, "--bucket", bucket, "--json")
    report = report_of(result)
    assert result.exit_code == 1
    (problem,) = report["problems"]
    assert problem.startswith(
        "Found local migration files to be inserted before the last migration on remote database. (002_late.sql)"
    ), problem
    assert "without --include-all" in problem
    # The CLI applies nothing, not even the file that is in order.
    assert [(m["file"], m["status"]) for m in report["migrations"]] == [
        ("002_late.sql", "not-run"),
        ("004_next.sql", "not-run"),
    ]
    assert not table_exists(scratch_url, "public.late") and not table_exists(scratch_url, "public.next")
    with psycopg.connect(scratch_url) as conn:
        recorded = conn.execute("SELECT version FROM supabase_migrations.schema_migrations ORDER BY 1").fetchall()
    assert recorded == [("001",), ("003",)]


def test_a_backup_that_cannot_be_restored_fails_the_rehearsal_with_a_report(
    tmp_path: Path, bucket: str, scratch_url: str, run_cli: Cli, aws: str
) -> None:
    root = write_migrations(tmp_path, {"001_initial_schema.sql": SPEC_INITIAL_SCHEMA})
    out = tmp_path / "rehearsal.json"
    result = run_cli(
        "rehearse", "--migrations", str(root), "--scratch-url", scratch_url, "--bucket", bucket, "--report", str(out)
    )
    assert result.exit_code == 1
    report = json.loads(out.read_text())
    assert report["ok"] is False and report["source"] == {
        "type": "backup",
        "bucket": bucket,
        "prefix": "",
        "backup_id": None,
    }
    (problem,) = report["problems"]
    assert problem.startswith("restore of backup 'latest' failed: ") and "no complete" in problem.lower(), problem
    assert [m["status"] for m in report["migrations"]] == ["not-run"]
    assert f"FAILED: {problem}" in result.stderr


def test_lint_only_needs_no_database_and_fails_on_an_error_level_finding(tmp_path: Path, run_cli: Cli) -> None:
    root = write_migrations(
        tmp_path,
        {
            "001_initial_schema.sql": SPEC_INITIAL_SCHEMA,
            "002_drop.sql": "ALTER TABLE public.profiles DROP COLUMN username;\n",
        },
    )
    result = run_cli("rehearse", "--migrations", str(root), "--lint-only", "--json")
    report = report_of(result)
    assert result.exit_code == 1
    assert [m["status"] for m in report["migrations"]] == ["linted", "linted"]
    assert report["source"] == {"type": "none"} and report["scratch"] is None
    assert {f["rule"] for f in by_file(report)["002_drop.sql"]["findings"] if f["level"] == "error"} == {
        "ban-drop-column"
    }
    clean = write_migrations(tmp_path / "clean", {"001_initial_schema.sql": SPEC_INITIAL_SCHEMA})
    assert run_cli("rehearse", "--migrations", str(clean), "--lint-only").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--migrations", "/nonexistent/migrations", "--lint-only"],
            "--migrations '/nonexistent/migrations' is not a directory",
        ),
        (["--lint-only", "--lock-budget", "soon"], "invalid --lock-budget 'soon'"),
        ([], "--scratch-url is required unless --lint-only"),
        (["--scratch-url", "postgresql://postgres@127.0.0.1:1/production"], "must contain 'scratch' or 'drill'"),
        (["--lint-only", "--bucket", "b-1"], "drop --bucket"),
        (
            ["--scratch-url", "postgresql://postgres@127.0.0.1:1/chefchatz_scratch", "--bucket", "Bad_Bucket"],
            "invalid bucket name 'Bad_Bucket'",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_flag_or_value(
    tmp_path: Path, run_cli: Cli, args: list[str], message: str
) -> None:
    root = write_migrations(tmp_path, {"001_initial_schema.sql": SPEC_INITIAL_SCHEMA})
    if "--migrations" not in args:
        args = ["--migrations", str(root), *args]
    result = run_cli("rehearse", *args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_directory_without_migration_files_exits_2(tmp_path: Path, run_cli: Cli) -> None:
    (tmp_path / "seed.sql").write_text("SELECT 1;")
    result = run_cli("rehearse", "--migrations", str(tmp_path), "--lint-only", "--json")
    assert result.exit_code == 2
    assert "no migration files" in report_of(result)["error"]
