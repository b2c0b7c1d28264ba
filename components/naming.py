"""One naming and tagging context from which every resource name and tag is derived."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class NamingContext:
    project: str
    stack: str
    environment: str
    owner: str = "platform-team"
    # Production: resources that hold state (data, a domain, a deployment gate) are protected.
    production: bool = False

    def name(self, *parts: str) -> str:
        """A physical name unique per stack: `chefchatz-prod-db-backups`."""
        raw = "-".join((self.project, self.stack, *parts))
        return re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")

    @property
    def tags(self) -> dict[str, str]:
        """Tags for every taggable cloud resource (AWS); Vercel and GitHub have no tags."""
        return {
            "project": self.project,
            "stack": self.stack,
            "environment": self.environment,
            "owner": self.owner,
            "managed-by": "pulumi",
        }

    def stateful(self, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
        """Options for a resource that holds state (a bucket, a key, a table, the Vercel project and its
        domains, a GitHub environment or ruleset): protected in production, so that `pulumi up` refuses
        to delete or replace it until someone removes the protection on purpose (policy
        `stateful-resources-protected-in-production`)."""
        if not self.production:
            return opts
        return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))
