"""AWS credentials the endpoint rejects: exit 2, naming the AWS error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from .conftest import (
    live_children,
)


def test_credentials_unknown_to_the_endpoint_exit_2_naming_the_aws_error(
    moto_endpoint: str, aws: str, bucket: str, source_db: str, cli: Any
) -> None:
    # moto's documented switch: after POST /moto-api/reset-auth with 0, every request is checked
    # against the IAM users it knows, like AWS does. Our "testing" key belongs to nobody.
    httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
    try:
        listed = cli("backup", "list", "--bucket", bucket)
        backup = cli("backup", "db", "--database-url", source_db, "--bucket", bucket, "--json")
    finally:
        httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()

    assert listed.exit_code == 2 and "InvalidAccessKeyId" in listed.stderr, listed.stderr
    assert backup.exit_code == 2, backup.stdout
    assert "AWS rejected the credentials (InvalidAccessKeyId" in json.loads(backup.stdout)["error"]
    assert "testing" not in json.loads(backup.stdout)["error"].replace("AWS", "")


class _ExpiredTokenS3(BaseHTTPRequestHandler):
    """What S3 answers to a request signed with an expired STS session token: 400 and the
    `ExpiredToken` error document ("The provided token has expired.", S3's error code list,
    docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html). A HEAD answer has no body, so it
    carries no code at all: 400 alone (HTTP; seen from S3 in HADOOP-18353), and botocore then
    names the error by its status, "400"."""

    # Each error code the tests use, with its message as S3's error code list has it.
    messages = {
        "ExpiredToken": "The provided token has expired.",
        "InvalidRange": "The requested range is not satisfiable",
        "NoSuchKey": "The specified key does not exist.",
        "InvalidObjectState": "The operation is not valid for the object's storage class",
    }
    expired = (400, "ExpiredToken")

    # Tests vary what HEAD and a ranged GET get (a HEAD is never answered with a body), and read
    # the (method, path, Range) of every request. (botocore's region redirector sends a HEAD of the
    # bucket after a HEAD's 400, asking where it is; it is answered alike.)
    head_status = 400
    get_answer: tuple[int, str | None] = expired  # (status, error code or None: no body)
    requests: list[tuple[str, str, str | None]] = []

    @classmethod
    def error_document(cls, code: str) -> bytes:
        return (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{cls.messages[code]}</Message><RequestId>R1</RequestId></Error>"
        ).encode()

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        type(self).requests.append((self.command, self.path, self.headers.get("Range")))
        if self.command == "HEAD":
            self.send_response(self.head_status)
            self.end_headers()
            return
        status, code = self.get_answer if self.command == "GET" else self.expired
        if status == 206:  # the byte asked for
            self.send_response(206)
            self.send_header("Content-Range", "bytes 0-0/2")
            self.send_header("Content-Length", "1")
            self.end_headers()
            self.wfile.write(b"{")
            return
        self.send_response(status)
        body = self.error_document(code) if code else b""
        if body:
            self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _reply

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def expired_token_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ExpiredTokenS3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def expired_token_s3(aws: str, expired_token_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The tool's S3 client, with an expired session token, pointed at the stand-in."""
    from ops.backup import aws as aws_module

    monkeypatch.setenv("AWS_ENDPOINT_URL", expired_token_endpoint)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXPIRED")
    _ExpiredTokenS3.requests.clear()
    return aws_module.s3_client()


MANIFEST = {"Bucket": "chefchatz-prod-db-backups", "Key": "db/x/manifest.json"}
MANIFEST_PATH = "/chefchatz-prod-db-backups/db/x/manifest.json"


def test_expired_session_token_exits_2_with_the_expired_token_error(
    aws: str,
    expired_token_endpoint: str,
    source_db: str,
    empty_db: str,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", expired_token_endpoint)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXPIRED")
    for args in (
        ["backup", "list", "--bucket", "chefchatz-prod-db-backups"],
        ["backup", "verify", "--bucket", "chefchatz-prod-db-backups"],
        ["backup", "db", "--database-url", source_db, "--bucket", "chefchatz-prod-db-backups"],
        ["restore", "db", "--bucket", "chefchatz-prod-db-backups", "--target-url", empty_db],
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert "ExpiredToken" in result.stderr, (args, result.stderr)
    assert live_children("pg_dump") == []


def test_an_expired_token_on_a_head_request_which_carries_no_code_still_says_what_to_do(expired_token_s3: Any) -> None:
    from botocore.exceptions import ClientError

    from ops.backup import aws as aws_module
    from ops.backup.errors import CredentialsError

    s3 = expired_token_s3
    with pytest.raises(ClientError) as raised:
        s3.head_object(**MANIFEST)
    assert raised.value.response["Error"]["Code"] == "400"  # botocore's name for a bodiless 400

    error = aws_module.translate_aws_error(raised.value, "checking db/x/manifest.json")

    assert isinstance(error, CredentialsError) and error.exit_code == 2
    assert "HeadObject with HTTP 400 and no error code" in str(error) and "ExpiredToken" in str(error), error
    assert "renew the credentials" in str(error)
    with pytest.raises(ClientError) as listed:
        s3.list_objects_v2(Bucket="chefchatz-prod-db-backups")
    assert "no error code" not in str(aws_module.translate_aws_error(listed.value, "listing"))


def test_a_body_cut_short_or_reset_while_read_is_retried_like_a_failed_request() -> None:
    from botocore.exceptions import IncompleteReadError, ResponseStreamingError

    from ops.backup import aws

    assert aws._is_transient(ResponseStreamingError(error="Connection reset by peer"))
    assert aws._is_transient(IncompleteReadError(actual_bytes=10, expected_bytes=20))


def test_a_refused_head_request_is_asked_again_as_a_ranged_get_to_learn_s3s_error_code(
    expired_token_s3: Any,
) -> None:
    from botocore.exceptions import ClientError

    from ops.backup import aws as aws_module
    from ops.backup.errors import CredentialsError

    with pytest.raises(ClientError) as raised:
        aws_module.head_object(expired_token_s3, **MANIFEST)

    # The 1-byte GET's error document names what the bodiless HEAD could not.
    assert raised.value.response["Error"]["Code"] == "ExpiredToken", raised.value.response
    of_the_object = [(method, byte) for method, path, byte in _ExpiredTokenS3.requests if path == MANIFEST_PATH]
    assert of_the_object == [("HEAD", None), ("GET", "bytes=0-0")], _ExpiredTokenS3.requests
    error = aws_module.translate_aws_error(raised.value, "checking db/x/manifest.json")
    assert isinstance(error, CredentialsError) and error.exit_code == 2
    assert "AWS rejected the credentials (ExpiredToken: The provided token has expired.)" in str(error), error


@pytest.mark.parametrize(
    ("get_status", "get_code"),
    [
        (403, None),  # the GET refused without a body too (a proxy): no code to learn
        (416, "InvalidRange"),  # an empty object: the range is the GET's problem, not the HEAD's
        (404, "NoSuchKey"),  # a code, but for another status: about the GET, not what refused the HEAD
        (403, "InvalidObjectState"),  # an archived object: a 403 only a GET meets, never the HEAD's reason
    ],
)
def test_when_the_ranged_get_names_nothing_the_heads_own_refusal_stands(
    expired_token_s3: Any, monkeypatch: pytest.MonkeyPatch, get_status: int, get_code: str | None
) -> None:
    from botocore.exceptions import ClientError

    from ops.backup import aws as aws_module

    monkeypatch.setattr(_ExpiredTokenS3, "head_status", 403)
    monkeypatch.setattr(_ExpiredTokenS3, "get_answer", (get_status, get_code))
    with pytest.raises(ClientError) as raised:
        aws_module.head_object(expired_token_s3, **MANIFEST)

    assert raised.value.operation_name == "HeadObject" and raised.value.response["Error"]["Code"] == "403"
    assert _ExpiredTokenS3.requests[-1] == ("GET", MANIFEST_PATH, "bytes=0-0")
    assert "HeadObject with HTTP 403 and no error code" in str(aws_module.translate_aws_error(raised.value, "x"))


def test_a_head_refused_where_a_ranged_get_is_served_blames_the_head_request_not_the_credentials(
    expired_token_s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from ops.backup import aws as aws_module
    from ops.backup.errors import CredentialsError, UsageError

    # As a store that is not AWS S3 may answer a HEAD with ChecksumMode (restore --pipe), while the
    # same credentials read the object.
    monkeypatch.setattr(_ExpiredTokenS3, "get_answer", (206, None))
    with pytest.raises(ClientError) as raised:
        aws_module.head_object(expired_token_s3, **MANIFEST, ChecksumMode="ENABLED")

    assert raised.value.operation_name == "HeadObject" and raised.value.response["Error"]["Code"] == "400"
    error = aws_module.translate_aws_error(raised.value, "reading db/x/manifest.json")
    assert isinstance(error, UsageError) and not isinstance(error, CredentialsError) and error.exit_code == 2
    assert "served a 1-byte GET of the same object" in str(error) and "ChecksumMode" in str(error), error
    assert "expired" not in str(error), error


def test_the_ranged_get_carries_the_heads_parameters_that_get_takes_too(expired_token_s3: Any) -> None:
    from botocore.exceptions import ClientError

    from ops.backup import aws as aws_module

    sent: dict[str, Any] = {}
    expired_token_s3.meta.events.register("before-call.s3.GetObject", lambda params, **_: sent.update(params))
    with pytest.raises(ClientError):
        head = {"VersionId": "v1", "RequestPayer": "requester", "ChecksumMode": "ENABLED", "IfMatch": '"e"'}
        aws_module.head_object(expired_token_s3, **MANIFEST, **head)

    headers, query = sent["headers"], sent["query_string"]
    assert query.get("versionId") == "v1" and headers.get("x-amz-request-payer") == "requester", sent
    assert headers.get("Range") == "bytes=0-0" and "If-Match" not in headers, headers


def test_moto_refusing_unknown_keys_on_head_is_named_by_the_ranged_get(
    aws: str, moto_endpoint: str, bucket: str
) -> None:
    from botocore.exceptions import ClientError

    from ops.backup import aws as aws_module

    s3 = aws_module.s3_client()
    s3.put_object(Bucket=bucket, Key="db/x/manifest.json", Body=b"{}")
    httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
    try:
        with pytest.raises(ClientError) as bare:
            s3.head_object(Bucket=bucket, Key="db/x/manifest.json")
        with pytest.raises(ClientError) as named:
            aws_module.head_object(s3, Bucket=bucket, Key="db/x/manifest.json")
    finally:
        httpx.post(f"{moto_endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()

    assert bare.value.response["Error"]["Code"] == "403"  # no body on a HEAD: the bare status
    assert named.value.response["Error"]["Code"] == "InvalidAccessKeyId", named.value.response
