"""`backup db`: pg_dump streamed through zstd into S3, the manifest written last, then the metric.

The dump is streamed: pg_dump stdout -> zstd -> fixed-size parts -> S3 multipart upload, with at
most `MAX_PARTS_IN_FLIGHT` parts in memory, so memory does not grow with the database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import zstandard

from ops.backup.aws import aws_errors, retry_aws, s3_client
from ops.backup.errors import BackupError
from ops.backup.layout import DUMP_FILE, DUMP_FORMAT, MANIFEST_FORMAT, Kind, Location, new_backup_id, tool_version
from ops.backup.metrics import METRIC_BACKUP_SUCCEEDED, publish_metric
from ops.backup.postgres import (
    EXACT_COUNT_MAX_BYTES,
    READ_SIZE,
    StderrTail,
    connect,
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
from ops.backup.upload import DEFAULT_PART_SIZE, MultipartUpload, put_json

__all__ = [
    "ZSTD_LEVEL",
    "ZSTD_THREADS",
    "BackupResult",
    "backup_database",
]


# zstd level 1: measured ~2x faster than level 3 for ~7% more bytes on chat/embedding-like data;
# the backup must keep up with pg_dump (issue 4: <= 1.5x the time of `pg_dump -Fc -Z0`).
ZSTD_LEVEL = 1
# 1: one zstd worker thread compresses while the Python thread reads, hashes and uploads. Worker
# threads emit output a job (~2 MiB) at a time; 0 compresses in-line, byte for byte.
ZSTD_THREADS = 1
# Asset copies: s3transfer reads a non-seekable source in order, one part at a time, which is what


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
    # Where the time went (e.g. "stream" = dump, compress and upload every part), for benchmarks.
    phases: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ok": True, **dataclasses.asdict(self)}


def backup_database(
    database_url: str,
    location: Location,
    *,
    stack: str = "default",
    s3: Any = None,
    cloudwatch: Any = None,
    part_size: int = DEFAULT_PART_SIZE,
    zstd_threads: int = ZSTD_THREADS,
    now: Callable[[], dt.datetime] = utcnow,
) -> BackupResult:
    """Stream `pg_dump -Fc -Z0 | zstd` into S3, then write the manifest, then publish the metric."""
    s3 = s3 if s3 is not None else s3_client()
    pg_dump = pg_binary("pg_dump")
    conninfo, password = split_dsn(database_url)
    pg_dump_version = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    started = now()
    clock = time.monotonic()
    backup_id = new_backup_id(started)
    object_key = location.backup_prefix(Kind.DB, backup_id) + DUMP_FILE
    warnings: list[str] = []

    conn = connect(database_url)
    try:
        with sql_errors("reading the catalog", database_url):
            info = snapshot_and_describe(conn)
        upload = MultipartUpload(
            s3, location.bucket, object_key, {"backup-id": backup_id, "tool-version": tool_version()}
        )
        proc: subprocess.Popen[bytes] | None = None
        try:
            args = [pg_dump, "--format=custom", "--compress=0", "--no-password", f"--dbname={conninfo}"]
            if info["snapshot"]:
                args.append(f"--snapshot={info['snapshot']}")
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=pg_env(password),
            )
            assert proc.stdout is not None and proc.stderr is not None
            widen_pipe(proc.stdout)
            stderr = StderrTail(proc.stderr, (database_url, password))
            # Counting runs beside the dump, inside the same snapshot (see module docstring).
            counts: dict[str, int] = {}
            # Without a shared snapshot, counts taken beside the dump could disagree with it: skip them.
            countable = info["tables"] if info["snapshot"] else []
            counter = threading.Thread(target=exact_counts, args=(conn, countable, counts), daemon=True)
            counter.start()

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
                    with aws_errors(f"uploading to {location.url(object_key)}"):
                        upload.add(chunk)

            while data := proc.stdout.read(READ_SIZE):
                raw_bytes += len(data)
                ship(chunker.compress(data))
            returncode = proc.wait()
            if returncode != 0:
                raise BackupError(f"pg_dump failed with exit code {returncode}:\n{stderr.text()}")
            ship(chunker.finish())
            with aws_errors(f"uploading to {location.url(object_key)}"):
                upload.flush()
            phases = {"stream": time.monotonic() - clock}
            with aws_errors(f"completing the upload to {location.url(object_key)}"):
                upload.complete()
                head = retry_aws(s3.head_object)(Bucket=location.bucket, Key=object_key)
            if int(head["ContentLength"]) != stored_bytes:
                raise BackupError(
                    f"{location.url(object_key)} holds {head['ContentLength']} bytes, {stored_bytes} were sent"
                )
            phases["complete"] = time.monotonic() - clock - phases["stream"]
            counter.join()
            conn.commit()
        except BaseException as exc:
            if proc is not None:
                stop(proc)
            problem = upload.abort()
            if problem and isinstance(exc, BackupError):
                exc.args = (f"{exc.args[0]}\n{problem}",)
            raise
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
        },
        "pg_dump_version": pg_dump_version,
        "snapshot": "exported" if info["snapshot"] else "none",
        "dump": {
            "key": object_key,
            "format": DUMP_FORMAT,
            "compression": f"zstd-{ZSTD_LEVEL}",
            "sha256": digest.hexdigest(),
            "size_bytes": raw_bytes,
            "stored_bytes": stored_bytes,
            "parts": upload.parts,
            "etag": head.get("ETag", ""),
        },
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
    warning = publish_metric(
        cloudwatch,
        METRIC_BACKUP_SUCCEEDED,
        1,
        {"Stack": stack, "Kind": Kind.DB.metric_kind},
    )
    if warning:
        warnings.append(warning)
    phases["metric"] = time.monotonic() - mark
    return BackupResult(
        kind=Kind.DB.value,
        backup_id=backup_id,
        bucket=location.bucket,
        manifest_key=manifest_key,
        object_key=object_key,
        sha256=digest.hexdigest(),
        size_bytes=raw_bytes,
        stored_bytes=stored_bytes,
        objects=1,
        started_at=isoformat(started),
        finished_at=isoformat(finished),
        seconds=round(time.monotonic() - clock, 3),
        warnings=warnings,
        phases={k: round(v, 3) for k, v in phases.items()},
    )
