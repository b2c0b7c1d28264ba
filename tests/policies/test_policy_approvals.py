"""Approval rules: both production gates, environment protection, protected deploy refs, the
default branch's ruleset and which stack owns it."""

from __future__ import annotations

from typing import Any

import pytest
from policy_harness import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_STRING_VALUE,
    Findings,
    config_for,
    run_resource_policy,
    run_stack_policy,
    urn,
)
from resource_shapes import (
    DELETE,
    PRODUCT_OWNER_TEAM,
    TECH_LEAD_TEAM,
    StackPlan,
    deployment_policy,
    github_environment,
    github_plan,
    main_ruleset,
    set_path,
    tag_ruleset,
)

from policies.approvals import (
    default_branch_rules,
    default_branch_rules_owner,
    environment_protection,
    production_deploys_from_protected_refs,
    production_needs_every_approver,
)
from policies.common import GITHUB_DEPLOY_POLICY, GITHUB_ENVIRONMENT, GITHUB_RULESET

TECH_LEAD_ENV = "chefchatz-prod-github-env-production-tech-lead"
PRODUCTION_ENV = "chefchatz-prod-github-env-production"
MAIN_RULES = "chefchatz-prod-github-main-rules"


def gates(plan: StackPlan, **config: Any) -> Findings:
    return run_stack_policy(
        production_needs_every_approver, plan.resources(), config_for(production_needs_every_approver, **config)
    )


# --- production-needs-every-approver -------------------------------------------------------------


def test_production_deploys_need_tech_lead_and_product_owner_gates(prod_github: StackPlan) -> None:
    assert gates(prod_github) == []


def test_team_ids_arrive_as_floats_and_still_count_as_two_teams(prod_github: StackPlan) -> None:
    prod_github.set(TECH_LEAD_ENV, "reviewers.0.teams", [float(TECH_LEAD_TEAM)])
    assert gates(prod_github) == []


def test_environment_reviewers_listed_together_is_an_or_not_an_and(prod_github: StackPlan) -> None:
    """GitHub lets any ONE listed reviewer approve: both teams on `production` is a single gate."""
    prod_github.drop(TECH_LEAD_ENV)
    prod_github.set(PRODUCTION_ENV, "reviewers", [{"teams": [TECH_LEAD_TEAM, PRODUCT_OWNER_TEAM]}])
    findings = gates(prod_github)
    findings.expect("lists 2 reviewers, but GitHub accepts any ONE of them", on=prod_github.urn_of(PRODUCTION_ENV))
    findings.expect("need 2 separate approval gates", on=None)


def test_a_team_and_a_user_on_one_environment_are_also_an_or(prod_github: StackPlan) -> None:
    prod_github.set(PRODUCTION_ENV, "reviewers", [{"teams": [PRODUCT_OWNER_TEAM]}, {"users": [4242]}])
    gates(prod_github).expect("lists 2 reviewers", on=prod_github.urn_of(PRODUCTION_ENV))


def test_production_with_one_approval_gate_is_refused(prod_github: StackPlan) -> None:
    prod_github.drop(TECH_LEAD_ENV)
    finding = gates(prod_github).expect("need 2 separate approval gates", on=None)
    assert "found 1 gated environment(s): production" in finding.message


def test_two_gates_held_by_the_same_team_are_one_approver(prod_github: StackPlan) -> None:
    prod_github.set(TECH_LEAD_ENV, "reviewers", [{"teams": [PRODUCT_OWNER_TEAM]}])
    gates(prod_github).expect("need 2 separate approval gates", on=None)


def test_an_ungated_extra_environment_is_not_a_gate(prod_github: StackPlan) -> None:
    prod_github.set(TECH_LEAD_ENV, "reviewers", None)
    gates(prod_github).expect("found 1 gated environment(s): production", on=None)


def test_the_deploy_environment_itself_must_be_named_production(prod_github: StackPlan) -> None:
    prod_github.set(PRODUCTION_ENV, "environment", "production-product-owner")
    gates(prod_github).expect("no GitHub environment named 'production'", on=None)


def test_production_stack_without_a_production_environment_is_refused() -> None:
    plan = StackPlan("prod").add("chefchatz-prod-github-env-prod", GITHUB_ENVIRONMENT, github_environment("prod"))
    gates(plan).expect("production stack has no 'production' GitHub environment", on=None)


def test_other_stacks_need_no_production_gates() -> None:
    assert gates(github_plan("staging")) == []
    assert gates(github_plan("dev")) == []


def test_stacks_named_production_by_config_need_both_gates() -> None:
    gates(github_plan("staging"), productionStacks=["prod", "staging"]).expect(
        "production stack has no 'production' GitHub environment"
    )


def test_required_gate_count_and_environment_name_are_configurable(prod_github: StackPlan) -> None:
    prod_github.drop(TECH_LEAD_ENV)
    assert gates(prod_github, requiredApprovalGates=1) == []
    gates(prod_github, productionEnvironment="live").expect("production stack has no 'live' GitHub environment")


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("environment", UNKNOWN_STRING_VALUE),
        ("reviewers", UNKNOWN_ARRAY_VALUE),
        ("reviewers.0.teams.0", UNKNOWN_NUMBER_VALUE),
    ],
)
def test_approval_gates_unknown_at_preview_are_reported(prod_github: StackPlan, path: str, unknown: str) -> None:
    prod_github.set(TECH_LEAD_ENV, path, unknown)
    gates(prod_github).expect_unverifiable(path=path)


# --- environment-protection ----------------------------------------------------------------------


def protection(props: dict[str, Any], stack: str = "prod", **config: Any) -> Findings:
    return run_resource_policy(
        environment_protection,
        GITHUB_ENVIRONMENT,
        props,
        stack=stack,
        name="chefchatz-env",
        config=config_for(environment_protection, **config),
    )


ENV_URN = urn(GITHUB_ENVIRONMENT, "chefchatz-env")


def test_gated_environment_prevents_self_review_and_admin_bypass() -> None:
    assert protection(github_environment("production", PRODUCT_OWNER_TEAM)) == []


@pytest.mark.parametrize("value", [False, DELETE])
def test_gated_environment_must_prevent_self_review(value: object) -> None:
    """GitHub's default is false: an approver could approve their own deployment."""
    props = github_environment("production", PRODUCT_OWNER_TEAM)
    set_path(props, "preventSelfReview", value)
    protection(props).expect("environment 'production': preventSelfReview must be true", on=ENV_URN)


@pytest.mark.parametrize("value", [True, DELETE])
def test_gated_environment_must_not_let_admins_bypass(value: object) -> None:
    """GitHub's default is true: an admin could deploy without any approval."""
    props = github_environment("production", PRODUCT_OWNER_TEAM)
    set_path(props, "canAdminsBypass", value)
    protection(props).expect("environment 'production': canAdminsBypass must be false", on=ENV_URN)


def test_ungated_production_environment_still_forbids_admin_bypass() -> None:
    props = github_environment("production")
    set_path(props, "canAdminsBypass", True)
    findings = protection(props)
    findings.expect("canAdminsBypass must be false", on=ENV_URN)
    assert findings.with_text("preventSelfReview") == [], "no reviewers, so self-review cannot happen"


def test_ungated_environment_outside_production_is_not_judged() -> None:
    props = github_environment("staging")
    set_path(props, "canAdminsBypass", True)
    assert protection(props, stack="staging") == []
    protection(props, stack="staging", productionStacks=["prod", "staging"]).expect("canAdminsBypass must be false")


def test_environment_protection_ignores_other_resources() -> None:
    findings = run_resource_policy(environment_protection, GITHUB_RULESET, {"canAdminsBypass": True})
    assert findings == []


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("preventSelfReview", UNKNOWN_BOOLEAN_VALUE),
        ("canAdminsBypass", UNKNOWN_BOOLEAN_VALUE),
        ("reviewers", UNKNOWN_ARRAY_VALUE),
    ],
)
def test_environment_protection_unknown_at_preview_is_reported(path: str, unknown: str) -> None:
    props = github_environment("production", PRODUCT_OWNER_TEAM)
    set_path(props, path, unknown)
    protection(props).expect_unverifiable(on=ENV_URN, path=path)


# --- production-deploys-from-protected-refs ------------------------------------------------------


def refs(plan: StackPlan, **config: Any) -> Findings:
    return run_stack_policy(
        production_deploys_from_protected_refs,
        plan.resources(),
        config_for(production_deploys_from_protected_refs, **config),
    )


def test_production_deploys_only_from_main_and_release_tags(prod_github: StackPlan) -> None:
    assert refs(prod_github) == []


def test_production_may_rely_on_githubs_protected_branches(prod_github: StackPlan) -> None:
    for env in (TECH_LEAD_ENV, PRODUCTION_ENV):
        prod_github.set(env, "deploymentBranchPolicy", {"protectedBranches": True, "customBranchPolicies": False})
    prod_github.drop(*prod_github.of_type(GITHUB_DEPLOY_POLICY))
    assert refs(prod_github) == []


@pytest.mark.parametrize(
    "policy", [None, {"protectedBranches": False, "customBranchPolicies": False}], ids=["absent", "both-off"]
)
def test_production_environment_without_a_branch_policy_deploys_from_any_branch(
    prod_github: StackPlan, policy: object
) -> None:
    prod_github.set(PRODUCTION_ENV, "deploymentBranchPolicy", policy)
    refs(prod_github).expect(
        "environment 'production' can be deployed from any branch", on=prod_github.urn_of(PRODUCTION_ENV)
    )


def test_custom_branch_policy_must_name_its_refs(prod_github: StackPlan) -> None:
    prod_github.drop(
        *[n for n in prod_github.of_type(GITHUB_DEPLOY_POLICY) if "-env-production-" in n and "tech-lead" not in n]
    )
    refs(prod_github).expect("environment 'production' allows custom refs but names none")


def test_production_may_not_deploy_from_a_feature_branch(prod_github: StackPlan) -> None:
    name = "chefchatz-prod-github-env-production-branch-develop"
    prod_github.add(name, GITHUB_DEPLOY_POLICY, deployment_policy("production", branch="develop"))
    refs(prod_github).expect("may deploy from branch 'develop' (allowed: ['main'])", on=prod_github.urn_of(name))


def test_gate_environments_are_held_to_the_same_refs(prod_github: StackPlan) -> None:
    name = "chefchatz-prod-github-env-production-tech-lead-branch-any"
    prod_github.add(name, GITHUB_DEPLOY_POLICY, deployment_policy("production-tech-lead", branch="*"))
    refs(prod_github).expect(
        "environment 'production-tech-lead' may deploy from branch '*'", on=prod_github.urn_of(name)
    )


def test_production_may_not_deploy_from_an_arbitrary_tag(prod_github: StackPlan) -> None:
    name = "chefchatz-prod-github-env-production-tag-any"
    prod_github.add(name, GITHUB_DEPLOY_POLICY, deployment_policy("production", tag="*"))
    refs(prod_github).expect("may deploy from tag '*' (allowed: ['v*'])", on=prod_github.urn_of(name))


def test_allowed_refs_are_configurable(prod_github: StackPlan) -> None:
    prod_github.add(
        "chefchatz-prod-github-env-production-branch-release",
        GITHUB_DEPLOY_POLICY,
        deployment_policy("production", branch="release"),
    )
    prod_github.add(
        "chefchatz-prod-github-env-production-tag-r", GITHUB_DEPLOY_POLICY, deployment_policy("production", tag="r-*")
    )
    assert refs(prod_github, allowedBranches=["main", "release"], allowedTags=["v*", "r-*"]) == []


def test_non_production_environments_may_deploy_from_any_ref() -> None:
    plan = github_plan("dev")
    plan.add("chefchatz-dev-github-env-dev-branch-any", GITHUB_DEPLOY_POLICY, deployment_policy("dev", branch="*"))
    plan.set("chefchatz-dev-github-env-dev", "deploymentBranchPolicy", None)
    assert refs(plan) == []


@pytest.mark.parametrize(
    ("name", "path", "unknown"),
    [
        (PRODUCTION_ENV, "deploymentBranchPolicy", UNKNOWN_STRING_VALUE),
        (PRODUCTION_ENV, "deploymentBranchPolicy.customBranchPolicies", UNKNOWN_BOOLEAN_VALUE),
        ("chefchatz-prod-github-env-production-branch-main", "environment", UNKNOWN_STRING_VALUE),
        ("chefchatz-prod-github-env-production-branch-main", "branchPattern", UNKNOWN_STRING_VALUE),
    ],
)
def test_deploy_refs_unknown_at_preview_are_reported(
    prod_github: StackPlan, name: str, path: str, unknown: str
) -> None:
    prod_github.set(name, path, unknown)
    refs(prod_github).expect_unverifiable(path=path)


# --- default-branch-rules -------------------------------------------------------------------------


def main_rules(props: dict[str, Any], **config: Any) -> Findings:
    return run_resource_policy(
        default_branch_rules,
        GITHUB_RULESET,
        props,
        name="main-rules",
        config=config_for(default_branch_rules, **config),
    )


RULES_URN = urn(GITHUB_RULESET, "main-rules")


def ruleset_with(path: str, value: object) -> dict[str, Any]:
    props = main_ruleset()
    set_path(props, path, value)
    return props


def test_default_branch_needs_two_approvals_code_owners_and_checks() -> None:
    assert main_rules(main_ruleset()) == []


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("enforcement", "evaluate", "enforcement is 'evaluate', not 'active'"),
        ("enforcement", "disabled", "enforcement is 'disabled', not 'active'"),
        ("rules.pullRequest", DELETE, "pull requests are not required"),
        ("rules.pullRequest.requiredApprovingReviewCount", 1, "requires 1 approval(s), needs at least 2"),
        ("rules.pullRequest.requiredApprovingReviewCount", DELETE, "requires 0 approval(s), needs at least 2"),
        ("rules.pullRequest.requireCodeOwnerReview", False, "code-owner review is off (requireCodeOwnerReview)"),
        ("rules.pullRequest.dismissStaleReviewsOnPush", False, "stale-review dismissal is off"),
        ("rules.pullRequest.requireLastPushApproval", DELETE, "last-push approval is off (requireLastPushApproval)"),
        ("rules.requiredStatusChecks", DELETE, "no required status checks"),
        ("rules.requiredStatusChecks.requiredChecks", [], "no required status checks"),
        ("rules.nonFastForward", False, "force-push is allowed (nonFastForward)"),
        ("rules.nonFastForward", DELETE, "force-push is allowed (nonFastForward)"),
        ("rules.deletion", DELETE, "the branch can be deleted (deletion)"),
        (
            "bypassActors",
            [{"actorType": "RepositoryRole", "actorId": 5, "bypassMode": "always"}],
            "bypass actor RepositoryRole 5 can skip the rules",
        ),
    ],
)
def test_each_weakened_default_branch_rule_is_named(path: str, value: object, problem: str) -> None:
    findings = main_rules(ruleset_with(path, value))
    finding = findings.expect(problem, on=RULES_URN)
    assert finding.message.startswith(f"default-branch ruleset: {problem}"), finding.message
    assert len(findings) == 1, f"one weakening, one finding: {findings}"


def test_default_branch_ruleset_without_any_rules_is_refused() -> None:
    """Fails closed: the rule cannot read `rules` and says so rather than passing."""
    findings = main_rules(ruleset_with("rules", DELETE))
    findings.expect("the rule could not evaluate these inputs (KeyError: 'rules')", on=RULES_URN)


@pytest.mark.parametrize("ref", ["~DEFAULT_BRANCH", "refs/heads/main", "main", "~ALL"])
def test_every_spelling_of_the_default_branch_is_judged(ref: str) -> None:
    props = ruleset_with("conditions.refName.includes", [ref])
    props["enforcement"] = "evaluate"
    findings = main_rules(props)
    findings.expect("enforcement is 'evaluate'", on=RULES_URN)


def test_rulesets_for_other_branches_and_tags_are_not_judged() -> None:
    feature = ruleset_with("conditions.refName.includes", ["refs/heads/feature/*"])
    feature["enforcement"] = "disabled"
    assert main_rules(feature) == []
    assert main_rules(tag_ruleset()) == []
    assert run_resource_policy(default_branch_rules, GITHUB_ENVIRONMENT, {"target": "branch"}) == []


def test_approval_count_arrives_as_a_float() -> None:
    assert main_rules(ruleset_with("rules.pullRequest.requiredApprovingReviewCount", 2.0)) == []


def test_minimum_approvals_is_configurable() -> None:
    main_rules(main_ruleset(), minimumApprovals=3).expect("requires 2 approval(s), needs at least 3")
    assert main_rules(ruleset_with("rules.pullRequest.requiredApprovingReviewCount", 1), minimumApprovals=1) == []


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("target", UNKNOWN_STRING_VALUE),
        ("enforcement", UNKNOWN_STRING_VALUE),
        ("conditions.refName.includes", UNKNOWN_ARRAY_VALUE),
        ("rules.pullRequest.requiredApprovingReviewCount", UNKNOWN_NUMBER_VALUE),
        ("rules.pullRequest.requireCodeOwnerReview", UNKNOWN_BOOLEAN_VALUE),
        ("rules.requiredStatusChecks.requiredChecks", UNKNOWN_ARRAY_VALUE),
        ("rules.deletion", UNKNOWN_BOOLEAN_VALUE),
        ("bypassActors", UNKNOWN_ARRAY_VALUE),
    ],
)
def test_default_branch_rules_unknown_at_preview_are_reported(path: str, unknown: str) -> None:
    main_rules(ruleset_with(path, unknown)).expect_unverifiable(on=RULES_URN, path=path)


# --- default-branch-rules-owner -------------------------------------------------------------------


def owner(plan: StackPlan, **config: Any) -> Findings:
    return run_stack_policy(
        default_branch_rules_owner, plan.resources(), config_for(default_branch_rules_owner, **config)
    )


def test_prod_owns_the_default_branch_rules(prod_github: StackPlan) -> None:
    assert owner(prod_github) == []
    assert owner(github_plan("staging")) == []


def test_prod_without_default_branch_rules_is_refused(prod_github: StackPlan) -> None:
    prod_github.drop(MAIN_RULES)
    owner(prod_github).expect("stack 'prod' owns the default-branch rules but declares no ruleset", on=None)


def test_a_second_stack_declaring_default_branch_rules_would_fight_prod() -> None:
    plan = github_plan("staging").add("chefchatz-staging-github-main-rules", GITHUB_RULESET, main_ruleset())
    owner(plan).expect(
        "stack 'staging' declares default-branch rules owned by ['prod']",
        on=plan.urn_of("chefchatz-staging-github-main-rules"),
    )


def test_the_owning_stack_is_configurable(prod_github: StackPlan) -> None:
    staging = github_plan("staging").add("chefchatz-staging-github-main-rules", GITHUB_RULESET, main_ruleset())
    assert owner(staging, rulesOwnerStacks=["staging"]) == []
    owner(prod_github, rulesOwnerStacks=["staging"]).expect("stack 'prod' declares default-branch rules")


def test_rules_owner_unknown_at_preview_is_reported(prod_github: StackPlan) -> None:
    prod_github.set(MAIN_RULES, "conditions.refName.includes", UNKNOWN_ARRAY_VALUE)
    owner(prod_github).expect_unverifiable()
