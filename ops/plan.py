"""The offline plan: what `pulumi preview` would create for each stack, and the policy gate over it.

Each stack's program runs in a forked process of its own under Pulumi's mocks (`ops.offline`); the recorded
registrations are then rendered like a preview and handed to the policy pack (`ops.policy_gate`)
exactly as the engine hands them to an analyzer.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import proxy
from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from ops.stack_config import stack_names

# The engine's markers, as the policy SDK reads them: a secret's signature and the unknowns.
UNKNOWN_SENTINELS = frozenset(
    {
        proxy.UNKNOWN_BOOLEAN_VALUE,
        proxy.UNKNOWN_NUMBER_VALUE,
        proxy.UNKNOWN_STRING_VALUE,
        proxy.UNKNOWN_ARRAY_VALUE,
        proxy.UNKNOWN_ASSET_VALUE,
        proxy.UNKNOWN_ARCHIVE_VALUE,
        proxy.UNKNOWN_OBJECT_VALUE,
    }
)
# Stand-in ids for offline look-ups, from a range no real object uses, so renderers can label them.
LOOKUP_ID_BASE = 990_000_000

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_CONFIG = 2


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    urn: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"policy": self.policy, "enforcement": self.enforcement, "urn": self.urn, "message": self.message}


@dataclass
class StackPlan:
    stack: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)
    lookups: dict[str, str] = field(default_factory=dict)
    config_error: str | None = None
    violations: list[Violation] = field(default_factory=list)
    policies_evaluated: int = 0
    policy_pack: str = ""

    @property
    def mandatory_violations(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]


def resolve_stacks(project_dir: Path, stack: str) -> list[str]:
    if not (project_dir / "Pulumi.yaml").is_file():
        raise ValueError(f"no Pulumi.yaml in {project_dir} (run from the repository root or pass --project-dir)")
    known = stack_names(project_dir)
    if stack == "all":
        return known
    if stack not in known:
        raise ValueError(f"unknown stack {stack!r} (choose from: {', '.join([*known, 'all'])})")
    return [stack]


def _stack_plan(stack: str, data: dict[str, Any]) -> StackPlan:
    if "configError" in data:
        return StackPlan(stack, config_error=data["configError"])
    return StackPlan(
        stack,
        resources=data["resources"],
        outputs=data["outputs"],
        placeholders=data["placeholders"],
        lookups=data["lookups"],
    )


def run_plan(
    project_dir: Path, stacks: list[str], evaluate_policies: bool = True, pack_config: Path | None = None
) -> list[StackPlan]:
    """Plan every stack (two at a time: the machines have two cores) and run the policy gate.

    `pack_config` is a `--policy-pack-config` file; a bad one raises `PackConfigError` before any
    stack runs.
    """
    configs = None
    if evaluate_policies:
        from ops.policy_gate import pack_configs

        configs = pack_configs(pack_config)
    from ops.offline import fork_plans

    plans = [_stack_plan(stack, data) for stack, data in fork_plans(project_dir, stacks)]
    if configs is not None:
        from ops.policy_gate import evaluate

        for plan in plans:
            if plan.config_error is None:
                evaluate(plan, configs)
    return plans


def exit_code(plans: list[StackPlan]) -> int:
    if any(p.config_error for p in plans):
        return EXIT_CONFIG
    if any(p.mandatory_violations for p in plans):
        return EXIT_VIOLATIONS
    return EXIT_OK


# --- rendering ------------------------------------------------------------------------------------


def display_value(value: Any, lookups: dict[str, str] | None = None) -> Any:
    """A property value as a preview shows it: secrets and unknowns marked, never revealed."""
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return "[secret]"
        return {k: display_value(v, lookups) for k, v in value.items()}
    if isinstance(value, list):
        return [display_value(v, lookups) for v in value]
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():
        number = int(value)
        if lookups and number > LOOKUP_ID_BASE and str(number) in lookups:
            return f"[looked up at deploy time: {lookups[str(number)]}]"
        return number
    return value


def resources_json(plan: StackPlan) -> list[dict[str, Any]]:
    return [
        {
            "urn": r["urn"],
            "type": r["type"],
            "name": r["name"],
            "parent": r["parent"],
            "inputs": display_value(r["properties"], plan.lookups),
        }
        for r in plan.resources
    ]


def to_json(plans: list[StackPlan]) -> dict[str, Any]:
    stacks = []
    for plan in plans:
        entry: dict[str, Any] = {"stack": plan.stack}
        if plan.config_error:
            entry["configError"] = plan.config_error
        else:
            entry["resources"] = resources_json(plan)
            entry["outputs"] = display_value(plan.outputs, plan.lookups)
            entry["secretPlaceholders"] = plan.placeholders
            entry["violations"] = [v.as_json() for v in plan.violations]
            entry["policiesEvaluated"] = plan.policies_evaluated
        stacks.append(entry)
    return {"stacks": stacks, "exitCode": exit_code(plans)}


def resource_tree(plan: StackPlan) -> list[str]:
    """`+ type name` lines, children indented under their parents, in registration order."""
    children: dict[str | None, list[dict[str, Any]]] = {}
    urns = {r["urn"] for r in plan.resources}
    for r in plan.resources:
        parent = r["parent"] if r["parent"] in urns else None
        children.setdefault(parent, []).append(r)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=lambda x: (x["type"], x["name"])):
            lines.append(f"{'    ' * depth}+ {r['type']:<70} {r['name']}")
            walk(r["urn"], depth + 1)

    walk(None, 1)
    return lines


def type_counts(plan: StackPlan) -> Counter[str]:
    return Counter(r["type"] for r in plan.resources if r["type"] != "pulumi:pulumi:Stack")


def to_text(plans: list[StackPlan]) -> str:
    out: list[str] = []
    for plan in plans:
        out.append(f"Stack {plan.stack} (offline preview: mocks, no credentials)")
        if plan.config_error:
            out.append(f"  configuration error:\n    {plan.config_error.replace(chr(10), chr(10) + '    ')}")
            out.append("")
            continue
        out.append("     Type" + " " * 67 + "Name")
        out.extend(resource_tree(plan))
        counts = type_counts(plan)
        out.append("")
        out.append(f"  Resources: + {sum(counts.values())} to create")
        for rtype, count in sorted(counts.items()):
            out.append(f"      {count:>3} {rtype}")
        out.append("  Outputs:")
        for key, value in display_value(plan.outputs, plan.lookups).items():
            out.append(f"      {key:<20}: {json.dumps(value)}")
        if plan.placeholders:
            out.append(f"  Secrets replaced by offline placeholders: {', '.join(plan.placeholders)}")
        if plan.lookups:
            out.append(
                f"  Looked up at deploy time (offline stand-ins): {', '.join(sorted(set(plan.lookups.values())))}"
            )
        out.extend(_violations_text(plan))
        out.append("")
    return "\n".join(out)


def _violations_text(plan: StackPlan) -> list[str]:
    if not plan.policy_pack:
        return []
    lines = [f"  Policies: {plan.policies_evaluated} evaluated ({plan.policy_pack})"]
    if not plan.violations:
        lines.append("      no violations")
    for v in sorted(plan.violations, key=lambda v: (v.enforcement != "mandatory", v.policy, v.urn)):
        lines.append(f"      [{v.enforcement}] {v.policy}  {v.urn or '(stack)'}")
        for line in v.message.splitlines():
            lines.append(f"          {line}")
    return lines
