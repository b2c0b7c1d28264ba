"""Error-budget arithmetic: burn-rate alert windows, thresholds, budget remaining, apdex.

The alert pairs are the Google SRE workbook's multiwindow, multi-burn-rate alerts ("Alerting on
SLOs", table 5-8, https://sre.google/workbook/alerting-on-slos/): page when the last hour AND the
last 5 minutes burn at 14.4x (2 % of a 30-day budget gone in an hour), page at 6x over 6 h and
30 min (5 % in 6 h), ticket at 1x over 3 d and 6 h (10 % in 3 days). The short window makes the
alert reset within minutes of a fix; the long one keeps a blip from paging. The workbook's table
is for a 30-day window; `burn_rate_alerts` keeps the budget fractions and scales nothing else, so
another window still spends the same share of its budget before each alert.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR = 3600
# (long window, short window, share of the budget the long window may spend, severity)
WORKBOOK_PAIRS: tuple[tuple[int, int, float, str], ...] = (
    (1 * HOUR, 5 * 60, 0.02, "page"),
    (6 * HOUR, 30 * 60, 0.05, "page"),
    (72 * HOUR, 6 * HOUR, 0.10, "ticket"),
)
# Below this many requests in a window a ratio says nothing (one 5xx among ten is 10 %): the
# alarms treat such windows as not breaching; `slo report` says "not enough traffic".
MIN_REQUESTS_PER_WINDOW = 100


@dataclass(frozen=True)
class BurnRateAlert:
    long_window_s: int
    short_window_s: int
    burn_rate: float
    error_rate_threshold: float  # a fraction, e.g. 0.0144 for 14.4x a 0.1 % budget
    severity: str

    @property
    def name(self) -> str:
        return f"burn-{_short(self.long_window_s)}-{_short(self.short_window_s)}"


def _short(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % HOUR == 0:
        return f"{seconds // HOUR}h"
    return f"{seconds // 60}m"


def burn_rate_alerts(budget_percent: float, window_s: float) -> tuple[BurnRateAlert, ...]:
    """The alerts for an error budget of `budget_percent` over `window_s`.

    burn rate = share of budget spent x window / long window; threshold = burn rate x budget.
    For 0.1 % over 30 d: 14.4x -> 1.44 %, 6x -> 0.6 %, 1x -> 0.1 %.
    """
    if not 0 < budget_percent < 100:
        raise ValueError(f"error budget must be between 0% and 100%, got {budget_percent:g}%")
    if window_s < 72 * HOUR:
        raise ValueError(f"error budget window must be at least 3d (the longest alert window), got {window_s:g}s")
    budget = budget_percent / 100
    alerts = []
    for long_s, short_s, share, severity in WORKBOOK_PAIRS:
        rate = round(share * window_s / long_s, 6)
        alerts.append(BurnRateAlert(long_s, short_s, rate, min(1.0, rate * budget), severity))
    return tuple(alerts)


def burn_rate(errors: int, requests: int, budget_percent: float) -> float | None:
    """How fast a window spends the budget (1.0 = exactly on budget); None without traffic."""
    if requests <= 0:
        return None
    return (errors / requests) / (budget_percent / 100)


def budget_remaining(errors: int, requests: int, budget_percent: float) -> float | None:
    """Share of the window's error budget still unspent (1.0 untouched, 0 spent, < 0 overspent)."""
    if requests <= 0:
        return None
    allowed = requests * budget_percent / 100
    return 1 - errors / allowed


def apdex(satisfied: int, tolerating: int, requests: int) -> float | None:
    """Apdex = (satisfied + tolerating / 2) / all requests (errors and frustrated count as 0)."""
    if requests <= 0:
        return None
    return (satisfied + tolerating / 2) / requests
