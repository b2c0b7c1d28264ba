"""Production's stateful resources are protected: `pulumi up` refuses to delete or replace them.

A bucket of backups, an encryption key, the idempotency table, the Vercel project and its domains,
the GitHub environments that gate deployments and the rulesets that protect branches: deleting one
loses data, a name someone else may take, or a gate. A rename without an alias, a changed input
that forces replacement or a removed component would do exactly that; with `protect` the engine
stops instead, and the offline plan's diff (`chefchatz plan --base`) marks the change as blocked.
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.common import is_production, resource_policy

# The types whose deletion destroys state; `ops.plan.diff` flags their deletion with the same list.
STATEFUL_TYPES = frozenset(
    {
        "aws:s3/bucket:Bucket",
        "aws:kms/key:Key",
        "aws:dynamodb/table:Table",
        "vercel:index/project:Project",
        "vercel:index/projectDomain:ProjectDomain",
        "github:index/repositoryEnvironment:RepositoryEnvironment",
        "github:index/repositoryRuleset:RepositoryRuleset",
    }
)


def _validate_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in STATEFUL_TYPES or not is_production(args, args.urn):
        return
    if not args.opts.protect:
        report(
            f"{args.resource_type} {args.name} holds state in production and is not protected: "
            "register it with `protect=True` (components use `naming.stateful(opts)`) so that "
            "`pulumi up` refuses to delete or replace it",
            args.urn,
        )


stateful_resources_protected_in_production = resource_policy(
    "stateful-resources-protected-in-production",
    "In production, S3 buckets, KMS keys, DynamoDB tables, the Vercel project and domains, GitHub "
    "environments and rulesets are registered with `protect` (a delete or replace is refused).",
    _validate_protected,
)

POLICIES = [stateful_resources_protected_in_production]
