"""`chefchatz plan --base` as people and machines read it: the change first, then everything else.

Text and the pull-request comment say the same things in the same order: a summary per stack
(`+N ~N -N`, new violations), the changes of each stack the way `pulumi preview --diff` lists them,
then the unchanged policy results and the full plan of the working tree. JSON is the plan's JSON
with `"base"` and, per stack, `"changes"` (README, "The offline plan").
"""

from __future__ import annotations

from typing import Any

from ops.plan.diff import ResourceChange, StackDiff
from ops.plan.markdown import LIMIT, MARKER, details
from ops.plan.model import StackPlan, Violation, exit_code
from ops.plan.render import to_json
from ops.plan.render import to_text as plan_text
from ops.plan.run import Comparison

_OP_ORDER = {"delete": 0, "replace": 1, "update": 2, "create": 3}
_VERDICT = {0: "passed", 1: "blocked by mandatory policy violations", 2: "invalid configuration"}


def counts(diff: StackDiff) -> str:
    replaced = f" +-{diff.count('replace')}" if diff.count("replace") else ""
    return f"+{diff.count('create')} ~{diff.count('update')}{replaced} -{diff.count('delete')}"


def _base_name(comparison: Comparison) -> str:
    return f"`{comparison.ref}` (merge base `{comparison.commit[:12]}`)"


def _ordered(diff: StackDiff) -> list[ResourceChange]:
    return sorted(diff.changes, key=lambda c: (_OP_ORDER[c.op], c.type, c.name))


def change_lines(diff: StackDiff) -> list[str]:
    """The stack's changes as `pulumi preview --diff` lists them: one line per resource, its
    property paths under it, notes (blocked, destroys data, rename) after a `#`."""
    lines: list[str] = []
    for change in _ordered(diff):
        notes = change.notes()
        suffix = f"   # {'; '.join(notes)}" if notes else ""
        lines.append(f"{change.symbol:<2} {change.type}  {change.name}{suffix}")
        lines.extend(f"      {p.line()}" for p in change.properties)
    if diff.outputs:
        lines.append("   Outputs:")
        lines.extend(f"      {p.line()}" for p in diff.outputs)
    return lines


def _violation_line(sign: str, v: Violation) -> str:
    first = (v.message.splitlines() or [""])[0]
    return f"{sign} [{v.enforcement}] {v.policy}  {v.urn.rsplit('::', 1)[-1] if v.urn else '(stack)'}: {first}"


def _base_note(diff: StackDiff) -> str | None:
    if diff.base_status == "missing":
        return "the base has no such stack: everything is created"
    if diff.base_status == "failed":
        reason = (diff.base_error or "").strip().splitlines()
        return f"the base could not be planned ({reason[0] if reason else 'no reason given'}); the head in full below"
    return None


def nothing_changed(comparison: Comparison) -> bool:
    return all(d.is_empty for d in comparison.diffs) and not any(p.config_error for p in comparison.plans)


def to_text(comparison: Comparison) -> str:
    """The comparison as text: the same sections as the comment, without markup."""
    stacks = ", ".join(p.stack for p in comparison.plans)
    if nothing_changed(comparison):
        return f"No change against {_base_name(comparison).replace('`', '')} in {stacks}."
    out = [f"Changes against {_base_name(comparison).replace('`', '')} (offline: mocks, no credentials)", ""]
    for plan, diff in zip(comparison.plans, comparison.diffs, strict=True):
        if plan.config_error:
            out.append(f"Stack {plan.stack}: configuration error (below)")
            continue
        if diff.is_empty:
            out.append(f"Stack {plan.stack}: no change")
            continue
        out.append(f"Stack {plan.stack}: {counts(diff)}, {len(diff.introduced)} new violation(s)")
        note = _base_note(diff)
        if note:
            out.append(f"   ({note})")
        if diff.base_status != "failed":
            out.extend(f"    {line}" for line in change_lines(diff))
        if diff.introduced or diff.resolved:
            out.append("   Policies:")
            out.extend(f"      {_violation_line('+', v)}" for v in diff.introduced)
            out.extend(f"      {_violation_line('-', v)} (resolved)" for v in diff.resolved)
        out.append("")
    out.append("Unchanged policy results:")
    unchanged = [(d.stack, v) for d in comparison.diffs for v in d.unchanged]
    out.extend(f"    {stack}: {_violation_line('=', v)}" for stack, v in unchanged)
    if not unchanged:
        out.append("    none")
    out += ["", "The full plan of the working tree:", "", plan_text(comparison.plans)]
    return "\n".join(out)


def to_json_comparison(comparison: Comparison) -> dict[str, Any]:
    """The plan's JSON, with `"base"` ({ref, commit}) and each stack's `"changes"`."""
    document = to_json(comparison.plans)
    document["base"] = {"ref": comparison.ref, "commit": comparison.commit}
    for entry, diff in zip(document["stacks"], comparison.diffs, strict=True):
        entry["changes"] = diff.as_json()
    return document


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _status(plan: StackPlan, diff: StackDiff) -> str:
    if plan.config_error:
        return "❌ invalid configuration"
    if plan.mandatory_violations:
        return "❌ blocked by policy"
    if diff.blocked:
        return "❌ deletes a protected resource"
    if diff.base_status == "failed":
        return "⚠️ base not planned"
    return "⚠️ advisories" if plan.violations else "✅ pass"


def _summary(comparison: Comparison) -> list[str]:
    lines = ["| Stack | Changes | New violations | Resolved | Result |", "|---|---|---:|---:|---|"]
    for plan, diff in zip(comparison.plans, comparison.diffs, strict=True):
        change = "—" if plan.config_error or diff.base_status == "failed" else counts(diff)
        if diff.is_empty:
            change = "no change"
        lines.append(
            f"| `{plan.stack}` | {change} | {len(diff.introduced)} | {len(diff.resolved)} | {_status(plan, diff)} |"
        )
    return lines


def _violation_rows(rows: list[tuple[str, Violation]]) -> list[str]:
    lines = ["| Stack | Policy | Level | Resource | Message |", "|---|---|---|---|---|"]
    for stack, v in rows:
        resource = v.urn.rsplit("::", 1)[-1] if v.urn else "(stack)"
        lines.append(f"| `{stack}` | `{v.policy}` | {v.enforcement} | `{resource}` | {_cell(v.message)} |")
    return lines


def _stack_section(plan: StackPlan, diff: StackDiff) -> list[str]:
    if plan.config_error:
        return [f"### `{plan.stack}`: configuration error", "", "```text", plan.config_error, "```", ""]
    if diff.is_empty:
        return [f"### `{plan.stack}`: no change", ""]
    lines = [f"### `{plan.stack}`: {counts(diff)}", ""]
    note = _base_note(diff)
    if note:
        lines += [f"> {note}", ""]
    if diff.base_status != "failed" and (diff.changes or diff.outputs):
        lines += ["```diff", *change_lines(diff), "```", ""]
    if diff.resolved:
        lines += ["Resolved policy results:", "", *_violation_rows([(plan.stack, v) for v in diff.resolved]), ""]
    return lines


def to_markdown(comparison: Comparison, limit: int = LIMIT) -> str:
    """The pull-request comment: the change first; unchanged policy results and the full plan folded."""
    plans = comparison.plans
    code = exit_code(plans)
    scope = "all" if len(plans) > 1 else plans[0].stack
    footer = (
        f"\n<sub>`chefchatz plan --stack {scope} --base {comparison.ref} --format markdown` "
        f"(offline: Pulumi mocks, no credentials) · exit {code}</sub>"
    )
    if nothing_changed(comparison):
        return (
            "\n".join(
                [MARKER, f"**No change** against {_base_name(comparison)} in {', '.join(p.stack for p in plans)}."]
            )
            + footer
        )
    lines = [
        MARKER,
        f"## Offline plan against {_base_name(comparison)}: {_VERDICT[code]}",
        "",
        *_summary(comparison),
        "",
    ]
    introduced = [(d.stack, v) for d in comparison.diffs for v in d.introduced]
    if introduced:
        lines += ["### New policy violations", "", *_violation_rows(introduced), ""]
    for plan, diff in zip(plans, comparison.diffs, strict=True):
        lines += _stack_section(plan, diff)
    unchanged = [(d.stack, v) for d in comparison.diffs for v in d.unchanged]
    if unchanged:
        lines += [f"<details><summary>Unchanged policy results ({len(unchanged)})</summary>", ""]
        lines += [*_violation_rows(unchanged), "", "</details>", ""]
    lines += ["<details><summary>The full plan of the working tree</summary>", ""]
    for plan in plans:
        lines += [*details(plan), ""]
    lines += ["</details>"]
    return _fit("\n".join(lines), limit - len(footer), comparison) + footer


def _fit(text: str, limit: int, comparison: Comparison) -> str:
    """`text` cut at a line to fit `limit`, open code fences and folds closed, with a visible note."""
    if len(text) <= limit:
        return text
    scope = "all" if len(comparison.plans) > 1 else comparison.plans[0].stack
    note = (
        f"\n\n> ⚠️ **Truncated** at {limit:,} characters (a comment holds 65,536): run "
        f"`chefchatz plan --stack {scope} --base {comparison.ref}` for everything."
    )
    kept = text[: limit - len(note) - 200].rsplit("\n", 1)[0]
    if kept.count("```") % 2:
        kept += "\n```"
    kept += "\n</details>" * max(0, kept.count("<details") - kept.count("</details>"))
    return kept + note
