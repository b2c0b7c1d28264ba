"""Evidence that an environment is deployed as configured: the drift workflow's refresh preview."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ops.signoff.evidence import (
    DEFAULT_MAX_AGE,
    Finding,
    age_text,
    as_mapping,
    failed,
    fresh,
    load_evidence,
    parse_time,
    unverified,
)


def drift_needs(path: Path, stack: str) -> str:
    return (
        f"run=$(gh run list --workflow drift.yml --status completed --limit 1 --json databaseId "
        f"--jq '.[0].databaseId') && gh run download \"$run\" --name drift-{stack} --dir {path.parent}"
    )


# The flags that make a drift report evidence: the resources are read back from the clouds first
# (`--refresh`), any difference fails the run (`--expect-no-changes`), and the policies run too.
DRIFT_FLAGS = ("--refresh", "--expect-no-changes", "--policy-pack")


def drift_command_problem(command: Any, stack: str) -> str | None:
    """Why the command a drift report records is not a refresh preview of ``stack``, else None."""
    if not isinstance(command, str) or not command.strip():
        return "it records no command (a report from before drift detection refreshed)"
    words = command.split()
    if words[:2] != ["pulumi", "preview"]:
        return f"it records `{command}`, not a `pulumi preview`"
    # `--flag=value` is `--flag value` to the CLI; `-s` is `--stack`.
    flags = [w.split("=", 1)[0] for w in words]
    flags = ["--stack" if f == "-s" else f for f in flags]
    missing = [flag for flag in DRIFT_FLAGS if flag not in flags]
    if missing:
        return (
            f"it records `{command}`, without {' '.join(missing)}: a preview without --refresh compares the "
            "program with Pulumi's recorded state, not with the cloud"
        )
    if "--refresh=false" in words:
        return f"it records `{command}`, which turns the refresh off"
    if "--stack" not in flags:
        return f"it records `{command}`, which names no stack"
    at = flags.index("--stack")
    named = words[at].split("=", 1)[1] if "=" in words[at] else (words[at + 1 : at + 2] or [""])[0]
    if named != stack:
        return f"it records `{command}`, a preview of another stack"
    return None


def _drift_entry(entry: dict[str, Any]) -> str:
    """``update production (reviewers[0].users[1]: delete, ...)``: the resource, then what differs."""
    name = str(entry.get("urn", "")).rsplit("::", 1)[-1]
    listed = entry.get("properties")
    properties = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    details = ", ".join(f"{p.get('path')}: {p['kind']}" if p.get("kind") else str(p.get("path")) for p in properties)
    return f"{entry.get('op')} {name}" + (f" ({details})" if details else "")


def check_drift_report(
    path: Path, stack: str, now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["drift"]
) -> Finding:
    """The drift workflow's report: `pulumi preview --refresh --expect-no-changes --policy-pack policies`
    on the real stack exited 0 and found nothing that differs (the clouds are what the program says),
    recently. A report of any other command is not evidence."""
    data, problem = load_evidence(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict) or data.get("kind") != "drift-report":
        return failed(f"{path}: not a drift report (.github/workflows/drift.yml)", needs)
    if data.get("stack") != stack:
        return failed(f"{path}: a report for stack {data.get('stack')!r}, not {stack!r}", needs)
    not_refresh = drift_command_problem(data.get("command"), stack)
    if not_refresh:
        return unverified(
            f"{path} is not evidence: {not_refresh}; only a refresh preview shows the environment as deployed",
            needs,
        )
    checked = parse_time(data.get("checked_at"))
    if checked is None:
        return failed(f"{path}: no checked_at", needs)
    drift = data.get("drift")
    if not isinstance(drift, list):
        return unverified(f"{path} is not evidence: it lists no drifted resources (`drift`)", needs)
    listed_steps = as_mapping(data.get("preview")).get("steps")
    steps = [s for s in listed_steps if isinstance(s, dict)] if isinstance(listed_steps, list) else []
    changes = [entry for entry in drift if isinstance(entry, dict)]
    head = f"pulumi preview --refresh of stack {stack} ({age_text(now - checked)}, {data.get('run_url', 'no run url')})"
    fix = f"see the open `Drift: stack {stack}` issue; reconcile (`pulumi up` or fix the program); then {needs}"
    if changes:
        listed = "; ".join(_drift_entry(entry) for entry in changes[:5])
        more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
        return failed(f"{head}: drifted, {len(changes)} resources differ: {listed}{more}", fix)
    if data.get("exit_code") != 0:
        return failed(f"{head}: exited {data.get('exit_code')} (a policy failed or the preview errored)", fix)
    if not steps:
        return failed(f"{head}: the preview listed no resources", needs)
    return fresh(f"{head}: no changes, every policy passed ({len(steps)} resources)", checked, now, max_age, needs)
