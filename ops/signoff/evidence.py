"""What a check returns and what it reads: findings, item results, the evidence files' names and
ages, and the time helpers that judge freshness."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from ops.plan import DocumentError, load_json, read_document

IMPLEMENTATION = "Implementation Verification"
SIGNOFF = "Sign-off Checklist"

EVIDENCE_FILES = {
    "test_report": "junit.xml",
    "deploy_run": "deploy-run.json",
    "rollback_audit": "rollback-audit.jsonl",
    "backup_verify": "backup-verify-{kind}.json",
    "drill": "drill.json",
    "tls": "tls-{host}.json",
    "watch": "watch-{stack}.json",
    "migration_rehearsal": "migration-rehearsal.json",
    "drift": "drift-{stack}.json",
}

# How old evidence may be. Defaults say why: tests and TLS scans are cheap, so weekly; a drill is the
# weekly exercise the RTO depends on; a rollback drill is monthly; a deploy run every two weeks is the
# slowest the bi-weekly release train allows.
DEFAULT_MAX_AGE = {
    "test_report": dt.timedelta(days=7),
    "deploy_run": dt.timedelta(days=14),
    "rollback": dt.timedelta(days=30),
    "drill": dt.timedelta(days=7),
    "tls": dt.timedelta(days=7),
    "watch": dt.timedelta(days=7),
    # A rehearsal runs with every staging/production deploy: as old as the deploy run may be.
    "migration_rehearsal": dt.timedelta(days=14),
    # The drift workflow runs daily; two days tolerates one late or failed scheduled run.
    "drift": dt.timedelta(days=2),
}
# A backup verification may be as old as one backup period plus the time a backup itself takes.
BACKUP_SLACK = dt.timedelta(hours=1)
# Clocks of CI runners and laptops drift a little; more than this in the future is not a real time.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)


class Status(StrEnum):
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    FAILED = "failed"


_RANK = {Status.VERIFIED: 0, Status.UNVERIFIED: 1, Status.FAILED: 2}


@dataclass(frozen=True)
class Finding:
    """What one check found: the evidence it read, and (unless verified) what is needed."""

    status: Status
    evidence: str
    needs: str = ""


def verified(evidence: str) -> Finding:
    return Finding(Status.VERIFIED, evidence)


def failed(evidence: str, needs: str) -> Finding:
    return Finding(Status.FAILED, evidence, needs)


def unverified(evidence: str, needs: str) -> Finding:
    return Finding(Status.UNVERIFIED, evidence, needs)


@dataclass(frozen=True)
class ItemResult:
    list_name: str
    item: str
    status: Status
    evidence: list[str]
    needs: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "list": self.list_name,
            "item": self.item,
            "status": str(self.status),
            "evidence": self.evidence,
            "needs": self.needs,
        }


def combine(list_name: str, item: str, findings: Sequence[Finding]) -> ItemResult:
    """An item is as good as its worst check; with no check at all it is unverified."""
    if not findings:
        return ItemResult(list_name, item, Status.UNVERIFIED, [], ["no check is defined for this item"])
    status = max((f.status for f in findings), key=_RANK.__getitem__)
    return ItemResult(
        list_name,
        item,
        status,
        [f.evidence for f in findings if f.evidence],
        [f.needs for f in findings if f.needs and f.status is not Status.VERIFIED],
    )


# --- time helpers ------------------------------------------------------------------------------------


def parse_time(text: Any) -> dt.datetime | None:
    """An ISO 8601 time (``Z`` accepted) as an aware UTC datetime; naive times are taken as UTC."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def duration_text(delta: dt.timedelta) -> str:
    """`7h`, `25h`, `15m`, `1h30m`: what `backup verify --max-age` and `drill --rto` accept."""
    total = int(delta.total_seconds())
    parts = []
    for unit, seconds in (("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, seconds)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def age_text(delta: dt.timedelta) -> str:
    if delta < dt.timedelta(0):
        return f"{duration_text(-delta)} in the future"
    if delta >= dt.timedelta(days=2):
        return f"{delta.days}d ago"
    return f"{duration_text(delta)} ago"


def fresh(summary: str, when: dt.datetime, now: dt.datetime, max_age: dt.timedelta, needs: str) -> Finding:
    """Verified while ``when`` is at most ``max_age`` ago; evidence dated in the future proves nothing."""
    if when - now > FUTURE_TOLERANCE:
        return failed(f"{summary}: dated {age_text(now - when)}", needs)
    if now - when > max_age:
        limit = f"{max_age.days}d" if max_age % dt.timedelta(days=1) == dt.timedelta(0) else duration_text(max_age)
        return unverified(f"{summary}: older than {limit}", needs)
    return verified(summary)


def file_time(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)


def load_evidence(path: Path, needs: str) -> tuple[Any, Finding | None]:
    """A JSON evidence file's data, or the finding that stops the check (missing: unverified; unreadable: failed)."""
    if not path.is_file():
        return None, unverified(f"missing {path}", needs)
    try:
        return load_json(read_document(path), str(path)), None
    except DocumentError as exc:
        return None, failed(f"{exc}", needs)


def as_mapping(value: Any) -> dict[str, Any]:
    """A JSON object of the evidence as it is; anything else as an empty one."""
    return value if isinstance(value, dict) else {}
