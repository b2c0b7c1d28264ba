"""Reading a Supabase migrations directory like `supabase db push`, and the rehearsal's pure rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.migrate import (
    ERROR_RULES,
    MigrationFile,
    MigrationInputError,
    discover,
    level_of,
    lock_level,
    parse_budget,
    pending,
)
from ops.migrate.files import MISSING_LOCAL, MISSING_REMOTE
from ops.migrate.lint import parse_report, squawk_binary


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_text("SELECT 1;")


def test_migrations_run_in_file_name_order_and_misnamed_files_are_skipped_like_db_push(tmp_path: Path) -> None:
    _touch(tmp_path, "20260102000000_b.sql", "001_initial_schema.sql", "seed.sql", "notes.txt", "20260101_a.sql")
    found, skipped = discover(tmp_path)
    assert [(m.version, m.name) for m in found] == [
        ("001", "initial_schema"),
        ("20260101", "a"),
        ("20260102000000", "b"),
    ]
    assert skipped == ["seed.sql"]


def test_two_files_with_one_version_are_refused_naming_both(tmp_path: Path) -> None:
    _touch(tmp_path, "001_a.sql", "001_b.sql")
    with pytest.raises(MigrationInputError, match=r"001_a\.sql.*001_b\.sql.*version 001"):
        discover(tmp_path)


def test_a_directory_without_migrations_is_refused_naming_it(tmp_path: Path) -> None:
    _touch(tmp_path, "seed.sql")
    with pytest.raises(MigrationInputError, match=r"no migration files in .*skipped: seed.sql"):
        discover(tmp_path)


def _files(*versions: str) -> list[MigrationFile]:
    return [MigrationFile(v, "test", Path(f"{v}_test.sql")) for v in versions]


def test_an_old_clis_init_migration_first_in_the_directory_is_skipped_like_db_push(tmp_path: Path) -> None:
    _touch(tmp_path, "20211201000000_init.sql", "20211202000000_profiles.sql", "20220101000000_init.sql")
    found, skipped = discover(tmp_path)
    assert [m.file for m in found] == ["20211202000000_profiles.sql", "20220101000000_init.sql"]
    assert skipped == ["20211201000000_init.sql"]


# apps/cli-go/pkg/migration/apply_test.go, TestPendingMigrations (Supabase CLI v2.104.0), case for case.
@pytest.mark.parametrize(
    ("local", "remote", "todo", "refusal"),
    [
        (
            ("20221201000000", "20221201000001", "20221201000002", "20221201000003"),
            ["20221201000000", "20221201000001"],
            ["20221201000002", "20221201000003"],
            None,
        ),
        ((), ["0"], [], f"{MISSING_LOCAL} (0)"),
        (("0", "1"), ["1"], ["0"], f"{MISSING_REMOTE} (0_test.sql)"),
        (
            ("20221201000000", "20221201000001", "20221201000002", "20221201000003", "20221201000004"),
            ["20221201000002", "20221201000004"],
            ["20221201000000", "20221201000001", "20221201000003"],
            f"{MISSING_REMOTE} (20221201000000_test.sql, 20221201000001_test.sql, 20221201000003_test.sql)",
        ),
        (
            ("20221201000000", "20221201000002"),
            ["20221201000000", "20221201000001", "20221201000002", "20221201000003", "20221201000004"],
            [],
            f"{MISSING_LOCAL} (20221201000001, 20221201000003, 20221201000004)",
        ),
        # A gap in the directory is checked before the order: db push names the missing versions.
        (("001", "003"), ["001", "002"], ["003"], f"{MISSING_LOCAL} (002)"),
    ],
)
def test_db_push_applies_what_follows_the_history_or_refuses_and_applies_nothing(
    local: tuple[str, ...], remote: list[str], todo: list[str], refusal: str | None
) -> None:
    not_applied, refused = pending(_files(*local), remote)
    assert [m.version for m in not_applied] == todo
    if refusal is None:
        assert refused is None
    else:
        assert refused is not None and refused.startswith(refusal), refused


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1.0), ("500ms", 0.5), ("2m", 120.0), ("0.25s", 0.25), (" 3 s ", 3.0)]
)
def test_lock_budget_parses_with_a_unit(text: str, seconds: float) -> None:
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["1", "", "1h", "fast", "-1s"])
def test_a_bad_lock_budget_is_refused_naming_the_value(text: str) -> None:
    with pytest.raises(MigrationInputError, match=f"invalid --lock-budget {text!r}"):
        parse_budget(text)


@pytest.mark.parametrize(
    ("had_rows", "held", "budget", "level"),
    [
        (False, 30.0, 1.0, "info"),
        (True, 0.2, 1.0, "warning"),
        (True, 1.0, 1.0, "warning"),
        (True, 1.001, 1.0, "error"),
        (True, 0.01, 0.0, "error"),
    ],
)
def test_a_blocking_lock_on_a_table_with_rows_held_past_the_budget_is_an_error(
    had_rows: bool, held: float, budget: float, level: str
) -> None:
    assert lock_level(had_rows, held, budget) == level


@pytest.mark.parametrize(
    ("rule", "squawk_level", "level"),
    [
        ("require-concurrent-index-creation", "Warning", "error"),
        ("adding-not-nullable-field", "Warning", "error"),
        ("ban-drop-column", "Warning", "error"),
        ("syntax-error", "Error", "error"),
        ("prefer-robust-stmts", "Warning", "warning"),
        ("require-lock-timeout", "Warning", "warning"),
        ("some-future-rule", "Error", "error"),
    ],
)
def test_squawk_findings_that_block_the_app_or_lose_data_are_errors(rule: str, squawk_level: str, level: str) -> None:
    assert level_of(rule, squawk_level) == level


def test_every_error_rule_is_a_rule_the_pinned_squawk_knows() -> None:
    # A misspelt rule name would silently never be an error: squawk's binary embeds every rule name.
    binary = Path(squawk_binary()).read_bytes()
    assert [rule for rule in sorted(ERROR_RULES) if rule.encode() not in binary] == []


def test_squawks_json_report_is_read_per_file_with_one_based_lines() -> None:
    report = parse_report(
        '[{"file":"a.sql","line":0,"column":4,"level":"Warning","message":"m","help":null,'
        '"rule_name":"require-concurrent-index-creation","column_end":9,"line_end":0}]'
    )
    (finding,) = report["a.sql"]
    assert (finding.rule, finding.level, finding.line, finding.column) == (
        "require-concurrent-index-creation",
        "error",
        1,
        5,
    )
    assert parse_report("") == {}
    with pytest.raises(RuntimeError, match="not JSON"):
        parse_report("panic: oops")
