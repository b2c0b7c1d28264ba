"""Loopback stand-ins for `rollout watch`: Vercel's rolling-release API and the SLO drain's metrics.

The Vercel stand-in is the project's one (``tests/standins/vercel.py``: the operations of Vercel's official
SDK, ``@vercel/sdk`` pinned in ``tests/contracts/node``, serving no field the SDK's schema lacks);
``FakeRollingRelease`` is that stand-in arranged with one project whose production deployment STABLE is
being replaced by CANARY through a rolling release (``getRollingRelease``, ``startRollingRelease``,
``approveRollingReleaseStage``, ``completeRollingRelease``; an instant rollback to STABLE while the release
is active aborts it, as ``vercel rolling-release abort`` does). Tests inject failures, make reads lag behind
writes (``stale_reads``), as an eventually consistent API may, and read every exchange back (``calls``).

A module, not a conftest, so that ``benchmarks/rollout.py`` can load it by path.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from typing import Any

from ops.slo import Counts
from tests.standins.vercel import FakeVercel, serve

__all__ = ["CANARY", "PROJECT", "STABLE", "TOKEN", "FakeRollingRelease", "serve"]

TOKEN = "rollout-test-token-not-a-secret-0815"
PROJECT = "prj_chefchatz"
STABLE = "dpl_stable"
CANARY = "dpl_canary"


class FakeRollingRelease(FakeVercel):
    """The Vercel stand-in with PROJECT, STABLE in production, and a rolling release of CANARY.

    ``state``, ``canary``, ``active_stage_index``, ``stages`` and ``stale_reads`` are the release's
    (``self.release``), and tests set them to arrange what Vercel shows.
    """

    def __init__(
        self,
        stages: tuple[int, ...] = (5, 25, 50, 100),
        state: str | None = "ACTIVE",
        active_stage_index: int = 0,
        clock: Callable[[], float] = lambda: 0.0,
    ) -> None:
        super().__init__(TOKEN, clock)
        self.add_project(PROJECT, "chefchatz")
        self.add_deployment(STABLE, PROJECT, 1_764_750_000_000, f"{STABLE}.vercel.app", production=True)
        self.add_deployment(CANARY, PROJECT, 1_764_756_000_000, f"{CANARY}.vercel.app")
        self.release = self.add_rolling_release(
            PROJECT, CANARY, stages=stages, state=state, active_stage_index=active_stage_index
        )

    def use_deployments(self, canary: str, stable: str) -> None:
        """Roll ``canary`` out over ``stable`` (in production), both new deployments of PROJECT."""
        self.add_deployment(stable, PROJECT, 1_764_750_000_000, f"{stable}.vercel.app", production=True)
        self.add_deployment(canary, PROJECT, 1_764_756_000_000, f"{canary}.vercel.app", aliased_to_production=False)
        self.release.canary, self.release.stable = canary, stable

    def document(self) -> dict[str, Any] | None:
        """The rolling release as Vercel documents it (``rollingRelease`` of getRollingRelease's answer)."""
        return self.release_document(PROJECT)

    @property
    def percentage(self) -> int:
        return self.release.percentage

    @property
    def stable(self) -> str:
        return self.release.stable

    @property
    def state(self) -> str | None:
        return self.release.state

    @state.setter
    def state(self, value: str | None) -> None:
        self.release.state = value

    @property
    def canary(self) -> str:
        return self.release.canary

    @canary.setter
    def canary(self, value: str) -> None:
        self.release.canary = value

    @property
    def active_stage_index(self) -> int:
        return self.release.active_stage_index

    @active_stage_index.setter
    def active_stage_index(self, value: int) -> None:
        self.release.active_stage_index = value

    @property
    def stages(self) -> tuple[int, ...]:
        return self.release.stages

    @stages.setter
    def stages(self, value: tuple[int, ...]) -> None:
        self.release.stages = value

    @property
    def stale_reads(self) -> int:
        return self.release.stale_reads

    @stale_reads.setter
    def stale_reads(self, value: int) -> None:
        self.release.stale_reads = value


# --- the metrics ----------------------------------------------------------------------------------


@dataclass
class Profile:
    """What a deployment's real requests get: shares of 5xx, slower than the p95 objective / rollback."""

    error_rate: float = 0.002
    slow_share: float = 0.02  # over the p95 objective (200 ms)
    slow_rollback_share: float = 0.002  # over the rollback response time (1000 ms)
    transactions_per_request: float = 0.2
    failed_transaction_rate: float = 0.0002


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: inversion for small means, the normal approximation above (fast and close)."""
    if mean <= 0:
        return 0
    if mean > 500:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, k, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        k += 1
        product *= rng.random()
    return k


def _binomial(rng: random.Random, n: int, p: float) -> int:
    return min(n, _poisson(rng, n * p))


@dataclass
class FakeMetrics:
    """The drain's per-deployment counts: ``rps`` production requests split by the live stage percentage.

    ``canary_from`` switches the canary to ``bad`` at that clock time (the benchmark's threshold
    crossing): a window that straddles it holds good and bad requests in proportion, as the drain would
    count them. ``latency_noise`` is the spread (log-normal sigma) of each deployment's slow shares from
    one minute to the next -- real latency wanders with load and cold starts, which a Poisson count alone
    would understate. ``reads`` records every query.
    """

    release: FakeRollingRelease
    rps: float = 50.0
    stable: Profile = field(default_factory=Profile)
    canary: Profile = field(default_factory=Profile)
    bad: Profile | None = None
    canary_from: float = math.inf
    latency_noise: float = 0.0
    seed: int = 0
    reads: list[tuple[str, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def __call__(self, deployment_id: str, window_s: float) -> Counts:
        self.reads.append((deployment_id, window_s))
        share = self.release.percentage / 100
        is_canary = deployment_id == self.release.canary
        if not is_canary:
            share = 1 - share
        requests = _poisson(self.rng, self.rps * window_s * share)
        if not is_canary:
            return self._draw(requests, self.stable, window_s)
        after = min(1.0, max(0.0, (self.release.clock() - self.canary_from) / window_s))
        if self.bad is None or after == 0.0:
            return self._draw(requests, self.canary, window_s)
        bad = _binomial(self.rng, requests, after)
        good, worse = self._draw(requests - bad, self.canary, window_s), self._draw(bad, self.bad, window_s)
        return Counts(*(a + b for a, b in zip(astuple(good), astuple(worse), strict=True)))

    def _draw(self, requests: int, profile: Profile, window_s: float) -> Counts:
        # Independent wander per minute: over a window of m minutes the mean wanders sigma / sqrt(m).
        sigma = self.latency_noise / math.sqrt(max(1.0, window_s / 60.0))
        wander = math.exp(self.rng.gauss(0.0, sigma)) if sigma else 1.0
        transactions = _poisson(self.rng, requests * profile.transactions_per_request)
        return Counts(
            requests=requests,
            server_errors=_binomial(self.rng, requests, profile.error_rate),
            transactions=transactions,
            failed_transactions=_binomial(self.rng, transactions, profile.failed_transaction_rate),
            slow_over_p95=_binomial(self.rng, requests, min(1.0, profile.slow_share * wander)),
            slow_over_rollback=_binomial(self.rng, requests, min(1.0, profile.slow_rollback_share * wander)),
        )


class VirtualClock:
    """Time that passes only when the controller sleeps: a 40-minute rollout runs in milliseconds."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
