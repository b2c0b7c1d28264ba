"""Canary rule: production deploys through a manually approved Vercel rolling release with at least two
stages before 100 %. Removing it, or weakening it, fails the rule by name; other stacks are not held to it."""

from __future__ import annotations

from typing import Any

import pytest
from policy_harness import UNKNOWN_STRING_VALUE, Findings, config_for, run_stack_policy
from resource_shapes import StackPlan

from policies.rollout import ROLLING_RELEASE, rolling_release_in_production

NAME = "chefchatz-prod-app-rolling-release"


def plan(stack: str = "prod", **props: Any) -> StackPlan:
    """The component's rolling release; its project id is unknown until the project exists."""
    return StackPlan(stack).add(
        NAME,
        ROLLING_RELEASE,
        {
            "projectId": UNKNOWN_STRING_VALUE,
            "teamId": "chefchatz",
            "advancementType": "manual-approval",
            "stages": [{"targetPercentage": p} for p in (5, 25, 50, 100)],
            **props,
        },
    )


def run(stack_plan: StackPlan, **config: Any) -> Findings:
    return run_stack_policy(
        rolling_release_in_production, stack_plan.resources(), config_for(rolling_release_in_production, **config)
    )


def test_the_components_rolling_release_passes_with_its_unknown_project_id() -> None:
    assert run(plan()) == []


def test_production_without_a_rolling_release_fails_the_gate() -> None:
    prod = StackPlan("prod").add("chefchatz-prod-topic", "aws:sns/topic:Topic", {"name": "t"})
    run(prod).expect("production has no Vercel rolling release")


def test_other_stacks_may_deploy_to_100_percent_at_once() -> None:
    dev = StackPlan("dev").add("chefchatz-dev-topic", "aws:sns/topic:Topic", {"name": "t"})
    assert run(dev) == []


@pytest.mark.parametrize(
    ("props", "problem"),
    [
        ({"advancementType": "automatic"}, "advances 'automatic', not 'manual-approval'"),
        ({"stages": [{"targetPercentage": 50}, {"targetPercentage": 100}]}, "has 1 stage(s) before 100 % ([50, 100])"),
        ({"stages": [{"targetPercentage": 5}, {"targetPercentage": 50}]}, "stages [5, 50] do not end at 100"),
        (
            {"stages": [{"targetPercentage": p} for p in (25, 5, 100)]},
            "stages [25, 5, 100] do not increase strictly",
        ),
    ],
)
def test_each_weakened_setting_is_named(props: dict[str, Any], problem: str) -> None:
    weak = plan(**props)
    findings = run(weak)
    findings.expect(f"rolling release {NAME} {problem}", on=weak.urn_of(NAME))
    findings.expect("production has no rolling release that the SLO judge drives through enough stages")


def test_the_floor_of_stages_is_pack_config() -> None:
    run(plan(), minStagesBefore100=4).expect("has 3 stage(s) before 100 % ([5, 25, 50, 100]); at least 4")
