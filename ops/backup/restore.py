"""`restore db`: verify a database backup's checksums, then restore it into an empty (or --clean) target.

Both layouts (`ops.backup.dump`): a directory-layout backup is fetched into a scratch directory
(`ops.backup.directory`, every object verified) and restored by `pg_restore --jobs N`; a single-stream
backup is verified in one pass and streamed through zstd into pg_restore in a second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import zstandard

from ops.backup.aws import aws_errors, retry_aws, s3_client
from ops.backup.catalog import resolve_backup, verify_object
from ops.backup.directory import DIRECTORY_DUMP_FORMAT, check_scratch_space, default_jobs, fetch_directory
from ops.backup.errors import BackupError, CorruptBackupError, UsageError
from ops.backup.layout import Kind, Location
from ops.backup.postgres import (
    READ_SIZE,
    STDERR_TAIL_LINES,
    StderrTail,
    connect,
    describe_dsn,
    pg_binary,
    pg_env,
    redact,
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
    layout: str
    jobs: int
    stored_bytes: int
    restored_bytes: int
    # The database's size when it was backed up (None for backups older than issue 22): what a drill
    # divides by its time to state the restore's throughput.
    database_bytes: int | None
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
    jobs: int | None = None,
    scratch_dir: str | None = None,
    s3: Any = None,
    disk_free: Callable[[str], int] | None = None,
) -> RestoreResult:
    """Verify every stored byte of the backup against its manifest, then restore it.

    Refused before the target is touched: a non-empty target without `clean`, a scratch directory
    without room for the decompressed dump (directory layout; UsageError, before any download), a
    missing or damaged object. `jobs` (directory layout): parallel downloads and pg_restore jobs,
    default the host's cores.
    """
    jobs = jobs if jobs is not None else default_jobs()
    if jobs < 1:
        raise UsageError(f"invalid --jobs {jobs}: must be at least 1")
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
    args = [pg_restore, "--no-owner", "--exit-on-error", "--no-password", f"--dbname={conninfo}"]
    if clean:
        args += ["--clean", "--if-exists"]
    if no_acl:
        args.append("--no-acl")
    if dump["format"] == DIRECTORY_DUMP_FORMAT:
        layout = "directory"
        stored, restored, verified = _restore_directory(
            s3, location, dump, args, target_url, password, jobs, scratch_dir, disk_free
        )
    else:
        layout, jobs = "stream", 1
        stored, restored, verified = _restore_stream(s3, location, dump, args, target_url, password)
    done = time.monotonic()
    return RestoreResult(
        backup_id=manifest["backup_id"],
        target=describe_dsn(target_url),
        clean=clean,
        layout=layout,
        jobs=jobs,
        stored_bytes=stored,
        restored_bytes=restored,
        database_bytes=manifest["database"].get("size_bytes"),
        verify_seconds=round(verified - clock, 3),
        restore_seconds=round(done - verified, 3),
        seconds=round(done - clock, 3),
    )


def _restore_directory(
    s3: Any,
    location: Location,
    dump: dict[str, Any],
    args: list[str],
    target_url: str,
    password: str | None,
    jobs: int,
    scratch_dir: str | None,
    disk_free: Callable[[str], int] | None,
) -> tuple[int, int, float]:
    root = scratch_dir or tempfile.gettempdir()
    check_scratch_space(root, int(dump["size_bytes"]), disk_free)
    try:
        workdir = tempfile.mkdtemp(prefix="chefchatz-restore-", dir=root)
    except OSError as exc:
        raise UsageError(f"scratch directory {root!r} is not usable: {exc}") from None
    try:
        directory = f"{workdir}/dump"
        stored = fetch_directory(s3, location.bucket, dump, directory, jobs)
        verified = time.monotonic()
        proc = subprocess.run(
            [*args, "--format=directory", f"--jobs={jobs}", directory],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=pg_env(password),
            check=False,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.decode("utf-8", "replace").rstrip().splitlines()[-STDERR_TAIL_LINES:])
        raise BackupError(
            f"pg_restore into {describe_dsn(target_url)} failed with exit code {proc.returncode}:\n"
            f"{redact(tail, target_url, password)}"
        )
    return stored, int(dump["size_bytes"]), verified


def _restore_stream(
    s3: Any, location: Location, dump: dict[str, Any], args: list[str], target_url: str, password: str | None
) -> tuple[int, int, float]:
    # Pass 1: the whole object must match the manifest before pg_restore touches the target.
    etag = verify_object(s3, location.bucket, dump["key"], dump["sha256"], dump["stored_bytes"])
    verified = time.monotonic()

    # Pass 2: stream again (memory stays bounded); If-Match pins the object we just verified.
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
    return reader.bytes, restored, verified
