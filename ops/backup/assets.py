"""`backup assets`: a full copy of a Supabase Storage bucket (S3 API), hashed as it streams, manifest last."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any

import boto3.s3.transfer

from ops.backup.aws import aws_errors, retry_aws, s3_client
from ops.backup.dump import BackupResult
from ops.backup.errors import BackupError, UsageError
from ops.backup.layout import MANIFEST_FORMAT, Kind, Location, new_backup_id, tool_version
from ops.backup.metrics import METRIC_BACKUP_SUCCEEDED, publish_metric
from ops.backup.timing import isoformat, utcnow
from ops.backup.upload import DEFAULT_PART_SIZE, HashingReader, put_json

__all__ = ["ASSET_TRANSFER", "backup_assets"]


# Asset copies: s3transfer reads a non-seekable source in order, one part at a time, which is what
# lets HashingReader hash it while it streams; parts in flight bound the memory.
ASSET_TRANSFER = boto3.s3.transfer.TransferConfig(
    multipart_threshold=DEFAULT_PART_SIZE, multipart_chunksize=DEFAULT_PART_SIZE, max_concurrency=4
)


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
                    body = retry_aws(source_s3.get_object)(Bucket=source_bucket, Key=key)["Body"]
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
        put_json(s3, location.bucket, manifest_key, manifest)
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
