"""The offline plan as a pull-request comment: a summary table per stack, details folded away.

GitHub refuses comments over 65,536 characters; this stays under `LIMIT` and says so visibly when
it had to cut. The first line is a hidden marker so the workflow updates one comment in place.
"""

from __future__ import annotations

from ops.plan.model import StackPlan, exit_code
from ops.plan.render import type_counts

MARKER = "<!-- chefchatz-plan -->"
LIMIT = 60_000


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _short_urn(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if urn else "(stack)"


def _status(plan: StackPlan) -> str:
    if plan.config_error:
        return "❌ invalid configuration"
    if plan.mandatory_violations:
        return "❌ blocked"
    if plan.violations:
        return "⚠️ advisories"
    return "✅ pass"


def summary(plans: list[StackPlan]) -> list[str]:
    lines = [
        "| Stack | To create | Policies run | Mandatory | Advisory | Result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for plan in plans:
        created = sum(type_counts(plan).values()) if not plan.config_error else 0
        advisory = len(plan.violations) - len(plan.mandatory_violations)
        lines.append(
            f"| `{plan.stack}` | {created} | {plan.policies_evaluated} | {len(plan.mandatory_violations)} "
            f"| {advisory} | {_status(plan)} |"
        )
    return lines


def details(plan: StackPlan) -> list[str]:
    if plan.config_error:
        return [
            f"<details open><summary><b>{plan.stack}</b>: configuration error</summary>",
            "",
            "```text",
            plan.config_error,
            "```",
            "</details>",
        ]
    lines = [f"<details{' open' if plan.violations else ''}><summary><b>{plan.stack}</b>: "]
    lines[0] += f"{len(plan.violations)} violation(s), {sum(type_counts(plan).values())} resources</summary>"
    lines.append("")
    if plan.violations:
        lines += ["| Policy | Level | Resource | Message |", "|---|---|---|---|"]
        ordered = sorted(plan.violations, key=lambda v: (v.enforcement != "mandatory", v.policy, v.urn))
        for v in ordered:
            lines.append(f"| `{v.policy}` | {v.enforcement} | `{_short_urn(v.urn)}` | {_cell(v.message)} |")
        lines.append("")
    lines += ["| Resource type | Count |", "|---|---:|"]
    for resource_type, count in sorted(type_counts(plan).items()):
        lines.append(f"| `{resource_type}` | {count} |")
    lines += ["", "</details>"]
    return lines


def to_markdown(plans: list[StackPlan], limit: int = LIMIT) -> str:
    code = exit_code(plans)
    verdict = {0: "passed", 1: "blocked by mandatory policy violations", 2: "invalid configuration"}[code]
    head = [
        MARKER,
        f"## Offline plan and policy gate: {verdict}",
        "",
        *summary(plans),
        "",
        "",
    ]
    footer = [
        "",
        f"<sub>`chefchatz plan --stack {'all' if len(plans) > 1 else plans[0].stack} --format markdown` "
        f"(offline: Pulumi mocks, no credentials) · exit {code}</sub>",
    ]
    text = "\n".join(head)
    budget = limit - len(text) - len("\n".join(footer)) - 200
    for plan in plans:
        block = "\n".join(details(plan)) + "\n"
        if len(block) <= budget:
            text += block
            budget -= len(block)
            continue
        note = (
            f"\n> ⚠️ **Truncated**: the details of `{plan.stack}` ({len(block):,} characters) and of any later "
            f"stack do not fit in one comment. Run `chefchatz plan --stack {plan.stack}` for everything.\n"
        )
        text += note
        break
    return text + "\n".join(footer)
