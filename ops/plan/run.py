"""Run the offline plan: each stack's program in a forked process of its own under Pulumi's mocks
(`ops.plan.offline`), and in the same process the policy pack over the recorded registrations
(`ops.plan.policy_gate`), exactly as the engine hands them to an analyzer.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ops.plan.jobs
from ops.plan.stack_config import secure_values, stack_names

if TYPE_CHECKING:
    from ops.plan.diff import StackDiff
    from ops.plan.model import StackPlan


def resolve_stacks(project_dir: Path, stack: str) -> list[str]:
    if not (project_dir / "Pulumi.yaml").is_file():
        raise ValueError(f"no Pulumi.yaml in {project_dir} (run from the repository root or pass --project-dir)")
    known = stack_names(project_dir)
    if stack == "all":
        return known
    if stack not in known:
        raise ValueError(f"unknown stack {stack!r} (choose from: {', '.join([*known, 'all'])})")
    return [stack]


def _stack_plan(stack: str, data: dict[str, Any]) -> StackPlan:
    from ops.plan.model import StackPlan, Violation

    if "configError" in data:
        return StackPlan(stack, config_error=data["configError"])
    if "runError" in data:
        return StackPlan(stack, config_error=f"the program failed: {data['runError']}")
    return StackPlan(
        stack,
        resources=data["resources"],
        outputs=data["outputs"],
        placeholders=data["placeholders"],
        lookups=data["lookups"],
        violations=[Violation(**v) for v in data.get("violations", [])],
        policies_evaluated=data.get("policiesEvaluated", 0),
        policy_pack=data.get("policyPack", ""),
    )


def run_plan(
    project_dir: Path, stacks: list[str], evaluate_policies: bool = True, pack_config: Path | None = None
) -> list[StackPlan]:
    """Plan every stack of one project (two at a time: the machines have two cores) and run the policy gate.

    `pack_config` is a `--policy-pack-config` file; a bad one raises `PackConfigError` before any
    stack runs.
    """
    return run_plans([(project_dir, stack) for stack in stacks], evaluate_policies, pack_config)


def run_plans(
    jobs: Sequence[tuple[Path, str]],
    evaluate_policies: bool = True,
    pack_config: Path | None = None,
    tolerate: Container[int] = (),
) -> list[StackPlan]:
    """`run_plan` for any (project directory, stack) pairs at once: the SDKs and the pack load once.

    The process that runs the stacks starts first and loads the SDKs while this one checks the pack
    config (and loads the pack); a bad pack config stops it before any stack runs. A job whose index
    is in `tolerate` may fail: its plan then carries the failure as its `config_error`.
    """
    # A stack file or project file that is refused as a document (too big, aliases) is refused here,
    # before any process loads the SDKs for it: a hostile pull request costs milliseconds.
    refused = {index: error for index, job in enumerate(jobs) if (error := _refused_document(*job))}
    runnable = [job for index, job in enumerate(jobs) if index not in refused]
    started = ops.plan.jobs.start(runnable) if runnable else None
    try:
        configs = None
        if evaluate_policies:
            from ops.plan.policy_gate import pack_configs

            configs = pack_configs(pack_config)
    except BaseException:
        if started is not None:
            started.cancel()
        raise
    # `tolerate` names indices of `jobs`; the process runs `runnable`, so its indices are renumbered.
    runnable_index = [index for index in range(len(jobs)) if index not in refused]
    tolerated = {position for position, index in enumerate(runnable_index) if index in tolerate}
    ran = iter(started.results(configs, tolerated) if started is not None else ())
    return [
        _stack_plan(stack, {"configError": refused[index]}) if index in refused else _stack_plan(stack, next(ran)[1])
        for index, (_, stack) in enumerate(jobs)
    ]


def _refused_document(project_dir: Path, stack: str) -> str | None:
    """The configuration error of a stack whose project or stack file cannot be accepted as a document."""
    import yaml

    from ops.plan.documents import DocumentError, load_yaml, read_document
    from ops.plan.stack_config import StackConfigError

    for path in (project_dir / "Pulumi.yaml", project_dir / f"Pulumi.{stack}.yaml"):
        if not (path.exists() or path.is_symlink()):
            continue  # a missing file is named by the stack's own run, as before
        try:
            load_yaml(read_document(path), path.name)
        except DocumentError as exc:
            return str(StackConfigError(stack, [str(exc)]))
        except yaml.YAMLError:
            return None  # a syntax error: the stack's own run names it with its position
    return None


@dataclass
class Comparison:
    """`chefchatz plan --base`: the head's plans, and each stack's diff against the base commit."""

    ref: str
    commit: str
    plans: list[StackPlan]
    diffs: list[StackDiff]


def run_plan_against_base(
    project_dir: Path, stacks: list[str], ref: str, evaluate_policies: bool = True, pack_config: Path | None = None
) -> Comparison:
    """Plan `stacks` in the working tree and at the merge base of `ref` and HEAD, in one run.

    Both sides are gated by the working tree's policy pack (and `pack_config`): the policy delta is
    what the change does under the rules it would be deployed with. A base stack that fails to plan
    is reported in its diff; an unknown `ref` raises `BaseRefError` before anything runs.
    """
    from ops.plan.base import base_checkout
    from ops.plan.diff import changed_secret_keys, diff_stack

    with base_checkout(project_dir, ref) as base:
        has_project = (base.project_dir / "Pulumi.yaml").is_file()
        base_stacks = [s for s in stacks if has_project and (base.project_dir / f"Pulumi.{s}.yaml").is_file()]
        jobs = [(project_dir, s) for s in stacks] + [(base.project_dir, s) for s in base_stacks]
        plans = run_plans(jobs, evaluate_policies, pack_config, tolerate=range(len(stacks), len(jobs)))
        heads, bases = plans[: len(stacks)], dict(zip(base_stacks, plans[len(stacks) :], strict=True))
        diffs = [
            diff_stack(
                bases.get(head.stack),
                head,
                changed_secret_keys(
                    secure_values(base.project_dir, head.stack), secure_values(project_dir, head.stack)
                ),
            )
            for head in heads
        ]
    return Comparison(ref, base.commit, heads, diffs)
