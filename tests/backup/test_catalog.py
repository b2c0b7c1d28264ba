"""`backup list` / `backup verify`: complete and incomplete backups, freshness."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from ops import backup as backups
from ops.backup import Kind, Location, dump

from .conftest import (
    TEST_PART_SIZE,
    all_keys,
    client_error,
    user_table_names,
)


def test_a_dump_without_manifest_is_listed_incomplete_and_never_counts(
    source_db: str, empty_db: str, s3: Any, bucket: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def manifest_write_fails(*args: Any, **kwargs: Any) -> None:
        raise client_error("AccessDenied", "no PutObject on manifests", 403, "PutObject")

    with monkeypatch.context() as patched, pytest.raises(backups.BackupError, match="writing the manifest"):
        patched.setattr(dump, "put_json", manifest_write_fails)
        backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)

    stored = [k.split("/", 2)[2] for k in all_keys(s3, bucket)]
    assert "dump/toc.dat.zst" in stored and "manifest.json" not in stored, stored
    listed = cli("backup", "list", "--bucket", bucket, "--kind", "db", "--json")
    entries = json.loads(listed.stdout)["backups"]
    assert listed.exit_code == 0 and [e["complete"] for e in entries] == [False], listed.stdout
    assert "no manifest" in entries[0]["note"]
    human = cli("backup", "list", "--bucket", bucket)
    assert "INCOMPLETE" in human.stdout
    assert cli("backup", "verify", "--bucket", bucket).exit_code == 1
    restore = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db)
    assert restore.exit_code == 1 and "no complete db backup" in restore.stderr, restore.stderr
    by_id = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db, "--backup-id", entries[0]["backup_id"])
    assert by_id.exit_code == 1 and "has no manifest" in by_id.stderr, by_id.stderr
    assert user_table_names(empty_db) == []


def test_an_upload_left_open_by_a_killed_process_is_listed_incomplete(s3: Any, bucket: str, cli: Any) -> None:
    # What `kill -9` mid-backup leaves behind: an open multipart upload, no object, no manifest.
    backup_id = "20261127T040000.000Z-deadbe"
    s3.create_multipart_upload(Bucket=bucket, Key=f"db/{backup_id}/dump.pgcustom.zst")

    listed = json.loads(cli("backup", "list", "--bucket", bucket, "--json").stdout)["backups"]
    assert [(b["backup_id"], b["complete"], b["note"]) for b in listed] == [
        (backup_id, False, "upload never completed")
    ]
    assert cli("backup", "verify", "--bucket", bucket).exit_code == 1


def test_stale_backup_fails_verify(source_db: str, s3: Any, bucket: str) -> None:
    backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
    location = Location(bucket)

    fresh = backups.verify_latest(location, Kind.DB, dt.timedelta(hours=6), s3=s3)
    later = backups.verify_latest(
        location, Kind.DB, dt.timedelta(hours=6), s3=s3, now=lambda: backups.utcnow() + dt.timedelta(hours=7)
    )

    assert fresh.ok, fresh.problems
    assert not later.ok and "older than --max-age 6h00m" in later.problems[0], later.problems
