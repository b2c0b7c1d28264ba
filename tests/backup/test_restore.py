"""`restore db`: which backup, corrupt objects refused before the target is touched, the target's state."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from ops import backup as backups
from ops.backup import Layout, Location

from .conftest import (
    TEST_PART_SIZE,
    PgServer,
    table_contents,
    user_table_names,
)


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


@pytest.mark.parametrize("damage", ["truncated", "bit-flipped"])
def test_corrupt_single_stream_dump_is_refused_before_the_target_is_touched_and_verify_fails(
    damage: str, source_db: str, empty_db: str, s3: Any, bucket: str, cli: Any
) -> None:
    result = backups.backup_database(source_db, Location(bucket), layout=Layout.STREAM, part_size=TEST_PART_SIZE)
    key = result.object_key
    assert key is not None
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x10
    # moto (like S3 without checksums) accepts whatever we write: detecting this is our job.
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))

    restore = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db)
    assert restore.exit_code == 1, restore.stdout + restore.stderr
    assert "is corrupt" in restore.stderr and result.sha256 in restore.stderr, restore.stderr
    assert user_table_names(empty_db) == [], "the target must not be touched"

    verify = cli("backup", "verify", "--bucket", bucket, "--json")
    report = json.loads(verify.stdout)
    assert verify.exit_code == 1 and report["ok"] is False
    assert any("is corrupt" in p for p in report["problems"]), report["problems"]


def test_non_empty_target_is_refused_without_clean_and_replaced_with_clean(
    source_db: str, empty_db: str, s3: Any, bucket: str, cli: Any
) -> None:
    backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
    with psycopg.connect(empty_db) as conn:
        conn.execute("CREATE TABLE public.recipes (id bigint PRIMARY KEY, title text)")
        conn.execute("INSERT INTO public.recipes VALUES (1, 'stale local copy')")

    refused = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db)
    assert refused.exit_code == 1
    assert "is not empty" in refused.stderr and "public.recipes" in refused.stderr, refused.stderr
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT * FROM public.recipes").fetchall() == [(1, "stale local copy")]

    cleaned = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db, "--clean", "--json")
    assert cleaned.exit_code == 0, cleaned.stdout + cleaned.stderr
    assert json.loads(cleaned.stdout)["clean"] is True
    assert table_contents(empty_db) == table_contents(source_db)


def test_pg_restore_failure_is_reported_with_its_stderr_and_exit_1(
    source_db: str, empty_db: str, s3: Any, bucket: str, cli: Any
) -> None:
    backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
    with psycopg.connect(empty_db) as conn:
        # --clean first drops the dump's constraints on public.profiles: a view of that name refuses.
        conn.execute("CREATE TABLE public.keep (id int)")
        conn.execute("CREATE VIEW public.profiles AS SELECT 1 AS id")

    result = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db, "--clean")

    assert result.exit_code == 1, result.stdout + result.stderr
    assert "pg_restore into postgres@127.0.0.1" in result.stderr and "failed with exit code 1" in result.stderr
    assert 'cannot be performed on relation "profiles"' in result.stderr, result.stderr


def test_no_backups_at_all_makes_verify_restore_and_drill_exit_1_with_a_clear_message(
    empty_db: str, pg_server: Any, aws: str, bucket: str, cli: Any
) -> None:
    verify = cli("backup", "verify", "--bucket", bucket)
    assert verify.exit_code == 1 and f"no complete db backup in s3://{bucket}/db/" in verify.stderr, verify.stderr
    restore = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db, "--json")
    assert restore.exit_code == 1 and "no complete db backup" in json.loads(restore.stdout)["error"]
    drill = cli("drill", "--bucket", bucket, "--scratch-url", pg_server.dsn("chefchatz_drill_none"))
    assert drill.exit_code == 1 and "no complete db backup" in drill.stderr, drill.stderr
    listed = cli("backup", "list", "--bucket", bucket)
    assert listed.exit_code == 0 and "no backups" in listed.stdout
