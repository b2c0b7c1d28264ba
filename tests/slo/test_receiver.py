"""The drain receiver against a loopback function URL, moto CloudWatch and moto DynamoDB."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from ops.slo import receiver as receiver_module
from ops.slo.drain import Objectives, summarize
from tests.slo.conftest import (
    SECRET,
    VERIFY_CODE,
    Endpoint,
    as_json,
    as_ndjson,
    metric_sum,
    request_lines,
    signed,
)

OBJECTIVES = Objectives(apdex_t_ms=200, p95_ms=200, p99_ms=500)


def _batch(deployment: str, ok: int, errors: int, duration_ms: float = 50.0) -> list[dict]:
    lines: list[dict] = []
    for i in range(ok):
        lines += request_lines(deployment, f"{deployment}-ok-{i}", 200, duration_ms)
    for i in range(errors):
        lines += request_lines(deployment, f"{deployment}-err-{i}", 503, duration_ms)
    return lines


def test_a_signed_json_batch_is_recorded_per_stack_and_per_deployment(endpoint: Endpoint):
    body = as_json(_batch(f"dpl_good_{endpoint.stack}", ok=8, errors=2))
    response = endpoint.post(body, signed(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 10, "entries": 20, "malformed": 0}
    assert response.headers["x-vercel-verify"] == VERIFY_CODE
    assert metric_sum(endpoint.stack, "Requests") == 10
    assert metric_sum(endpoint.stack, "ServerErrors") == 2
    assert metric_sum(endpoint.stack, "Requests", f"dpl_good_{endpoint.stack}") == 10
    assert metric_sum(endpoint.stack, "ServerErrors", f"dpl_good_{endpoint.stack}") == 2


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"x-vercel-signature": "0" * 40}, id="wrong"),
        pytest.param("other-secret", id="signed-with-another-secret"),
    ],
)
def test_a_delivery_without_the_right_signature_is_refused_with_403_and_not_recorded(endpoint: Endpoint, headers):
    body = as_json(_batch("dpl_forged", ok=3, errors=0))
    if isinstance(headers, str):
        headers = signed(body, headers)
    response = endpoint.post(body, headers)
    assert response.status_code == 403
    assert response.json() == {"error": "invalid_signature"}
    assert metric_sum(endpoint.stack, "Requests") == 0


def test_a_signature_over_other_bytes_is_refused(endpoint: Endpoint):
    body = as_json(_batch("dpl_tampered", ok=3, errors=0))
    tampered = body.replace(b'"statusCode": 200', b'"statusCode": 201', 1)
    assert endpoint.post(tampered, signed(body)).status_code == 403
    assert metric_sum(endpoint.stack, "Requests") == 0


def test_malformed_ndjson_lines_are_counted_and_skipped_and_valid_lines_kept(endpoint: Endpoint):
    good = as_ndjson(_batch("dpl_nd", ok=4, errors=1))
    body = b'{"id": "broken", "deploymentId": \n' + good + b"not json at all\n[1, 2]\n"
    response = endpoint.post(body, signed(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 5, "entries": 13, "malformed": 3}
    assert metric_sum(endpoint.stack, "Requests") == 5
    assert metric_sum(endpoint.stack, "ServerErrors") == 1
    assert metric_sum(endpoint.stack, "MalformedLines") == 3


def test_a_malformed_element_of_a_json_array_is_skipped_and_the_rest_kept():
    lines = _batch("dpl_arr", ok=3, errors=0)
    good = [json.dumps(line) for line in lines]
    body = ("[" + ", ".join([good[0], '{"id": "x", "deploymentId": tru}', *good[1:]]) + "]").encode()
    summary = summarize(body, OBJECTIVES)
    assert (summary.entries, summary.malformed, summary.requests) == (7, 1, 3)


def test_a_body_over_the_limit_is_refused_with_413_before_anything_else(endpoint: Endpoint):
    lines = _batch("dpl_big", ok=600, errors=0)
    body = as_json(lines)
    assert len(body) > 256 * 1024
    response = endpoint.post(body, signed(body))
    assert response.status_code == 413
    assert "limit" in response.json()["error"]
    assert metric_sum(endpoint.stack, "Requests") == 0


def test_a_redelivered_batch_is_not_counted_twice(endpoint: Endpoint):
    body = as_ndjson(_batch("dpl_again", ok=5, errors=1))
    first = endpoint.post(body, signed(body))
    second = endpoint.post(body, signed(body))
    assert first.status_code == second.status_code == 200
    assert second.json() == {"duplicate": True, "recorded": 0}
    assert metric_sum(endpoint.stack, "Requests") == 6
    assert metric_sum(endpoint.stack, "ServerErrors") == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_vercel_endpoint_verification_gets_the_code_and_records_nothing(endpoint: Endpoint, method: str):
    import httpx

    response = httpx.request(method, endpoint.url, content=b"", timeout=10)
    assert response.status_code == 200
    assert response.headers["x-vercel-verify"] == VERIFY_CODE
    assert metric_sum(endpoint.stack, "Requests") == 0


def test_an_empty_signed_batch_is_accepted_and_records_no_requests(endpoint: Endpoint):
    for body in (b"[]", b"\n"):
        response = endpoint.post(body, signed(body))
        assert response.status_code == 200
        assert response.json()["recorded"] == 0
    assert metric_sum(endpoint.stack, "Requests") == 0


def test_a_batch_that_could_not_be_recorded_is_released_so_the_retry_counts(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
):
    body = as_json(_batch("dpl_retry", ok=2, errors=1))
    config = receiver_module.ReceiverConfig.from_env(
        {"CHEFCHATZ_STACK": endpoint.stack, "DRAIN_SECRET": SECRET, "VERCEL_VERIFY_CODE": VERIFY_CODE}
    )
    store = receiver_module.DynamoStore(boto3.client("dynamodb"), endpoint.table)
    unreachable = boto3.client("cloudwatch", endpoint_url="http://127.0.0.1:9")
    monkeypatch.setattr(receiver_module, "_receiver", receiver_module.Receiver(config, unreachable, store))
    failed = endpoint.post(body, signed(body))
    assert failed.status_code == 500
    assert metric_sum(endpoint.stack, "Requests") == 0

    monkeypatch.setattr(
        receiver_module, "_receiver", receiver_module.Receiver(config, boto3.client("cloudwatch"), store)
    )
    retried = endpoint.post(body, signed(body))
    assert retried.status_code == 200
    assert metric_sum(endpoint.stack, "Requests") == 3


def test_the_receiver_refuses_to_start_without_its_secret():
    with pytest.raises(RuntimeError, match="DRAIN_SECRET"):
        receiver_module.ReceiverConfig.from_env({"CHEFCHATZ_STACK": "prod", "VERCEL_VERIFY_CODE": "x"})


def test_a_delivery_whose_invocation_died_mid_way_is_taken_over_after_the_lease(endpoint: Endpoint):
    """A claim left pending by a crashed invocation blocks redeliveries only while its lease runs."""
    body = as_json(_batch("dpl_crashed", ok=4, errors=0))
    store = receiver_module.DynamoStore(boto3.client("dynamodb"), endpoint.table)
    key = receiver_module.delivery_key(body)
    now = int(time.time())
    assert store.claim(key, now - receiver_module.CLAIM_LEASE_S // 2)  # the dead invocation's claim
    blocked = endpoint.post(body, signed(body))
    assert blocked.json() == {"duplicate": True, "recorded": 0}
    assert metric_sum(endpoint.stack, "Requests") == 0

    assert store.claim(key, now - 2 * receiver_module.CLAIM_LEASE_S) is False
    store.release(key)
    assert store.claim(key, now - 2 * receiver_module.CLAIM_LEASE_S)  # a claim whose lease has run out
    taken_over = endpoint.post(body, signed(body))
    assert taken_over.json()["recorded"] == 4
    assert endpoint.post(body, signed(body)).json() == {"duplicate": True, "recorded": 0}
    assert metric_sum(endpoint.stack, "Requests") == 4
