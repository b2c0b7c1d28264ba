"""The drain receiver: a Lambda function behind a function URL that Vercel's log drain posts to.

For every request it decides, in this order (each step is a pure check before any side effect):

1. GET/HEAD, or an unsigned POST with an empty body: Vercel's endpoint verification. Answered 200
   with the `x-vercel-verify` code (https://vercel.com/docs/drains/using-drains); nothing recorded.
2. Body over `max_body_bytes` -> 413; nothing recorded.
3. `x-vercel-signature` missing or not the HMAC-SHA1 of the raw body -> 403; nothing recorded.
4. Body neither a JSON array nor NDJSON -> 400. A malformed *line* is counted and skipped; the
   valid lines of the same batch are kept.
5. The delivery's digest is claimed in DynamoDB (conditional put): a redelivery of the same bytes
   is answered 200 and not counted again (Vercel delivers at least once). A claim is a short lease
   until the metrics are written, then a record kept for a week (TTL): an invocation that dies in
   between (timeout, crash) leaves a lease that a later redelivery takes over, so the batch is
   neither lost nor counted twice.
6. Metrics are written with PutMetricData; if that fails the claim is released and 500 returned,
   so Vercel's retry records the batch instead of losing it.

Only the standard library and boto3 (both in the Lambda Python runtime) are imported.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ops.slo.drain import DrainFormatError, Objectives, delivery_key, metric_data, signature_valid, summarize

METRIC_NAMESPACE = "ChefChatz/SLO"
# Function URLs accept at most 6 MB per request; stay below so our 413 is the one that answers.
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
# Redeliveries come within hours; a week of keys costs little and covers any retry schedule.
IDEMPOTENCY_TTL_S = 7 * 86400
# Longer than the function's 30 s timeout: a live invocation's claim is never taken over.
CLAIM_LEASE_S = 120
# PutMetricData takes up to 1000 metrics per call; 500 keeps each request well under its 1 MB limit.
DATUMS_PER_CALL = 500


class Store(Protocol):
    def claim(self, key: str, now: int) -> bool: ...

    def complete(self, key: str, now: int) -> None: ...

    def release(self, key: str) -> None: ...


class DynamoStore:
    """Delivery keys in a DynamoDB table (partition key `key`, TTL attribute `expiresAt`).

    An item is `pending` (a lease until `expiresAt`) while its metrics are being written, then
    `recorded` (kept until `expiresAt`, a week later, when DynamoDB's TTL deletes it).
    """

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def claim(self, key: str, now: int) -> bool:
        """Take the delivery unless it is recorded or another invocation's lease is still running."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={"key": {"S": key}, "state": {"S": "pending"}, "expiresAt": {"N": str(now + CLAIM_LEASE_S)}},
                ConditionExpression="attribute_not_exists(#k) OR (#s = :pending AND #e < :now)",
                ExpressionAttributeNames={"#k": "key", "#s": "state", "#e": "expiresAt"},
                ExpressionAttributeValues={":pending": {"S": "pending"}, ":now": {"N": str(now)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def complete(self, key: str, now: int) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={"key": {"S": key}, "state": {"S": "recorded"}, "expiresAt": {"N": str(now + IDEMPOTENCY_TTL_S)}},
        )

    def release(self, key: str) -> None:
        self._client.delete_item(TableName=self._table, Key={"key": {"S": key}})


@dataclass(frozen=True)
class ReceiverConfig:
    stack: str
    secret: str
    verify_code: str
    objectives: Objectives
    namespace: str = METRIC_NAMESPACE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls, env: dict[str, str]) -> ReceiverConfig:
        """The function's configuration, set by components/slo.py; a missing key names itself."""
        missing = [k for k in ("CHEFCHATZ_STACK", "DRAIN_SECRET", "VERCEL_VERIFY_CODE") if not env.get(k)]
        if missing:
            raise RuntimeError(f"drain receiver: environment variables not set: {', '.join(missing)}")
        return cls(
            stack=env["CHEFCHATZ_STACK"],
            secret=env["DRAIN_SECRET"],
            verify_code=env["VERCEL_VERIFY_CODE"],
            objectives=Objectives(
                apdex_t_ms=float(env.get("APDEX_T_MS", "200")),
                p95_ms=float(env.get("P95_MS", "200")),
                p99_ms=float(env.get("P99_MS", "500")),
                rollback_ms=float(env.get("ROLLBACK_RESPONSE_MS", "1000")),
            ),
            namespace=env.get("METRIC_NAMESPACE", METRIC_NAMESPACE),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES))),
        )


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]

    def to_function_url(self, verify_code: str) -> dict[str, Any]:
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json", "x-vercel-verify": verify_code},
            "body": json.dumps(self.body),
        }


class Receiver:
    def __init__(
        self, config: ReceiverConfig, cloudwatch: Any, store: Store, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self._cloudwatch = cloudwatch
        self._store = store
        self._clock = clock

    def receive(self, method: str, headers: dict[str, str], body: bytes) -> Response:
        headers = {k.lower(): v for k, v in headers.items()}
        signature = headers.get("x-vercel-signature")
        if method in ("GET", "HEAD") or (method == "POST" and not body.strip() and not signature):
            return Response(200, {"verified": True})
        if method != "POST":
            return Response(405, {"error": f"method {method} not allowed; Vercel drains POST"})
        if len(body) > self.config.max_body_bytes:
            return Response(413, {"error": f"body of {len(body)} bytes is over the {self.config.max_body_bytes} limit"})
        if not signature_valid(body, self.config.secret, signature):
            return Response(403, {"error": "invalid_signature"})
        try:
            summary = summarize(body, self.config.objectives)
        except DrainFormatError as error:
            return Response(400, {"error": str(error)})
        now = self._clock()
        key = delivery_key(body)
        if not self._store.claim(key, int(now)):
            return Response(200, {"duplicate": True, "recorded": 0})
        try:
            data = metric_data(summary, self.config.stack, now)
            for start in range(0, len(data), DATUMS_PER_CALL):
                self._cloudwatch.put_metric_data(
                    Namespace=self.config.namespace, MetricData=data[start : start + DATUMS_PER_CALL]
                )
        except Exception:
            # Not recorded: give the delivery back so Vercel's retry is counted, then fail loudly.
            self._store.release(key)
            raise
        self._store.complete(key, int(now))
        return Response(
            200,
            {"recorded": summary.requests, "entries": summary.entries, "malformed": summary.malformed},
        )


_receiver: Receiver | None = None


def _default_receiver() -> Receiver:
    import boto3

    config = ReceiverConfig.from_env(dict(os.environ))
    store = DynamoStore(boto3.client("dynamodb"), os.environ["IDEMPOTENCY_TABLE"])
    return Receiver(config, boto3.client("cloudwatch"), store)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for a function URL (payload format 2.0)."""
    del context
    global _receiver
    if _receiver is None:
        _receiver = _default_receiver()
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "POST")).upper()
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    try:
        response = _receiver.receive(method, event.get("headers") or {}, body)
    except Exception as error:
        print(json.dumps({"level": "error", "error": type(error).__name__, "detail": str(error)[:500]}))
        response = Response(500, {"error": "not recorded; retry"})
    return response.to_function_url(_receiver.config.verify_code)
