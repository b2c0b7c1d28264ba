"""The files beside the workflows: release-please's configuration and CODEOWNERS."""

from __future__ import annotations

import json
import re

from components.app_pipeline.args import AppPipelineArgs


def release_please_config(args: AppPipelineArgs) -> str:
    """release-please's configuration: one package at the root, semantic versions, CHANGELOG.md."""
    config = {
        "$schema": "https://raw.githubusercontent.com/googleapis/release-please/main/schemas/config.json",
        "release-type": args.release_type,
        "include-v-in-tag": True,
        "include-component-in-tag": False,
        "pull-request-title-pattern": "chore: release ${version}",
        "packages": {
            ".": {
                "changelog-path": "CHANGELOG.md",
                "changelog-sections": [
                    {"type": "feat", "section": "Features"},
                    {"type": "fix", "section": "Bug Fixes"},
                    {"type": "perf", "section": "Performance"},
                    {"type": "revert", "section": "Reverts"},
                    {"type": "deps", "section": "Dependencies"},
                    {"type": "docs", "section": "Documentation", "hidden": True},
                    {"type": "chore", "section": "Miscellaneous", "hidden": True},
                ],
            }
        },
    }
    return json.dumps(config, indent=2) + "\n"


RELEASE_FILES: tuple[str, ...] = (
    "/CHANGELOG.md",
    "/release-please-config.json",
    "/.release-please-manifest.json",
    "/.github/workflows/release.yml",
    "/.github/workflows/release-train.yml",
    "/.github/workflows/deploy-production.yml",
)
INFRA_PATHS: tuple[str, ...] = (
    "/.github/",
    "/supabase/",
    "/vercel.json",
)


def codeowners(
    organization: str,
    *,
    tech_lead_team: str = "tech-lead",
    product_owner_team: str = "product-owner",
    default_owners: tuple[str, ...] = (),
) -> str:
    """CODEOWNERS: tech-lead owns infrastructure and migrations; both teams own the release files.

    CODEOWNERS alone lets any *one* listed owner approve; the default branch's ruleset (per-team
    required reviewers) is what makes both teams' approvals mandatory on release files.

    >>> "/supabase/ @chefchatz/tech-lead" in codeowners("chefchatz")
    True
    """
    for label, team in (("tech_lead_team", tech_lead_team), ("product_owner_team", product_owner_team)):
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", team):
            raise ValueError(f"{label} {team!r}: not a GitHub team slug")
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]*$", organization):
        raise ValueError(f"organization {organization!r}: not a GitHub organization name")
    for owner in default_owners:
        if not re.match(r"^@[A-Za-z0-9][A-Za-z0-9-]*(/[a-z0-9][a-z0-9_-]*)?$", owner):
            raise ValueError(f"default_owners {owner!r}: expected @user or @org/team")
    tech_lead = f"@{organization}/{tech_lead_team}"
    both = f"{tech_lead} @{organization}/{product_owner_team}"
    lines = [
        "# Managed by chefchatz-infra (components/app_workflows.py): change it there, not here.",
        "# The last matching pattern wins, so specific paths come after general ones.",
    ]
    if default_owners:
        lines += ["", "# Everything else.", f"* {' '.join(default_owners)}"]
    lines += ["", "# Infrastructure, pipelines and database migrations: the tech-lead team."]
    lines += [f"{path} {tech_lead}" for path in INFRA_PATHS]
    lines += ["", "# Release files: both teams (the ruleset requires an approval from each)."]
    lines += [f"{path} {both}" for path in RELEASE_FILES]
    return "\n".join(lines) + "\n"
