"""`backup db`: what is stored and described, and the faults that must leave nothing that counts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3
import psycopg
import pytest
from botocore.stub import Stubber

from ops import backup as backups
from ops.backup import Kind, Layout, Location, dump

from .conftest import (
    TEST_PART_SIZE,
    SpyS3,
    all_keys,
    client_error,
    live_children,
    nothing_counts,
    object_sha256,
    table_contents,
)


def test_a_single_stream_backup_as_before_issue_22_still_verifies_and_restores(
    source_db: str, empty_db: str, s3: Any, bucket: str
) -> None:
    location = Location(bucket, "prod")
    result = backups.backup_database(source_db, location, stack="prod", layout=Layout.STREAM, part_size=TEST_PART_SIZE)

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())
    dump = manifest["dump"]
    assert result.manifest_key == f"prod/db/{result.backup_id}/manifest.json"
    assert dump["key"] == f"prod/db/{result.backup_id}/dump.pgcustom.zst"
    assert dump["parts"] >= 3, f"expected several {TEST_PART_SIZE}-byte parts, manifest says {dump['parts']}"
    assert dump["sha256"] == object_sha256(s3, bucket, dump["key"]), "manifest sha256 is not the stored object's"
    assert dump["stored_bytes"] == s3.head_object(Bucket=bucket, Key=dump["key"])["ContentLength"]
    assert dump["size_bytes"] > dump["stored_bytes"] > 0
    # Exactly what the tool wrote before issue 22: manifest format /1, no database size.
    manifest["format"] = "chefchatz-backup-manifest/1"
    del manifest["database"]["size_bytes"]
    s3.put_object(Bucket=bucket, Key=result.manifest_key, Body=json.dumps(manifest).encode())
    assert backups.verify_latest(location, Kind.DB, dt.timedelta(hours=1), s3=s3).ok

    restored = backups.restore_database(location, empty_db, s3=s3)

    assert (restored.backup_id, restored.layout, restored.jobs) == (result.backup_id, "stream", 1)
    assert restored.restored_bytes == dump["size_bytes"]
    assert restored.database_bytes is None
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
        stub.add_client_error("put_metric_data", "AccessDenied", "not allowed to put metrics", 403)
        result = backups.backup_database(source_db, Location(bucket), cloudwatch=cloudwatch, part_size=TEST_PART_SIZE)

    assert len(result.warnings) == 2, result.warnings
    assert "BackupSucceeded" in result.warnings[0] and "DatabaseSizeBytes" in result.warnings[1], result.warnings
    listed = backups.list_backups(Location(bucket), Kind.DB)
    assert [(e.backup_id, e.complete) for e in listed] == [(result.backup_id, True)]


def test_without_an_exportable_snapshot_the_manifest_keeps_estimates_only(
    source_db: str, empty_db: str, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # e.g. behind a transaction-mode pooler, where pg_export_snapshot cannot be shared with pg_dump.
    describe = dump.snapshot_and_describe

    def no_snapshot(conn: Any) -> dict[str, Any]:
        return {**describe(conn), "snapshot": None}

    monkeypatch.setattr(dump, "snapshot_and_describe", no_snapshot)
    result = backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())
    assert manifest["snapshot"] == "none"
    assert {t["name"]: t["exact_row_count"] for t in manifest["tables"]} == dict.fromkeys(
        ["messages", "profiles", "recipe_images", "recipes"]
    )
    backups.restore_database(Location(bucket), empty_db, s3=s3)
    assert table_contents(empty_db) == table_contents(source_db)


def test_pg_dump_failing_mid_stream_aborts_the_upload_and_reports_its_stderr(
    source_db: str, s3: Any, bucket: str, cli: Any
) -> None:
    # Row-level security makes pg_dump (as a non-owner, row_security=off) fail when it reaches
    # public.recipes, after it has already streamed public.recipe_images: a real mid-dump failure.
    with psycopg.connect(source_db, autocommit=True) as conn:
        conn.execute("DO $$BEGIN CREATE ROLE backup_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$")
        conn.execute("GRANT USAGE ON SCHEMA chat TO backup_reader")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public, chat TO backup_reader")
        conn.execute("GRANT SELECT ON ALL SEQUENCES IN SCHEMA public, chat TO backup_reader")
        conn.execute("ALTER TABLE public.recipes ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY published_only ON public.recipes FOR SELECT USING (published)")
    dsn = source_db.replace("postgres@", "backup_reader:hunter2-not-shown@")
    spy = SpyS3(s3)

    with pytest.raises(backups.BackupError) as caught:
        # zstd_threads=0: in-line compression emits parts as data arrives (multithreaded zstd would
        # hold this small dump in one job), so the failure lands after parts were uploaded.
        backups.backup_database(
            dsn, Location(bucket), s3=spy, layout=Layout.STREAM, part_size=TEST_PART_SIZE, zstd_threads=0
        )

    message = str(caught.value)
    assert caught.value.exit_code == 1
    assert "pg_dump failed with exit code 1" in message and "row-level security" in message, message
    assert "hunter2-not-shown" not in message
    assert spy.calls.get("upload_part", 0) >= 2, "the failure should come after parts were uploaded"
    assert spy.calls.get("abort_multipart_upload") == 1
    assert all_keys(s3, bucket) == []
    assert live_children("pg_dump") == []
    nothing_counts(s3, bucket)


def test_interrupted_stream_upload_leaves_no_manifest_and_nothing_complete(
    source_db: str, s3: Any, bucket: str
) -> None:
    spy = SpyS3(s3, fail_part=2, error=RuntimeError("simulated crash while uploading part 2"))

    with pytest.raises(RuntimeError, match="simulated crash"):
        backups.backup_database(source_db, Location(bucket), s3=spy, layout=Layout.STREAM, part_size=TEST_PART_SIZE)

    assert spy.calls.get("abort_multipart_upload") == 1
    assert spy.calls.get("complete_multipart_upload", 0) == 0
    assert [k for k in all_keys(s3, bucket) if k.endswith("manifest.json")] == []
    assert live_children("pg_dump") == [], "pg_dump must not outlive a failed backup"
    nothing_counts(s3, bucket)


def test_transient_s3_error_on_a_part_is_retried_and_the_backup_completes(
    source_db: str, empty_db: str, s3: Any, bucket: str
) -> None:
    slow_down = client_error("SlowDown", "Please reduce your request rate.", 503, "UploadPart")
    spy = SpyS3(s3, fail_part=2, error=slow_down, times=1)

    result = backups.backup_database(
        source_db, Location(bucket), s3=spy, layout=Layout.STREAM, part_size=TEST_PART_SIZE
    )

    parts = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())["dump"]["parts"]
    assert spy.calls["upload_part"] == parts + 1, "part 2 should have been sent twice"
    backups.restore_database(Location(bucket), empty_db, s3=s3)
    assert table_contents(empty_db) == table_contents(source_db)
