"""Rollback: the post-deploy guard and the on-demand rollback of production on Vercel.

Owns: the guard that probes a new production deployment and decides each interval on evidence
(`guard`), the exact binomial rule behind that evidence (`evidence`), and the Vercel REST client that
lists deployments and rolls back (`vercel_api`). `cli` is `chefchatz rollback watch|now`.
"""

from ops.rollback.evidence import (
    binomial_upper_tail,
    breach_count,
    clopper_pearson_lower,
    exceeds,
    minimum_samples,
    run_probability,
)
from ops.rollback.guard import DEFAULT_CONFIDENCE, ExitCode, Thresholds, read_audit
from ops.rollback.vercel_api import (
    AliasRequest,
    Deployment,
    Project,
    VercelApiError,
    VercelClient,
    VercelConfigError,
    VercelError,
)

__all__ = [
    "DEFAULT_CONFIDENCE",
    "AliasRequest",
    "Deployment",
    "ExitCode",
    "Project",
    "Thresholds",
    "VercelApiError",
    "VercelClient",
    "VercelConfigError",
    "VercelError",
    "binomial_upper_tail",
    "breach_count",
    "clopper_pearson_lower",
    "exceeds",
    "minimum_samples",
    "read_audit",
    "run_probability",
]
