"""managed-workflows-are-safe: the CrossGuard wiring of the workflow validators (tested in depth by
tests/workflows) over the workflow files the program commits with `github.RepositoryFile`."""

from __future__ import annotations

from typing import Any

import pytest
from policy_harness import UNKNOWN_STRING_VALUE, Findings, config_for, run_resource_policy, urn
from resource_shapes import SAFE_WORKFLOW, SHA

from policies.common import GITHUB_FILE, GITHUB_RULESET
from policies.pipelines import managed_workflows_are_safe
from policies.workflows import (
    RULE_PRODUCTION_ENVIRONMENT,
    RULE_TOP_LEVEL_WRITE,
    RULE_UNPINNED_ACTION,
    RULE_UNTRUSTED_INPUT,
    RULE_YAML_INVALID,
)

FILE_URN = urn(GITHUB_FILE, "chefchatz-file")


def committed(path: str, content: Any, **config: Any) -> Findings:
    props = {"repository": "chefchatz", "file": path, "content": content, "branch": "chefchatz-infra/managed-files"}
    return run_resource_policy(
        managed_workflows_are_safe,
        GITHUB_FILE,
        props,
        name="chefchatz-file",
        config=config_for(managed_workflows_are_safe, **config),
    )


def deploy_workflow(environment: str | None) -> str:
    bound = f"    environment: {environment}\n" if environment else ""
    return (
        "name: deploy\non: push\npermissions: {}\njobs:\n  deploy:\n    runs-on: ubuntu-24.04\n"
        f"{bound}    steps:\n      - run: pulumi up --stack prod --yes\n"
    )


@pytest.mark.parametrize("path", [".github/workflows/ci.yml", ".github/workflows/ci.yaml"])
def test_committed_workflow_that_pins_actions_and_grants_no_writes_passes(path: str) -> None:
    assert committed(path, SAFE_WORKFLOW) == []


@pytest.mark.parametrize(
    ("content", "rule", "detail"),
    [
        ("on: [push\n", RULE_YAML_INVALID, "YAML does not parse"),
        (SAFE_WORKFLOW.replace(f"@{SHA}", "@v4"), RULE_UNPINNED_ACTION, "actions/checkout@v4"),
        (SAFE_WORKFLOW.replace("permissions:\n  contents: read\n", ""), RULE_TOP_LEVEL_WRITE, "no top-level"),
        (SAFE_WORKFLOW.replace("  contents: read", "  contents: write"), RULE_TOP_LEVEL_WRITE, "contents"),
        (deploy_workflow(None), RULE_PRODUCTION_ENVIRONMENT, "deploys to production"),
        (
            SAFE_WORKFLOW.replace("make test", 'echo "${{ github.event.pull_request.title }}"'),
            RULE_UNTRUSTED_INPUT,
            "github.event.pull_request.title",
        ),
    ],
    ids=["yaml-invalid", "unpinned-action", "no-permissions", "write-permissions", "deploy-outside-env", "injection"],
)
def test_each_unsafe_workflow_is_reported_with_its_rule_id(content: str, rule: str, detail: str) -> None:
    findings = committed(".github/workflows/ci.yml", content)
    finding = findings.expect(f"[{rule}] ", on=FILE_URN)
    assert detail in finding.message, finding.message


def test_production_deploy_inside_the_production_environment_passes() -> None:
    assert committed(".github/workflows/deploy.yml", deploy_workflow("production")) == []


def test_production_environment_names_are_configurable() -> None:
    committed(".github/workflows/deploy.yml", deploy_workflow("production"), productionEnvironments=["live"]).expect(
        f"[{RULE_PRODUCTION_ENVIRONMENT}] "
    )
    assert committed(".github/workflows/deploy.yml", deploy_workflow("live"), productionEnvironments=["live"]) == []


@pytest.mark.parametrize("path", [".github/CODEOWNERS", ".github/workflows/README.md", "docs/ci.yml"])
def test_files_that_are_not_workflows_are_not_judged(path: str) -> None:
    assert committed(path, "on: [push\n") == []


def test_other_resources_are_not_judged() -> None:
    props = {"file": ".github/workflows/ci.yml", "content": "on: [push\n"}
    assert run_resource_policy(managed_workflows_are_safe, GITHUB_RULESET, props) == []


@pytest.mark.parametrize(
    ("path", "content"),
    [(".github/workflows/ci.yml", UNKNOWN_STRING_VALUE), (UNKNOWN_STRING_VALUE, SAFE_WORKFLOW)],
    ids=["content", "path"],
)
def test_workflow_file_unknown_at_preview_is_reported(path: str, content: str) -> None:
    committed(path, content).expect_unverifiable(on=FILE_URN)
