"""Exact binomial evidence for the rollback guard: is a true rate above a threshold, given k of n?

The guard must not act on point estimates: 1 failed probe of 20 reads as 5 % but is what an app with a
true error rate of 0.3 % shows in one interval out of seventeen. The question every trigger asks is
therefore "is the data strong evidence that the true rate is above the threshold?", answered with the
one-sided exact binomial test -- equivalently, the lower bound of the one-sided Clopper-Pearson
interval lies above the threshold:

    breach  <=>  P(X >= k | X ~ Binomial(n, threshold)) < 1 - confidence
            <=>  clopper_pearson_lower(k, n, confidence) > threshold

The test is exact -- no normal approximation, unlike a Wilson interval, whose one-sided 95 % lower bound
for 1 error in 20 probes is 1.2 %, "evidence" above 1 % although an app exactly at 1 % shows at least one
error in 18 % of such intervals -- so its false-alarm rate for a true rate at or below the threshold is
at most ``1 - confidence``.
Pure Python over ``math.lgamma`` in log space, no dependencies.
"""

from __future__ import annotations

import math
from fractions import Fraction

# Relative size below which further terms of a tail sum no longer change a double.
_NEGLIGIBLE = 1e-17
# A p-value within rounding of 1 - confidence is not below it: at the boundary the guard stays put
# (1 error of 1 probe against 1 % has a p-value of exactly 1 %, whatever the last bit of the double).
_ALPHA_SLACK = 1 - 1e-9


def _log_pmf(k: int, n: int, p: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact to double precision."""
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial_upper_tail needs n >= 0 and 0 <= p <= 1, got n={n}, p={p}")
    if k <= 0:
        return 1.0
    if k > n or p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    ratio = p / (1.0 - p)
    if k > n * p:
        # k is past the mode: terms only shrink from k on, so sum upwards until they stop mattering.
        term = math.exp(_log_pmf(k, n, p))
        total = term
        for j in range(k, n):
            term *= (n - j) / (j + 1) * ratio
            total += term
            if term < total * _NEGLIGIBLE:
                break
        return min(1.0, total)
    # k is at or below the mean: the tail is at least about 1/2, so take 1 - P(X <= k - 1), whose terms
    # shrink from k - 1 downwards.
    term = math.exp(_log_pmf(k - 1, n, p))
    lower = term
    for j in range(k - 1, 0, -1):
        term *= j / (n - j + 1) / ratio
        lower += term
        if term < lower * _NEGLIGIBLE:
            break
    return max(0.0, 1.0 - lower)


def _alpha(n: int, confidence: Fraction) -> float:
    """The allowed false-alarm rate, 1 - confidence, from the exact fraction (99 % gives exactly 0.01)."""
    if n < 0:
        raise ValueError(f"sample size must not be negative, got {n}")
    if not Fraction(1, 2) <= confidence < 1:
        raise ValueError(f"confidence must be at least 50% and below 100%, got {float(confidence):.6%}")
    return float(1 - confidence)


def exceeds(k: int, n: int, threshold: float, confidence: Fraction) -> bool:
    """Whether k events in n trials are strong evidence (at ``confidence``) that the true rate > threshold."""
    alpha = _alpha(n, confidence)
    if not 0 <= k <= n:
        raise ValueError(f"count {k} must be between 0 and the sample size {n}")
    return binomial_upper_tail(k, n, threshold) < alpha * _ALPHA_SLACK


def clopper_pearson_lower(k: int, n: int, confidence: Fraction) -> float:
    """Lower bound of the one-sided Clopper-Pearson interval: the rate p with P(X >= k | p) = 1 - confidence."""
    alpha = _alpha(n, confidence)
    if not 0 <= k <= n:
        raise ValueError(f"count {k} must be between 0 and the sample size {n}")
    if k == 0:
        return 0.0
    # The tail grows with p and is at least 1/2 at p = k/n (k is then the median), so the bound lies in
    # [0, k/n]; bisection to far below the precision anyone reads.
    low, high = 0.0, k / n
    for _ in range(200):
        mid = (low + high) / 2
        if binomial_upper_tail(k, n, mid) < alpha * _ALPHA_SLACK:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * high:
            break
    return low


def breach_count(n: int, threshold: float, confidence: Fraction) -> int | None:
    """The fewest events of n that breach, or None when even n of n is not enough evidence."""
    _alpha(n, confidence)
    if not exceeds(n, n, threshold, confidence):
        return None
    low, high = 0, n  # exceeds(high) holds and exceeds(low) does not (0 events are no evidence)
    while high - low > 1:
        mid = (low + high) // 2
        if exceeds(mid, n, threshold, confidence):
            high = mid
        else:
            low = mid
    return high


def minimum_samples(threshold: float, confidence: Fraction) -> int | None:
    """The fewest trials at which any count can breach (n events of n); None if no count ever can."""
    alpha = _alpha(0, confidence)
    if threshold >= 1.0:
        return None
    if threshold <= 0.0:
        return 1
    n = 1
    while threshold**n >= alpha * _ALPHA_SLACK:  # threshold**n = P(n events of n): the strongest evidence
        n += 1
    return n


def size(n: int, threshold: float, confidence: Fraction) -> float:
    """The test's real false-alarm rate with n trials when the true rate sits exactly at the threshold."""
    count = breach_count(n, threshold, confidence)
    return 0.0 if count is None else binomial_upper_tail(count, n, threshold)


def run_probability(per_interval: float, intervals: int, consecutive: int) -> float:
    """P(some run of ``consecutive`` breaching intervals among ``intervals`` independent ones)."""
    if not 0.0 <= per_interval <= 1.0 or intervals < 0 or consecutive < 1:
        raise ValueError(
            f"run_probability needs 0 <= per_interval <= 1, intervals >= 0 and consecutive >= 1, got "
            f"{per_interval}, {intervals}, {consecutive}"
        )
    # states[s]: probability of a current streak of s breaches and no run of ``consecutive`` so far.
    states = [1.0] + [0.0] * (consecutive - 1)
    fired = 0.0
    for _ in range(intervals):
        nxt = [0.0] * consecutive
        nxt[0] = sum(states) * (1.0 - per_interval)
        for streak in range(consecutive):
            if streak + 1 == consecutive:
                fired += states[streak] * per_interval
            else:
                nxt[streak + 1] += states[streak] * per_interval
        states = nxt
    return fired
