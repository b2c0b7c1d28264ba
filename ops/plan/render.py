"""The offline plan as people and machines read it: the resource tree as text, and JSON."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pulumi_policy.deserialize import SPECIAL_SECRET_SIG, SPECIAL_SIG_KEY

from ops.plan.model import LOOKUP_ID_BASE, UNKNOWN_SENTINELS, StackPlan, exit_code


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
