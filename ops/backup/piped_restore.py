"""`restore db --pipe`: restore a directory-layout backup while it downloads. pg_restore reads each big
table's data from a named pipe fed from S3, so each table takes about the longer of its download and
its load, not their sum, and the scratch directory holds only the small files. Opt-in
(`restore_database(pipe=True)`): the default downloads and verifies everything first.

Nothing reaches the target before every object is known to be the one the manifest lists. The backup
stores each object with its sha256 as its S3 checksum, and AWS S3 recomputes it on upload, refusing
bytes that do not match; HeadObject with checksum mode returns it with the object's size, ETag and
version. `s3_checked_pins` compares every object's size and stored sha256 with the manifest (one
request per object, no download) before pg_restore starts; a missing object is refused by name there.
An object S3 cannot vouch for (a size that differs, an object replaced without our checksum, a
directory backup written before each object carried one) sends the caller down the download-first
path (`ops.backup.directory.fetch_directory`), which names what is wrong. An S3-compatible endpoint or
a stand-in may store a client's checksum unchecked (moto does): the caller warns when piping from one.

Then the small files (the table of contents, small tables, large-object files) are downloaded and
verified into the scratch directory, and each file of at least `PIPED_MIN_BYTES` is a named pipe.
pg_restore opens each data file once, when one of its jobs reaches that table (it schedules the pipes
after the regular files: it orders its work by `stat()` size, and a pipe has none). A thread per pipe
waits for that, then writes the file's objects in order, each pinned to the version checked
(VersionId, If-Match its ETag), read whole (one 32 MiB chunk at most, compressed) and hashed before
any of it is decompressed into the pipe, the next object downloading meanwhile.

A failure once pg_restore runs (an object that differs from what S3 vouched for, a download that
fails after its retries) stops pg_restore with SIGTERM before any pipe closes: its jobs' COPY is
cancelled, not ended short and committed (`ops.backup.postgres.stop`). The first failure is the one
reported; the target then holds the tables restored so far.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import zstandard
from botocore.exceptions import ClientError

from ops.backup.aws import aws_errors, head_object, object_missing, retry_aws
from ops.backup.directory import fetch_directory
from ops.backup.errors import BackupError, CorruptBackupError
from ops.backup.layout import MiB
from ops.backup.postgres import READ_SIZE, StderrTail, pg_env, pg_restore_error, stop

__all__ = ["PIPED_MIN_BYTES", "piped_names", "restore_piped", "s3_checked_pins"]

# A file this big (uncompressed) is piped; smaller ones are downloaded whole first. A pipe costs a
# waiting thread until pg_restore opens it; small tables are many and quick to download.
PIPED_MIN_BYTES = 8 * MiB
# HeadObject requests in flight at once: small requests, mostly waiting on the network.
HEAD_REQUESTS = 8  # the S3 client keeps 8 connections (ops.backup.aws.s3_client)


def _files(section: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each file's objects, in offset order."""
    files: dict[str, list[dict[str, Any]]] = {}
    for entry in section["files"]:
        files.setdefault(entry["name"], []).append(entry)
    for entries in files.values():
        entries.sort(key=lambda e: int(e.get("offset", 0)))
    return files


def piped_names(section: dict[str, Any]) -> set[str]:
    """The data files pg_restore reads through a pipe: table data (`N.dat`) of `PIPED_MIN_BYTES` or more."""
    return _piped(_files(section))


def _piped(files: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {
        name
        for name, entries in files.items()
        if name.endswith(".dat") and name != "toc.dat" and sum(int(e["size_bytes"]) for e in entries) >= PIPED_MIN_BYTES
    }


def s3_checked_pins(s3: Any, bucket: str, section: dict[str, Any]) -> dict[str, dict[str, str]] | None:
    """Per object, the GetObject arguments that pin the version S3 vouched for (its VersionId in a
    versioned bucket, and If-Match its ETag), when S3's checksum of every object is the manifest's
    sha256 and its size the manifest's; None when some object cannot be vouched for so (the caller
    downloads and verifies). Raises CorruptBackupError naming every missing object."""

    def head(entry: dict[str, Any]) -> tuple[str, dict[str, str] | None, bool]:
        where = f"s3://{bucket}/{entry['key']}"
        with aws_errors(f"reading {where}"):
            try:
                found = head_object(s3, Bucket=bucket, Key=entry["key"], ChecksumMode="ENABLED")
            except ClientError as exc:
                if object_missing(exc):
                    return entry["key"], None, True
                raise
        expected = base64.b64encode(bytes.fromhex(entry["sha256"])).decode()
        vouched = (
            int(found.get("ContentLength", -1)) == int(entry["stored_bytes"])
            and found.get("ChecksumSHA256") == expected
            and found.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
        )
        if not vouched:
            return entry["key"], None, False
        pin = {"IfMatch": str(found["ETag"])}
        if found.get("VersionId") and found["VersionId"] != "null":
            pin["VersionId"] = str(found["VersionId"])
        return entry["key"], pin, False

    with ThreadPoolExecutor(max_workers=HEAD_REQUESTS, thread_name_prefix="head") as pool:
        results = list(pool.map(head, section["files"]))
    missing = [key for key, _, gone in results if gone]
    if missing:
        raise CorruptBackupError(
            "\n".join(f"s3://{bucket}/{key} is listed in the manifest but missing" for key in missing)
        )
    pins = {key: pin for key, pin, _ in results if pin is not None}
    return pins if len(pins) == len(results) else None


class _Stopped(Exception):
    """The restore stopped while this download waited to be retried."""


class _Feeder:
    """Feeds one named pipe with its file's objects once pg_restore opens it."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        path: str,
        entries: list[dict[str, Any]],
        pins: dict[str, dict[str, str]],
        downloads: ThreadPoolExecutor,
        stopping: threading.Event,
    ) -> None:
        self.s3, self.bucket, self.path, self.entries, self.pins = s3, bucket, path, entries, pins
        self.downloads, self.stopping = downloads, stopping
        self.opened = threading.Event()
        self.written = 0

    def run(self, on_error: Callable[[BaseException], None]) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY)  # blocks until pg_restore (or `release`) opens it
        except OSError as exc:
            on_error(exc)
            return
        finally:
            self.opened.set()
        pending: Future[bytes] | None = None
        try:
            if self.stopping.is_set():
                return
            with contextlib.suppress(OSError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, READ_SIZE)
            # The next object downloads while this one goes into the pipe.
            pending = self.downloads.submit(self._download, self.entries[0])
            for i, entry in enumerate(self.entries):
                assert pending is not None  # one is submitted for every entry
                data = pending.result()
                if self.stopping.is_set():
                    return
                following = self.entries[i + 1] if i + 1 < len(self.entries) else None
                pending = self.downloads.submit(self._download, following) if following else None
                if not self._write(fd, entry, data):
                    return
        except BaseException as exc:
            if not self.stopping.is_set():
                # pg_restore is stopped before this pipe closes: its COPY is cancelled, not ended short.
                on_error(exc)
        finally:
            if pending is not None:
                pending.cancel()
            os.close(fd)

    def _download(self, entry: dict[str, Any]) -> bytes:
        """One object whole, pinned to the version S3 vouched for, and hashed."""
        where = f"s3://{self.bucket}/{entry['key']}"
        pin = self.pins[entry["key"]]

        def get() -> bytes:
            # The body's read is retried with the request: a read timeout mid-object is as transient.
            if self.stopping.is_set():
                raise _Stopped(entry["key"])  # not transient: a stopped restore stops retrying
            body: bytes = self.s3.get_object(Bucket=self.bucket, Key=entry["key"], **pin)["Body"].read()
            return body

        with aws_errors(f"reading {where}"):
            data = retry_aws(get)()
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != int(entry["stored_bytes"]) or digest != entry["sha256"]:
            raise CorruptBackupError(
                f"{where} changed between verification and restore: manifest says {entry['stored_bytes']} bytes "
                f"sha256 {entry['sha256']}, read {len(data)} bytes sha256 {digest}"
            )
        return data

    def _write(self, fd: int, entry: dict[str, Any], data: bytes) -> bool:
        """One verified object into the pipe; False when the reader has gone (pg_restore's status says why)."""
        where = f"s3://{self.bucket}/{entry['key']}"
        written = 0
        decompress = zstandard.ZstdDecompressor().decompressobj()
        try:
            for start in range(0, len(data), READ_SIZE):
                plain = memoryview(decompress.decompress(data[start : start + READ_SIZE]))
                written += len(plain)
                if written > int(entry["size_bytes"]):
                    raise CorruptBackupError(f"{where} decompresses to more than the manifest's {entry['size_bytes']}")
                while plain:
                    plain = plain[os.write(fd, plain) :]
        except BrokenPipeError:
            return False
        except zstandard.ZstdError as exc:
            raise CorruptBackupError(f"{where} matches its sha256 but failed to decompress: {exc}") from None
        if written != int(entry["size_bytes"]):
            raise CorruptBackupError(f"{where} decompresses to {written} bytes, not {entry['size_bytes']}")
        self.written += written
        return True

    def release(self) -> int | None:
        """For a feeder whose thread has started and has not met a reader: open the pipe for reading
        without blocking, so its open() returns (it finds `stopping` set and closes). The caller
        closes the returned descriptor once the thread has ended."""
        if self.opened.is_set():
            return None
        try:
            return os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return None


def restore_piped(
    s3: Any,
    bucket: str,
    section: dict[str, Any],
    pins: dict[str, dict[str, str]],
    directory: str,
    args: list[str],
    target_url: str,
    password: str | None,
    what: str,
    jobs: int,
) -> tuple[int, float]:
    """Download the small files into `directory`, make the big ones pipes, and run `args` (pg_restore
    ending with `directory`) while threads feed the pipes. Returns the bytes restored and the
    (monotonic) time pg_restore started: everything before it was verification."""
    files = _files(section)
    piped = _piped(files)
    # The small files first, every object verified (the download-first path's own fetch).
    fetch_directory(s3, bucket, {"files": [e for e in section["files"] if e["name"] not in piped]}, directory, jobs)
    for name in piped:
        os.mkfifo(os.path.join(directory, name), 0o600)
    stopping = threading.Event()
    # pg_restore reads at most `jobs` pipes at once; each feeder has one object downloading ahead.
    downloads = ThreadPoolExecutor(max_workers=2 * jobs, thread_name_prefix="pipe-get")
    feeders = [
        _Feeder(s3, bucket, os.path.join(directory, name), files[name], pins, downloads, stopping)
        for name in sorted(piped)
    ]
    started = time.monotonic()
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=pg_env(password)
    )
    causes: list[BaseException] = []  # the first failure, whoever saw it
    lock = threading.Lock()

    def stop_restore(exc: BaseException) -> None:
        # Under the lock: a second failing feeder waits here until pg_restore is stopped, so its pipe
        # never reaches end-of-file (ending a job's COPY short) before the SIGTERM. `poll()` cannot
        # tell while the main thread waits on pg_restore: an exit already under way may lose to a
        # feeder's error arriving at the same moment (accepted: both are failures).
        with lock:
            if causes or proc.poll() is not None:
                return  # pg_restore stopped on its own first, or another feeder's failure came first
            causes.append(exc)
            stop(proc)  # SIGTERM: its jobs' COPY is cancelled; then the pipes may close
            stopping.set()

    threads: list[threading.Thread] = []
    try:
        assert proc.stderr is not None
        stderr = StderrTail(proc.stderr, (target_url, password))
        for feeder in feeders:
            threads.append(threading.Thread(target=feeder.run, args=(stop_restore,), name="pipe", daemon=True))
            threads[-1].start()
        returncode = proc.wait()
    except BaseException:
        stop(proc)
        raise
    finally:
        stopping.set()
        # Every pipe gets a reader (a non-blocking open never waits), so no feeder stays in open().
        held = [f.release() for f in feeders]
        try:
            for thread in threads:
                if thread.ident is not None:
                    thread.join(timeout=60)
        finally:
            for fd in held:
                if fd is not None:
                    os.close(fd)
            downloads.shutdown(wait=True, cancel_futures=True)
    if causes:
        raise causes[0]
    if returncode != 0:
        raise pg_restore_error(what, returncode, stderr.text(), stderr.marks())
    unread = [os.path.basename(f.path) for f in feeders if f.written != sum(int(e["size_bytes"]) for e in f.entries)]
    if unread:
        raise BackupError(f"{what}: pg_restore exited 0 without reading {', '.join(unread)} in full")
    return sum(int(e["size_bytes"]) for e in section["files"]), started
