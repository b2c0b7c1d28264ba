"""The pack as a whole: a valid policy list, an entry point that only serves it, every rule wrapped
so that unknowns fail closed, and a realistic production stack that passes every rule."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from policy_harness import (
    UNKNOWN_STRING_VALUE,
    UNVERIFIABLE,
    Findings,
    config_for,
    run_resource_policy,
    run_stack_policy,
)
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from resource_shapes import StackPlan

import policies
from policies import common
from policies.pack import POLICIES, pack_version

PACKAGE_DIR = Path(policies.__file__).resolve().parent
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# Every rule guards a production guarantee of the spec (approvals, secrets, TLS, backups, monitors,
# workflow safety): none of them may be merely advisory.
EXPECTED = {
    "production-needs-every-approver",
    "environment-protection",
    "production-deploys-from-protected-refs",
    "default-branch-rules",
    "default-branch-rules-owner",
    "secret-variables-are-sensitive",
    "no-secret-in-public-variable",
    "production-secrets-stay-in-production",
    "secret-values-not-plain",
    "debug-off-outside-dev",
    "managed-certificates-in-production",
    "https-only",
    "tls-minimum-version",
    "backups-exist-for-every-database",
    "backup-frequency-and-retention",
    "rpo-achievable",
    "backup-storage-hardened",
    "backup-freshness-alarm",
    "restore-capacity-alarm",
    "production-domains-monitored",
    "slo-alarms",
    "managed-workflows-are-safe",
    "slo-drain-in-production",
    "slo-burn-rate-alarms",
    "slo-dashboard",
    # The spec as a floor (policies/floors.py).
    "release-approver-floor",
    "feature-floors",
    "rollback-trigger-floors",
    "health-check-floors",
    "performance-objective-floors",
    "tls-floors",
    "backup-plan-floors",
    "disaster-recovery-floors",
    "backup-replica-in-another-region",
    "backup-image-pinned-in-production",
    "rolling-release-in-production",
    # What the platforms do with inputs their SDKs accept (policies/platform.py).
    "vercel-alert-rules-deployable",
    "vercel-variables-replaceable",
    "alarm-topics-reachable",
    "route53-alarms-evaluable",
    "object-locked-replicas",
    "replication-after-versioning",
    "public-function-url-ready",
    "public-function-urls-capped",
    # Production's stateful resources cannot be deleted by `pulumi up` (policies/protection.py).
    "stateful-resources-protected-in-production",
}


def test_pack_lists_every_rule_once_under_a_kebab_case_name() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)), f"duplicate policy names: {sorted(n for n in names if names.count(n) > 1)}"
    assert set(names) == EXPECTED
    for name in names:
        assert KEBAB.match(name), f"policy name {name!r} is not kebab-case"


def test_every_rule_module_is_in_the_pack() -> None:
    """A rule module whose POLICIES are not listed in pack.py would never run."""
    listed = {id(p) for p in POLICIES}
    for module_info in pkgutil.iter_modules([str(PACKAGE_DIR)]):
        if module_info.name == "__main__":
            continue
        module = importlib.import_module(f"policies.{module_info.name}")
        for policy in getattr(module, "POLICIES", []):
            assert id(policy) in listed, f"policies.{module_info.name}.{policy.name} is missing from pack.POLICIES"


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_every_rule_is_described_and_mandatory(policy: ResourceValidationPolicy | StackValidationPolicy) -> None:
    assert policy.description and len(policy.description) > 20, f"{policy.name}: description {policy.description!r}"
    assert policy.enforcement_level == EnforcementLevel.MANDATORY, (
        f"{policy.name} guards a production guarantee but is {policy.enforcement_level}"
    )


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_every_config_property_has_a_type_and_a_default(
    policy: ResourceValidationPolicy | StackValidationPolicy,
) -> None:
    """The engine fills config from schema defaults; a property without one would reach the rule as absent."""
    assert policy.config_schema is not None, f"{policy.name} has no config schema"
    properties = policy.config_schema.properties
    assert "productionStacks" in properties, f"{policy.name} cannot be told which stacks are production"
    for key, spec in properties.items():
        assert "type" in spec and "default" in spec, f"{policy.name}.{key} lacks a type or default: {spec}"


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_every_rule_reports_what_it_cannot_decide(policy: ResourceValidationPolicy | StackValidationPolicy) -> None:
    """Wrapped by `unknown_is_violation`: an unknown or uninterpretable input is a finding, not a crash."""
    validate = getattr(policy, f"_{type(policy).__name__}__validate")
    assert getattr(validate, "__wrapped__", None) is not None, f"{policy.name} is not wrapped by unknown_is_violation"


def test_a_rule_that_crashes_reports_a_violation_of_itself() -> None:
    def broken(args: object, report: object) -> None:
        raise KeyError("rules")

    policy = common.resource_policy("broken-rule", "A rule that cannot read its input.", broken)
    findings = run_resource_policy(policy, "x:index:Thing", {})
    assert findings.messages() == ["the rule could not evaluate these inputs (KeyError: 'rules')"]
    assert findings[0].urn == "urn:pulumi:prod::chefchatz::x:index:Thing::chefchatz-test"


def test_an_unknown_at_preview_is_a_violation_naming_the_property() -> None:
    def reads(args: object, report: object) -> None:
        args.props["policy"]  # type: ignore[attr-defined]

    policy = common.resource_policy("reads-policy", "A rule that reads one input.", reads)
    findings = run_resource_policy(policy, "x:index:Thing", {"policy": UNKNOWN_STRING_VALUE})
    finding = findings.expect_unverifiable()
    assert ".policy" in finding.message and "make the value known at preview time" in finding.message


def test_pack_version_comes_from_pulumi_policy_yaml() -> None:
    text = (PACKAGE_DIR / "PulumiPolicy.yaml").read_text()
    assert f"version: {pack_version()}" in text
    assert re.fullmatch(r"\d+\.\d+\.\d+", pack_version()), f"pack version {pack_version()!r} is not semver"


def test_entry_point_only_builds_the_policy_pack_from_policies_pack() -> None:
    """`policies/__main__.py` serves the pack over gRPC when run, so it is read, never imported."""
    tree = ast.parse((PACKAGE_DIR / "__main__.py").read_text())
    assert not [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)]
    imported = {
        (node.module, alias.name) for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert ("policies.pack", "POLICIES") in imported
    assert ("pulumi_policy", "PolicyPack") in imported
    assert not {m for m, _ in imported if m and m.startswith("policies.") and m != "policies.pack"}, imported
    calls = [node.value for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
    # Besides building the pack, only making `policies.*` importable when the CLI runs the file.
    others = [ast.unparse(c.func) for c in calls if ast.unparse(c.func) not in ("PolicyPack", "sys.path.insert")]
    assert others == [], f"the entry point does more than build the pack: {others}"
    packs = [c for c in calls if ast.unparse(c.func) == "PolicyPack"]
    assert len(packs) == 1, "the entry point must build exactly one PolicyPack"
    call = packs[0]
    keywords = {k.arg: k.value for k in call.keywords}
    assert isinstance(keywords["policies"], ast.Name) and keywords["policies"].id == "POLICIES"
    assert isinstance(keywords["name"], ast.Name) and keywords["name"].id == "PACK_NAME"


@pytest.mark.parametrize(
    ("urn", "stack"),
    [
        ("urn:pulumi:prod::chefchatz::aws:s3/bucket:Bucket::chefchatz-prod-backups-database-bucket", "prod"),
        ("urn:pulumi:dev::chefchatz::pulumi:pulumi:Stack::chefchatz-dev", "dev"),
        (
            "urn:pulumi:staging::chefchatz::chefchatz:backups:Backups$aws:s3/bucket:Bucket::chefchatz-staging-b",
            "staging",
        ),
        ("urn:pulumi:pr-42::chefchatz::vercel:index/project:Project::p", "pr-42"),
        ("urn:pulumi:prod", ""),
        ("not-a-urn:pulumi:prod::chefchatz::t::n", ""),
        ("", ""),
    ],
)
def test_stack_of_reads_the_third_field_of_a_urn(urn: str, stack: str) -> None:
    assert common.stack_of(urn) == stack, f"stack_of({urn!r})"


def _all_findings(plan: StackPlan) -> dict[str, Findings]:
    found: dict[str, Findings] = {}
    resources = plan.resources()
    for policy in POLICIES:
        if isinstance(policy, StackValidationPolicy):
            findings = run_stack_policy(policy, resources, config_for(policy))
        else:
            findings = Findings()
            for name, planned in plan.items():
                findings.extend(
                    run_resource_policy(
                        policy, planned.type, planned.props, name=name, stack=plan.stack, opts=planned.opts()
                    )
                )
        if findings:
            found[policy.name] = findings
    return found


def test_production_stack_shaped_like_the_components_passes_every_rule(prod: StackPlan) -> None:
    """Unknown health-check ids and topic ARNs of a first preview must not trip any rule."""
    assert _all_findings(prod) == {}


def test_weakening_one_guarantee_of_each_kind_fails_the_right_rules(prod: StackPlan) -> None:
    """The issue's weakened copy of prod: one approval gate removed, one secret made non-sensitive,
    database backup retention cut to 7 days."""
    prod.drop(
        "chefchatz-prod-github-env-production-tech-lead",
        "chefchatz-prod-github-env-production-tech-lead-branch-main",
        "chefchatz-prod-github-env-production-tech-lead-tag-v",
    )
    prod.set("chefchatz-prod-web-env-openai-api-key", "sensitive", False)
    prod.set("chefchatz-prod-backups-database-lifecycle", "rules.0.expiration.days", 7)
    found = _all_findings(prod)
    assert sorted(found) == [
        "backup-frequency-and-retention",
        "production-needs-every-approver",
        "secret-variables-are-sensitive",
    ], found


def test_any_input_unknown_at_preview_is_only_ever_reported_as_unverifiable(prod: StackPlan) -> None:
    """Every input of every production resource in turn made unknown, the way the engine sends a
    computed value (the string sentinel, whatever the type): no rule crashes on it or turns it into
    a different finding. Inputs a rule does not need may stay unknown without a finding."""
    stack_policies = [p for p in POLICIES if isinstance(p, StackValidationPolicy)]
    resource_policies = [p for p in POLICIES if isinstance(p, ResourceValidationPolicy)]
    problems: list[str] = []
    reported = 0
    for name, planned in prod.items():
        for key in list(planned.props):
            original = planned.props[key]
            planned.props[key] = UNKNOWN_STRING_VALUE
            findings = [
                (policy.name, finding)
                for policy in resource_policies
                for finding in run_resource_policy(policy, planned.type, planned.props, name=name, opts=planned.opts())
            ]
            resources = prod.resources()
            findings += [(p.name, f) for p in stack_policies for f in run_stack_policy(p, resources, config_for(p))]
            planned.props[key] = original
            reported += bool(findings)
            problems += [f"{name}.{key}: {p}: {f.message}" for p, f in findings if UNVERIFIABLE not in f.message]
    assert problems == []
    assert reported > 100, f"only {reported} unknown inputs were reported: is the stack still judged?"
