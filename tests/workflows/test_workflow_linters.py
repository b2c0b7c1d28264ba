"""Every workflow of this repository and every generated one passes three independent checks:
zizmor (no finding at medium severity or above), GitHub's workflow JSON schema (check-jsonschema's
vendored copy, offline) and our own `policies.workflows` rules.

The tools come from the project's pinned dev requirements; a missing tool fails these tests, and a
known-bad workflow proves each check can fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from policies.workflows import workflow_violations

from .conftest import REPO_ROOT, REPO_WORKFLOWS

BIN = Path(sys.executable).parent
REPO_FILES = sorted(REPO_WORKFLOWS.glob("*.yml"))
GENERATED = (
    ".github/workflows/ci.yml",
    ".github/workflows/deploy.yml",
    ".github/workflows/deploy-production.yml",
    ".github/workflows/release-train.yml",
    ".github/workflows/release.yml",
)

BAD_WORKFLOW = textwrap.dedent(
    """\
    name: bad
    on: pull_request
    jobs:
      greet:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - run: echo "${{ github.event.pull_request.title }}"
    """
)


def tool(name: str) -> Path:
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}: run ./dev (requirements/dev.txt)"
    return path


def zizmor(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    # --no-config/--no-ignores: no configuration file or inline comment can hide a finding.
    result = subprocess.run(
        [
            str(tool("zizmor")),
            "--offline",
            "--no-config",
            "--no-ignores",
            "--min-severity",
            "medium",
            "--format",
            "json",
            "--no-progress",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip(), f"zizmor printed no JSON (exit {result.returncode}): {result.stderr[-2000:]}"
    return result.returncode, json.loads(result.stdout)


def schema_check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool("check-jsonschema")), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def describe(findings: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{f['ident']} ({f['determinations']['severity']}): {f['desc']} at "
        f"{f['locations'][0]['symbolic']['key']} {f['locations'][0]['concrete']['feature']!r}"
        for f in findings
    )


def test_this_repository_has_its_pr_deploy_and_drift_workflows() -> None:
    assert {p.name for p in REPO_FILES} >= {"ci.yml", "deploy.yml", "drift.yml"}, REPO_FILES


def test_zizmor_finds_nothing_at_medium_or_above_in_this_repositorys_workflows() -> None:
    code, findings = zizmor(*REPO_FILES)
    assert (code, findings) == (0, []), describe(findings)


def test_zizmor_finds_nothing_at_medium_or_above_in_the_generated_workflows(generated_repo: Path) -> None:
    files = [generated_repo / path for path in GENERATED]
    code, findings = zizmor(*files)
    assert (code, findings) == (0, []), describe(findings)


def test_zizmor_audits_the_generated_repository_as_a_whole(generated_repo: Path) -> None:
    # Collected as a repository (the layout some audits need), not only file by file.
    code, findings = zizmor(generated_repo)
    assert (code, findings) == (0, []), describe(findings)


def test_zizmor_catches_an_unsafe_workflow(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(BAD_WORKFLOW)
    code, findings = zizmor(bad)
    assert code != 0
    assert {"template-injection", "unpinned-uses", "artipacked", "excessive-permissions"} <= {
        f["ident"] for f in findings
    }


def test_every_workflow_matches_githubs_workflow_schema(generated_repo: Path) -> None:
    files = [*REPO_FILES, *(generated_repo / path for path in GENERATED)]
    result = schema_check(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_an_invalid_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    steps:\n      - run: make\n    permissions: writeish\n")
    result = schema_check(broken)
    assert result.returncode != 0, result.stdout


@pytest.mark.parametrize("path", REPO_FILES, ids=lambda p: p.name)
def test_this_repositorys_workflow_has_no_policy_violation(path: Path) -> None:
    relative = str(path.relative_to(REPO_ROOT))
    assert workflow_violations(relative, path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", GENERATED)
def test_the_generated_workflow_has_no_policy_violation(app_files: dict[str, str], path: str) -> None:
    assert workflow_violations(path, app_files[path]) == []


def test_our_rules_catch_the_same_unsafe_workflow() -> None:
    found = {v.rule for v in workflow_violations("bad.yml", BAD_WORKFLOW)}
    assert found == {"action-not-pinned", "top-level-write-permissions", "untrusted-input-in-script"}


@pytest.mark.parametrize(
    ("replace", "by"),
    [
        ("    environment:\n      name: production\n      url: https://chefchatz.com\n", ""),
        ("      name: production\n", "      name: production-tech-lead\n"),
    ],
    ids=["environment-removed", "approval-environment-only"],
)
def test_our_rules_see_the_generated_production_deploy(app_files: dict[str, str], replace: str, by: str) -> None:
    # The generated files pass because they are gated, not because the rule misses their deploy step.
    text = app_files[".github/workflows/deploy-production.yml"]
    assert replace in text
    found = workflow_violations("deploy-production.yml", text.replace(replace, by))
    assert [(v.rule, v.job) for v in found] == [("production-deploy-without-environment", "deploy-production")]
    assert "Deploy to Vercel (prebuilt)" in found[0].message
