"""The sign-off's verdict and its renderings: exit code, JSON and markdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ops import ExitStatus
from ops.signoff.evidence import IMPLEMENTATION, SIGNOFF, ItemResult, Status

EXIT_VERIFIED = ExitStatus.OK
EXIT_NOT_VERIFIED = ExitStatus.FAILED
EXIT_USAGE = ExitStatus.BAD_INPUT


def all_verified(results: Sequence[ItemResult]) -> bool:
    return bool(results) and all(r.status is Status.VERIFIED for r in results)


def exit_code(results: Sequence[ItemResult]) -> int:
    return EXIT_VERIFIED if all_verified(results) else EXIT_NOT_VERIFIED


def to_json(stack: str, results: Sequence[ItemResult]) -> dict[str, Any]:
    return {"stack": stack, "items": [r.as_json() for r in results], "verified": all_verified(results)}


def _code(text: str) -> str:
    """A command as inline code, unless it already quotes code itself (backticks cannot nest)."""
    return text if "`" in text else f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(stack: str, results: Sequence[ItemResult]) -> str:
    marks = {Status.VERIFIED: "✅ verified", Status.UNVERIFIED: "⚠️ unverified", Status.FAILED: "❌ failed"}
    done = sum(r.status is Status.VERIFIED for r in results)
    lines = [f"## Sign-off of stack `{stack}`: {done}/{len(results)} verified", ""]
    for list_name in (IMPLEMENTATION, SIGNOFF):
        lines += [f"### {list_name}", "", "| Item | Status | Evidence | Needs |", "| --- | --- | --- | --- |"]
        for r in (r for r in results if r.list_name == list_name):
            lines.append(
                f"| {_cell(r.item)} | {marks[r.status]} | {_cell('<br>'.join(r.evidence))} | "
                f"{_cell('<br>'.join(_code(n) for n in r.needs))} |"
            )
        lines.append("")
    verdict = "All items verified." if all_verified(results) else "NO PROCEEDING until all items are verified."
    lines.append(f"**{verdict}**")
    return "\n".join(lines) + "\n"
