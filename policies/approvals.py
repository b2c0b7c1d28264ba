"""Approval rules: who must approve a production deployment, and the rules of the default branch.

A GitHub environment's required reviewers are satisfied by any *one* reviewer, so "tech-lead AND
product-owner" is only enforced when each team guards its own environment and the deploy job
passes through all of them (`components/repository.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.common import (
    GITHUB_DEPLOY_POLICY,
    GITHUB_ENVIRONMENT,
    GITHUB_RULESET,
    PRODUCTION_STACKS,
    get,
    is_production,
    of_type,
    resource_policy,
    stack_name,
    stack_policy,
    stack_schema,
)

PRODUCTION_ENVIRONMENT = "production"


def _production_environments(args: StackValidationArgs) -> tuple[str, list[PolicyResource]]:
    """(the production environment's name, it and its approval gates `<name>-*`) in the stack."""
    production = str((args.get_config() or {}).get("productionEnvironment", PRODUCTION_ENVIRONMENT))
    envs = [r for r in of_type(args.resources, GITHUB_ENVIRONMENT) if _guards(str(r.props["environment"]), production)]
    return production, envs


def _guards(name: str, production: str) -> bool:
    return name == production or name.startswith(f"{production}-")


def _validate_both_gates(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config() or {}
    production, envs = _production_environments(args)
    required = int(config.get("requiredApprovalGates", 2))
    if not envs:
        if stack_name(args) in config.get("productionStacks", PRODUCTION_STACKS):
            report(f"production stack has no '{production}' GitHub environment guarding its deployments", None)
        return
    gates: list[tuple[str, set[float]]] = []
    for env in envs:
        teams: set[float] = set()
        users: set[float] = set()
        for reviewer in get(env.props, "reviewers", default=[]) or []:
            teams.update(get(reviewer, "teams", default=[]) or [])
            users.update(get(reviewer, "users", default=[]) or [])
        name = str(env.props["environment"])
        if len(teams) + len(users) > 1:
            report(
                f"environment '{name}' lists {len(teams) + len(users)} reviewers, but GitHub accepts any ONE of "
                "them: give each approving team its own environment and chain them",
                env.urn,
            )
        if teams or users:
            gates.append((name, teams | users))
    distinct = set().union(*(t for _, t in gates)) if gates else set()
    if len(gates) < required or len(distinct) < required:
        found = ", ".join(n for n, _ in gates) or "none"
        report(
            f"production deployments need {required} separate approval gates (one per team: tech-lead AND "
            f"product-owner); found {len(gates)} gated environment(s): {found}",
            None,
        )
    if not any(str(env.props["environment"]) == production for env in envs):
        report(f"no GitHub environment named '{production}' guards the production deployment", None)


production_needs_every_approver = stack_policy(
    "production-needs-every-approver",
    "A production deployment needs an approval from every release approver team (tech-lead AND "
    "product-owner), each through its own GitHub environment.",
    _validate_both_gates,
    schema=stack_schema(
        productionEnvironment={"type": "string", "default": PRODUCTION_ENVIRONMENT},
        requiredApprovalGates={"type": "integer", "default": 2, "minimum": 1},
    ),
)


def _validate_environment_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != GITHUB_ENVIRONMENT:
        return
    reviewers = get(args.props, "reviewers", default=None)
    gated = bool(reviewers)
    if not gated and not is_production(args, args.urn):
        return
    name = args.props["environment"]
    if gated and get(args.props, "preventSelfReview", default=False) is not True:
        report(f"environment '{name}': preventSelfReview must be true (GitHub's default is false)", args.urn)
    if get(args.props, "canAdminsBypass", default=True) is not False:
        report(f"environment '{name}': canAdminsBypass must be false (GitHub's default is true)", args.urn)


environment_protection = resource_policy(
    "environment-protection",
    "Gated GitHub environments prevent self-review and cannot be bypassed by admins.",
    _validate_environment_protection,
)


def _validate_protected_refs(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config() or {}
    branches = set(config.get("allowedBranches", ["main"]))
    tags = set(config.get("allowedTags", ["v*"]))
    _, envs = _production_environments(args)
    policies = of_type(args.resources, GITHUB_DEPLOY_POLICY)
    for env in envs:
        name = str(env.props["environment"])
        policy = get(env.props, "deploymentBranchPolicy", default=None)
        if not policy or not (get(policy, "customBranchPolicies") or get(policy, "protectedBranches")):
            report(f"environment '{name}' can be deployed from any branch: set a deployment branch policy", env.urn)
            continue
        if get(policy, "protectedBranches"):
            continue
        own = [p for p in policies if str(p.props["environment"]) == name]
        if not own:
            report(f"environment '{name}' allows custom refs but names none", env.urn)
        for p in own:
            branch = get(p.props, "branchPattern")
            tag = get(p.props, "tagPattern")
            if branch is not None and branch not in branches:
                report(f"environment '{name}' may deploy from branch '{branch}' (allowed: {sorted(branches)})", p.urn)
            if tag is not None and tag not in tags:
                report(f"environment '{name}' may deploy from tag '{tag}' (allowed: {sorted(tags)})", p.urn)


production_deploys_from_protected_refs = stack_policy(
    "production-deploys-from-protected-refs",
    "Production GitHub environments deploy only from the protected default branch and release tags.",
    _validate_protected_refs,
    schema=stack_schema(
        productionEnvironment={"type": "string", "default": PRODUCTION_ENVIRONMENT},
        allowedBranches={"type": "array", "items": {"type": "string"}, "default": ["main"]},
        allowedTags={"type": "array", "items": {"type": "string"}, "default": ["v*"]},
    ),
)


def _targets_default_branch(props: Mapping[str, Any]) -> bool:
    includes = get(props, "conditions", "refName", "includes", default=[]) or []
    return any(ref in ("~DEFAULT_BRANCH", "refs/heads/main", "main", "~ALL") for ref in includes)


def _validate_main_rules(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != GITHUB_RULESET or args.props["target"] != "branch":
        return
    if not _targets_default_branch(args.props):
        return
    config = args.get_config() or {}
    minimum = int(config.get("minimumApprovals", 2))
    rules = args.props["rules"]
    pr = get(rules, "pullRequest")
    problems: list[str] = []
    if args.props["enforcement"] != "active":
        problems.append(f"enforcement is '{args.props['enforcement']}', not 'active'")
    if not pr:
        problems.append("pull requests are not required")
    else:
        count = int(get(pr, "requiredApprovingReviewCount", default=0) or 0)
        if count < minimum:
            problems.append(f"requires {count} approval(s), needs at least {minimum}")
        for flag, what in (
            ("requireCodeOwnerReview", "code-owner review"),
            ("dismissStaleReviewsOnPush", "stale-review dismissal"),
            ("requireLastPushApproval", "last-push approval"),
        ):
            if get(pr, flag) is not True:
                problems.append(f"{what} is off ({flag})")
    checks = get(rules, "requiredStatusChecks", "requiredChecks", default=[]) or []
    if not checks:
        problems.append("no required status checks")
    if get(rules, "nonFastForward") is not True:
        problems.append("force-push is allowed (nonFastForward)")
    if get(rules, "deletion") is not True:
        problems.append("the branch can be deleted (deletion)")
    for actor in get(args.props, "bypassActors", default=[]) or []:
        actor_id = get(actor, "actorId")
        shown = f"{actor_id:g}" if isinstance(actor_id, float) else actor_id
        problems.append(f"bypass actor {get(actor, 'actorType')} {shown} can skip the rules")
    for problem in problems:
        report(f"default-branch ruleset: {problem}", args.urn)


default_branch_rules = resource_policy(
    "default-branch-rules",
    "The default branch needs >= 2 approvals, code-owner review, stale-review dismissal, last-push "
    "approval and required status checks, and forbids force-push, deletion and bypass.",
    _validate_main_rules,
    schema=stack_schema(minimumApprovals={"type": "integer", "default": 2, "minimum": 1}),
)


def _validate_rules_owner(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config() or {}
    owners = config.get("rulesOwnerStacks", ["prod"])
    stack = stack_name(args)
    rulesets = [r for r in of_type(args.resources, GITHUB_RULESET) if _targets_default_branch(r.props)]
    if stack in owners and not rulesets:
        report(f"stack '{stack}' owns the default-branch rules but declares no ruleset for them", None)
    if stack not in owners:
        for r in rulesets:
            report(f"stack '{stack}' declares default-branch rules owned by {owners}: stacks would fight", r.urn)


default_branch_rules_owner = stack_policy(
    "default-branch-rules-owner",
    "Exactly one stack (prod) owns the repository-wide rules of the default branch.",
    _validate_rules_owner,
    schema=stack_schema(rulesOwnerStacks={"type": "array", "items": {"type": "string"}, "default": ["prod"]}),
)

POLICIES = [
    production_needs_every_approver,
    environment_protection,
    production_deploys_from_protected_refs,
    default_branch_rules,
    default_branch_rules_owner,
]
