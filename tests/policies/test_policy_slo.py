"""SLO rules: production measures real traffic through a signed drain, alarms on the error budget with
the multiwindow burn-rate alerts, and has a dashboard of the SLO metrics. Removing any of them, or
weakening one, fails the rule by name; other stacks are not held to it."""

from __future__ import annotations

from typing import Any

import pytest
from policy_harness import UNKNOWN_STRING_VALUE, Findings, config_for, run_stack_policy
from pulumi_policy import StackValidationPolicy
from resource_shapes import DELETE, StackPlan, slo_plan

from policies.slo import slo_burn_rate_alarms, slo_dashboard, slo_drain_in_production

PREFIX = "chefchatz-prod-slo"
DRAIN = f"{PREFIX}-drain"


def run(policy: StackValidationPolicy, plan: StackPlan, **config: Any) -> Findings:
    return run_stack_policy(policy, plan.resources(), config_for(policy, **config))


@pytest.fixture
def slo() -> StackPlan:
    return slo_plan("prod")


@pytest.mark.parametrize("policy", [slo_drain_in_production, slo_burn_rate_alarms, slo_dashboard], ids=lambda p: p.name)
def test_the_components_slo_resources_pass_with_their_unknowns(slo: StackPlan, policy: StackValidationPolicy) -> None:
    assert run(policy, slo) == []


@pytest.mark.parametrize("policy", [slo_drain_in_production, slo_burn_rate_alarms, slo_dashboard], ids=lambda p: p.name)
def test_a_non_production_stack_needs_none_of_it(policy: StackValidationPolicy) -> None:
    dev = StackPlan("dev").add("chefchatz-dev-topic", "aws:sns/topic:Topic", {"name": "t"})
    assert run(policy, dev) == []


def test_production_without_a_drain_is_refused(slo: StackPlan) -> None:
    run(slo_drain_in_production, slo.drop(DRAIN)).expect("production has no Vercel log drain")


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("environments", ["preview"], "does not send production logs"),
        ("deliveryFormat", "syslog", "delivers 'syslog', not json or ndjson"),
        ("sources", ["build", "lambda"], "leaves out the request sources ['static']"),
        ("secret", DELETE, "has no signing secret"),
        ("projectIds", [], "names no project"),
    ],
)
def test_each_weakened_drain_setting_is_named(slo: StackPlan, path: str, value: object, problem: str) -> None:
    findings = run(slo_drain_in_production, slo.set(DRAIN, path, value))
    findings.expect(f"log drain {DRAIN} {problem}", on=slo.urn_of(DRAIN))
    findings.expect("production has no log drain that measures its real requests")


@pytest.mark.parametrize(
    "removed",
    [f"{PREFIX}-burn-1h-5m", f"{PREFIX}-burn-6h-30m-long", f"{PREFIX}-burn-3d-6h-short"],
)
def test_removing_any_part_of_a_burn_rate_alert_fails_it(slo: StackPlan, removed: str) -> None:
    alert = removed.removeprefix(f"{PREFIX}-").removesuffix("-long").removesuffix("-short")
    findings = run(slo_burn_rate_alarms, slo.drop(removed))
    findings.expect(f"no notifying burn-rate alert {alert}")
    assert len(findings) == 1, findings


def test_a_burn_rate_threshold_above_the_budget_arithmetic_fails(slo: StackPlan) -> None:
    slo.set(f"{PREFIX}-burn-1h-5m-long", "threshold", 0.02)
    run(slo_burn_rate_alarms, slo).expect(
        "no notifying burn-rate alert burn-1h-5m: the error rate over 60 min AND over 5 min above 1.44% "
        "(14.4x a 0.1% budget over 30d)"
    )


def test_a_composite_that_notifies_nobody_does_not_count(slo: StackPlan) -> None:
    slo.set(f"{PREFIX}-burn-6h-30m", "alarmActions", [])
    run(slo_burn_rate_alarms, slo).expect("no notifying burn-rate alert burn-6h-30m")


def test_a_larger_budget_in_policy_config_moves_the_floor(slo: StackPlan) -> None:
    # 1 % over 30 d: 14.4x is 14.4 %; the planned 1.44 % alarms are stricter and still pass.
    assert run(slo_burn_rate_alarms, slo, errorBudgetPercent=1.0) == []


def test_production_without_the_dashboard_is_refused(slo: StackPlan) -> None:
    run(slo_dashboard, slo.drop(f"{PREFIX}-dashboard")).expect("production has no dashboard charting the SLO metrics")


def test_a_dashboard_without_the_slo_metrics_does_not_count(slo: StackPlan) -> None:
    slo.set(f"{PREFIX}-dashboard", "dashboardBody", '{"widgets": []}')
    run(slo_dashboard, slo).expect("production has no dashboard charting the SLO metrics")


def test_a_dashboard_body_unknown_at_preview_is_reported_as_unverifiable(slo: StackPlan) -> None:
    slo.set(f"{PREFIX}-dashboard", "dashboardBody", UNKNOWN_STRING_VALUE)
    run(slo_dashboard, slo).expect("cannot be verified before deployment")
