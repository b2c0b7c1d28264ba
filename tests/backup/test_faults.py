"""The faults issue 4 lists: pg_dump failing, interrupted uploads, corrupt dumps, a non-empty target,
no backups at all, rejected credentials. Each must fail loudly and leave nothing that counts."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
import pytest
from botocore.exceptions import ClientError

from ops.backup import core as backups
from ops.backup.core import Kind, Location

from .conftest import TEST_PART_SIZE, all_keys, table_contents


class SpyS3:
    """Delegates to a real client; counts calls and can fail chosen `upload_part` calls."""

    def __init__(
        self, real: Any, fail_part: int | None = None, error: BaseException | None = None, times: int = 1
    ) -> None:
        self._real = real
        self._fail_part = fail_part
        self._error = error
        self._times = times
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._real, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if name == "upload_part" and kwargs.get("PartNumber") == self._fail_part and self._times > 0:
                self._times -= 1
                assert self._error is not None
                raise self._error
            return target(*args, **kwargs)

        return call


def client_error(code: str, message: str, status: int, operation: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


def live_children(name: str) -> list[int]:
    """PIDs of our non-zombie child processes called `name` (a leaked pg_dump would show here)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        if comm == name and int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(entry))
    return found


def user_table_names(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [f"{s}.{n}" for s, n, _, _ in backups.user_tables(conn)]


def nothing_counts(s3: Any, bucket: str) -> None:
    location = Location(bucket)
    assert [e for e in backups.list_backups(location, Kind.DB, s3=s3) if e.complete] == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "multipart upload left open"
    verdict = backups.verify_latest(location, Kind.DB, dt.timedelta(hours=6), s3=s3)
    assert not verdict.ok and "no complete db backup" in verdict.problems[0], verdict.problems


# ---------------------------------------------------------------------------------------------- pg_dump


def test_pg_dump_failing_mid_dump_aborts_the_upload_and_reports_its_stderr(
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
        backups.backup_database(dsn, Location(bucket), s3=spy, part_size=TEST_PART_SIZE, zstd_threads=0)

    message = str(caught.value)
    assert caught.value.exit_code == 1
    assert "pg_dump failed with exit code 1" in message and "row-level security" in message, message
    assert "hunter2-not-shown" not in message
    assert spy.calls.get("upload_part", 0) >= 2, "the failure should come after parts were uploaded"
    assert spy.calls.get("abort_multipart_upload") == 1
    assert all_keys(s3, bucket) == []
    assert live_children("pg_dump") == []
    nothing_counts(s3, bucket)


def test_unreachable_database_fails_with_exit_1_and_never_prints_the_password(aws: str, bucket: str, cli: Any) -> None:
    dsn = "postgresql://app:Sup3r-Secret-pw@127.0.0.1:1/chefchatz"
    for as_json in ([], ["--json"]):
        result = cli("backup", "db", "--database-url", dsn, "--bucket", bucket, *as_json)
        assert result.exit_code == 1, result.stdout + result.stderr
        assert "Sup3r-Secret-pw" not in result.stdout + result.stderr
        assert "app@127.0.0.1:1/chefchatz" in result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is False


# ---------------------------------------------------------------------------------------------- uploads


def test_interrupted_upload_leaves_no_manifest_and_nothing_complete(source_db: str, s3: Any, bucket: str) -> None:
    spy = SpyS3(s3, fail_part=2, error=RuntimeError("simulated crash while uploading part 2"))

    with pytest.raises(RuntimeError, match="simulated crash"):
        backups.backup_database(source_db, Location(bucket), s3=spy, part_size=TEST_PART_SIZE)

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

    result = backups.backup_database(source_db, Location(bucket), s3=spy, part_size=TEST_PART_SIZE)

    parts = json.loads(s3.get_object(Bucket=bucket, Key=result.manifest_key)["Body"].read())["dump"]["parts"]
    assert spy.calls["upload_part"] == parts + 1, "part 2 should have been sent twice"
    backups.restore_database(Location(bucket), empty_db, s3=s3)
    assert table_contents(empty_db) == table_contents(source_db)


def test_a_dump_without_manifest_is_listed_incomplete_and_never_counts(
    source_db: str, empty_db: str, s3: Any, bucket: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def manifest_write_fails(*args: Any, **kwargs: Any) -> None:
        raise client_error("AccessDenied", "no PutObject on manifests", 403, "PutObject")

    with monkeypatch.context() as patched, pytest.raises(backups.BackupError, match="writing the manifest"):
        patched.setattr(backups, "_put_json", manifest_write_fails)
        backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)

    assert [k.rsplit("/", 1)[1] for k in all_keys(s3, bucket)] == ["dump.pgcustom.zst"]
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


# ---------------------------------------------------------------------------------------------- corruption


@pytest.mark.parametrize("damage", ["truncated", "bit-flipped"])
def test_corrupt_dump_is_refused_before_the_target_is_touched_and_verify_fails(
    damage: str, source_db: str, empty_db: str, s3: Any, bucket: str, cli: Any
) -> None:
    result = backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
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


# ---------------------------------------------------------------------------------------------- target


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


# ---------------------------------------------------------------------------------------------- nothing


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


def test_stale_backup_fails_verify(source_db: str, s3: Any, bucket: str) -> None:
    backups.backup_database(source_db, Location(bucket), part_size=TEST_PART_SIZE)
    location = Location(bucket)

    fresh = backups.verify_latest(location, Kind.DB, dt.timedelta(hours=6), s3=s3)
    later = backups.verify_latest(
        location, Kind.DB, dt.timedelta(hours=6), s3=s3, now=lambda: backups.utcnow() + dt.timedelta(hours=7)
    )

    assert fresh.ok, fresh.problems
    assert not later.ok and "older than --max-age 6h00m" in later.problems[0], later.problems


# ---------------------------------------------------------------------------------------------- credentials


def test_credentials_unknown_to_the_endpoint_exit_2_naming_the_aws_error(
    moto_endpoint: str, aws: str, bucket: str, source_db: str, cli: Any
) -> None:
    # moto's documented switch: after POST /moto-api/reset-auth with 0, every request is checked
    # against the IAM users it knows, like AWS does. Our "testing" key belongs to nobody.
    httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
    try:
        listed = cli("backup", "list", "--bucket", bucket)
        backup = cli("backup", "db", "--database-url", source_db, "--bucket", bucket, "--json")
    finally:
        httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()

    assert listed.exit_code == 2 and "InvalidAccessKeyId" in listed.stderr, listed.stderr
    assert backup.exit_code == 2, backup.stdout
    assert "AWS rejected the credentials (InvalidAccessKeyId" in json.loads(backup.stdout)["error"]
    assert "testing" not in json.loads(backup.stdout)["error"].replace("AWS", "")


class _ExpiredTokenS3(BaseHTTPRequestHandler):
    """What S3 answers to a request signed with an expired STS session token."""

    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code>'
        b"<Message>The provided token has expired.</Message><RequestId>R1</RequestId></Error>"
    )

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(400)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _reply

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def expired_token_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ExpiredTokenS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_expired_session_token_exits_2_with_the_expired_token_error(
    aws: str,
    expired_token_endpoint: str,
    source_db: str,
    empty_db: str,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", expired_token_endpoint)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXPIRED")
    for args in (
        ["backup", "list", "--bucket", "chefchatz-prod-db-backups"],
        ["backup", "verify", "--bucket", "chefchatz-prod-db-backups"],
        ["backup", "db", "--database-url", source_db, "--bucket", "chefchatz-prod-db-backups"],
        ["restore", "db", "--bucket", "chefchatz-prod-db-backups", "--target-url", empty_db],
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert "ExpiredToken" in result.stderr, (args, result.stderr)
    assert live_children("pg_dump") == []
