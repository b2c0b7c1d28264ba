"""The guard's probes: what one probe is, what one interval of probes measured, and sending them.

Owns: the reading of a health answer under ``docs/health-contract.md`` (``parse_health_body``:
``HealthReading``, ``Transactions``); one probe and why it counts as an error (``Sample``, ``classify``:
a 5xx, no answer, or an answer slower than the timeout); the p95 by nearest rank and an interval's counts
(``IntervalMetrics``, ``summarise``, transactions from the newest contract reading); and sending one
interval's probes concurrently (``probe``, ``probe_interval``, the only impure part). Judging those
counts is ``ops.rollback.verdicts``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import httpx

from ops.rollback.settings import HEALTH_PATH, WatchSettings

# ---------------------------------------------------------------------------------------------------
# The /api/health contract (pure)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transactions:
    total: int
    failed: int
    window_seconds: float | None


@dataclass(frozen=True)
class HealthReading:
    """A health answer that follows the contract; ``transactions`` is None when the app reports none."""

    status: str
    transactions: Transactions | None


def parse_health_body(body: bytes | str) -> HealthReading | None:
    """The contract reading of a health answer, or None when the body does not follow the contract."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("status"), str):
        return None
    raw = payload.get("transactions")
    if raw is None:
        return HealthReading(payload["status"], None)
    if not isinstance(raw, dict):
        return None
    total, failed, window = _count(raw.get("total")), _count(raw.get("failed")), raw.get("window_seconds")
    if total is None or failed is None or failed > total:
        return None
    if window is not None and (isinstance(window, bool) or not isinstance(window, int | float)):
        return None
    return HealthReading(payload["status"], Transactions(total, failed, window))


def _count(value: Any) -> int | None:
    """A non-negative integer count, or None (booleans and floats are not counts)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


# ---------------------------------------------------------------------------------------------------
# Samples and interval metrics (pure)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One probe. ``status`` None means no HTTP answer (timeout or connection error)."""

    path: str
    status: int | None
    latency_ms: float | None
    error: str | None = None  # "timeout", "connection", "http-503", ... when the probe counts as an error
    health: HealthReading | None = None  # only for a 2xx health answer that follows the contract

    @property
    def is_error(self) -> bool:
        return self.error is not None


def classify(status: int | None, latency_ms: float | None, timeout_ms: float) -> str | None:
    """Why a probe counts as an error, or None: 5xx, no answer, or an answer slower than the timeout."""
    if status is None:
        return "connection"
    if latency_ms is not None and latency_ms > timeout_ms:
        return "timeout"
    if status >= 500:
        return f"http-{status}"
    return None


def p95(values: Sequence[float]) -> float | None:
    """95th percentile by nearest rank (no interpolation: the value some real request saw)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(frozen=True)
class IntervalMetrics:
    index: int
    started_at: float  # epoch seconds
    requests: int
    errors: int
    latencies_ms: tuple[float, ...]  # of the requests that got an answer
    health_answered: bool  # some health probe returned 2xx with a contract body
    transactions: Transactions | None
    health_requests: int = 0
    health_errors: int = 0

    @property
    def p95_ms(self) -> float | None:
        return p95(self.latencies_ms)

    def slower_than(self, threshold_ms: float) -> int:
        return sum(1 for latency in self.latencies_ms if latency > threshold_ms)

    @property
    def error_rate(self) -> Fraction:
        return Fraction(self.errors, self.requests) if self.requests else Fraction(1)

    @property
    def failed_transaction_rate(self) -> Fraction | None:
        if self.transactions is None or self.transactions.total == 0:
            return None
        return Fraction(self.transactions.failed, self.transactions.total)

    def as_dict(self) -> dict[str, Any]:
        tx = self.transactions
        rate = self.failed_transaction_rate
        return {
            "index": self.index,
            "started_at": datetime.fromtimestamp(self.started_at, UTC).isoformat(),
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": float(self.error_rate),
            "answered": len(self.latencies_ms),
            "p95_ms": None if self.p95_ms is None else round(self.p95_ms, 1),
            "transactions": None if tx is None else {"total": tx.total, "failed": tx.failed},
            "failed_transaction_rate": None if rate is None else float(rate),
        }


def summarise(
    index: int, started_at: float, samples: Sequence[Sample], health_path: str = HEALTH_PATH
) -> IntervalMetrics:
    """Interval metrics from the interval's samples; the newest contract reading supplies transactions."""
    answered = tuple(s.latency_ms for s in samples if s.status is not None and s.latency_ms is not None)
    readings = [s.health for s in samples if s.health is not None]
    health = [s for s in samples if s.path == health_path]
    return IntervalMetrics(
        index=index,
        started_at=started_at,
        requests=len(samples),
        errors=sum(1 for s in samples if s.is_error),
        latencies_ms=answered,
        health_answered=bool(readings),
        transactions=readings[-1].transactions if readings else None,
        health_requests=len(health),
        health_errors=sum(1 for s in health if s.is_error),
    )


# ---------------------------------------------------------------------------------------------------
# Probing (impure)
# ---------------------------------------------------------------------------------------------------


def probe(http: httpx.Client, base_url: str, path: str, timeout_s: float, is_health: bool) -> Sample:
    started = time.perf_counter()
    try:
        response = http.get(base_url.rstrip("/") + path, timeout=timeout_s)
    except httpx.TimeoutException:
        return Sample(path, None, None, "timeout")
    except httpx.HTTPError as exc:
        return Sample(path, None, None, f"connection ({type(exc).__name__})")
    latency_ms = (time.perf_counter() - started) * 1000.0
    error = classify(response.status_code, latency_ms, timeout_s * 1000.0)
    health = None
    if is_health and error is None and 200 <= response.status_code < 300:
        health = parse_health_body(response.content)
    return Sample(path, response.status_code, latency_ms, error, health)


def probe_interval(http: httpx.Client, settings: WatchSettings, index: int) -> IntervalMetrics:
    """All probes of one interval, sent concurrently so the interval costs about one probe's latency."""
    started_at = time.time()
    jobs = [(settings.health_path, True)] * settings.samples + [
        (path, False) for path in settings.smoke_paths for _ in range(settings.samples)
    ]
    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        samples = list(
            pool.map(lambda job: probe(http, settings.deployment_url, job[0], settings.timeout_s, job[1]), jobs)
        )
    return summarise(index, started_at, samples, settings.health_path)
