"""Fixtures for the SLO capability: moto (CloudWatch, DynamoDB) and the drain receiver served on a
loopback HTTP port the way a Lambda function URL serves it (the stand-in in tests/standins/lambda_url.py).

Batches are shaped like Vercel's log-drain deliveries (https://vercel.com/docs/drains/reference/logs)
and signed like them (https://vercel.com/docs/drains/security).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest

from ops.slo import receiver as receiver_module
from ops.slo.drain import signature
from tests.backup.conftest import aws, moto_endpoint
from tests.standins.lambda_url import serve as serve_function_url

__all__ = ["aws", "moto_endpoint"]

SECRET = "drain-secret-for-tests-only-0815"
VERIFY_CODE = "verify-code-for-tests"
_ids = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_ids)}"


def request_lines(
    deployment: str,
    request_id: str,
    status: int,
    duration_ms: float | None = None,
    memory_mb: int = 92,
    transaction: str | None = None,
) -> list[dict[str, Any]]:
    """The log lines one function request writes: an app line (optionally a transaction outcome)
    and the platform's REPORT line, each carrying the request's proxy record."""
    proxy = {
        "timestamp": 1_767_000_000_000,
        "method": "GET",
        "host": "chefchatz.com",
        "path": "/api/recipes?page=1",
        "userAgent": ["Mozilla/5.0"],
        "region": "iad1",
        "statusCode": status,
        "scheme": "https",
        "vercelCache": "MISS",
    }
    common = {
        "deploymentId": deployment,
        "source": "lambda",
        "host": "chefchatz-abc.vercel.app",
        "projectId": "prj_chefchatz",
        "requestId": request_id,
        "statusCode": status,
        "environment": "production",
        "executionRegion": "iad1",
        "proxy": proxy,
    }
    lines = [
        {
            **common,
            "id": f"{request_id}-1",
            "timestamp": 1_767_000_000_100,
            "level": "info",
            "type": "stdout",
            "message": transaction or "GET /api/recipes",
        }
    ]
    if duration_ms is not None:
        lines.append(
            {
                **common,
                "id": f"{request_id}-2",
                "timestamp": 1_767_000_000_200,
                "level": "info",
                "type": "report",
                "message": f"REPORT RequestId: {request_id}\tDuration: {duration_ms} ms\tBilled Duration: "
                f"{int(duration_ms) + 1} ms\tMemory Size: 1024 MB\tMax Memory Used: {memory_mb} MB",
            }
        )
    return lines


def as_json(lines: list[dict[str, Any]]) -> bytes:
    return json.dumps(lines).encode()


def as_ndjson(lines: list[dict[str, Any]]) -> bytes:
    return b"\n".join(json.dumps(line).encode() for line in lines) + b"\n"


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"x-vercel-signature": signature(body, secret), "content-type": "application/json"}


@pytest.fixture
def dynamodb_table(aws: str) -> str:
    name = unique("slo-deliveries-")
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@dataclass
class Endpoint:
    url: str
    stack: str
    table: str

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(self.url, content=body, headers=headers, timeout=30)


@pytest.fixture
def endpoint(aws: str, dynamodb_table: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    """The real handler configured through its environment, as components/slo.py configures it."""
    stack = unique("stack")
    for name, value in {
        "CHEFCHATZ_STACK": stack,
        "DRAIN_SECRET": SECRET,
        "VERCEL_VERIFY_CODE": VERIFY_CODE,
        "IDEMPOTENCY_TABLE": dynamodb_table,
        "APDEX_T_MS": "200",
        "P95_MS": "200",
        "P99_MS": "500",
        "MAX_BODY_BYTES": str(256 * 1024),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(receiver_module, "_receiver", None)
    with serve_function_url(receiver_module.handler) as function_url:
        yield Endpoint(function_url.url, stack, dynamodb_table)


def metric_sum(stack: str, name: str, deployment: str | None = None) -> float:
    """Everything recorded for a counter, read back from (moto's) CloudWatch."""
    from datetime import UTC, datetime, timedelta

    dimensions: list[Any] = [
        {"Name": "DeploymentId", "Value": deployment} if deployment else {"Name": "Stack", "Value": stack}
    ]
    now = datetime.now(UTC)
    response = boto3.client("cloudwatch").get_metric_statistics(
        Namespace="ChefChatz/SLO",
        MetricName=name,
        Dimensions=dimensions,
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600 * 2,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in response["Datapoints"])
