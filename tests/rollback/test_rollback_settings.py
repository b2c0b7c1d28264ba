"""The guard's settings (``ops.rollback.settings``): option values, the checks on them, the evidence plan."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ops.rollback.settings import (
    Thresholds,
    WatchSettings,
    evidence_plan,
    minimum_samples,
    parse_duration,
    parse_milliseconds,
    parse_percent,
    plan_text,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10m", 600.0),
        ("30s", 30.0),
        ("5s", 5.0),
        ("200ms", 0.2),
        ("0.05s", 0.05),
        ("1h", 3600.0),
        ("45", 45.0),
    ],
)
def test_durations_parse_with_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds), text


@pytest.mark.parametrize("text", ["", "ten minutes", "5d", "-1s", "0s"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(("text", "ms"), [("1000ms", 1000.0), ("1s", 1000.0), ("1000", 1000.0), ("250ms", 250.0)])
def test_response_time_parses_to_milliseconds(text: str, ms: float) -> None:
    assert parse_milliseconds(text) == pytest.approx(ms), text


@pytest.mark.parametrize(
    ("text", "fraction"),
    [
        ("1%", Fraction(1, 100)),
        ("0.1%", Fraction(1, 1000)),
        ("> 1%", Fraction(1, 100)),
        ("100%", Fraction(1)),
    ],
)
def test_spec_percentages_parse_exactly(text: str, fraction: Fraction) -> None:
    assert parse_percent(text) == fraction, text


@pytest.mark.parametrize("text", ["1", "abc%", "101%", "-1%"])
def test_bad_percentages_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_percent(text)


# --- settings and the evidence they allow ---------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"deployment_url": "chefchatz.com"}, "--deployment-url"),
        ({"smoke_paths": ("menu",)}, "--smoke-path 'menu'"),
        ({"consecutive": 0}, "--consecutive 0"),
        ({"timeout_s": 40.0}, "--timeout 40s"),
        ({"window_s": 30.0}, "--window 30s"),
        ({"samples": 0}, "--samples 0"),
        ({"samples": 1}, "--samples 1 gives 1 requests per interval, too few to ever be 99%-confident"),
        ({"thresholds": Thresholds(confidence=Fraction(1))}, "--confidence 100% must be at least 50%"),
        ({"thresholds": Thresholds(confidence=Fraction(1, 5))}, "--confidence 20% must be at least 50%"),
        ({"samples": 2, "thresholds": Thresholds(confidence=Fraction(999, 1000))}, "use --samples 3 or more"),
    ],
)
def test_settings_report_the_offending_option(overrides: dict[str, object], fragment: str) -> None:
    settings = WatchSettings(**{"deployment_url": "https://x.vercel.app", **overrides})  # type: ignore[arg-type]
    assert any(fragment in p for p in settings.problems()), settings.problems()


def test_settings_report_all_problems_at_once() -> None:
    settings = WatchSettings("nope", consecutive=0, samples=0)
    assert len(settings.problems()) == 3, settings.problems()


def test_spec_defaults_are_the_documented_numbers() -> None:
    s = WatchSettings("https://x.vercel.app")
    assert (s.health_path, s.interval_s, s.timeout_s, s.consecutive, s.window_s) == (
        "/api/health",
        30,
        5,
        2,
        600,
    )
    assert (s.thresholds.error_rate, s.thresholds.response_time_ms, s.thresholds.failed_transaction_rate) == (
        Fraction(1, 100),
        1000.0,
        Fraction(1, 1000),
    )
    assert (s.thresholds.confidence, s.samples) == (Fraction(99, 100), 30)


def test_smoke_paths_count_towards_the_minimum_samples() -> None:
    alone = WatchSettings("https://x.vercel.app", samples=1)
    with_smoke = WatchSettings("https://x.vercel.app", samples=1, smoke_paths=("/menu",))
    assert (minimum_samples(alone), minimum_samples(with_smoke)) == (2, 1)
    assert with_smoke.problems() == [], with_smoke.problems()


def test_a_disabled_trigger_does_not_raise_the_minimum() -> None:
    # A 100 % error-rate threshold can never be exceeded: only the p95 test sets the minimum.
    settings = WatchSettings("https://x.vercel.app", thresholds=Thresholds(error_rate=Fraction(1)))
    assert minimum_samples(settings) == 2


def test_plan_states_the_counts_that_breach_and_the_false_alarm_rates() -> None:
    settings = WatchSettings("https://chefchatz.com")  # the generated pipeline's settings
    plan = evidence_plan(settings)
    assert plan["breach_at"] == {"error-rate": 3, "response-time": 6}, plan
    assert (plan["requests_per_interval"], plan["minimum_samples"], plan["intervals"]) == (30, 2, 20), plan
    # Worst case, all three triggers sitting exactly at their thresholds: sizes 0.33 % + 0.33 % + 1 %.
    assert 0.015 < plan["false_alarm_per_interval"] < 0.017, plan
    assert plan["false_alarm_per_window"] < 0.01, plan
    text = plan_text(settings, plan)
    assert "99% confidence" in text and "at >= 3 errors" in text and "Minimum --samples: 2" in text, text
