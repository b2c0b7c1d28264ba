"""Where a backup's objects live in the bucket and how backups are named.

Layout in the backup bucket (one "backup id" per run; ids sort chronologically):

    {prefix}/db/{backup_id}/dump/{file}.zst         pg_dump directory format, one zstd object per file
                                                    (the default layout, `ops.backup.directory`)
    {prefix}/db/{backup_id}/dump.pgcustom.zst       or: pg_dump custom format, one zstd stream (`stream`)
    {prefix}/db/{backup_id}/manifest.json           written LAST: a backup without it never counts
    {prefix}/assets/{backup_id}/objects/{key}       full copy of a Supabase Storage bucket
    {prefix}/assets/{backup_id}/manifest.json
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import re
import secrets
from enum import StrEnum

from ops.backup.errors import UsageError

__all__ = [
    "DUMP_DIRECTORY",
    "DUMP_FILE",
    "DUMP_FORMAT",
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "MANIFEST_FORMATS",
    "Kind",
    "Layout",
    "Location",
    "MiB",
    "backup_id_time",
    "join_key",
    "new_backup_id",
    "tool_version",
    "validate_backup_id",
]

MiB = 1024 * 1024


# /2: the database dump may be in the directory layout (`dump.files`); /1 manifests (single stream,
# assets) are read as before. A tool that knows only /1 refuses a /2 manifest instead of misreading it.
MANIFEST_FORMAT = "chefchatz-backup-manifest/2"
MANIFEST_FORMATS = ("chefchatz-backup-manifest/1", MANIFEST_FORMAT)
DUMP_FORMAT = "pg_dump-custom+zstd"
DUMP_FILE = "dump.pgcustom.zst"
DUMP_DIRECTORY = "dump/"
MANIFEST_FILE = "manifest.json"


class Layout(StrEnum):
    """How a database dump is stored: `directory` (parallel, the default) or `stream` (one object)."""

    DIRECTORY = "directory"
    STREAM = "stream"


class Kind(StrEnum):
    """What a backup holds; the value is the key segment in the bucket."""

    DB = "db"
    ASSETS = "assets"

    @property
    def metric_kind(self) -> str:
        # The freshness alarm's `Kind` dimension values (contract with the infrastructure).
        return {Kind.DB: "database", Kind.ASSETS: "assets"}[self]


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


def tool_version() -> str:
    try:
        return importlib.metadata.version("chefchatz-infra")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
