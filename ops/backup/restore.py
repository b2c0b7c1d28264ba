"""`restore db`: verify a database backup's checksums, then restore it into an empty (or --clean) target.

Both layouts (`ops.backup.dump`): a directory-layout backup is fetched into a scratch directory
(`ops.backup.directory`, every object verified) and restored by `pg_restore --jobs N`, or with `pipe`
its big tables are piped into pg_restore as they download once S3's checksums vouch for every object
(`ops.backup.piped_restore`); a single-stream
backup is verified in one pass and streamed through zstd into pg_restore in a second.

Two target shapes (`TargetShape`): `plain`, a PostgreSQL database the dump is restored into whole;
`supabase`, a new Supabase project, into which only the application goes
(`ops.backup.supabase_restore`); a single-stream backup is then decompressed to the scratch directory
(verified as it arrives), since choosing entries needs random access to the archive.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import zstandard

from ops.backup.aws import aws_errors, retry_aws, s3_client
from ops.backup.catalog import resolve_backup, verify_object
from ops.backup.directory import (
    DIRECTORY_DUMP_FORMAT,
    check_scratch_space,
    default_jobs,
    fetch_directory,
    fetch_file,
)
from ops.backup.errors import BackupError, CorruptBackupError, UsageError
from ops.backup.layout import Kind, Location
from ops.backup.piped_restore import piped_names, restore_piped, s3_checked_pins
from ops.backup.postgres import (
    READ_SIZE,
    StderrTail,
    connect,
    describe_dsn,
    pg_binary,
    pg_env,
    pg_restore_error,
    run_pg_restore,
    split_dsn,
    sql_errors,
    stop,
    user_tables,
    widen_pipe,
)
from ops.backup.supabase_restore import SupabaseRestore, check_supabase_target, restore_into_supabase
from ops.backup.upload import HashingReader

__all__ = ["PrepareTarget", "RestoreResult", "TargetShape", "restore_database"]

# (pg_restore, archive, archive format, scratch directory) -> None: see `restore_database`.
PrepareTarget = Callable[[str, str, str, str], None]


class TargetShape(enum.StrEnum):
    """What the restore goes into (`restore db --target-shape`)."""

    PLAIN = "plain"  # a PostgreSQL database: the whole dump
    SUPABASE = "supabase"  # a new Supabase project: the application only (ops.backup.supabase_restore)


# A Supabase project, seen from a role that is not a superuser: its auth and storage schemas belong
# to roles it is not a member of. A plain restore there stops at the first platform object.
_LOOKS_LIKE_SUPABASE_SQL = """
SELECT NOT r.rolsuper AND count(n.oid) = 2, string_agg(DISTINCT pg_get_userbyid(n.nspowner), ', ')
FROM pg_roles r LEFT JOIN pg_namespace n
  ON n.nspname IN ('auth', 'storage') AND NOT pg_has_role(r.oid, n.nspowner, 'USAGE')
WHERE r.rolname = current_user
GROUP BY r.rolsuper
"""


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
    target_shape: str = TargetShape.PLAIN.value
    # --target-shape supabase: what went in and what stayed out (SupabaseRestore).
    supabase: dict[str, Any] | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    # The drill's stand-in built from the archive (`prepare_target`), not part of restore_seconds.
    prepare_seconds: float = 0.0

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
    target_shape: TargetShape = TargetShape.PLAIN,
    prepare_target: PrepareTarget | None = None,
    pipe: bool = False,
) -> RestoreResult:
    """Verify every stored object of the backup against its manifest, then restore it (with `pipe`, a
    directory-layout backup S3's checksums vouch for is piped into pg_restore as it downloads:
    `ops.backup.piped_restore`).

    Refused before the target is touched: a non-empty target without `clean`, a Supabase project as a
    plain target (UsageError: pass `target_shape=SUPABASE`), a scratch directory without room for the
    decompressed dump (directory layout, and any layout into a Supabase project; UsageError, before any
    download), a missing or damaged object; into a Supabase project, a target that is not a new
    project's (`ops.backup.supabase_restore`). `jobs` (directory layout): parallel downloads and
    pg_restore jobs, default the host's cores. `prepare_target` (supabase shape, the drill): called
    with (pg_restore, archive, its format, scratch directory) once the archive is verified, before the
    restore reads the target; its time is reported apart (`prepare_seconds`).
    """
    jobs = jobs if jobs is not None else default_jobs()
    if jobs < 1:
        raise UsageError(f"invalid --jobs {jobs}: must be at least 1")
    if target_shape is TargetShape.SUPABASE and clean:
        raise UsageError(
            "--clean cannot be combined with --target-shape supabase: the restore never drops a project's "
            "objects; restore into a new project"
        )
    s3 = s3 if s3 is not None else s3_client()
    pg_restore = pg_binary("pg_restore")
    conninfo, password = split_dsn(target_url)
    clock = time.monotonic()
    manifest = resolve_backup(location, Kind.DB, backup_id, s3=s3)
    dump = manifest["dump"]

    if target_shape is TargetShape.SUPABASE:
        check_supabase_target(target_url)
        layout = "directory" if dump["format"] == DIRECTORY_DUMP_FORMAT else "stream"
        jobs = jobs if layout == "directory" else 1
        row_counts = {(t["schema"], t["name"]): t.get("exact_row_count") for t in manifest["tables"]}
        stored, restored, verified, prepared, outcome = _restore_supabase(
            s3,
            location,
            dump,
            pg_restore,
            target_url,
            conninfo,
            password,
            jobs,
            no_acl,
            scratch_dir,
            disk_free,
            row_counts,
            prepare_target,
        )
        return _result(
            manifest,
            target_url,
            clean=False,
            layout=layout,
            jobs=jobs,
            stored=stored,
            restored=restored,
            started=clock,
            verified=verified,
            prepared=prepared,
            target_shape=target_shape.value,
            supabase=dataclasses.asdict(outcome),
            warnings=[f"not restored: {item}" for item in outcome.not_restored],
        )

    with connect(target_url) as conn, sql_errors("listing the target's tables", target_url):
        row = conn.execute(_LOOKS_LIKE_SUPABASE_SQL).fetchone()
        existing = user_tables(conn)
    if row is not None and row[0]:
        raise UsageError(
            f"target database {describe_dsn(target_url)} looks like a Supabase project (its auth and storage "
            f"schemas belong to {row[1]}, and the restoring role is not a superuser): a full restore stops at the "
            "first platform object; pass --target-shape supabase to restore the application only (nothing was written)"
        )
    if existing and not clean:
        sample = ", ".join(f"{s}.{n}" for s, n, _, _ in existing[:3])
        raise BackupError(
            f"target database {describe_dsn(target_url)} is not empty ({len(existing)} user tables, "
            f"e.g. {sample}): refusing to restore; pass --clean to replace the dumped objects"
        )
    args = [pg_restore, "--no-owner", "--exit-on-error", "--no-password", "--verbose", f"--dbname={conninfo}"]
    if clean:
        args += ["--clean", "--if-exists"]
    if no_acl:
        args.append("--no-acl")
    if dump["format"] == DIRECTORY_DUMP_FORMAT:
        layout = "directory"
        stored, restored, verified = _restore_directory(
            s3,
            location,
            dump,
            args,
            target_url,
            password,
            jobs,
            scratch_dir,
            disk_free,
            pipe=pipe,
        )
    else:
        layout, jobs = "stream", 1
        stored, restored, verified = _restore_stream(s3, location, dump, args, target_url, password)
    warnings = []
    if pipe and layout == "directory" and not s3_verifies_checksums(s3):
        warnings.append(
            f"--pipe with {_endpoint_url(s3) or '?'}, not an AWS S3 endpoint: its stored checksums may never have "
            "been checked on upload, so they vouched for nothing before pg_restore started (each object was "
            "still hashed before it entered a pipe)"
        )
    return _result(
        manifest,
        target_url,
        clean=clean,
        layout=layout,
        jobs=jobs,
        stored=stored,
        restored=restored,
        started=clock,
        verified=verified,
        warnings=warnings,
    )


def _result(
    manifest: dict[str, Any],
    target_url: str,
    *,
    clean: bool,
    layout: str,
    jobs: int,
    stored: int,
    restored: int,
    started: float,
    verified: float,
    prepared: float = 0.0,
    **extra: Any,
) -> RestoreResult:
    """The result of a restore that ends now: `started` and `verified` are monotonic times, `prepared`
    the seconds spent preparing the target, which the restore's times leave out."""
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
        verify_seconds=round(verified - started, 3),
        restore_seconds=round(done - verified - prepared, 3),
        seconds=round(done - started - prepared, 3),
        prepare_seconds=round(prepared, 3),
        **extra,
    )


def s3_verifies_checksums(s3: Any) -> bool:
    """Whether the endpoint is AWS S3, which recomputes a PutObject's checksum and refuses bytes that do
    not match it: only then does its stored sha256 vouch for the bytes. S3-compatible endpoints and
    stand-ins may store the client's value unchecked (moto does)."""
    host = urllib.parse.urlsplit(_endpoint_url(s3)).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _endpoint_url(s3: Any) -> str:
    return str(getattr(getattr(s3, "meta", None), "endpoint_url", "") or "")


@contextlib.contextmanager
def _workdir(root: str) -> Iterator[str]:
    try:
        workdir = tempfile.mkdtemp(prefix="chefchatz-restore-", dir=root)
    except OSError as exc:
        raise UsageError(f"scratch directory {root!r} is not usable: {exc}") from None
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _restore_supabase(
    s3: Any,
    location: Location,
    dump: dict[str, Any],
    pg_restore: str,
    target_url: str,
    conninfo: str,
    password: str | None,
    jobs: int,
    no_acl: bool,
    scratch_dir: str | None,
    disk_free: Callable[[str], int] | None,
    row_counts: dict[tuple[str, str], int | None],
    prepare_target: PrepareTarget | None,
) -> tuple[int, int, float, float, SupabaseRestore]:
    """Fetch and verify the archive into the scratch directory (either layout), then restore the application."""
    root = scratch_dir or tempfile.gettempdir()
    check_scratch_space(root, int(dump["size_bytes"]), disk_free)
    with _workdir(root) as workdir:
        if dump["format"] == DIRECTORY_DUMP_FORMAT:
            archive, archive_format = os.path.join(workdir, "dump"), "directory"
            stored = fetch_directory(s3, location.bucket, dump, archive, jobs)
        else:
            archive, archive_format = os.path.join(workdir, "dump.custom"), "custom"
            with open(archive, "wb") as out:
                out.truncate(int(dump["size_bytes"]))
            # Hashed as it arrives: a damaged object is refused before pg_restore reads a byte of it.
            fetch_file(s3, location.bucket, dump, archive, threading.Event())
            stored = int(dump["stored_bytes"])
        verified = time.monotonic()
        if prepare_target is not None:
            prepare_target(pg_restore, archive, archive_format, workdir)
        prepared = time.monotonic() - verified
        outcome = restore_into_supabase(
            pg_restore,
            archive,
            archive_format,
            workdir,
            target_url,
            conninfo,
            password,
            jobs,
            no_acl,
            row_counts=row_counts,
            report_dir=root,
        )
    return stored, int(dump["size_bytes"]), verified, prepared, outcome


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
    *,
    pipe: bool,
) -> tuple[int, int, float]:
    """Piped (`ops.backup.piped_restore`) when `pipe` and S3 vouches for every object, else every object
    downloaded and verified into the scratch directory before pg_restore starts."""
    root = scratch_dir or tempfile.gettempdir()
    what = f"pg_restore into {describe_dsn(target_url)}"
    pins = s3_checked_pins(s3, location.bucket, dump) if pipe else None
    if pins is not None:
        piped = piped_names(dump)
        small = sum(int(e["size_bytes"]) for e in dump["files"] if e["name"] not in piped)
        check_scratch_space(root, small, disk_free)
        with _workdir(root) as workdir:
            directory = f"{workdir}/dump"
            restored, verified = restore_piped(
                s3,
                location.bucket,
                dump,
                pins,
                directory,
                [*args, "--format=directory", f"--jobs={jobs}", directory],
                target_url,
                password,
                what,
                jobs,
            )
        return int(dump["stored_bytes"]), restored, verified
    check_scratch_space(root, int(dump["size_bytes"]), disk_free)
    with _workdir(root) as workdir:
        directory = f"{workdir}/dump"
        stored = fetch_directory(s3, location.bucket, dump, directory, jobs)
        verified = time.monotonic()
        run_pg_restore([*args, "--format=directory", f"--jobs={jobs}", directory], target_url, password, what)
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
        raise pg_restore_error(f"pg_restore into {describe_dsn(target_url)}", returncode, stderr.text(), stderr.marks())
    if reader.sha256.hexdigest() != dump["sha256"]:
        raise CorruptBackupError(f"{location.url(dump['key'])} changed between verification and restore")
    return reader.bytes, restored, verified
