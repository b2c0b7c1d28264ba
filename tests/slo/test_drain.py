"""How one delivery becomes request statistics: table tests of the pure drain functions."""

from __future__ import annotations

import json

import pytest

from ops.slo.drain import Objectives, latency_bucket, signature, signature_valid, summarize
from tests.slo.conftest import as_json, request_lines

OBJECTIVES = Objectives(apdex_t_ms=200, p95_ms=200, p99_ms=500)


def test_signature_is_vercels_hex_hmac_sha1_of_the_raw_body():
    # Reference value: HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog") from RFC 2104's
    # widely published test vector.
    body = b"The quick brown fox jumps over the lazy dog"
    assert signature(body, "key") == "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
    assert signature_valid(body, "key", "DE7C9B85B8B78AA6BC8A7A36F70A90701C9DB4D9")
    assert not signature_valid(body, "", signature(body, ""))
    assert not signature_valid(body, "key", None)


@pytest.mark.parametrize(
    ("status", "duration", "satisfied", "tolerating", "errors", "over_p95", "over_p99"),
    [
        (200, 150.0, 1, 0, 0, 0, 0),  # within T
        (200, 200.0, 1, 0, 0, 0, 0),  # exactly T is satisfied
        (200, 350.0, 0, 1, 0, 1, 0),  # within 4T: tolerating, slower than the p95 objective
        (200, 801.0, 0, 0, 0, 1, 1),  # beyond 4T: frustrated
        (503, 20.0, 0, 0, 1, 0, 0),  # an error is frustrated however fast
        (404, 20.0, 1, 0, 0, 0, 0),  # a 4xx is the user's mistake, not an outage
        (200, None, 1, 0, 0, 0, 0),  # no function ran (CDN): fast
    ],
)
def test_each_request_is_classified_for_apdex_errors_and_latency_objectives(
    status, duration, satisfied, tolerating, errors, over_p95, over_p99
):
    stats = summarize(as_json(request_lines("dpl_a", "r1", status, duration)), OBJECTIVES).deployments["dpl_a"]
    assert (stats.requests, stats.apdex_satisfied, stats.apdex_tolerating) == (1, satisfied, tolerating)
    assert (stats.server_errors, stats.slow_over_p95, stats.slow_over_p99) == (errors, over_p95, over_p99)


@pytest.mark.parametrize(("duration", "over_rollback"), [(1000.0, 0), (1001.0, 1), (None, 0)])
def test_requests_slower_than_the_rollback_trigger_are_counted_for_the_guard(duration, over_rollback):
    stats = summarize(as_json(request_lines("dpl_a", "r1", 200, duration)), OBJECTIVES).deployments["dpl_a"]
    assert stats.slow_over_rollback == over_rollback, f"{duration}ms: {stats.slow_over_rollback}"


def test_a_request_is_counted_once_however_many_lines_it_writes_and_reports_duration_and_memory():
    lines = request_lines("dpl_a", "r1", 200, 123.4, memory_mb=181)
    lines.insert(1, {**lines[0], "id": "r1-extra", "message": "another console.log"})
    stats = summarize(as_json(lines), OBJECTIVES).deployments["dpl_a"]
    assert stats.requests == 1
    assert stats.latencies_ms == {123.0: 1}
    assert stats.memory_mb == {181.0: 1}


def test_a_crashed_function_is_a_server_error_and_a_background_revalidation_is_no_request():
    crashed = request_lines("dpl_a", "crash", 200)
    crashed[0]["statusCode"] = -1
    del crashed[0]["proxy"]
    background = request_lines("dpl_a", "bg", -1, 30.0)
    stats = summarize(as_json(crashed + background), OBJECTIVES).deployments["dpl_a"]
    assert (stats.requests, stats.server_errors) == (1, 1)


def test_build_and_firewall_lines_are_not_user_requests():
    build = {"id": "b1", "deploymentId": "dpl_a", "source": "build", "type": "stdout", "message": "Compiled"}
    firewall = {**request_lines("dpl_a", "fw", 403)[0], "source": "firewall"}
    assert summarize(as_json([build, firewall]), OBJECTIVES).deployments == {}


def test_failed_transactions_are_read_from_the_apps_own_outcome_lines():
    ok = request_lines(
        "dpl_a", "t1", 200, 40.0, transaction=json.dumps({"transaction": "save-recipe", "outcome": "ok"})
    )
    bad = request_lines(
        "dpl_a", "t2", 200, 40.0, transaction=json.dumps({"transaction": "save-recipe", "outcome": "failed"})
    )
    stats = summarize(as_json(ok + bad), OBJECTIVES).deployments["dpl_a"]
    assert (stats.transactions, stats.failed_transactions) == (2, 1)


def test_requests_are_kept_apart_per_deployment():
    body = as_json(request_lines("dpl_old", "r1", 500, 10.0) + request_lines("dpl_new", "r2", 200, 10.0))
    deployments = summarize(body, OBJECTIVES).deployments
    assert (deployments["dpl_old"].server_errors, deployments["dpl_new"].server_errors) == (1, 0)


@pytest.mark.parametrize(
    ("ms", "bucket"),
    [(0.4, 0.0), (99.6, 100.0), (123.4, 123.0), (999.4, 999.0), (1234.0, 1230.0), (18_760.0, 18_800.0)],
)
def test_latencies_are_bucketed_to_a_millisecond_or_three_significant_digits(ms, bucket):
    assert latency_bucket(ms) == bucket
