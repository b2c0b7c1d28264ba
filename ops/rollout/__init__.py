"""Canary releases on Vercel driven by the SLOs: compare the canary of a rolling release with the stable
deployment on real traffic each step, then promote the next stage, hold, or abort (`chefchatz rollout`).

`compare` owns the statistical rule (pure); `controller` drives Vercel's rolling-release API with it.
"""

from ops.rollout.compare import Action, Comparison, Judgement, Rules, State, judge, next_action, worse_p_value
from ops.rollout.controller import (
    ExitCode,
    IntervalRecord,
    MetricsUnavailable,
    Outcome,
    RolloutSettings,
    Traffic,
    watch,
)

__all__ = [
    "Action",
    "Comparison",
    "ExitCode",
    "IntervalRecord",
    "Judgement",
    "MetricsUnavailable",
    "Outcome",
    "RolloutSettings",
    "Rules",
    "State",
    "Traffic",
    "judge",
    "next_action",
    "watch",
    "worse_p_value",
]
