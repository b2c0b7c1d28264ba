"""The policy list and pack metadata; `__main__.py` serves them, tests and the offline gate import them."""

from __future__ import annotations

from pulumi_policy import Policy

from policies import (
    approvals,
    backups,
    floors,
    monitoring,
    pipelines,
    platform,
    protection,
    rollout,
    secrets,
    slo,
    tls,
)

PACK_NAME = "chefchatz-policies"

POLICIES: list[Policy] = [
    *approvals.POLICIES,
    *secrets.POLICIES,
    *tls.POLICIES,
    *backups.POLICIES,
    *monitoring.POLICIES,
    *pipelines.POLICIES,
    *slo.POLICIES,
    *floors.POLICIES,
    *rollout.POLICIES,
    *platform.POLICIES,
    *protection.POLICIES,
]


def pack_version() -> str:
    """The version in PulumiPolicy.yaml (the CLI uses that file's version, so it is the one truth)."""
    from pathlib import Path

    for line in (Path(__file__).parent / "PulumiPolicy.yaml").read_text().splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError("PulumiPolicy.yaml has no version")
