"""The canary-vs-stable rule, by table: no engine, no API (ops.rollout.compare)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ops.rollout import Action, Judgement, Rules, State, judge, next_action, worse_p_value
from ops.slo import Counts

RULES = Rules()


@pytest.mark.parametrize(
    ("case", "canary", "stable", "margin", "worse"),
    [
        ("same rate, lots of traffic", (20, 10_000), (20, 10_000), Fraction(3, 2), False),
        ("no canary events", (0, 500), (30, 10_000), Fraction(3, 2), False),
        ("canary 5 % vs stable 0.2 %", (10, 200), (8, 4_000), Fraction(3, 2), True),
        ("2 of 50 against 0 of 1000", (2, 50), (0, 1_000), Fraction(3, 2), True),
        ("1 of 50 against 0 of 1000 is not evidence", (1, 50), (0, 1_000), Fraction(3, 2), False),
        ("1.3x worse is inside the 1.5x margin", (130, 10_000), (100, 10_000), Fraction(3, 2), False),
        ("2.5x worse on a busy day", (250, 10_000), (100, 10_000), Fraction(3, 2), True),
        ("2x worse but little traffic is not evidence", (4, 200), (2, 200), Fraction(3, 2), False),
    ],
)
def test_the_exact_conditional_test_calls_a_canary_worse_only_on_evidence(
    case: str, canary: tuple[int, int], stable: tuple[int, int], margin: Fraction, worse: bool
) -> None:
    p = worse_p_value(*canary, *stable, margin)
    assert (p < 0.01) is worse, f"{case}: p={p}"


def test_the_p_value_is_the_binomial_tail_of_the_canarys_share_of_the_events() -> None:
    # 3 events, all on the canary, which had half the requests: share under H0 (margin 1) is 1/2.
    assert worse_p_value(3, 100, 0, 100, Fraction(1)) == pytest.approx(1 / 8)


@pytest.mark.parametrize(
    "bad", [(5, 4, 0, 10), (0, 10, 11, 10), (-1, 10, 0, 10)], ids=["canary>total", "stable>total", "negative"]
)
def test_impossible_counts_are_refused_naming_the_side(bad: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError, match="count"):
        worse_p_value(*bad, Fraction(3, 2))


def healthy(requests: int = 3_000) -> Counts:
    return Counts(requests, requests // 500, requests // 5, 0, slow_over_p95=requests // 50, slow_over_rollback=2)


@pytest.mark.parametrize(
    ("case", "canary", "stable", "state", "breached"),
    [
        ("both healthy", healthy(300), healthy(6_000), State.HEALTHY, ()),
        ("quiet canary: no verdict", Counts(40, 10), healthy(), State.NOT_ENOUGH_TRAFFIC, ()),
        ("quiet stable, healthy canary", healthy(300), Counts(20), State.NOT_ENOUGH_TRAFFIC, ()),
        (
            "quiet stable, canary over a ceiling",
            Counts(300, 30, 60, 0),
            Counts(20),
            State.FAILING,
            ("ceiling:error-rate",),
        ),
        ("canary errors worse than stable", Counts(300, 6, 60, 0), healthy(6_000), State.FAILING, ("error-rate",)),
        (
            "canary slower than stable",
            Counts(300, 0, 60, 0, slow_over_p95=40),
            healthy(6_000),
            State.FAILING,
            ("slow-requests",),
        ),
        (
            "both equally over the 1 % ceiling: the ceiling still aborts",
            Counts(1_000, 30, 200, 0),
            Counts(20_000, 600, 4_000, 0),
            State.FAILING,
            ("ceiling:error-rate",),
        ),
        (
            "p95 over 1000 ms on the canary",
            Counts(1_000, 0, 200, 0, slow_over_p95=200, slow_over_rollback=120),
            Counts(20_000, 0, 4_000, 0, slow_over_p95=4_000, slow_over_rollback=2_400),
            State.FAILING,
            ("ceiling:response-time",),
        ),
    ],
)
def test_a_judgement_fails_on_a_ceiling_or_a_worse_canary_and_needs_traffic_on_both_sides(
    case: str, canary: Counts, stable: Counts, state: State, breached: tuple[str, ...]
) -> None:
    result = judge(canary, stable, RULES)
    assert (result.state, result.breached) == (state, breached), f"{case}: {result.notes}"


@pytest.mark.parametrize(
    ("interval", "step", "action"),
    [
        (State.HEALTHY, None, Action.WAIT),
        (State.NOT_ENOUGH_TRAFFIC, None, Action.WAIT),
        (State.FAILING, None, Action.ABORT),
        (State.HEALTHY, State.HEALTHY, Action.PROMOTE),
        (State.HEALTHY, State.NOT_ENOUGH_TRAFFIC, Action.HOLD),
        (State.HEALTHY, State.FAILING, Action.ABORT),
        (State.NOT_ENOUGH_TRAFFIC, State.HEALTHY, Action.PROMOTE),
    ],
)
def test_a_step_promotes_only_on_its_own_healthy_judgement(interval: State, step: State | None, action: Action) -> None:
    assert next_action(Judgement(interval, ()), None if step is None else Judgement(step, ())) is action


def test_rules_name_every_bad_value() -> None:
    problems = " ".join(Rules(margin=Fraction(1, 2), confidence=Fraction(1), min_requests=0).problems())
    assert "--margin 0.5" in problems and "--confidence 100%" in problems and "--min-requests 0" in problems
