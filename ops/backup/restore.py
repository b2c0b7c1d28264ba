"""`restore db`: verify a database backup's checksum, then restore it into an empty (or --clean) target."""

from __future__ import annotations

import contextlib
import dataclasses
import subprocess
import time
from typing import Any

import zstandard

from ops.backup.aws import aws_errors, retry_aws, s3_client
from ops.backup.catalog import resolve_backup, verify_object
from ops.backup.errors import BackupError, CorruptBackupError
from ops.backup.layout import Kind, Location
from ops.backup.postgres import (
    READ_SIZE,
    StderrTail,
    connect,
    describe_dsn,
    pg_binary,
    pg_env,
    split_dsn,
    sql_errors,
    stop,
    user_tables,
    widen_pipe,
)
from ops.backup.upload import HashingReader

__all__ = ["RestoreResult", "restore_database"]


@dataclasses.dataclass
class RestoreResult:
    backup_id: str
    target: str
    clean: bool
    stored_bytes: int
    restored_bytes: int
    verify_seconds: float
    restore_seconds: float
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, **dataclasses.asdict(self)}


def restore_database(
    location: Location,
    target_url: str,
    *,
    backup_id: str = "latest",
    clean: bool = False,
    no_acl: bool = False,
    s3: Any = None,
) -> RestoreResult:
    """Verify the dump's checksum, then stream it through zstd into pg_restore on an empty target."""
    s3 = s3 if s3 is not None else s3_client()
    pg_restore = pg_binary("pg_restore")
    conninfo, password = split_dsn(target_url)
    clock = time.monotonic()
    manifest = resolve_backup(location, Kind.DB, backup_id, s3=s3)
    dump = manifest["dump"]

    with connect(target_url) as conn, sql_errors("listing the target's tables", target_url):
        existing = user_tables(conn)
    if existing and not clean:
        sample = ", ".join(f"{s}.{n}" for s, n, _, _ in existing[:3])
        raise BackupError(
            f"target database {describe_dsn(target_url)} is not empty ({len(existing)} user tables, "
            f"e.g. {sample}): refusing to restore; pass --clean to replace the dumped objects"
        )

    # Pass 1: the whole object must match the manifest before pg_restore touches the target.
    etag = verify_object(s3, location.bucket, dump["key"], dump["sha256"], dump["stored_bytes"])
    verified = time.monotonic()

    # Pass 2: stream again (memory stays bounded); If-Match pins the object we just verified.
    args = [pg_restore, "--no-owner", "--exit-on-error", "--no-password", f"--dbname={conninfo}"]
    if clean:
        args += ["--clean", "--if-exists"]
    if no_acl:
        args.append("--no-acl")
    with aws_errors(f"reading {location.url(dump['key'])}"):
        body = retry_aws(s3.get_object)(Bucket=location.bucket, Key=dump["key"], IfMatch=etag)["Body"]
    reader = HashingReader(body)
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=pg_env(password)
    )
    assert proc.stdin is not None and proc.stderr is not None
    widen_pipe(proc.stdin)
    stderr = StderrTail(proc.stderr, (target_url, password))
    restored = 0
    try:
        decompressed = zstandard.ZstdDecompressor().stream_reader(reader)  # type: ignore[arg-type]
        try:
            with aws_errors(f"reading {location.url(dump['key'])}"):
                while data := decompressed.read(READ_SIZE):
                    restored += len(data)
                    proc.stdin.write(data)
        except BrokenPipeError:
            pass  # pg_restore exited early; its exit status and stderr say why
        except zstandard.ZstdError as exc:
            raise CorruptBackupError(f"{location.url(dump['key'])} failed to decompress: {exc}") from None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        returncode = proc.wait()
    except BaseException:
        stop(proc)
        raise
    if returncode != 0:
        raise BackupError(
            f"pg_restore into {describe_dsn(target_url)} failed with exit code {returncode}:\n{stderr.text()}"
        )
    if reader.sha256.hexdigest() != dump["sha256"]:
        raise CorruptBackupError(f"{location.url(dump['key'])} changed between verification and restore")
    done = time.monotonic()
    return RestoreResult(
        backup_id=manifest["backup_id"],
        target=describe_dsn(target_url),
        clean=clean,
        stored_bytes=reader.bytes,
        restored_bytes=restored,
        verify_seconds=round(verified - clock, 3),
        restore_seconds=round(done - verified, 3),
        seconds=round(done - clock, 3),
    )
