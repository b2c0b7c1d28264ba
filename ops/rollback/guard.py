"""The post-deploy guard: probe a deployment, decide when it is unhealthy, roll production back.

The spec's rollback plan (deployment spec, "Rollback Strategy") has three triggers -- error rate > 1 %,
response time > 1000 ms, failed transactions > 0.1 % -- an ``automatic`` switch, notification targets and
"data integrity preserved"; its health checks probe ``/api/health`` every 30 s with a 5 s timeout and call
a target unhealthy after 2 failures. This module turns those numbers into behaviour:

* **Sampling.** Every interval the guard sends ``samples`` GET requests to the health path and to each
  smoke path, concurrently, each with the probe timeout. A 5xx answer, a timeout (no answer, or an answer
  slower than the timeout) or a connection error is an *error*; 2xx-4xx answers are not (a 404 on a smoke
  path is a client-visible bug, but the spec's trigger is about failures, and 4xx are also what bots get).
* **Counts per interval.** errors of the requests; answers slower than the response-time threshold of
  the answered requests; ``failed`` of ``total`` transactions from the newest health answer that follows
  the contract in ``docs/health-contract.md``.
* **Evidence, not point estimates** (``ops.rollback.evidence``). A trigger breaches only when its counts are
  strong evidence that the *true* value is above the threshold: the lower bound of the one-sided
  Clopper-Pearson interval at ``confidence`` (default 99 %) lies strictly above the threshold, i.e. the
  one-sided exact binomial test rejects "true rate <= threshold". For the error rate and the
  failed-transaction rate the tested share is the rate itself; for the response time it is the share of
  answers slower than the threshold, which "p95 <= threshold" caps at 5 %. So 1 error in 20 probes
  (5 %, but what a 0.3 % app shows in one interval of seventeen) is no breach, and 3 of 20 are. The
  false-alarm rate of a trigger whose true value sits exactly at its threshold is at most
  ``1 - confidence`` per interval; ``evidence_plan`` states it per interval and per window. Fewer
  requests than a trigger needs to ever reach that evidence are refused up front (``--samples``).
* **Hard outage, at once.** When more than half of an interval's probes failed, or every health probe
  did, the error-rate trigger breaches without a test (when the rate is above its threshold), so a
  real outage is caught within ``consecutive`` intervals whatever the confidence.
* **No data** (as Argo Rollouts and Flagger make explicit): latency has no data when no request got an
  answer; failed transactions have no data when no health probe got a 2xx answer with a readable
  contract body. What no data means is the ``NoDataPolicy``: ``breach`` (default; Flagger also fails a
  check whose metric returns nothing), ``hold`` (the interval is inconclusive and leaves the count of
  consecutive breaches unchanged) or ``ignore``. Error rate always has data: when every probe failed it is
  100 %, a hard outage. A health answer *without* a ``transactions`` block, or with ``total == 0``, gives
  no failed-transaction verdict at all -- never a reassuring 0 %.
* **Consecutive breaches.** An interval breaches when any trigger breaches. The guard fires after
  ``consecutive`` breaching intervals in a row (the spec's unhealthyThreshold 2), so a single spike
  never rolls back; a healthy interval resets the count.
* **Real traffic** (``--source metrics``). Each interval the guard also reads what the deployment's own
  real requests got over the last ``metrics_window`` from the drain receiver's CloudWatch metrics
  (``ops.slo.deployment_counts``): 5xx of requests, requests slower than the rollback response time
  (counted by the receiver against ``rollbackResponseTime``) of requests, failed of all transactions --
  the same three tests with the same evidence rule. With fewer than ``min_requests`` real requests the
  interval is "not enough traffic" and the probes decide, said in its notes and the audit; the probes
  also stay the health check (every health probe failing breaches whatever the traffic says).
* **Acting.** Once the guard fires it rolls production back, or notifies when automatic rollback is
  off: ``ops.rollback.action`` (the target, idempotence, notifications and the audit record).
"""

from __future__ import annotations

import enum
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import httpx
from botocore.exceptions import BotoCoreError, ClientError

import ops.rollback.evidence as stats
from ops.rollback.action import Outcome, RollbackContext, notify_only, roll_back
from ops.rollback.vercel_api import VercelClient
from ops.slo import MIN_REQUESTS_PER_WINDOW, Counts

HEALTH_PATH = "/api/health"
# "p95 <= T" means at most 5 % of answers are slower than T: the share the response-time test checks.
P95_SLOW_SHARE = Fraction(1, 20)
# 99 %: a trigger sitting exactly at its threshold breaches an interval at most 1 % of the time; even with
# all three there, two breaching intervals in a row (the spec's unhealthyThreshold) happen in about 0.5 %
# of 10 min windows, and an app well under its thresholds practically never sees them.
DEFAULT_CONFIDENCE = Fraction(99, 100)
# Requests per path per interval: with 30, 3 errors (10 %) are evidence above 1 %, so a deploy failing
# 30 % of its requests breaches 99.8 % of its intervals and is caught in 2; healthy noise is not.
DEFAULT_SAMPLES = 30


class Trigger(enum.StrEnum):
    ERROR_RATE = "error-rate"
    RESPONSE_TIME = "response-time"
    FAILED_TRANSACTIONS = "failed-transactions"


class NoDataPolicy(enum.StrEnum):
    BREACH = "breach"
    HOLD = "hold"
    IGNORE = "ignore"


class Source(enum.StrEnum):
    """What decides an interval: synthetic probes only, or the deployment's real requests (probes fall back)."""

    PROBES = "probes"
    METRICS = "metrics"


class IntervalState(enum.StrEnum):
    HEALTHY = "healthy"
    BREACHING = "breaching"
    INCONCLUSIVE = "inconclusive"


# ---------------------------------------------------------------------------------------------------
# Parsing of option values (pure)
# ---------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds from ``"10m"``, ``"30s"``, ``"200ms"``, ``"1.5h"``; a bare number is seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; use a number with ms, s, m or h (e.g. 30s)")
    value = float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    if value <= 0:
        raise ValueError(f"{text!r} must be greater than zero")
    return value


def parse_milliseconds(text: str) -> float:
    """Milliseconds from ``"1000ms"``, ``"1s"``; a bare number is milliseconds (as in the spec)."""
    stripped = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", stripped):
        stripped += "ms"
    return parse_duration(stripped) * 1000.0


def parse_percent(text: str) -> Fraction:
    """An exact fraction from ``"1%"``, ``"0.1%"``, ``"> 1%"`` (the spec's form); must be in [0, 100] %."""
    stripped = text.strip().lstrip(">").strip()
    if not stripped.endswith("%"):
        raise ValueError(f"{text!r} is not a percentage; write it with a % sign (e.g. 0.1%)")
    try:
        value = Fraction(Decimal(stripped[:-1].strip())) / 100
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{text!r} is not a percentage") from exc
    if not 0 <= value <= 1:
        raise ValueError(f"{text!r} must be between 0% and 100%")
    return value


def format_percent(value: Fraction | None) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.3g}%"


# ---------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The spec's triggers, and how sure the guard must be that the true value is strictly above them."""

    error_rate: Fraction = Fraction(1, 100)
    response_time_ms: float = 1000.0
    failed_transaction_rate: Fraction = Fraction(1, 1000)
    confidence: Fraction = DEFAULT_CONFIDENCE


@dataclass(frozen=True)
class WatchSettings:
    deployment_url: str
    health_path: str = HEALTH_PATH
    smoke_paths: tuple[str, ...] = ()
    window_s: float = 600.0  # 10 min: long enough for caches and cold starts to settle after a deploy
    interval_s: float = 30.0  # the spec's health-check interval
    timeout_s: float = 5.0  # the spec's health-check timeout
    consecutive: int = 2  # the spec's unhealthyThreshold
    samples: int = DEFAULT_SAMPLES  # requests per path per interval
    thresholds: Thresholds = field(default_factory=Thresholds)
    no_data: NoDataPolicy = NoDataPolicy.BREACH
    source: Source = Source.PROBES
    # The SLO alarms' own floor: below 100 requests one 5xx is already 1 %, so a quiet interval is
    # judged by the probes instead of by a handful of real requests.
    min_requests: int = MIN_REQUESTS_PER_WINDOW
    # CloudWatch sums per whole minute; a minute ending now overlaps the previous interval's minute, so
    # consecutive real-traffic intervals share requests (stated in docs/rollback.md).
    metrics_window_s: float = 60.0

    def problems(self) -> list[str]:
        """Every invalid input at once, each naming the option."""
        found: list[str] = []
        parts = urlsplit(self.deployment_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            found.append(f"--deployment-url {self.deployment_url!r} must be an http(s) URL with a host")
        for option, path in [("--health-path", self.health_path)] + [("--smoke-path", p) for p in self.smoke_paths]:
            if not path.startswith("/"):
                found.append(f"{option} {path!r} must start with '/'")
        if self.consecutive < 1:
            found.append(f"--consecutive {self.consecutive} must be at least 1")
        if self.samples < 1:
            found.append(f"--samples {self.samples} must be at least 1")
        confidence = self.thresholds.confidence
        if not Fraction(1, 2) <= confidence < 1:
            found.append(f"--confidence {format_percent(confidence)} must be at least 50% and below 100%")
        elif self.samples >= 1:
            found.extend(self._too_few_samples())
        if self.timeout_s > self.interval_s:
            found.append(
                f"--timeout {self.timeout_s:g}s must not exceed --interval {self.interval_s:g}s "
                "(a probe would overlap the next interval)"
            )
        if self.min_requests < 1:
            found.append(f"--min-requests {self.min_requests} must be at least 1")
        if self.source is Source.METRICS and self.metrics_window_s < 60:
            found.append(
                f"--metrics-window {self.metrics_window_s:g}s must be at least 60s (CloudWatch's smallest period)"
            )
        if self.window_s < self.interval_s * self.consecutive:
            found.append(
                f"--window {self.window_s:g}s is shorter than --interval x --consecutive "
                f"({self.interval_s * self.consecutive:g}s): the guard could never fire"
            )
        return found

    @property
    def requests_per_interval(self) -> int:
        return self.samples * (1 + len(self.smoke_paths))

    def _too_few_samples(self) -> list[str]:
        """A trigger that no count of this interval's requests could ever breach is a bad --samples."""
        needed = minimum_samples(self)
        if needed <= self.samples:
            return []
        level = format_percent(self.thresholds.confidence)
        short = " and ".join(
            f"{trigger} (needs {requests})"
            for trigger, requests in _trigger_minimums(self.thresholds)
            if requests is not None and requests > self.requests_per_interval
        )
        return [
            f"--samples {self.samples} gives {self.requests_per_interval} requests per interval, too few to "
            f"ever be {level}-confident evidence for {short}; use --samples {needed} or more (or a lower "
            "--confidence)"
        ]


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
# Samples, interval metrics and the verdict (pure)
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


def _trigger_minimums(thresholds: Thresholds) -> list[tuple[Trigger, int | None]]:
    """Requests per interval each probe trigger needs before any count can breach (None: none ever can)."""
    return [
        (Trigger.ERROR_RATE, stats.minimum_samples(float(thresholds.error_rate), thresholds.confidence)),
        (Trigger.RESPONSE_TIME, stats.minimum_samples(float(P95_SLOW_SHARE), thresholds.confidence)),
    ]


def minimum_samples(settings: WatchSettings) -> int:
    """The smallest --samples with which every probe trigger can reach the evidence to breach."""
    paths = 1 + len(settings.smoke_paths)
    needed = [n for _, n in _trigger_minimums(settings.thresholds) if n is not None]
    return max(1, *(math.ceil(n / paths) for n in needed))


def evidence_plan(settings: WatchSettings) -> dict[str, Any]:
    """What the guard will need to see, said before it starts: the counts that breach, the false alarms.

    ``false_alarm_per_interval`` is the worst case, every trigger sitting exactly at its threshold (the
    failed-transaction test is counted at its bound, 1 - confidence, as its sample size is the app's);
    ``false_alarm_per_window`` is the chance of ``consecutive`` such intervals in a row in the window,
    taking intervals as independent.
    A healthy app, well under its thresholds, is far less likely to breach than that.
    """
    t, n = settings.thresholds, settings.requests_per_interval
    probe_triggers = [
        (Trigger.ERROR_RATE, float(t.error_rate)),
        (Trigger.RESPONSE_TIME, float(P95_SLOW_SHARE)),
    ]
    per_interval = min(
        1.0, sum(stats.size(n, share, t.confidence) for _, share in probe_triggers) + float(1 - t.confidence)
    )
    intervals = math.ceil(settings.window_s / settings.interval_s)
    return {
        "rule": "one-sided exact binomial test: the Clopper-Pearson lower bound must exceed the threshold",
        "confidence": float(t.confidence),
        "requests_per_interval": n,
        "minimum_samples": minimum_samples(settings),
        "breach_at": {str(trigger): stats.breach_count(n, share, t.confidence) for trigger, share in probe_triggers},
        "false_alarm_per_interval": per_interval,
        "false_alarm_per_window": stats.run_probability(per_interval, intervals, settings.consecutive),
        "intervals": intervals,
    }


def plan_text(settings: WatchSettings, plan: dict[str, Any]) -> str:
    """The plan for people: one sentence per fact."""
    level = f"{plan['confidence'] * 100:g}%"
    at = plan["breach_at"]

    def count(trigger: Trigger, what: str) -> str:
        k = at[str(trigger)]
        return f"never ({what})" if k is None else f"at >= {k} {what}"

    return (
        f"evidence rule: {level} confidence ({plan['rule']}). With {plan['requests_per_interval']} requests "
        f"per interval an interval breaches error-rate {count(Trigger.ERROR_RATE, 'errors')}, response-time "
        f"{count(Trigger.RESPONSE_TIME, f'answers slower than {settings.thresholds.response_time_ms:g}ms')}; "
        f"more than half failing is a hard outage. Worst-case false alarm (every trigger exactly at its "
        f"threshold): {plan['false_alarm_per_interval']:.2%} per interval, {plan['false_alarm_per_window']:.2%} "
        f"per {plan['intervals']}-interval window. Minimum --samples: {plan['minimum_samples']}."
    )


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


@dataclass(frozen=True)
class Evidence:
    """What one trigger saw in one interval: ``count`` of ``total``, and the bound on the true share.

    The shares are: errors of requests (error rate), answers slower than the response-time threshold of
    all answers (compared with the 5 % that "p95 <= threshold" allows), failed of total transactions.
    """

    trigger: Trigger
    count: int
    total: int
    limit: Fraction  # the true share must be above this: the threshold, or 5 % for the response time
    confidence: Fraction
    breached: bool
    hard_outage: str | None = None  # why the interval breached at once, without a test

    @property
    def bound(self) -> float:
        """Lower bound of the one-sided Clopper-Pearson interval of the true share at ``confidence``."""
        return stats.clopper_pearson_lower(self.count, self.total, self.confidence)

    def as_dict(self) -> dict[str, Any]:
        return {
            "trigger": str(self.trigger),
            "count": self.count,
            "total": self.total,
            "lower_bound": self.bound,
            "limit": float(self.limit),
            "confidence": float(self.confidence),
            "breached": self.breached,
            "hard_outage": self.hard_outage,
        }


def _binomial(trigger: Trigger, count: int, total: int, limit: Fraction, confidence: Fraction) -> Evidence:
    return Evidence(trigger, count, total, limit, confidence, stats.exceeds(count, total, float(limit), confidence))


def hard_outage(metrics: IntervalMetrics, threshold: Fraction) -> str | None:
    """Why an interval is a hard outage that breaches at once (the rate also above its threshold), or None."""
    if metrics.error_rate <= threshold:
        return None
    if metrics.errors * 2 > metrics.requests:
        return "more than half of the probes failed"
    if metrics.health_requests and metrics.health_errors == metrics.health_requests:
        return "every health probe failed"
    return None


@dataclass(frozen=True)
class Verdict:
    state: IntervalState
    breached: tuple[Trigger, ...]
    notes: tuple[str, ...]
    evidence: tuple[Evidence, ...] = ()


def _bound_note(evidence: Evidence, limit_text: str) -> str:
    level = format_percent(evidence.confidence)
    if evidence.hard_outage is not None:
        return f"hard outage: {evidence.hard_outage}"
    return f"{level} lower bound {evidence.bound:.3%} {'>' if evidence.breached else '<='} {limit_text}"


def evaluate(metrics: IntervalMetrics, thresholds: Thresholds, no_data: NoDataPolicy) -> Verdict:
    """Which triggers this interval gives strong evidence for, with one note per trigger showing it."""
    breached: list[Trigger] = []
    notes: list[str] = []
    found: list[Evidence] = []
    inconclusive = False
    confidence = thresholds.confidence

    def on_no_data(trigger: Trigger, what: str) -> None:
        nonlocal inconclusive
        notes.append(f"{trigger}: no data ({what}); policy {no_data}")
        if no_data is NoDataPolicy.BREACH:
            breached.append(trigger)
        elif no_data is NoDataPolicy.HOLD:
            inconclusive = True

    def record(evidence: Evidence, note: str) -> None:
        found.append(evidence)
        notes.append(note)
        if evidence.breached:
            breached.append(evidence.trigger)

    errors = _binomial(Trigger.ERROR_RATE, metrics.errors, metrics.requests, thresholds.error_rate, confidence)
    outage = hard_outage(metrics, thresholds.error_rate)
    if outage is not None:
        errors = replace(errors, breached=True, hard_outage=outage)
    record(
        errors,
        f"{Trigger.ERROR_RATE}: {metrics.errors}/{metrics.requests} probes failed "
        f"({format_percent(metrics.error_rate)}); {_bound_note(errors, format_percent(thresholds.error_rate))}",
    )

    if not metrics.latencies_ms:
        on_no_data(Trigger.RESPONSE_TIME, "no probe got an answer")
    else:
        limit_ms = thresholds.response_time_ms
        slow = _binomial(
            Trigger.RESPONSE_TIME, metrics.slower_than(limit_ms), len(metrics.latencies_ms), P95_SLOW_SHARE, confidence
        )
        record(
            slow,
            f"{Trigger.RESPONSE_TIME}: {slow.count}/{slow.total} answers slower than {limit_ms:g}ms "
            f"(p95 {metrics.p95_ms:.0f}ms); "
            f"{_bound_note(slow, f'{format_percent(P95_SLOW_SHARE)} (p95 {limit_ms:g}ms)')}",
        )

    if not metrics.health_answered:
        on_no_data(Trigger.FAILED_TRANSACTIONS, "no health answer following the contract")
    elif metrics.transactions is None or metrics.transactions.total == 0:
        notes.append(f"{Trigger.FAILED_TRANSACTIONS}: no verdict (no transactions reported)")
    else:
        tx = metrics.transactions
        failed = _binomial(
            Trigger.FAILED_TRANSACTIONS, tx.failed, tx.total, thresholds.failed_transaction_rate, confidence
        )
        record(
            failed,
            f"{Trigger.FAILED_TRANSACTIONS}: {tx.failed}/{tx.total} failed "
            f"({format_percent(metrics.failed_transaction_rate)}); "
            f"{_bound_note(failed, format_percent(thresholds.failed_transaction_rate))}",
        )

    if breached:
        state = IntervalState.BREACHING
    elif inconclusive:
        state = IntervalState.INCONCLUSIVE
    else:
        state = IntervalState.HEALTHY
    return Verdict(state, tuple(breached), tuple(notes), tuple(found))


def advance_streak(streak: int, state: IntervalState) -> int:
    """Consecutive breaching intervals after this one: breach adds one, healthy resets, inconclusive holds."""
    if state is IntervalState.BREACHING:
        return streak + 1
    if state is IntervalState.HEALTHY:
        return 0
    return streak


def fires(streak: int, consecutive: int) -> bool:
    return streak >= consecutive


def evaluate_traffic(counts: Counts, thresholds: Thresholds) -> Verdict:
    """The three triggers judged on a deployment's real requests, with the same evidence rule as probes.

    The caller has checked there are enough requests. More than half of them failing is a hard outage,
    as for probes. No transactions in the window give no failed-transaction verdict (never a 0 %).
    """
    confidence = thresholds.confidence
    found: list[Evidence] = []
    notes: list[str] = []
    errors = _binomial(Trigger.ERROR_RATE, counts.server_errors, counts.requests, thresholds.error_rate, confidence)
    rate = Fraction(counts.server_errors, counts.requests)
    if rate > thresholds.error_rate and counts.server_errors * 2 > counts.requests:
        errors = replace(errors, breached=True, hard_outage="more than half of the real requests failed")
    found.append(errors)
    notes.append(
        f"{Trigger.ERROR_RATE}: {counts.server_errors}/{counts.requests} real requests 5xx "
        f"({format_percent(rate)}); {_bound_note(errors, format_percent(thresholds.error_rate))}"
    )
    slow = _binomial(Trigger.RESPONSE_TIME, counts.slow_over_rollback, counts.requests, P95_SLOW_SHARE, confidence)
    found.append(slow)
    limit_ms = thresholds.response_time_ms
    notes.append(
        f"{Trigger.RESPONSE_TIME}: {slow.count}/{slow.total} real requests slower than the rollback "
        f"response time; {_bound_note(slow, f'{format_percent(P95_SLOW_SHARE)} (p95 {limit_ms:g}ms)')}"
    )
    if counts.transactions == 0:
        notes.append(f"{Trigger.FAILED_TRANSACTIONS}: no verdict (no transactions among the real requests)")
    else:
        failed = _binomial(
            Trigger.FAILED_TRANSACTIONS,
            counts.failed_transactions,
            counts.transactions,
            thresholds.failed_transaction_rate,
            confidence,
        )
        found.append(failed)
        notes.append(
            f"{Trigger.FAILED_TRANSACTIONS}: {failed.count}/{failed.total} real transactions failed "
            f"({format_percent(Fraction(failed.count, failed.total))}); "
            f"{_bound_note(failed, format_percent(thresholds.failed_transaction_rate))}"
        )
    breached = tuple(e.trigger for e in found if e.breached)
    state = IntervalState.BREACHING if breached else IntervalState.HEALTHY
    return Verdict(state, breached, tuple(notes), tuple(found))


def decide(
    probes: IntervalMetrics,
    counts: Counts | None,
    settings: WatchSettings,
    unavailable: str | None = None,
) -> tuple[Verdict, Source]:
    """The interval's verdict and what decided it: real traffic when there is enough of it, else probes.

    ``counts`` is None when the source is probes or the metrics could not be read (``unavailable`` says
    why). With real traffic deciding, the probes remain the health check: every health probe failing
    (or more than half of all probes) still breaches the error rate.
    """
    by_probes = evaluate(probes, settings.thresholds, settings.no_data)
    if settings.source is Source.PROBES:
        return by_probes, Source.PROBES
    window = f"{settings.metrics_window_s:g}s"
    if counts is None:
        why = f"real-traffic metrics unavailable ({unavailable or 'not read'}); probes decide"
        return replace(by_probes, notes=(why, *by_probes.notes)), Source.PROBES
    if counts.requests < settings.min_requests:
        why = (
            f"not enough traffic: {counts.requests} real requests in the last {window} "
            f"(minimum {settings.min_requests}); probes decide"
        )
        return replace(by_probes, notes=(why, *by_probes.notes)), Source.PROBES
    verdict = evaluate_traffic(counts, settings.thresholds)
    outage = hard_outage(probes, settings.thresholds.error_rate)
    if outage is None:
        return verdict, Source.METRICS
    breached = verdict.breached if Trigger.ERROR_RATE in verdict.breached else (Trigger.ERROR_RATE, *verdict.breached)
    note = f"{Trigger.ERROR_RATE}: health check: {outage} ({probes.errors}/{probes.requests} probes)"
    return Verdict(IntervalState.BREACHING, breached, (*verdict.notes, note), verdict.evidence), Source.METRICS


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


@dataclass(frozen=True)
class IntervalReport:
    metrics: IntervalMetrics
    verdict: Verdict
    streak: int
    source: Source = Source.PROBES  # what decided this interval
    traffic: Counts | None = None  # the deployment's real requests, when read

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.metrics.as_dict(),
            "source": str(self.source),
            "real_traffic": None if self.traffic is None else self.traffic.to_dict(),
            "state": str(self.verdict.state),
            "breached": [str(t) for t in self.verdict.breached],
            "evidence": [e.as_dict() for e in self.verdict.evidence],
            "notes": list(self.verdict.notes),
            "consecutive_breaches": self.streak,
        }


@dataclass(frozen=True)
class WatchResult:
    fired: bool
    reports: tuple[IntervalReport, ...]
    reason: str | None
    triggers: tuple[Trigger, ...]


def trigger_reason(reports: Sequence[IntervalReport], consecutive: int) -> tuple[str, tuple[Trigger, ...]]:
    """A one-line why from the breaching streak: the triggers, and the last interval's notes for them."""
    streak = list(reports[-consecutive:])
    triggers = tuple(dict.fromkeys(t for r in streak for t in r.verdict.breached))
    last = streak[-1].verdict
    details = [n for n in last.notes if any(n.startswith(str(t)) for t in last.breached)]
    names = ", ".join(map(str, triggers))
    reason = f"{names} breached for {len(streak)} consecutive intervals ({'; '.join(details)})"
    return reason, triggers


def read_traffic(traffic: Callable[[], Counts] | None) -> tuple[Counts | None, str | None]:
    """The deployment's real-request counts now, or None and why (a CloudWatch failure must not stop the guard)."""
    if traffic is None:
        return None, None
    try:
        return traffic(), None
    except (BotoCoreError, ClientError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def watch(
    settings: WatchSettings,
    on_interval: Callable[[IntervalReport], None] | None = None,
    *,
    traffic: Callable[[], Counts] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WatchResult:
    """Probe at a fixed rate for the window; stop at the first interval that completes a breaching streak.

    ``traffic`` returns the deployment's real-request counts over the metrics window ending now
    (``--source metrics``); it is read after each probe round.
    """
    reports: list[IntervalReport] = []
    streak = 0
    index = 0
    with httpx.Client(follow_redirects=False, headers={"User-Agent": "chefchatz-rollback-guard"}) as http:
        start = clock()  # after building the client, so the first round is not already late
        while index * settings.interval_s < settings.window_s:
            delay = start + index * settings.interval_s - clock()
            if delay > 0:
                sleep(delay)
            metrics = probe_interval(http, settings, index)
            counts, unavailable = read_traffic(traffic if settings.source is Source.METRICS else None)
            verdict, source = decide(metrics, counts, settings, unavailable)
            streak = advance_streak(streak, verdict.state)
            report = IntervalReport(metrics, verdict, streak, source, counts)
            reports.append(report)
            if on_interval is not None:
                on_interval(report)
            if fires(streak, settings.consecutive):
                reason, triggers = trigger_reason(reports, settings.consecutive)
                return WatchResult(True, tuple(reports), reason, triggers)
            index += 1
    return WatchResult(False, tuple(reports), None, ())


# ---------------------------------------------------------------------------------------------------
# Watching, then acting
# ---------------------------------------------------------------------------------------------------


def guard(
    settings: WatchSettings,
    ctx: RollbackContext,
    automatic: bool,
    client_factory: Callable[[], VercelClient] | None,
    on_interval: Callable[[IntervalReport], None] | None = None,
    traffic: Callable[[], Counts] | None = None,
) -> Outcome:
    """``rollback watch``: watch the window, then roll back (automatic) or notify (manual) if it fired."""
    if not automatic or client_factory is None:
        return _act(settings, ctx, watch(settings, on_interval, traffic=traffic), None)
    # The API client exists before the first probe so that, once the guard fires, the rollback request
    # costs only its HTTP round trips (building a client and its TLS context takes tens of milliseconds).
    with client_factory() as client:
        return _act(settings, ctx, watch(settings, on_interval, traffic=traffic), client)


def _sources(settings: WatchSettings, reports: Sequence[IntervalReport]) -> str:
    """With --source metrics, how many intervals real traffic decided (the rest: not enough of it)."""
    if settings.source is Source.PROBES:
        return ""
    by_traffic = sum(1 for r in reports if r.source is Source.METRICS)
    return f" ({by_traffic} decided by real traffic, {len(reports) - by_traffic} by probes)"


def _act(settings: WatchSettings, ctx: RollbackContext, result: WatchResult, client: VercelClient | None) -> Outcome:
    evidence = [r.as_dict() for r in result.reports[-settings.consecutive :]]
    if not result.fired:
        return Outcome(
            action="healthy",
            project_id=ctx.project_id,
            automatic=client is not None,
            deployment_url=ctx.deployment_url,
            message=(
                f"healthy: {len(result.reports)} intervals over {settings.window_s:g}s without "
                f"{settings.consecutive} consecutive breaches{_sources(settings, result.reports)}"
            ),
            evidence=evidence,
        )
    reason = result.reason or "trigger fired"
    triggers = [str(t) for t in result.triggers]
    if client is None:
        return notify_only(ctx, reason, triggers, evidence)
    return roll_back(client, ctx, reason, triggers, evidence, automatic=True)
