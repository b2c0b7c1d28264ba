"""Rollback: the post-deploy guard and the on-demand rollback of production on Vercel.

Owns: the guard that probes a new production deployment and decides each interval on evidence
(`guard`: the watch loop and acting on its outcome; `settings`: its options, defaults and evidence plan;
`probes`: sampling and an interval's counts; `verdicts`: evidence, verdicts and streaks), the exact
binomial rule behind that evidence (`evidence`), rolling production back once it fires or on demand,
with its audit and notifications (`action`), and the Vercel REST client that lists deployments and rolls
back (`vercel_api`). `cli` is `chefchatz rollback watch|now`.
"""

from ops.rollback.action import (
    MAX_DESCRIPTION_CHARS,
    ExitCode,
    append_audit,
    check_notify_target,
    default_actor,
    read_audit,
    send_notifications,
)
from ops.rollback.evidence import (
    binomial_upper_tail,
    breach_count,
    clopper_pearson_lower,
    exceeds,
    minimum_samples,
    run_probability,
)
from ops.rollback.settings import (
    DEFAULT_CONFIDENCE,
    Thresholds,
    format_percent,
    parse_duration,
    parse_percent,
)
from ops.rollback.vercel_api import (
    AliasRequest,
    Deployment,
    Project,
    ReleaseStage,
    RollingRelease,
    VercelApiError,
    VercelClient,
    VercelConfigError,
    VercelError,
)
from ops.rollback.verdicts import evaluate_traffic

__all__ = [
    "DEFAULT_CONFIDENCE",
    "MAX_DESCRIPTION_CHARS",
    "AliasRequest",
    "Deployment",
    "ExitCode",
    "Project",
    "ReleaseStage",
    "RollingRelease",
    "Thresholds",
    "VercelApiError",
    "VercelClient",
    "VercelConfigError",
    "VercelError",
    "append_audit",
    "binomial_upper_tail",
    "breach_count",
    "check_notify_target",
    "clopper_pearson_lower",
    "default_actor",
    "evaluate_traffic",
    "exceeds",
    "format_percent",
    "minimum_samples",
    "parse_duration",
    "parse_percent",
    "read_audit",
    "run_probability",
    "send_notifications",
]
