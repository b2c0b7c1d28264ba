"""The offline plan: what `pulumi preview` would create for each stack, and the policy gate over it.

Owns: preparing stack configuration like the Pulumi CLI (`stack_config`), starting the process that
runs the stacks and collecting their results (`jobs`), running the real program of each stack under
Pulumi's mocks in a forked process (`offline`), feeding the recorded registrations to the policy
pack's own analyzer (`policy_gate`), and rendering the result as text, JSON and the pull request
comment (`render`, `markdown`). With `--base`: checking out the merge base in a temporary worktree
(`base`), diffing each stack's two plans (`diff`) and rendering the change first (`diff_render`).
`cli` is `chefchatz plan`.

Each name loads its module on first use, not when the package is imported: `chefchatz plan` starts
the stacks' process before it loads the policy SDK and the pack, and other commands that read only
stack settings never load them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ops.plan.documents import DocumentError, load_json, load_yaml, read_document
    from ops.plan.markdown import to_markdown
    from ops.plan.model import EXIT_CONFIG, EXIT_OK, EXIT_VIOLATIONS, StackPlan, Violation, exit_code
    from ops.plan.render import display_value, resources_json, to_json, to_text, type_counts
    from ops.plan.run import Comparison, resolve_stacks, run_plan, run_plan_against_base, run_plans
    from ops.plan.stack_config import (
        PackConfigError,
        StackConfigError,
        load_project,
        load_stack_config,
        load_stack_settings,
        stack_names,
    )

# Public name -> the module that defines it.
_HOMES = {
    **dict.fromkeys(("DocumentError", "load_json", "load_yaml", "read_document"), "ops.plan.documents"),
    "to_markdown": "ops.plan.markdown",
    **dict.fromkeys(
        ("EXIT_CONFIG", "EXIT_OK", "EXIT_VIOLATIONS", "StackPlan", "Violation", "exit_code"), "ops.plan.model"
    ),
    **dict.fromkeys(("display_value", "resources_json", "to_json", "to_text", "type_counts"), "ops.plan.render"),
    **dict.fromkeys(("Comparison", "resolve_stacks", "run_plan", "run_plan_against_base", "run_plans"), "ops.plan.run"),
    **dict.fromkeys(
        (
            "PackConfigError",
            "StackConfigError",
            "load_project",
            "load_stack_config",
            "load_stack_settings",
            "stack_names",
        ),
        "ops.plan.stack_config",
    ),
}

__all__ = [
    "EXIT_CONFIG",
    "EXIT_OK",
    "EXIT_VIOLATIONS",
    "Comparison",
    "DocumentError",
    "PackConfigError",
    "StackConfigError",
    "StackPlan",
    "Violation",
    "display_value",
    "exit_code",
    "load_json",
    "load_project",
    "load_stack_config",
    "load_stack_settings",
    "load_yaml",
    "read_document",
    "resolve_stacks",
    "resources_json",
    "run_plan",
    "run_plan_against_base",
    "run_plans",
    "stack_names",
    "to_json",
    "to_markdown",
    "to_text",
    "type_counts",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ops.plan' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
