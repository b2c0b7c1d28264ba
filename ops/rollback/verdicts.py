"""The guard's verdicts: an interval's counts judged as evidence, and the streak that fires the guard.

Owns: what one trigger saw in one interval (``Evidence``, with the lower bound of its one-sided
Clopper-Pearson interval from ``ops.rollback.evidence``); the hard outage that breaches at once; the
verdict on the probes (``evaluate``, with the no-data policy) and on the deployment's real requests
(``evaluate_traffic``); which of the two decides an interval (``decide``: real traffic when there is
enough of it, the probes staying the health check); and the count of consecutive breaching intervals
(``advance_streak``, ``fires``). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import ops.rollback.evidence as stats
from ops.rollback.probes import IntervalMetrics
from ops.rollback.settings import (
    P95_SLOW_SHARE,
    IntervalState,
    NoDataPolicy,
    Source,
    Thresholds,
    Trigger,
    WatchSettings,
    format_percent,
)
from ops.slo import Counts


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
