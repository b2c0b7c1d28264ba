"""`ci.yml`: the default branch's required status checks (test, build, policy-gate)."""

from __future__ import annotations

from components.app_pipeline.actions import SETUP_PYTHON
from components.app_pipeline.args import AppPipelineArgs
from components.app_pipeline.steps import (
    RUNNER,
    checkout,
    expr,
    header,
    job_steps,
    node_toolchain,
    quote,
    run_tests_job,
    step,
)


def ci_workflow(args: AppPipelineArgs) -> str:
    """Pull requests and main: the three required checks (test, build, policy-gate)."""
    build_steps = [
        checkout(),
        *node_toolchain(args),
        step("Build", run="pnpm build"),
    ]
    gate_steps = [
        checkout(),
        step("Set up Python", uses=SETUP_PYTHON, with_={"python-version": quote(args.python_version)}),
        step(
            "Audit the workflows with zizmor (medium severity and above fail)",
            env={"ZIZMOR_VERSION": quote(args.zizmor_version)},
            run='python -m pip install "zizmor==${ZIZMOR_VERSION}"\n'
            "zizmor --offline --min-severity medium .github/workflows",
        ),
    ]
    return "\n".join(
        [
            header(
                "CI",
                "Runs on `pull_request` (never `pull_request_target`): code from forks gets a read-only\n"
                "token and no secrets. The job names are the default branch's required status checks.",
            ),
            "",
            "on:",
            "  pull_request:",
            f"    branches: [{args.default_branch}]",
            "  push:",
            f"    branches: [{args.default_branch}]",
            "",
            "permissions: {}",
            "",
            "concurrency:",
            f"  group: ci-{expr('github.event.pull_request.number || github.ref')}",
            "  cancel-in-progress: true",
            "",
            "jobs:",
            run_tests_job(args),
            "",
            "  build:",
            "    name: build",
            f"    runs-on: {RUNNER}",
            "    timeout-minutes: 20",
            "    permissions:",
            "      contents: read",
            job_steps(*build_steps),
            "",
            "  policy-gate:",
            "    name: policy-gate",
            f"    runs-on: {RUNNER}",
            "    timeout-minutes: 10",
            "    permissions:",
            "      contents: read",
            job_steps(*gate_steps),
            "",
        ]
    )
