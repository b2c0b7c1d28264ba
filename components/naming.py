"""One naming and tagging context from which every resource name and tag is derived."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NamingContext:
    project: str
    stack: str
    environment: str
    owner: str = "platform-team"

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
