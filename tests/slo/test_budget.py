"""Error-budget arithmetic as table tests: the burn-rate thresholds follow from the budget."""

from __future__ import annotations

import pytest

from ops.slo.budget import apdex, budget_remaining, burn_rate, burn_rate_alerts

DAY = 86400


@pytest.mark.parametrize(
    ("budget", "window", "expected"),
    [
        # The spec's 0.1 % over 30 d: the SRE workbook's 14.4x / 6x / 1x.
        (
            0.1,
            30 * DAY,
            [
                ("burn-1h-5m", 14.4, 0.0144, "page"),
                ("burn-6h-30m", 6, 0.006, "page"),
                ("burn-3d-6h", 1, 0.001, "ticket"),
            ],
        ),
        # A 1 % budget keeps the rates, thresholds scale with the budget.
        (
            1.0,
            30 * DAY,
            [("burn-1h-5m", 14.4, 0.144, "page"), ("burn-6h-30m", 6, 0.06, "page"), ("burn-3d-6h", 1, 0.01, "ticket")],
        ),
        # A 7-day window: the same share of the budget per alert means lower rates.
        (
            0.1,
            7 * DAY,
            [
                ("burn-1h-5m", 3.36, 0.00336, "page"),
                ("burn-6h-30m", 1.4, 0.0014, "page"),
                ("burn-3d-6h", 0.233333, 0.000233333, "ticket"),
            ],
        ),
    ],
)
def test_burn_rate_thresholds_follow_from_the_budget_and_window(budget, window, expected):
    alerts = burn_rate_alerts(budget, window)
    got = [(a.name, a.burn_rate, a.error_rate_threshold, a.severity) for a in alerts]
    for (name, rate, threshold, severity), (g_name, g_rate, g_threshold, g_severity) in zip(expected, got, strict=True):
        assert (g_name, g_severity) == (name, severity)
        assert g_rate == pytest.approx(rate, rel=1e-5)
        assert g_threshold == pytest.approx(threshold, rel=1e-5)


def test_a_100x_burn_cannot_set_a_threshold_above_every_request_failing():
    assert burn_rate_alerts(50, 30 * DAY)[0].error_rate_threshold == 1.0


@pytest.mark.parametrize(
    ("budget", "window", "message"), [(0, 30 * DAY, "between 0% and 100%"), (0.1, 2 * DAY, "at least 3d")]
)
def test_budgets_the_alerts_cannot_express_are_refused(budget, window, message):
    with pytest.raises(ValueError, match=message):
        burn_rate_alerts(budget, window)


@pytest.mark.parametrize(
    ("errors", "requests", "rate", "remaining"),
    [(0, 10_000, 0.0, 1.0), (5, 10_000, 0.5, 0.5), (10, 10_000, 1.0, 0.0), (30, 10_000, 3.0, -2.0), (0, 0, None, None)],
)
def test_burn_rate_and_budget_remaining(errors, requests, rate, remaining):
    assert burn_rate(errors, requests, 0.1) == (None if rate is None else pytest.approx(rate))
    assert budget_remaining(errors, requests, 0.1) == (None if remaining is None else pytest.approx(remaining))


@pytest.mark.parametrize(
    ("satisfied", "tolerating", "requests", "expected"), [(99, 0, 100, 0.99), (98, 2, 100, 0.99), (0, 0, 0, None)]
)
def test_apdex_counts_tolerating_requests_half(satisfied, tolerating, requests, expected):
    assert apdex(satisfied, tolerating, requests) == (None if expected is None else pytest.approx(expected))
