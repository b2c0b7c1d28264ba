"""SLOs measured on real traffic: the Vercel drain receiver, the error-budget arithmetic, and reading
the metrics back (`slo report`, and per-deployment counts for the rollback guard).

`receiver.handler` is the Lambda entry point; it and everything it imports need only the standard
library and boto3, so this package stays importable in the Lambda runtime.
"""

from ops.slo.budget import MIN_REQUESTS_PER_WINDOW, BurnRateAlert, apdex, budget_remaining, burn_rate, burn_rate_alerts
from ops.slo.drain import Objectives, signature, signature_valid, summarize
from ops.slo.metrics import Counts, deployment_counts, window_counts
from ops.slo.receiver import METRIC_NAMESPACE, Receiver, ReceiverConfig

__all__ = [
    "METRIC_NAMESPACE",
    "MIN_REQUESTS_PER_WINDOW",
    "BurnRateAlert",
    "Counts",
    "Objectives",
    "Receiver",
    "ReceiverConfig",
    "apdex",
    "budget_remaining",
    "burn_rate",
    "burn_rate_alerts",
    "deployment_counts",
    "signature",
    "signature_valid",
    "summarize",
    "window_counts",
]
