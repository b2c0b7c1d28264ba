"""benchmarks/deferred_s3.py: the front that stores a benchmarked backup's PutObjects in moto after
the clock. What it answers during a run must be what S3 would, and what it stores after must be
exactly what the tool sent, or the backup benchmark measures a backup that does not exist."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.backup.conftest import aws, moto_endpoint  # noqa: F401 - the fixtures, shared

ROOT = Path(__file__).resolve().parents[2]


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


deferred_s3 = load("deferred_s3")
backup_benchmark = load("backup")


@pytest.fixture
def moto(moto_endpoint: str) -> str:  # noqa: F811 - the imported fixture, requested by name
    """The backup tests' moto server (`tests/backup/conftest.py`)."""
    return moto_endpoint


def client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture
def front(moto: str) -> Iterator[Any]:
    with backup_benchmark.deferred_front(moto) as running:
        yield running


@pytest.fixture
def bucket(moto: str, request: pytest.FixtureRequest) -> str:
    name = "bench-" + request.node.name.replace("_", "-")[:50].lower()
    client(moto).create_bucket(Bucket=name)
    return name


def sha256_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def replay(front: Any) -> dict[str, Any]:
    assert front.proc.stdin and front.proc.stdout
    front.proc.stdin.write("replay\n")
    front.proc.stdin.flush()
    result: dict[str, Any] = json.loads(front.proc.stdout.readline())
    return result


def tool_client(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The S3 client `chefchatz backup db` builds, its standard AWS configuration (the `aws` fixture)
    pointed at `endpoint` as the benchmark points it."""
    from ops.backup.aws import s3_client

    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    return s3_client()


@pytest.mark.usefixtures("aws")
def test_the_tools_put_object_is_answered_as_accepted_and_stored_in_moto_only_by_the_replay(
    front: Any, moto: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops.backup.upload import put_checked, put_json

    body = b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 4096
    s3 = tool_client(front.url, monkeypatch)
    key = "db/1/dump/toc.dat.zst"
    assert put_checked(s3, bucket, key, body, {"backup-id": "1"}) == hashlib.sha256(body).hexdigest()
    put_json(s3, bucket, "db/1/manifest.json", {"backup_id": "1"})
    with pytest.raises(ClientError) as missing:  # a HEAD goes to moto, which has nothing yet
        s3.head_object(Bucket=bucket, Key=key)
    assert missing.value.response["Error"]["Code"] == "404"

    result = replay(front)

    assert result["objects"] == 2 and not result["failures"]
    manifest = client(moto).get_object(Bucket=bucket, Key="db/1/manifest.json")["Body"].read()
    assert (result["bytes"], result["manifest_bytes"]) == (len(body) + len(manifest), len(manifest))
    stored = client(moto).get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert stored["Body"].read() == body
    assert stored["ChecksumSHA256"] == sha256_b64(body)  # the checksum the tool sent, kept by the store
    assert stored["Metadata"] == {"backup-id": "1"}
    assert stored["ContentType"] == "application/zstd"
    assert replay(front)["objects"] == 0  # what was stored is not kept twice


def test_the_fronts_answer_has_only_headers_of_s3s_put_object_output(front: Any, bucket: str) -> None:
    """The contract: botocore's model of S3. Beside HTTP's own headers and S3's request id, the
    front answers only with headers PutObject's output shape has."""
    body = b"chunk"
    answer = client(front.url).put_object(
        Bucket=bucket, Key="db/1/dump/1.dat.zst", Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=sha256_b64(body)
    )
    shape = botocore.session.get_session().get_service_model("s3").operation_model("PutObject").output_shape
    assert shape is not None
    modelled = {m.serialization["name"].lower() for m in shape.members.values() if "name" in m.serialization}
    sent = set(answer["ResponseMetadata"]["HTTPHeaders"]) - {"server", "date", "content-length", "x-amz-request-id"}
    assert sent == {"x-amz-checksum-sha256"} and sent <= modelled, sent - modelled
    assert answer["ChecksumSHA256"] == sha256_b64(body)
    assert replay(front)["objects"] == 1


def test_a_body_that_does_not_match_its_sha256_is_reported_and_not_stored(front: Any, moto: str, bucket: str) -> None:
    s3 = client(front.url)
    s3.put_object(
        Bucket=bucket,
        Key="db/1/dump/3.dat.zst",
        Body=b"sent",
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=sha256_b64(b"m"),
    )

    result = replay(front)

    assert len(result["failures"]) == 1
    assert "3.dat.zst" in result["failures"][0] and "BadDigest" in result["failures"][0]
    assert "Contents" not in client(moto).list_objects_v2(Bucket=bucket)


def test_every_other_request_reaches_moto_as_sent(front: Any, moto: str, bucket: str) -> None:
    """Lists, deletes and a multipart upload (its parts are PUTs with a query) pass through at once:
    what the tool reads during a run comes from moto."""
    s3 = client(front.url)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="db/2/dump.zst")
    part = s3.upload_part(Bucket=bucket, Key="db/2/dump.zst", UploadId=upload["UploadId"], PartNumber=1, Body=b"p1")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="db/2/dump.zst",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert client(moto).get_object(Bucket=bucket, Key="db/2/dump.zst")["Body"].read() == b"p1"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="db/")
    assert [o["Key"] for o in listed["Contents"]] == ["db/2/dump.zst"]
    assert s3.head_object(Bucket=bucket, Key="db/2/dump.zst")["ContentLength"] == 2
    s3.delete_object(Bucket=bucket, Key="db/2/dump.zst")
    assert "Contents" not in client(moto).list_objects_v2(Bucket=bucket)
    assert replay(front)["objects"] == 0


class Recording:
    """An upstream that records what the replay sends, in order."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def send(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, list[Any], bytes]:
        self.paths.append(path)
        return 200, [], b""


def test_the_replay_stores_the_manifests_last() -> None:
    front = deferred_s3.Front.__new__(deferred_s3.Front)  # no socket: only the replay is under test
    front.upstream = Recording()
    front.lock = deferred_s3.threading.Lock()
    front.kept = [
        deferred_s3.Kept("/b/db/1/manifest.json", [], b"{}"),
        *(deferred_s3.Kept(f"/b/db/1/dump/{n}.dat.zst", [], b"x") for n in range(5)),
    ]

    result = deferred_s3.replay(front)

    assert result["objects"] == 6 and not result["failures"]
    assert front.upstream.paths[-1] == "/b/db/1/manifest.json"
    assert sorted(front.upstream.paths[:-1]) == [f"/b/db/1/dump/{n}.dat.zst" for n in range(5)]


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("PUT", "/bucket/db/1/dump/3.dat.zst", {}, True),
        ("PUT", "/bucket", {}, False),  # CreateBucket
        ("PUT", "/bucket/key?partNumber=1&uploadId=u", {}, False),  # UploadPart
        ("PUT", "/bucket/key?tagging", {}, False),  # PutObjectTagging
        ("PUT", "/bucket/key", {"x-amz-copy-source": "/bucket/other"}, False),  # CopyObject
        ("POST", "/bucket/key?uploads", {}, False),
        ("GET", "/bucket/key", {}, False),
    ],
)
def test_only_put_object_is_kept(method: str, path: str, headers: dict[str, str], expected: bool) -> None:
    assert deferred_s3.is_put_object(method, path, headers) is expected


def test_the_upstream_is_loopback_only() -> None:
    bad = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/deferred_s3.py"), "--upstream", "http://example.com:80"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )
    assert bad.returncode != 0
    assert "http://127.0.0.1:PORT expected" in bad.stderr
