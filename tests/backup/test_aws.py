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

    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code>'
        b"<Message>The provided token has expired.</Message><RequestId>R1</RequestId></Error>"
    )

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(400)
        if self.command == "HEAD":
            self.end_headers()
            return
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

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


def test_an_expired_token_on_a_head_request_which_carries_no_code_still_says_what_to_do(
    aws: str, expired_token_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from ops.backup import aws as aws_module
    from ops.backup.errors import CredentialsError

    monkeypatch.setenv("AWS_ENDPOINT_URL", expired_token_endpoint)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXPIRED")
    s3 = aws_module.s3_client()
    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket="chefchatz-prod-db-backups", Key="db/x/manifest.json")
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
