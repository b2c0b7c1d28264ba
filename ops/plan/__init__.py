"""The offline plan: what `pulumi preview` would create for each stack, and the policy gate over it.

Owns: preparing stack configuration like the Pulumi CLI (`stack_config`), running the real program of
each stack under Pulumi's mocks in a forked process (`offline`), feeding the recorded registrations to
the policy pack's own analyzer (`policy_gate`), and rendering the result as text, JSON and the pull
request comment (`render`, `markdown`). `cli` is `chefchatz plan`.
"""

from ops.plan.markdown import to_markdown
from ops.plan.model import EXIT_CONFIG, EXIT_OK, EXIT_VIOLATIONS, StackPlan, Violation, exit_code
from ops.plan.render import display_value, resources_json, to_json, to_text, type_counts
from ops.plan.run import resolve_stacks, run_plan, run_plans
from ops.plan.stack_config import StackConfigError, load_project, load_stack_config, load_stack_settings, stack_names

__all__ = [
    "EXIT_CONFIG",
    "EXIT_OK",
    "EXIT_VIOLATIONS",
    "StackConfigError",
    "StackPlan",
    "Violation",
    "display_value",
    "exit_code",
    "load_project",
    "load_stack_config",
    "load_stack_settings",
    "resolve_stacks",
    "resources_json",
    "run_plan",
    "run_plans",
    "stack_names",
    "to_json",
    "to_markdown",
    "to_text",
    "type_counts",
]
