"""The guard's probes (``ops.rollback.probes``): what counts as an error, the p95, the health contract."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ops.rollback.probes import HealthReading, Sample, Transactions, classify, p95, parse_health_body, summarise


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([120.0], 120.0),
        ([10.0, 20.0], 20.0),
        ([float(v) for v in range(1, 21)], 19.0),  # rank ceil(0.95*20)=19
        ([float(v) for v in range(1, 101)], 95.0),
        ([5.0, 1.0, 3.0], 5.0),
    ],
)
def test_p95_is_nearest_rank(values: list[float], expected: float | None) -> None:
    assert p95(values) == expected


@pytest.mark.parametrize(
    ("status", "latency_ms", "expected"),
    [
        (200, 10.0, None),
        (404, 10.0, None),  # client errors are not failures of the deployment
        (500, 10.0, "http-500"),
        (503, 10.0, "http-503"),
        (None, None, "connection"),
        (200, 5001.0, "timeout"),  # answered, but slower than the 5 s probe timeout
        (200, 5000.0, None),
    ],
)
def test_probe_errors_are_5xx_timeouts_and_connection_failures(
    status: int | None, latency_ms: float | None, expected: str | None
) -> None:
    assert classify(status, latency_ms, 5000.0) == expected


# --- health contract ------------------------------------------------------------------------------

HEALTH_BODIES = [
    ('{"status":"ok","transactions":{"total":10,"failed":1,"window_seconds":60}}', ("ok", (10, 1))),
    ('{"status":"degraded","checks":{"db":{"status":"down"}}}', ("degraded", None)),
    ('{"status":"ok","transactions":{"total":0,"failed":0}}', ("ok", (0, 0))),
    ("<html>ok</html>", None),
    ('{"transactions":{"total":1,"failed":0}}', None),  # status is required
    ('{"status":"ok","transactions":{"total":1,"failed":2}}', None),  # failed > total
    ('{"status":"ok","transactions":{"total":"10","failed":0}}', None),
    ('{"status":"ok","transactions":{"total":true,"failed":0}}', None),
    ('{"status":"ok","transactions":{"total":10,"failed":-1}}', None),
    ('{"status":"ok","transactions":[1,2]}', None),
    ("[]", None),
]


@pytest.mark.parametrize(("body", "expected"), HEALTH_BODIES)
def test_health_contract_is_parsed_strictly(body: str, expected: tuple[str, tuple[int, int] | None] | None) -> None:
    reading = parse_health_body(body)
    if expected is None:
        assert reading is None, body
        return
    assert reading is not None, body
    tx = None if reading.transactions is None else (reading.transactions.total, reading.transactions.failed)
    assert (reading.status, tx) == expected, body


def test_interval_takes_transactions_from_the_newest_health_answer() -> None:
    old = HealthReading("ok", Transactions(100, 0, 60))
    new = HealthReading("ok", Transactions(100, 5, 60))
    samples = [
        Sample("/api/health", 200, 10.0, health=old),
        Sample("/", 500, 12.0, error="http-500"),
        Sample("/api/health", 200, 30.0, health=new),
        Sample("/menu", None, None, error="timeout"),
    ]
    m = summarise(4, 0.0, samples)
    assert (m.requests, m.errors, m.p95_ms, m.failed_transaction_rate) == (4, 2, 30.0, Fraction(5, 100))
