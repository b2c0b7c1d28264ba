"""The building blocks every generated workflow shares: YAML text helpers, steps, and the test and
approval gate jobs."""

from __future__ import annotations

import json
import re

from components.app_pipeline.actions import CHECKOUT, SETUP_NODE, PinnedAction
from components.app_pipeline.args import AppPipelineArgs

RUNNER = "ubuntu-24.04"


# --- text helpers -------------------------------------------------------------------------------


def expr(expression: str) -> str:
    """A GitHub Actions expression, `${{ expression }}`."""
    return "${{ " + expression + " }}"


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _run(script: str) -> str:
    """A `run:` value: one line inline when it is safe to, otherwise a literal block."""
    if "\n" not in script and not re.search(r"[:#'\"{}\[\],&*!|>%@`]|^[-?]", script):
        return f"run: {script}"
    return "run: |\n" + _indent(script, 2)


def quote(value: str) -> str:
    """A YAML scalar written as a JSON string (YAML reads it back unchanged)."""
    return json.dumps(value)


def step(
    name: str,
    *,
    uses: PinnedAction | None = None,
    run: str | None = None,
    with_: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    step_id: str | None = None,
    condition: str | None = None,
) -> str:
    """One step as YAML text, its name quoted where YAML would misread it."""
    lines = [f"- name: {quote(name) if re.search(r': | #|^[^A-Za-z0-9(]', name) else name}"]
    if step_id:
        lines.append(f"  id: {step_id}")
    if condition:
        lines.append(f"  if: {condition}")
    if uses:
        lines.append(f"  uses: {uses.uses}")
    if with_:
        lines.append("  with:")
        lines.extend(f"    {k}: {v}" for k, v in with_.items())
    if env:
        lines.append("  env:")
        lines.extend(f"    {k}: {v}" for k, v in env.items())
    if run is not None:
        lines.append(_indent(_run(run), 2))
    return "\n".join(lines)


def job_steps(*steps: str) -> str:
    """A job's `steps:` block."""
    return "    steps:\n" + "\n".join(_indent(s, 6) for s in steps)


def checkout() -> str:
    """Check out the repository without leaving the token in `.git/config`."""
    return step("Check out", uses=CHECKOUT, with_={"persist-credentials": "false"})


def node_toolchain(args: AppPipelineArgs, *, vercel: bool = False) -> list[str]:
    """Node.js, pnpm (and for deploy jobs the Vercel CLI) at exact versions, then the locked deps."""
    tools = {"PNPM_VERSION": quote(args.pnpm_version)}
    packages = '"pnpm@${PNPM_VERSION}"'
    if vercel:
        tools["VERCEL_CLI_VERSION"] = quote(args.vercel_cli_version)
        packages += ' "vercel@${VERCEL_CLI_VERSION}"'
    return [
        # No dependency cache: a cache written by one run can poison a later release build.
        step(
            "Set up Node.js",
            uses=SETUP_NODE,
            with_={"node-version": quote(str(args.node_major)), "package-manager-cache": "false"},
        ),
        step(
            "Install pnpm and the Vercel CLI (exact versions)" if vercel else "Install pnpm (exact version)",
            env=tools,
            run=f"npm install --global {packages}",
        ),
        step("Install dependencies", run="pnpm install --frozen-lockfile"),
    ]


def header(title: str, comment: str) -> str:
    """A workflow's first lines: who manages the file, the comment, the workflow's name."""
    return "\n".join(
        [
            "# Managed by chefchatz-infra (components/app_workflows.py): change it there, not here.",
            *(f"# {line}" if line else "#" for line in comment.splitlines()),
            f"name: {title}",
        ]
    )


# --- jobs ---------------------------------------------------------------------------------------


def run_tests_job(args: AppPipelineArgs, needs: str | None = None) -> str:
    """The `test` job: the app's test commands on its locked dependencies."""
    head = ["  test:", "    name: test"]
    if needs:
        head.append(f"    needs: {needs}")
    head += [f"    runs-on: {RUNNER}", "    timeout-minutes: 20", "    permissions:", "      contents: read"]
    steps = [checkout(), *node_toolchain(args)]
    steps += [step(f"Run `{c}`", run=c) for c in args.test_commands]
    return "\n".join([*head, job_steps(*steps)])


def approval_gate_job(gate: str, needs: str) -> tuple[str, str]:
    """A job in the GitHub environment `gate`, which waits for its reviewers: (job id, job text)."""
    job_id = f"approve-{gate}"
    text = "\n".join(
        [
            f"  {job_id}:",
            f"    name: approval ({gate})",
            f"    needs: {needs}",
            f"    runs-on: {RUNNER}",
            "    timeout-minutes: 5",
            f"    # Waits for the required reviewers of the `{gate}` environment.",
            f"    environment: {gate}",
            "    permissions: {}",
            job_steps(
                step(
                    "Record the approval",
                    env={"GATE": gate},
                    run='echo "Approved through ${GATE} for ${GITHUB_REF_NAME} (${GITHUB_SHA})."',
                )
            ),
        ]
    )
    return job_id, text
