"""Off-site backups of the ChefChatz database and Storage assets, their verification and restore drills.

The library behind `chefchatz backup ...`, `chefchatz restore ...` and `chefchatz drill`.

Layout in the backup bucket (one "backup id" per run; ids sort chronologically):

    {prefix}/db/{backup_id}/dump.pgcustom.zst       pg_dump custom format, zstd-compressed
    {prefix}/db/{backup_id}/manifest.json           written LAST: a backup without it never counts
    {prefix}/assets/{backup_id}/objects/{key}       full copy of a Supabase Storage bucket
    {prefix}/assets/{backup_id}/manifest.json

Design choices, briefly:
- The dump is streamed: pg_dump stdout -> zstd -> fixed-size parts -> S3 multipart upload, with at
  most `MAX_PARTS_IN_FLIGHT` parts in memory, so memory does not grow with the database.
- The checksum is ours (sha256 of the stored object, computed while streaming); S3-compatible
  endpoints (and moto) do not all verify checksums, so `verify` and `restore` re-hash the object.
- Row counts: pg_dump runs inside a snapshot exported by our own REPEATABLE READ transaction, so
  the exact counts we take for small tables (`EXACT_COUNT_MAX_BYTES`) describe exactly the rows in
  the dump. Bigger tables get `pg_class.reltuples` only: a `count(*)` there would cost a full scan.
- Credentials never reach output: the DSN password goes to pg_dump/pg_restore through PGPASSWORD
  (not argv, where `ps` would show it) and every message passes through `redact`.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from typing import IO, Any

import boto3
import boto3.s3.transfer
import botocore.loaders
import botocore.session
import psycopg
import zstandard
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)
from psycopg import conninfo as pg_conninfo
from psycopg import sql
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

MiB = 1024 * 1024

METRIC_NAMESPACE = "ChefChatz/Backups"
"""CloudWatch namespace. A contract with the freshness alarm in the Backups component: do not rename."""
METRIC_BACKUP_SUCCEEDED = "BackupSucceeded"
METRIC_DRILL_SECONDS = "RestoreDrillSeconds"
METRIC_DRILL_SUCCEEDED = "RestoreDrillSucceeded"

MANIFEST_FORMAT = "chefchatz-backup-manifest/1"
DUMP_FORMAT = "pg_dump-custom+zstd"
DUMP_FILE = "dump.pgcustom.zst"
MANIFEST_FILE = "manifest.json"

# 8 MiB parts: above S3's 5 MiB minimum; 10,000 parts allow ~78 GiB of compressed dump, far more
# than a 15-minute RTO can restore anyway. Smaller parts keep the tool well under 200 MiB of RSS.
DEFAULT_PART_SIZE = 8 * MiB
S3_MAX_PARTS = 10_000
# Parts queued or uploading at once. Peak buffer memory is about (this + 1) x part size.
MAX_PARTS_IN_FLIGHT = 2
READ_SIZE = 1 * MiB
# zstd level 1: measured ~2x faster than level 3 for ~7% more bytes on chat/embedding-like data;
# the backup must keep up with pg_dump (issue 4: <= 1.5x the time of `pg_dump -Fc -Z0`).
ZSTD_LEVEL = 1
# 1: one zstd worker thread compresses while the Python thread reads, hashes and uploads. Worker
# threads emit output a job (~2 MiB) at a time; 0 compresses in-line, byte for byte.
ZSTD_THREADS = 1
# Asset copies: s3transfer reads a non-seekable source in order, one part at a time, which is what
# lets HashingReader hash it while it streams; parts in flight bound the memory.
ASSET_TRANSFER = boto3.s3.transfer.TransferConfig(
    multipart_threshold=DEFAULT_PART_SIZE, multipart_chunksize=DEFAULT_PART_SIZE, max_concurrency=4
)
# Tables up to this size get an exact `count(*)` in the manifest: a scan of a few MiB is cheap.
EXACT_COUNT_MAX_BYTES = 32 * MiB
# Accepted drift between a restored table and its pg_class.reltuples estimate before we warn.
ESTIMATE_TOLERANCE = 0.2
ESTIMATE_SLACK_ROWS = 1000
STDERR_TAIL_LINES = 20

SUPABASE_API_URL = "https://api.supabase.com"


class Kind(StrEnum):
    """What a backup holds; the value is the key segment in the bucket."""

    DB = "db"
    ASSETS = "assets"

    @property
    def metric_kind(self) -> str:
        # The freshness alarm's `Kind` dimension values (contract with the infrastructure).
        return {Kind.DB: "database", Kind.ASSETS: "assets"}[self]


# ----------------------------------------------------------------------------------------------
# Errors: each carries the exit code the CLI uses (1 = a check or operation failed, 2 = usage/config).


class BackupError(Exception):
    """An operation or check failed (exit code 1)."""

    exit_code = 1


class UsageError(BackupError):
    """The tool was given a bad value or configuration (exit code 2)."""

    exit_code = 2


class CredentialsError(UsageError):
    """AWS (or the Supabase API) rejected or could not find credentials."""


class NoBackupError(BackupError):
    """There is no complete backup to verify or restore."""


class CorruptBackupError(BackupError):
    """The stored object does not match its manifest."""


# ----------------------------------------------------------------------------------------------
# Pure helpers (table-tested).

_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> dt.timedelta:
    """Parse `90s`, `15m`, `6h`, `1d`, `1h30m` into a timedelta; raise UsageError naming the value."""
    cleaned = text.strip().lower()
    if not cleaned or _DURATION_PART.sub("", cleaned) != "":
        raise UsageError(f"invalid duration {text!r}: use a number and a unit s/m/h/d/w, e.g. 6h or 1h30m")
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(cleaned))
    if seconds <= 0:
        raise UsageError(f"invalid duration {text!r}: must be greater than zero")
    return dt.timedelta(seconds=seconds)


def format_duration(delta: dt.timedelta) -> str:
    total = int(delta.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


_BACKUP_ID = re.compile(r"^(\d{8}T\d{6}\.\d{3}Z)-[0-9a-f]{6}$")


def new_backup_id(now: dt.datetime, suffix: str | None = None) -> str:
    """`20261127T040000.000Z-1a2b3c`: UTC time first, so ids sort chronologically.

    Milliseconds keep two runs in the same second in order ("latest" must mean the newest); the
    random suffix keeps them apart.
    """
    utc = now.astimezone(dt.UTC)
    stamp = f"{utc:%Y%m%dT%H%M%S}.{utc.microsecond // 1000:03d}Z"
    return f"{stamp}-{suffix if suffix is not None else secrets.token_hex(3)}"


def backup_id_time(backup_id: str) -> dt.datetime | None:
    match = _BACKUP_ID.match(backup_id)
    if not match:
        return None
    return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.UTC)


def validate_backup_id(backup_id: str) -> str:
    if backup_id != "latest" and not _BACKUP_ID.match(backup_id):
        raise UsageError(
            f"invalid backup id {backup_id!r}: expected 'latest' or an id from `backup list`, "
            "e.g. 20261127T040000.000Z-1a2b3c"
        )
    return backup_id


_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@", re.I)
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def redact(text: str, *secret_values: str | None) -> str:
    """Remove passwords from `text`: URL userinfo, `password=...` pairs and any known secret value."""
    out = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@", text)
    out = _KV_PASSWORD.sub(r"\1***", out)
    for value in secret_values:
        if value and len(value) >= 3:
            out = out.replace(value, "***")
    return out


def split_dsn(dsn: str) -> tuple[str, str | None]:
    """Split a libpq DSN (URL or key=value) into a password-free conninfo and the password."""
    try:
        params = pg_conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise UsageError(f"invalid database URL {redact(dsn)!r}: {redact(str(exc), dsn).strip()}") from None
    password = params.pop("password", None)
    clean = {k: str(v) for k, v in params.items() if v is not None}
    return pg_conninfo.make_conninfo("", **clean), (str(password) if password is not None else None)


def describe_dsn(dsn: str) -> str:
    """`user@host:port/dbname` for messages: enough to recognise the target, no secrets."""
    try:
        params = pg_conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return redact(dsn)
    user = params.get("user") or "?"
    host = params.get("host") or "local socket"
    port = params.get("port") or "5432"
    return f"{user}@{host}:{port}/{params.get('dbname') or '?'}"


def join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


@dataclasses.dataclass(frozen=True)
class Location:
    """Where backups live: a bucket and an optional key prefix (e.g. the stack name)."""

    bucket: str
    prefix: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", self.bucket):
            raise UsageError(
                f"invalid bucket name {self.bucket!r}: S3 bucket names are 3-63 lowercase letters, "
                "digits, dots and hyphens"
            )

    def kind_prefix(self, kind: Kind) -> str:
        return join_key(self.prefix, kind.value) + "/"

    def backup_prefix(self, kind: Kind, backup_id: str) -> str:
        return join_key(self.prefix, kind.value, backup_id) + "/"

    def manifest_key(self, kind: Kind, backup_id: str) -> str:
        return self.backup_prefix(kind, backup_id) + MANIFEST_FILE

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"


def is_stale(finished_at: dt.datetime, now: dt.datetime, max_age: dt.timedelta) -> bool:
    return now - finished_at > max_age


@dataclasses.dataclass(frozen=True)
class TableCheck:
    table: str
    expected: int | None
    expected_is_exact: bool
    restored: int | None
    status: str  # "ok" | "mismatch" | "missing" | "drift" | "unchecked"

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "missing")


def compare_table_counts(manifest_tables: list[dict[str, Any]], restored: dict[str, int]) -> list[TableCheck]:
    """Check restored row counts against the manifest.

    Exact counts must match exactly; a table that is missing fails. Estimates (reltuples) only
    produce a "drift" warning when far off, and tables never analysed (reltuples -1) are unchecked.
    """
    checks: list[TableCheck] = []
    for entry in manifest_tables:
        name = f"{entry['schema']}.{entry['name']}"
        exact = entry.get("exact_row_count")
        estimate = entry.get("row_estimate")
        got = restored.get(name)
        if got is None:
            checks.append(
                TableCheck(name, exact if exact is not None else estimate, exact is not None, None, "missing")
            )
        elif exact is not None:
            checks.append(TableCheck(name, exact, True, got, "ok" if got == exact else "mismatch"))
        elif estimate is None or estimate < 0:
            checks.append(TableCheck(name, None, False, got, "unchecked"))
        else:
            allowed = max(ESTIMATE_SLACK_ROWS, ESTIMATE_TOLERANCE * estimate)
            checks.append(TableCheck(name, estimate, False, got, "ok" if abs(got - estimate) <= allowed else "drift"))
    return checks


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def isoformat(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def tool_version() -> str:
    try:
        return importlib.metadata.version("chefchatz-infra")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# ----------------------------------------------------------------------------------------------
# AWS plumbing: standard configuration (credential chain, AWS_REGION, AWS_ENDPOINT_URL), our retries.

_TRANSIENT_CODES = {
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestTimeTooSkewed",
}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AccessDenied",
    "AccessDeniedException",
    "TokenRefreshRequired",
}


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | ReadTimeoutError):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _TRANSIENT_CODES or status in (500, 502, 503, 504)
    return False


# botocore already retries each request (standard mode); this covers longer blips across a whole
# call, e.g. an endpoint restarting while a part uploads.
_retry = retry(
    retry=retry_if_exception(_is_transient),
    stop=stop_after_attempt(4),
    wait=wait_exponential(multiplier=0.5, max=8),
    reraise=True,
)


def s3_client(
    endpoint_url: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
) -> Any:
    """An S3 client from the standard AWS configuration; explicit endpoint/keys/signing region for a source
    bucket."""
    config = BotoConfig(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=8,
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    return _session().client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=config,
    )


# botocore parses the service-model JSON again for every new session (~0.2 s per client); the models
# are immutable files, so sessions share one loader. Credentials and configuration stay per session.
_MODEL_LOADER = botocore.loaders.create_loader()


def _session() -> boto3.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _MODEL_LOADER)
    # botocore reads AWS_DEFAULT_REGION only; ECS/Lambda and most tools also set AWS_REGION.
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    return boto3.session.Session(botocore_session=core, region_name=region or None)


def cloudwatch_client() -> Any:
    return _session().client("cloudwatch", config=BotoConfig(retries={"mode": "standard"}))


def translate_aws_error(exc: Exception, what: str) -> BackupError:
    """Turn a botocore failure into a message a person can act on, with the right exit code."""
    if isinstance(exc, NoCredentialsError):
        return CredentialsError(
            f"{what}: no AWS credentials found (set AWS_PROFILE, AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY or use an instance/task role)"
        )
    if isinstance(exc, NoRegionError):
        return UsageError(f"{what}: no AWS region configured (set AWS_REGION or AWS_DEFAULT_REGION)")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "?")
        message = err.get("Message", "")
        if code in _CREDENTIAL_CODES:
            return CredentialsError(f"{what}: AWS rejected the credentials ({code}: {message})")
        if code == "NoSuchBucket":
            return UsageError(f"{what}: bucket does not exist ({code})")
        return BackupError(f"{what}: {code}: {message}")
    if isinstance(exc, EndpointConnectionError):
        return BackupError(f"{what}: cannot reach the S3 endpoint ({exc})")
    return BackupError(f"{what}: {exc}")


@contextlib.contextmanager
def aws_errors(what: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate_aws_error(exc, what) from exc


def publish_metric(
    cloudwatch: Any, name: str, value: float, dimensions: dict[str, str], unit: str = "Count"
) -> str | None:
    """Publish one data point; return a warning instead of raising (a metric never fails a backup).

    `cloudwatch=None` creates the client here, inside the guard: a missing region is a warning too.
    """
    try:
        if cloudwatch is None:
            cloudwatch = cloudwatch_client()
        cloudwatch.put_metric_data(
            Namespace=METRIC_NAMESPACE,
            MetricData=[
                {
                    "MetricName": name,
                    "Value": value,
                    "Unit": unit,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                }
            ],
        )
    except (ClientError, BotoCoreError) as exc:
        return f"could not publish metric {METRIC_NAMESPACE}/{name}: {translate_aws_error(exc, 'CloudWatch')}"
    return None


# ----------------------------------------------------------------------------------------------
# PostgreSQL plumbing.


def pg_binary(name: str) -> str:
    """Find pg_dump/pg_restore: PG_BINDIR if set (to pick a version), else PATH."""
    bindir = os.environ.get("PG_BINDIR")
    path = os.path.join(bindir, name) if bindir else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        where = f"PG_BINDIR={bindir}" if bindir else "PATH"
        raise UsageError(f"{name} not found on {where}: install the PostgreSQL client matching the server")
    return path


def _pg_env(password: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    return env


@contextlib.contextmanager
def _sql_errors(what: str, dsn: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise BackupError(f"{what} on {describe_dsn(dsn)}: {redact(str(exc), dsn).strip()}") from None


def _connect(dsn: str, **kwargs: Any) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(dsn, connect_timeout=15, **kwargs)
    except psycopg.Error as exc:
        raise BackupError(f"cannot connect to {describe_dsn(dsn)}: {redact(str(exc), dsn).strip()}") from None


class _StderrTail:
    """Drain a child's stderr in a thread (so it can never block) and keep its last lines."""

    def __init__(self, stream: IO[bytes], secrets_: tuple[str | None, ...]) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._secrets = secrets_
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self._lines.append(raw.decode("utf-8", "replace").rstrip())

    def text(self) -> str:
        self._thread.join(timeout=5)
        return redact("\n".join(self._lines), *self._secrets)


def _widen_pipe(stream: IO[bytes]) -> None:
    """1 MiB pipe instead of 64 KiB: fewer context switches between us and pg_dump/pg_restore."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, READ_SIZE)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


_USER_TABLES_SQL = """
SELECT n.nspname, c.relname, c.reltuples::bigint, pg_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


def user_tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str, int, int]]:
    """User tables (not catalogs, not extension members): schema, name, reltuples, size in bytes."""
    return [(str(s), str(n), int(t), int(b)) for s, n, t, b in conn.execute(_USER_TABLES_SQL).fetchall()]


def count_rows(conn: psycopg.Connection[Any], schema: str, table: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


# ----------------------------------------------------------------------------------------------
# Results.


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


@dataclasses.dataclass
class BackupEntry:
    kind: str
    backup_id: str
    complete: bool
    started_at: str | None
    finished_at: str | None
    stored_bytes: int | None
    manifest_key: str
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------------------------
# Streaming helpers.


class HashingReader:
    """A read()-only wrapper that hashes and counts what passes through (deliberately not seekable)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self._raw.read(size)
        self.sha256.update(data)
        self.bytes += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


class _MultipartUpload:
    """One S3 multipart upload fed with ordered parts; bounded in-flight parts; abort on failure."""

    def __init__(self, s3: Any, bucket: str, key: str, metadata: dict[str, str]) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        with aws_errors(f"starting the upload to s3://{bucket}/{key}"):
            created = _retry(s3.create_multipart_upload)(
                Bucket=bucket, Key=key, ContentType="application/zstd", Metadata=metadata
            )
        self.upload_id: str = created["UploadId"]
        self._pool = ThreadPoolExecutor(max_workers=MAX_PARTS_IN_FLIGHT, thread_name_prefix="s3-part")
        self._pending: collections.deque[Future[dict[str, Any]]] = collections.deque()
        self._done: list[dict[str, Any]] = []
        self.parts = 0

    def _upload(self, number: int, body: bytes) -> dict[str, Any]:
        response = _retry(self._s3.upload_part)(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    def add(self, body: bytes) -> None:
        if self.parts >= S3_MAX_PARTS:
            raise BackupError(f"dump exceeds {S3_MAX_PARTS} parts of {len(body)} bytes: raise the part size")
        # Waiting for the oldest part before queueing another is what bounds memory.
        while len(self._pending) >= MAX_PARTS_IN_FLIGHT:
            self._done.append(self._pending.popleft().result())
        self.parts += 1
        self._pending.append(self._pool.submit(self._upload, self.parts, body))

    def flush(self) -> None:
        """Wait until every queued part is uploaded."""
        while self._pending:
            self._done.append(self._pending.popleft().result())

    def complete(self) -> None:
        self.flush()
        self._pool.shutdown()
        _retry(self._s3.complete_multipart_upload)(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": sorted(self._done, key=lambda p: p["PartNumber"])},
        )

    def abort(self) -> str | None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self._s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except (ClientError, BotoCoreError) as exc:
            # The bucket's lifecycle rule removes abandoned uploads; say so rather than hide it.
            return f"could not abort the multipart upload {self.upload_id}: {exc}"
        return None


def _put_json(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, sort_keys=True).encode()
    _retry(s3.put_object)(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


# ----------------------------------------------------------------------------------------------
# backup db


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

    conn = _connect(database_url)
    try:
        with _sql_errors("reading the catalog", database_url):
            info = _snapshot_and_describe(conn)
        upload = _MultipartUpload(
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
                env=_pg_env(password),
            )
            assert proc.stdout is not None and proc.stderr is not None
            _widen_pipe(proc.stdout)
            stderr = _StderrTail(proc.stderr, (database_url, password))
            # Counting runs beside the dump, inside the same snapshot (see module docstring).
            counts: dict[str, int] = {}
            # Without a shared snapshot, counts taken beside the dump could disagree with it: skip them.
            countable = info["tables"] if info["snapshot"] else []
            counter = threading.Thread(target=_exact_counts, args=(conn, countable, counts), daemon=True)
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
                head = _retry(s3.head_object)(Bucket=location.bucket, Key=object_key)
            if int(head["ContentLength"]) != stored_bytes:
                raise BackupError(
                    f"{location.url(object_key)} holds {head['ContentLength']} bytes, {stored_bytes} were sent"
                )
            phases["complete"] = time.monotonic() - clock - phases["stream"]
            counter.join()
            conn.commit()
        except BaseException as exc:
            if proc is not None:
                _stop(proc)
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
        _put_json(s3, location.bucket, manifest_key, manifest)
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


def _snapshot_and_describe(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Open the REPEATABLE READ transaction whose snapshot pg_dump will share; read server facts."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    row = conn.execute(
        "SELECT current_database(), current_setting('server_version'), current_setting('server_version_num')::int"
    ).fetchone()
    assert row is not None
    snapshot: str | None
    try:
        snap = conn.execute("SELECT pg_export_snapshot()").fetchone()
        snapshot = str(snap[0]) if snap else None
    except psycopg.Error:
        # e.g. a transaction-mode pooler; the dump is still consistent, the counts merely approximate.
        conn.rollback()
        snapshot = None
    return {
        "database": str(row[0]),
        "server_version": str(row[1]),
        "server_version_num": int(row[2]),
        "snapshot": snapshot,
        "tables": user_tables(conn),
    }


def _exact_counts(conn: psycopg.Connection[Any], tables: list[tuple[str, str, int, int]], out: dict[str, int]) -> None:
    for schema, name, _estimate, size in tables:
        if size <= EXACT_COUNT_MAX_BYTES:
            try:
                # A savepoint per table: one failure must not end the transaction that holds the snapshot.
                with conn.transaction():
                    out[f"{schema}.{name}"] = count_rows(conn, schema, name)
            except psycopg.Error:
                # No SELECT privilege, for instance: pg_dump reports it; the manifest keeps the estimate.
                continue


# ----------------------------------------------------------------------------------------------
# backup assets


def backup_assets(
    source_endpoint: str,
    source_bucket: str,
    location: Location,
    *,
    source_access_key: str | None,
    source_secret_key: str | None,
    source_region: str | None = None,
    stack: str = "default",
    s3: Any = None,
    source_s3: Any = None,
    cloudwatch: Any = None,
    now: Callable[[], dt.datetime] = utcnow,
) -> BackupResult:
    """Copy every object of a Supabase Storage bucket (S3 API) into the backup bucket, hashing as it goes."""
    if not re.match(r"^https?://[^/\s]+", source_endpoint):
        raise UsageError(f"invalid --source-endpoint {source_endpoint!r}: expected an http(s) URL")
    if not source_access_key or not source_secret_key:
        raise UsageError(
            "source credentials missing: set SOURCE_AWS_ACCESS_KEY_ID and SOURCE_AWS_SECRET_ACCESS_KEY "
            "(Supabase Storage S3 access keys) or pass --source-access-key/--source-secret-key"
        )
    if source_s3 is None and not source_region:
        raise UsageError(
            "source region missing: set SOURCE_S3_REGION or pass --source-region with the Supabase project's region "
            "(Storage > S3 configuration); Storage checks signatures made for it, not for the AWS region"
        )
    if source_region and not re.fullmatch(r"[a-z]{2}-[a-z]+-\d|local", source_region):
        raise UsageError(f"invalid --source-region {source_region!r}: expected a region such as 'eu-central-1'")
    s3 = s3 if s3 is not None else s3_client()
    source_s3 = (
        source_s3
        if source_s3 is not None
        else s3_client(source_endpoint, source_access_key, source_secret_key, source_region)
    )
    started = now()
    clock = time.monotonic()
    backup_id = new_backup_id(started)
    objects_prefix = location.backup_prefix(Kind.ASSETS, backup_id) + "objects/"
    entries: list[dict[str, Any]] = []
    total = 0
    paginator = source_s3.get_paginator("list_objects_v2")
    with aws_errors(f"listing source bucket {source_bucket!r} at {source_endpoint}"):
        for page in paginator.paginate(Bucket=source_bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                with aws_errors(f"copying {key!r} from {source_bucket!r}"):
                    body = _retry(source_s3.get_object)(Bucket=source_bucket, Key=key)["Body"]
                    reader = HashingReader(body)
                    s3.upload_fileobj(reader, location.bucket, objects_prefix + key, Config=ASSET_TRANSFER)
                if reader.bytes != int(item["Size"]):
                    raise BackupError(
                        f"source object {key!r} changed while copying: listed {item['Size']} bytes, read {reader.bytes}"
                    )
                entries.append({"key": key, "size": reader.bytes, "sha256": reader.sha256.hexdigest()})
                total += reader.bytes
    finished = now()
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": Kind.ASSETS.value,
        "backup_id": backup_id,
        "tool_version": tool_version(),
        "started_at": isoformat(started),
        "finished_at": isoformat(finished),
        "source": {"endpoint": source_endpoint, "bucket": source_bucket},
        "objects_prefix": objects_prefix,
        "object_count": len(entries),
        "total_bytes": total,
        "objects": entries,
    }
    manifest_key = location.manifest_key(Kind.ASSETS, backup_id)
    with aws_errors(f"writing the manifest {location.url(manifest_key)}"):
        _put_json(s3, location.bucket, manifest_key, manifest)
    warnings: list[str] = []
    warning = publish_metric(
        cloudwatch,
        METRIC_BACKUP_SUCCEEDED,
        1,
        {"Stack": stack, "Kind": Kind.ASSETS.metric_kind},
    )
    if warning:
        warnings.append(warning)
    return BackupResult(
        kind=Kind.ASSETS.value,
        backup_id=backup_id,
        bucket=location.bucket,
        manifest_key=manifest_key,
        object_key=None,
        sha256=None,
        size_bytes=total,
        stored_bytes=total,
        objects=len(entries),
        started_at=isoformat(started),
        finished_at=isoformat(finished),
        seconds=round(time.monotonic() - clock, 3),
        warnings=warnings,
    )


# ----------------------------------------------------------------------------------------------
# list / find


def list_backups(location: Location, kind: Kind, *, s3: Any = None) -> list[BackupEntry]:
    """All backups of `kind`, oldest first; those without a manifest (or still uploading) are incomplete."""
    s3 = s3 if s3 is not None else s3_client()
    root = location.kind_prefix(kind)
    entries: dict[str, BackupEntry] = {}
    with aws_errors(f"listing {location.url(root)}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=root, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                backup_id = common["Prefix"][len(root) :].strip("/")
                entries[backup_id] = _describe_backup(s3, location, kind, backup_id)
        if kind is Kind.DB:
            # An upload that never completed (process killed) leaves no object, only an open upload.
            uploads = s3.list_multipart_uploads(Bucket=location.bucket, Prefix=root).get("Uploads", [])
            for upload in uploads:
                backup_id = upload["Key"][len(root) :].split("/", 1)[0]
                if backup_id not in entries:
                    entries[backup_id] = BackupEntry(
                        kind.value,
                        backup_id,
                        False,
                        isoformat(upload["Initiated"]),
                        None,
                        None,
                        location.manifest_key(kind, backup_id),
                        "upload never completed",
                    )
    return [entries[k] for k in sorted(entries)]


def _describe_backup(s3: Any, location: Location, kind: Kind, backup_id: str) -> BackupEntry:
    key = location.manifest_key(kind, backup_id)
    try:
        manifest = load_manifest(s3, location, kind, backup_id)
    except NoBackupError:
        started = backup_id_time(backup_id)
        return BackupEntry(
            kind.value,
            backup_id,
            False,
            isoformat(started) if started else None,
            None,
            None,
            key,
            "no manifest: incomplete, never counts",
        )
    except BackupError as exc:
        return BackupEntry(kind.value, backup_id, False, None, None, None, key, str(exc))
    stored = manifest["dump"]["stored_bytes"] if kind is Kind.DB else manifest.get("total_bytes")
    return BackupEntry(
        kind.value, backup_id, True, manifest.get("started_at"), manifest.get("finished_at"), stored, key
    )


def load_manifest(s3: Any, location: Location, kind: Kind, backup_id: str) -> dict[str, Any]:
    key = location.manifest_key(kind, backup_id)
    try:
        body = _retry(s3.get_object)(Bucket=location.bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise NoBackupError(
                f"backup {backup_id} has no manifest at {location.url(key)}: it is incomplete and never counts"
            ) from None
        raise
    try:
        manifest: dict[str, Any] = json.loads(body)
    except ValueError:
        raise BackupError(f"manifest {location.url(key)} is not valid JSON") from None
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("kind") != kind.value:
        raise BackupError(
            f"manifest {location.url(key)} has format {manifest.get('format')!r}/"
            f"{manifest.get('kind')!r}, expected {MANIFEST_FORMAT!r}/{kind.value!r}"
        )
    return manifest


def resolve_backup(location: Location, kind: Kind, backup_id: str, *, s3: Any) -> dict[str, Any]:
    """The manifest of `backup_id`, or of the newest complete backup for "latest"."""
    validate_backup_id(backup_id)
    with aws_errors(f"reading backups in {location.url(location.kind_prefix(kind))}"):
        if backup_id != "latest":
            return load_manifest(s3, location, kind, backup_id)
        complete = [e for e in list_backups(location, kind, s3=s3) if e.complete]
        if not complete:
            raise NoBackupError(f"no complete {kind.value} backup in {location.url(location.kind_prefix(kind))}")
        return load_manifest(s3, location, kind, complete[-1].backup_id)


# ----------------------------------------------------------------------------------------------
# verify


def verify_object(s3: Any, bucket: str, key: str, sha256: str, size: int) -> str:
    """Stream the object and compare size and sha256 with the manifest; return its ETag."""
    with aws_errors(f"reading s3://{bucket}/{key}"):
        try:
            response = _retry(s3.get_object)(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise CorruptBackupError(f"s3://{bucket}/{key} is listed in the manifest but missing") from None
            raise
        reader = HashingReader(response["Body"])
        while reader.read(READ_SIZE):
            pass
    actual = reader.sha256.hexdigest()
    if reader.bytes != size or actual != sha256:
        raise CorruptBackupError(
            f"s3://{bucket}/{key} is corrupt: manifest says {size} bytes sha256 {sha256}, "
            f"stored object has {reader.bytes} bytes sha256 {actual}"
        )
    return str(response.get("ETag", ""))


def verify_backup(location: Location, manifest: dict[str, Any], *, s3: Any) -> int:
    """Re-verify every stored object of a backup; return how many bytes were checked."""
    if manifest["kind"] == Kind.DB.value:
        dump = manifest["dump"]
        verify_object(s3, location.bucket, dump["key"], dump["sha256"], dump["stored_bytes"])
        return int(dump["stored_bytes"])
    for entry in manifest["objects"]:
        verify_object(s3, location.bucket, manifest["objects_prefix"] + entry["key"], entry["sha256"], entry["size"])
    return int(manifest["total_bytes"])


@dataclasses.dataclass
class PitrStatus:
    project_ref: str
    pitr_enabled: bool
    walg_enabled: bool
    region: str
    backups: int


def check_supabase_pitr(
    project_ref: str, *, token: str | None, api_url: str | None = None, timeout: float = 20.0
) -> PitrStatus:
    """Ask the Supabase Management API (`GET /v1/projects/{ref}/database/backups`) about PITR."""
    if not re.fullmatch(r"[a-z0-9]{6,40}", project_ref):
        raise UsageError(f"invalid Supabase project ref {project_ref!r}: expected lowercase letters and digits")
    if not token:
        raise CredentialsError("SUPABASE_ACCESS_TOKEN is not set: needed to check point-in-time recovery")
    import httpx  # only `verify --supabase-project-ref` needs it: keep it out of every start-up

    base = (api_url or SUPABASE_API_URL).rstrip("/")
    url = f"{base}/v1/projects/{project_ref}/database/backups"
    try:
        response = httpx.get(
            url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise BackupError(f"Supabase Management API unreachable at {base}: {redact(str(exc), token)}") from None
    if response.status_code in (401, 403):
        raise CredentialsError(
            f"Supabase Management API rejected SUPABASE_ACCESS_TOKEN for project {project_ref} "
            f"(HTTP {response.status_code})"
        )
    if response.status_code == 404:
        raise UsageError(f"Supabase project {project_ref!r} not found (HTTP 404)")
    if response.status_code != 200:
        raise BackupError(f"Supabase Management API returned HTTP {response.status_code} for project {project_ref}")
    try:
        body = response.json()
        return PitrStatus(
            project_ref=project_ref,
            pitr_enabled=bool(body["pitr_enabled"]),
            walg_enabled=bool(body.get("walg_enabled", False)),
            region=str(body.get("region", "")),
            backups=len(body.get("backups") or []),
        )
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"unexpected response from {url}: no pitr_enabled field") from None


@dataclasses.dataclass
class VerifyResult:
    ok: bool
    kind: str
    bucket: str
    backup_id: str | None
    finished_at: str | None
    age_seconds: float | None
    max_age_seconds: float
    checked_bytes: int
    problems: list[str]
    pitr: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def verify_latest(
    location: Location,
    kind: Kind,
    max_age: dt.timedelta,
    *,
    supabase_project_ref: str | None = None,
    supabase_token: str | None = None,
    supabase_api_url: str | None = None,
    s3: Any = None,
    now: Callable[[], dt.datetime] = utcnow,
) -> VerifyResult:
    """The newest complete backup exists, is younger than `max_age` and matches its checksums."""
    s3 = s3 if s3 is not None else s3_client()
    problems: list[str] = []
    pitr: dict[str, Any] | None = None
    if supabase_project_ref:
        status = check_supabase_pitr(supabase_project_ref, token=supabase_token, api_url=supabase_api_url)
        pitr = dataclasses.asdict(status)
        if not status.pitr_enabled:
            problems.append(
                f"Supabase point-in-time recovery is NOT enabled for project {supabase_project_ref}: "
                "the 1 h RPO relies on it"
            )
    result = VerifyResult(
        ok=False,
        kind=kind.value,
        bucket=location.bucket,
        backup_id=None,
        finished_at=None,
        age_seconds=None,
        max_age_seconds=max_age.total_seconds(),
        checked_bytes=0,
        problems=problems,
        pitr=pitr,
    )
    try:
        manifest = resolve_backup(location, kind, "latest", s3=s3)
    except NoBackupError as exc:
        problems.append(str(exc))
        return result
    finished = parse_iso(manifest["finished_at"])
    result.backup_id = manifest["backup_id"]
    result.finished_at = manifest["finished_at"]
    result.age_seconds = round((now() - finished).total_seconds(), 1)
    if is_stale(finished, now(), max_age):
        problems.append(
            f"newest {kind.value} backup {manifest['backup_id']} finished {manifest['finished_at']}, "
            f"{format_duration(now() - finished)} ago: older than --max-age {format_duration(max_age)}"
        )
    try:
        result.checked_bytes = verify_backup(location, manifest, s3=s3)
    except CorruptBackupError as exc:
        problems.append(str(exc))
    result.ok = not problems
    return result


# ----------------------------------------------------------------------------------------------
# restore


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

    with _connect(target_url) as conn, _sql_errors("listing the target's tables", target_url):
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
        body = _retry(s3.get_object)(Bucket=location.bucket, Key=dump["key"], IfMatch=etag)["Body"]
    reader = HashingReader(body)
    proc = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_pg_env(password)
    )
    assert proc.stdin is not None and proc.stderr is not None
    _widen_pipe(proc.stdin)
    stderr = _StderrTail(proc.stderr, (target_url, password))
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
        _stop(proc)
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


# ----------------------------------------------------------------------------------------------
# drill

SCRATCH_NAME = re.compile(r"(scratch|drill)", re.I)


@dataclasses.dataclass
class DrillResult:
    ok: bool
    backup_id: str | None
    scratch: str
    seconds: float
    rto_seconds: float
    within_rto: bool
    restore: dict[str, Any] | None
    tables: list[dict[str, Any]]
    problems: list[str]
    warnings: list[str]
    failover: dict[str, Any] | None = None  # the failover rehearsal (`--failover`), when asked for

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recreate_scratch_database(scratch_url: str) -> None:
    """Drop and create the scratch database. Guarded: its name must contain "scratch" or "drill"."""
    params = pg_conninfo.conninfo_to_dict(scratch_url)
    dbname = str(params.get("dbname") or "")
    if not SCRATCH_NAME.search(dbname):
        raise UsageError(
            f"scratch database name {dbname!r} must contain 'scratch' or 'drill': the drill drops and recreates it"
        )
    maintenance = pg_conninfo.make_conninfo(scratch_url, dbname="postgres")
    with _connect(maintenance, autocommit=True) as conn:
        ident = sql.Identifier(dbname)
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        except psycopg.Error as exc:
            raise BackupError(f"cannot recreate scratch database {dbname!r}: {redact(str(exc), scratch_url)}") from None


def run_drill(
    location: Location,
    scratch_url: str,
    rto: dt.timedelta,
    *,
    stack: str = "default",
    backup_id: str = "latest",
    s3: Any = None,
    cloudwatch: Any = None,
    failover: bool = False,
) -> DrillResult:
    """Restore a backup into a fresh scratch database, check it against the manifest, time it vs the RTO.

    With `failover`, then rehearse a failover on the restored database (`ops.reconcile`): a copy
    loses some rows, `reconcile --apply` must bring them back and a second run find nothing.
    The rehearsal is not part of the timed restore.
    """
    s3 = s3 if s3 is not None else s3_client()
    split_dsn(scratch_url)
    problems: list[str] = []
    warnings: list[str] = []
    checks: list[TableCheck] = []
    restore: RestoreResult | None = None
    manifest: dict[str, Any] | None = None
    recreate_scratch_database(scratch_url)
    clock = time.monotonic()
    try:
        manifest = resolve_backup(location, Kind.DB, backup_id, s3=s3)
        # The scratch database has none of production's roles: skip ACLs, the data is what we check.
        restore = restore_database(location, scratch_url, backup_id=manifest["backup_id"], no_acl=True, s3=s3)
    except NoBackupError as exc:
        problems.append(str(exc))
    except BackupError as exc:
        if isinstance(exc, UsageError):
            raise
        problems.append(f"restore failed: {exc}")
    seconds = round(time.monotonic() - clock, 3)
    if restore is not None and manifest is not None:
        with _connect(scratch_url) as conn, _sql_errors("counting restored rows", scratch_url):
            restored = {f"{s}.{n}": count_rows(conn, s, n) for s, n, _, _ in user_tables(conn)}
        checks = compare_table_counts(manifest["tables"], restored)
        for check in checks:
            if check.failed:
                problems.append(
                    f"table {check.table}: manifest {check.expected}, restored {check.restored} ({check.status})"
                )
            elif check.status == "drift":
                warnings.append(f"table {check.table}: restored {check.restored} rows, estimate was {check.expected}")
    rehearsal = None
    if failover and restore is not None:
        from ops.reconcile import ReconcileInputError, rehearse_failover  # imported only by drills that rehearse

        try:
            rehearsal = rehearse_failover(scratch_url)
            problems += rehearsal.problems
        except ReconcileInputError as exc:
            problems.append(f"failover rehearsal: {exc}")
    within = restore is not None and seconds <= rto.total_seconds()
    if restore is not None and not within:
        problems.append(
            f"restore took {format_duration(dt.timedelta(seconds=seconds))}, over the RTO of {format_duration(rto)}"
        )
    ok = not problems
    for name, value, unit in (
        (METRIC_DRILL_SECONDS, seconds, "Seconds"),
        (METRIC_DRILL_SUCCEEDED, int(ok), "Count"),
    ):
        warning = publish_metric(cloudwatch, name, value, {"Stack": stack}, unit)
        if warning:
            warnings.append(warning)
    return DrillResult(
        ok=ok,
        backup_id=manifest["backup_id"] if manifest else None,
        scratch=describe_dsn(scratch_url),
        seconds=seconds,
        rto_seconds=rto.total_seconds(),
        within_rto=within,
        restore=restore.to_json() if restore else None,
        tables=[dataclasses.asdict(c) for c in checks],
        problems=problems,
        warnings=warnings,
        failover=rehearsal.to_json() if rehearsal else None,
    )
