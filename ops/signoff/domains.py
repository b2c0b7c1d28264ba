"""Evidence about the stack's live domains: their TLS (saved reports or a live check) and a healthy watch."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ops.signoff.evidence import (
    DEFAULT_MAX_AGE,
    Finding,
    Status,
    age_text,
    failed,
    file_time,
    fresh,
    load_evidence,
    parse_time,
    verified,
)


def check_tls_report(
    path: Path, host: str, now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["tls"]
) -> Finding:
    """A saved ``tls-check HOST --json`` report of ``host`` that passed, no older than ``max_age``."""
    data, problem = load_evidence(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        return failed(f"{path}: not `chefchatz tls-check --json` output", needs)
    if data.get("host") != host:
        return failed(f"{path}: a report of {data.get('host')!r}, not {host!r}", needs)
    saved = file_time(path)
    verdict = _tls_verdict(host, data["checks"], f"saved {age_text(now - saved)}", needs)
    if verdict.status is not Status.VERIFIED:
        return verdict
    return fresh(verdict.evidence, saved, now, max_age, needs)


def _tls_verdict(host: str, checks: list[Any], when: str, needs: str) -> Finding:
    failing = [c for c in checks if isinstance(c, dict) and not c.get("passed")]
    names = ", ".join(str(c.get("name")) for c in checks if isinstance(c, dict))
    if not checks:
        return failed(f"TLS report of {host} has no checks", needs)
    if failing:
        listed = "; ".join(f"{c.get('name')}: {c.get('detail')}" for c in failing)
        return failed(f"TLS of {host} ({when}): {listed}", needs)
    return verified(f"TLS of {host} ({when}): {names} passed")


def check_tls_live(host: str, checker: Callable[[str], Any], needs: str) -> Finding:
    """Run the live TLS check of ``host`` now (``checker`` returns an ``ops.tls.TlsReport``)."""
    from ops.tls import TlsCheckError

    try:
        report = checker(host)
    except TlsCheckError as exc:
        return failed(f"live TLS check of {host}: {exc}", needs)
    checks = report.to_dict()["checks"]
    return _tls_verdict(host, checks, "checked live now", needs)


def check_watch(
    path: Path, domains: Sequence[str], now: dt.datetime, needs: str, max_age: dt.timedelta = DEFAULT_MAX_AGE["watch"]
) -> Finding:
    """``rollback watch --json``: a healthy watch of one of ``domains``, its newest interval recent."""
    data, problem = load_evidence(path, needs)
    if problem:
        return problem
    if not isinstance(data, dict) or "action" not in data:
        return failed(f"{path}: not `chefchatz rollback watch --json` output", needs)
    url = str(data.get("deployment_url") or "")
    host = re.sub(r"^https?://", "", url).split("/", 1)[0].split(":", 1)[0]
    if host not in domains:
        return failed(f"{path}: watched {url!r}, not a domain of this stack ({', '.join(domains)})", needs)
    if data["action"] != "healthy":
        why = data.get("reason") or data.get("message")
        return failed(f"{path}: watch of {url} ended {data['action']!r}: {why}", needs)
    intervals = [i for i in data.get("evidence") or [] if isinstance(i, dict)]
    times = [t for t in (parse_time(i.get("started_at")) for i in intervals) if t is not None]
    if not times:
        return failed(f"{path}: the watch recorded no probe intervals", needs)
    requests = sum(int(i.get("requests") or 0) for i in intervals)
    newest = max(times)
    summary = (
        f"healthy watch of {url}: {data.get('message')} (last interval {age_text(now - newest)}, {requests} probes)"
    )
    if requests == 0:
        return failed(f"{path}: the watch sent no probes", needs)
    return fresh(summary, newest, now, max_age, needs)
