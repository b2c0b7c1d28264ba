"""Offline evidence from the plans: a stack's configuration is valid and the policy pack passes on it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ops.plan import StackPlan
from ops.signoff.evidence import Finding, failed, unverified, verified
from policies import approvals, monitoring, pipelines, secrets, tls
from policies import backups as backup_policies
from policies.pack import POLICIES


def policy_names(policies: Iterable[Any]) -> tuple[str, ...]:
    return tuple(p.name for p in policies)


BACKUP_POLICIES = policy_names(backup_policies.POLICIES)
TLS_POLICIES = policy_names(tls.POLICIES)
SECRET_POLICIES = policy_names(secrets.POLICIES)
MONITORING_POLICIES = policy_names(monitoring.POLICIES)
APPROVAL_POLICIES = policy_names(approvals.POLICIES)
PIPELINE_POLICIES = policy_names(pipelines.POLICIES)
SECURITY_POLICIES = SECRET_POLICIES + TLS_POLICIES + APPROVAL_POLICIES


def _plan_unusable(plan: StackPlan | None, stack: str, error: str | None = None) -> Finding | None:
    needs = f"fix the configuration, then check with `chefchatz plan --stack {stack}`"
    if error:
        return failed(f"the offline plan could not run: {error.strip().splitlines()[0]}", needs)
    if plan is None:
        return unverified(f"no offline plan of stack {stack}", f"add Pulumi.{stack}.yaml; then {needs}")
    if plan.config_error:
        first = plan.config_error.strip().splitlines()[0]
        return failed(f"stack {stack}: configuration error: {first}", needs)
    if not plan.policy_pack:
        return unverified(f"the plan of stack {stack} was made without the policy pack", needs)
    return None


def check_plan(
    plan: StackPlan | None, stack: str, expected_policies: int = len(POLICIES), error: str | None = None
) -> Finding:
    """The stack's configuration is valid, every policy ran, and none mandatory is violated.

    ``error`` is why the offline plan could not run at all (the program crashed), if it could not.
    """
    problem = _plan_unusable(plan, stack, error)
    if problem or plan is None:
        return problem or unverified(f"no plan of {stack}", f"chefchatz plan --stack {stack}")
    resources = sum(1 for r in plan.resources if r["type"] != "pulumi:pulumi:Stack")
    if plan.policies_evaluated < expected_policies:
        return failed(
            f"stack {stack}: only {plan.policies_evaluated} of {expected_policies} policies evaluated "
            "(a policy is disabled)",
            f"re-enable every policy, then `chefchatz plan --stack {stack}`",
        )
    mandatory = plan.mandatory_violations
    if mandatory:
        listed = "; ".join(f"{v.policy} on {v.urn.rsplit('::', 1)[-1] or 'the stack'}" for v in mandatory[:5])
        return failed(
            f"stack {stack}: {len(mandatory)} mandatory policy violation(s): {listed}",
            f"fix them; `chefchatz plan --stack {stack}` shows each with its message",
        )
    advisory = len(plan.violations)
    return verified(
        f"plan of {stack}: {resources} resources, {plan.policies_evaluated} policies evaluated "
        f"({plan.policy_pack}), 0 mandatory violations" + (f", {advisory} advisory" if advisory else "")
    )


def check_policies(
    plan: StackPlan | None,
    stack: str,
    names: Sequence[str],
    label: str,
    any_enforcement: bool = False,
    error: str | None = None,
) -> Finding:
    """None of the named policies (one area of the pack) reports a violation on the stack's plan."""
    problem = _plan_unusable(plan, stack, error)
    if problem or plan is None:
        return problem or unverified(f"no plan of {stack}", f"chefchatz plan --stack {stack}")
    if not names:
        return unverified(f"the policy pack has no {label} policies", f"add {label} policies to policies/")
    hits = [v for v in plan.violations if v.policy in names and (any_enforcement or v.enforcement == "mandatory")]
    if hits:
        listed = "; ".join(f"[{v.enforcement}] {v.policy}: {v.message.splitlines()[0]}" for v in hits[:5])
        return failed(
            f"stack {stack}: {len(hits)} {label} policy violation(s): {listed}",
            f"fix them; `chefchatz plan --stack {stack}` shows each in full",
        )
    listed = f" ({', '.join(names)})" if len(names) <= 5 else ""
    if len(names) == 1:
        return verified(f"{stack}: the {label} policy passes{listed}")
    return verified(f"{stack}: all {len(names)} {label} policies pass{listed}")


def plan_domains(plan: StackPlan | None) -> list[str]:
    """The domains a stack's plan attaches to its Vercel project."""
    return [
        r["properties"]["domain"]
        for r in (plan.resources if plan else [])
        if r["type"] == "vercel:index/projectDomain:ProjectDomain" and isinstance(r["properties"].get("domain"), str)
    ]
