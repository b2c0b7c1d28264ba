"""Pipeline rules: workflow files the program commits to the app repository must be safe.

The checks themselves are the plain validators of `policies/workflows.py`; this module turns them
into a CrossGuard policy over `github.RepositoryFile` resources under `.github/workflows/`.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.common import GITHUB_FILE, resource_policy, stack_schema
from policies.workflows import workflow_violations


def _validate_workflow_file(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != GITHUB_FILE:
        return
    path = str(args.props["file"])
    if not path.startswith(".github/workflows/") or not path.endswith((".yml", ".yaml")):
        return
    environments = tuple((args.get_config() or {}).get("productionEnvironments", ["production"]))
    for violation in workflow_violations(path, str(args.props["content"]), production_environments=environments):
        report(f"[{violation.rule}] {violation.message}", args.urn)


managed_workflows_are_safe = resource_policy(
    "managed-workflows-are-safe",
    "Workflow files committed by the program pin actions to commit SHAs, grant no top-level write "
    "permissions, deploy to production only through its environment and never run untrusted input.",
    _validate_workflow_file,
    schema=stack_schema(
        productionEnvironments={"type": "array", "items": {"type": "string"}, "default": ["production"]}
    ),
)

POLICIES = [managed_workflows_are_safe]
