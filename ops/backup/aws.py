"""AWS plumbing: the standard configuration (credential chain, AWS_REGION, AWS_ENDPOINT_URL), our
retries, and botocore failures turned into messages a person can act on."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, cast

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from ops.backup.errors import BackupError, CredentialsError, UsageError

__all__ = ["aws_errors", "cloudwatch_client", "head_object", "s3_client", "translate_aws_error"]


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


# A HEAD answer has no body, so S3's error document (and its code) is not there: botocore names the
# error by its HTTP status. What S3 means by those two, as its error code list has them.
# (On a HEAD's 400, botocore's S3 region redirector first asks for the bucket's region and, when
# the request was signed for another one, signs it again; a 400 it cannot place gets here.)
_HEAD_REFUSALS = {
    "400": "most often an expired or malformed session token (ExpiredToken, InvalidToken,"
    " TokenRefreshRequired): renew the credentials; otherwise S3 refused the request as malformed",
    "403": "credentials without access (AccessDenied: s3:GetObject on the object, s3:ListBucket where it"
    " may be missing, or a bucket or KMS key policy), an unknown access key (InvalidAccessKeyId), a bad"
    " signature, or this machine's clock too far off (RequestTimeTooSkewed)",
}


# What a GET's error document may name in a refused HEAD's place: refusals of the request and its
# credentials, which a HEAD and a GET of the same object meet alike. Not what only a GET meets (an
# archived object's InvalidObjectState is a 403 too; a KMS key's refusal of the decryption).
_PROBE_NAMES = _CREDENTIAL_CODES | {
    "RequestTimeTooSkewed",
    "AllAccessDisabled",
    "AccountProblem",
    "AuthorizationHeaderMalformed",
}
# Marks a HEAD's refusal after which the same credentials were served the object's first byte.
_PROBE_SERVED = "RangedGetServed"
# A HEAD's parameters the probe leaves out: it asks for one byte, unconditionally.
_NOT_PROBED = frozenset({"Range", "PartNumber", "IfMatch", "IfNoneMatch", "IfModifiedSince", "IfUnmodifiedSince"})


def head_object(s3: Any, **params: Any) -> dict[str, Any]:
    """HeadObject (retried like every call), with S3's own error code when it refuses.

    A HEAD answer has no body, so a refusal reaches botocore as its bare status, "400" or "403"
    (`_HEAD_REFUSALS`). The same request is then sent once more as a 1-byte ranged GetObject (every
    parameter GetObject also takes: the version, SSE-C key, requester-pays, expected owner), whose
    refusal carries S3's error document: refused with the same status and a code a HEAD meets as
    well (`_PROBE_NAMES`: ExpiredToken, AccessDenied, InvalidAccessKeyId...), that error is raised
    in the HEAD's place. Served, the GET shows the credentials reach the object: the HEAD's error
    stands, marked so that its message blames the HEAD request itself, not the credentials. Any
    other outcome (no code either, an empty object's InvalidRange, an archived object's
    InvalidObjectState, a throttled or failed request) says nothing about the HEAD: its own error
    stands, with its hints.
    """
    try:
        return retry_aws(s3.head_object)(**params)
    except ClientError as refused:
        status = refused.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if refused.response.get("Error", {}).get("Code") not in _HEAD_REFUSALS:
            raise
        accepted = s3.meta.service_model.operation_model("GetObject").input_shape.members
        probe = {k: v for k, v in params.items() if k in accepted and k not in _NOT_PROBED}
        try:
            s3.get_object(**probe, Range="bytes=0-0")["Body"].close()
            # Served: the credentials reach the object, so the HEAD's hints (a token, access) do not fit.
            cast(dict[str, Any], refused.response["Error"])[_PROBE_SERVED] = True
        except ClientError as coded:
            same_refusal = coded.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == status
            if same_refusal and coded.response.get("Error", {}).get("Code") in _PROBE_NAMES:
                raise coded from refused
        except BotoCoreError:
            pass  # the probe itself failed (connection, timeout): nothing learnt
        raise


def object_missing(exc: ClientError) -> bool:
    """Whether S3 answered that the object does not exist (GetObject: NoSuchKey; HeadObject, which has no
    body: 404 / NotFound)."""
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


def _is_transient(exc: BaseException) -> bool:
    # A body cut short or reset while it was read is as transient as one that never started.
    if isinstance(exc, EndpointConnectionError | ConnectionClosedError | ReadTimeoutError):
        return True
    if isinstance(exc, ResponseStreamingError | IncompleteReadError):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _TRANSIENT_CODES or status in (500, 502, 503, 504)
    return False


# botocore already retries each request (standard mode); this covers longer blips across a whole
# call, e.g. an endpoint restarting while a part uploads.
retry_aws = retry(
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
    connections: int = 8,
) -> Any:
    """An S3 client from the standard AWS configuration; explicit endpoint/keys/signing region for a source
    bucket. `connections`: requests in flight at once that keep their connection (a backup's uploads);
    urllib3 drops the connections past it, each a new TLS handshake next time."""
    config = BotoConfig(
        retries={"mode": "standard", "max_attempts": 5},
        max_pool_connections=max(8, connections),
        # A source bucket (Supabase Storage's S3 endpoint) keeps botocore's defaults. Ours: a body's
        # integrity is held by its checksum header, which the signature covers and S3 verifies (our
        # sha256 on the directory layout's objects, else botocore's CRC32), and by our sha256
        # re-checked on every restore. Over https botocore already leaves the payload out of the
        # signature; over plain http (the benchmark's stand-in) it would hash every byte again.
        s3={"addressing_style": "path"} if endpoint_url else {"payload_signing_enabled": False},
        # Ours: every object we read is hashed against the manifest's sha256 (`verify`, `restore`);
        # botocore validating S3's stored checksum too (sha256 on our objects) would hash it twice.
        response_checksum_validation="when_supported" if endpoint_url else "when_required",
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
        if code in _HEAD_REFUSALS and exc.operation_name.startswith("Head"):
            if err.get(_PROBE_SERVED):
                return UsageError(
                    f"{what}: S3 answered {exc.operation_name} with HTTP {code} and no error code, yet served a"
                    " 1-byte GET of the same object with the same credentials: it refused something in the HEAD"
                    " request itself, such as ChecksumMode on a store that is not AWS S3 (`restore --pipe` needs"
                    " AWS S3)"
                )
            return CredentialsError(
                f"{what}: S3 answered {exc.operation_name} with HTTP {code} and no error code (a HEAD answer"
                f" has no body): {_HEAD_REFUSALS[code]}"
            )
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
