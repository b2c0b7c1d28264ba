"""The evidence rule of the rollback guard (``ops.rollback.evidence``), proved by tables of counts."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import pytest

from ops.rollback import evidence as stats

C99 = Fraction(99, 100)
C999 = Fraction(999, 1000)


def exact_tail(k: int, n: int, p: Fraction) -> Fraction:
    """P(X >= k) in exact rational arithmetic: the reference the float implementation must match."""
    return sum((Fraction(math.comb(n, j)) * p**j * (1 - p) ** (n - j) for j in range(max(k, 0), n + 1)), Fraction(0))


@pytest.mark.parametrize("n", [1, 2, 7, 20, 30, 61])
@pytest.mark.parametrize(
    "p", [Fraction(0), Fraction(1, 1000), Fraction(1, 100), Fraction(1, 20), Fraction(3, 10), Fraction(1)]
)
def test_binomial_tail_matches_exact_rational_arithmetic(n: int, p: Fraction) -> None:
    for k in range(-1, n + 2):
        got, want = stats.binomial_upper_tail(k, n, float(p)), float(exact_tail(k, n, p))
        assert got == pytest.approx(want, rel=1e-9, abs=1e-300), (k, n, p, got, want)


def test_binomial_tail_is_accurate_for_the_apps_large_transaction_counts() -> None:
    # 1 000 000 transactions at 0.1 %: mean 1000, sd ~31.6; 1200 failed is > 6 sd out (normal tail ~1e-10).
    tail = stats.binomial_upper_tail(1200, 1_000_000, 0.001)
    assert 1e-11 < tail < 1e-8, tail
    assert stats.binomial_upper_tail(1000, 1_000_000, 0.001) == pytest.approx(0.5, abs=0.02)


# (count, total, threshold, confidence, breaches): the guard's questions, answered.
EXCEEDS = [
    (1, 20, 0.01, C99, False),  # 5 % point estimate: an app at 1 % shows this in 18 % of intervals
    (2, 20, 0.01, C99, False),
    (3, 20, 0.01, C99, True),  # P(>= 3 | 20, 1 %) = 0.1 %
    (3, 30, 0.01, C99, True),
    (2, 30, 0.01, C99, False),
    (3, 30, 0.01, C999, False),
    (4, 30, 0.01, C999, True),
    (0, 30, 0.0, C99, False),  # no errors are never evidence, even for a 0 % threshold
    (1, 30, 0.0, C99, True),  # and any error is, because a 0 % app has none
    (30, 30, 1.0, C99, False),  # a 100 % threshold can never be exceeded
    (5, 30, 0.05, C99, False),  # slow answers: p95 allows 5 %
    (6, 30, 0.05, C99, True),
    (2, 1000, 0.001, C99, False),  # failed transactions 0.2 % of 1000: noise
    (6, 1000, 0.001, C99, True),
    (100, 50_000, 0.001, C99, True),  # 0.2 % of 50 000: evidence
    (1, 1, 0.01, C99, False),  # P(1 of 1 | 1 %) is exactly 1 %: not below it
]


@pytest.mark.parametrize(("k", "n", "threshold", "confidence", "breaches"), EXCEEDS)
def test_counts_breach_only_on_strong_evidence(
    k: int, n: int, threshold: float, confidence: Fraction, breaches: bool
) -> None:
    assert stats.exceeds(k, n, threshold, confidence) is breaches, (k, n, threshold, confidence)


@pytest.mark.parametrize(("k", "n"), [(1, 1), (1, 20), (3, 20), (3, 30), (10, 30), (30, 30), (100, 50_000)])
def test_clopper_pearson_lower_bound_is_where_the_tail_equals_one_minus_confidence(k: int, n: int) -> None:
    bound = stats.clopper_pearson_lower(k, n, C99)
    assert 0 < bound < k / n, (k, n, bound)
    assert stats.binomial_upper_tail(k, n, bound) == pytest.approx(0.01, rel=1e-6), (k, n, bound)


@pytest.mark.parametrize("n", [1, 5, 30])
def test_clopper_pearson_closed_forms(n: int) -> None:
    # n of n: p**n = alpha; 1 of n: 1 - (1 - p)**n = alpha; 0 of n: 0.
    assert stats.clopper_pearson_lower(n, n, C99) == pytest.approx(0.01 ** (1 / n), rel=1e-8)
    assert stats.clopper_pearson_lower(1, n, C99) == pytest.approx(1 - 0.99 ** (1 / n), rel=1e-8)
    assert stats.clopper_pearson_lower(0, n, C99) == 0.0


@pytest.mark.parametrize(("k", "n"), [(1, 20), (3, 20), (3, 30), (6, 1000), (2, 1000), (100, 50_000)])
def test_bound_above_threshold_is_the_same_rule_as_the_test(k: int, n: int) -> None:
    for threshold in (0.001, 0.01, 0.05):
        assert (stats.clopper_pearson_lower(k, n, C99) > threshold) is stats.exceeds(k, n, threshold, C99)


BREACH_COUNTS = [
    (20, 0.01, C99, 3),
    (30, 0.01, C99, 3),
    (60, 0.01, C99, 4),
    (20, 0.05, C99, 5),
    (30, 0.05, C99, 6),
    (1, 0.05, C99, None),  # one probe can never be evidence about a p95
    (2, 0.05, C99, 2),
    (30, 1.0, C99, None),
]


@pytest.mark.parametrize(("n", "threshold", "confidence", "count"), BREACH_COUNTS)
def test_fewest_counts_that_breach(n: int, threshold: float, confidence: Fraction, count: int | None) -> None:
    assert stats.breach_count(n, threshold, confidence) == count, (n, threshold)


MINIMUM_SAMPLES = [
    (0.01, C99, 2),  # 1 of 1 at 1 % has p-value exactly 1 %
    (0.05, C99, 2),
    (0.05, C999, 3),
    (0.001, C99, 1),
    (0.5, C99, 7),  # 0.5**7 < 1 % <= 0.5**6
    (0.0, C99, 1),
    (1.0, C99, None),
]


@pytest.mark.parametrize(("threshold", "confidence", "n"), MINIMUM_SAMPLES)
def test_minimum_samples_to_ever_reach_evidence(threshold: float, confidence: Fraction, n: int | None) -> None:
    assert stats.minimum_samples(threshold, confidence) == n, threshold
    if n is not None:
        assert stats.breach_count(n, threshold, confidence) is not None
        if n > 1:
            assert stats.breach_count(n - 1, threshold, confidence) is None


def test_size_is_at_most_one_minus_confidence() -> None:
    for n in (2, 20, 30, 100, 1000):
        for threshold in (0.001, 0.01, 0.05):
            assert 0 <= stats.size(n, threshold, C99) < 0.01, (n, threshold)


RUNS = [
    (0.5, 2, 2, 0.25),
    (0.5, 3, 2, 0.375),  # BB?, HBB of 8
    (0.3, 1, 1, 0.3),
    (0.1, 5, 1, 1 - 0.9**5),
    (0.2, 1, 2, 0.0),
    (1.0, 4, 3, 1.0),
    (0.0, 20, 2, 0.0),
]


@pytest.mark.parametrize(("q", "intervals", "consecutive", "expected"), RUNS)
def test_window_false_alarm_is_the_chance_of_a_breaching_run(
    q: float, intervals: int, consecutive: int, expected: float
) -> None:
    assert stats.run_probability(q, intervals, consecutive) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: stats.exceeds(1, 20, 0.01, Fraction(1)), "100.000000%"),
        (lambda: stats.exceeds(1, 20, 0.01, Fraction(2, 5)), "40.000000%"),
        (lambda: stats.exceeds(21, 20, 0.01, C99), "count 21"),
        (lambda: stats.binomial_upper_tail(1, 20, 1.5), "p=1.5"),
        (lambda: stats.run_probability(0.1, 10, 0), "0"),
    ],
)
def test_bad_inputs_are_refused_naming_the_value(call: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace(".", r"\.")):
        call()
