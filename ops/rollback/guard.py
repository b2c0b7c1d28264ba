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

This module owns the watch loop (``watch``: probe rounds at a fixed rate over the window, the real
traffic read after each, the streak) and acting on its outcome (``guard``). The rules above are the
code of ``ops.rollback.settings`` (the options, their defaults and the evidence plan),
``ops.rollback.probes`` (sampling and an interval's counts) and ``ops.rollback.verdicts`` (evidence,
verdicts and streaks).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from ops.rollback.action import Outcome, RollbackContext, notify_only, roll_back
from ops.rollback.probes import IntervalMetrics, probe_interval
from ops.rollback.settings import Source, Trigger, WatchSettings
from ops.rollback.vercel_api import VercelClient
from ops.rollback.verdicts import Verdict, advance_streak, decide, fires
from ops.slo import Counts


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
