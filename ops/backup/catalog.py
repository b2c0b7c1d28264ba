"""`backup list` and `backup verify`: which backups are complete, the newest one, and whether its
stored bytes still match its manifest."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from ops.backup.aws import aws_errors, object_missing, retry_aws, s3_client
from ops.backup.directory import DIRECTORY_DUMP_FORMAT, default_jobs
from ops.backup.errors import BackupError, CorruptBackupError, NoBackupError
from ops.backup.layout import MANIFEST_FORMATS, Kind, Location, backup_id_time, validate_backup_id
from ops.backup.postgres import READ_SIZE
from ops.backup.supabase import check_supabase_pitr
from ops.backup.timing import format_duration, is_stale, isoformat, parse_iso, utcnow
from ops.backup.upload import HashingReader

__all__ = [
    "BackupEntry",
    "VerifyResult",
    "excluded_tables",
    "list_backups",
    "load_manifest",
    "resolve_backup",
    "verify_backup",
    "verify_latest",
    "verify_object",
]


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
    # Platform tables the backup's role may not read, left out of the dump (`ops.backup.access`).
    excluded_tables: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
        kind.value,
        backup_id,
        True,
        manifest.get("started_at"),
        manifest.get("finished_at"),
        stored,
        key,
        excluded_tables=excluded_tables(manifest),
    )


def excluded_tables(manifest: dict[str, Any]) -> list[dict[str, str]]:
    """What a database backup left out (`dump.excluded_tables`); none before the key existed, or for assets."""
    return list(manifest.get("dump", {}).get("excluded_tables", []))


def load_manifest(s3: Any, location: Location, kind: Kind, backup_id: str) -> dict[str, Any]:
    key = location.manifest_key(kind, backup_id)
    try:
        body = retry_aws(s3.get_object)(Bucket=location.bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if object_missing(exc):
            raise NoBackupError(
                f"backup {backup_id} has no manifest at {location.url(key)}: it is incomplete and never counts"
            ) from None
        raise
    try:
        manifest: dict[str, Any] = json.loads(body)
    except ValueError:
        raise BackupError(f"manifest {location.url(key)} is not valid JSON") from None
    if manifest.get("format") not in MANIFEST_FORMATS or manifest.get("kind") != kind.value:
        raise BackupError(
            f"manifest {location.url(key)} has format {manifest.get('format')!r}/"
            f"{manifest.get('kind')!r}, expected one of {', '.join(MANIFEST_FORMATS)}/{kind.value!r}"
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
            response = retry_aws(s3.get_object)(Bucket=bucket, Key=key)
        except ClientError as exc:
            if object_missing(exc):
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


def verify_objects(s3: Any, bucket: str, objects: list[tuple[str, str, int]], jobs: int) -> None:
    """`verify_object` for each (key, sha256, size), `jobs` at a time; one CorruptBackupError naming
    every damaged object."""
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="verify") as pool:
        futures = [pool.submit(verify_object, s3, bucket, *entry) for entry in objects]
        problems = []
        for future in futures:
            try:
                future.result()
            except CorruptBackupError as exc:
                problems.append(str(exc))
    if problems:
        raise CorruptBackupError("\n".join(problems))


def verify_backup(location: Location, manifest: dict[str, Any], *, s3: Any) -> int:
    """Re-verify every stored object of a backup; return how many bytes were checked."""
    if manifest["kind"] == Kind.DB.value:
        dump = manifest["dump"]
        if dump["format"] == DIRECTORY_DUMP_FORMAT:
            verify_objects(
                s3, location.bucket, [(f["key"], f["sha256"], f["stored_bytes"]) for f in dump["files"]], default_jobs()
            )
        else:
            verify_object(s3, location.bucket, dump["key"], dump["sha256"], dump["stored_bytes"])
        return int(dump["stored_bytes"])
    for entry in manifest["objects"]:
        verify_object(s3, location.bucket, manifest["objects_prefix"] + entry["key"], entry["sha256"], entry["size"])
    return int(manifest["total_bytes"])


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
    excluded_tables: list[dict[str, str]] = dataclasses.field(default_factory=list)

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
    result.excluded_tables = excluded_tables(manifest)
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
