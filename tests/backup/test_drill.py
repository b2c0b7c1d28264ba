"""Restore drills: RTO evidence, row counts against the manifest, metrics."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import psycopg
import pytest

from ops import backup as backups
from ops.backup import Location, TableCheck

from .conftest import (
    TEST_PART_SIZE,
    PgServer,
    table_contents,
)


def drill_metrics(stack: str) -> dict[str, list[float]]:
    cloudwatch = boto3.client("cloudwatch")
    now = dt.datetime.now(dt.UTC)
    out: dict[str, list[float]] = {}
    for name in (
        "RestoreDrillSeconds",
        "RestoreDrillSucceeded",
        "RestoreDrillThroughput",
        "RestoreDrillMaxDatabaseBytes",
    ):
        stats = cloudwatch.get_metric_statistics(
            Namespace="ChefChatz/Backups",
            MetricName=name,
            Dimensions=[{"Name": "Stack", "Value": stack}],
            StartTime=now - dt.timedelta(hours=1),
            EndTime=now + dt.timedelta(hours=1),
            Period=3600,
            Statistics=["Maximum"],
        )
        out[name] = [p["Maximum"] for p in stats["Datapoints"]]
    return out


def test_drill_restores_the_newest_backup_checks_counts_and_publishes_its_time(
    source_db: str, pg_server: PgServer, s3: Any, bucket: str, cli: Any
) -> None:
    backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
    stack = f"drill-{bucket[-8:]}"
    scratch = pg_server.dsn("chefchatz_drill_ok")

    result = cli("drill", "--bucket", bucket, "--scratch-url", scratch, "--rto", "15m", "--stack", stack, "--json")

    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["ok"] is True, result.stdout + result.stderr
    assert report["within_rto"] is True and 0 < report["seconds"] < 900
    assert {t["table"]: (t["status"], t["restored"]) for t in report["tables"]} == {
        "chat.messages": ("ok", 500),
        "public.profiles": ("ok", 40),
        "public.recipe_images": ("ok", 30),
        "public.recipes": ("ok", 300),
    }
    assert table_contents(scratch) == table_contents(source_db)
    metrics = drill_metrics(stack)
    assert metrics["RestoreDrillSucceeded"] == [1.0]
    assert len(metrics["RestoreDrillSeconds"]) == 1 and metrics["RestoreDrillSeconds"][0] == pytest.approx(
        report["seconds"]
    )
    # The scale it proves: the backed-up database's size over the restore's time, times the 8-minute budget.
    manifest = backups.load_manifest(s3, Location(bucket), backups.Kind.DB, report["backup_id"])
    assert report["budget_seconds"] == 480
    assert report["database_bytes"] == manifest["database"]["size_bytes"] > 0
    rate = report["database_bytes"] / report["seconds"]
    assert report["throughput_bytes_per_second"] == pytest.approx(rate, rel=1e-3)
    assert report["max_database_bytes"] == pytest.approx(rate * 480, rel=1e-3)
    assert metrics["RestoreDrillThroughput"] == [pytest.approx(report["throughput_bytes_per_second"], rel=1e-3)]
    assert metrics["RestoreDrillMaxDatabaseBytes"] == [report["max_database_bytes"]]
    human = cli("drill", "--bucket", bucket, "--scratch-url", scratch, "--budget", "4m", "--stack", stack)
    assert human.exit_code == 0 and "the largest database restorable within 4m00s is about" in human.stdout


def test_drill_recreates_the_scratch_database_so_leftovers_do_not_matter(
    source_db: str, pg_server: PgServer, s3: Any, bucket: str
) -> None:
    backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
    scratch = pg_server.dsn("chefchatz_drill_reused")
    first = backups.run_drill(Location(bucket), scratch, dt.timedelta(minutes=15))
    with psycopg.connect(scratch) as conn:
        conn.execute("CREATE TABLE public.leftover (id int)")

    second = backups.run_drill(Location(bucket), scratch, dt.timedelta(minutes=15))

    assert first.ok and second.ok, (first.problems, second.problems)
    with psycopg.connect(scratch) as conn:
        assert conn.execute("SELECT to_regclass('public.leftover')").fetchone() == (None,)


def test_drill_over_the_rto_fails_and_reports_it(source_db: str, pg_server: PgServer, s3: Any, bucket: str) -> None:
    backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
    stack = f"slow-{bucket[-8:]}"

    result = backups.run_drill(
        Location(bucket), pg_server.dsn("chefchatz_drill_slow"), dt.timedelta(milliseconds=1), stack=stack
    )

    assert not result.ok and not result.within_rto
    assert any("over the RTO" in p for p in result.problems), result.problems
    assert drill_metrics(stack)["RestoreDrillSucceeded"] == [0.0]


def test_drill_fails_when_restored_rows_do_not_match_the_manifest(
    source_db: str, pg_server: PgServer, s3: Any, bucket: str
) -> None:
    made = backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=made.manifest_key)["Body"].read())
    for table in manifest["tables"]:
        if table["name"] == "profiles":
            table["exact_row_count"] = 41
    s3.put_object(Bucket=bucket, Key=made.manifest_key, Body=json.dumps(manifest).encode())

    result = backups.run_drill(Location(bucket), pg_server.dsn("chefchatz_drill_bad"), dt.timedelta(minutes=15))

    assert not result.ok
    assert result.problems == ["table public.profiles: manifest 41, restored 40 (mismatch)"]


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


@pytest.mark.parametrize(
    ("database_bytes", "seconds", "budget_minutes", "throughput", "largest"),
    [
        (1024**3, 20.0, 8, 1024**3 / 20, 24 * 1024**3),  # 1 GiB in 20 s: 24 GiB in 8 minutes
        (50 * 1024**2, 1.0, 8, 50 * 1024**2, 24000 * 1024**2),
        (1000, 0.5, 1, 2000, 120_000),
        (0, 3.0, 8, 0, 0),
    ],
)
def test_restore_scale_is_the_restore_rate_times_the_budget(
    database_bytes: int, seconds: float, budget_minutes: int, throughput: float, largest: int
) -> None:
    rate, biggest = backups.restore_scale(database_bytes, seconds, dt.timedelta(minutes=budget_minutes))
    assert (rate, biggest) == (pytest.approx(throughput), largest)
