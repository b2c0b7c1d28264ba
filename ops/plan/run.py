"""Run the offline plan: each stack's program in a forked process of its own under Pulumi's mocks
(`ops.plan.offline`), and in the same process the policy pack over the recorded registrations
(`ops.plan.policy_gate`), exactly as the engine hands them to an analyzer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ops.plan.jobs
from ops.plan.stack_config import stack_names

if TYPE_CHECKING:
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
    jobs: Sequence[tuple[Path, str]], evaluate_policies: bool = True, pack_config: Path | None = None
) -> list[StackPlan]:
    """`run_plan` for any (project directory, stack) pairs at once: the SDKs and the pack load once.

    The process that runs the stacks starts first and loads the SDKs while this one checks the pack
    config (and loads the pack); a bad pack config stops it before any stack runs.
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
    ran = iter(started.results(configs) if started is not None else ())
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
