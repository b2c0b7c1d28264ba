"""Canary against stable on real traffic: the statistical rule that promotes, holds or aborts a stage (pure).

Two questions per judgement, each over the same window of both deployments' real requests
(``ops.slo.Counts``):

1. **Absolute ceilings** -- the spec's rollback triggers (error rate > 1 %, p95 > 1000 ms, failed
   transactions > 0.1 %) judged on the canary alone with the rollback guard's own evidence rule
   (``ops.rollback.evaluate_traffic``: one-sided exact binomial test, Clopper-Pearson lower bound above
   the threshold). They hold at every stage, whatever the stable deployment does.
2. **Canary worse than stable** -- for 5xx of requests, requests slower than the p95 objective of
   requests (over a whole step only, see ``judge``), and failed of all transactions: the one-sided
   *exact conditional binomial test* of two
   rates. Events are rare, so each side's count is close to Poisson; given the total ``k = k_c + k_s``,
   under "canary rate <= margin x stable rate" the canary's share of the events is at most
   ``p0 = margin n_c / (margin n_c + n_s)``, so

       worse  <=>  P(X >= k_c | X ~ Binomial(k, p0)) < 1 - confidence

   (``ops.rollback_stats.binomial_upper_tail``). The margin (default 1.5) keeps a canary that is as
   good as stable, or marginally different, from ever being "worse" on a busy day; the confidence
   bounds the false-abort rate of each test per judgement at a true ratio of exactly ``margin``.

**Minimum traffic:** below ``min_requests`` real requests on either side a judgement has no verdict
("not enough traffic"): a quiet minute neither aborts nor promotes. Ceilings on the canary are still
judged when only the stable side is quiet.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ops import rollback as rb
from ops import rollback as stats
from ops.slo import MIN_REQUESTS_PER_WINDOW, Counts

# 1.5x: a canary must be clearly worse, not a few percent, before the comparison aborts it; a canary
# 50 % worse than stable on errors or slow requests is a regression worth stopping at 5 % of traffic.
DEFAULT_MARGIN = Fraction(3, 2)
# 99 %: as the rollback guard. At a true ratio of exactly 1.5 each test would false-abort at most 1 % of
# judgements; a canary as good as stable (ratio 1) far less (benchmarks/rollout.py: 0 in 200 stages).
DEFAULT_CONFIDENCE = Fraction(99, 100)


class State(enum.StrEnum):
    HEALTHY = "healthy"
    FAILING = "failing"
    NOT_ENOUGH_TRAFFIC = "not-enough-traffic"


@dataclass(frozen=True)
class Rules:
    """How a judgement decides; the thresholds are the spec's rollback triggers."""

    thresholds: rb.Thresholds = field(default_factory=rb.Thresholds)
    margin: Fraction = DEFAULT_MARGIN
    confidence: Fraction = DEFAULT_CONFIDENCE
    min_requests: int = MIN_REQUESTS_PER_WINDOW

    def problems(self) -> list[str]:
        found = []
        if self.margin < 1:
            found.append(f"--margin {float(self.margin):g} must be at least 1 (canary no worse than stable)")
        if not Fraction(1, 2) <= self.confidence < 1:
            found.append(f"--confidence {rb.format_percent(self.confidence)} must be at least 50% and below 100%")
        if self.min_requests < 1:
            found.append(f"--min-requests {self.min_requests} must be at least 1")
        return found


def worse_p_value(canary: int, canary_total: int, stable: int, stable_total: int, margin: Fraction) -> float:
    """One-sided exact conditional p-value of "canary rate <= margin x stable rate" (small: canary worse)."""
    for name, count, total in (("canary", canary, canary_total), ("stable", stable, stable_total)):
        if not 0 <= count <= total:
            raise ValueError(f"{name} count {count} must be between 0 and its total {total}")
    if canary == 0 or canary_total == 0:
        return 1.0
    if stable_total == 0:
        raise ValueError("the stable side has no trials: there is nothing to compare with")
    share = float(margin * canary_total / (margin * canary_total + stable_total))
    return stats.binomial_upper_tail(canary, canary + stable, share)


@dataclass(frozen=True)
class Comparison:
    """One canary-vs-stable test: counts of both sides, the p-value, and whether the canary is worse."""

    metric: str
    canary: tuple[int, int]
    stable: tuple[int, int]
    p_value: float
    worse: bool

    def note(self) -> str:
        (kc, nc), (ks, ns) = self.canary, self.stable
        verdict = "WORSE than stable" if self.worse else "not worse"
        return f"{self.metric}: canary {kc}/{nc} vs stable {ks}/{ns}, p={self.p_value:.2g}: {verdict}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "canary": list(self.canary),
            "stable": list(self.stable),
            "p_value": self.p_value,
            "worse": self.worse,
        }


@dataclass(frozen=True)
class Judgement:
    state: State
    notes: tuple[str, ...]
    breached: tuple[str, ...] = ()  # ceilings breached and metrics on which the canary is worse
    comparisons: tuple[Comparison, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "breached": list(self.breached),
            "notes": list(self.notes),
            "comparisons": [c.as_dict() for c in self.comparisons],
        }


def _pairs(canary: Counts, stable: Counts, latency: bool) -> list[tuple[str, int, int, int, int]]:
    pairs = [("error-rate", canary.server_errors, canary.requests, stable.server_errors, stable.requests)]
    if latency:
        pairs.append(("slow-requests", canary.slow_over_p95, canary.requests, stable.slow_over_p95, stable.requests))
    if canary.transactions and stable.transactions:
        pairs.append(
            (
                "failed-transactions",
                canary.failed_transactions,
                canary.transactions,
                stable.failed_transactions,
                stable.transactions,
            )
        )
    return pairs


def judge(canary: Counts, stable: Counts, rules: Rules, latency: bool = True) -> Judgement:
    """Canary and stable over the same window: failing (ceiling or worse), healthy, or not enough traffic.

    ``latency=False`` leaves out the slow-request comparison: over a single minute latency wanders with
    load and cold starts (and a canary at 5 % meets more cold starts than stable), far beyond the
    counting noise the test allows for; over a whole step it averages out. The ceilings always apply.
    """
    quiet = f"minimum {rules.min_requests} real requests per side"
    if canary.requests < rules.min_requests:
        return Judgement(State.NOT_ENOUGH_TRAFFIC, (f"not enough traffic: canary {canary.requests} ({quiet})",))
    ceilings = rb.evaluate_traffic(canary, rules.thresholds)
    notes = [f"ceiling {note}" for note in ceilings.notes]
    breached = [f"ceiling:{trigger}" for trigger in ceilings.breached]
    if stable.requests < rules.min_requests:
        notes.insert(0, f"not enough traffic: stable {stable.requests} ({quiet}); ceilings only")
        state = State.FAILING if breached else State.NOT_ENOUGH_TRAFFIC
        return Judgement(state, tuple(notes), tuple(breached))
    alpha = float(1 - rules.confidence)
    comparisons = []
    for metric, kc, nc, ks, ns in _pairs(canary, stable, latency):
        p = worse_p_value(kc, nc, ks, ns, rules.margin)
        comparisons.append(Comparison(metric, (kc, nc), (ks, ns), p, p < alpha))
    notes += [c.note() for c in comparisons]
    breached += [c.metric for c in comparisons if c.worse]
    return Judgement(State.FAILING if breached else State.HEALTHY, tuple(notes), tuple(breached), tuple(comparisons))


class Action(enum.StrEnum):
    WAIT = "wait"  # keep watching this stage
    PROMOTE = "promote"  # the step is over and the whole step shows a healthy canary
    HOLD = "hold"  # the step is over without enough traffic to judge it: extend, never promote
    ABORT = "abort"


def next_action(interval: Judgement, step: Judgement | None) -> Action:
    """What to do after an interval; ``step`` is the judgement of the whole step, once it has elapsed.

    Any failing judgement aborts at once (the interval's, for speed; the whole step's, for evidence
    that only accumulates). A step promotes only on its own healthy judgement, never on a quiet one.
    """
    if interval.state is State.FAILING or (step is not None and step.state is State.FAILING):
        return Action.ABORT
    if step is None:
        return Action.WAIT
    return Action.PROMOTE if step.state is State.HEALTHY else Action.HOLD
