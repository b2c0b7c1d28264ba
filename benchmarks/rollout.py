"""Rollout: how fast a canary that crosses a threshold is aborted, and false aborts of healthy canaries.

Both parts run the real controller (``ops.rollout.watch``) with its default rule (1-minute judgements,
10-minute steps, 99 % confidence, margin 1.5, at least 100 requests a side) against the project's one
Vercel stand-in (``tests/standins/vercel.py``, arranged by ``tests/rollout/standins.py``) over real HTTP on
127.0.0.1, on a virtual clock (the controller sleeps on it), with the drain's per-deployment counts drawn
from the metric stand-in: ``--rps`` production requests a second split by the live stage percentage.

1. **Time to abort** (goal: <= 2 evaluation intervals). ``--runs`` rollouts of a healthy canary that
   turns bad at a random moment of a random stage before 100 % (5xx 0.2 % -> ``--bad-error-rate``,
   above the spec's 1 % trigger); measured from that moment to the arrival of the abort call (the
   instant rollback to the stable deployment) at the stand-in, in intervals. A window straddling the
   crossing holds good and bad requests in proportion, as the drain would count them.
2. **False aborts** (goal: 0). ``--stages`` healthy stages (canary and stable alike: 0.2 % 5xx, 3 % of
   requests over the p95 objective, 0.2 % over 1000 ms, 0.02 % failed transactions), each a rollout of
   a random first stage (5, 25 or 50 %) judged for a full step then completed, with *noisy latency*:
   every read draws each deployment's slow shares anew, log-normally spread by ``--latency-noise``.

    .venv/bin/python benchmarks/rollout.py --runs 200 --stages 200 --seed 1
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ops.rollback.vercel_api import VercelClient  # noqa: E402
from ops.rollout import RolloutSettings, watch  # noqa: E402 - after the path is set

INTERVAL_S, STEP_S = 60.0, 600.0


def load_standins() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rollout_standins", ROOT / "tests/rollout/standins.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def one_rollout(s: ModuleType, stages: tuple[int, ...], **metrics: object) -> tuple[str, Any]:
    """Run the controller once: the outcome's action and the release stand-in (its calls)."""
    clock = s.VirtualClock()
    release = s.FakeRollingRelease(clock=clock, stages=stages)
    server = s.serve(release)
    os.environ["VERCEL_API_URL"], os.environ["VERCEL_TOKEN"] = release.url, s.TOKEN
    try:
        settings = RolloutSettings(
            project_id=s.PROJECT, step_s=STEP_S, interval_s=INTERVAL_S, verify_timeout_s=30, verify_poll_s=1
        )
        with VercelClient.from_env() as client:
            outcome = watch(client, settings, s.FakeMetrics(release, **metrics), sleep=clock.sleep, clock=clock)
    finally:
        server.shutdown()
        server.server_close()
    return outcome.action, release


def time_to_abort(
    s: ModuleType, runs: int, rps: float, bad_error_rate: float, rng: random.Random
) -> list[tuple[int, float]]:
    """(stage percentage, intervals from the crossing to the abort call) per run; inf when not aborted."""
    found = []
    for _ in range(runs):
        stage = rng.randrange(3)  # 5, 25 or 50 %
        crossing = stage * STEP_S + rng.uniform(0.0, STEP_S)
        action, release = one_rollout(
            s,
            (5, 25, 50, 100),
            rps=rps,
            bad=s.Profile(error_rate=bad_error_rate),
            canary_from=crossing,
            seed=rng.randrange(2**32),
        )
        aborts = [c.at for c in release.posts(f"/rollback/{s.STABLE}")]
        delay = (aborts[0] - crossing) / INTERVAL_S if action == "aborted" and aborts else float("inf")
        found.append(((5, 25, 50)[stage], delay))
    return found


def false_aborts(s: ModuleType, stages: int, rps: float, noise: float, rng: random.Random) -> dict[str, int]:
    healthy = s.Profile(error_rate=0.002, slow_share=0.03, slow_rollback_share=0.002)
    counts: dict[str, int] = {}
    for _ in range(stages):
        first = rng.choice((5, 25, 50))
        action, _ = one_rollout(
            s, (first, 100), rps=rps, stable=healthy, canary=healthy, latency_noise=noise, seed=rng.randrange(2**32)
        )
        counts[action] = counts.get(action, 0) + 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="rollouts whose canary turns bad")
    parser.add_argument("--stages", type=int, default=200, help="healthy stages with noisy latency")
    parser.add_argument("--rps", type=float, default=50.0, help="production requests per second")
    parser.add_argument("--bad-error-rate", type=float, default=0.03, help="the bad canary's 5xx share")
    parser.add_argument("--latency-noise", type=float, default=0.3, help="log-normal sigma of the slow shares")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    standins = load_standins()
    rng = random.Random(args.seed)

    results = time_to_abort(standins, args.runs, args.rps, args.bad_error_rate, rng)
    print(
        f"time to abort, in {INTERVAL_S:g}s intervals ({args.runs} bad canaries, 5xx 0.2% -> "
        f"{args.bad_error_rate:.1%} at a random moment, {args.rps:g} req/s):"
    )
    for label, percentages in (("all stages", (5, 25, 50)), ("at 5 %", (5,)), ("at 25 %", (25,)), ("at 50 %", (50,))):
        delays = [d for p, d in results if p in percentages]
        caught = sorted(d for d in delays if d != float("inf"))
        if not caught:
            print(f"  {label}: none of {len(delays)} aborted")
            continue
        p95 = caught[max(0, round(0.95 * len(caught)) - 1)]
        print(
            f"  {label}: median {statistics.median(caught):.2f}, p95 {p95:.2f}, "
            f"max {caught[-1]:.2f}; within 2 intervals {sum(d <= 2 for d in caught)} of {len(delays)}; "
            f"not aborted by the rollout {len(delays) - len(caught)}"
        )
    outcomes = false_aborts(standins, args.stages, args.rps, args.latency_noise, rng)
    print(
        f"false aborts: {outcomes.get('aborted', 0)} of {args.stages} healthy stages with noisy latency "
        f"(sigma {args.latency_noise:g}); outcomes {dict(sorted(outcomes.items()))}"
    )


if __name__ == "__main__":
    main()
