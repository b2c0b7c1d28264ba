"""`backup db`: pg_dump into S3 in one of two layouts, the manifest written last, then the metric.

- `directory` (the default): `pg_dump --format=directory --jobs N`, one zstd object per file, so
  backup and restore use every core (`ops.backup.directory`).
- `stream` (the layout before issue 22, still restorable): pg_dump stdout -> zstd -> fixed-size
  parts -> one S3 multipart upload, with at most `MAX_PARTS_IN_FLIGHT` parts in memory and no disk.

Both run pg_dump inside the snapshot our own transaction exported, so the manifest's exact row
counts describe exactly the rows in the dump.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import zstandard

from ops.backup.aws import aws_errors, head_object, s3_client
from ops.backup.directory import CHUNK_BYTES, default_jobs, dump_directory
from ops.backup.errors import BackupError, UsageError
from ops.backup.layout import (
    DUMP_DIRECTORY,
    DUMP_FILE,
    DUMP_FORMAT,
    MANIFEST_FORMAT,
    Kind,
    Layout,
    Location,
    new_backup_id,
    tool_version,
)
from ops.backup.metrics import METRIC_BACKUP_SUCCEEDED, METRIC_DATABASE_BYTES, publish_metric
from ops.backup.postgres import (
    EXACT_COUNT_MAX_BYTES,
    READ_SIZE,
    StderrTail,
    connect,
    describe_dsn,
    exact_counts,
    pg_binary,
    pg_env,
    snapshot_and_describe,
    split_dsn,
    sql_errors,
    stop,
    widen_pipe,
)
from ops.backup.timing import isoformat, utcnow
from ops.backup.upload import DEFAULT_PART_SIZE, ZSTD_LEVEL, MultipartUpload, put_json

__all__ = [
    "ZSTD_THREADS",
    "BackupResult",
    "backup_database",
]


# 1: one zstd worker thread compresses while the Python thread reads, hashes and uploads. Worker
# threads emit output a job (~2 MiB) at a time; 0 compresses in-line, byte for byte.
ZSTD_THREADS = 1


@dataclasses.dataclass
class BackupResult:
    kind: str
    backup_id: str
    bucket: str
    manifest_key: str
    object_key: str | None
    sha256: str | None
    size_bytes: int
    stored_bytes: int
    objects: int
    started_at: str
    finished_at: str
    seconds: float
    warnings: list[str]
    layout: str = "stream"
    jobs: int = 1
    # Where the time went (e.g. "stream" = dump, compress and upload every part), for benchmarks.
    phases: dict[str, float] = dataclasses.field(default_factory=dict)
    # Platform tables the role may not read, left out of the dump: [{"table", "reason"}] (ops.backup.access).
    excluded_tables: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, **dataclasses.asdict(self)}


def backup_database(
    database_url: str,
    location: Location,
    *,
    stack: str = "default",
    s3: Any = None,
    cloudwatch: Any = None,
    layout: Layout = Layout.DIRECTORY,
    jobs: int | None = None,
    scratch_dir: str | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    chunk_bytes: int = CHUNK_BYTES,
    zstd_threads: int = ZSTD_THREADS,
    now: Callable[[], dt.datetime] = utcnow,
) -> BackupResult:
    """Dump the database into S3 (`layout`), then write the manifest, then publish the metrics.

    `jobs` (directory layout): pg_dump's parallel jobs and chunks compressed at once (up to twice as
    many uploading); default the host's cores. `scratch_dir`: where pg_dump writes its directory
    (files leave it once stored). `chunk_bytes`: a file's bytes per object (directory layout).
    `part_size`: the stream layout's multipart parts.
    """
    jobs = jobs if jobs is not None else default_jobs()
    if jobs < 1:
        raise UsageError(f"invalid --jobs {jobs}: must be at least 1")
    # The directory layout has up to twice `jobs` uploads in flight (`dump_directory`).
    s3 = s3 if s3 is not None else s3_client(connections=2 * jobs)
    pg_dump = pg_binary("pg_dump")
    conninfo, password = split_dsn(database_url)
    pg_dump_version = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    started = now()
    clock = time.monotonic()
    backup_id = new_backup_id(started)
    metadata = {"backup-id": backup_id, "tool-version": tool_version()}
    warnings: list[str] = []

    conn = connect(database_url)
    try:
        with sql_errors("reading the catalog", database_url):
            info = snapshot_and_describe(conn)
        # Before anything is dumped: what the role may not read is left out (platform) or refused (ops.backup.access).
        if refusal := info["access"].refusal(describe_dsn(database_url)):
            raise BackupError(refusal)
        args = [pg_dump, "--compress=0", "--no-password", f"--dbname={conninfo}", *info["access"].exclude_args()]
        if info["snapshot"]:
            args.append(f"--snapshot={info['snapshot']}")
        # Counting runs beside the dump, inside the same snapshot (see module docstring). Without a
        # shared snapshot, counts taken beside the dump could disagree with it: skip them.
        counts: dict[str, int] = {}
        countable = info["tables"] if info["snapshot"] else []
        counter = threading.Thread(target=exact_counts, args=(conn, countable, counts), daemon=True)
        counter.start()
        try:
            if layout is Layout.STREAM:
                dump, phases = _stream_dump(
                    args,
                    pg_env(password),
                    (database_url, password),
                    s3=s3,
                    location=location,
                    key=location.backup_prefix(Kind.DB, backup_id) + DUMP_FILE,
                    part_size=part_size,
                    zstd_threads=zstd_threads,
                    metadata=metadata,
                )
            else:
                workdir = _scratch(scratch_dir, backup_id)
                try:
                    dump, phases = dump_directory(
                        args,
                        pg_env(password),
                        (database_url, password),
                        s3=s3,
                        bucket=location.bucket,
                        key_prefix=location.backup_prefix(Kind.DB, backup_id) + DUMP_DIRECTORY,
                        workdir=workdir,
                        jobs=jobs,
                        metadata=metadata,
                        chunk_bytes=chunk_bytes,
                    )
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
        finally:
            counter.join()
        conn.commit()
    finally:
        conn.close()

    finished = now()
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": Kind.DB.value,
        "backup_id": backup_id,
        "tool_version": tool_version(),
        "started_at": isoformat(started),
        "finished_at": isoformat(finished),
        "database": {
            "name": info["database"],
            "server_version": info["server_version"],
            "server_version_num": info["server_version_num"],
            "size_bytes": info["size_bytes"],
        },
        "pg_dump_version": pg_dump_version,
        "snapshot": "exported" if info["snapshot"] else "none",
        "dump": {**dump, "compression": f"zstd-{ZSTD_LEVEL}", "excluded_tables": info["access"].excluded_tables()},
        "tables": [
            {
                "schema": s,
                "name": n,
                "row_estimate": est,
                "size_bytes": size,
                "exact_row_count": counts.get(f"{s}.{n}"),
            }
            for s, n, est, size in info["tables"]
        ],
        "exact_count_max_bytes": EXACT_COUNT_MAX_BYTES,
    }
    manifest_key = location.manifest_key(Kind.DB, backup_id)
    mark = time.monotonic()
    with aws_errors(f"writing the manifest {location.url(manifest_key)}"):
        put_json(s3, location.bucket, manifest_key, manifest)
    phases["manifest"] = time.monotonic() - mark

    mark = time.monotonic()
    # The database's size feeds the restore-capacity alarm (components/backups.py): it compares it
    # with the largest database the last drill showed the restore can bring back within its budget.
    for name, value, unit, dimensions in (
        (METRIC_BACKUP_SUCCEEDED, 1, "Count", {"Stack": stack, "Kind": Kind.DB.metric_kind}),
        (METRIC_DATABASE_BYTES, info["size_bytes"], "Bytes", {"Stack": stack}),
    ):
        warning = publish_metric(cloudwatch, name, value, dimensions, unit)
        if warning:
            warnings.append(warning)
    phases["metric"] = time.monotonic() - mark
    return BackupResult(
        kind=Kind.DB.value,
        backup_id=backup_id,
        bucket=location.bucket,
        manifest_key=manifest_key,
        object_key=dump.get("key"),
        sha256=dump.get("sha256"),
        size_bytes=dump["size_bytes"],
        stored_bytes=dump["stored_bytes"],
        objects=len(dump["files"]) if "files" in dump else 1,
        started_at=isoformat(started),
        finished_at=isoformat(finished),
        seconds=round(time.monotonic() - clock, 3),
        warnings=warnings,
        layout=layout.value,
        jobs=jobs if layout is Layout.DIRECTORY else 1,
        phases={k: round(v, 3) for k, v in phases.items()},
        excluded_tables=info["access"].excluded_tables(),
    )


def _scratch(scratch_dir: str | None, backup_id: str) -> str:
    try:
        return tempfile.mkdtemp(prefix=f"chefchatz-backup-{backup_id}-", dir=scratch_dir)
    except OSError as exc:
        raise UsageError(f"scratch directory {scratch_dir or tempfile.gettempdir()!r} is not usable: {exc}") from None


def _stream_dump(
    args: list[str],
    env: dict[str, str],
    secrets: tuple[str | None, ...],
    *,
    s3: Any,
    location: Location,
    key: str,
    part_size: int,
    zstd_threads: int,
    metadata: dict[str, str],
) -> tuple[dict[str, Any], dict[str, float]]:
    """`pg_dump --format=custom | zstd` into one multipart upload; the manifest's `dump` section."""
    clock = time.monotonic()
    upload = MultipartUpload(s3, location.bucket, key, metadata)
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = subprocess.Popen(
            [*args, "--format=custom"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None and proc.stderr is not None
        widen_pipe(proc.stdout)
        stderr = StderrTail(proc.stderr, secrets)
        digest = hashlib.sha256()
        raw_bytes = stored_bytes = 0
        chunker = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=zstd_threads, write_checksum=True).chunker(
            chunk_size=part_size
        )

        def ship(chunks: Iterator[bytes]) -> None:
            nonlocal stored_bytes
            for chunk in chunks:
                digest.update(chunk)
                stored_bytes += len(chunk)
                with aws_errors(f"uploading to {location.url(key)}"):
                    upload.add(chunk)

        while data := proc.stdout.read(READ_SIZE):
            raw_bytes += len(data)
            ship(chunker.compress(data))
        returncode = proc.wait()
        if returncode != 0:
            raise BackupError(f"pg_dump failed with exit code {returncode}:\n{stderr.text()}")
        ship(chunker.finish())
        with aws_errors(f"uploading to {location.url(key)}"):
            upload.flush()
        phases = {"stream": time.monotonic() - clock}
        with aws_errors(f"completing the upload to {location.url(key)}"):
            upload.complete()
            head = head_object(s3, Bucket=location.bucket, Key=key)
        if int(head["ContentLength"]) != stored_bytes:
            raise BackupError(f"{location.url(key)} holds {head['ContentLength']} bytes, {stored_bytes} were sent")
        phases["complete"] = time.monotonic() - clock - phases["stream"]
    except BaseException as exc:
        if proc is not None:
            stop(proc)
        problem = upload.abort()
        if problem and isinstance(exc, BackupError):
            exc.args = (f"{exc.args[0]}\n{problem}",)
        raise
    dump = {
        "key": key,
        "format": DUMP_FORMAT,
        "sha256": digest.hexdigest(),
        "size_bytes": raw_bytes,
        "stored_bytes": stored_bytes,
        "parts": upload.parts,
        "etag": head.get("ETag", ""),
    }
    return dump, phases
