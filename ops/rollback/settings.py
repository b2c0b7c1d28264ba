"""The guard's settings: the spec's triggers and defaults, option values, and the evidence they allow.

Owns: the enums the guard speaks in (``Trigger``, ``NoDataPolicy``, ``Source``, ``IntervalState``); the
defaults (the health path, the confidence, the probes per interval, the 5 % slow share that "p95 <=
threshold" allows); the parsing of durations and percentages as the options write them; ``Thresholds``
and ``WatchSettings``, which state every invalid input at once (``problems``); and what the settings
alone imply -- the smallest ``--samples`` with which a trigger can ever breach (``minimum_samples``) and
the plan the guard states before it starts (``evidence_plan``, ``plan_text``). Pure; the exact binomial
rule itself is ``ops.rollback.evidence``.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import ops.rollback.evidence as stats
from ops.slo import MIN_REQUESTS_PER_WINDOW

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
# What the settings can give evidence for (pure)
# ---------------------------------------------------------------------------------------------------


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
