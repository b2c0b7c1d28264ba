"""Reading the receiver's metrics back from CloudWatch: window totals per stack or per deployment.

`deployment_counts` is the public entry point the rollback guard is meant to use: what one
deployment's real requests got over a window (requests, 5xx, failed transactions, slow requests).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from ops.slo.drain import COUNTERS
from ops.slo.receiver import METRIC_NAMESPACE


@dataclass(frozen=True)
class Counts:
    """Sums over one window of the counters the receiver writes (names as in `drain.COUNTERS`)."""

    requests: int = 0
    server_errors: int = 0
    transactions: int = 0
    failed_transactions: int = 0
    apdex_satisfied: int = 0
    apdex_tolerating: int = 0
    slow_over_p95: int = 0
    slow_over_p99: int = 0
    slow_over_rollback: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def _period(window: timedelta) -> int:
    """One GetMetricData period covering the whole window (a multiple of 60 s, as required)."""
    seconds = int(window.total_seconds())
    if seconds < 60:
        raise ValueError(f"window must be at least 60s, got {seconds}s")
    return -(-seconds // 60) * 60


def window_counts(
    cloudwatch: Any,
    stack: str,
    end: datetime,
    window: timedelta,
    deployment_id: str | None = None,
    namespace: str = METRIC_NAMESPACE,
) -> Counts:
    """Sum each counter over [end - window, end) for the stack, or one of its deployments.

    `stack` is the receiver's namespace owner either way; a deployment's series is keyed by its
    (globally unique) Vercel deployment id alone.
    """
    if deployment_id is None:
        dimensions = [{"Name": "Stack", "Value": stack}]
    else:
        dimensions = [{"Name": "DeploymentId", "Value": deployment_id}]
    period = _period(window)
    queries = [
        {
            "Id": f"m{index}",
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
                "Period": period,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for index, name in enumerate(COUNTERS)
    ]
    totals = dict.fromkeys(COUNTERS.values(), 0)
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": end - window, "EndTime": end}
        if token:
            kwargs["NextToken"] = token
        response = cloudwatch.get_metric_data(**kwargs)
        for result in response["MetricDataResults"]:
            attribute = list(COUNTERS.values())[int(result["Id"][1:])]
            totals[attribute] += round(sum(result.get("Values", [])))
        token = response.get("NextToken")
        if not token:
            return Counts(**totals)


def deployment_counts(cloudwatch: Any, stack: str, deployment_id: str, end: datetime, window: timedelta) -> Counts:
    """What the real requests of one deployment got over the window ending at `end`.

    For the rollback guard: error rate = server_errors / requests, failed-transaction rate =
    failed_transactions / transactions, and "p95 above the rollback trigger" = slow_over_rollback
    > 5 % of requests (the SLO's "p95 above the objective" is slow_over_p95 > 5 %). Callers should
    require a minimum request count before judging (see `budget.MIN_REQUESTS_PER_WINDOW`): a quiet
    minute proves nothing either way.
    """
    return window_counts(cloudwatch, stack, end, window, deployment_id=deployment_id)
