"""Durations given on the command line, timestamps written in manifests, and freshness."""

from __future__ import annotations

import datetime as dt
import re

from ops.backup.errors import UsageError

__all__ = ["format_duration", "is_stale", "isoformat", "parse_duration", "parse_iso", "utcnow"]


_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> dt.timedelta:
    """Parse `90s`, `15m`, `6h`, `1d`, `1h30m` into a timedelta; raise UsageError naming the value."""
    cleaned = text.strip().lower()
    if not cleaned or _DURATION_PART.sub("", cleaned) != "":
        raise UsageError(f"invalid duration {text!r}: use a number and a unit s/m/h/d/w, e.g. 6h or 1h30m")
    seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(cleaned))
    if seconds <= 0:
        raise UsageError(f"invalid duration {text!r}: must be greater than zero")
    return dt.timedelta(seconds=seconds)


def format_duration(delta: dt.timedelta) -> str:
    total = int(delta.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def is_stale(finished_at: dt.datetime, now: dt.datetime, max_age: dt.timedelta) -> bool:
    return now - finished_at > max_age


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def isoformat(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
