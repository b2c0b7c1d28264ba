"""Table tests for each workflow rule in `policies.workflows`: a passing file and every distinct way
to break each rule, with the job and step named in the message."""

from __future__ import annotations

import doctest
import json
import textwrap
import time

import pytest

import components.app_pipeline.release
import components.app_pipeline.repo_files
import policies.workflows
from policies.workflows import (
    RULE_PRODUCTION_ENVIRONMENT,
    RULE_TOP_LEVEL_WRITE,
    RULE_UNPINNED_ACTION,
    RULE_UNTRUSTED_INPUT,
    RULE_YAML_INVALID,
    workflow_violations,
)

SHA = "3d3c42e5aac5ba805825da76410c181273ba90b1"
CHECKOUT = f"actions/checkout@{SHA}"


def workflow(job: str, *, header: str = "permissions: {}\n", extra_jobs: str = "") -> str:
    """A workflow with one job `deploy` whose body is `job` (YAML at job level)."""
    body = textwrap.indent(textwrap.dedent(job).strip("\n"), "    ")
    extra = textwrap.indent(textwrap.dedent(extra_jobs).strip("\n"), "  ") if extra_jobs else ""
    return f"name: t\non: push\n{header}jobs:\n  deploy:\n{body}\n{extra}\n"


def rules(text: str, **kwargs: tuple[str, ...]) -> list[str]:
    return [v.rule for v in workflow_violations("wf.yml", text, **kwargs)]


PASSING = workflow(
    f"""
    runs-on: ubuntu-24.04
    environment: production
    permissions:
      contents: read
      id-token: write
    steps:
      - uses: {CHECKOUT} # v7.0.1
        with:
          persist-credentials: false
      - uses: ./.github/actions/setup
      - uses: docker://alpine@sha256:{"a" * 64}
      - name: Deploy
        env:
          TITLE: ${{{{ github.event.pull_request.title }}}}
        run: |
          echo "$TITLE"
          vercel deploy --prebuilt --prod --token "$VERCEL_TOKEN"
          pulumi up --stack prod --yes
    """
)


def test_a_pinned_least_privilege_gated_workflow_has_no_violations() -> None:
    assert workflow_violations("wf.yml", PASSING) == []


def test_the_rule_modules_doctests_pass() -> None:
    for module in (policies.workflows, components.app_pipeline.release, components.app_pipeline.repo_files):
        result = doctest.testmod(module)
        assert result.attempted > 0, f"{module.__name__} has no doctests"
        assert result.failed == 0, f"{module.__name__}: {result.failed} doctest(s) failed"


# --- workflow-yaml-invalid ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("on: [push\njobs: {}\n", "does not parse"),
        ("on: push\njobs:\n  a:\n    steps:\n  - run: x\n", "does not parse"),
        ("- just\n- a list\n", "got list"),
        ("", "got empty"),
        ("on: push\npermissions: {}\n", "non-empty `jobs:`"),
        ("on: push\npermissions: {}\njobs: [a, b]\n", "non-empty `jobs:`"),
        ("on: push\npermissions: {}\njobs:\n  a: {runs-on: x}\n  a: {runs-on: y}\n", "duplicate key 'a'"),
        ("on: push\npermissions: {}\n---\non: pull_request\n", "does not parse"),
    ],
    ids=["unclosed-flow", "bad-indent", "list", "empty", "no-jobs", "jobs-list", "duplicate-job", "two-docs"],
)
def test_yaml_that_github_cannot_load_is_a_violation_not_a_crash(text: str, fragment: str) -> None:
    found = workflow_violations("broken.yml", text)
    assert [v.rule for v in found] == [RULE_YAML_INVALID], found
    assert fragment in found[0].message, found[0].message
    assert found[0].path == "broken.yml"


def test_a_job_that_is_not_a_mapping_is_named() -> None:
    found = workflow_violations("wf.yml", "on: push\npermissions: {}\njobs:\n  build: yes-please\n")
    assert [(v.rule, v.job) for v in found] == [(RULE_YAML_INVALID, "build")]


def test_on_is_read_as_a_key_not_as_yaml_1_1_true() -> None:
    # PyYAML's default reads `on:` as True; GitHub does not. The passing file must stay passing.
    expanded = PASSING.replace("on: push", "on:\n  push:\n    branches: [main]")
    assert workflow_violations("wf.yml", expanded) == []


ODD_JOBS = [
    "steps: not-a-list",
    "steps: [1, null, [x]]",
    "steps:\n  - uses: 123\n  - run: [x]",
    "strategy: {matrix: '${{ fromJSON(x) }}'}\nsteps: []",
    "environment: {url: x}\nsteps: [{run: 'vercel --prod'}]",
    "steps: [{run: 'echo \"unterminated'}]",
]


@pytest.mark.parametrize(
    "text",
    ["on: push\npermissions: {}\njobs:\n  a:\n" + textwrap.indent(job, "    ") + "\n" for job in ODD_JOBS],
    ids=["steps-string", "steps-junk", "odd-values", "dynamic-matrix", "env-without-name", "bad-quoting"],
)
def test_odd_but_loadable_shapes_never_crash(text: str) -> None:
    assert isinstance(workflow_violations("odd.yml", text), list)


# --- action-not-pinned --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uses", "reason"),
    [
        ("actions/checkout@v4", "tag or branch"),
        ("actions/checkout@main", "tag or branch"),
        ("actions/checkout@v4.2.2", "tag or branch"),
        ("actions/checkout@3d3c42e", "tag or branch"),
        (f"actions/checkout@{SHA}0", "tag or branch"),
        ("actions/checkout", "no @ref"),
        ("amondnet/vercel-action@v20", "tag or branch"),
        ("docker://node:22", "sha256"),
        ("docker://node@sha256:abc", "sha256"),
        ("actions/checkout@${{ inputs.ref }}", "expression"),
    ],
)
def test_an_action_not_pinned_to_a_full_commit_sha_is_a_violation(uses: str, reason: str) -> None:
    text = workflow(f"runs-on: x\nsteps:\n  - name: Get code\n    uses: {uses}\n")
    found = workflow_violations("wf.yml", text)
    assert [v.rule for v in found] == [RULE_UNPINNED_ACTION], found
    assert reason in found[0].message
    assert "job 'deploy', step 1 'Get code'" in found[0].message
    assert (found[0].job, found[0].step) == ("deploy", "1 'Get code'")


def test_a_reusable_workflow_called_by_tag_is_a_violation() -> None:
    text = workflow("uses: octo/pipelines/.github/workflows/deploy.yml@v1\n")
    assert rules(text) == [RULE_UNPINNED_ACTION]
    text = workflow(f"uses: octo/pipelines/.github/workflows/deploy.yml@{SHA}\n")
    assert rules(text) == []


def test_the_specs_outdated_workflow_is_rejected_on_every_count() -> None:
    spec = textwrap.dedent(
        """\
        name: Deploy
        on:
          push:
            branches: [main]
          pull_request:
            branches: [main]
        jobs:
          deploy:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v2
              - name: Setup Node.js
                uses: actions/setup-node@v2
                with:
                  node-version: '18'
              - run: pnpm install
              - name: Deploy to Vercel
                uses: amondnet/vercel-action@v20
                with:
                  vercel-token: ${{ secrets.VERCEL_TOKEN }}
                  vercel-args: '--prod'
        """
    )
    expected = [RULE_TOP_LEVEL_WRITE, *[RULE_UNPINNED_ACTION] * 3, RULE_PRODUCTION_ENVIRONMENT]
    assert sorted(rules(spec)) == sorted(expected)


# --- top-level-write-permissions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("", "no top-level `permissions:`"),
        ("permissions: write-all\n", "write-all"),
        ("permissions:\n  contents: write\n", "contents"),
        ("permissions:\n  contents: read\n  id-token: write\n  statuses: write\n", "id-token, statuses"),
        ("permissions: read-everything\n", "not read-all"),
        ("permissions:\n", "not read-all"),
    ],
    ids=["missing", "write-all", "contents-write", "two-writes", "unknown-string", "null"],
)
def test_write_permissions_at_the_top_level_are_a_violation(header: str, fragment: str) -> None:
    found = workflow_violations("wf.yml", workflow("runs-on: x\nsteps: [{run: make}]\n", header=header))
    assert [v.rule for v in found] == [RULE_TOP_LEVEL_WRITE], found
    assert fragment in found[0].message


@pytest.mark.parametrize(
    "header",
    ["permissions: {}\n", "permissions: read-all\n", "permissions:\n  contents: read\n  actions: none\n"],
)
def test_read_only_top_level_permissions_pass(header: str) -> None:
    job = "runs-on: x\npermissions:\n  contents: write\nsteps: [{run: make}]\n"
    assert rules(workflow(job, header=header)) == []


# --- production-deploy-without-environment ------------------------------------------------------


def run_job(script: str, environment: str | None = None) -> str:
    """A job running `script` (a JSON string is a valid double-quoted YAML scalar)."""
    env = f"environment: {environment}\n" if environment else ""
    return f"runs-on: x\n{env}steps:\n  - run: {json.dumps(script)}\n"


def action_job(action: str, environment: str | None = None, **inputs: str) -> str:
    env = f"environment: {environment}\n" if environment else ""
    with_ = "".join(f"      {k.replace('_', '-')}: {v}\n" for k, v in inputs.items())
    return f"runs-on: x\n{env}steps:\n  - uses: {action}@{SHA}\n    with:\n{with_}"


@pytest.mark.parametrize(
    ("job", "what"),
    [
        (run_job('vercel deploy --prebuilt --prod --token "$T"'), "vercel deploy --prod"),
        (run_job("npx vercel@64.0.2 --prod"), "vercel deploy --prod"),
        (run_job("pnpm dlx vercel deploy --target production"), "vercel deploy --prod"),
        (run_job("vercel \\\n  deploy --prebuilt \\\n  --prod\n"), "vercel deploy --prod"),
        (run_job('url="$(vercel deploy --prebuilt --prod)"'), "vercel deploy --prod"),
        (run_job("VERCEL_ORG_ID=x pnpm exec vercel --prod"), "vercel deploy --prod"),
        (run_job("vercel promote https://x.vercel.app"), "vercel promote"),
        (run_job("vercel rollback"), "vercel rollback"),
        (run_job("vercel --prod", "production-tech-lead"), "environment 'production-tech-lead'"),
        (run_job("pulumi up --stack prod --yes", "staging"), "stack 'prod'"),
        (run_job("pulumi up -s acme/chefchatz/prod --yes"), "stack 'acme/chefchatz/prod'"),
        (run_job("pulumi -C infra up --stack=production"), "stack 'production'"),
        (run_job("pulumi destroy --stack prod"), "pulumi destroy"),
        (run_job("pulumi stack select prod\npulumi up --yes\n"), "stack 'prod'"),
        (run_job("pulumi up --yes"), "<unresolved>"),
        (
            action_job("pulumi/actions", "dev", command="up", stack_name="prod"),
            "`pulumi/actions` up of stack 'prod'",
        ),
        (action_job("amondnet/vercel-action", vercel_args="--prod"), "with --prod"),
        (run_job("pulumi up --stack prod", "${{ inputs.target }}"), "environment '<unresolved>'"),
    ],
    ids=[
        "vercel-deploy-prod",
        "npx-vercel-prod",
        "vercel-target-production",
        "line-continuations",
        "command-substitution",
        "package-runner",
        "vercel-promote",
        "vercel-rollback",
        "approval-only-environment",
        "pulumi-prod-in-staging",
        "pulumi-qualified-stack",
        "pulumi-cwd-flag",
        "pulumi-destroy",
        "pulumi-stack-select",
        "pulumi-unknown-stack",
        "pulumi-action-prod",
        "vercel-action-prod",
        "dynamic-environment",
    ],
)
def test_a_production_deploy_outside_the_production_environment_is_a_violation(job: str, what: str) -> None:
    found = workflow_violations("wf.yml", workflow(job))
    assert [v.rule for v in found] == [RULE_PRODUCTION_ENVIRONMENT], found
    assert what in found[0].message, found[0].message
    assert "job 'deploy', step 1" in found[0].message


@pytest.mark.parametrize(
    "job",
    [
        run_job("vercel deploy --prebuilt --prod", "production"),
        "runs-on: x\nenvironment:\n  name: production\n  url: https://x\nsteps: [{run: pulumi up -s prod}]\n",
        # A non-production environment's own Vercel project: its production target is dev.chefchatz.com.
        run_job("vercel deploy --prebuilt --prod", "dev"),
        run_job("vercel deploy --prebuilt --prod", "staging"),
        run_job("vercel build --prod"),
        run_job("vercel pull --yes --environment=production"),
        run_job("vercel deploy --prebuilt"),
        run_job("pulumi preview --stack prod"),
        run_job("pulumi up --stack dev --yes"),
        run_job("# pulumi up --stack prod"),
        run_job("echo vercel --prod is not run here"),
        action_job("pulumi/actions", command="preview", stack_name="prod"),
        action_job("pulumi/actions", command="up", stack_name="acme/x/dev"),
    ],
    ids=[
        "vercel-in-production",
        "pulumi-in-production-object",
        "dev-project",
        "staging-project",
        "vercel-build",
        "vercel-pull",
        "vercel-preview",
        "pulumi-preview",
        "pulumi-dev",
        "comment",
        "echo",
        "pulumi-action-preview",
        "pulumi-action-dev",
    ],
)
def test_gated_or_non_production_deploys_pass(job: str) -> None:
    assert rules(workflow(job)) == []


def test_a_matrix_over_stacks_is_checked_per_combination() -> None:
    job = """
    runs-on: x
    strategy:
      matrix:
        stack: [dev, staging, prod]
        include:
          - stack: dev
            gate: dev
          - stack: staging
            gate: staging
          - stack: prod
            gate: production
    environment: ${{ matrix.gate }}
    steps:
      - run: pulumi up --stack ${{ matrix.stack }} --yes
    """
    assert rules(workflow(job)) == []
    unsafe = job.replace("gate: production", "gate: prod-approvals")
    found = workflow_violations("wf.yml", workflow(unsafe))
    assert [v.rule for v in found] == [RULE_PRODUCTION_ENVIRONMENT]
    assert "environment 'prod-approvals'" in found[0].message


def test_stack_and_environment_resolve_through_env_variables() -> None:
    job = """
    runs-on: x
    env:
      STACK: prod
    environment: staging
    steps:
      - run: pulumi up --stack ${{ env.STACK }}
    """
    assert rules(workflow(job)) == [RULE_PRODUCTION_ENVIRONMENT]


def test_the_production_environment_names_are_configurable() -> None:
    job = "runs-on: x\nenvironment: prod\nsteps:\n  - run: pulumi up --stack prod\n"
    assert rules(workflow(job)) == [RULE_PRODUCTION_ENVIRONMENT]
    assert rules(workflow(job), production_environments=("prod",)) == []
    found = workflow_violations("wf.yml", workflow(job), production_environments=("live", "prod-gated"))
    assert "'live' or 'prod-gated'" in found[0].message


# --- untrusted-input-in-script ------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "github.event.pull_request.title",
        "github.event.pull_request.body",
        "github.event.pull_request.head.ref",
        "github.event.pull_request.head.label",
        "github.head_ref",
        "github.event.issue.title",
        "github.event.issue.body",
        "github.event.comment.body",
        "github.event.review.body",
        "github.event.head_commit.message",
        "github.event.commits[0].message",
        "github.event['pull_request']['title']",
        "github.event.workflow_run.head_branch",
        "toJSON(github.event.pull_request)",
        "toJSON(github.event)",
        "format('{0}', github.event.discussion.title)",
    ],
)
def test_untrusted_input_interpolated_into_a_run_script_is_a_violation(expression: str) -> None:
    job = f'runs-on: x\nsteps:\n  - name: Greet\n    run: echo "${{{{ {expression} }}}}"\n'
    found = workflow_violations("wf.yml", workflow(job))
    assert [v.rule for v in found] == [RULE_UNTRUSTED_INPUT], found
    assert "job 'deploy', step 1 'Greet'" in found[0].message
    assert "env:" in found[0].message


def test_untrusted_input_in_a_github_script_body_is_a_violation() -> None:
    job = (
        f"runs-on: x\nsteps:\n  - uses: actions/github-script@{SHA}\n    with:\n"
        "      script: console.log('${{ github.event.issue.title }}')\n"
    )
    assert rules(workflow(job)) == [RULE_UNTRUSTED_INPUT]


@pytest.mark.parametrize(
    "run",
    [
        'echo "$TITLE"',
        'echo "${{ github.event.pull_request.number }}"',
        'echo "${{ github.sha }} ${{ github.ref }} ${{ github.event.pull_request.head.sha }}"',
        'echo "${{ github.event.pull_request.head.repo.full_name == github.repository }}"',
        'echo "${{ steps.plan.outputs.exit-code }} ${{ matrix.stack }}"',
    ],
)
def test_trusted_values_and_env_indirection_pass(run: str) -> None:
    job = f"runs-on: x\nsteps:\n  - env:\n      TITLE: ${{{{ github.event.pull_request.title }}}}\n    run: {run!r}\n"
    assert rules(workflow(job)) == []


def test_every_finding_in_a_file_is_reported_in_file_order() -> None:
    text = workflow(
        "runs-on: x\nsteps:\n  - uses: actions/checkout@v4\n  - run: echo ${{ github.head_ref }}\n",
        header="",
        extra_jobs="ship:\n  runs-on: x\n  steps:\n    - run: vercel --prod\n",
    )
    found = workflow_violations("wf.yml", text)
    assert [(v.rule, v.job) for v in found] == [
        (RULE_TOP_LEVEL_WRITE, None),
        (RULE_UNPINNED_ACTION, "deploy"),
        (RULE_UNTRUSTED_INPUT, "deploy"),
        (RULE_PRODUCTION_ENVIRONMENT, "ship"),
    ]
    assert all(str(v).startswith("wf.yml: [") for v in found)


def test_a_workflow_whose_aliases_explode_is_refused_unread_and_ordinary_aliases_pass() -> None:
    lines = ["x-0: &a0 lol"] + [f"x-{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    tail = "on: push\npermissions: {}\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n"
    started = time.monotonic()
    found = workflow_violations("bomb.yml", "\n".join(lines) + "\n" + tail)
    assert time.monotonic() - started < 5, "measured, not expanded (expanding takes minutes)"
    assert [v.rule for v in found] == ["workflow-yaml-invalid"] and "expand to more than" in found[0].message
    endless = "a: &a [*a]\n" + tail
    assert [v.rule for v in workflow_violations("endless.yml", endless)] == ["workflow-yaml-invalid"]
    # GitHub reads anchors and aliases: a step used twice is fine.
    shared = "x: &step {run: make}\n" + tail.replace("[{run: make}]", "[*step, *step]")
    assert workflow_violations("shared.yml", shared) == []
