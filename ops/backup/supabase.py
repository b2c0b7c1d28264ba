"""Whether Supabase point-in-time recovery is on, from the Management API (the 1 h RPO relies on it)."""

from __future__ import annotations

import dataclasses
import re

from ops.backup.errors import BackupError, CredentialsError, UsageError
from ops.backup.postgres import redact

__all__ = ["SUPABASE_API_URL", "PitrStatus", "check_supabase_pitr"]

SUPABASE_API_URL = "https://api.supabase.com"


@dataclasses.dataclass
class PitrStatus:
    project_ref: str
    pitr_enabled: bool
    walg_enabled: bool
    region: str
    backups: int


def check_supabase_pitr(
    project_ref: str, *, token: str | None, api_url: str | None = None, timeout: float = 20.0
) -> PitrStatus:
    """Ask the Supabase Management API (`GET /v1/projects/{ref}/database/backups`) about PITR."""
    if not re.fullmatch(r"[a-z0-9]{6,40}", project_ref):
        raise UsageError(f"invalid Supabase project ref {project_ref!r}: expected lowercase letters and digits")
    if not token:
        raise CredentialsError("SUPABASE_ACCESS_TOKEN is not set: needed to check point-in-time recovery")
    import httpx  # only `verify --supabase-project-ref` needs it: keep it out of every start-up

    base = (api_url or SUPABASE_API_URL).rstrip("/")
    url = f"{base}/v1/projects/{project_ref}/database/backups"
    try:
        response = httpx.get(
            url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise BackupError(f"Supabase Management API unreachable at {base}: {redact(str(exc), token)}") from None
    if response.status_code in (401, 403):
        raise CredentialsError(
            f"Supabase Management API rejected SUPABASE_ACCESS_TOKEN for project {project_ref} "
            f"(HTTP {response.status_code})"
        )
    if response.status_code == 404:
        raise UsageError(f"Supabase project {project_ref!r} not found (HTTP 404)")
    if response.status_code != 200:
        raise BackupError(f"Supabase Management API returned HTTP {response.status_code} for project {project_ref}")
    try:
        body = response.json()
        return PitrStatus(
            project_ref=project_ref,
            pitr_enabled=bool(body["pitr_enabled"]),
            walg_enabled=bool(body.get("walg_enabled", False)),
            region=str(body.get("region", "")),
            backups=len(body.get("backups") or []),
        )
    except (ValueError, KeyError, TypeError):
        raise BackupError(f"unexpected response from {url}: no pitr_enabled field") from None
