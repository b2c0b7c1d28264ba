"""Evidence that the CI/CD pipeline works: every workflow passes the workflow rules, and the tests pass."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path

from ops.plan import StackPlan
from ops.signoff.evidence import (
    DEFAULT_MAX_AGE,
    Finding,
    age_text,
    failed,
    file_time,
    fresh,
    parse_time,
    unverified,
    verified,
)
from policies.workflows import workflow_violations


def managed_files(plans: Iterable[StackPlan]) -> dict[str, str]:
    """Workflow files the program commits to the app repository (``github.RepositoryFile`` contents)."""
    files: dict[str, str] = {}
    for plan in plans:
        for resource in plan.resources:
            if resource["type"] != "github:index/repositoryFile:RepositoryFile":
                continue
            props = resource["properties"]
            path, content = props.get("file"), props.get("content")
            if isinstance(path, str) and isinstance(content, str) and path.startswith(".github/workflows/"):
                files[f"app:{path} ({plan.stack})"] = content
    return files


def repository_workflows(project_dir: Path) -> dict[str, str]:
    directory = project_dir / ".github" / "workflows"
    paths = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]) if directory.is_dir() else []
    return {str(p.relative_to(project_dir)): p.read_text(encoding="utf-8") for p in paths}


def check_workflows(own: Mapping[str, str], managed: Mapping[str, str]) -> Finding:
    """Every workflow of this repository and every managed app workflow has no rule violation."""
    if not own:
        return failed("no workflow files in .github/workflows/", "add this repository's CI workflows")
    if not managed:
        return failed(
            "no stack commits the app's workflow files (no github.RepositoryFile under .github/workflows/)",
            "wire components.app_workflows into the Repository component of the stack that owns the rules",
        )
    found = []
    for label, text in {**own, **managed}.items():
        found.extend(workflow_violations(label, text))
    if found:
        listed = "; ".join(str(v) for v in found[:5])
        return failed(
            f"{len(found)} workflow violation(s): {listed}",
            "fix the workflow (own files) or components/app_workflows.py (managed files)",
        )
    return verified(
        f"{len(own)} own + {len(managed)} managed workflow files: 0 violations of "
        "pinned actions, top-level permissions, production environments, untrusted input"
    )


def check_test_report(path: Path, now: dt.datetime, max_age: dt.timedelta = DEFAULT_MAX_AGE["test_report"]) -> Finding:
    """A JUnit XML report (``pytest --junitxml``) with tests, none failed or in error, recent enough."""
    needs = f".venv/bin/pytest -q --junitxml={path}"
    if not path.is_file():
        return unverified(f"missing {path}", needs)
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - our own CI's report
    except ET.ParseError as exc:
        return failed(f"{path} is not JUnit XML ({exc})", needs)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in ("testsuite", "testsuites"):
        return failed(f"{path}: root element <{root.tag}> is not <testsuites> or <testsuite>", needs)

    def total(attribute: str) -> int:
        return sum(int(s.get(attribute, "0") or 0) for s in suites)

    tests, failures, errors, skipped = total("tests"), total("failures"), total("errors"), total("skipped")
    times = [t for t in (parse_time(s.get("timestamp")) for s in suites) if t is not None]
    when = min(times) if times else file_time(path)
    summary = (
        f"{path.name}: {tests} tests, {failures} failures, {errors} errors, {skipped} skipped ({age_text(now - when)})"
    )
    if tests == 0:
        return failed(f"{summary}: no tests ran", needs)
    if failures or errors:
        return failed(summary, f"fix the failing tests, then {needs}")
    return fresh(summary, when, now, max_age, needs)
