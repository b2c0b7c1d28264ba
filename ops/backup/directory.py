"""The parallel layout of a database backup: `pg_dump --format=directory --jobs N`, one zstd object per file.

    {prefix}/db/{backup_id}/dump/toc.dat.zst         the archive's table of contents
    {prefix}/db/{backup_id}/dump/{dump id}.dat.zst   a table's data (and large objects); a big table's
    {prefix}/db/{backup_id}/dump/{dump id}.dat.N.zst  data continues in one object per 32 MiB
    {prefix}/db/{backup_id}/manifest.json            written last; lists every object with its sha256

Backup: pg_dump writes the directory on local disk (`--no-sync`: the copy that counts is the one in
S3). Every 32 MiB of a file is compressed, hashed and stored as its own object as soon as pg_dump
has written it, `--jobs` chunks compressed at once while up to as many more wait on their upload,
and the file is deleted once stored: the disk holds about the tables being dumped, and the upload
ends soon after pg_dump. Each object is one PutObject whose checksum is its sha256 (S3 refuses bytes
that do not match the manifest): no multipart upload, so no CompleteMultipartUpload, and memory
holds `--jobs` chunk buffers and up to twice `--jobs` compressed chunks.
A file is finished once no pg_dump process holds it open (`/proc/<pid>/fd`): pg_dump creates each
file by opening it and closes it once, when it is complete.

Restore: every object is downloaded, hashed and decompressed in parallel into its range of its file
in a scratch directory whose free space is checked first; only when every object matches the
manifest does `pg_restore --jobs N` start, so a missing or damaged object never reaches the target.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import zstandard
from botocore.exceptions import BotoCoreError, ClientError

from ops.backup.aws import aws_errors, object_missing, retry_aws
from ops.backup.errors import BackupError, CorruptBackupError, UsageError
from ops.backup.layout import MiB
from ops.backup.postgres import READ_SIZE, StderrTail, stop
from ops.backup.upload import ZSTD_LEVEL, HashingReader, put_checked

__all__ = [
    "DIRECTORY_DUMP_FORMAT",
    "check_scratch_space",
    "cores_from",
    "default_jobs",
    "format_size",
]

DIRECTORY_DUMP_FORMAT = "pg_dump-directory+zstd"
# How often the backup looks for files pg_dump has finished.
POLL_SECONDS = 0.05
# A file's bytes per object: one big table is compressed, uploaded, downloaded and decompressed by
# every job, 32 MiB at a time; small files stay one object each. Each job holds a chunk buffer and up
# to two compressed chunks in memory (PutObject); smaller chunks hand the first one out sooner and
# leave a shorter tail after pg_dump ends, at one request per chunk (a 100 GiB dump: ~3,200 objects).
CHUNK_BYTES = 32 * MiB
# Room kept free beside the decompressed dump: file-system overhead and whatever else uses the volume.
SCRATCH_SLACK_BYTES = 64 * MiB


def cores_from(affinity: int, cpu_max: str | None) -> int:
    """The cores this process may use: its CPU affinity, lowered by a cgroup v2 quota (`cpu.max`,
    "200000 100000" = 2 cores; "max 100000" = no quota). A container's affinity shows the host's cores,
    its quota what it was given (Fargate, Kubernetes), so both count."""
    cores = max(1, affinity)
    if cpu_max:
        quota, _, period = cpu_max.strip().partition(" ")
        if quota.isdigit() and period.isdigit() and int(period) > 0:
            cores = min(cores, max(1, -(-int(quota) // int(period))))
    return cores


def default_jobs() -> int:
    """`--jobs` when not given: the host's cores (see `cores_from`)."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            cpu_max: str | None = fh.read()
    except OSError:
        cpu_max = None
    return cores_from(len(os.sched_getaffinity(0)), cpu_max)


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_scratch_space(directory: str, needed: int, free: Callable[[str], int] | None = None) -> None:
    """Refuse (exit 2, before any download) when `directory` cannot hold `needed` bytes plus slack."""
    try:
        available = free(directory) if free else shutil.disk_usage(directory).free
    except OSError as exc:
        raise UsageError(f"scratch directory {directory!r} is not usable: {exc.strerror}") from None
    if available < needed + SCRATCH_SLACK_BYTES:
        raise UsageError(
            f"not enough disk space in {directory}: the restore needs {format_size(needed)} for the decompressed "
            f"dump (+{format_size(SCRATCH_SLACK_BYTES)} slack), {format_size(available)} is free; pass --scratch-dir "
            "on a larger volume (nothing was downloaded)"
        )


def _descendants(root: int) -> list[int]:
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as fh:
            stack.extend(int(child) for child in fh.read().split())
    return found


def _open_names(root: int, directory: str) -> set[str]:
    """Names of the files in `directory` that `root` or one of its descendants holds open."""
    names: set[str] = set()
    prefix = directory.rstrip("/") + "/"
    for pid in _descendants(root):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(prefix):
                    names.add(target[len(prefix) :])
    return names


class _Stopped(Exception):
    """Another object of the same backup failed: this upload is aborted."""


def chunk_key(key_prefix: str, name: str, index: int) -> str:
    """`dump/3456.dat.zst` for a file's first chunk, `dump/3456.dat.1.zst` for the next ones."""
    return f"{key_prefix}{name}.zst" if index == 0 else f"{key_prefix}{name}.{index}.zst"


@dataclasses.dataclass
class _File:
    """A file pg_dump is writing: how much of it has been handed out in chunks."""

    name: str
    next_chunk: int = 0
    closed: bool = False
    futures: list[Future[dict[str, Any]]] = dataclasses.field(default_factory=list)


def dump_directory(
    args: list[str],
    env: dict[str, str],
    secrets: tuple[str | None, ...],
    *,
    s3: Any,
    bucket: str,
    key_prefix: str,
    workdir: str,
    jobs: int,
    metadata: dict[str, str],
    chunk_bytes: int = CHUNK_BYTES,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run pg_dump (`args` without --file/--jobs) into `workdir`/dump and store each file as it is written.

    Every `chunk_bytes` of a file become one object as soon as pg_dump has written them, so one big
    table is compressed and uploaded by every job, not one. Returns the manifest's `dump` section and
    where the time went. On any failure pg_dump is stopped, uploads in flight are aborted and stored
    objects deleted (best effort: without the manifest they never count anyway).
    """
    outdir = os.path.join(workdir, "dump")
    clock = time.monotonic()
    proc = subprocess.Popen(
        [*args, "--format=directory", f"--jobs={jobs}", "--no-sync", f"--file={outdir}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    stderr = StderrTail(proc.stderr, secrets)
    halt = threading.Event()
    files: dict[str, _File] = {}
    # Twice `jobs` threads, but only `jobs` chunks read, compressed and hashed at once (`slots`, each
    # with its chunk buffer, kept: no fresh memory to fault in per read): a chunk's PutObject runs
    # outside its slot, so a job waiting on S3's answer leaves the core to the next chunk's compression
    # (sending the bytes, and TLS against S3, still take CPU outside the slots). Memory: `jobs` buffers
    # and up to twice `jobs` compressed chunks.
    pool = ThreadPoolExecutor(max_workers=2 * jobs, thread_name_prefix="dump-chunk")
    slots: queue.SimpleQueue[bytearray | None] = queue.SimpleQueue()
    for _ in range(jobs):
        slots.put(None)  # a slot's buffer is allocated on its first use

    def compressed(name: str, offset: int, length: int) -> tuple[bytes, bytes]:
        """The chunk compressed, and the sha256 of that."""
        buffer = slots.get()
        try:
            if halt.is_set():  # stopped while waiting for a slot: no chunk read for nothing
                raise _Stopped(name)
            if buffer is None:
                buffer = bytearray(chunk_bytes)
            with memoryview(buffer)[:length] as view:
                fd = os.open(os.path.join(outdir, name), os.O_RDONLY)
                try:
                    done = 0
                    while done < length:
                        got = os.preadv(fd, [view[done:]], offset + done)
                        if got == 0:
                            raise BackupError(f"{name} is shorter than pg_dump had written ({offset + done})")
                        done += got
                finally:
                    os.close(fd)
                # One call, in-line: the chunk's size in the frame header, a frame checksum.
                body = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True).compress(view)
            return body, hashlib.sha256(body).digest()
        finally:
            slots.put(buffer)

    def store(name: str, index: int, offset: int, length: int) -> dict[str, Any]:
        if halt.is_set():
            raise _Stopped(name)
        key = chunk_key(key_prefix, name, index)
        body, digest = compressed(name, offset, length)
        if halt.is_set():
            raise _Stopped(name)
        with aws_errors(f"uploading to s3://{bucket}/{key}"):
            sha256 = put_checked(s3, bucket, key, body, metadata, digest)
        return {
            "name": name,
            "offset": offset,
            "key": key,
            "size_bytes": length,
            "stored_bytes": len(body),
            "sha256": sha256,
        }

    def hand_out(file: _File, size: int) -> None:
        # Whole chunks as soon as they are written; the last (or only, maybe empty) one once closed.
        while (file.next_chunk + 1) * chunk_bytes <= size or (
            file.closed and (file.next_chunk * chunk_bytes < size or (file.next_chunk == 0 and size == 0))
        ):
            offset = file.next_chunk * chunk_bytes
            length = min(chunk_bytes, size - offset)
            file.futures.append(pool.submit(store, file.name, file.next_chunk, offset, length))
            file.next_chunk += 1

    try:
        while True:
            exited = proc.poll() is not None
            with contextlib.suppress(FileNotFoundError):
                for name in os.listdir(outdir):
                    files.setdefault(name, _File(name))
            # Open files first, sizes second: a file found closed has its final size.
            still_open = set() if exited else _open_names(proc.pid, outdir)
            for file in files.values():
                if file.closed and file.next_chunk and all(f.done() for f in file.futures):
                    continue
                file.closed = file.name not in still_open
                hand_out(file, os.path.getsize(os.path.join(outdir, file.name)))
                if file.closed and all(f.done() and not f.exception() for f in file.futures):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(os.path.join(outdir, file.name))  # stored: free the disk
            failed = next((f for file in files.values() for f in file.futures if f.done() and f.exception()), None)
            if failed is not None:
                failed.result()
            if exited:
                break
            time.sleep(POLL_SECONDS)
        dumped = time.monotonic()
        if proc.returncode != 0:
            raise BackupError(f"pg_dump failed with exit code {proc.returncode}:\n{stderr.text()}")
        if "toc.dat" not in files:
            raise BackupError(f"pg_dump exited 0 but wrote no toc.dat in {outdir}")
        objects = [f.result() for name in sorted(files) for f in files[name].futures]
    except BaseException:
        halt.set()
        stop(proc)
        pool.shutdown(wait=True, cancel_futures=True)
        stored = [f for file in files.values() for f in file.futures if f.done() and not f.cancelled()]
        _delete_stored(s3, bucket, [f.result()["key"] for f in stored if not f.exception()])
        raise
    pool.shutdown()
    done = time.monotonic()
    section = {
        "format": DIRECTORY_DUMP_FORMAT,
        "prefix": key_prefix,
        "jobs": jobs,
        "chunk_bytes": chunk_bytes,
        "size_bytes": sum(o["size_bytes"] for o in objects),
        "stored_bytes": sum(o["stored_bytes"] for o in objects),
        # One entry per object: a file is every entry with its name, in offset order.
        "files": objects,
    }
    phases = {"dump": dumped - clock, "upload_after_dump": done - dumped}
    return section, phases


def _delete_stored(s3: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        with contextlib.suppress(ClientError, BotoCoreError):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]})


def _corrupt(bucket: str, entry: dict[str, Any], got_bytes: int, got_sha256: str) -> CorruptBackupError:
    return CorruptBackupError(
        f"s3://{bucket}/{entry['key']} is corrupt: manifest says {entry['stored_bytes']} bytes sha256 "
        f"{entry['sha256']}, stored object has {got_bytes} bytes sha256 {got_sha256}"
    )


def fetch_file(s3: Any, bucket: str, entry: dict[str, Any], target: str, halt: threading.Event) -> None:
    """Download one object, hash it and decompress it into `target` at its offset; refuse it unless it
    matches the manifest."""
    where = f"s3://{bucket}/{entry['key']}"
    with aws_errors(f"reading {where}"):
        try:
            body = retry_aws(s3.get_object)(Bucket=bucket, Key=entry["key"])["Body"]
        except ClientError as exc:
            if object_missing(exc):
                raise CorruptBackupError(f"{where} is listed in the manifest but missing") from None
            raise
        reader = HashingReader(body)
        decompress = zstandard.ZstdDecompressor().decompressobj()
        broken: str | None = None
        written = 0
        offset = int(entry.get("offset", 0))
        fd = os.open(target, os.O_WRONLY)
        try:
            while data := reader.read(READ_SIZE):
                if halt.is_set():
                    return
                if broken is None:
                    try:
                        plain = decompress.decompress(data)
                    except zstandard.ZstdError as exc:
                        broken = str(exc)  # keep reading: the checksum says what is wrong with the object
                        continue
                    if written + len(plain) > entry["size_bytes"]:
                        broken = f"more than the manifest's {entry['size_bytes']} bytes"
                        continue
                    os.pwrite(fd, plain, offset + written)
                    written += len(plain)
        finally:
            os.close(fd)
    got = reader.sha256.hexdigest()
    if reader.bytes != entry["stored_bytes"] or got != entry["sha256"]:
        raise _corrupt(bucket, entry, reader.bytes, got)
    if broken is not None or written != entry["size_bytes"]:
        raise CorruptBackupError(
            f"{where} matches its sha256 but decompresses to {written} bytes, not {entry['size_bytes']}"
            + (f" ({broken})" if broken else "")
        )


def fetch_directory(s3: Any, bucket: str, section: dict[str, Any], target: str, jobs: int) -> int:
    """Fetch every object of a directory-layout dump into `target`, `jobs` at a time; raise
    CorruptBackupError naming every damaged object seen (the rest is cancelled). Returns stored bytes."""
    os.makedirs(target, exist_ok=False)
    sizes: dict[str, int] = {}
    for entry in section["files"]:
        sizes[entry["name"]] = sizes.get(entry["name"], 0) + int(entry["size_bytes"])
    for name, size in sizes.items():
        # Every chunk writes its own range of the file.
        with open(os.path.join(target, name), "wb") as out:
            out.truncate(size)
    halt = threading.Event()
    problems: list[str] = []
    # Biggest first: the longest download starts at once instead of last.
    files = sorted(section["files"], key=lambda f: -int(f["stored_bytes"]))
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="fetch") as pool:
        futures = [pool.submit(fetch_file, s3, bucket, f, os.path.join(target, f["name"]), halt) for f in files]
        for future in futures:
            if future.cancelled():
                continue
            try:
                future.result()
            except CorruptBackupError as exc:
                problems.append(str(exc))
                halt.set()
                for pending in futures:
                    pending.cancel()
            except BaseException:
                halt.set()
                for pending in futures:
                    pending.cancel()  # no request for what is still queued
                raise
    if problems:
        raise CorruptBackupError("\n".join(problems))
    return sum(int(f["stored_bytes"]) for f in section["files"])
