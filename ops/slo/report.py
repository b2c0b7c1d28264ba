"""`slo report`: the error budget, burn rates, apdex and latency objectives of a stack, from CloudWatch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ops.slo.budget import (
    MIN_REQUESTS_PER_WINDOW,
    BurnRateAlert,
    apdex,
    budget_remaining,
    burn_rate,
    burn_rate_alerts,
)
from ops.slo.metrics import Counts, window_counts

# p95 <= objective  <=>  at most 5 % of requests are slower than the objective (likewise p99, 1 %).
P95_SHARE = 0.05
P99_SHARE = 0.01


@dataclass(frozen=True)
class Targets:
    """What the report judges against: the error budget and window, apdex target, p95/p99 objectives."""

    budget_percent: float
    window_s: float
    apdex: float
    p95_ms: float
    p99_ms: float


@dataclass(frozen=True)
class BurnWindow:
    alert: BurnRateAlert
    long_rate: float | None
    short_rate: float | None
    long_requests: int
    short_requests: int

    @property
    def firing(self) -> bool:
        """As the alarms decide: enough traffic in the long window, and both windows burn too fast."""
        if self.long_requests < MIN_REQUESTS_PER_WINDOW:
            return False
        return all(r is not None and r > self.alert.burn_rate for r in (self.long_rate, self.short_rate))


@dataclass(frozen=True)
class SloReport:
    stack: str
    end: datetime
    objectives: Targets
    counts: Counts
    burn: tuple[BurnWindow, ...]

    @property
    def budget_remaining(self) -> float | None:
        return budget_remaining(self.counts.server_errors, self.counts.requests, self.objectives.budget_percent)

    @property
    def budget_spent(self) -> bool:
        remaining = self.budget_remaining
        return remaining is not None and remaining <= 0

    @property
    def apdex(self) -> float | None:
        c = self.counts
        return apdex(c.apdex_satisfied, c.apdex_tolerating, c.requests)

    def share(self, slow: int) -> float | None:
        return slow / self.counts.requests if self.counts.requests else None

    @property
    def checks(self) -> dict[str, bool | None]:
        """Each objective: True met, False missed, None no traffic to judge."""
        apdex_value = self.apdex
        p95, p99 = self.share(self.counts.slow_over_p95), self.share(self.counts.slow_over_p99)
        remaining = self.budget_remaining
        return {
            "error-budget": None if remaining is None else remaining > 0,
            "apdex": None if apdex_value is None else apdex_value >= self.objectives.apdex,
            "p95": None if p95 is None else p95 <= P95_SHARE,
            "p99": None if p99 is None else p99 <= P99_SHARE,
            "burn-rate": not any(w.firing for w in self.burn),
        }

    def to_dict(self) -> dict[str, Any]:
        o = self.objectives
        return {
            "stack": self.stack,
            "end": self.end.isoformat(),
            "windowSeconds": o.window_s,
            "objectives": {
                "errorBudgetPercent": o.budget_percent,
                "apdex": o.apdex,
                "p95Ms": o.p95_ms,
                "p99Ms": o.p99_ms,
            },
            "counts": self.counts.to_dict(),
            "budgetRemaining": self.budget_remaining,
            "budgetSpent": self.budget_spent,
            "apdex": self.apdex,
            "shareOverP95Objective": self.share(self.counts.slow_over_p95),
            "shareOverP99Objective": self.share(self.counts.slow_over_p99),
            "burnRates": [
                {
                    "alert": w.alert.name,
                    "severity": w.alert.severity,
                    "threshold": w.alert.burn_rate,
                    "longWindowRate": w.long_rate,
                    "shortWindowRate": w.short_rate,
                    "firing": w.firing,
                }
                for w in self.burn
            ],
            "checks": self.checks,
        }


def build_report(cloudwatch: Any, stack: str, end: datetime, objectives: Targets) -> SloReport:
    """Read the window's totals and every burn-rate window pair from CloudWatch."""
    counts = window_counts(cloudwatch, stack, end, timedelta(seconds=objectives.window_s))
    burn = []
    for alert in burn_rate_alerts(objectives.budget_percent, objectives.window_s):
        long_c = window_counts(cloudwatch, stack, end, timedelta(seconds=alert.long_window_s))
        short_c = window_counts(cloudwatch, stack, end, timedelta(seconds=alert.short_window_s))
        burn.append(
            BurnWindow(
                alert,
                burn_rate(long_c.server_errors, long_c.requests, objectives.budget_percent),
                burn_rate(short_c.server_errors, short_c.requests, objectives.budget_percent),
                long_c.requests,
                short_c.requests,
            )
        )
    return SloReport(stack, end, objectives, counts, tuple(burn))


def _percent(value: float | None, digits: int = 3) -> str:
    return "no traffic" if value is None else f"{value * 100:.{digits}f}%"


def _rate(value: float | None) -> str:
    return "no traffic" if value is None else f"{value:.2f}x"


def _verdict(ok: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "no traffic"}[ok]


def lines(report: SloReport) -> list[tuple[str, str, str]]:
    """(objective, measured, verdict) rows shared by the text and markdown forms."""
    o, c, checks = report.objectives, report.counts, report.checks
    apdex_value = report.apdex
    return [
        ("requests", f"{c.requests} ({c.server_errors} 5xx, {c.failed_transactions} failed transactions)", ""),
        (
            f"error budget {o.budget_percent:g}%",
            f"{_percent(report.budget_remaining, 1)} remaining",
            _verdict(checks["error-budget"]),
        ),
        (
            f"apdex >= {o.apdex:g}",
            "no traffic" if apdex_value is None else f"{apdex_value:.4f}",
            _verdict(checks["apdex"]),
        ),
        (f"p95 <= {o.p95_ms:g}ms", f"{_percent(report.share(c.slow_over_p95), 2)} slower", _verdict(checks["p95"])),
        (f"p99 <= {o.p99_ms:g}ms", f"{_percent(report.share(c.slow_over_p99), 2)} slower", _verdict(checks["p99"])),
    ] + [
        (
            f"burn {w.alert.name} > {w.alert.burn_rate:g}x ({w.alert.severity})",
            f"{_rate(w.long_rate)} / {_rate(w.short_rate)}",
            "FIRING" if w.firing else "ok",
        )
        for w in report.burn
    ]


def to_text(report: SloReport) -> str:
    rows = lines(report)
    width = max(len(r[0]) for r in rows)
    days = report.objectives.window_s / 86400
    out = [f"SLO report for stack {report.stack}, {days:g}d to {report.end:%Y-%m-%d %H:%M} UTC"]
    out += [f"  {name.ljust(width)}  {measured}  {verdict}".rstrip() for name, measured, verdict in rows]
    out.append("error budget SPENT" if report.budget_spent else "error budget left")
    return "\n".join(out)


def to_markdown(report: SloReport) -> str:
    """For the sign-off and pull-request comments; starts with a marker so CI can update in place."""
    out = [
        "<!-- chefchatz-slo-report -->",
        f"### SLO report: `{report.stack}` ({report.objectives.window_s / 86400:g}d to "
        f"{report.end:%Y-%m-%d %H:%M} UTC)",
        "",
        "| objective | measured | verdict |",
        "| --- | --- | --- |",
    ]
    out += [f"| {name} | {measured} | {verdict or '-'} |" for name, measured, verdict in lines(report)]
    out += ["", "**Error budget spent.**" if report.budget_spent else "Error budget left."]
    return "\n".join(out)
