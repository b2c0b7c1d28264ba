"""The pure decisions of the backup tool, as tables of cases."""

from __future__ import annotations

import datetime as dt

import pytest

from ops.backup import core as backups
from ops.backup.core import Kind, Location, TableCheck, UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6h", 21600), ("15m", 900), ("90s", 90), ("1d", 86400), ("1h30m", 5400), (" 2W ", 1209600)],
)
def test_parse_duration_accepts_unit_suffixes(text: str, seconds: int) -> None:
    assert backups.parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "6", "h", "6 hours", "-1h", "0s", "1.5h", "6h extra"])
def test_parse_duration_rejects_and_names_bad_values(text: str) -> None:
    with pytest.raises(UsageError, match=f"invalid duration {text!r}"):
        backups.parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (905, "15m05s"), (21600, "6h00m"), (25200 + 59, "7h00m")])
def test_format_duration(seconds: int, text: str) -> None:
    assert backups.format_duration(dt.timedelta(seconds=seconds)) == text


def test_backup_ids_are_utc_stamped_sortable_and_parse_back() -> None:
    early = backups.new_backup_id(dt.datetime(2026, 11, 27, 4, 0, 0, 998_000, tzinfo=dt.UTC))
    same_second = backups.new_backup_id(dt.datetime(2026, 11, 27, 4, 0, 0, 999_500, tzinfo=dt.UTC))
    later = backups.new_backup_id(dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))))
    assert early.startswith("20261127T040000.998Z-") and later.startswith("20261127T050000.000Z-")
    assert sorted([later, same_second, early]) == [early, same_second, later]
    assert backups.backup_id_time(early) == dt.datetime(2026, 11, 27, 4, 0, 0, 998_000, tzinfo=dt.UTC)
    assert backups.backup_id_time("20261127T040000Z-abcdef") is None
    assert backups.validate_backup_id("latest") == "latest"
    with pytest.raises(UsageError, match="'20261127'"):
        backups.validate_backup_id("20261127")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cret@db:5432/x failed", "postgresql://app:***@db:5432/x failed"),
        ("host=db password=s3cret dbname=x", "host=db password=*** dbname=x"),
        ("host=db password='s 3cret' dbname=x", "host=db password=*** dbname=x"),
        ("postgres://u@db/x", "postgres://u@db/x"),
        (
            "FATAL: password authentication failed for user app",
            "FATAL: password authentication failed for user app",
        ),
    ],
)
def test_redact_removes_passwords_from_urls_and_key_values(text: str, expected: str) -> None:
    assert backups.redact(text) == expected


def test_redact_also_removes_known_secret_values_anywhere() -> None:
    assert backups.redact("token sbp_abc123 leaked", "sbp_abc123") == "token *** leaked"


def test_split_dsn_moves_the_password_out_of_the_conninfo() -> None:
    conninfo, password = backups.split_dsn("postgresql://app:p%40ss@db.example.com:6543/postgres?sslmode=require")
    assert password == "p@ss"
    assert "p@ss" not in conninfo and "password" not in conninfo
    assert "host=db.example.com" in conninfo and "port=6543" in conninfo and "sslmode=require" in conninfo
    conninfo, password = backups.split_dsn("host=db dbname=x")
    assert password is None and sorted(conninfo.split()) == ["dbname=x", "host=db"]
    assert backups.describe_dsn("postgresql://app:pw@db:6543/postgres") == "app@db:6543/postgres"


def test_locations_build_the_documented_key_layout() -> None:
    location = Location("chefchatz-prod-db-backups", "/prod/")
    assert location.kind_prefix(Kind.DB) == "prod/db/"
    assert (
        location.manifest_key(Kind.ASSETS, "20261127T040000.000Z-abcdef")
        == "prod/assets/20261127T040000.000Z-abcdef/manifest.json"
    )
    assert Location("chefchatz-b").kind_prefix(Kind.DB) == "db/"
    with pytest.raises(UsageError, match="'Bad_Bucket'"):
        Location("Bad_Bucket")


def test_metric_kind_dimension_values_are_the_alarm_contract() -> None:
    assert (backups.METRIC_NAMESPACE, backups.METRIC_BACKUP_SUCCEEDED) == (
        "ChefChatz/Backups",
        "BackupSucceeded",
    )
    assert [k.metric_kind for k in Kind] == ["database", "assets"]


@pytest.mark.parametrize(
    ("age", "stale"),
    [
        (dt.timedelta(hours=5, minutes=59), False),
        (dt.timedelta(hours=6), False),
        (dt.timedelta(hours=6, seconds=1), True),
    ],
)
def test_is_stale_only_past_max_age(age: dt.timedelta, stale: bool) -> None:
    now = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
    assert backups.is_stale(now - age, now, dt.timedelta(hours=6)) is stale


@pytest.mark.parametrize(
    ("entry", "restored", "expected"),
    [
        ({"exact_row_count": 10, "row_estimate": 9}, 10, TableCheck("public.t", 10, True, 10, "ok")),
        ({"exact_row_count": 10, "row_estimate": 10}, 11, TableCheck("public.t", 10, True, 11, "mismatch")),
        (
            {"exact_row_count": None, "row_estimate": 1_000_000},
            1_150_000,
            TableCheck("public.t", 1_000_000, False, 1_150_000, "ok"),
        ),
        (
            {"exact_row_count": None, "row_estimate": 1_000_000},
            1_300_000,
            TableCheck("public.t", 1_000_000, False, 1_300_000, "drift"),
        ),
        ({"exact_row_count": None, "row_estimate": 50}, 900, TableCheck("public.t", 50, False, 900, "ok")),
        (
            {"exact_row_count": None, "row_estimate": -1},
            5,
            TableCheck("public.t", None, False, 5, "unchecked"),
        ),
        ({"exact_row_count": 3, "row_estimate": 3}, None, TableCheck("public.t", 3, True, None, "missing")),
    ],
)
def test_compare_table_counts(entry: dict[str, int | None], restored: int | None, expected: TableCheck) -> None:
    counts = {} if restored is None else {"public.t": restored}
    [check] = backups.compare_table_counts([{"schema": "public", "name": "t", **entry}], counts)
    assert check == expected
    assert check.failed is (expected.status in ("mismatch", "missing"))


def test_missing_postgresql_binaries_fail_the_suite_instead_of_skipping_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from . import conftest

    monkeypatch.setattr(conftest.shutil, "which", lambda name: None)
    monkeypatch.setattr(conftest.glob, "glob", lambda pattern: [])
    with pytest.raises(pytest.fail.Exception, match="never skip"):
        conftest.find_pg_bindir()
