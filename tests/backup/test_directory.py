"""The parallel (directory) layout, issue 22: pg_dump --jobs into one zstd object per file, each with its
sha256 in the manifest; restore fetches and verifies every object before pg_restore --jobs touches the target."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import threading
import time
from collections import namedtuple
from typing import Any

import pytest

from ops import backup as backups
from ops.backup import Kind, Location, directory

from .conftest import (
    SpyS3,
    all_keys,
    live_children,
    nothing_counts,
    object_sha256,
    table_contents,
    user_table_names,
)

# Small chunks: the seeded image table (~500 KiB of hex in the dump) becomes several objects.
CHUNK = 160 * 1024


def test_round_trip_of_the_directory_layout_with_two_jobs_restores_identical_data(
    source_db: str, empty_db: str, s3: Any, bucket: str, tmp_path: Any
) -> None:
    location = Location(bucket, "prod")
    spy = SpyS3(s3)
    result = backups.backup_database(source_db, location, s3=spy, jobs=2, chunk_bytes=CHUNK, scratch_dir=str(tmp_path))

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())
    dump = manifest["dump"]
    assert manifest["format"] == "chefchatz-backup-manifest/2"
    assert (dump["format"], dump["jobs"], result.layout) == ("pg_dump-directory+zstd", 2, "directory")
    names = sorted({f["name"] for f in dump["files"]})
    # toc.dat and one data file per table with rows (4 seeded tables).
    assert "toc.dat" in names and len([n for n in names if n.endswith(".dat") and n != "toc.dat"]) == 4, names
    stored = sorted(k for k in all_keys(s3, bucket) if not k.endswith("manifest.json"))
    assert stored == sorted(f["key"] for f in dump["files"]), "every object is in the manifest and nothing else"
    for entry in dump["files"]:
        assert entry["sha256"] == object_sha256(s3, bucket, entry["key"]), entry["key"]
        head = s3.head_object(Bucket=bucket, Key=entry["key"], ChecksumMode="ENABLED")
        assert entry["stored_bytes"] == head["ContentLength"], entry["key"]
        # The object's S3 checksum is the manifest's sha256: S3 refuses bytes that do not match it.
        assert base64.b64decode(head["ChecksumSHA256"]).hex() == entry["sha256"], entry["key"]
    # A file is every object with its name, each a CHUNK of it in order; the image table needs several.
    chunks: dict[str, list[dict[str, Any]]] = {}
    for entry in dump["files"]:
        chunks.setdefault(entry["name"], []).append(entry)
    for name, entries in chunks.items():
        assert [e["key"] for e in entries] == [
            f"prod/db/{result.backup_id}/dump/{name}" + (".zst" if i == 0 else f".{i}.zst") for i in range(len(entries))
        ]
        assert [e["offset"] for e in entries] == [i * CHUNK for i in range(len(entries))], name
        assert all(e["size_bytes"] == CHUNK for e in entries[:-1]) and entries[-1]["size_bytes"] <= CHUNK, name
    assert max(len(entries) for entries in chunks.values()) >= 3, {n: len(e) for n, e in chunks.items()}
    calls = {call for call, key in spy.keys if "/dump/" in key}
    assert calls == {"put_object"}, f"each object is one PutObject, no multipart upload: {calls}"
    assert dump["size_bytes"] == sum(f["size_bytes"] for f in dump["files"]) == result.size_bytes
    assert manifest["database"]["size_bytes"] > 0
    assert os.listdir(tmp_path) == [], "the dump's scratch directory must be removed"

    restored = backups.restore_database(location, empty_db, jobs=2, scratch_dir=str(tmp_path), s3=s3)

    assert (restored.layout, restored.jobs, restored.restored_bytes) == ("directory", 2, dump["size_bytes"])
    assert restored.database_bytes == manifest["database"]["size_bytes"]
    assert table_contents(empty_db) == table_contents(source_db)
    assert os.listdir(tmp_path) == [], "the restore's scratch directory must be removed"
    verdict = backups.verify_latest(Location(bucket, "prod"), Kind.DB, dt.timedelta(hours=1), s3=s3)
    assert verdict.ok and verdict.checked_bytes == dump["stored_bytes"], verdict.problems


def test_one_job_dumps_and_restores_too(source_db: str, empty_db: str, s3: Any, bucket: str, cli: Any) -> None:
    made = cli("backup", "db", "--database-url", source_db, "--bucket", bucket, "--jobs", "1", "--json")
    assert made.exit_code == 0, made.stdout + made.stderr
    assert json.loads(made.stdout)["jobs"] == 1

    restored = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db, "--jobs", "1", "--json")

    assert restored.exit_code == 0, restored.stdout + restored.stderr
    assert table_contents(empty_db) == table_contents(source_db)


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered"])
def test_a_missing_truncated_or_altered_object_is_refused_before_anything_reaches_the_target(
    damage: str, source_db: str, empty_db: str, s3: Any, bucket: str, cli: Any
) -> None:
    made = backups.backup_database(source_db, Location(bucket), jobs=2, chunk_bytes=CHUNK)
    manifest = backups.load_manifest(s3, Location(bucket), Kind.DB, made.backup_id)
    # The biggest object: the table pg_restore would load in full before failing.
    entry = max(manifest["dump"]["files"], key=lambda f: f["stored_bytes"])
    key = entry["key"]
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    if damage == "missing":
        s3.delete_object(Bucket=bucket, Key=key)
    elif damage == "truncated":
        s3.put_object(Bucket=bucket, Key=key, Body=bytes(data[: len(data) // 2]))
    else:
        data[len(data) // 2] ^= 0x01
        s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))

    restore = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db, "--jobs", "2")

    assert restore.exit_code == 1, restore.stdout + restore.stderr
    expected = "is listed in the manifest but missing" if damage == "missing" else "is corrupt"
    assert f"{key} {expected}" in restore.stderr, restore.stderr
    if damage != "missing":
        assert entry["sha256"] in restore.stderr
    assert user_table_names(empty_db) == [], "the target must not be touched"
    verify = cli("backup", "verify", "--bucket", bucket, "--json")
    assert verify.exit_code == 1 and any(key in p for p in json.loads(verify.stdout)["problems"]), verify.stdout


class FirstPutWaits:
    """A real client whose first PutObject of a dump object waits (up to 10 s) until a second one starts,
    as an upload waits on a distant S3."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._puts = 0
        self._lock = threading.Lock()
        self._second = threading.Event()
        self.overlapped: bool | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put_object(self, **kwargs: Any) -> Any:
        if "/dump/" in kwargs["Key"]:
            with self._lock:
                self._puts += 1
                n = self._puts
            if n == 1:
                self.overlapped = self._second.wait(10)
            elif n == 2:
                self._second.set()
        return self._real.put_object(**kwargs)


def test_the_next_chunk_is_compressed_and_sent_while_an_upload_waits_on_s3(
    source_db: str, empty_db: str, s3: Any, bucket: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's PutObject runs outside its compression slot: with one job, the next chunk is read,
    compressed and sent while the first one's upload still waits for S3's answer."""
    waits = FirstPutWaits(s3)
    running, peak, lock = 0, 0, threading.Lock()
    real = directory.zstandard.ZstdCompressor

    class Counted:  # how many chunks are compressed at once: never more than the jobs
        def __init__(self, **kwargs: Any) -> None:
            self._real = real(**kwargs)

        def compress(self, data: Any) -> bytes:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                time.sleep(0.02)
                return bytes(self._real.compress(data))
            finally:
                with lock:
                    running -= 1

    monkeypatch.setattr(directory.zstandard, "ZstdCompressor", Counted)

    result = backups.backup_database(
        source_db, Location(bucket), s3=waits, jobs=1, chunk_bytes=CHUNK, scratch_dir=str(tmp_path)
    )

    assert waits.overlapped is True, "the second chunk's PutObject did not start while the first one waited"
    assert peak == 1, f"{peak} chunks compressed at once with one job"
    restored = backups.restore_database(Location(bucket), empty_db, jobs=1, scratch_dir=str(tmp_path), s3=s3)
    assert restored.restored_bytes == result.size_bytes
    assert table_contents(empty_db) == table_contents(source_db)


def test_an_interrupted_directory_backup_leaves_no_manifest_no_open_upload_and_no_pg_dump(
    source_db: str, s3: Any, bucket: str, tmp_path: Any
) -> None:
    # The third object fails (small chunks make many): the failure lands mid-backup, objects stored.
    spy = SpyS3(s3, fail_put=3, error=RuntimeError("simulated crash while storing an object"))

    with pytest.raises(RuntimeError, match="simulated crash"):
        backups.backup_database(
            source_db, Location(bucket), s3=spy, jobs=2, chunk_bytes=CHUNK, scratch_dir=str(tmp_path)
        )

    assert spy.calls.get("put_object", 0) >= 3
    assert spy.calls.get("delete_objects", 0) >= 1, "the objects stored before the failure are deleted"
    assert [k for k in all_keys(s3, bucket) if k.endswith("manifest.json")] == []
    assert live_children("pg_dump") == [], "pg_dump must not outlive a failed backup"
    assert os.listdir(tmp_path) == [], "the dump's files must not be left on disk"
    nothing_counts(s3, bucket)


def test_pg_dump_failing_fails_the_directory_backup_with_its_stderr(source_db: str, s3: Any, bucket: str) -> None:
    dsn = source_db.rsplit("/", 1)[0] + "/no_such_database"

    with pytest.raises(backups.BackupError, match="no_such_database"):
        backups.backup_database(dsn, Location(bucket), jobs=2)

    nothing_counts(s3, bucket)


def test_not_enough_scratch_disk_exits_2_before_downloading_anything(
    source_db: str, empty_db: str, s3: Any, bucket: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = backups.backup_database(source_db, Location(bucket), jobs=2)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(directory.shutil, "disk_usage", lambda path: usage(10 * 2**20, 9 * 2**20, 2**20))

    result = cli("restore", "db", "--bucket", bucket, "--target-url", empty_db, "--scratch-dir", "/tmp", "--json")
    assert result.exit_code == 2, result.stdout
    error = json.loads(result.stdout)["error"]
    assert "not enough disk space in /tmp" in error and "1.0 MiB is free" in error, error
    spy = SpyS3(s3)
    with pytest.raises(backups.UsageError, match="not enough disk space"):
        backups.restore_database(Location(bucket), empty_db, s3=spy)
    assert [key for call, key in spy.keys if call == "get_object" and "/dump/" in key] == [], "nothing downloaded"
    assert user_table_names(empty_db) == []
    assert made.size_bytes > 0


@pytest.mark.parametrize(
    ("affinity", "cpu_max", "cores"),
    [
        (8, None, 8),
        (8, "max 100000", 8),
        (8, "200000 100000", 2),
        (8, "150000 100000", 2),  # 1.5 cores of quota: a second job still uses the half
        (8, "50000 100000", 1),
        (2, "400000 100000", 2),  # the quota cannot add cores the affinity does not give
        (0, None, 1),
        (4, "garbage", 4),
    ],
)
def test_jobs_default_to_the_cores_the_host_gives_this_process(affinity: int, cpu_max: str | None, cores: int) -> None:
    assert directory.cores_from(affinity, cpu_max) == cores


@pytest.mark.parametrize(
    ("needed", "free", "refused"),
    [(0, 64 * 2**20, False), (2**30, 2**30 + 64 * 2**20, False), (2**30, 2**30 + 64 * 2**20 - 1, True)],
)
def test_scratch_space_must_hold_the_decompressed_dump_and_slack(needed: int, free: int, refused: bool) -> None:
    if refused:
        with pytest.raises(backups.UsageError, match="not enough disk space in /scratch") as caught:
            directory.check_scratch_space("/scratch", needed, lambda path: free)
        assert caught.value.exit_code == 2
    else:
        directory.check_scratch_space("/scratch", needed, lambda path: free)
