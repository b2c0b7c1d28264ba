"""The piped restore of the directory layout (`ops.backup.piped_restore`): S3's checksums vouch for
every object before pg_restore starts, then the big tables reach pg_restore through named pipes as
they download; on real PostgreSQL and moto."""

from __future__ import annotations

import os
import threading
import time
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from ops import backup as backups
from ops.backup import Location, piped_restore, restore

from .conftest import SpyS3, live_children, table_contents, user_table_names

# Small chunks: the seeded image table becomes several objects, all fed into one pipe in order.
CHUNK = 160 * 1024


@pytest.fixture
def piped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every table's data file is piped (the seeded tables are far below 8 MiB); the pipes made, by name."""
    monkeypatch.setattr(piped_restore, "PIPED_MIN_BYTES", 1)
    made: list[str] = []
    real = os.mkfifo

    def mkfifo(path: str, mode: int = 0o666) -> None:
        made.append(os.path.basename(path))
        real(path, mode)

    monkeypatch.setattr(piped_restore.os, "mkfifo", mkfifo)
    return made


def test_a_piped_restore_is_checked_by_s3_first_and_restores_identical_data(
    source_db: str, empty_db: str, s3: Any, bucket: str, tmp_path: Any, piped: list[str]
) -> None:
    made = backups.backup_database(source_db, Location(bucket), jobs=2, chunk_bytes=CHUNK)
    manifest = backups.load_manifest(s3, Location(bucket), backups.Kind.DB, made.backup_id)
    dump = manifest["dump"]
    data_files = sorted({f["name"] for f in dump["files"]} - {"toc.dat"})
    spy = SpyS3(s3)

    restored = backups.restore_database(
        Location(bucket), empty_db, jobs=2, s3=spy, scratch_dir=str(tmp_path), pipe=True
    )

    assert sorted(piped) == data_files, "every table's data reached pg_restore through a pipe"
    assert table_contents(empty_db) == table_contents(source_db)
    assert (restored.layout, restored.restored_bytes, restored.stored_bytes) == (
        "directory",
        dump["size_bytes"],
        dump["stored_bytes"],
    )
    heads = [key for call, key in spy.keys if call == "head_object"]
    gets = [key for call, key in spy.keys if call == "get_object" and "/dump/" in key]
    assert sorted(heads) == sorted(f["key"] for f in dump["files"]), "every object checked by S3 first"
    assert sorted(gets) == sorted(f["key"] for f in dump["files"]), "every object read once"
    assert max(sum(1 for f in dump["files"] if f["name"] == n) for n in data_files) >= 3, "a pipe fed several objects"
    assert os.listdir(tmp_path) == [], "the restore's scratch directory must be removed"


def test_the_piped_restore_needs_scratch_space_only_for_the_files_it_does_not_pipe(
    source_db: str, empty_db: str, s3: Any, bucket: str, piped: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = backups.backup_database(source_db, Location(bucket), jobs=2, chunk_bytes=CHUNK)
    usage = namedtuple("usage", "total used free")
    # Less than the decompressed dump, enough for the table of contents and the slack.
    free = 64 * 2**20 + 64 * 1024
    assert made.size_bytes > 64 * 1024
    monkeypatch.setattr(backups.directory.shutil, "disk_usage", lambda path: usage(2**30, 2**30 - free, free))

    backups.restore_database(Location(bucket), empty_db, jobs=2, s3=s3, pipe=True)

    assert piped and user_table_names(empty_db)


class _OtherBytes:
    """An S3 client whose GetObject of one key returns other bytes than S3 vouched for."""

    def __init__(self, real: Any, key: str) -> None:
        self._real, self._key = real, key

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._real, name)
        if name != "get_object":
            return target

        def get_object(**kwargs: Any) -> Any:
            response = target(**kwargs)
            if kwargs["Key"] == self._key:
                data = bytearray(response["Body"].read())
                data[len(data) // 2] ^= 0x01
                response["Body"] = _Body(bytes(data))
            return response

        return get_object


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        data, self._data = (self._data, b"") if size < 0 else (self._data[:size], self._data[size:])
        return data


def test_bytes_that_differ_from_what_s3_vouched_for_never_reach_pg_restore_and_stop_it(
    source_db: str, empty_db: str, s3: Any, bucket: str, piped: list[str]
) -> None:
    made = backups.backup_database(source_db, Location(bucket), jobs=2, chunk_bytes=CHUNK)
    manifest = backups.load_manifest(s3, Location(bucket), backups.Kind.DB, made.backup_id)
    entry = max((f for f in manifest["dump"]["files"] if f["name"] != "toc.dat"), key=lambda f: f["stored_bytes"])

    with pytest.raises(backups.CorruptBackupError, match="changed between verification and restore") as caught:
        backups.restore_database(Location(bucket), empty_db, jobs=2, s3=_OtherBytes(s3, entry["key"]), pipe=True)

    assert entry["key"] in str(caught.value) and entry["sha256"] in str(caught.value)
    assert live_children("pg_restore") == [], "pg_restore was stopped"


def test_pg_restore_failing_before_it_opens_a_pipe_is_its_error_and_nothing_waits(
    source_db: str, empty_db: str, s3: Any, bucket: str, piped: list[str]
) -> None:
    backups.backup_database(source_db, Location(bucket), jobs=2, chunk_bytes=CHUNK)
    import psycopg

    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA chat")  # the dump creates it: pg_restore stops in its pre-data
    started = time.monotonic()
    threads = threading.active_count()
    spy = SpyS3(s3)

    with pytest.raises(backups.BackupError, match='schema "chat" already exists'):
        backups.restore_database(Location(bucket), empty_db, jobs=2, s3=spy, pipe=True)

    assert time.monotonic() - started < 60
    piped_keys = [k for call, k in spy.keys if call == "get_object" and "/dump/" in k and "/toc.dat" not in k]
    assert piped_keys == [], "no pipe is fed once pg_restore has failed"
    assert threading.active_count() <= threads, "no feeder left waiting for a reader"
    assert live_children("pg_restore") == []


def test_nothing_is_piped_unless_asked_and_piping_from_a_stand_in_is_warned_about(
    source_db: str, s3: Any, bucket: str, piped: list[str], pg_server: Any
) -> None:
    # moto stores the client's checksum without recomputing it: its HEAD vouches for nothing.
    backups.backup_database(source_db, Location(bucket), jobs=2, chunk_bytes=CHUNK)
    first, second = (pg_server.dsn(pg_server.create_database()) for _ in range(2))

    plain = backups.restore_database(Location(bucket), first, jobs=2, s3=s3)
    assert piped == [] and user_table_names(first) and plain.warnings == [], "downloaded and verified first"
    warned = backups.restore_database(Location(bucket), second, jobs=2, s3=s3, pipe=True)
    assert piped and table_contents(second) == table_contents(source_db)
    assert len(warned.warnings) == 1 and "not an AWS S3 endpoint" in warned.warnings[0], warned.warnings
    assert not restore.s3_verifies_checksums(s3)
    for endpoint, trusted in (
        ("https://s3.us-east-1.amazonaws.com", True),
        ("https://s3.dualstack.eu-west-1.amazonaws.com", True),
        ("https://s3.cn-north-1.amazonaws.com.cn", True),
        ("http://127.0.0.1:9000", False),
        ("https://minio.example.com", False),
        ("https://amazonaws.com.example.com", False),
    ):
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        assert restore.s3_verifies_checksums(client) is trusted, endpoint


def test_a_feeder_released_before_it_reaches_its_pipe_neither_hangs_nor_downloads(tmp_path: Any) -> None:
    # pg_restore failed before this feeder's thread even opened its pipe: release() must let it go.
    path = str(tmp_path / "3456.dat")
    os.mkfifo(path)
    stopping = threading.Event()
    stopping.set()

    class NoS3:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"no request expected, got {name}")

    with ThreadPoolExecutor(max_workers=1) as downloads:
        feeder = piped_restore._Feeder(NoS3(), "b", path, [{"key": "k"}], {}, downloads, stopping)
        held = feeder.release()  # the pipe is open for reading before the feeder gets to it
        assert held is not None
        try:
            errors: list[BaseException] = []
            runner = threading.Thread(target=feeder.run, args=(errors.append,))
            runner.start()
            runner.join(timeout=10)
        finally:
            os.close(held)
    assert not runner.is_alive()
    assert errors == [] and feeder.written == 0  # on_error never called: no failure recorded


def test_a_bad_object_in_the_middle_of_a_table_leaves_none_of_it_committed(
    source_db: str, empty_db: str, s3: Any, bucket: str, piped: list[str]
) -> None:
    # The table's first object is in pg_restore's COPY when its second one is found bad: pg_restore is
    # stopped with SIGTERM before the pipe closes, so the COPY is cancelled rather than ended short.
    made = backups.backup_database(source_db, Location(bucket), jobs=2, chunk_bytes=CHUNK)
    manifest = backups.load_manifest(s3, Location(bucket), backups.Kind.DB, made.backup_id)
    files = manifest["dump"]["files"]
    name = max({f["name"] for f in files}, key=lambda n: sum(1 for f in files if f["name"] == n))
    second = next(f for f in files if f["name"] == name and f["offset"] > 0)

    with pytest.raises(backups.CorruptBackupError, match="changed between verification and restore"):
        backups.restore_database(Location(bucket), empty_db, jobs=2, s3=_OtherBytes(s3, second["key"]), pipe=True)

    import psycopg

    with psycopg.connect(empty_db) as conn:
        rows = conn.execute("SELECT count(*) FROM recipe_images").fetchone()
    assert rows == (0,), f"{name} ({second['key']}): {rows}"
    assert live_children("pg_restore") == []
