"""Evidence of recovery: a verified rollback, verified backups, and a restore drill within the RTO."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ops import backup as backuplib
from ops.signoff.evidence import (
    BACKUP_SLACK,
    DEFAULT_MAX_AGE,
    Finding,
    age_text,
    duration_text,
    failed,
    fresh,
    load_evidence,
    parse_time,
    unverified,
)

# --- evidence: rollback drill -----------------------------------------------------------------------------


def check_rollback_audit(
    path: Path, now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["rollback"]
) -> Finding:
    """The newest rollback attempt in a ``rollback now/watch --audit-file`` log is a verified rollback."""
    from ops.rollback import read_audit

    if not path.is_file():
        return unverified(f"missing {path}", needs)
    attempts = [r for r in read_audit(path) if r.get("action") in ("rolled-back", "failed")]
    if not attempts:
        return unverified(f"{path}: no rollback attempt recorded", needs)
    newest = max(attempts, key=lambda r: parse_time(r.get("time")) or dt.datetime.min.replace(tzinfo=dt.UTC))
    when = parse_time(newest.get("time"))
    if when is None:
        return failed(f"{path}: newest record has no time", needs)
    what = (
        f"{newest.get('project_id')}: {newest.get('from_deployment')} -> {newest.get('to_deployment')} "
        f"by {newest.get('actor')} ({age_text(now - when)})"
    )
    if newest.get("action") != "rolled-back" or newest.get("verified") is not True:
        return failed(f"rollback of {what} failed: {newest.get('error')}", f"see docs/rollback.md; then {needs}")
    return fresh(f"verified rollback {what}", when, now, max_age, needs)


# --- evidence: backups and the restore drill --------------------------------------------------------------


def check_backup_verification(
    path: Path, kind: str, bucket: str | None, frequency: dt.timedelta, now: dt.datetime, needs: str
) -> Finding:
    """``backup verify --json``: ok, the stack's bucket, a max age no looser than frequency + slack, recent."""
    data, problem = load_evidence(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict):
        return failed(f"{path}: not `chefchatz backup verify --json` output", needs)
    if "error" in data and data.get("ok") is False and "kind" not in data:
        return failed(f"{path}: backup verify failed: {data['error']}", needs)
    allowed = frequency + BACKUP_SLACK
    if data.get("kind") != kind:
        return failed(f"{path}: verifies kind {data.get('kind')!r}, not {kind!r}", needs)
    if bucket and data.get("bucket") != bucket:
        return failed(f"{path}: bucket {data.get('bucket')!r} is not this stack's {kind} bucket {bucket!r}", needs)
    if not data.get("ok"):
        problems = "; ".join(str(p) for p in data.get("problems") or []) or "not ok"
        return failed(f"{path}: {problems}", needs)
    finished, age = parse_time(data.get("finished_at")), data.get("age_seconds")
    if finished is None or not isinstance(age, int | float):
        return failed(f"{path}: no finished_at/age_seconds", needs)
    max_age = data.get("max_age_seconds")
    if not isinstance(max_age, int | float) or max_age > allowed.total_seconds():
        return failed(
            f"{path}: verified with --max-age {max_age}s, looser than the {kind} frequency + slack "
            f"({duration_text(allowed)})",
            needs,
        )
    verified_at = finished + dt.timedelta(seconds=age)
    summary = (
        f"{kind} backup {data.get('backup_id')} in {data.get('bucket')}: checksums ok, "
        f"{data.get('checked_bytes')} bytes, verified {age_text(now - verified_at)}"
    )
    if data.get("pitr") is not None:
        summary += f", PITR {'on' if data['pitr'].get('pitr_enabled') else 'off'}"
    return fresh(summary, verified_at, now, allowed, needs)


def check_drill(
    path: Path, rto: dt.timedelta, now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["drill"]
) -> Finding:
    """``drill --json``: ok, every table matched, within the stack's RTO, of a backup <= ``max_age`` old."""
    data, problem = load_evidence(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict):
        return failed(f"{path}: not `chefchatz drill --json` output", needs)
    if "error" in data and data.get("ok") is False and "rto_seconds" not in data:
        return failed(f"{path}: the drill failed: {data['error']}", needs)
    if not data.get("ok"):
        problems = "; ".join(str(p) for p in data.get("problems") or []) or "not ok"
        return failed(f"{path}: drill failed: {problems}", needs)
    seconds, target = data.get("seconds"), data.get("rto_seconds")
    if not isinstance(seconds, int | float) or not isinstance(target, int | float):
        return failed(f"{path}: no seconds/rto_seconds", needs)
    if target > rto.total_seconds():
        return failed(
            f"{path}: drilled against --rto {duration_text(dt.timedelta(seconds=target))}, "
            f"looser than the stack's RTO {duration_text(rto)}",
            needs,
        )
    if not data.get("within_rto") or seconds > rto.total_seconds():
        return failed(f"{path}: restore took {seconds:g}s, over the RTO of {rto.total_seconds():g}s", needs)
    backup_time = backuplib.backup_id_time(str(data.get("backup_id") or ""))
    if backup_time is None:
        return failed(f"{path}: backup_id {data.get('backup_id')!r} is not a backup id", needs)
    tables = data.get("tables") or []
    if not tables:
        return failed(f"{path}: the drill compared no tables (an empty backup proves no restore)", needs)
    summary = (
        f"drill restored {data['backup_id']} in {seconds:g}s (RTO {duration_text(rto)}), "
        f"{len(tables)} tables matched, backup {age_text(now - backup_time)}"
    )
    return fresh(summary, backup_time, now, max_age, needs)
