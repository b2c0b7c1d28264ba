"""Detection latency of the rollback guard: from the moment a fault starts to the rollback request.

Starts the loopback stand-ins from ``tests/rollback/conftest.py`` (the app under watch and the Vercel
API, both on 127.0.0.1), runs the real guard (``ops.rollback.guard``) with a short interval, lets it see
a healthy app for a while, then makes ``/api/health`` answer 500 at a known instant whose phase against
the probe schedule is random. The latency is measured to the arrival of ``POST
/v1/projects/{id}/rollback/{deploymentId}`` at the Vercel stand-in, and reported per run and as
min/median/max, in seconds and in intervals. Columns: "fault phase" is how long after the last healthy
probe round the fault started; "probe->POST" is the time from the probe round that completed the
breaching streak to the rollback request (the probe itself plus the API reads before the POST).

Theory: a fault is first seen by the next probe round, 0..1 interval after it starts, and the guard fires
on the ``consecutive``-th breaching round, so detection lies in ((consecutive - 1) x interval,
consecutive x interval], about (consecutive - 0.5) x interval on average, plus the probe and the API
calls before the POST (project, deployment listing).

    .venv/bin/python benchmarks/rollback_detection.py --runs 10 --interval 0.2 --consecutive 2
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ops import rollback as rb  # noqa: E402 - after the path is set, so the script runs from anywhere
from ops.vercel_api import VercelClient  # noqa: E402


def load_standins() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rollback_standins", ROOT / "tests/rollback/conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def one_run(
    standins: ModuleType, interval: float, consecutive: int, warmup: float
) -> tuple[float, float, float]:
    """Seconds: (fault -> rollback POST, last healthy probe -> fault, deciding probe -> rollback POST)."""
    vercel, vercel_server = standins.start_vercel()
    app, app_server = standins.start_app()
    try:
        standins.arrange_project(vercel, app.url)
        settings = rb.WatchSettings(
            deployment_url=app.url,
            window_s=warmup + interval * (consecutive + 10),
            interval_s=interval,
            timeout_s=interval * 0.75,
            consecutive=consecutive,
        )
        ctx = rb.RollbackContext(
            project_id=standins.PROJECT, deployment_id="dpl_bad", actor="benchmark", verify_poll_s=0.02
        )
        outcomes: list[rb.Outcome] = []

        def client() -> VercelClient:
            return VercelClient(standins.TOKEN, base_url=vercel.url)

        guard = threading.Thread(target=lambda: outcomes.append(rb.guard(settings, ctx, True, client)))
        guard.start()
        time.sleep(warmup + random.uniform(0, interval))
        with app.lock:
            app.status["/api/health"] = 500
            fault_at = time.monotonic()
            last_probe = max(at for path, at in app.hits if path == "/api/health")
        guard.join()
        (outcome,) = outcomes
        if outcome.action != "rolled-back":
            raise RuntimeError(f"run did not roll back: {outcome.action} {outcome.error or outcome.message}")
        (post,) = vercel.rollback_posts
        after_fault = sorted(at for path, at in app.hits if path == "/api/health" and at > fault_at)
        deciding_probe = after_fault[consecutive - 1]
        return post.at - fault_at, fault_at - last_probe, post.at - deciding_probe
    finally:
        for server in (app_server, vercel_server):
            server.shutdown()
            server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.2, help="probe interval in seconds")
    parser.add_argument("--consecutive", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=0.6, help="healthy seconds before the fault")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    random.seed(args.seed)
    standins = load_standins()

    interval, consecutive = args.interval, args.consecutive
    print(f"rollback detection latency: interval {interval:g}s, consecutive {consecutive}, {args.runs} runs")
    print(f"{'run':>3}  {'fault phase':>11}  {'detection':>9}  {'intervals':>9}  {'probe->POST':>11}")
    latencies = []
    for run in range(1, args.runs + 1):
        latency, phase, tail = one_run(standins, interval, consecutive, args.warmup)
        latencies.append(latency)
        print(f"{run:>3}  {phase:>10.3f}s  {latency:>8.3f}s  {latency / interval:>9.2f}  {tail:>10.3f}s")

    low, mid, high = min(latencies), statistics.median(latencies), max(latencies)
    print(
        f"min {low:.3f}s ({low / interval:.2f} intervals)  "
        f"median {mid:.3f}s ({mid / interval:.2f} intervals)  "
        f"max {high:.3f}s ({high / interval:.2f} intervals)"
    )
    earliest, latest = (consecutive - 1) * interval, consecutive * interval
    print(
        f"theory: ({consecutive - 1} .. {consecutive}] intervals = ({earliest:.3f}s .. {latest:.3f}s], "
        f"mean {consecutive - 0.5:g} intervals, plus probe and API round trips"
    )


if __name__ == "__main__":
    main()
