"""Backup -> S3 -> restore keeps every row, and the manifest describes what was stored."""

from __future__ import annotations

import json
from typing import Any

import boto3
import psycopg
import pytest
from botocore.stub import Stubber

from ops.backup import core as backups
from ops.backup.core import Kind, Location

from .conftest import TEST_PART_SIZE, PgServer, object_sha256, table_contents


def test_round_trip_restores_identical_data_from_a_multipart_dump(
    source_db: str, empty_db: str, s3: Any, bucket: str
) -> None:
    location = Location(bucket, "prod")
    result = backups.backup_database(source_db, location, stack="prod", part_size=TEST_PART_SIZE)

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())
    dump = manifest["dump"]
    assert result.manifest_key == f"prod/db/{result.backup_id}/manifest.json"
    assert dump["key"] == f"prod/db/{result.backup_id}/dump.pgcustom.zst"
    assert dump["parts"] >= 3, f"expected several {TEST_PART_SIZE}-byte parts, manifest says {dump['parts']}"
    assert dump["sha256"] == object_sha256(s3, bucket, dump["key"]), "manifest sha256 is not the stored object's"
    assert dump["stored_bytes"] == s3.head_object(Bucket=bucket, Key=dump["key"])["ContentLength"]
    assert dump["size_bytes"] > dump["stored_bytes"] > 0

    restored = backups.restore_database(location, empty_db, s3=s3)

    assert restored.backup_id == result.backup_id
    assert restored.restored_bytes == dump["size_bytes"]
    assert table_contents(empty_db) == table_contents(source_db)


def test_manifest_records_versions_times_and_exact_counts_from_the_dump_snapshot(
    source_db: str, s3: Any, bucket: str
) -> None:
    location = Location(bucket)
    result = backups.backup_database(source_db, location, part_size=TEST_PART_SIZE)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())

    assert manifest["format"] == backups.MANIFEST_FORMAT
    assert manifest["database"]["server_version_num"] >= 100000
    assert manifest["database"]["name"] == source_db.rsplit("/", 1)[1]
    assert manifest["pg_dump_version"].startswith("pg_dump (PostgreSQL)")
    assert manifest["snapshot"] == "exported"
    assert manifest["tool_version"] == backups.tool_version()
    assert backups.parse_iso(manifest["started_at"]) <= backups.parse_iso(manifest["finished_at"])
    counts = {f"{t['schema']}.{t['name']}": t["exact_row_count"] for t in manifest["tables"]}
    assert counts == {
        "chat.messages": 500,
        "public.profiles": 40,
        "public.recipe_images": 30,
        "public.recipes": 300,
    }
    estimates = {f"{t['schema']}.{t['name']}": t["row_estimate"] for t in manifest["tables"]}
    assert estimates["public.recipes"] == 300, "ANALYZEd table: reltuples should be exact"


def test_successful_backup_publishes_the_backup_succeeded_metric_the_alarm_watches(
    source_db: str, s3: Any, bucket: str
) -> None:
    stack = f"stack-{bucket[-8:]}"
    backups.backup_database(source_db, Location(bucket), stack=stack, part_size=TEST_PART_SIZE)

    metrics = boto3.client("cloudwatch").list_metrics(
        Namespace="ChefChatz/Backups",
        MetricName="BackupSucceeded",
        Dimensions=[{"Name": "Stack", "Value": stack}],
    )["Metrics"]
    dims = [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in metrics]
    assert dims == [{"Stack": stack, "Kind": "database"}]


def test_metric_publishing_failure_is_a_warning_and_the_backup_still_counts(
    source_db: str, s3: Any, bucket: str
) -> None:
    cloudwatch = boto3.client("cloudwatch")
    with Stubber(cloudwatch) as stub:
        stub.add_client_error("put_metric_data", "AccessDenied", "not allowed to put metrics", 403)
        result = backups.backup_database(source_db, Location(bucket), cloudwatch=cloudwatch, part_size=TEST_PART_SIZE)

    assert len(result.warnings) == 1 and "BackupSucceeded" in result.warnings[0], result.warnings
    listed = backups.list_backups(Location(bucket), Kind.DB)
    assert [(e.backup_id, e.complete) for e in listed] == [(result.backup_id, True)]


def test_backup_ids_sort_chronologically_and_latest_is_the_newest(
    source_db: str, empty_db: str, s3: Any, bucket: str, pg_server: PgServer
) -> None:
    location = Location(bucket)
    first = backups.backup_database(source_db, location, part_size=TEST_PART_SIZE)
    with psycopg.connect(source_db) as conn:
        conn.execute("INSERT INTO chat.messages (sent_at, content) VALUES (now(), 'after the first backup')")
    second = backups.backup_database(source_db, location, part_size=TEST_PART_SIZE)
    assert sorted([first.backup_id, second.backup_id]) == [first.backup_id, second.backup_id]

    backups.restore_database(location, empty_db, s3=s3)

    with psycopg.connect(empty_db) as conn:
        row = conn.execute("SELECT count(*) FROM chat.messages").fetchone()
    assert row == (501,), "latest must restore the second backup"


@pytest.mark.parametrize("backup_id", ["first", "second"])
def test_restore_by_backup_id_picks_that_backup(
    backup_id: str, source_db: str, empty_db: str, s3: Any, bucket: str
) -> None:
    location = Location(bucket)
    ids = {"first": backups.backup_database(source_db, location, part_size=TEST_PART_SIZE).backup_id}
    with psycopg.connect(source_db) as conn:
        conn.execute("DELETE FROM chat.messages WHERE id <= 100")
    ids["second"] = backups.backup_database(source_db, location, part_size=TEST_PART_SIZE).backup_id

    backups.restore_database(location, empty_db, backup_id=ids[backup_id], s3=s3)

    with psycopg.connect(empty_db) as conn:
        row = conn.execute("SELECT count(*) FROM chat.messages").fetchone()
    assert row == ({"first": 500, "second": 400}[backup_id],)


def test_without_an_exportable_snapshot_the_manifest_keeps_estimates_only(
    source_db: str, empty_db: str, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. behind a transaction-mode pooler, where pg_export_snapshot cannot be shared with pg_dump.
    describe = backups._snapshot_and_describe

    def no_snapshot(conn: Any) -> dict[str, Any]:
        return {**describe(conn), "snapshot": None}

    monkeypatch.setattr(backups, "_snapshot_and_describe", no_snapshot)
    result = backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())
    assert manifest["snapshot"] == "none"
    assert {t["name"]: t["exact_row_count"] for t in manifest["tables"]} == dict.fromkeys(
        ["messages", "profiles", "recipe_images", "recipes"]
    )
    backups.restore_database(Location(bucket), empty_db, s3=s3)
    assert table_contents(empty_db) == table_contents(source_db)
