"""Log-drain deliveries as Vercel documents them: the fixtures use only the reference's fields, unknown fields
are ignored, and no missing optional field crashes the receiver.

Source: Vercel's "Log Drains Reference", Logs Schema table (https://vercel.com/docs/drains/reference/logs).
Vercel publishes no machine-readable schema of deliveries (``@vercel/sdk`` has the drain *configuration*
operations only), so the table is transcribed here; ``docs/contracts.md`` says which rows were checked.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ops.slo.drain import Objectives, metric_data, summarize
from tests.slo.conftest import Endpoint, as_json, as_ndjson, request_lines, signed

OBJECTIVES = Objectives(apdex_t_ms=200, p95_ms=200, p99_ms=500)

# The reference's required fields, and every other field it lists (all optional).
REQUIRED = frozenset({"id", "deploymentId", "source", "host", "timestamp", "projectId", "level"})
OPTIONAL = frozenset(
    {
        "message", "buildId", "entrypoint", "destination", "path", "type", "statusCode", "requestId",
        "environment", "branch", "ja3Digest", "ja4Digest", "edgeType", "projectName", "executionRegion",
        "traceId", "spanId", "trace.id", "span.id", "proxy",
    }
)  # fmt: skip
PROXY = frozenset(
    {
        "timestamp", "method", "host", "path", "userAgent", "referer", "region", "statusCode", "clientIp",
        "scheme", "responseByteSize", "cacheId", "pathType", "pathTypeVariant", "vercelId", "vercelCache",
        "lambdaRegion", "wafAction", "wafRuleId",
    }
)  # fmt: skip


def fixture_lines() -> list[dict[str, Any]]:
    """Every shape of line the SLO tests deliver: plain, with a REPORT line, with a transaction outcome."""
    return [
        *request_lines("dpl_a", "r1", 200),
        *request_lines("dpl_a", "r2", 503, duration_ms=120.0),
        *request_lines("dpl_a", "r3", 200, duration_ms=80.0, transaction='{"transaction":"checkout","outcome":"ok"}'),
    ]


def test_the_fixtures_use_only_the_fields_of_vercels_log_drain_reference() -> None:
    for line in fixture_lines():
        assert set(line) >= REQUIRED, f"a fixture line lacks required {sorted(REQUIRED - set(line))}"
        assert set(line) <= REQUIRED | OPTIONAL, f"undocumented {sorted(set(line) - REQUIRED - OPTIONAL)}"
        assert set(line.get("proxy", {})) <= PROXY, f"undocumented proxy {sorted(set(line['proxy']) - PROXY)}"


def totals(lines: list[dict[str, Any]]) -> list[tuple[str, float]]:
    summary = summarize(as_json(lines), OBJECTIVES)
    return sorted((d["MetricName"], d.get("Value", 0.0)) for d in metric_data(summary, "prod", 1_767_000_000))


def test_unknown_fields_are_ignored() -> None:
    plain = fixture_lines()
    extra = [
        {**line, "aNewField": {"nested": [1, 2]}, "proxy": {**line["proxy"], "newProxyField": "x"}} for line in plain
    ]
    assert totals(extra) == totals(plain)


@pytest.mark.parametrize("field", sorted(OPTIONAL | {f"proxy.{name}" for name in PROXY}))
def test_a_missing_optional_field_never_crashes_the_summary(field: str) -> None:
    lines = copy.deepcopy(fixture_lines())
    for line in lines:
        if field.startswith("proxy."):
            line.get("proxy", {}).pop(field.removeprefix("proxy."), None)
        else:
            line.pop(field, None)
    summary = summarize(as_json(lines), OBJECTIVES)
    assert summary.malformed == 0
    metric_data(summary, "prod", 1_767_000_000)


@pytest.mark.parametrize("field", ["statusCode", "proxy", "message", "type", "requestId", "path"])
def test_an_optional_field_of_another_type_or_null_never_crashes_the_summary(field: str) -> None:
    values: tuple[Any, ...] = (None, "text", 7, [], {})
    for value in values:
        lines = [{**line, field: value} for line in fixture_lines()]
        metric_data(summarize(as_json(lines), OBJECTIVES), "prod", 1_767_000_000)


def test_the_receiver_records_a_batch_of_minimal_lines(endpoint: Endpoint) -> None:
    """Only the required fields and the status: recorded, not a 500."""
    minimal = [
        {
            "id": f"m{i}",
            "deploymentId": f"dpl_min_{endpoint.stack}",
            "source": "lambda",
            "host": "chefchatz-abc.vercel.app",
            "timestamp": 1_767_000_000_000,
            "projectId": "prj_chefchatz",
            "level": "info",
            "statusCode": 200,
        }
        for i in range(3)
    ]
    body = as_ndjson([*minimal, {"id": "x", "level": "info"}])
    response = endpoint.post(body, signed(body))
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 3, "entries": 4, "malformed": 0}, response.json()
