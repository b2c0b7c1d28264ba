"""Every GitHub REST call in a github-script step exists in Octokit's published endpoint list, with its parameters.

The source of truth is ``@octokit/plugin-rest-endpoint-methods`` (what ``github.rest.<scope>.<method>``
maps to: the route) and ``@octokit/openapi`` (GitHub's OpenAPI document: each route's path and query
parameters and request-body properties), both pinned in ``tests/contracts/node/package-lock.json``.
``actions/github-script`` hands the script an Octokit client with exactly these methods.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.app_workflows import AppPipelineArgs, app_workflow_files
from tests.contracts.schemas import schemas
from tests.workflows.conftest import CHEFCHATZ_REQUIREMENT

REPO_ROOT = Path(__file__).resolve().parents[2]
# Options of every Octokit request rather than parameters of an endpoint (octokit/request.js README).
OCTOKIT_OPTIONS = frozenset({"headers", "mediaType", "request", "baseUrl"})
CALL = re.compile(r"github\.rest\.(\w+)\.(\w+)\s*(\(|,)")


@dataclass(frozen=True)
class Call:
    where: str
    scope: str
    method: str
    keys: frozenset[str]


def _object_literal_keys(text: str, start: int) -> frozenset[str]:
    """The top-level keys of the JS object literal that starts at or after ``start`` (``{ owner, repo: x }``)."""
    begin = text.index("{", start)
    depth, quote, item, items = 0, "", "", []
    i = begin
    while i < len(text):
        ch = text[i]
        if quote:  # inside a string or template literal: braces and commas are text
            if ch == "\\":
                item, i = item + text[i : i + 2], i + 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch in "{[(":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif ch in "}])":
            depth -= 1
            if depth == 0:
                items.append(item)
                break
        elif ch == "," and depth == 1:
            items.append(item)
            item, i = "", i + 1
            continue
        item, i = item + ch, i + 1
    keys = set()
    for entry in items:
        entry = entry.strip()
        if entry:
            match = re.match(r"^(\.\.\.)?([A-Za-z_$][\w$]*)", entry)
            assert match and not match.group(1), f"cannot read the parameter {entry!r}: spread arguments hide names"
            keys.add(match.group(2))
    return frozenset(keys)


def _scripts(workflow: dict[str, Any]) -> Iterator[str]:
    for job in (workflow.get("jobs") or {}).values():
        for step in job.get("steps") or []:
            if str(step.get("uses", "")).split("@")[0] == "actions/github-script":
                yield str((step.get("with") or {}).get("script", ""))


def workflows() -> dict[str, str]:
    """The committed workflows of this repository and every file the app-pipeline generator writes."""
    found = {
        str(path.relative_to(REPO_ROOT)): path.read_text(encoding="utf-8")
        for path in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    }
    generated = app_workflow_files(
        AppPipelineArgs(chefchatz_requirement=CHEFCHATZ_REQUIREMENT, production_rollout=True)
    )
    found.update({f"generated:{path}": text for path, text in generated.items() if path.endswith((".yml", ".yaml"))})
    return found


def calls_in(where: str, text: str) -> list[Call]:
    found = []
    for script in _scripts(yaml.safe_load(text) or {}):
        for match in CALL.finditer(script):
            found.append(Call(where, match.group(1), match.group(2), _object_literal_keys(script, match.end())))
    return found


def every_call() -> list[Call]:
    return [call for where, text in workflows().items() for call in calls_in(where, text)]


def problems(call: Call) -> list[str]:
    name = f"{call.where}: github.rest.{call.scope}.{call.method}"
    endpoint = schemas().octokit_endpoint(call.scope, call.method)
    if "error" in endpoint:
        return [f"{name}: {endpoint['error']}"]
    found = []
    if endpoint["deprecated"] or endpoint["renamed"]:
        found.append(f"{name} ({endpoint['route']}) is deprecated or renamed: {endpoint['renamed']}")
    known = {p["name"] for p in endpoint["parameters"]} | set(endpoint["body"]["properties"]) | OCTOKIT_OPTIONS
    required = {p["name"] for p in endpoint["parameters"] if p["required"]} | set(endpoint["body"]["required"])
    found += [f"{name} ({endpoint['route']}) has no parameter {key!r}" for key in sorted(call.keys - known)]
    found += [f"{name} ({endpoint['route']}) needs {key!r}" for key in sorted(required - call.keys)]
    return found


def test_the_workflows_make_github_rest_calls_to_check() -> None:
    calls = every_call()
    assert {(c.scope, c.method) for c in calls} >= {("issues", "listForRepo"), ("issues", "update")}, calls


@pytest.mark.parametrize("call", every_call(), ids=lambda c: f"{c.where}:{c.scope}.{c.method}")
def test_every_github_rest_call_is_an_octokit_endpoint_with_its_parameters(call: Call) -> None:
    assert problems(call) == []


def test_an_unknown_method_a_misnamed_parameter_and_a_missing_one_are_caught() -> None:
    script = (
        "await github.rest.issues.createComent({ owner, repo, issue_number, body });\n"
        "await github.rest.issues.update({ owner, repo, issue: 1, state: 'closed' });\n"
    )
    workflow = yaml.safe_dump(
        {"jobs": {"j": {"steps": [{"uses": "actions/github-script@x", "with": {"script": script}}]}}}
    )
    found = [p for call in calls_in("t.yml", workflow) for p in problems(call)]
    assert found == [
        "t.yml: github.rest.issues.createComent: github.rest.issues.createComent is not in "
        "@octokit/plugin-rest-endpoint-methods",
        "t.yml: github.rest.issues.update (PATCH /repos/{owner}/{repo}/issues/{issue_number}) has no parameter 'issue'",
        "t.yml: github.rest.issues.update (PATCH /repos/{owner}/{repo}/issues/{issue_number}) needs 'issue_number'",
    ], found
