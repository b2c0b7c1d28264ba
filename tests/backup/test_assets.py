"""`backup assets`: the Supabase Storage copy."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig

from ops import backup as backups
from ops.backup import Kind, Location, assets

from .conftest import (
    TEST_PART_SIZE,
)


@pytest.fixture
def storage_bucket(s3: Any, monkeypatch: pytest.MonkeyPatch, aws: str) -> dict[str, bytes]:
    """A stand-in for a Supabase Storage bucket, served through the same loopback S3 API."""
    s3.create_bucket(Bucket="recipe-images")
    objects = {
        "avatars/cook1.png": bytes(range(256)) * 40,
        "recipes/42/hero.jpg": hashlib.sha256(b"hero").digest() * 3000,
        "recipes/42/steps/1 whisk.webp": b"",
        "recipes/é/ünïcode.txt": "crème brûlée".encode(),
        # Over the transfer threshold set below and over S3's 5 MiB minimum part: a 2-part copy,
        # so hashing a non-seekable stream in part order is exercised.
        "videos/braise.mp4": random.Random(4).randbytes(5 * 1024 * 1024 + 300 * 1024),
    }
    for key, body in objects.items():
        s3.put_object(Bucket="recipe-images", Key=key, Body=body)
    monkeypatch.setattr(
        assets,
        "ASSET_TRANSFER",
        TransferConfig(multipart_threshold=TEST_PART_SIZE, multipart_chunksize=5 * 1024 * 1024, max_concurrency=4),
    )
    monkeypatch.setenv("SOURCE_AWS_ACCESS_KEY_ID", "storage-key-id")
    monkeypatch.setenv("SOURCE_AWS_SECRET_ACCESS_KEY", "storage-secret-value")
    return objects


def test_assets_backup_copies_every_object_with_a_checksummed_manifest(
    storage_bucket: dict[str, bytes], s3: Any, bucket: str, aws: str, cli: Any
) -> None:
    result = cli(
        "backup",
        "assets",
        "--source-endpoint",
        aws,
        "--source-region",
        "eu-central-1",
        "--source-bucket",
        "recipe-images",
        "--bucket",
        bucket,
        "--prefix",
        "prod",
        "--json",
    )

    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "storage-secret-value" not in result.stdout + result.stderr
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=report["manifest_key"])["Body"].read())
    assert {o["key"]: (o["size"], o["sha256"]) for o in manifest["objects"]} == {
        k: (len(v), hashlib.sha256(v).hexdigest()) for k, v in storage_bucket.items()
    }
    for key, body in storage_bucket.items():
        copy = s3.get_object(Bucket=bucket, Key=manifest["objects_prefix"] + key)
        assert copy["Body"].read() == body, key
    big = s3.head_object(Bucket=bucket, Key=manifest["objects_prefix"] + "videos/braise.mp4")
    assert big["ETag"].strip('"').endswith("-2"), f"expected a 2-part multipart copy, ETag {big['ETag']}"
    verified = cli("backup", "verify", "--bucket", bucket, "--prefix", "prod", "--kind", "assets", "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["checked_bytes"] == sum(
        len(v) for v in storage_bucket.values()
    )
    metrics = boto3.client("cloudwatch").list_metrics(
        Namespace="ChefChatz/Backups",
        MetricName="BackupSucceeded",
        Dimensions=[{"Name": "Kind", "Value": "assets"}],
    )["Metrics"]
    assert metrics, "BackupSucceeded{Kind=assets} was not published"


def test_a_changed_asset_copy_fails_verify(storage_bucket: dict[str, bytes], s3: Any, bucket: str, aws: str) -> None:
    made = backups.backup_assets(
        aws, "recipe-images", Location(bucket), source_access_key="k", source_secret_key="s", source_region="us-east-1"
    )
    manifest = backups.load_manifest(s3, Location(bucket), Kind.ASSETS, made.backup_id)
    s3.put_object(Bucket=bucket, Key=manifest["objects_prefix"] + "avatars/cook1.png", Body=b"tampered")

    verdict = backups.verify_latest(Location(bucket), Kind.ASSETS, dt.timedelta(hours=25), s3=s3)

    assert not verdict.ok and "avatars/cook1.png is corrupt" in verdict.problems[0], verdict.problems


def test_assets_backup_without_source_credentials_is_a_config_error(
    aws: str, bucket: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("SOURCE_AWS_SECRET_ACCESS_KEY", raising=False)
    result = cli("backup", "assets", "--source-endpoint", aws, "--source-bucket", "recipe-images", "--bucket", bucket)
    assert result.exit_code == 2 and "SOURCE_AWS_ACCESS_KEY_ID" in result.stderr, result.stderr


def test_assets_backup_signs_for_the_supabase_projects_region_not_the_aws_one(
    aws: str, bucket: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Storage's S3 endpoint checks signatures made for the project's region (Supabase, "S3 Authentication").
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    client = backups.s3_client("https://abcd.supabase.co/storage/v1/s3", "k", "s", "eu-central-1")
    assert client.meta.region_name == "eu-central-1"
    monkeypatch.delenv("SOURCE_S3_REGION", raising=False)
    monkeypatch.setenv("SOURCE_AWS_ACCESS_KEY_ID", "storage-key-id")
    monkeypatch.setenv("SOURCE_AWS_SECRET_ACCESS_KEY", "storage-secret-value")
    args = ("backup", "assets", "--source-endpoint", aws, "--source-bucket", "recipe-images", "--bucket", bucket)
    missing = cli(*args)
    assert missing.exit_code == 2 and "SOURCE_S3_REGION" in missing.stderr, missing.stderr
    bad = cli(*args, "--source-region", "Frankfurt")
    assert bad.exit_code == 2 and "'Frankfurt'" in bad.stderr, bad.stderr
